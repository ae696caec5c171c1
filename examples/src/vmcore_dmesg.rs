//! `vmcore-dmesg DUMP`: the kernel log of a crash dump on stdout, byte for byte what
//! kexec-tools' `vmcore-dmesg` prints for the same ELF dump, and the same text from the
//! kdump-compressed and flattened forms of that dump (and from QEMU dumps, which
//! kexec-tools cannot read). Errors go to stderr as one line and exit 1; usage errors exit 2.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use vmcore_reader::{Dump, Kernel, read_log};

#[derive(Debug, Parser)]
#[command(
    name = "vmcore-dmesg",
    version,
    about = "Print the kernel log stored in a crash dump (ELF, kdump-compressed or flattened)"
)]
struct Cli {
    /// The dump: /proc/vmcore, an ELF vmcore, a makedumpfile or QEMU kdump-compressed file, or a flattened stream.
    dump: PathBuf,
}

/// Runs the tool with `args` (including the program name); returns the exit code.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(&cli) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("vmcore-dmesg: {}: {msg}", cli.dump.display());
            1
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let dump = Dump::open(&cli.dump).map_err(|e| e.to_string())?;
    let kernel = Kernel::new(&dump).map_err(|e| e.to_string())?;
    let log = read_log(&kernel).map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    log.write_dmesg(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing the log: {e}"))
}

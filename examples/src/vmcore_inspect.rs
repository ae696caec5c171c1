//! `vmcore-inspect DUMP COMMAND`: answers from the dump alone (kallsyms and BTF in the dead
//! kernel's memory), no debug vmlinux: `sym ADDR|NAME`, `ps` and `mod`, each with `--json`. Errors go
//! to stderr as one line and exit 1 (naming what the dump lacks: no kallsyms in VMCOREINFO,
//! no BTF, a page excluded by the dump level); usage errors exit 2.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::json;
use vmcore_introspect::{Btf, Kallsyms, TaskWalker};
use vmcore_reader::{Dump, Kernel};

#[derive(Debug, Parser)]
#[command(
    name = "vmcore-inspect",
    version,
    about = "Inspect the crashed kernel in a dump without debuginfo (kallsyms and BTF from the dump)"
)]
struct Cli {
    /// The dump: /proc/vmcore, an ELF vmcore, a kdump-compressed file or a flattened stream.
    dump: PathBuf,
    /// One JSON object on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The symbol at an address (hex, `0x` optional) or the address of a symbol name.
    Sym {
        /// `0xffffffff81000000`, `ffffffff81000000` or a name such as `schedule`.
        what: String,
    },
    /// Every task: PID, PPID, CPU, task address, state, comm (per-CPU idle tasks included).
    Ps,
    /// Loaded modules: name, struct module address, core base and size.
    Mod,
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
    let mut out = Vec::new();
    match run(&cli, &mut out) {
        Ok(()) => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            if lock.write_all(&out).and_then(|()| lock.flush()).is_err() {
                return 1;
            }
            0
        }
        Err(msg) => {
            eprintln!("vmcore-inspect: {}: {msg}", cli.dump.display());
            1
        }
    }
}

/// The error as one line, saying plainly when the dump level filtered out a page the
/// command needed.
fn explain(e: &vmcore_introspect::Error) -> String {
    match e {
        vmcore_introspect::Error::Read {
            source: vmcore_reader::Error::Excluded { .. },
            ..
        } => format!(
            "{e} (the dump level filtered this page out; a dump made with a lower -d keeps it)"
        ),
        _ => e.to_string(),
    }
}

fn parse_addr(s: &str) -> Option<u64> {
    let (hex, forced) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, true),
        None => (s, false),
    };
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // A bare hex word as short as a name ("add", "face") is a name.
    if !forced && hex.len() < 8 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn run(cli: &Cli, out: &mut Vec<u8>) -> Result<(), String> {
    let dump = Dump::open(&cli.dump).map_err(|e| e.to_string())?;
    let kernel = Kernel::new(&dump).map_err(|e| e.to_string())?;
    let syms = Kallsyms::from_kernel(&kernel).map_err(|e| explain(&e))?;
    match &cli.command {
        Command::Sym { what } => sym(cli.json, &syms, what, out),
        Command::Ps => ps(cli.json, &kernel, &syms, out),
        Command::Mod => modules(cli.json, &kernel, &syms, out),
    }
    .map_err(|e| e.to_string())
}

fn sym(json: bool, syms: &Kallsyms, what: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let (sym, offset, size) = if let Some(addr) = parse_addr(what) {
        let l = syms
            .locate(addr)
            .ok_or_else(|| format!("no symbol at or below {addr:#x}"))?;
        (l.symbol, l.offset, l.size)
    } else {
        let s = syms
            .lookup(what)
            .ok_or_else(|| format!("no symbol {what} in kallsyms"))?;
        (s, 0, syms.size_of(s))
    };
    let link = syms.link_address(sym);
    if json {
        let v = json!({
            "name": sym.name,
            "type": sym.kind.to_string(),
            "address": sym.address,
            "offset": offset,
            "size": size,
            "link_address": link,
            "aliases": syms.lookup_all(&sym.name).len(),
        });
        writeln!(out, "{v}").map_err(|e| e.to_string())
    } else {
        let plus = if offset == 0 {
            String::new()
        } else {
            format!("+{offset}")
        };
        let size = size.map_or_else(|| "?".to_owned(), |s| s.to_string());
        writeln!(
            out,
            "{:016x} ({}) {}{plus}  size {size}  link-time {:016x}",
            sym.address.wrapping_add(offset),
            sym.kind,
            sym.name,
            link.wrapping_add(offset)
        )
        .map_err(|e| e.to_string())
    }
}

fn ps(json: bool, kernel: &Kernel<'_>, syms: &Kallsyms, out: &mut Vec<u8>) -> Result<(), String> {
    let btf = Btf::from_kernel(kernel, syms).map_err(|e| explain(&e))?;
    let walker = TaskWalker::for_kernel(kernel, syms, &btf).map_err(|e| explain(&e))?;
    let tasks = walker.walk(&btf).map_err(|e| explain(&e))?;
    if json {
        let list: Vec<_> = tasks
            .iter()
            .map(|t| {
                json!({
                    "pid": t.pid, "ppid": t.ppid, "cpu": t.cpu, "task": t.address,
                    "state": t.state.to_string(), "comm": t.comm, "active": t.active,
                })
            })
            .collect();
        writeln!(out, "{}", json!({ "tasks": list })).map_err(|e| e.to_string())
    } else {
        writeln!(out, "   PID    PPID  CPU       TASK        ST  COMM")
            .map_err(|e| e.to_string())?;
        for t in &tasks {
            let cpu = t.cpu.map_or_else(|| "-".to_owned(), |c| c.to_string());
            writeln!(
                out,
                "{}{:>6} {:>7} {:>4}  {:016x}  {}   {}",
                if t.active { '>' } else { ' ' },
                t.pid,
                t.ppid,
                cpu,
                t.address,
                t.state,
                t.comm
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn modules(
    json: bool,
    kernel: &Kernel<'_>,
    syms: &Kallsyms,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let btf = Btf::from_kernel(kernel, syms).map_err(|e| explain(&e))?;
    let list = vmcore_introspect::modules(kernel, syms, &btf).map_err(|e| explain(&e))?;
    if json {
        let v: Vec<_> = list
            .iter()
            .map(|m| json!({"name": m.name, "module": m.address, "base": m.base, "size": m.size}))
            .collect();
        writeln!(out, "{}", json!({ "modules": v })).map_err(|e| e.to_string())
    } else {
        writeln!(
            out,
            "     MODULE       NAME                          BASE          SIZE"
        )
        .map_err(|e| e.to_string())?;
        for m in &list {
            writeln!(
                out,
                "{:016x}  {:<24}  {:016x}  {:>8}",
                m.address, m.name, m.base, m.size
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{explain, parse_addr};

    #[test]
    fn excluded_pages_are_named_as_such() {
        let e = vmcore_introspect::Error::Read {
            what: "task_struct.comm",
            vaddr: 0xffff_8880_0000_1000,
            len: 16,
            source: vmcore_reader::Error::Excluded { paddr: 0x1000 },
        };
        let m = explain(&e);
        assert!(m.contains("task_struct.comm at 0xffff888000001000"), "{m}");
        assert!(m.contains("dump level filtered this page out"), "{m}");
        assert!(!m.contains('\n'));
    }

    #[test]
    fn addresses_and_names() {
        assert_eq!(
            parse_addr("0xffffffff81000000"),
            Some(0xffff_ffff_8100_0000)
        );
        assert_eq!(parse_addr("ffffffff81000000"), Some(0xffff_ffff_8100_0000));
        assert_eq!(parse_addr("0x10"), Some(0x10));
        assert_eq!(parse_addr("add"), None);
        assert_eq!(parse_addr("schedule"), None);
        assert_eq!(parse_addr("0x"), None);
    }
}

//! Project automation, run as `cargo xtask <command>`.
//!
//! `ci` is what `.ci/run` runs on a clean clone: formatting, lints, docs, then
//! every test, ending with one summary line (`summary: N passed, N failed`).

mod bench;
mod ci;
mod cmd;
mod e2e;
mod fixtures;
mod msrv;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci        fmt --check, clippy -D warnings, doc -D warnings, then every test
  fixtures  make or reuse the real kernels and vmcores tests read (see docs/TESTING.md)
  guest-kexec  arm kdump in a QEMU guest with our static kexec-load, crash it, check the capture kernel
  e2e       crash-and-capture cycles in QEMU with our tools, dumps checked on the host (see docs/TESTING.md)
  demo      one narrated crash-and-capture cycle
  msrv      build and test the published crates with Debian 13's rustc 1.85, offline from a vendor tree
  bench     vmcore-capture against makedumpfile on the fixture dumps (with the opt-in 8 GiB one): time, size, peak RSS [--rounds N] [--no-large] [DUMP...]
";

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("guest-kexec") => e2e::run_guest_kexec(&args[1..]),
        Some("e2e") => e2e::run_e2e(&args[1..]),
        Some("demo") => e2e::run_demo(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("msrv") => msrv::run_msrv(&args[1..]),
        Some("-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

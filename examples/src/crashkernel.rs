//! `crashkernel`: what a `crashkernel=` value reserves, what a distro
//! recommends, and values edited by a delta.
//!
//! ```text
//! crashkernel eval [--arch A] [--kernel VERSION] --ram SIZE 'CMDLINE-OR-VALUE' [--json]
//! crashkernel recommend --distro D --arch A --ram SIZE [--sme-sev] [--arm64-64k] [--json]
//! crashkernel add VALUE DELTA
//! ```
//!
//! `eval` exits 0 when the kernel would reserve memory and 1 when it would not;
//! usage errors exit 2. JSON goes to stdout as one object.

use std::ffi::OsString;
use std::fmt::Write as _;

use clap::{Parser, Subcommand};
use crashkernel_param::{
    Arch, CrashKernel, Distro, Failure, KernelVersion, RecommendOptions, Reservation, Size, Target,
    evaluate, evaluate_value, recommend,
};
use serde_json::{Value, json};

use crate::size::{parse_delta, parse_size};

#[derive(Debug, Parser)]
#[command(
    name = "crashkernel",
    version,
    about = "Evaluate, recommend and edit crashkernel= values exactly as the kernel reads them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// What the kernel reserves for a command line or one value.
    Eval {
        /// Architecture (x86_64, i686, aarch64, arm, riscv64, ppc64le, s390x, loongarch64); default: this machine's.
        #[arg(long)]
        arch: Option<Arch>,
        /// Kernel version (6.1, 6.12.38+deb13-amd64, ...); default: the newest rules.
        #[arg(long)]
        kernel: Option<KernelVersion>,
        /// System RAM as the kernel counts it (memblock_phys_mem_size), e.g. 4095M or bytes.
        #[arg(long, value_parser = parse_size)]
        ram: u64,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// A whole kernel command line, or one value such as 1G-4G:192M,4G-:256M.
        input: String,
    },
    /// The value a distro's tooling puts on the command line, and what it reserves here.
    Recommend {
        /// rhel8-early, rhel8, rhel9 (centos9), rhel10 (centos10), debian, ubuntu.
        #[arg(long)]
        distro: Distro,
        /// Architecture.
        #[arg(long)]
        arch: Arch,
        /// System RAM.
        #[arg(long, value_parser = parse_size)]
        ram: u64,
        /// AMD SME or SEV is active (RHEL 9+ adds 64M on x86_64).
        #[arg(long)]
        sme_sev: bool,
        /// The kernel uses 64K pages (RHEL 9+ adds 100M on aarch64).
        #[arg(long)]
        arm64_64k: bool,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Add DELTA (e.g. 64M, -100M) to every size of VALUE, keeping ranges, offset and suffix.
    Add {
        /// A crashkernel= value (with or without the crashkernel= prefix).
        value: String,
        /// Bytes to add; negative to subtract.
        #[arg(allow_hyphen_values = true, value_parser = parse_delta)]
        delta: i64,
    },
}

/// Runs the tool with `args` (program name first); returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let (code, out) = run(cli.command);
    print!("{out}");
    code
}

fn run(command: Command) -> (i32, String) {
    match command {
        Command::Eval {
            arch,
            kernel,
            ram,
            json,
            input,
        } => {
            let target = Target::new(
                arch.unwrap_or_else(host_arch),
                kernel.unwrap_or(KernelVersion::NEWEST),
            );
            let result = if input.contains("crashkernel=") {
                evaluate(&input, ram, target)
            } else {
                evaluate_value(&input, ram, target)
            };
            let code = i32::from(result.is_err());
            let out = if json {
                format!("{}\n", eval_json(&result))
            } else {
                format!("{}\n", eval_sentence(&result, ram, target))
            };
            (code, out)
        }
        Command::Recommend {
            distro,
            arch,
            ram,
            sme_sev,
            arm64_64k,
            json,
        } => {
            let options = RecommendOptions {
                sme_sev,
                arm64_64k_pages: arm64_64k,
            };
            match recommend(distro, arch, options) {
                Err(e) => {
                    eprintln!("crashkernel: {e}");
                    (1, String::new())
                }
                Ok(rec) => {
                    let reservation = rec.reservation(ram);
                    if json {
                        let obj = json!({
                            "distro": distro.name(),
                            "arch": arch.name(),
                            "ram": ram,
                            "value": rec.value(),
                            "cmdline": format!("crashkernel={}", rec.value()),
                            "delta": rec.delta,
                            "source": distro.source(),
                            "reservation": eval_json(&reservation),
                        });
                        (0, format!("{obj}\n"))
                    } else {
                        let mut s = format!("crashkernel={}\n", rec.value());
                        let _ = writeln!(s, "{distro} on {arch}: {}", distro.source());
                        if rec.delta != 0 {
                            let _ = writeln!(
                                s,
                                "includes +{} for this machine ({})",
                                Size(rec.delta.unsigned_abs()),
                                rec.table
                            );
                        }
                        let target = Target::newest(arch);
                        let _ = match &reservation {
                            Ok(r) => writeln!(
                                s,
                                "on this machine ({} of RAM) it {}",
                                Binary(ram),
                                reservation_phrase(r, target)
                            ),
                            Err(f) => writeln!(
                                s,
                                "on this machine ({} of RAM) it reserves nothing: {f}.",
                                Binary(ram)
                            ),
                        };
                        let _ = writeln!(s, "set it: {}", distro.mechanism());
                        (0, s)
                    }
                }
            }
        }
        Command::Add { value, delta } => {
            let prefix = if value.starts_with("crashkernel=") {
                "crashkernel="
            } else {
                ""
            };
            match CrashKernel::parse(&value)
                .map_err(|m| m.to_string())
                .and_then(|ck| {
                    ck.with_delta(delta)
                        .map_err(|e| e.to_string())
                        .map(|e| e.to_string())
                }) {
                Ok(edited) => (0, format!("{prefix}{edited}\n")),
                Err(e) => {
                    eprintln!("crashkernel: {e}");
                    (1, String::new())
                }
            }
        }
    }
}

fn host_arch() -> Arch {
    std::env::consts::ARCH.parse().unwrap_or(Arch::X86_64)
}

/// The object `eval --json` prints.
pub fn eval_json(result: &Result<Reservation, Failure>) -> Value {
    match result {
        Ok(r) => json!({
            "size": r.size,
            "base": r.base,
            "high": r.high,
            "low_size": r.low_size,
            "cma_size": r.cma_size,
        }),
        Err(f) => {
            let mut obj = json!({ "error": f.to_string(), "kind": f.kind() });
            if let Failure::Malformed(m) = f {
                obj["position"] = json!(m.pos);
            }
            obj
        }
    }
}

/// A sentence a person reads.
pub fn eval_sentence(result: &Result<Reservation, Failure>, ram: u64, target: Target) -> String {
    match result {
        Err(f) => format!(
            "Linux {} on {} reserves nothing: {f}.",
            target.version, target.arch
        ),
        Ok(r) => format!(
            "Linux {} on {} with {} of RAM {}",
            target.version,
            target.arch,
            Binary(ram),
            reservation_phrase(r, target)
        ),
    }
}

/// "reserves 256 MiB (268435456 bytes) for the crash kernel at ..."
fn reservation_phrase(r: &Reservation, target: Target) -> String {
    let rules = target.rules();
    let mut s = format!(
        "reserves {} ({} bytes) for the crash kernel",
        Binary(r.size),
        r.size
    );
    match (r.base, r.high) {
        (Some(base), _) => {
            let _ = write!(s, " at {base:#x} exactly");
        }
        (None, true) => {
            let _ = write!(s, ", above {} if it can", Binary(rules.low_max));
        }
        (None, false) if rules.low_max != u64::MAX => {
            let _ = write!(s, " at an address it picks below {}", Binary(rules.low_max));
        }
        (None, false) => s.push_str(" at an address it picks"),
    }
    if let Some(i) = r.range {
        let _ = write!(s, " (range entry {} matched)", i + 1);
    }
    if let Some(low) = r.low_size {
        let _ = write!(s, ", plus {} below {}", Binary(low), Binary(rules.low_max));
    }
    if let Some(cma) = r.cma_size {
        let _ = write!(s, ", plus {} of CMA", Binary(cma));
    }
    s.push('.');
    if let Some(low) = r.low_if_placed_high {
        let _ = write!(
            s,
            " If there is no room below {}, it goes above and reserves {} more below {}.",
            Binary(rules.low_max),
            Binary(low),
            Binary(rules.low_max)
        );
    }
    s
}

/// Bytes in the largest binary unit that divides them: `256 MiB`, `4 GiB`.
struct Binary(u64);

impl std::fmt::Display for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [(u32, &str); 6] = [
            (60, "EiB"),
            (50, "PiB"),
            (40, "TiB"),
            (30, "GiB"),
            (20, "MiB"),
            (10, "KiB"),
        ];
        for (shift, unit) in UNITS {
            if self.0 != 0 && self.0.trailing_zeros() >= shift {
                return write!(f, "{} {unit}", self.0 >> shift);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

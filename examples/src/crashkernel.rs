//! `crashkernel`: what a `crashkernel=` value reserves, what a distro
//! recommends, and values edited by a delta.
//!
//! ```text
//! crashkernel eval [--arch A] [--kernel VERSION] (--ram SIZE | --iomem FILE) 'CMDLINE-OR-VALUE' [--json]
//! crashkernel recommend --distro D --arch A --ram SIZE [--sme-sev] [--arm64-64k] [--json]
//! crashkernel add VALUE DELTA
//! ```
//!
//! `eval` exits 0 when the kernel would reserve memory and 1 when it would not: the value
//! does not parse, or it parses but the allocation finds no room in the RAM (the size asks
//! for about all of it, or more than one free piece holds; see `crashkernel_param::place`).
//! The room is looked for in the machine's own map with `--iomem` (its "System RAM" less
//! the running kernel's image and the first MiB on x86), else in an assumed map: the RAM
//! in one piece from 0 with the first MiB (x86) and 64 MiB for the running kernel taken
//! (`crashkernel_param::assumed_free`), the most room that much RAM can give, so a value
//! that does not fit there fits nowhere. Usage errors exit 2. JSON goes to stdout as one
//! object.

use std::ffi::OsString;
use std::fmt::Write as _;

use clap::{Parser, Subcommand};
use crashkernel_param::{
    Arch, CrashKernel, Distro, Failure, KernelVersion, PlaceFailure, Placement, RecommendOptions,
    Reservation, Size, Span, Target, assumed_free, evaluate, evaluate_value, place, recommend,
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
        /// System RAM as the kernel counts it (memblock_phys_mem_size), e.g. 4095M or bytes;
        /// default with --iomem: the sum of its System RAM ranges.
        #[arg(long, value_parser = parse_size, required_unless_present = "iomem")]
        ram: Option<u64>,
        /// The machine's /proc/iomem (read as root): where the reservation is looked for.
        #[arg(long, value_name = "FILE")]
        iomem: Option<std::path::PathBuf>,
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
            iomem,
            json,
            input,
        } => {
            let target = Target::new(
                arch.unwrap_or_else(host_arch),
                kernel.unwrap_or(KernelVersion::NEWEST),
            );
            let map = match iomem.as_deref().map(iomem_free) {
                Some(Ok(m)) => Some(m),
                Some(Err(e)) => {
                    eprintln!("crashkernel: {e}");
                    return (2, String::new());
                }
                None => None,
            };
            let ram = ram.or(map.as_ref().map(|m| m.1)).unwrap_or(0);
            let result = if input.contains("crashkernel=") {
                evaluate(&input, ram, target)
            } else {
                evaluate_value(&input, ram, target)
            };
            let (free, source) = match map {
                Some((free, _)) => (free, MapSource::Iomem),
                None => {
                    let (spans, n) = assumed_free(ram, target.arch);
                    (spans[..n].to_vec(), MapSource::Assumed)
                }
            };
            let placed = result.as_ref().ok().map(|r| place(r, target, &free));
            let fails =
                matches!(placed, Some(Err(ref e)) if !matches!(e, PlaceFailure::NotModelled(_)));
            let code = i32::from(result.is_err() || fails);
            let out = if json {
                let mut v = eval_json(&result);
                if let Some(p) = &placed {
                    v["placement"] = placement_json(p, source);
                }
                format!("{v}\n")
            } else {
                let mut s = eval_sentence(&result, ram, target);
                if let Some(p) = &placed {
                    s.push(' ');
                    s.push_str(&placement_sentence(p, source));
                }
                format!("{s}\n")
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

/// Where the free RAM of a placement came from.
#[derive(Debug, Clone, Copy)]
enum MapSource {
    /// The machine's /proc/iomem.
    Iomem,
    /// The --ram-only assumption.
    Assumed,
}

impl MapSource {
    fn name(self) -> &'static str {
        match self {
            MapSource::Iomem => "iomem",
            MapSource::Assumed => "assumed",
        }
    }
}

/// The RAM free for the reservation at boot, from a /proc/iomem file, and the total RAM.
fn iomem_free(path: &std::path::Path) -> Result<(Vec<Span>, u64), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let iomem =
        kexec_image::iomem::Iomem::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if iomem.addresses_hidden() {
        return Err(format!(
            "{}: every address is 0 (read without CAP_SYS_ADMIN): read it as root",
            path.display()
        ));
    }
    Ok((free_ram_at_boot(&iomem), iomem.total_system_ram()))
}

/// The RAM free for the reservation when the kernel made it, from `/proc/iomem`: its boot
/// "System RAM" ranges less the running kernel's image ("Kernel code", "Kernel data", ...)
/// and, on x86, the first MiB (`memblock_reserve(0, SZ_1M)`, `arch/x86/kernel/setup.c`;
/// taken on every arch here, where it costs nothing); "Crash kernel" ranges count as free,
/// as they were then. The initrd and early allocations are not in the file, so this is at
/// least what was free: a region that does not fit here did not fit at boot.
pub fn free_ram_at_boot(iomem: &kexec_image::iomem::Iomem) -> Vec<Span> {
    let half_open = |r: &kexec_image::iomem::MemRange| Span {
        start: r.start,
        end: r.end.saturating_add(1),
    };
    let mut free: Vec<Span> = iomem.system_ram().iter().map(half_open).collect();
    let mut taken: Vec<Span> = iomem
        .kernel_image()
        .iter()
        .map(|(_, r)| half_open(r))
        .collect();
    taken.push(Span {
        start: 0,
        end: 1 << 20,
    });
    for t in taken {
        free = free
            .into_iter()
            .flat_map(|f| {
                if t.end <= f.start || f.end <= t.start {
                    vec![f]
                } else {
                    [
                        Span {
                            start: f.start,
                            end: t.start,
                        },
                        Span {
                            start: t.end,
                            end: f.end,
                        },
                    ]
                    .into_iter()
                    .filter(|s| s.start < s.end)
                    .collect()
                }
            })
            .collect();
    }
    free
}

fn placement_json(p: &Result<Placement, PlaceFailure>, source: MapSource) -> Value {
    match p {
        Ok(p) => json!({
            "map": source.name(),
            "base_at_most": p.base,
            "low_base_at_most": p.low.map(|l| l.0),
        }),
        Err(e) => json!({ "map": source.name(), "error": e.to_string(), "kind": e.kind() }),
    }
}

fn placement_sentence(p: &Result<Placement, PlaceFailure>, source: MapSource) -> String {
    let map = match source {
        MapSource::Iomem => "in the RAM of the given /proc/iomem".to_owned(),
        MapSource::Assumed => format!(
            "in RAM assumed to be one piece from address 0 with the first MiB (x86) and {} for the running kernel taken (--iomem FILE gives the real map)",
            Binary(crashkernel_param::ASSUMED_KERNEL)
        ),
    };
    match p {
        Ok(p) => {
            let mut s = format!("It fits {map}: at {:#x} at the highest", p.base);
            if let Some((b, _)) = p.low {
                let _ = write!(s, ", the low region at {b:#x} at the highest");
            }
            s.push('.');
            s
        }
        Err(PlaceFailure::NotModelled(_)) => String::new(),
        Err(e) => format!("But it cannot be placed {map}: {e}; nothing is reserved."),
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

//! `vmcore-info DUMP [--json]`: what a crash dump holds: format, architecture, page size,
//! kernel release, crash time, CPUs and the panicking CPU's instruction pointer, memory
//! ranges, VMCOREINFO and counts of present, zero, excluded and lost pages. Text by default,
//! one JSON object on stdout with `--json`. Errors go to stderr as one line and exit 1.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;
use serde_json::{Value, json};
use vmcore_reader::{Dump, Kernel, KernelInfo, PhysMemory, Translation};

#[derive(Debug, Parser)]
#[command(
    name = "vmcore-info",
    version,
    about = "Describe a crash dump: format, kernel, CPUs, memory, VMCOREINFO, page counts"
)]
struct Cli {
    /// The dump (ELF, kdump-compressed or flattened).
    dump: PathBuf,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
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
    match describe(&cli.dump) {
        Ok(v) => {
            if cli.json {
                println!("{v}");
            } else {
                print!("{}", text(&v));
            }
            0
        }
        Err(msg) => {
            eprintln!("vmcore-info: {}: {msg}", cli.dump.display());
            1
        }
    }
}

fn arch_name(dump: &Dump) -> &'static str {
    match dump.machine().0 {
        62 => "x86_64",
        3 => "i386",
        183 => "aarch64",
        40 => "arm",
        21 => "ppc64",
        20 => "ppc",
        22 => "s390x",
        243 => "riscv64",
        258 => "loongarch64",
        8 => "mips",
        _ => "unknown",
    }
}

/// Everything the tool reports, as the JSON value it prints with `--json`.
pub fn describe(path: &std::path::Path) -> Result<Value, String> {
    let dump = Dump::open(path).map_err(|e| e.to_string())?;
    let info: Option<KernelInfo> = match dump.vmcoreinfo_bytes().map_err(|e| e.to_string())? {
        Some(b) => Some(KernelInfo::parse(&b).map_err(|e| e.to_string())?),
        None => None,
    };
    let kernel = Kernel::new(&dump).ok();
    let cpus = dump.cpus().map_err(|e| e.to_string())?;
    let cpu_list: Vec<Value> = cpus
        .iter()
        .map(|c| {
            let ip = c
                .prstatus
                .as_ref()
                .map(|p| p.registers.instruction_pointer())
                .or_else(|| c.qemu.as_ref().map(|q| q.rip));
            let sp = c.prstatus.as_ref().map(|p| p.registers.stack_pointer());
            json!({
                "index": c.index,
                "pid": c.prstatus.as_ref().map(|p| p.pid),
                "instruction_pointer": ip.map(|v| format!("{v:#x}")),
                "stack_pointer": sp.map(|v| format!("{v:#x}")),
            })
        })
        .collect();
    // VMCOREINFO does not name the panicking CPU. With one CPU it is that one; with several,
    // the panic message in the kernel log ("CPU: N PID: P ...") names it, and the note whose
    // pr_pid is P (or else note N) is taken.
    let (panic_cpu, panic_cpu_source) = if cpus.len() == 1 {
        (Some(cpu_list[0].clone()), Some("only CPU"))
    } else {
        match kernel.as_ref().and_then(panic_line) {
            Some((n, pid)) => {
                let by_pid: Vec<&Value> =
                    cpu_list.iter().filter(|c| c["pid"] == json!(pid)).collect();
                match by_pid.as_slice() {
                    [one] => (
                        Some((*one).clone()),
                        Some("kernel log panic message, matched by pid"),
                    ),
                    _ => (
                        cpu_list.get(n).cloned(),
                        Some("kernel log panic message, CPU number"),
                    ),
                }
            }
            None => (None, None),
        }
    };
    let kdump = dump.kdump();
    let counts = dump.page_counts().map_err(|e| e.to_string())?;
    let present = dump.present_ranges();
    let ranges: Vec<Value> = dump
        .memory_ranges()
        .iter()
        .map(|(s, e)| json!({"start": s, "end": e, "size": e - s}))
        .collect();
    let memory: Vec<Value> = match dump.elf() {
        Some(e) => e
            .segments
            .iter()
            .map(|s| json!({"paddr": s.paddr, "vaddr": format!("{:#x}", s.vaddr), "offset": s.offset, "filesz": s.filesz, "memsz": s.memsz}))
            .collect(),
        None => Vec::new(),
    };
    let vmcoreinfo: Value = match &info {
        Some(i) => Value::Object(
            i.entries()
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                .collect(),
        ),
        None => Value::Null,
    };
    let release = info
        .as_ref()
        .and_then(|i| i.osrelease().map(str::to_owned))
        .or_else(|| kdump.map(|k| k.header.utsname[2].clone()));
    let crash_time = info.as_ref().and_then(|i| i.crash_time().ok().flatten());
    // What makedumpfile's (or vmcore-capture's) `--config` erased, one `erase ...` line each.
    let eraseinfo: Value = match dump.eraseinfo().map_err(|e| e.to_string())? {
        Some(t) => String::from_utf8_lossy(&t)
            .lines()
            .map(|l| Value::String(l.to_owned()))
            .collect(),
        None => Value::Null,
    };
    Ok(json!({
        "file": path.display().to_string(),
        "format": dump.format().name(),
        "file_size": dump.file_len(),
        "arch": arch_name(&dump),
        "endian": format!("{:?}", dump.endian()).to_lowercase(),
        "page_size": info.as_ref().and_then(|i| i.page_size().ok().flatten()),
        "dump_block_size": dump.page_size(),
        "kernel_release": release,
        "build_id": info.as_ref().and_then(|i| i.get("BUILD-ID").map(str::to_owned)),
        "crash_time": crash_time,
        "kernel_offset": info.as_ref().and_then(|i| i.kernel_offset().ok().flatten()).map(|v| format!("{v:#x}")),
        "translation": kernel.as_ref().and_then(|k| k.translation().map(translation_json)),
        "incomplete": match (dump.format(), kdump, dump.elf()) {
            (_, Some(k), _) => k.is_incomplete(),
            (_, _, Some(e)) => e.header.is_incomplete(),
            _ => false,
        },
        "kdump_header": kdump.map(|k| json!({
            "signature": String::from_utf8_lossy(&k.header.signature),
            "header_version": k.header.header_version,
            "utsname": k.header.utsname,
            "timestamp": k.header.timestamp_sec,
            "status": k.header.status,
            "block_size": k.header.block_size,
            "max_mapnr": k.max_mapnr,
            "nr_cpus": k.header.nr_cpus,
            "dump_level": k.sub.dump_level,
            "phys_base": format!("{:#x}", k.sub.phys_base),
        })),
        "cpus": cpu_list,
        "panic_cpu": panic_cpu,
        "panic_cpu_source": panic_cpu_source,
        "memory_ranges": ranges,
        "present_ranges": present.len(),
        "present_bytes": present.iter().map(|(s, e)| e - s).sum::<u64>(),
        "segments": memory,
        "pages": {
            "unit": dump.page_size(),
            "present": counts.present,
            "zero": counts.zero,
            "excluded": counts.excluded,
            "lost": counts.lost,
        },
        "eraseinfo": eraseinfo,
        "vmcoreinfo": vmcoreinfo,
    }))
}

/// The CPU number and PID of the last "CPU: N PID: P" line after the last panic message.
fn panic_line(kernel: &Kernel<'_>) -> Option<(usize, u64)> {
    let log = vmcore_reader::read_log(kernel).ok()?;
    let records = &log.records;
    let start = records
        .iter()
        .rposition(|r| r.text.starts_with(b"Kernel panic - not syncing"))?;
    records[start..].iter().find_map(|r| {
        let text = std::str::from_utf8(&r.text).ok()?;
        let rest = text.strip_prefix("CPU: ")?;
        let (cpu, rest) = rest.split_once(' ')?;
        let pid = rest.strip_prefix("PID: ")?.split(' ').next()?;
        Some((cpu.parse().ok()?, pid.parse().ok()?))
    })
}

fn translation_json(t: &Translation) -> Value {
    match t {
        Translation::X86_64(x) => json!({
            "arch": "x86_64",
            "paging_levels": if x.five_level { 5 } else { 4 },
            "phys_base": format!("{:#x}", x.phys_base),
            "page_table_root": format!("{:#x}", x.root),
            "kernel_image_size": x.kernel_image_size,
            "sme_mask": format!("{:#x}", x.sme_mask),
        }),
        Translation::Arm64(a) => json!({
            "arch": "aarch64",
            "page_size": 1u64 << a.page_shift,
            "va_bits": a.va_bits,
            "kimage_voffset": format!("{:#x}", a.kimage_voffset),
            "phys_offset": a.phys_offset.map(|p| format!("{p:#x}")),
            "page_table_root": format!("{:#x}", a.root),
        }),
        Translation::ElfVaddr(maps) => json!({
            "arch": "elf-p_vaddr",
            "segments": maps.len(),
        }),
        other => json!(format!("{other:?}")),
    }
}

fn text(v: &Value) -> String {
    let mut s = String::new();
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    for key in [
        "file",
        "format",
        "file_size",
        "arch",
        "endian",
        "page_size",
        "dump_block_size",
        "kernel_release",
        "build_id",
        "crash_time",
        "kernel_offset",
        "incomplete",
    ] {
        let _ = writeln!(s, "{key:16} {}", show(&v[key]));
    }
    if let Some(cpus) = v["cpus"].as_array() {
        let _ = writeln!(s, "{:16} {}", "cpus", cpus.len());
        for c in cpus {
            let _ = writeln!(
                s,
                "  cpu {:3}       pid {} ip {} sp {}",
                show(&c["index"]),
                show(&c["pid"]),
                show(&c["instruction_pointer"]),
                show(&c["stack_pointer"])
            );
        }
    }
    let _ = writeln!(
        s,
        "{:16} {}",
        "panic cpu ip",
        show(&v["panic_cpu"]["instruction_pointer"])
    );
    let _ = writeln!(
        s,
        "{:16} {} ranges, {} bytes",
        "present",
        show(&v["present_ranges"]),
        show(&v["present_bytes"])
    );
    if let Some(r) = v["memory_ranges"].as_array() {
        let _ = writeln!(s, "memory ranges:");
        for x in r {
            let _ = writeln!(
                s,
                "  {:#018x}-{:#018x} ({} bytes)",
                x["start"].as_u64().unwrap_or(0),
                x["end"].as_u64().unwrap_or(0),
                x["size"].as_u64().unwrap_or(0)
            );
        }
    }
    let p = &v["pages"];
    let _ = writeln!(
        s,
        "pages ({} bytes): present {} zero {} excluded {} lost {}",
        show(&p["unit"]),
        show(&p["present"]),
        show(&p["zero"]),
        show(&p["excluded"]),
        show(&p["lost"])
    );
    if let Some(e) = v["eraseinfo"].as_array() {
        let _ = writeln!(s, "eraseinfo ({} lines):", e.len());
        for l in e {
            let _ = writeln!(s, "  {}", l.as_str().unwrap_or(""));
        }
    }
    if let Some(m) = v["vmcoreinfo"].as_object() {
        let _ = writeln!(s, "VMCOREINFO ({} keys):", m.len());
        for (k, val) in m {
            let _ = writeln!(s, "  {k}={}", show(val));
        }
    }
    s
}

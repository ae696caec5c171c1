//! `cargo xtask e2e` and `cargo xtask demo`: the whole kdump job in QEMU
//! with our static tools, checked on the host with our tools and the peers.
//!
//! One cycle: `crashkernel recommend` picks the reservation for the guest's
//! RAM; the first kernel boots with it; `kexec-load -p` arms kdump (with the
//! status/unload/reload checks of `guest-kexec`), through `kexec_file_load`
//! (`-s`) or, in the classic cycles, through `kexec_load` (`-c`: every
//! segment, the elfcorehdr and the purgatory are ours; before that `-a` must
//! fall back to `kexec_load` on an image whose header the file syscall
//! refuses); the init writes a marker
//! into the page cache (a file on the rootfs tmpfs) and into its own
//! anonymous memory (a shell variable), and crashes with sysrq-c. The
//! capture kernel runs `vmcore-capture -l -d 31`, `-z -d 1` and `-F -d 31`
//! (stdout) from `/proc/vmcore` into files on an ext4 virtio disk, which the
//! host reads back with `debugfs`. On the host:
//! - `vmcore-dmesg` of the `-l -d 31` dump shows `sysrq: Trigger a crash`
//!   and `Kernel panic - not syncing`, and line for line matches
//!   `makedumpfile --dump-dmesg` of the same file (makedumpfile indents a
//!   record's continuation lines; that indentation is the only difference
//!   allowed);
//! - `vmcore-info --json` names the panicking CPU (pid 1, the init that
//!   wrote sysrq-c) with a kernel instruction pointer;
//! - the `-d 1` dump, converted to ELF by `vmcore-capture -E -d 1` (zero
//!   pages left out), holds both markers; the `-d 31` dump, converted the
//!   same way, holds no anonymous marker;
//! - the `-F` stream rebuilt with `vmcore-capture -R` gives the same kernel
//!   log as the `-l` dump;
//! - classic cycles: the capture kernel's command line has our
//!   `elfcorehdr=<KiB>K`, and the `PT_LOAD` headers of its `/proc/vmcore` are
//!   exactly those of the elfcorehdr the guest's `kexec-load -c -p --dry-run`
//!   printed.

use super::{SAY, Steps, initramfs, lines_after, wait, work_dir, x86_args};
use crate::fixtures::guest::{self, Vm};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const USAGE: &str =
    "usage: cargo xtask e2e [--matrix full|small] [--load file|classic] [--ram MIB] [--keep]
       cargo xtask demo

e2e runs the crash-and-capture cycle for each guest of the matrix
(full: 1 GiB and 4 GiB, 1 and 2 vCPUs, the 1-vCPU guests loading with the
classic kexec_load, the others with kexec_file_load; small: 1 GiB with
2 vCPUs through kexec_file_load and 4 GiB with 1 vCPU through kexec_load)
and checks every dump on the host. --load and --ram run only the matrix's
guests with that load syscall or RAM size. --keep keeps the
-d 1 dump and the ELF conversions. demo runs one narrated cycle.
";

/// How the guest loads the capture kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `kexec-load -s`: `kexec_file_load`.
    File,
    /// `kexec-load -a` falling back, then `-c`: `kexec_load` with our segments.
    Classic,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::File => "file",
            Load::Classic => "classic",
        }
    }
}

/// One guest of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    pub ram_mib: u64,
    pub cpus: u32,
    pub load: Load,
}

const FULL: [Guest; 4] = [
    Guest {
        ram_mib: 1024,
        cpus: 1,
        load: Load::Classic,
    },
    Guest {
        ram_mib: 1024,
        cpus: 2,
        load: Load::File,
    },
    Guest {
        ram_mib: 4096,
        cpus: 1,
        load: Load::Classic,
    },
    Guest {
        ram_mib: 4096,
        cpus: 2,
        load: Load::File,
    },
];

const SMALL: [Guest; 2] = [
    Guest {
        ram_mib: 1024,
        cpus: 2,
        load: Load::File,
    },
    Guest {
        ram_mib: 4096,
        cpus: 1,
        load: Load::Classic,
    },
];

/// The static tools of a cycle, stripped of debug info for the initramfs.
const GUEST_TOOLS: [&str; 3] = ["kexec-load", "vmcore-capture", "kdump-config"];
const HOST_TOOLS: [&str; 3] = ["crashkernel", "vmcore-dmesg", "vmcore-info"];

/// What the capture kernel needs to write files on a virtio disk.
const CAPTURE_MODULES: [&str; 4] = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"];

/// Shared by every cycle of a run.
struct Kit {
    cache: PathBuf,
    image: PathBuf,
    moddir: PathBuf,
    /// Where the static binaries are.
    bin: PathBuf,
    /// Stripped copies for the guests.
    stripped: PathBuf,
    /// The kernel's `-dbg` vmlinux, for `crash`.
    vmlinux_dbg: PathBuf,
}

impl Kit {
    fn tool(&self, name: &str) -> Command {
        Command::new(self.bin.join(name))
    }
}

/// What one cycle showed, for the summary.
#[derive(Debug)]
struct Outcome {
    guest: Guest,
    crashkernel: String,
    proof: Vec<String>,
    /// The `-l -d 31` dump, kept.
    dump: PathBuf,
    /// The captured log from `sysrq: Trigger a crash` on.
    log_tail: Vec<String>,
}

pub fn run_e2e(args: &[String]) -> Result<()> {
    let mut matrix: &[Guest] = &FULL;
    let mut keep = false;
    let mut only_load = None;
    let mut only_ram = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--matrix" => {
                matrix = match it.next().map(String::as_str) {
                    Some("full") => &FULL,
                    Some("small") => &SMALL,
                    other => bail!("--matrix takes full or small, not {other:?}\n{USAGE}"),
                }
            }
            "--keep" => keep = true,
            "--load" => {
                only_load = match it.next().map(String::as_str) {
                    Some("file") => Some(Load::File),
                    Some("classic") => Some(Load::Classic),
                    other => bail!("--load takes file or classic, not {other:?}\n{USAGE}"),
                }
            }
            "--ram" => {
                only_ram = Some(
                    it.next()
                        .and_then(|v| v.parse::<u64>().ok())
                        .with_context(|| format!("--ram takes MiB\n{USAGE}"))?,
                )
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown e2e option {other:?}\n{USAGE}"),
        }
    }
    let mut steps = Steps::new("e2e");
    let result = (|| -> Result<Vec<Outcome>> {
        let kit = kit(&mut steps)?;
        let _lock = super::lock(&mut steps, &kit.cache)?;
        let mut out = Vec::new();
        let chosen: Vec<Guest> = matrix
            .iter()
            .filter(|g| only_load.is_none_or(|l| l == g.load))
            .filter(|g| only_ram.is_none_or(|r| r == g.ram_mib))
            .copied()
            .collect();
        if chosen.is_empty() {
            bail!("no guest of the matrix matches --load/--ram");
        }
        for g in chosen {
            out.push(cycle(&kit, g, &mut steps, false, keep)?);
        }
        Ok(out)
    })();
    steps.print();
    let outcomes = result?;
    for o in &outcomes {
        eprintln!(
            "\ne2e: {} MiB, {} vCPU, {}, {} load: passed",
            o.guest.ram_mib,
            o.guest.cpus,
            o.crashkernel,
            o.guest.load.name()
        );
        for l in &o.proof {
            eprintln!("  {l}");
        }
    }
    eprintln!("e2e: all {} cycles passed", outcomes.len());
    Ok(())
}

pub fn run_demo(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        if a == "-h" || a == "--help" {
            print!("{USAGE}");
            return Ok(());
        }
        bail!("demo takes no options\n{USAGE}");
    }
    say_demo(
        "This demo runs the job kdump exists for, on a real Debian kernel inside QEMU:\n\
         a machine reserves memory for a second kernel, loads that kernel, crashes, and the\n\
         second kernel saves the first one's memory to disk, where we read why it died.\n\
         Every tool used is this workspace's own, built as static binaries.",
    );
    let mut steps = Steps::new("demo");
    let result = (|| -> Result<Outcome> {
        let kit = kit(&mut steps)?;
        let _lock = super::lock(&mut steps, &kit.cache)?;
        cycle(
            &kit,
            Guest {
                ram_mib: 1024,
                cpus: 2,
                load: Load::File,
            },
            &mut steps,
            true,
            false,
        )
    })();
    steps.print();
    let o = result?;
    say_demo("The serial lines and host checks that show the whole story:");
    for l in &o.proof {
        eprintln!("  {l}");
    }
    say_demo(&format!(
        "The kernel log read back from the captured dump ({}), from the crash on:",
        o.dump.display()
    ));
    for l in &o.log_tail {
        println!("{l}");
    }
    Ok(())
}

fn say_demo(text: &str) {
    eprintln!("\ndemo: {}", text.replace('\n', "\ndemo: "));
}

/// Fixtures (the Debian kernel), the static tools, stripped guest copies.
fn kit(steps: &mut Steps) -> Result<Kit> {
    let (cache, kernel) = steps.time("fixtures (amd64 kernel)", super::fixture_kernel)?;
    let all: Vec<&str> = GUEST_TOOLS
        .iter()
        .chain(HOST_TOOLS.iter())
        .copied()
        .collect();
    let bin = steps.time("static tools (cargo build, +crt-static)", || {
        super::static_tools(&all)
    })?;
    let stripped = cache.join("e2e").join("tools");
    std::fs::create_dir_all(&stripped)?;
    for t in GUEST_TOOLS {
        crate::cmd::run(
            Command::new("strip")
                .arg("--strip-debug")
                .arg("-o")
                .arg(stripped.join(t))
                .arg(bin.join(t)),
        )?;
    }
    let vmlinux_dbg = steps.time("debug vmlinux for crash (linux-image-*-dbg)", || {
        super::crash::debug_vmlinux(&cache, &kernel)
    })?;
    Ok(Kit {
        vmlinux_dbg,
        image: cache.join(&kernel.image),
        moddir: cache
            .join("kernels")
            .join(&kernel.debian_arch)
            .join("lib/modules")
            .join(&kernel.release),
        cache,
        bin,
        stripped,
    })
}

/// A marker no kernel memory holds before the guest makes it: the guest
/// shape and the host's clock.
fn marker(g: Guest) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("KDUMPRS{}M{}C{:x}", g.ram_mib, g.cpus, nanos & 0xffff_ffff)
}

fn cycle(kit: &Kit, g: Guest, steps: &mut Steps, narrate: bool, keep: bool) -> Result<Outcome> {
    let name = format!("{}M-{}cpu-{}", g.ram_mib, g.cpus, g.load.name());
    let tag = |s: &str| format!("{name}: {s}");
    let say = |s: &str| {
        if narrate {
            say_demo(s);
        }
    };
    let work = work_dir(&kit.cache, &format!("cycle-{name}"))?;

    say(
        "Step 1. How much memory to reserve? `crashkernel recommend` answers with the RHEL 9\n\
         table (kdumpctl's default), evaluated for this guest's RAM exactly as the kernel would.",
    );
    let crashkernel = steps.time(&tag("crashkernel recommend"), || {
        let out = kit
            .tool("crashkernel")
            .args([
                "recommend",
                "--distro",
                "rhel9",
                "--arch",
                "x86_64",
                "--ram",
            ])
            .arg(format!("{}M", g.ram_mib))
            .arg("--json")
            .output()?;
        if !out.status.success() {
            bail!(
                "crashkernel recommend: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: Value = serde_json::from_slice(&out.stdout)?;
        let cmdline = v["cmdline"].as_str().context("no cmdline")?.to_string();
        let size = v["reservation"]["size"]
            .as_u64()
            .with_context(|| format!("no reservation for {} MiB: {v}", g.ram_mib))?;
        eprintln!("e2e: {cmdline} reserves {} MiB here", size >> 20);
        Ok(cmdline)
    })?;

    let marker = marker(g);
    let initrd = work.join("initramfs.cpio");
    let disk = work.join("dumps.img");
    steps.time(&tag("initramfs + dump disk"), || {
        let mods = guest::modules(&kit.moddir, &CAPTURE_MODULES)?;
        let capture = initramfs(
            &[("vmcore-capture", &kit.stripped.join("vmcore-capture"))],
            &mods,
        )?
        .finish();
        let mut first = initramfs(
            &[
                ("kexec-load", &kit.stripped.join("kexec-load")),
                ("kdump-config", &kit.stripped.join("kdump-config")),
            ],
            &[],
        )?;
        let image = std::fs::read(&kit.image)?;
        if g.load == Load::Classic {
            first.file("boot/vmlinuz-no4g", &no_above_4g(&image)?, 0o644);
        }
        first.file("boot/vmlinuz", &image, 0o644);
        first.file("boot/capture.cpio", &capture, 0o644);
        std::fs::write(&initrd, first.finish())?;
        // Room for the -d 1 dump of every page plus the two small ones.
        let bytes = (g.ram_mib * 2 + 512) << 20;
        File::create(&disk)?.set_len(bytes)?;
        crate::cmd::run(
            Command::new("mke2fs")
                .args(["-q", "-t", "ext4", "-F", "-L", "dumps"])
                .arg(&disk),
        )
    })?;

    say(&format!(
        "Step 2. Boot the first kernel ({} MiB, {} vCPU) with {crashkernel}. Its init loads the\n\
         capture kernel with our `kexec-load -p` (and checks -S, -u, and loading again), writes\n\
         the marker {marker} into a file (page cache) and into its own memory\n\
         (anonymous), then crashes the kernel with `echo c > /proc/sysrq-trigger`.",
        g.ram_mib, g.cpus
    ));
    let append = format!(
        "console=ttyS0 no_timer_check {crashkernel} panic=-1 kdumprs.e2e=cycle kdumprs.kexec={} kdumprs.marker={marker}",
        g.load.name()
    );
    let mut args = x86_args(&kit.cache, &kit.image, &initrd, g.ram_mib, g.cpus, &append);
    args.extend([
        "-drive".into(),
        format!("file={},if=none,id=dumps,format=raw", disk.display()),
        "-device".into(),
        "virtio-blk-pci,drive=dumps".into(),
    ]);
    let console = work.join("console.txt");
    let mut vm = Vm::start("qemu-system-x86_64", &args, &console, None)?;
    steps.time(&tag("boot first kernel to init"), || {
        wait(&mut vm, "kexec-load -S -p before loading", 600)
    })?;
    steps.time(&tag("kexec-load -p/-S/-u/-p (guest)"), || {
        wait(&mut vm, "kexec-load -p again: kexec_crash_loaded=1", 180)
    })?;
    steps.time(&tag("markers, sysrq-c"), || {
        wait(&mut vm, "Kernel panic - not syncing", 120)
    })?;
    say(
        "Step 3. The kernel panicked and jumped into the capture kernel our loader placed in\n\
         the reserved memory. It sees the old kernel's memory as /proc/vmcore and runs our\n\
         `vmcore-capture` three ways: -l -d 31 (LZO, only kernel pages), -z -d 1 (zstd,\n\
         everything but zero pages) and -F -d 31 (the flattened stream on stdout).",
    );
    steps.time(&tag("crash to capture kernel init"), || {
        wait(&mut vm, "/proc/vmcore size=", 300)
    })?;
    let capture_secs = if g.ram_mib > 2048 { 1800 } else { 900 };
    steps.time(&tag("vmcore-capture x3 in the capture kernel"), || {
        wait(&mut vm, &format!("{SAY}CAPTURED"), capture_secs)
    })?;
    vm.wait_exit(Duration::from_secs(60))?;
    let text = vm.console();
    let mut proof: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with(SAY) || l.contains("for crashkernel"))
        .map(|l| l.trim_end().to_string())
        .collect();
    let after = lines_after(&text, "Kernel panic - not syncing", 0);
    for needle in [
        "Kernel panic - not syncing",
        "Linux version",
        "Command line:",
    ] {
        if let Some(l) = after.iter().find(|l| l.contains(needle)) {
            proof.push(l.trim_end().to_string());
        }
    }

    let files = steps.time(&tag("copy the dumps out (debugfs)"), || {
        let mut out = Vec::new();
        for f in [
            "dump-l-d31.kdump",
            "dump-z-d1.kdump",
            "dump-F-d31.flat",
            "vmcore-head.bin",
        ] {
            let dst = work.join(f);
            crate::cmd::run(
                Command::new("debugfs")
                    .arg("-R")
                    .arg(format!("dump /{f} {}", dst.display()))
                    .arg(&disk),
            )?;
            let size = std::fs::metadata(&dst).map(|m| m.len()).unwrap_or(0);
            if size == 0 {
                bail!("{f} is missing or empty on the dump disk");
            }
            out.push(dst);
        }
        std::fs::remove_file(&disk)?;
        Ok(out)
    })?;
    let (l31, z1, flat) = (&files[0], &files[1], &files[2]);
    if g.load == Load::Classic {
        let line = steps.time(&tag("/proc/vmcore PT_LOADs = our elfcorehdr"), || {
            classic_checks(&text, &std::fs::read(&files[3])?)
        })?;
        eprintln!("e2e: {line}");
        proof.push(line);
    }

    say(
        "Step 4. Back on the host: read the kernel log out of the dump with our `vmcore-dmesg`,\n\
         and compare it with makedumpfile's --dump-dmesg of the same file.",
    );
    let log = steps.time(&tag("vmcore-dmesg vs makedumpfile --dump-dmesg"), || {
        let ours = output(kit.tool("vmcore-dmesg").arg(l31))?;
        for want in ["sysrq: Trigger a crash", "Kernel panic - not syncing"] {
            if !ours.contains(want) {
                bail!("vmcore-dmesg of {} lacks {want:?}", l31.display());
            }
        }
        let md_file = work.join("md-dmesg.txt");
        let md = Command::new("makedumpfile")
            .arg("--dump-dmesg")
            .arg(l31)
            .arg(&md_file)
            .output()?;
        if !md.status.success() {
            bail!(
                "makedumpfile --dump-dmesg {}: {}",
                l31.display(),
                String::from_utf8_lossy(&md.stderr)
            );
        }
        let md = std::fs::read_to_string(&md_file)?;
        let indented = compare_logs(&ours, &md)?;
        eprintln!(
            "e2e: vmcore-dmesg and makedumpfile agree on {} lines ({indented} continuation lines indented by makedumpfile)",
            ours.lines().count()
        );
        std::fs::write(work.join("vmcore-dmesg.txt"), &ours)?;
        Ok(ours)
    })?;
    proof.extend(
        log.lines()
            .filter(|l| l.contains("sysrq: Trigger a crash") || l.contains("Kernel panic"))
            .map(|l| format!("vmcore-dmesg: {l}")),
    );

    say("Step 5. Which CPU panicked, and where? `vmcore-info` reads the CPUs' saved registers.");
    let panic_line = steps.time(&tag("vmcore-info panic CPU"), || {
        let v: Value =
            serde_json::from_str(&output(kit.tool("vmcore-info").arg("--json").arg(l31))?)?;
        let cpu = &v["panic_cpu"];
        let index = cpu["index"].as_u64().context("no panic_cpu.index")?;
        let ip = cpu["instruction_pointer"]
            .as_str()
            .context("no panic_cpu ip")?;
        let pid = cpu["pid"].as_u64().context("no panic_cpu pid")?;
        let cpus = v["cpus"].as_array().map_or(0, Vec::len);
        let ip_value = u64::from_str_radix(ip.trim_start_matches("0x"), 16)?;
        if ip_value < 0xffff_8000_0000_0000 {
            bail!("the panicking CPU's ip {ip} is not a kernel address");
        }
        if index >= u64::from(g.cpus) || u64::try_from(cpus).ok() != Some(u64::from(g.cpus)) {
            bail!(
                "panic CPU {index} of {cpus} saved CPUs in a {}-vCPU guest",
                g.cpus
            );
        }
        if pid != 1 {
            bail!("the panicking CPU ran pid {pid}, not the init that wrote sysrq-c");
        }
        Ok(format!(
            "vmcore-info: panic cpu {index} of {cpus}, pid {pid}, ip {ip} ({})",
            v["panic_cpu_source"].as_str().unwrap_or("?")
        ))
    })?;
    eprintln!("e2e: {panic_line}");
    proof.push(panic_line);

    say(
        "Step 5b. The crash utility, with the kernel's debug vmlinux, opens our dump: `log` and `bt`.",
    );
    let crash_lines = steps.time(&tag("crash log and bt on the -l -d 31 dump"), || {
        super::crash::log_and_bt(&kit.vmlinux_dbg, l31)
    })?;
    for l in &crash_lines {
        eprintln!("e2e: {l}");
    }
    proof.extend(crash_lines);

    say(
        "Step 6. Did the dumps keep what they should? The -d 1 dump keeps every non-zero page,\n\
         so both markers are in it; -d 31 drops user pages, so the anonymous one is not.",
    );
    steps.time(&tag("markers in the -d 1 and -d 31 dumps"), || {
        let anon = format!("{marker}-anon");
        let cache_marker = format!("{marker}-page-cache");
        let z_elf = work.join("dump-z-d1.elf");
        crate::cmd::run(kit.tool("vmcore-capture").args(["-E", "-d", "1"]).arg(z1).arg(&z_elf))?;
        let z_counts = count_in_file(&z_elf, &[anon.as_bytes(), cache_marker.as_bytes()])?;
        let l_elf = work.join("dump-l-d31.elf");
        crate::cmd::run(kit.tool("vmcore-capture").args(["-E", "-d", "1"]).arg(l31).arg(&l_elf))?;
        let l_counts = count_in_file(&l_elf, &[anon.as_bytes(), cache_marker.as_bytes()])?;
        let line = format!(
            "markers: -z -d 1 holds {} anon + {} page-cache copies; -l -d 31 holds {} anon + {} page-cache",
            z_counts[0], z_counts[1], l_counts[0], l_counts[1]
        );
        eprintln!("e2e: {line}");
        if z_counts[0] == 0 || z_counts[1] == 0 {
            bail!("the -d 1 dump lacks a marker: {line}");
        }
        // -d 31 drops every page the kernel marks as user memory. A stale
        // copy can survive in a page freed to a per-CPU list (not buddy, not
        // anon: no dump level can exclude it, makedumpfile's selection is the
        // same), so a few copies are allowed, never more than 2 % of the -d 1
        // dump's.
        if l_counts[0] * 50 > z_counts[0] {
            bail!("the -d 31 dump holds the anonymous marker: {line}");
        }
        if !keep {
            std::fs::remove_file(&z_elf)?;
            std::fs::remove_file(&l_elf)?;
            std::fs::remove_file(z1)?;
        }
        proof.push(line);
        Ok(())
    })?;

    say(
        "Step 7. The -F stream is what `vmcore-capture -F | ssh host 'cat > dump'` sends; rebuild it.",
    );
    steps.time(&tag("-F stream rebuilt with -R"), || {
        let rebuilt = work.join("dump-F-rebuilt.kdump");
        crate::cmd::run(
            kit.tool("vmcore-capture")
                .arg("-R")
                .arg(&rebuilt)
                .stdin(Stdio::from(File::open(flat)?)),
        )?;
        let again = output(kit.tool("vmcore-dmesg").arg(&rebuilt))?;
        if again != log {
            bail!("the rebuilt -F dump's log differs from the -l dump's");
        }
        eprintln!("e2e: the rebuilt -F dump has the same kernel log");
        Ok(())
    })?;
    let lines: Vec<&str> = log.lines().collect();
    let from = lines
        .iter()
        .rposition(|l| l.contains("sysrq: Trigger a crash"))
        .unwrap_or(lines.len().saturating_sub(12));
    Ok(Outcome {
        guest: g,
        crashkernel,
        proof,
        dump: l31.clone(),
        log_tail: lines[from..].iter().map(|l| l.to_string()).collect(),
    })
}

/// A copy of the bzImage with `XLF_CAN_BE_LOADED_ABOVE_4G` (bit 1 of `xloadflags`
/// at 0x236, `Documentation/arch/x86/boot.rst`) cleared: `kexec_file_load`'s
/// `bzImage64_probe` refuses it with ENOEXEC, `kexec_load` does not care.
fn no_above_4g(image: &[u8]) -> Result<Vec<u8>> {
    let mut out = image.to_vec();
    let b = out
        .get_mut(0x236)
        .context("bzImage shorter than its setup header")?;
    *b &= !2;
    Ok(out)
}

/// The `PT_LOAD` lines of a program header table, in the form `kexec-load
/// --dry-run` prints them.
fn load_lines(phdrs: impl Iterator<Item = elfcorehdr::ProgramHeader>) -> Vec<String> {
    phdrs
        .filter(|p| p.is_load())
        .map(|p| {
            format!(
                "PT_LOAD paddr={:#x} vaddr={:#x} filesz={:#x} memsz={:#x}",
                p.paddr, p.vaddr, p.filesz, p.memsz
            )
        })
        .collect()
}

/// The classic cycle's own checks: `-a` fell back, the capture kernel's command line
/// has our `elfcorehdr=<KiB>K` at the plan's address, and `/proc/vmcore`'s `PT_LOAD`s
/// are the plan's. Returns the proof line.
fn classic_checks(console: &str, vmcore_head: &[u8]) -> Result<String> {
    let plan_prefix = format!("{SAY}plan: ");
    let plan: Vec<&str> = console
        .lines()
        .filter_map(|l| l.strip_prefix(&plan_prefix))
        .collect();
    if !console.contains(&format!("{SAY}-a: ")) {
        bail!("the guest did not show kexec-load -a falling back to kexec_load");
    }
    let ours: Vec<String> = plan
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("PT_LOAD "))
        .map(str::to_string)
        .collect();
    if ours.is_empty() {
        bail!("the guest printed no PT_LOAD in its kexec-load -c --dry-run plan");
    }
    let addr = plan
        .iter()
        .find_map(|l| l.strip_prefix("elfcorehdr at "))
        .and_then(|l| l.split(',').next())
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .context("the plan names no elfcorehdr address")?;
    let after = lines_after(console, "Kernel panic - not syncing", 0);
    let cmdline = after
        .iter()
        .find(|l| l.contains("Command line:"))
        .context("no capture kernel command line")?;
    let want = format!("elfcorehdr={}K", addr >> 10);
    if !cmdline.split_ascii_whitespace().any(|w| w == want) {
        bail!("the capture kernel's command line lacks {want}: {cmdline}");
    }
    let core = elfcorehdr::ElfCore::parse(vmcore_head)
        .map_err(|e| anyhow::anyhow!("/proc/vmcore head: {e}"))?;
    let theirs = load_lines(core.program_headers());
    if theirs != ours {
        bail!(
            "/proc/vmcore's PT_LOADs differ from our elfcorehdr's:\nplan:\n  {}\n/proc/vmcore:\n  {}",
            ours.join("\n  "),
            theirs.join("\n  ")
        );
    }
    Ok(format!(
        "classic: /proc/vmcore has the {} PT_LOADs of our elfcorehdr at {addr:#x} ({want}):\n    {}",
        ours.len(),
        ours.join("\n    ")
    ))
}

/// stdout of a command that must succeed.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Compares our log with makedumpfile's: the same lines, except that
/// makedumpfile indents a record's continuation lines; returns how many
/// lines differed only so.
fn compare_logs(ours: &str, md: &str) -> Result<usize> {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), md.lines().collect());
    if a.len() != b.len() {
        bail!(
            "vmcore-dmesg has {} lines, makedumpfile {}",
            a.len(),
            b.len()
        );
    }
    let mut indented = 0;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x == y {
            continue;
        }
        if !x.starts_with('[') && y.starts_with(' ') && y.trim_start() == x.trim_start() {
            indented += 1;
            continue;
        }
        bail!("line {}: vmcore-dmesg {x:?}, makedumpfile {y:?}", i + 1);
    }
    Ok(indented)
}

/// How often each needle occurs in a file, read in chunks that carry the
/// last `longest - 1` bytes over to the next one.
fn count_in_file(path: &Path, needles: &[&[u8]]) -> Result<Vec<usize>> {
    let longest = needles.iter().map(|n| n.len()).max().unwrap_or(1).max(1);
    let mut f = File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut counts = vec![0; needles.len()];
    let mut buf = vec![0u8; 8 << 20];
    let mut carry = 0;
    loop {
        let n = f.read(&mut buf[carry..])?;
        if n == 0 {
            break;
        }
        let end = carry + n;
        for (c, needle) in counts.iter_mut().zip(needles) {
            *c += count(&buf[..end], needle, carry);
        }
        let keep = (longest - 1).min(end);
        buf.copy_within(end - keep..end, 0);
        carry = keep;
    }
    Ok(counts)
}

/// Occurrences of `needle` in `hay` that end past `seen` (the bytes before
/// `seen` were searched with the previous chunk, so a match lying wholly
/// inside them is already counted).
fn count(hay: &[u8], needle: &[u8], seen: usize) -> usize {
    let Some(&first) = needle.first() else {
        return 0;
    };
    let mut n = 0;
    let mut at = 0;
    while let Some(p) = hay[at..].iter().position(|&b| b == first) {
        let start = at + p;
        if start + needle.len() > seen && hay[start..].starts_with(needle) {
            n += 1;
        }
        at = start + 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_chunk_boundaries() {
        let dir = std::env::temp_dir().join(format!("kdump-rs-count-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hay");
        let mut data = vec![b'x'; (8 << 20) + 100];
        for at in [0, (8 << 20) - 3, (8 << 20) + 50] {
            data[at..at + 6].copy_from_slice(b"MARKER");
        }
        std::fs::write(&p, &data).unwrap();
        assert_eq!(
            count_in_file(&p, &[b"MARKER", b"ARKE", b"nope"]).unwrap(),
            [3, 3, 0]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn classic_checks_compare_plan_and_vmcore() {
        let phdrs = [
            elfcorehdr::ProgramHeader::note(0x3000, 0x3000, 0x170),
            elfcorehdr::ProgramHeader::load(
                0x10_0000,
                0xffff_8880_0010_0000,
                0x10_0000,
                0x1000,
                0x1000,
            ),
        ];
        let mut head = Vec::new();
        elfcorehdr::write_headers(&mut head, elfcorehdr::Target::x86_64(), &phdrs).unwrap();
        let console = format!(
            "{SAY}-a: kexec-load: kexec_file_load failed with errno 8 (BadImage): x; falling back to kexec_load\n\
             {SAY}plan: elfcorehdr at 0x36790000, Elf64, 2 program headers:\n\
             {SAY}plan:   PT_NOTE paddr=0x3000 vaddr=0x0 filesz=0x170 memsz=0x170\n\
             {SAY}plan:   PT_LOAD paddr=0x100000 vaddr=0xffff888000100000 filesz=0x1000 memsz=0x1000\n\
             Kernel panic - not syncing: sysrq\n\
             Command line: elfcorehdr=892480K console=ttyS0\n"
        );
        assert!(classic_checks(&console, &head).is_ok());
        // Another size, another address, no fallback: each is caught.
        assert!(classic_checks(&console.replace("memsz=0x1000", "memsz=0x2000"), &head).is_err());
        assert!(classic_checks(&console.replace("892480K", "892484K"), &head).is_err());
        assert!(classic_checks(&console.replace("-a: ", "x: "), &head).is_err());
    }

    #[test]
    fn logs_differ_only_by_continuation_indent() {
        let ours = "[    0.0] a\nmore\n[    0.1] b\n";
        let md = "[    0.0] a\n          more\n[    0.1] b\n";
        assert_eq!(compare_logs(ours, md).unwrap(), 1);
        assert!(compare_logs(ours, "[    0.0] a\n          less\n[    0.1] b\n").is_err());
        assert!(compare_logs(ours, "[    0.0] a\n").is_err());
    }
}

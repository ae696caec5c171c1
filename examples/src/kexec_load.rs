//! `kexec-load`: load a kernel for kexec or kdump, with kexec-tools' spelling.
//!
//! ```text
//! kexec-load -p|-l [-s|-c|-a] KERNEL [--initrd=FILE] [--command-line=STR|--reuse-cmdline] [--append=STR] [-d]
//!            [--elf32-core-headers|--elf64-core-headers] [--mem-min=ADDR] [--mem-max=ADDR]
//! kexec-load -u [-p|-l] [-c]  unload
//! kexec-load -e               sync, take network interfaces down, boot the loaded kernel now
//! kexec-load -S [-l]          exit 1 when the crash kernel (with -l: the kexec kernel) is loaded, 0 when not
//! kexec-load --print-ckr-size
//! kexec-load --dry-run -p KERNEL ...   the plan and its checks (with -c: the segment table); touches nothing
//! kexec-load --info IMAGE [--json]     what the image is
//! ```
//!
//! `-s` loads through `kexec_file_load(2)`, where the kernel itself places the
//! segments, builds the ELF core header and, under lockdown, checks the
//! signature. `-c` loads through `kexec_load(2)` on x86_64: kexec-image's
//! [`kexec_image::classic`] plan builds every segment here (kernel, initrd,
//! boot_params with the e820 table, the elfcorehdr from `/proc/iomem` and
//! sysfs, and our purgatory). `-a`, the default, tries the file syscall and
//! falls back to the classic one on exactly the errors kexec-tools (2.0.27+)
//! falls back on: ENOSYS, EINVAL, ENOEXEC and EOPNOTSUPP.
//!
//! Test hook: with `KEXEC_LOAD_CORRUPT_SEGMENT=NAME` in the environment, `-c`
//! flips one byte of the segment NAME (e.g. `initrd`) after the purgatory's
//! digest was computed, so that an end-to-end test can watch the purgatory
//! refuse to start the kernel. Nothing else reads the environment.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use clap::Parser;
use kexec_image::classic::{self, ClassicPlan, ClassicRequest, SystemFacts};
use kexec_image::elfcorehdr::{Class, KernelText, NoteBuffer};
use kexec_image::{
    Arch, FactValue, Iomem, KernelImage, LoadKind, LoadPlan, LoadRequest, SyscallChoice,
    concat_cmdline, plan, reuse_cmdline,
};
use kexec_sys::{KexecFileFlags, KexecLoadFlags, KexecSysfs, Lockdown};
use serde_json::{Map, Value};

#[derive(Debug, Parser)]
#[command(
    name = "kexec-load",
    version,
    about = "Load a kernel for kexec or kdump through kexec_file_load (kexec-tools' options)",
    after_help = "Exit status: 0 on success; 1 when the kernel refused or a check failed; 2 on a usage error."
)]
struct Cli {
    /// Load the crash (kdump) kernel, run on panic.
    #[arg(short = 'p', long = "load-panic")]
    load_panic: bool,
    /// Load the kernel for `kexec-load -e`.
    #[arg(short = 'l', long = "load")]
    load: bool,
    /// Unload the kernel (with -p: the crash kernel).
    #[arg(short = 'u', long = "unload")]
    unload: bool,
    /// Boot the loaded kernel now (reboot(LINUX_REBOOT_CMD_KEXEC)).
    #[arg(short = 'e', long = "exec")]
    exec: bool,
    /// Exit 1 when the crash kernel (with -l: the kexec kernel) is loaded, 0 when not (kexec(8)).
    #[arg(short = 'S', long = "status")]
    status: bool,
    /// Use kexec_file_load.
    #[arg(short = 's', long = "kexec-file-syscall")]
    file_syscall: bool,
    /// Use the classic kexec_load (x86_64: segments and purgatory built here).
    #[arg(short = 'c', long = "kexec-syscall")]
    classic_syscall: bool,
    /// kexec_file_load, falling back to kexec_load (the default).
    #[arg(short = 'a', long = "kexec-syscall-auto")]
    auto_syscall: bool,
    /// The initrd to pass.
    #[arg(long, visible_alias = "ramdisk", value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// The whole command line of the new kernel.
    #[arg(long = "command-line", value_name = "STR")]
    command_line: Option<String>,
    /// Text appended to the command line.
    #[arg(long, value_name = "STR")]
    append: Option<String>,
    /// Start from this kernel's /proc/cmdline (without BOOT_IMAGE=, and without crashkernel= for -p).
    #[arg(long = "reuse-cmdline")]
    reuse_cmdline: bool,
    /// ELF32 core headers (classic syscall only; RAM must lie below 4 GiB).
    #[arg(long = "elf32-core-headers", conflicts_with = "elf64_core_headers")]
    elf32_core_headers: bool,
    /// ELF64 core headers (the default, and what the kernel builds with kexec_file_load).
    #[arg(long = "elf64-core-headers")]
    elf64_core_headers: bool,
    /// Lowest physical address a classic segment may use (decimal or 0x hex).
    #[arg(long = "mem-min", value_name = "ADDR", value_parser = parse_addr)]
    mem_min: Option<u64>,
    /// Highest physical address a classic segment may use (decimal or 0x hex).
    #[arg(long = "mem-max", value_name = "ADDR", value_parser = parse_addr)]
    mem_max: Option<u64>,
    /// Print the size of the crash kernel region in bytes.
    #[arg(long = "print-ckr-size")]
    print_ckr_size: bool,
    /// Say what happens; set KEXEC_FILE_DEBUG so the kernel logs the load.
    #[arg(short = 'd', long = "debug")]
    debug: bool,
    /// Print the load plan and its checks; load nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Describe IMAGE (format, arch, header fields) and exit.
    #[arg(long, value_name = "IMAGE")]
    info: Option<PathBuf>,
    /// With --info: one JSON object.
    #[arg(long)]
    json: bool,
    /// Read /proc and /sys under DIR instead of / (for checks on another tree; loads still go to this kernel).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// The kernel image to load.
    kernel: Option<PathBuf>,
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
    match run(&cli) {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            eprintln!("kexec-load: {msg}");
            2
        }
        Err(Failure::Refused(msg)) => {
            eprintln!("kexec-load: {msg}");
            1
        }
    }
}

enum Failure {
    Usage(String),
    Refused(String),
}

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::Refused(e.to_string())
}

/// An address as kexec-tools' `strtoul(.., 0)` reads it: `0x` hex, or decimal.
fn parse_addr(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?} is not an address: {e}"))
}

fn run(cli: &Cli) -> Result<i32, Failure> {
    if let Some(image) = &cli.info {
        return info(image, cli.json);
    }
    if cli.print_ckr_size {
        let iomem = Iomem::read(&cli.root).map_err(refused)?;
        println!("{}", iomem.crash_size());
        return Ok(0);
    }
    let sysfs = KexecSysfs::new(&cli.root);
    if cli.status {
        // kexec(8): -S looks at the crash kernel unless -l is given, and exits 1
        // when it is loaded, 0 when not.
        let loaded = if cli.load {
            sysfs.kexec_loaded()
        } else {
            sysfs.kexec_crash_loaded()
        }
        .map_err(refused)?;
        if cli.debug {
            let what = if cli.load {
                "kexec kernel"
            } else {
                "crash kernel"
            };
            eprintln!(
                "kexec-load: {what} {}",
                if loaded { "loaded" } else { "not loaded" }
            );
        }
        return Ok(if loaded { 1 } else { 0 });
    }
    let syscall = match (cli.file_syscall, cli.classic_syscall, cli.auto_syscall) {
        (false, false, _) => SyscallChoice::Auto,
        (true, false, false) => SyscallChoice::File,
        (false, true, false) => SyscallChoice::Classic,
        _ => return Err(Failure::Usage("choose one of -s, -c and -a".into())),
    };
    if cli.unload {
        if syscall == SyscallChoice::Classic {
            kexec_sys::kexec_unload(cli.load_panic)
                .map_err(|e| refused(classic_error(&e, &sysfs)))?;
        } else {
            // The file syscall unloads either kind, and is the one lockdown allows.
            kexec_sys::kexec_file_unload(cli.load_panic).map_err(refused)?;
        }
        if cli.debug {
            eprintln!("kexec-load: unloaded");
        }
        return Ok(0);
    }
    if cli.exec {
        // As kexec-tools' -e: commit the page cache, take the network interfaces
        // down (no device keeps doing DMA into memory the new kernel owns), then jump.
        kexec_sys::sync();
        match kexec_sys::interfaces_down() {
            Ok(names) if cli.debug => {
                eprintln!("kexec-load: interfaces down: {}", names.join(" "));
            }
            Ok(_) => {}
            Err(e) => eprintln!("kexec-load: {e}; booting the new kernel anyway"),
        }
        let e = match kexec_sys::reboot_kexec() {
            Err(e) => e,
            Ok(never) => match never {},
        };
        return Err(refused(e));
    }
    let kind = match (cli.load_panic, cli.load) {
        (true, false) => LoadKind::Crash,
        (false, true) => LoadKind::Reboot,
        (false, false) => {
            return Err(Failure::Usage(
                "nothing to do: give -p or -l with a kernel, or -u, -e, -S, --info, --print-ckr-size".into(),
            ));
        }
        (true, true) => return Err(Failure::Usage("-p and -l exclude each other".into())),
    };
    if cli.elf32_core_headers && syscall == SyscallChoice::File {
        return Err(Failure::Usage(
            "--elf32-core-headers: with kexec_file_load (-s) the kernel builds the ELF core header itself, always ELF64; use -c".into(),
        ));
    }
    let Some(kernel_path) = &cli.kernel else {
        return Err(Failure::Usage("which kernel? give the image path".into()));
    };
    load(cli, &sysfs, kind, syscall, kernel_path)
}

fn load(
    cli: &Cli,
    sysfs: &KexecSysfs,
    kind: LoadKind,
    syscall: SyscallChoice,
    kernel_path: &Path,
) -> Result<i32, Failure> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| refused(format!("{}: {e}", p.display())));
    let kernel = read(kernel_path)?;
    let initrd = cli.initrd.as_deref().map(read).transpose()?;
    let mut cmdline = match (&cli.command_line, cli.reuse_cmdline) {
        (Some(_), true) => {
            return Err(Failure::Usage(
                "--command-line and --reuse-cmdline exclude each other".into(),
            ));
        }
        (Some(c), false) => c.clone(),
        (None, true) => {
            let proc_cmdline = cli.root.join("proc/cmdline");
            let text = std::fs::read_to_string(&proc_cmdline)
                .map_err(|e| refused(format!("{}: {e}", proc_cmdline.display())))?;
            reuse_cmdline(&text, kind)
        }
        (None, false) => String::new(),
    };
    if let Some(extra) = &cli.append {
        cmdline = concat_cmdline(&cmdline, extra);
    }
    let iomem = Iomem::read(&cli.root).ok();
    let cpus = sysfs.crash_notes().map(|n| n.len()).unwrap_or(0);
    let cpus = u32::try_from(cpus).unwrap_or(u32::MAX).max(1);
    let lockdown = sysfs.lockdown().ok().flatten();
    let request = LoadRequest {
        kind,
        syscall,
        kernel: &kernel,
        initrd: initrd.as_deref(),
        cmdline,
        host_arch: host_arch(),
        cpus,
        max_decompressed: 1 << 30,
        require_signature: lockdown.is_some_and(|l| l != Lockdown::None),
    };
    let plan = plan(&request, iomem.as_ref())
        .map_err(|e| refused(format!("{}: {e}", kernel_path.display())))?;
    // -c, and -a where only the classic syscall can do what was asked.
    let classic_first = syscall == SyscallChoice::Classic
        || (syscall == SyscallChoice::Auto
            && (cli.elf32_core_headers || cli.mem_min.is_some() || cli.mem_max.is_some()));
    if cli.dry_run {
        if classic_first {
            // The estimated placement is the file syscall's; the exact table follows.
            for line in plan.describe().lines() {
                if !line.starts_with("segment ") {
                    println!("{line}");
                }
            }
        } else {
            print!("{}", plan.describe());
        }
        if classic_first {
            let cplan = classic_plan(cli, sysfs, kind, &plan, initrd.as_deref())?;
            print!("{}", cplan.describe());
        }
        return Ok(if plan.is_ok() { 0 } else { 1 });
    }
    if cli.debug {
        eprint!("{}", plan.describe());
    }
    // Which failed checks stop the load. The classic plan makes its own exact
    // placement, length and region checks, and kexec_load verifies no signature, so
    // only the architecture and format checks apply to it. With -a a format the file
    // syscall would refuse is left to the kernel when the classic path takes it: the
    // kernel's refusal (ENOEXEC) is what makes -a fall back.
    let classic_ok = host_arch() == Arch::X86_64 && classic::accepts(&plan.loadable.kernel).is_ok();
    let fatal = |name: &str| match name {
        "arch" => true,
        "format" => !(syscall == SyscallChoice::Auto && classic_ok),
        _ => !classic_first,
    };
    let failed: Vec<String> = plan
        .checks
        .iter()
        .filter(|c| !c.ok && fatal(c.name))
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    if !failed.is_empty() {
        return Err(refused(format!("not loading: {}", failed.join("; "))));
    }
    if classic_first {
        return classic_load(cli, sysfs, kind, &plan, initrd.as_deref());
    }
    match file_load(cli, &plan, kernel_path, initrd.is_some())? {
        Err(e) if syscall == SyscallChoice::Auto && e.file_load_may_fall_back() => {
            eprintln!("kexec-load: {e}; falling back to kexec_load");
            classic_load(cli, sysfs, kind, &plan, initrd.as_deref())
        }
        Err(e) => Err(refused(e)),
        Ok(()) => Ok(0),
    }
}

/// What the classic planner needs from the running system.
fn system_facts(cli: &Cli, sysfs: &KexecSysfs, kind: LoadKind) -> Result<SystemFacts, Failure> {
    let iomem = Iomem::read(&cli.root).map_err(refused)?;
    let mut facts = SystemFacts {
        firmware_map: kexec_image::read_firmware_memmap(&cli.root).unwrap_or_default(),
        acpi_rsdp: sysfs.acpi_rsdp().map_err(refused)?,
        ..SystemFacts::default()
    };
    if kind == LoadKind::Crash {
        facts.cpu_notes = sysfs
            .crash_notes()
            .map_err(refused)?
            .iter()
            .map(|n| NoteBuffer {
                paddr: n.paddr,
                // note_buf_t on x86_64 is 0x1b0 bytes when crash_notes_size is absent
                // (kernels before 4.10).
                size: n.size.unwrap_or(0x1b0),
            })
            .collect();
        let v = sysfs.vmcoreinfo().map_err(refused)?;
        facts.vmcoreinfo = Some(NoteBuffer {
            paddr: v.paddr,
            size: v.size,
        });
        let code = iomem.ranges_named("Kernel code").first().copied();
        if let (Some((text, end)), Some(code)) =
            (sysfs.kernel_text_symbols().map_err(refused)?, code)
        {
            facts.kernel_text = Some(KernelText {
                vaddr: text,
                paddr: code.start,
                size: end - text,
            });
        }
    }
    facts.direct_map = kcore_direct_map(&cli.root);
    facts.iomem = iomem;
    Ok(facts)
}

/// The running kernel's direct map (KASLR moves `page_offset_base`), from the
/// program headers of `/proc/kcore` as kexec-tools' `get_kernel_page_offset` reads
/// it: a RAM `PT_LOAD` below the kernel text mapping has `p_vaddr = __va(p_paddr)`.
/// `None` when kcore cannot be read (not root, lockdown): the unrandomised base is
/// used then.
fn kcore_direct_map(root: &Path) -> Option<kexec_image::elfcorehdr::DirectMap> {
    use std::io::Read as _;
    let mut head = Vec::new();
    File::open(root.join("proc/kcore"))
        .ok()?
        .take(1 << 16)
        .read_to_end(&mut head)
        .ok()?;
    let core = kexec_image::elfcorehdr::ElfCore::parse(&head).ok()?;
    // x86_64: the direct map lies between the canonical kernel half's start and
    // __START_KERNEL_map (0xffffffff80000000), arch/x86/include/asm/page_64_types.h.
    core.program_headers()
        .filter(|p| p.is_load() && p.paddr != u64::MAX && p.paddr != 0)
        .filter(|p| (0xffff_8000_0000_0000..0xffff_ffff_8000_0000).contains(&p.vaddr))
        .find_map(|p| p.vaddr.checked_sub(p.paddr))
        .map(|virt_base| kexec_image::elfcorehdr::DirectMap {
            virt_base,
            phys_base: 0,
            phys_limit: None,
        })
}

fn classic_plan(
    cli: &Cli,
    sysfs: &KexecSysfs,
    kind: LoadKind,
    plan: &LoadPlan<'_>,
    initrd: Option<&[u8]>,
) -> Result<ClassicPlan, Failure> {
    if host_arch() != Arch::X86_64 {
        return Err(refused(format!(
            "the classic kexec_load path is built for x86_64 only, not {}; use -s",
            host_arch()
        )));
    }
    let facts = system_facts(cli, sysfs, kind)?;
    let embedded = plan.loadable.embedded_initrd.as_deref();
    let req = ClassicRequest {
        kind,
        kernel: &plan.loadable.kernel,
        initrd: initrd.or(embedded),
        cmdline: &plan.cmdline,
        core_class: if cli.elf32_core_headers {
            Class::Elf32
        } else {
            Class::Elf64
        },
        mem_min: cli.mem_min.unwrap_or(0),
        mem_max: cli.mem_max.unwrap_or(u64::MAX),
    };
    classic::plan_x86_64(&req, &facts).map_err(|e| refused(format!("kexec_load plan: {e}")))
}

fn classic_load(
    cli: &Cli,
    sysfs: &KexecSysfs,
    kind: LoadKind,
    plan: &LoadPlan<'_>,
    initrd: Option<&[u8]>,
) -> Result<i32, Failure> {
    let mut cplan = classic_plan(cli, sysfs, kind, plan, initrd)?;
    if cli.debug {
        eprint!("{}", cplan.describe());
    }
    if let Some(name) = std::env::var_os("KEXEC_LOAD_CORRUPT_SEGMENT") {
        let seg = cplan
            .segments
            .iter_mut()
            .find(|s| s.what != "purgatory" && std::ffi::OsStr::new(s.what) == name)
            .ok_or_else(|| refused(format!("KEXEC_LOAD_CORRUPT_SEGMENT: no segment {name:?}")))?;
        if let Some(b) = seg.bytes.last_mut() {
            *b ^= 0xff;
        }
        eprintln!(
            "kexec-load: KEXEC_LOAD_CORRUPT_SEGMENT: flipped the last byte of {} at {:#x} after the digest",
            seg.what, seg.dest
        );
    }
    let segments: Vec<kexec_sys::Segment<'_>> = cplan
        .segments
        .iter()
        .map(|s| kexec_sys::Segment {
            buf: &s.bytes,
            mem: s.dest,
            memsz: s.memsz,
        })
        .collect();
    let mut flags = KexecLoadFlags::empty().with_arch_field(kexec_sys::uapi::KEXEC_ARCH_X86_64);
    if kind == LoadKind::Crash {
        flags |= KexecLoadFlags::ON_CRASH;
    }
    kexec_sys::kexec_load(cplan.entry, &segments, flags)
        .map_err(|e| refused(classic_error(&e, sysfs)))?;
    if cli.debug {
        eprintln!(
            "kexec-load: loaded {} segments with kexec_load, entry {:#x}",
            segments.len(),
            cplan.entry
        );
    }
    Ok(0)
}

/// A failed classic call, said plainly when lockdown is the reason.
fn classic_error(e: &kexec_sys::Error, sysfs: &KexecSysfs) -> String {
    let locked = sysfs
        .lockdown()
        .ok()
        .flatten()
        .is_some_and(|l| l != Lockdown::None);
    if e.kind() == Some(kexec_sys::ErrorKind::PermissionDenied) && locked {
        format!(
            "{e}: the kernel is locked down, and lockdown refuses kexec_load; load a signed kernel with kexec_file_load (-s)"
        )
    } else {
        e.to_string()
    }
}

fn file_load(
    cli: &Cli,
    plan: &LoadPlan<'_>,
    kernel_path: &Path,
    have_initrd: bool,
) -> Result<Result<(), kexec_sys::Error>, Failure> {
    // A kernel that had to be unwrapped (compressed, zboot, UKI) goes to the
    // syscall as an unnamed in-memory file: no path another user could plant
    // a link at, nothing to clean up.
    let kernel_file = if plan.loadable.steps.is_empty() {
        open(kernel_path)?
    } else {
        memory_file("kernel", &plan.loadable.kernel)?
    };
    let initrd_file = match (&cli.initrd, &plan.loadable.embedded_initrd) {
        (Some(p), _) if have_initrd => Some(open(p)?),
        (None, Some(embedded)) => Some(memory_file("initrd", embedded)?),
        _ => None,
    };
    let cmdline = CString::new(plan.cmdline.clone())
        .map_err(|_| Failure::Usage("the command line contains a NUL byte".into()))?;
    let mut flags = KexecFileFlags::empty();
    if plan.on_crash {
        flags |= KexecFileFlags::ON_CRASH;
    }
    let load = |flags: KexecFileFlags| {
        kexec_sys::kexec_file_load(
            kernel_file.as_fd(),
            initrd_file.as_ref().map(|f| f.as_fd()),
            &cmdline,
            flags,
        )
    };
    let mut result = if cli.debug {
        load(flags | KexecFileFlags::DEBUG)
    } else {
        load(flags)
    };
    // KEXEC_FILE_DEBUG is new in Linux 6.8; older kernels refuse the unknown
    // flag with EINVAL, which must not turn -d into a failed (or, with -a,
    // a classic) load.
    if cli.debug
        && result
            .as_ref()
            .err()
            .and_then(kexec_sys::Error::kind)
            .is_some_and(|k| k == kexec_sys::ErrorKind::InvalidArgument)
    {
        eprintln!(
            "kexec-load: the kernel refused KEXEC_FILE_DEBUG (EINVAL; it is new in Linux 6.8); loading again without it"
        );
        result = load(flags);
    }
    if result.is_ok() && cli.debug {
        eprintln!("kexec-load: loaded with kexec_file_load");
    }
    Ok(result)
}

fn open(path: &Path) -> Result<File, Failure> {
    File::open(path).map_err(|e| refused(format!("{}: {e}", path.display())))
}

/// `bytes` in an unnamed in-memory file (memfd_create(2)), for the file
/// syscall, which takes a file descriptor and reads it from its start.
fn memory_file(what: &str, bytes: &[u8]) -> Result<File, Failure> {
    use std::io::Write;
    let fd = rustix::fs::memfd_create(
        format!("kexec-load-{what}"),
        rustix::fs::MemfdFlags::CLOEXEC,
    )
    .map_err(|e| refused(format!("memfd_create for the {what}: {e}")))?;
    let mut file = File::from(fd);
    file.write_all(bytes)
        .map_err(|e| refused(format!("writing the {what} to its memfd: {e}")))?;
    Ok(file)
}

/// The architecture this tool runs on, in kexec-image's terms.
fn host_arch() -> Arch {
    match std::env::consts::ARCH {
        "x86" => Arch::X86,
        "aarch64" => Arch::Aarch64,
        "arm" => Arch::Arm,
        "powerpc64" => Arch::Powerpc64,
        "powerpc" => Arch::Powerpc,
        "s390x" => Arch::S390x,
        "riscv64" => Arch::Riscv64,
        "riscv32" => Arch::Riscv32,
        "loongarch64" => Arch::Loongarch64,
        _ => Arch::X86_64,
    }
}

fn info(path: &Path, json: bool) -> Result<i32, Failure> {
    let data = std::fs::read(path).map_err(|e| refused(format!("{}: {e}", path.display())))?;
    let image =
        KernelImage::parse(&data).map_err(|e| refused(format!("{}: {e}", path.display())))?;
    let facts = image.facts();
    if json {
        let mut obj = Map::new();
        obj.insert("format".into(), Value::from(image.format().to_string()));
        obj.insert(
            "arch".into(),
            image.arch.map_or(Value::Null, |a| Value::from(a.name())),
        );
        for f in &facts {
            let value = match &f.value {
                FactValue::Text(t) => Value::from(t.clone()),
                FactValue::Int(n) | FactValue::Hex(n) => Value::from(*n),
                FactValue::Bool(b) => Value::from(*b),
            };
            obj.entry(f.name.clone()).or_insert(value);
        }
        println!("{}", Value::Object(obj));
    } else {
        println!("{}: {}", path.display(), image.format());
        for f in &facts {
            let value = match &f.value {
                FactValue::Text(t) => t.clone(),
                FactValue::Int(n) => n.to_string(),
                FactValue::Hex(n) => format!("{n:#x}"),
                FactValue::Bool(b) => b.to_string(),
            };
            println!("  {:<28} {value}", f.name);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockdown_refusal_of_kexec_load_names_the_file_syscall() {
        let root = std::env::temp_dir().join(format!("kexec-load-lockdown-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sys/kernel/security")).unwrap();
        let eperm = kexec_sys::Error::Syscall {
            call: kexec_sys::Call::KexecLoad,
            errno: 1,
            kind: kexec_sys::ErrorKind::PermissionDenied,
        };
        std::fs::write(
            root.join("sys/kernel/security/lockdown"),
            "none [integrity] confidentiality\n",
        )
        .unwrap();
        let msg = classic_error(&eperm, &KexecSysfs::new(&root));
        assert!(
            msg.contains("lockdown refuses kexec_load") && msg.contains("(-s)"),
            "{msg}"
        );
        std::fs::write(
            root.join("sys/kernel/security/lockdown"),
            "[none] integrity confidentiality\n",
        )
        .unwrap();
        let msg = classic_error(&eperm, &KexecSysfs::new(&root));
        assert!(!msg.contains("lockdown refuses"), "{msg}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn addresses_read_as_kexec_tools_reads_them() {
        assert_eq!(parse_addr("0x1000000"), Ok(0x100_0000));
        assert_eq!(parse_addr("4096"), Ok(4096));
        assert!(parse_addr("16M").is_err());
    }
}

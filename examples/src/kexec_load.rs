//! `kexec-load`: load a kernel for kexec or kdump, with kexec-tools' spelling.
//!
//! ```text
//! kexec-load -p|-l [-s|-a] KERNEL [--initrd=FILE] [--command-line=STR|--reuse-cmdline] [--append=STR] [-d]
//! kexec-load -u [-p]          unload
//! kexec-load -e               boot the loaded kernel now
//! kexec-load -S [-p]          exit 0 when a kernel is loaded
//! kexec-load --print-ckr-size
//! kexec-load --dry-run -p KERNEL ...   the plan and its checks; touches nothing
//! kexec-load --info IMAGE [--json]     what the image is
//! ```
//!
//! Loads go through `kexec_file_load(2)`, where the kernel itself places the
//! segments, builds the ELF core header and, under lockdown, checks the
//! signature. The classic `kexec_load(2)` path (`-c`, and `-a`'s fall back)
//! needs user-space segment building and purgatory, which this tool does not
//! have yet: it says so instead of pretending.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use clap::Parser;
use kexec_image::{
    Arch, FactValue, Iomem, KernelImage, LoadKind, LoadPlan, LoadRequest, SyscallChoice,
    concat_cmdline, plan, reuse_cmdline,
};
use kexec_sys::{KexecFileFlags, KexecSysfs, Lockdown};
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
    /// Exit 0 when a kernel is loaded (with -p: the crash kernel), 1 otherwise.
    #[arg(short = 'S', long = "status")]
    status: bool,
    /// Use kexec_file_load.
    #[arg(short = 's', long = "kexec-file-syscall")]
    file_syscall: bool,
    /// Use the classic kexec_load (not available yet).
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
    /// ELF32 core headers: only the classic syscall can build them.
    #[arg(long = "elf32-core-headers")]
    elf32_core_headers: bool,
    /// ELF64 core headers (what the kernel builds with kexec_file_load).
    #[arg(long = "elf64-core-headers")]
    elf64_core_headers: bool,
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

const CLASSIC_MISSING: &str = "the classic kexec_load syscall (-c) needs user-space segment building and purgatory, which kexec-load does not have yet; use the file syscall (-s)";

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
        let loaded = if cli.load_panic {
            sysfs.kexec_crash_loaded()
        } else {
            sysfs.kexec_loaded()
        }
        .map_err(refused)?;
        if cli.debug {
            let what = if cli.load_panic {
                "crash kernel"
            } else {
                "kexec kernel"
            };
            eprintln!(
                "kexec-load: {what} {}",
                if loaded { "loaded" } else { "not loaded" }
            );
        }
        return Ok(if loaded { 0 } else { 1 });
    }
    let syscall = match (cli.file_syscall, cli.classic_syscall, cli.auto_syscall) {
        (false, false, _) => SyscallChoice::Auto,
        (true, false, false) => SyscallChoice::File,
        (false, true, false) => SyscallChoice::Classic,
        _ => return Err(Failure::Usage("choose one of -s, -c and -a".into())),
    };
    if cli.unload {
        if syscall == SyscallChoice::Classic {
            return Err(refused(CLASSIC_MISSING));
        }
        // The file syscall unloads either kind, and is the one lockdown allows.
        kexec_sys::kexec_file_unload(cli.load_panic).map_err(refused)?;
        if cli.debug {
            eprintln!("kexec-load: unloaded");
        }
        return Ok(0);
    }
    if cli.exec {
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
    if syscall == SyscallChoice::Classic {
        return Err(refused(CLASSIC_MISSING));
    }
    if cli.elf32_core_headers {
        return Err(refused(
            "--elf32-core-headers: with kexec_file_load the kernel builds the ELF core header itself, always ELF64; ELF32 headers need the classic syscall, which kexec-load does not have yet",
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
    if cli.dry_run {
        print!("{}", plan.describe());
        return Ok(if plan.is_ok() { 0 } else { 1 });
    }
    if cli.debug {
        eprint!("{}", plan.describe());
    }
    if !plan.is_ok() {
        let failed: Vec<String> = plan
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        return Err(refused(format!("not loading: {}", failed.join("; "))));
    }
    file_load(cli, &plan, kernel_path, initrd.is_some(), syscall)
}

fn file_load(
    cli: &Cli,
    plan: &LoadPlan<'_>,
    kernel_path: &Path,
    have_initrd: bool,
    syscall: SyscallChoice,
) -> Result<i32, Failure> {
    // A kernel that had to be unwrapped (compressed, zboot, UKI) goes to the
    // syscall through a temporary file, as kexec-tools does.
    let temp = TempFiles::default();
    let kernel_file = if plan.loadable.steps.is_empty() {
        open(kernel_path)?
    } else {
        temp.write("kernel", &plan.loadable.kernel)?
    };
    let initrd_file = match (&cli.initrd, &plan.loadable.embedded_initrd) {
        (Some(p), _) if have_initrd => Some(open(p)?),
        (None, Some(embedded)) => Some(temp.write("initrd", embedded)?),
        _ => None,
    };
    let cmdline = CString::new(plan.cmdline.clone())
        .map_err(|_| Failure::Usage("the command line contains a NUL byte".into()))?;
    let mut flags = KexecFileFlags::empty();
    if plan.on_crash {
        flags |= KexecFileFlags::ON_CRASH;
    }
    if cli.debug {
        flags |= KexecFileFlags::DEBUG;
    }
    let result = kexec_sys::kexec_file_load(
        kernel_file.as_fd(),
        initrd_file.as_ref().map(|f| f.as_fd()),
        &cmdline,
        flags,
    );
    match result {
        Ok(()) => {
            if cli.debug {
                eprintln!("kexec-load: loaded with kexec_file_load");
            }
            Ok(0)
        }
        Err(e) if syscall == SyscallChoice::Auto && e.file_load_may_fall_back() => {
            Err(refused(format!("{e}; falling back: {CLASSIC_MISSING}")))
        }
        Err(e) => Err(refused(e)),
    }
}

fn open(path: &Path) -> Result<File, Failure> {
    File::open(path).map_err(|e| refused(format!("{}: {e}", path.display())))
}

/// Temporary files removed when dropped.
#[derive(Default)]
struct TempFiles {
    paths: std::cell::RefCell<Vec<PathBuf>>,
}

impl TempFiles {
    fn write(&self, what: &str, bytes: &[u8]) -> Result<File, Failure> {
        let path = std::env::temp_dir().join(format!("kexec-load-{}-{what}", std::process::id()));
        std::fs::write(&path, bytes).map_err(|e| refused(format!("{}: {e}", path.display())))?;
        self.paths.borrow_mut().push(path.clone());
        open(&path)
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in self.paths.borrow().iter() {
            let _ = std::fs::remove_file(p);
        }
    }
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

//! The load request model: what a kexec load would put where, checked
//! before anything touches the kernel (`kexec-load --dry-run`).
//!
//! Acceptance rules per architecture from the kernels' `kexec_file_loaders[]`
//! (`arch/x86/kernel/kexec-bzimage64.c`, `arch/arm64/kernel/kexec_image.c`,
//! `arch/riscv/kernel/kexec_image.c` and `kexec_elf.c`, `arch/powerpc/kexec/elf_64.c`,
//! `arch/s390/kernel/kexec_image.c` and `kexec_elf.c`); command-line limits
//! from each arch's `COMMAND_LINE_SIZE` (or the image header where it has
//! one); capture-kernel command-line edits from kdump-utils'
//! `gen-kdump-sysconfig.sh` (`KDUMP_COMMANDLINE_REMOVE` / `_APPEND`).
//! Placement is an estimate: bottom-up in the crash region with each
//! format's alignment; the kernel makes the final choice.

use std::fmt::Write as _;

use crate::arch::Arch;
use crate::elf::ElfImage;
use crate::error::Result;
use crate::image::{Format, Header, KernelImage, Loadable, ParseOptions, loadable_kernel};
use crate::iomem::{Iomem, MemRange};

/// Which image is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// The crash (kdump) image, run on panic (`-p`).
    Crash,
    /// The image run by `reboot(LINUX_REBOOT_CMD_KEXEC)` (`-l`).
    Reboot,
}

/// Which system call loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallChoice {
    /// `kexec_file_load` (`-s`).
    File,
    /// `kexec_load` (`-c`).
    Classic,
    /// Try `kexec_file_load`, fall back to `kexec_load` (`-a`, the default).
    Auto,
}

/// Everything the operator asked for.
#[derive(Debug, Clone)]
pub struct LoadRequest<'a> {
    /// Crash or reboot image.
    pub kind: LoadKind,
    /// Syscall choice.
    pub syscall: SyscallChoice,
    /// The kernel file's bytes (any format [`crate::probe`] knows).
    pub kernel: &'a [u8],
    /// The initrd file's bytes.
    pub initrd: Option<&'a [u8]>,
    /// The command line for the new kernel (see [`capture_cmdline`] for kdump).
    pub cmdline: String,
    /// The running kernel's architecture.
    pub host_arch: Arch,
    /// CPUs the elfcorehdr must cover (possible CPUs), for the size estimate.
    pub cpus: u32,
    /// Largest decompressed kernel accepted.
    pub max_decompressed: u64,
    /// The kernel will verify the image's signature (lockdown is on, or
    /// `CONFIG_KEXEC_SIG_FORCE`): an unsigned image then fails the `signature` check.
    pub require_signature: bool,
}

/// One thing that would be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSegment {
    /// What it is: "kernel", "initrd", "boot parameters and command line", "elfcorehdr", "purgatory".
    pub what: &'static str,
    /// Bytes of data.
    pub size: u64,
    /// Bytes of memory it occupies (aligned, with BSS where the format says).
    pub memsz: u64,
    /// Estimated physical address, for crash loads where a region is known.
    pub mem: Option<u64>,
}

/// One dry-run check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, e.g. `arch`, `format`, `crash_region`, `cmdline_length`.
    pub name: &'static str,
    /// Whether the load can go ahead as far as this check knows.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// The dry-run description of a load.
#[derive(Debug)]
pub struct LoadPlan<'a> {
    /// Crash or reboot image.
    pub kind: LoadKind,
    /// The syscall that would be used first.
    pub syscall: SyscallChoice,
    /// The kernel after unwrapping, and how it was unwrapped.
    pub loadable: Loadable<'a>,
    /// The loadable kernel's headers.
    pub image: KernelImage,
    /// Initrd bytes that would be passed (given, or embedded in a UKI).
    pub initrd_size: Option<u64>,
    /// The command line that would be passed.
    pub cmdline: String,
    /// `KEXEC_FILE_ON_CRASH` / `KEXEC_ON_CRASH` would be set.
    pub on_crash: bool,
    /// `KEXEC_FILE_NO_INITRAMFS` would be set.
    pub no_initramfs: bool,
    /// What would be loaded, with estimated placement.
    pub segments: Vec<PlannedSegment>,
    /// Crash regions used for placement.
    pub crash_regions: Vec<MemRange>,
    /// Checks, failed ones first in importance.
    pub checks: Vec<Check>,
}

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;

fn align_up(v: u64, a: u64) -> Option<u64> {
    if a <= 1 {
        return Some(v);
    }
    v.checked_add(a - 1).map(|x| x / a * a)
}

/// The command-line limit of `arch` without counting the NUL, when known.
pub fn cmdline_limit(arch: Arch, image: &KernelImage) -> Option<u64> {
    match (&image.header, arch) {
        (Header::BzImage(b), _) => Some(u64::from(b.header.cmdline_size.get())),
        (Header::S390(s), _) => Some(s.command_line_limit.saturating_sub(1)),
        (_, Arch::Aarch64 | Arch::Powerpc64 | Arch::Powerpc) => Some(2047),
        (_, Arch::Riscv64 | Arch::Riscv32) => Some(1023),
        (_, Arch::S390x) => Some(crate::s390::LEGACY_COMMAND_LINE_SIZE - 1),
        (_, Arch::X86_64 | Arch::X86) => Some(2047),
        _ => None,
    }
}

/// Whether the running kernel's `kexec_file_load` on `host` has a loader
/// for this image; `Err` says why not.
pub fn kexec_file_accepts(host: Arch, image: &KernelImage) -> core::result::Result<(), String> {
    let format = image.format();
    let ok = match (host, &image.header) {
        (Arch::X86_64, Header::BzImage(b)) => {
            return b
                .kexec_file_refusal()
                .map_or(Ok(()), |r| Err(format!("bzImage refused: {r}")));
        }
        (Arch::Aarch64, Header::Arm64(_)) => true,
        (Arch::Riscv64, Header::Riscv(_) | Header::Elf(_)) => true,
        (Arch::Powerpc64, Header::Elf(_)) => true,
        (Arch::S390x, Header::S390(_) | Header::Elf(_)) => true,
        (Arch::Loongarch64, Header::Pe(_) | Header::Elf(_)) => true,
        (Arch::X86 | Arch::Arm, _) => {
            return Err(format!("{host} has no kexec_file_load; use kexec_load"));
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{host}'s kexec_file_load has no loader for {format}"
        ))
    }
}

/// Kernel memory need and alignment for placement.
fn kernel_need(image: &KernelImage, len: u64) -> (u64, u64) {
    match &image.header {
        Header::BzImage(b) => {
            let init = u64::from(b.header.init_size.get());
            let align = u64::from(b.header.kernel_alignment.get()).max(PAGE);
            (init.max(b.kernel_size), align)
        }
        Header::Arm64(a) => (
            (if a.image_size == 0 { len } else { a.image_size }).saturating_add(a.text_offset),
            2 * MIB,
        ),
        Header::Riscv(r) => (
            (if r.image_size == 0 { len } else { r.image_size }).saturating_add(r.text_offset),
            2 * MIB,
        ),
        Header::Elf(e) => (ElfImage::load_span(e).map_or(len, |(_, s)| s), 64 * 1024),
        _ => (len, PAGE),
    }
}

/// The kernel command line for a capture kernel, made from the first
/// kernel's: drops `crashkernel=`, `panic_on_warn` and the parameters
/// kdump-utils removes for `arch` (its `root=` and `rd.*` removal is left
/// out: that belongs to kdumpctl's own initramfs, which carries the dump target), then appends its recommended additions (e.g. x86_64
/// `irqpoll nr_cpus=1 reset_devices ...`), skipping ones already present.
pub fn capture_cmdline(first_kernel: &str, arch: Arch) -> String {
    let common_remove = "hugepages hugepagesz slub_debug quiet log_buf_len swiotlb cma hugetlb_cma ignition.firstboot";
    let remove: &str = match arch {
        Arch::Powerpc64 => {
            "hugepages hugepagesz slub_debug quiet log_buf_len swiotlb hugetlb_cma ignition.firstboot"
        }
        Arch::S390x => {
            "hugepages hugepagesz slub_debug quiet log_buf_len swiotlb vmcp_cma cma hugetlb_cma prot_virt ignition.firstboot zfcp.allow_lun_scan"
        }
        _ => common_remove,
    };
    let tail = "novmcoredd hugetlb_cma=0 kfence.sample_interval=0 initramfs_options=size=90%";
    let append: String = match arch {
        Arch::X86_64 => format!(
            "irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable cma=0 pcie_ports=compat {tail}"
        ),
        Arch::X86 => format!(
            "irqpoll nr_cpus=1 reset_devices numa=off udev.children-max=2 panic=10 transparent_hugepage=never cma=0 {tail}"
        ),
        Arch::Aarch64 => format!(
            "irqpoll nr_cpus=1 reset_devices cgroup_disable=memory udev.children-max=2 panic=10 swiotlb=noforce cma=0 {tail}"
        ),
        Arch::Powerpc64 => format!(
            "irqpoll nr_cpus=16 noirqdistrib reset_devices cgroup_disable=memory numa=off udev.children-max=2 ehea.use_mcs=0 panic=10 kvm_cma_resv_ratio=0 transparent_hugepage=never {tail}"
        ),
        Arch::S390x => format!(
            "nr_cpus=1 cgroup_disable=memory numa=off udev.children-max=2 panic=10 transparent_hugepage=never vmcp_cma=0 cma=0 {tail}"
        ),
        _ => format!("irqpoll maxcpus=1 reset_devices cma=0 {tail}"),
    };
    // kdumpctl's prepare_cmdline also always drops these two.
    let removed: Vec<&str> = remove
        .split(' ')
        .chain(["crashkernel", "panic_on_warn"])
        .collect();
    let mut out: Vec<&str> = first_kernel
        .split_ascii_whitespace()
        .filter(|tok| {
            let key = tok.split_once('=').map_or(*tok, |(k, _)| k);
            !removed.contains(&key)
        })
        .collect();
    for tok in append.split(' ') {
        if !out.contains(&tok) {
            out.push(tok);
        }
    }
    out.join(" ")
}

/// The command line `--reuse-cmdline` takes from `/proc/cmdline`, as
/// kexec-tools' `get_command_line` makes it: the text up to the first line
/// break, without `BOOT_IMAGE=` and, for a crash load, without `crashkernel=`.
pub fn reuse_cmdline(proc_cmdline: &str, kind: LoadKind) -> String {
    let line = proc_cmdline.split(['\r', '\n']).next().unwrap_or("");
    line.split_ascii_whitespace()
        .filter(|tok| {
            let key = tok.split_once('=').map_or(*tok, |(k, _)| k);
            key != "BOOT_IMAGE" && !(kind == LoadKind::Crash && key == "crashkernel")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `base` followed by `append` with one space between, as kexec-tools'
/// `concat_cmdline` joins `--reuse-cmdline` and `--append`.
pub fn concat_cmdline(base: &str, append: &str) -> String {
    match (base.is_empty(), append.is_empty()) {
        (true, _) => append.to_owned(),
        (false, true) => base.to_owned(),
        (false, false) => format!("{base} {append}"),
    }
}

/// Whether the image carries the signature its architecture's
/// `kexec_file_load` verifies: an Authenticode certificate table in the EFI
/// stub (x86 bzImage, arm64 and RISC-V Image; `verify_sig` in
/// `kexec-bzimage64.c` and `arch/arm64/kernel/kexec_image.c`), or the module
/// signature trailer on s390 (`arch/s390/kernel/machine_kexec_file.c`).
/// `None` where the kernel checks something else (IMA on ELF images).
pub fn signature_present(image: &KernelImage, data: &[u8]) -> Option<bool> {
    match &image.header {
        Header::BzImage(_) | Header::Arm64(_) | Header::Riscv(_) => Some(
            image
                .efi_stub
                .as_ref()
                .is_some_and(|pe| pe.certificate_table.is_some()),
        ),
        Header::Pe(pe) | Header::Uki(pe) => Some(pe.certificate_table.is_some()),
        Header::S390(_) => Some(data.ends_with(b"~Module signature appended~\n")),
        _ => None,
    }
}

/// Estimated elfcorehdr size: ELF64 header plus one program header per CPU
/// note, VMCOREINFO, the kernel text map and each RAM range.
fn elfcorehdr_size(cpus: u32, ram_ranges: usize) -> u64 {
    let phdrs = u64::from(cpus) + 2 + ram_ranges as u64;
    align_up(64 + phdrs * 56, PAGE).unwrap_or(u64::MAX)
}

/// Builds the dry-run plan. `memory` is the parsed `/proc/iomem` (needed for
/// crash-region checks and placement).
pub fn plan<'a>(req: &LoadRequest<'a>, memory: Option<&Iomem>) -> Result<LoadPlan<'a>> {
    let opts = ParseOptions {
        decompress: false,
        max_decompressed: req.max_decompressed,
        max_depth: 4,
    };
    let loadable = loadable_kernel(req.kernel, &opts)?;
    let image = KernelImage::parse_with(&loadable.kernel, &ParseOptions::headers_only())?;
    let mut checks = Vec::new();
    let arch = image.arch.or(loadable.arch);
    checks.push(match arch {
        Some(a) if a == req.host_arch => Check {
            name: "arch",
            ok: true,
            detail: format!("image is {a}, as is the running kernel"),
        },
        Some(a) => Check {
            name: "arch",
            ok: false,
            detail: format!("image is {a} but the running kernel is {}", req.host_arch),
        },
        None => Check {
            name: "arch",
            ok: false,
            detail: "the image does not say its architecture".into(),
        },
    });
    let syscall = match req.syscall {
        SyscallChoice::Auto => SyscallChoice::File,
        s => s,
    };
    match syscall {
        SyscallChoice::File => {
            let r = kexec_file_accepts(req.host_arch, &image);
            checks.push(Check {
                name: "format",
                ok: r.is_ok(),
                detail: match r {
                    Ok(()) => format!(
                        "kexec_file_load on {} accepts {}",
                        req.host_arch,
                        image.format()
                    ),
                    Err(e) => e,
                },
            });
        }
        _ => {
            let r = match (req.host_arch, &image.header) {
                (Arch::X86_64, Header::BzImage(_)) => crate::classic::accepts(&loadable.kernel),
                (host, _) => Err(format!(
                    "kexec-load builds kexec_load segments for x86_64 bzImages only, not {} on {host}",
                    image.format()
                )),
            };
            checks.push(Check {
                name: "format",
                ok: r.is_ok(),
                detail: match r {
                    Ok(()) => "kexec_load: segments, boot_params and purgatory built in user space (see the segment table)".into(),
                    Err(e) => e,
                },
            });
        }
    }
    match signature_present(&image, &loadable.kernel) {
        Some(true) => checks.push(Check {
            name: "signature",
            ok: true,
            detail: "the image carries a signature for the kernel to verify".into(),
        }),
        Some(false) => checks.push(Check {
            name: "signature",
            ok: !req.require_signature,
            detail: if req.require_signature {
                "the image is unsigned and the kernel requires a signature (lockdown): use a signed kernel".into()
            } else {
                "the image is unsigned; a locked-down kernel would refuse it".into()
            },
        }),
        None => {}
    }
    if !loadable.steps.is_empty() {
        checks.push(Check {
            name: "unwrap",
            ok: true,
            detail: format!(
                "{} (the decompressed kernel is passed through a temporary file)",
                loadable.steps.join(", ")
            ),
        });
    }
    let initrd_size = req
        .initrd
        .map(|i| i.len() as u64)
        .or_else(|| loadable.embedded_initrd.as_ref().map(|i| i.len() as u64));
    let mut cmdline = req.cmdline.clone();
    if cmdline.is_empty() {
        if let Some(c) = &loadable.embedded_cmdline {
            cmdline = c.clone();
        }
    }
    let on_crash = req.kind == LoadKind::Crash;
    if let Some((a, limit)) = arch.and_then(|a| cmdline_limit(a, &image).map(|l| (a, l))) {
        // The kernel appends "elfcorehdr=0x<addr> " (x86) or passes it in
        // the DT; reserve room for the x86 form on crash loads.
        let extra = if on_crash && a == Arch::X86_64 { 30 } else { 0 };
        let len = cmdline.len() as u64 + extra;
        checks.push(Check {
            name: "cmdline_length",
            ok: len <= limit,
            detail: format!("{len} bytes (with what the kernel adds) of at most {limit}"),
        });
    }
    let klen = loadable.kernel.len() as u64;
    let (kmem, kalign) = kernel_need(&image, klen);
    let ram_ranges = memory.map_or(1, |m| m.system_ram().len());
    let mut segments = vec![PlannedSegment {
        what: "kernel",
        size: klen,
        memsz: align_up(kmem, PAGE).unwrap_or(u64::MAX),
        mem: None,
    }];
    if let Some(s) = initrd_size {
        segments.push(PlannedSegment {
            what: "initrd",
            size: s,
            memsz: align_up(s, PAGE).unwrap_or(u64::MAX),
            mem: None,
        });
    }
    let params = cmdline.len() as u64
        + 1
        + if image.format() == Format::BzImage {
            4096
        } else {
            0
        };
    segments.push(PlannedSegment {
        what: "boot parameters and command line",
        size: params,
        memsz: align_up(params, PAGE).unwrap_or(u64::MAX),
        mem: None,
    });
    if on_crash {
        let e = elfcorehdr_size(req.cpus.max(1), ram_ranges);
        segments.push(PlannedSegment {
            what: "elfcorehdr",
            size: e,
            memsz: e,
            mem: None,
        });
    }
    if matches!(
        req.host_arch,
        Arch::X86_64 | Arch::Aarch64 | Arch::Riscv64 | Arch::S390x | Arch::Powerpc64
    ) {
        segments.push(PlannedSegment {
            what: "purgatory",
            size: 64 * 1024,
            memsz: 64 * 1024,
            mem: None,
        });
    }
    let crash_regions = memory.map(Iomem::crash_regions).unwrap_or_default();
    if on_crash {
        match memory {
            None => checks.push(Check {
                name: "crash_region",
                ok: false,
                detail: "no memory map given; cannot check the crash region".into(),
            }),
            Some(m) if m.addresses_hidden() => checks.push(Check {
                name: "crash_region",
                ok: false,
                detail: "/proc/iomem shows no addresses (read it as root)".into(),
            }),
            Some(_) if crash_regions.is_empty() => checks.push(Check {
                name: "crash_region",
                ok: false,
                detail: "no \"Crash kernel\" region: boot with crashkernel=".into(),
            }),
            Some(_) => {
                let placed = place(&mut segments, &crash_regions, kalign);
                let need: u64 = segments
                    .iter()
                    .map(|s| s.memsz)
                    .fold(0u64, u64::saturating_add);
                let have: u64 = crash_regions.iter().map(MemRange::size).sum();
                checks.push(Check {
                    name: "crash_region",
                    ok: placed,
                    detail: if placed {
                        format!("about {need} bytes fit in {have} reserved bytes")
                    } else {
                        format!("about {need} bytes do not fit in the crash region(s) of {have} bytes: raise crashkernel=")
                    },
                });
            }
        }
    }
    Ok(LoadPlan {
        kind: req.kind,
        syscall,
        initrd_size,
        cmdline,
        on_crash,
        no_initramfs: initrd_size.is_none(),
        segments,
        crash_regions,
        checks,
        image,
        loadable,
    })
}

/// First-fit, bottom-up placement of the segments in the regions; the kernel
/// gets `kernel_align`, the rest page alignment. Returns whether all fit.
fn place(segments: &mut [PlannedSegment], regions: &[MemRange], kernel_align: u64) -> bool {
    let mut cursors: Vec<(u64, u64)> = regions.iter().map(|r| (r.start, r.end)).collect();
    for seg in segments.iter_mut() {
        let align = if seg.what == "kernel" {
            kernel_align
        } else {
            PAGE
        };
        let mut done = false;
        for (cur, end) in cursors.iter_mut() {
            let Some(at) = align_up(*cur, align) else {
                continue;
            };
            let Some(last) = at.checked_add(seg.memsz).and_then(|x| x.checked_sub(1)) else {
                continue;
            };
            if seg.memsz > 0 && last <= *end {
                seg.mem = Some(at);
                *cur = last.saturating_add(1);
                done = true;
                break;
            }
        }
        if !done {
            return false;
        }
    }
    true
}

impl LoadPlan<'_> {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// A human-readable description: what, where, and the checks.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let kind = match self.kind {
            LoadKind::Crash => "crash (kdump) kernel",
            LoadKind::Reboot => "kexec reboot kernel",
        };
        let call = match self.syscall {
            SyscallChoice::File => "kexec_file_load",
            _ => "kexec_load",
        };
        let _ = writeln!(s, "load {kind} with {call}");
        let _ = writeln!(
            s,
            "kernel: {} ({} bytes)",
            self.image.format(),
            self.loadable.kernel.len()
        );
        if let Some(v) = &self.image.version {
            let _ = writeln!(s, "version: {v}");
        }
        let _ = writeln!(s, "command line: {}", self.cmdline);
        let mut flags = Vec::new();
        if self.on_crash {
            flags.push("ON_CRASH");
        }
        if self.no_initramfs {
            flags.push("NO_INITRAMFS");
        }
        let _ = writeln!(
            s,
            "flags: {}",
            if flags.is_empty() {
                "none".into()
            } else {
                flags.join("|")
            }
        );
        for r in &self.crash_regions {
            let _ = writeln!(
                s,
                "crash region: {:#x}-{:#x} ({} bytes)",
                r.start,
                r.end,
                r.size()
            );
        }
        for seg in &self.segments {
            let at = seg
                .mem
                .map_or_else(|| "kernel chooses".to_owned(), |m| format!("~{m:#x}"));
            let _ = writeln!(
                s,
                "segment {}: {} bytes, {} in memory, at {}",
                seg.what, seg.size, seg.memsz, at
            );
        }
        for c in &self.checks {
            let _ = writeln!(
                s,
                "check {}: {} ({})",
                c.name,
                if c.ok { "ok" } else { "FAIL" },
                c.detail
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::gzip;

    const IOMEM: &str = "\
00001000-0009fbff : System RAM
00100000-7ffdefff : System RAM
  20000000-2fffffff : Crash kernel
  52a00000-53802fff : Kernel code
";

    fn req(kernel: &[u8], kind: LoadKind) -> LoadRequest<'_> {
        LoadRequest {
            kind,
            syscall: SyscallChoice::Auto,
            kernel,
            initrd: Some(&[0u8; 10000]),
            cmdline: capture_cmdline(
                "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet crashkernel=256M",
                Arch::X86_64,
            ),
            host_arch: Arch::X86_64,
            cpus: 4,
            max_decompressed: 1 << 30,
            require_signature: false,
        }
    }

    #[test]
    fn crash_plan_fits() {
        let bz = crate::x86::tests::build(&gzip(b"payload"), "6.1");
        let m = Iomem::parse(IOMEM).unwrap();
        let p = plan(&req(&bz, LoadKind::Crash), Some(&m)).unwrap();
        assert!(p.is_ok(), "{}", p.describe());
        assert!(p.on_crash && !p.no_initramfs);
        assert_eq!(p.syscall, SyscallChoice::File);
        let kernel = &p.segments[0];
        // The kernel needs init_size (32 MiB), aligned to kernel_alignment (2 MiB).
        assert_eq!((kernel.memsz, kernel.mem), (0x0200_0000, Some(0x2000_0000)));
        assert_eq!(
            (p.segments[1].what, p.segments[1].mem),
            ("initrd", Some(0x2200_0000))
        );
        assert!(p.segments.iter().any(|s| s.what == "elfcorehdr"));
        let text = p.describe();
        assert!(text.contains("check crash_region: ok"), "{text}");
        assert!(!p.cmdline.contains("quiet") && !p.cmdline.contains("crashkernel"));
        assert!(p.cmdline.contains("irqpoll nr_cpus=1 reset_devices"));
    }

    #[test]
    fn crash_region_too_small_fails() {
        let bz = crate::x86::tests::build(&gzip(b"payload"), "6.1");
        let small =
            Iomem::parse("00100000-7ffdefff : System RAM\n  2a000000-2a3fffff : Crash kernel\n")
                .unwrap();
        let p = plan(&req(&bz, LoadKind::Crash), Some(&small)).unwrap();
        let c = p.checks.iter().find(|c| c.name == "crash_region").unwrap();
        assert!(!c.ok, "{}", p.describe());
        let none = Iomem::parse("00100000-7ffdefff : System RAM\n").unwrap();
        let p = plan(&req(&bz, LoadKind::Crash), Some(&none)).unwrap();
        assert!(!p.is_ok());
        // A reboot load needs no crash region.
        let p = plan(&req(&bz, LoadKind::Reboot), None).unwrap();
        assert!(p.is_ok(), "{}", p.describe());
    }

    #[test]
    fn wrong_arch_and_format() {
        let a64 = gzip(&crate::arm64::tests::build(0x10000, 2, 4096));
        let p = plan(&req(&a64, LoadKind::Reboot), None).unwrap();
        let arch = p.checks.iter().find(|c| c.name == "arch").unwrap();
        assert!(!arch.ok);
        assert!(p.checks.iter().any(|c| c.name == "unwrap"));
        let mut r = req(&a64, LoadKind::Reboot);
        r.host_arch = Arch::Aarch64;
        r.cmdline = "x".repeat(3000);
        let p = plan(&r, None).unwrap();
        assert!(p.checks.iter().find(|c| c.name == "format").unwrap().ok);
        assert!(
            !p.checks
                .iter()
                .find(|c| c.name == "cmdline_length")
                .unwrap()
                .ok
        );
        let mut r = req(&a64, LoadKind::Reboot);
        r.syscall = SyscallChoice::Classic;
        r.host_arch = Arch::Aarch64;
        assert!(
            !plan(&r, None)
                .unwrap()
                .checks
                .iter()
                .find(|c| c.name == "format")
                .unwrap()
                .ok
        );
    }

    #[test]
    fn unsigned_image_under_lockdown() {
        // The synthetic bzImage has no EFI stub, so no signature.
        let bz = crate::x86::tests::build(&gzip(b"payload"), "6.1");
        let mut r = req(&bz, LoadKind::Reboot);
        let p = plan(&r, None).unwrap();
        let sig = p.checks.iter().find(|c| c.name == "signature").unwrap();
        assert!(sig.ok);
        r.require_signature = true;
        let p = plan(&r, None).unwrap();
        assert!(!p.checks.iter().find(|c| c.name == "signature").unwrap().ok);
        assert!(!p.is_ok());
    }

    #[test]
    fn reuse_and_concat() {
        let proc = "BOOT_IMAGE=/boot/vmlinuz-6.1 root=UUID=abc ro crashkernel=256M quiet\n";
        assert_eq!(
            reuse_cmdline(proc, LoadKind::Crash),
            "root=UUID=abc ro quiet"
        );
        assert_eq!(
            reuse_cmdline(proc, LoadKind::Reboot),
            "root=UUID=abc ro crashkernel=256M quiet"
        );
        assert_eq!(concat_cmdline("a b", "c"), "a b c");
        assert_eq!(concat_cmdline("", "c"), "c");
        assert_eq!(concat_cmdline("a", ""), "a");
        let s = capture_cmdline("root=/dev/vda panic_on_warn=1 quiet", Arch::X86_64);
        assert!(s.starts_with("root=/dev/vda irqpoll") && !s.contains("panic_on_warn"));
    }

    #[test]
    fn cmdline_edits_per_arch() {
        let s = capture_cmdline(
            "root=/dev/dasda1 cma=64M vmcp_cma=4M quiet irqpoll",
            Arch::S390x,
        );
        assert_eq!(s.split(' ').next(), Some("root=/dev/dasda1"));
        assert!(!s.contains("cma=64M") && !s.contains("vmcp_cma=4M"));
        assert!(s.contains("vmcp_cma=0") && s.contains("nr_cpus=1"));
        // ppc64 keeps cma= (kdump-utils does not remove it there).
        let p = capture_cmdline("cma=64M", Arch::Powerpc64);
        assert!(p.starts_with("cma=64M irqpoll nr_cpus=16"));
        let a = capture_cmdline("irqpoll", Arch::Aarch64);
        assert_eq!(a.matches("irqpoll").count(), 1);
        assert!(a.contains("swiotlb=noforce"));
    }
}

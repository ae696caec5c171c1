//! The classic `kexec_load(2)` plan on x86_64: every segment built in user
//! space, as data (bytes and destinations, entry point), so that it can be
//! printed by `--dry-run` and tested without a kernel.
//!
//! Facts, each from the source named (no code taken from them):
//! - segments and their placement: the kernel's `arch/x86/kernel/kexec-bzimage64.c`
//!   (`bzImage64_load`: the protected-mode kernel at a `kernel_alignment` boundary with
//!   `init_size` bytes of memory, entry at load address + 0x200, the setup header copied
//!   up to `0x202 + jump byte`, `type_of_loader` 0xD0) and kexec-tools'
//!   `kexec/arch/x86_64/kexec-bzImage64.c`; `kexec_load(2)` wants page-aligned
//!   destinations and sizes, and for a crash image every segment inside `crashk_res`
//!   (`kernel/kexec_core.c`, `sanity_check_segment_list`), at most `KEXEC_SEGMENT_MAX` (16);
//! - the capture kernel's e820 table: `arch/x86/kernel/crash.c`
//!   (`crash_setup_memmap_entries`: the low 1 MiB of System RAM, ACPI tables, ACPI NVS,
//!   e820-reserved ranges, the low crash region, the crash region minus the elfcorehdr
//!   segment, pieces under a page dropped), no `memmap=` on the command line since the
//!   table is in boot_params (kexec-tools passes `memmap=` only with `--pass-memmap-cmdline`);
//! - the elfcorehdr: `elf_header_exclude_ranges` in the same file (System RAM, kmem
//!   included, minus the low 1 MiB and the crash regions), built by [`elfcorehdr`];
//!   kexec-tools' `crashdump-x86.c` keeps `EM_X86_64` for `--elf32-core-headers` and adds
//!   `elfcorehdr=<KiB>K` to the command line;
//! - boot_params offsets: `arch/x86/include/uapi/asm/bootparam.h` and
//!   `Documentation/arch/x86/zero-page.rst`; `acpi_rsdp_addr` filled as kexec-tools'
//!   `x86-linux-setup.c` does (the running kernel's boot_params, else the EFI system table).

use std::fmt::Write as _;

use elfcorehdr::{
    Class, CrashHeaderBuilder, DirectMap, KernelText, NoteBuffer, PhysRange, ProgramHeader, Target,
};

use crate::error::{Error, Result};
use crate::iomem::{FirmwareMapEntry, Iomem, MemRange};
use crate::plan::LoadKind;
use crate::purgatory::{self, DigestRegion, PurgatoryParams};
use crate::x86::{BzImage, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64};

/// `KEXEC_SEGMENT_MAX` of `include/linux/kexec.h`.
pub const SEGMENT_MAX: usize = 16;
/// `E820_MAX_ENTRIES_ZEROPAGE`: e820 slots in boot_params.
pub const E820_MAX: usize = 128;
/// `LOADER_TYPE_KEXEC << 4`, the `type_of_loader` kexec writes.
pub const TYPE_OF_LOADER_KEXEC: u8 = 0xd0;
/// Size of `struct boot_params` (the zero page).
pub const BOOT_PARAMS_SIZE: u64 = 4096;
/// Offset of the 64-bit entry point in the protected-mode kernel (boot.rst, 64-bit boot protocol).
pub const ENTRY_64_OFFSET: u64 = 0x200;

/// e820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// e820 type: ACPI tables (reclaimable).
pub const E820_ACPI: u32 = 3;
/// e820 type: ACPI non-volatile storage.
pub const E820_NVS: u32 = 4;
/// e820 type: unusable.
pub const E820_UNUSABLE: u32 = 5;
/// e820 type: persistent memory.
pub const E820_PMEM: u32 = 7;
/// e820 type: legacy persistent memory.
pub const E820_PRAM: u32 = 12;
/// e820 type: soft reserved (EFI specific-purpose memory).
pub const E820_SOFT_RESERVED: u32 = 0xefff_ffff;

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const FOUR_G: u64 = 1 << 32;

// boot_params offsets (zero-page.rst).
const BP_ACPI_RSDP: usize = 0x070;
const BP_EXT_RAMDISK_IMAGE: usize = 0x0c0;
const BP_EXT_RAMDISK_SIZE: usize = 0x0c4;
const BP_EXT_CMD_LINE_PTR: usize = 0x0c8;
const BP_E820_ENTRIES: usize = 0x1e8;
const BP_HDR: usize = 0x1f1;
const BP_TYPE_OF_LOADER: usize = 0x210;
const BP_RAMDISK_IMAGE: usize = 0x218;
const BP_RAMDISK_SIZE: usize = 0x21c;
const BP_CMD_LINE_PTR: usize = 0x228;
const BP_SETUP_DATA: usize = 0x250;
const BP_EDD_MBR_SIG_BUFFER: usize = 0x290;
const BP_E820_TABLE: usize = 0x2d0;
const E820_ENTRY_SIZE: usize = 20;

/// What the planner needs to know about the running system, read by the caller
/// (`/proc/iomem`, `/sys/firmware/memmap`, sysfs, `/proc/kallsyms`).
#[derive(Debug, Clone, Default)]
pub struct SystemFacts {
    /// `/proc/iomem`.
    pub iomem: Iomem,
    /// `/sys/firmware/memmap` (the boot e820), for a reboot load's e820; empty means
    /// "use the top level of `/proc/iomem`".
    pub firmware_map: Vec<FirmwareMapEntry>,
    /// Every possible CPU's `crash_notes` buffer, in CPU order.
    pub cpu_notes: Vec<NoteBuffer>,
    /// The VMCOREINFO note (`/sys/kernel/vmcoreinfo`).
    pub vmcoreinfo: Option<NoteBuffer>,
    /// The kernel text mapping (`_text`, `_end` and "Kernel code"), when known.
    pub kernel_text: Option<KernelText>,
    /// The direct map for `p_vaddr` (KASLR moves it); `None` for the unrandomised base.
    pub direct_map: Option<DirectMap>,
    /// The ACPI RSDP address to pass in `acpi_rsdp_addr`.
    pub acpi_rsdp: Option<u64>,
}

/// What to load, and how.
#[derive(Debug, Clone)]
pub struct ClassicRequest<'a> {
    /// Crash (`-p`) or reboot (`-l`) image.
    pub kind: LoadKind,
    /// The bzImage (already unwrapped, see [`crate::loadable_kernel`]).
    pub kernel: &'a [u8],
    /// The initrd.
    pub initrd: Option<&'a [u8]>,
    /// The command line before `elfcorehdr=` is added.
    pub cmdline: &'a str,
    /// Class of the ELF core header: ELF64 unless `--elf32-core-headers`.
    pub core_class: Class,
    /// Lowest address a segment may use (`--mem-min`).
    pub mem_min: u64,
    /// Highest address a segment may use, inclusive (`--mem-max`).
    pub mem_max: u64,
}

impl<'a> ClassicRequest<'a> {
    /// A request with ELF64 headers and no address limits.
    pub fn new(kind: LoadKind, kernel: &'a [u8], cmdline: &'a str) -> ClassicRequest<'a> {
        ClassicRequest {
            kind,
            kernel,
            initrd: None,
            cmdline,
            core_class: Class::Elf64,
            mem_min: 0,
            mem_max: u64::MAX,
        }
    }
}

/// One segment of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicSegment {
    /// What it is: "kernel", "initrd", "boot_params+cmdline", "elfcorehdr", "purgatory".
    pub what: &'static str,
    /// Physical destination (page aligned).
    pub dest: u64,
    /// Bytes of memory it occupies (page aligned, at least `bytes.len()`).
    pub memsz: u64,
    /// The bytes copied there; the rest of `memsz` is zeroed by the kernel.
    pub bytes: Vec<u8>,
}

impl ClassicSegment {
    /// The destination range, end exclusive.
    pub fn range(&self) -> PhysRange {
        PhysRange::new(self.dest, self.dest.saturating_add(self.memsz))
    }
}

/// One e820 entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct E820Entry {
    /// First byte.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// `E820_*` type.
    pub kind: u32,
}

impl E820Entry {
    /// End, exclusive (saturating).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }
}

/// The elfcorehdr of a crash plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreHeaderInfo {
    /// Where it is loaded.
    pub addr: u64,
    /// Its class.
    pub class: Class,
    /// Its program headers, in order.
    pub program_headers: Vec<ProgramHeader>,
}

/// A complete `kexec_load` plan.
#[derive(Debug, Clone)]
pub struct ClassicPlan {
    /// Crash or reboot.
    pub kind: LoadKind,
    /// The segments, by destination.
    pub segments: Vec<ClassicSegment>,
    /// The entry point passed to `kexec_load` (the purgatory's).
    pub entry: u64,
    /// The kernel's 64-bit entry the purgatory jumps to.
    pub kernel_entry: u64,
    /// Where boot_params are (`rsi` at the kernel's entry).
    pub boot_params: u64,
    /// Where the command line is.
    pub cmdline_addr: u64,
    /// The final command line (with `elfcorehdr=` for a crash load).
    pub cmdline: String,
    /// The e820 table in boot_params.
    pub e820: Vec<E820Entry>,
    /// The elfcorehdr, for a crash load.
    pub core_header: Option<CoreHeaderInfo>,
    /// The crash region the segments lie in, for a crash load.
    pub crash_region: Option<MemRange>,
    /// The SHA-256 the purgatory checks.
    pub digest: [u8; 32],
}

fn plan_err(what: &'static str, value: u64, reason: impl Into<String>) -> Error {
    Error::Plan {
        what,
        value,
        reason: reason.into(),
    }
}

fn len64(b: &[u8]) -> u64 {
    u64::try_from(b.len()).unwrap_or(u64::MAX)
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    if a <= 1 {
        return Some(v);
    }
    v.checked_add(a - 1).map(|x| x / a * a)
}

/// Free memory the segments are carved from: sorted ranges, end exclusive.
#[derive(Debug, Clone)]
struct Holes(Vec<PhysRange>);

impl Holes {
    fn new(ranges: impl IntoIterator<Item = PhysRange>, min: u64, max_incl: u64) -> Holes {
        let max = max_incl.saturating_add(1);
        let mut v: Vec<PhysRange> = ranges
            .into_iter()
            .map(|r| PhysRange::new(r.start.max(min), r.end.min(max)))
            .filter(|r| !r.is_empty())
            .collect();
        v.sort();
        Holes(v)
    }

    /// The lowest `align`-aligned range of `size` bytes ending at or below `limit`
    /// (exclusive), taken out of the holes.
    fn take(&mut self, size: u64, align: u64, limit: u64) -> Option<u64> {
        for i in 0..self.0.len() {
            let h = self.0[i];
            let Some(at) = align_up(h.start, align.max(PAGE)) else {
                continue;
            };
            let Some(end) = at.checked_add(size) else {
                continue;
            };
            if end > h.end || end > limit {
                continue;
            }
            let mut rest = Vec::new();
            if at > h.start {
                rest.push(PhysRange::new(h.start, at));
            }
            if end < h.end {
                rest.push(PhysRange::new(end, h.end));
            }
            self.0.splice(i..=i, rest);
            return Some(at);
        }
        None
    }

    fn total(&self) -> u64 {
        self.0.iter().map(PhysRange::len).sum()
    }
}

fn to_phys(r: MemRange) -> Option<PhysRange> {
    PhysRange::from_inclusive(r.start, r.end)
}

/// Plans an x86_64 `kexec_load` of a 64-bit bzImage.
///
/// A crash load needs a "Crash kernel" region in `facts.iomem` (with two, the low one
/// below 4 GiB is `crashk_low_res` and the segments go to the other); a reboot load
/// places the segments in System RAM above 1 MiB.
pub fn plan_x86_64(req: &ClassicRequest<'_>, facts: &SystemFacts) -> Result<ClassicPlan> {
    let bz = BzImage::parse(req.kernel)?;
    if !bz.is_64bit() {
        return Err(Error::InvalidField {
            what: "setup_header.xloadflags",
            offset: 0x236,
            value: u64::from(bz.header.xloadflags.get()),
            reason: "no 64-bit entry point (XLF_KERNEL_64): the x86_64 classic loader needs one",
        });
    }
    if bz.protocol_version() < 0x0206 {
        return Err(Error::InvalidField {
            what: "setup_header.version",
            offset: 0x206,
            value: u64::from(bz.protocol_version()),
            reason: "boot protocol before 2.06 has no cmdline_size; kexec_load needs 2.06 or later",
        });
    }
    let above_4g = bz.header.xloadflags.get() & XLF_CAN_BE_LOADED_ABOVE_4G != 0;
    let low_limit = if above_4g { u64::MAX } else { FOUR_G };

    // Where the segments may go.
    let crash_regions = facts.iomem.crash_regions();
    let (mut holes, main_crash, low_crash) = match req.kind {
        LoadKind::Crash => {
            if facts.iomem.addresses_hidden() {
                return Err(plan_err(
                    "/proc/iomem",
                    0,
                    "every address reads as zero: read it as root",
                ));
            }
            // crashk_res is the highest region; a second one below 4 GiB is crashk_low_res.
            let Some(main) = crash_regions.last().copied() else {
                return Err(plan_err(
                    "Crash kernel region",
                    0,
                    "/proc/iomem has no \"Crash kernel\" region: boot with crashkernel=",
                ));
            };
            let low = (crash_regions.len() > 1).then(|| crash_regions[0]);
            let main_p = to_phys(main).ok_or_else(|| {
                plan_err("Crash kernel region", main.end, "ends at the top of memory")
            })?;
            (
                Holes::new([main_p], req.mem_min, req.mem_max),
                Some(main),
                low,
            )
        }
        LoadKind::Reboot => {
            let ram = facts.iomem.system_ram().into_iter().filter_map(to_phys);
            (
                Holes::new(ram, req.mem_min.max(MIB), req.mem_max),
                None,
                None,
            )
        }
    };
    let window = holes.total();

    // 1. The protected-mode kernel.
    let kernel_bytes = req
        .kernel
        .get(usize::try_from(bz.kernel_offset).unwrap_or(usize::MAX)..)
        .ok_or(Error::Truncated {
            what: "bzImage protected-mode kernel",
            offset: bz.kernel_offset,
            need: 1,
            have: len64(req.kernel),
        })?
        .to_vec();
    let kalign = u64::from(bz.header.kernel_alignment.get()).max(PAGE);
    if !kalign.is_power_of_two() {
        return Err(Error::InvalidField {
            what: "setup_header.kernel_alignment",
            offset: 0x230,
            value: kalign,
            reason: "not a power of two",
        });
    }
    let kmem = align_up(
        u64::from(bz.header.init_size.get()).max(len64(&kernel_bytes)),
        PAGE,
    )
    .ok_or_else(|| plan_err("kernel memory size", bz.kernel_size, "overflows"))?;
    let no_room = |what: &'static str, size: u64| {
        plan_err(
            what,
            size,
            format!(
                "{size} bytes do not fit in what is left of the {window} bytes available{}",
                if req.kind == LoadKind::Crash {
                    " (raise crashkernel= or relax --mem-min/--mem-max)"
                } else {
                    ""
                }
            ),
        )
    };
    let kernel_dest = holes
        .take(kmem, kalign, low_limit)
        .ok_or_else(|| no_room("kernel", kmem))?;
    let mut segments = vec![ClassicSegment {
        what: "kernel",
        dest: kernel_dest,
        memsz: kmem,
        bytes: kernel_bytes,
    }];

    // 2. The initrd.
    let mut ramdisk = (0u64, 0u64);
    if let Some(initrd) = req.initrd {
        let size = len64(initrd);
        let memsz = align_up(size, PAGE).ok_or_else(|| plan_err("initrd", size, "overflows"))?;
        let limit = if above_4g {
            u64::MAX
        } else {
            u64::from(bz.header.initrd_addr_max.get()).saturating_add(1)
        };
        let dest = holes
            .take(memsz, PAGE, limit)
            .ok_or_else(|| no_room("initrd", memsz))?;
        ramdisk = (dest, size);
        segments.push(ClassicSegment {
            what: "initrd",
            dest,
            memsz,
            bytes: initrd.to_vec(),
        });
    }

    // 3. The elfcorehdr: placed with the builder's bound, then built with its own
    // buffer inside the excluded crash region.
    let mut core_header = None;
    let mut cmdline = req.cmdline.to_owned();
    let mut core_range = None;
    if req.kind == LoadKind::Crash {
        let builder = core_builder(req.core_class, facts, &crash_regions)?;
        let bound = builder.size_bound().map_err(Error::CoreHeader)?;
        let addr = holes
            .take(bound, PAGE, u64::MAX)
            .ok_or_else(|| no_room("elfcorehdr", bound))?;
        let bytes = builder.build().map_err(Error::CoreHeader)?;
        let memsz = align_up(len64(&bytes), PAGE)
            .ok_or_else(|| plan_err("elfcorehdr", bound, "overflows"))?;
        core_header = Some(CoreHeaderInfo {
            addr,
            class: req.core_class,
            program_headers: builder.program_headers().map_err(Error::CoreHeader)?,
        });
        core_range = Some(PhysRange::new(addr, addr.saturating_add(bound)));
        // kexec-tools' form, in KiB (the buffer is page aligned, so exact). In front, so
        // that it stays a kernel parameter when the line has " -- ".
        cmdline = if cmdline.is_empty() {
            format!("elfcorehdr={}K", addr >> 10)
        } else {
            format!("elfcorehdr={}K {cmdline}", addr >> 10)
        };
        segments.push(ClassicSegment {
            what: "elfcorehdr",
            dest: addr,
            memsz: memsz.max(bound),
            bytes,
        });
    }
    let limit = u64::from(bz.header.cmdline_size.get());
    if len64(cmdline.as_bytes()) > limit {
        return Err(plan_err(
            "command line",
            len64(cmdline.as_bytes()),
            format!("longer than the image's cmdline_size of {limit} bytes"),
        ));
    }
    if cmdline.as_bytes().contains(&0) {
        return Err(plan_err("command line", 0, "contains a NUL byte"));
    }

    // 4. The e820 table the new kernel boots with.
    let e820 = match req.kind {
        LoadKind::Crash => crash_e820(&facts.iomem, main_crash, low_crash, core_range)?,
        LoadKind::Reboot => reboot_e820(facts),
    };
    if e820.len() > E820_MAX {
        return Err(plan_err(
            "e820 table",
            u64::try_from(e820.len()).unwrap_or(u64::MAX),
            format!("more entries than the {E820_MAX} slots of boot_params"),
        ));
    }

    // 5. boot_params and the command line after them.
    let params_len = BOOT_PARAMS_SIZE
        .checked_add(len64(cmdline.as_bytes()))
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| plan_err("boot_params", 0, "overflows"))?;
    let params_mem = align_up(params_len, PAGE).unwrap_or(params_len);
    let params_dest = holes
        .take(params_mem, PAGE, low_limit)
        .ok_or_else(|| no_room("boot_params+cmdline", params_mem))?;
    let cmdline_addr = params_dest + BOOT_PARAMS_SIZE;
    let params = boot_params(
        req.kernel,
        &e820,
        cmdline_addr,
        &cmdline,
        ramdisk,
        facts.acpi_rsdp,
    )?;
    segments.push(ClassicSegment {
        what: "boot_params+cmdline",
        dest: params_dest,
        memsz: params_mem,
        bytes: params,
    });

    // 6. The purgatory, with the digest of everything else.
    segments.sort_by_key(|s| s.dest);
    let digest = purgatory::segments_digest(segments.iter().map(|s| s.bytes.as_slice()));
    let kernel_entry = kernel_dest + ENTRY_64_OFFSET;
    let pimg = purgatory::x86_64(&PurgatoryParams {
        kernel_entry,
        boot_params: params_dest,
        regions: segments
            .iter()
            .map(|s| DigestRegion {
                start: s.dest,
                len: len64(&s.bytes),
            })
            .collect(),
        digest,
    })?;
    let pmem = align_up(pimg.memsz.max(len64(&pimg.bytes)), PAGE)
        .ok_or_else(|| plan_err("purgatory", pimg.memsz, "overflows"))?;
    let pdest = holes
        .take(pmem, pimg.align.max(PAGE), u64::MAX)
        .ok_or_else(|| no_room("purgatory", pmem))?;
    let entry = pdest + pimg.entry_offset;
    segments.push(ClassicSegment {
        what: "purgatory",
        dest: pdest,
        memsz: pmem,
        bytes: pimg.bytes,
    });
    segments.sort_by_key(|s| s.dest);
    if segments.len() > SEGMENT_MAX {
        return Err(plan_err(
            "segments",
            u64::try_from(segments.len()).unwrap_or(u64::MAX),
            format!("more than KEXEC_SEGMENT_MAX ({SEGMENT_MAX})"),
        ));
    }
    Ok(ClassicPlan {
        kind: req.kind,
        segments,
        entry,
        kernel_entry,
        boot_params: params_dest,
        cmdline_addr,
        cmdline,
        e820,
        core_header,
        crash_region: main_crash,
        digest,
    })
}

/// The elfcorehdr builder for this system: System RAM (kmem included) minus the low
/// 1 MiB and every crash region; CPU notes; VMCOREINFO; the kernel text for ELF64.
fn core_builder(
    class: Class,
    facts: &SystemFacts,
    crash_regions: &[MemRange],
) -> Result<CrashHeaderBuilder> {
    let mut ram: Vec<PhysRange> = facts
        .iomem
        .system_ram()
        .into_iter()
        .chain(facts.iomem.kmem_ram())
        .filter_map(to_phys)
        .collect();
    ram.sort();
    ram.dedup();
    let mut b = CrashHeaderBuilder::new(Target::x86_64().with_class(class))
        .cpu_notes(facts.cpu_notes.iter().copied())
        .ram_ranges(ram)
        .exclude(PhysRange::X86_LOW_1M);
    for r in crash_regions.iter().filter_map(|r| to_phys(*r)) {
        b = b.exclude(r);
    }
    if let Some(v) = facts.vmcoreinfo {
        b = b.vmcoreinfo(v);
    }
    // A 32-bit header cannot hold the kernel text's virtual address.
    if class == Class::Elf64 {
        if let Some(t) = facts.kernel_text {
            b = b.kernel_text(t);
        }
    }
    if let Some(m) = facts.direct_map {
        b = b.direct_map(m);
    }
    Ok(b)
}

/// The resource names of `/proc/iomem` the capture kernel must see with their e820
/// type (`crash_setup_memmap_entries`: ACPI tables, ACPI NVS, e820-reserved).
fn firmware_kind(name: &str) -> Option<u32> {
    match name {
        "ACPI Tables" => Some(E820_ACPI),
        "ACPI Non-volatile Storage" => Some(E820_NVS),
        "Reserved" | "reserved" => Some(E820_RESERVED),
        _ => None,
    }
}

fn crash_e820(
    iomem: &Iomem,
    main: Option<MemRange>,
    low: Option<MemRange>,
    core: Option<PhysRange>,
) -> Result<Vec<E820Entry>> {
    let mut out = Vec::new();
    let entry = |r: PhysRange, kind| E820Entry {
        addr: r.start,
        size: r.len(),
        kind,
    };
    // The low 1 MiB of System RAM.
    for r in iomem.system_ram().into_iter().filter_map(to_phys) {
        let low1m = PhysRange::new(r.start, r.end.min(MIB));
        if !low1m.is_empty() {
            out.push(entry(low1m, E820_RAM));
        }
    }
    for (_, res) in iomem.walk() {
        if let (Some(kind), Some(r)) = (firmware_kind(&res.name), to_phys(res.range)) {
            out.push(entry(r, kind));
        }
    }
    if let Some(r) = low.and_then(to_phys) {
        out.push(entry(r, E820_RAM));
    }
    if let Some(r) = main.and_then(to_phys) {
        let mut pieces = vec![r];
        if let Some(c) = core {
            pieces = vec![
                PhysRange::new(r.start, c.start.clamp(r.start, r.end)),
                PhysRange::new(c.end.clamp(r.start, r.end), r.end),
            ];
        }
        for p in pieces {
            if p.len() >= PAGE {
                out.push(entry(p, E820_RAM));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The e820 type of a `/sys/firmware/memmap` type name (`e820_type_to_string` in
/// `arch/x86/kernel/e820.c`).
pub fn e820_type_of(name: &str) -> Option<u32> {
    match name {
        "System RAM" => Some(E820_RAM),
        "Reserved" | "reserved" => Some(E820_RESERVED),
        "ACPI Tables" => Some(E820_ACPI),
        "ACPI Non-volatile Storage" => Some(E820_NVS),
        "Unusable memory" => Some(E820_UNUSABLE),
        "Persistent Memory" => Some(E820_PMEM),
        "Persistent Memory (legacy)" => Some(E820_PRAM),
        "Soft Reserved" => Some(E820_SOFT_RESERVED),
        _ => None,
    }
}

fn reboot_e820(facts: &SystemFacts) -> Vec<E820Entry> {
    let mut out: Vec<E820Entry> = if facts.firmware_map.is_empty() {
        facts
            .iomem
            .roots
            .iter()
            .filter_map(|r| {
                let kind = if r.name == "System RAM" {
                    E820_RAM
                } else {
                    firmware_kind(&r.name)?
                };
                let p = to_phys(r.range)?;
                Some(E820Entry {
                    addr: p.start,
                    size: p.len(),
                    kind,
                })
            })
            .collect()
    } else {
        facts
            .firmware_map
            .iter()
            .filter_map(|e| {
                let p = to_phys(e.range)?;
                Some(E820Entry {
                    addr: p.start,
                    size: p.len(),
                    kind: e820_type_of(&e.kind)?,
                })
            })
            .collect()
    };
    out.sort();
    out
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn lo32(v: u64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(0)
}

fn hi32(v: u64) -> u32 {
    u32::try_from(v >> 32).unwrap_or(0)
}

/// boot_params (the zero page) followed by the command line and its NUL.
fn boot_params(
    image: &[u8],
    e820: &[E820Entry],
    cmdline_addr: u64,
    cmdline: &str,
    ramdisk: (u64, u64),
    acpi_rsdp: Option<u64>,
) -> Result<Vec<u8>> {
    let size = usize::try_from(BOOT_PARAMS_SIZE).unwrap_or(4096);
    let mut bp = vec![0u8; size];
    // The setup header runs from 0x1f1 to 0x202 + the byte at 0x201 (the jump's offset).
    let jump = image.get(0x201).copied().ok_or(Error::Truncated {
        what: "setup_header",
        offset: 0x201,
        need: 1,
        have: len64(image),
    })?;
    let end = (0x202 + usize::from(jump))
        .min(BP_EDD_MBR_SIG_BUFFER)
        .min(image.len());
    bp[BP_HDR..end].copy_from_slice(&image[BP_HDR..end]);
    bp[BP_TYPE_OF_LOADER] = TYPE_OF_LOADER_KEXEC;
    put_u64(&mut bp, BP_SETUP_DATA, 0);
    put_u32(&mut bp, BP_CMD_LINE_PTR, lo32(cmdline_addr));
    put_u32(&mut bp, BP_EXT_CMD_LINE_PTR, hi32(cmdline_addr));
    put_u32(&mut bp, BP_RAMDISK_IMAGE, lo32(ramdisk.0));
    put_u32(&mut bp, BP_EXT_RAMDISK_IMAGE, hi32(ramdisk.0));
    let rd_size = ramdisk.1;
    put_u32(&mut bp, BP_RAMDISK_SIZE, lo32(rd_size));
    put_u32(&mut bp, BP_EXT_RAMDISK_SIZE, hi32(rd_size));
    if let Some(rsdp) = acpi_rsdp {
        put_u64(&mut bp, BP_ACPI_RSDP, rsdp);
    }
    bp[BP_E820_ENTRIES] = u8::try_from(e820.len()).map_err(|_| {
        plan_err(
            "e820 table",
            u64::try_from(e820.len()).unwrap_or(u64::MAX),
            "too many entries",
        )
    })?;
    for (i, e) in e820.iter().enumerate() {
        let at = BP_E820_TABLE + i * E820_ENTRY_SIZE;
        put_u64(&mut bp, at, e.addr);
        put_u64(&mut bp, at + 8, e.size);
        put_u32(&mut bp, at + 16, e.kind);
    }
    bp.extend_from_slice(cmdline.as_bytes());
    bp.push(0);
    Ok(bp)
}

/// Whether the image can go through [`plan_x86_64`]: a bzImage with a 64-bit entry.
pub fn accepts(data: &[u8]) -> core::result::Result<(), String> {
    let bz = BzImage::parse(data).map_err(|e| e.to_string())?;
    if bz.header.xloadflags.get() & XLF_KERNEL_64 == 0 {
        return Err("the bzImage has no 64-bit entry point (XLF_KERNEL_64)".into());
    }
    Ok(())
}

impl ClassicPlan {
    /// The segment table and the facts the new kernel gets, for `--dry-run`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let kind = match self.kind {
            LoadKind::Crash => "crash (kdump) kernel",
            LoadKind::Reboot => "kexec reboot kernel",
        };
        let _ = writeln!(s, "load {kind} with kexec_load (KEXEC_ARCH_X86_64)");
        if let Some(r) = self.crash_region {
            let _ = writeln!(
                s,
                "crash region: {:#x}-{:#x} ({} bytes)",
                r.start,
                r.end,
                r.size()
            );
        }
        let _ = writeln!(s, "segments ({}):", self.segments.len());
        let _ = writeln!(
            s,
            "  {:>18}  {:>10}  {:>10}  what",
            "dest", "bufsz", "memsz"
        );
        for seg in &self.segments {
            let _ = writeln!(
                s,
                "  {:#018x}  {:#10x}  {:#10x}  {}",
                seg.dest,
                seg.bytes.len(),
                seg.memsz,
                seg.what
            );
        }
        let _ = writeln!(s, "entry: {:#x} (purgatory)", self.entry);
        let _ = writeln!(
            s,
            "kernel entry: {:#x}, boot_params: {:#x}, command line at {:#x}",
            self.kernel_entry, self.boot_params, self.cmdline_addr
        );
        let _ = writeln!(s, "command line: {}", self.cmdline);
        let hex: String = self.digest.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(s, "sha256 of the checked segments: {hex}");
        let _ = writeln!(s, "e820 ({} entries):", self.e820.len());
        for e in &self.e820 {
            let _ = writeln!(
                s,
                "  {:#018x}-{:#018x} type {}",
                e.addr,
                e.end().saturating_sub(1),
                e.kind
            );
        }
        if let Some(h) = &self.core_header {
            let _ = writeln!(
                s,
                "elfcorehdr at {:#x}, {:?}, {} program headers:",
                h.addr,
                h.class,
                h.program_headers.len()
            );
            s.push_str(&program_header_lines(&h.program_headers));
        }
        s
    }
}

/// One line per program header, `PT_NOTE`/`PT_LOAD` with paddr, vaddr and sizes: the
/// form in which `--dry-run` prints the elfcorehdr and the e2e test compares it with the
/// capture kernel's `/proc/vmcore`.
pub fn program_header_lines(phdrs: &[ProgramHeader]) -> String {
    let mut s = String::new();
    for p in phdrs {
        let kind = if p.is_load() {
            "PT_LOAD"
        } else if p.is_note() {
            "PT_NOTE"
        } else {
            "PT_OTHER"
        };
        let _ = writeln!(
            s,
            "  {kind} paddr={:#x} vaddr={:#x} filesz={:#x} memsz={:#x}",
            p.paddr, p.vaddr, p.filesz, p.memsz
        );
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "tests build small constants"
    )]
    use super::*;
    use crate::testutil::gzip;
    use proptest::prelude::*;

    const FIXTURE_IOMEM: &str = include_str!("../tests/data/iomem-x86_64-kdump-1G.txt");

    fn facts(iomem: &str) -> SystemFacts {
        SystemFacts {
            iomem: Iomem::parse(iomem).unwrap(),
            cpu_notes: vec![
                NoteBuffer {
                    paddr: 0x3fc1_8000,
                    size: 0x1b0,
                },
                NoteBuffer {
                    paddr: 0x3fd1_8000,
                    size: 0x1b0,
                },
            ],
            vmcoreinfo: Some(NoteBuffer {
                paddr: 0x2a70_0000,
                size: 0x1000,
            }),
            kernel_text: Some(KernelText {
                vaddr: 0xffff_ffff_a720_0000,
                paddr: 0x2720_0000,
                size: 0x340_0000,
            }),
            acpi_rsdp: Some(0xf5a40),
            ..SystemFacts::default()
        }
    }

    fn image() -> Vec<u8> {
        crate::x86::tests::build(&gzip(b"payload"), "6.1")
    }

    fn check_invariants(p: &ClassicPlan, window: PhysRange) {
        assert!(p.segments.len() <= SEGMENT_MAX);
        for s in &p.segments {
            assert_eq!(s.dest % PAGE, 0, "{s:?}");
            assert_eq!(s.memsz % PAGE, 0);
            assert!(len64(&s.bytes) <= s.memsz);
            assert!(
                s.dest >= window.start && s.range().end <= window.end,
                "{s:?} outside {window:?}"
            );
        }
        for w in p.segments.windows(2) {
            assert!(
                w[0].range().end <= w[1].dest,
                "{:?} overlaps {:?}",
                w[0].what,
                w[1].what
            );
        }
        let k = p.segments.iter().find(|s| s.what == "kernel").unwrap();
        assert_eq!(k.dest % 0x20_0000, 0, "kernel_alignment");
        assert_eq!(p.kernel_entry, k.dest + 0x200);
        let pg = p.segments.iter().find(|s| s.what == "purgatory").unwrap();
        assert!(p.entry >= pg.dest && p.entry < pg.range().end);
        let bp = p
            .segments
            .iter()
            .find(|s| s.what == "boot_params+cmdline")
            .unwrap();
        assert_eq!(p.boot_params, bp.dest);
        // The command line in the segment is the plan's, NUL-terminated.
        let cl = &bp.bytes[4096..];
        assert_eq!(&cl[..cl.len() - 1], p.cmdline.as_bytes());
        assert_eq!(cl.last(), Some(&0));
        // e820 as written in boot_params.
        assert_eq!(usize::from(bp.bytes[BP_E820_ENTRIES]), p.e820.len());
        for (i, e) in p.e820.iter().enumerate() {
            let at = BP_E820_TABLE + i * 20;
            assert_eq!(
                u64::from_le_bytes(bp.bytes[at..at + 8].try_into().unwrap()),
                e.addr
            );
            assert_eq!(
                u64::from_le_bytes(bp.bytes[at + 8..at + 16].try_into().unwrap()),
                e.size
            );
        }
        assert_eq!(bp.bytes[BP_TYPE_OF_LOADER], 0xd0);
        // The digest covers every segment but the purgatory, in address order.
        let d = purgatory::segments_digest(
            p.segments
                .iter()
                .filter(|s| s.what != "purgatory")
                .map(|s| s.bytes.as_slice()),
        );
        assert_eq!(d, p.digest);
    }

    #[test]
    fn crash_plan_on_the_fixture_guest() {
        let bz = image();
        let initrd = vec![7u8; 300_000];
        let mut req = ClassicRequest::new(LoadKind::Crash, &bz, "console=ttyS0 irqpoll");
        req.initrd = Some(&initrd);
        let f = facts(FIXTURE_IOMEM);
        let p = plan_x86_64(&req, &f).unwrap();
        let crash = PhysRange::new(0x2e00_0000, 0x3e00_0000);
        check_invariants(&p, crash);
        // Kernel at the bottom of the region, init_size (32 MiB) long.
        assert_eq!(
            (p.segments[0].what, p.segments[0].dest, p.segments[0].memsz),
            ("kernel", 0x2e00_0000, 0x200_0000)
        );
        let hdr = p.core_header.as_ref().unwrap();
        assert!(
            p.cmdline
                .starts_with(&format!("elfcorehdr={}K ", hdr.addr >> 10))
        );
        assert!(!p.cmdline.contains("memmap="));
        // e820: low RAM below 1 MiB, the reserved ranges, the crash region minus the header.
        let ram: Vec<(u64, u64)> = p
            .e820
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .map(|e| (e.addr, e.end()))
            .collect();
        assert_eq!(
            ram,
            vec![
                (0x1000, 0x9fc00),
                (0x2e00_0000, hdr.addr),
                (hdr.addr + 0x1000, 0x3e00_0000)
            ]
        );
        let reserved = p.e820.iter().filter(|e| e.kind == E820_RESERVED).count();
        assert_eq!(reserved, 6, "{:?}", p.e820);
        for w in p.e820.windows(2) {
            assert!(w[0].end() <= w[1].addr, "e820 overlap {w:?}");
        }
        // elfcorehdr: 2 CPU notes, VMCOREINFO, kernel text, RAM minus low 1M and the crash region.
        let loads: Vec<(u64, u64)> = hdr
            .program_headers
            .iter()
            .filter(|h| h.is_load())
            .map(|h| (h.paddr, h.memsz))
            .collect();
        assert_eq!(
            loads,
            vec![
                (0x2720_0000, 0x340_0000),
                (0x10_0000, 0x2e00_0000 - 0x10_0000),
                (0x3e00_0000, 0x3ffd_7000 - 0x3e00_0000)
            ]
        );
        assert_eq!(
            hdr.program_headers.iter().filter(|h| h.is_note()).count(),
            3
        );
        // The header bytes parse back to the same program headers.
        let seg = p.segments.iter().find(|s| s.what == "elfcorehdr").unwrap();
        let core = elfcorehdr::ElfCore::parse(&seg.bytes).unwrap();
        assert_eq!(
            core.program_headers().collect::<Vec<_>>(),
            hdr.program_headers
        );
        let bp = p
            .segments
            .iter()
            .find(|s| s.what == "boot_params+cmdline")
            .unwrap();
        assert_eq!(
            u64::from_le_bytes(bp.bytes[BP_ACPI_RSDP..BP_ACPI_RSDP + 8].try_into().unwrap()),
            0xf5a40
        );
        let rd = p.segments.iter().find(|s| s.what == "initrd").unwrap();
        assert_eq!(
            u32::from_le_bytes(
                bp.bytes[BP_RAMDISK_IMAGE..BP_RAMDISK_IMAGE + 4]
                    .try_into()
                    .unwrap()
            ),
            rd.dest as u32
        );
        assert_eq!(
            u32::from_le_bytes(
                bp.bytes[BP_RAMDISK_SIZE..BP_RAMDISK_SIZE + 4]
                    .try_into()
                    .unwrap()
            ),
            300_000
        );
        let text = p.describe();
        assert!(text.contains("PT_LOAD paddr=0x100000"), "{text}");
    }

    #[test]
    fn elf32_headers_and_limits() {
        let bz = image();
        let mut req = ClassicRequest::new(LoadKind::Crash, &bz, "x");
        req.core_class = Class::Elf32;
        let p = plan_x86_64(&req, &facts(FIXTURE_IOMEM)).unwrap();
        let seg = p.segments.iter().find(|s| s.what == "elfcorehdr").unwrap();
        assert_eq!(seg.bytes[4], 1, "ELFCLASS32");
        assert_eq!(
            u16::from_le_bytes([seg.bytes[18], seg.bytes[19]]),
            62,
            "EM_X86_64 as kexec-tools keeps it"
        );
        // No kernel-text header in ELF32.
        assert_eq!(
            p.core_header
                .unwrap()
                .program_headers
                .iter()
                .filter(|h| h.is_load())
                .count(),
            2
        );
        // RAM above 4 GiB does not fit ELF32.
        let big = format!("{FIXTURE_IOMEM}100000000-13fffffff : System RAM\n");
        assert!(matches!(
            plan_x86_64(&req, &facts(&big)),
            Err(Error::CoreHeader(_))
        ));
        // --mem-min/--mem-max narrow the window.
        let mut req = ClassicRequest::new(LoadKind::Crash, &bz, "x");
        req.mem_min = 0x3000_0000;
        req.mem_max = 0x3bff_ffff;
        let p = plan_x86_64(&req, &facts(FIXTURE_IOMEM)).unwrap();
        check_invariants(&p, PhysRange::new(0x3000_0000, 0x3c00_0000));
        req.mem_max = 0x3100_ffff;
        assert!(matches!(
            plan_x86_64(&req, &facts(FIXTURE_IOMEM)),
            Err(Error::Plan { what: "kernel", .. })
        ));
        // A command line over cmdline_size (2047) is refused.
        let long = "y".repeat(2040);
        let req = ClassicRequest::new(LoadKind::Crash, &bz, &long);
        assert!(matches!(
            plan_x86_64(&req, &facts(FIXTURE_IOMEM)),
            Err(Error::Plan {
                what: "command line",
                ..
            })
        ));
        // No crash region.
        let none = FIXTURE_IOMEM.replace("Crash kernel", "Kernel other");
        let req = ClassicRequest::new(LoadKind::Crash, &bz, "x");
        assert!(matches!(
            plan_x86_64(&req, &facts(&none)),
            Err(Error::Plan {
                what: "Crash kernel region",
                ..
            })
        ));
    }

    #[test]
    fn low_and_high_crash_regions() {
        let iomem = "\
00001000-0009fbff : System RAM
00100000-bfffffff : System RAM
  10000000-1fffffff : Crash kernel
  2a000000-2a3fffff : Kernel code
100000000-23fffffff : System RAM
  200000000-21fffffff : Crash kernel
";
        let bz = image();
        let req = ClassicRequest::new(LoadKind::Crash, &bz, "x");
        let p = plan_x86_64(&req, &facts(iomem)).unwrap();
        check_invariants(&p, PhysRange::new(0x2_0000_0000, 0x2_2000_0000));
        // The low region is RAM for the capture kernel; both are excluded from the dump.
        assert!(p.e820.contains(&E820Entry {
            addr: 0x1000_0000,
            size: 0x1000_0000,
            kind: E820_RAM
        }));
        let loads: Vec<(u64, u64)> = p
            .core_header
            .unwrap()
            .program_headers
            .iter()
            .filter(|h| h.is_load() && h.paddr != 0x2720_0000)
            .map(|h| (h.paddr, h.paddr + h.memsz))
            .collect();
        assert_eq!(
            loads,
            vec![
                (0x10_0000, 0x1000_0000),
                (0x2000_0000, 0xc000_0000),
                (0x1_0000_0000, 0x2_0000_0000),
                (0x2_2000_0000, 0x2_4000_0000)
            ]
        );
    }

    #[test]
    fn without_above_4g_the_initrd_stays_below_initrd_addr_max() {
        let mut bz = image();
        bz[0x236] &= !(XLF_CAN_BE_LOADED_ABOVE_4G as u8);
        let iomem = "00100000-bfffffff : System RAM\n  a0000000-afffffff : Crash kernel\n";
        let initrd = vec![1u8; 4096];
        let mut req = ClassicRequest::new(LoadKind::Crash, &bz, "x");
        req.initrd = Some(&initrd);
        // initrd_addr_max is 0x7fffffff and the region starts at 2.5 GiB.
        assert!(matches!(
            plan_x86_64(&req, &facts(iomem)),
            Err(Error::Plan { what: "initrd", .. })
        ));
        req.initrd = None;
        assert!(plan_x86_64(&req, &facts(iomem)).is_ok());
        // A region above 4 GiB cannot take the kernel at all.
        let high = "00100000-bfffffff : System RAM\n100000000-13fffffff : System RAM\n  120000000-12fffffff : Crash kernel\n";
        assert!(matches!(
            plan_x86_64(&req, &facts(high)),
            Err(Error::Plan { what: "kernel", .. })
        ));
    }

    #[test]
    fn reboot_plan_uses_ram() {
        let bz = image();
        let req = ClassicRequest::new(LoadKind::Reboot, &bz, "root=/dev/vda");
        let p = plan_x86_64(&req, &facts(FIXTURE_IOMEM)).unwrap();
        check_invariants(&p, PhysRange::new(0x10_0000, 0x3ffd_7000));
        assert!(p.core_header.is_none());
        assert_eq!(p.cmdline, "root=/dev/vda");
        assert!(
            p.e820
                .iter()
                .any(|e| e.kind == E820_RAM && e.addr == 0x10_0000)
        );
    }

    proptest! {
        // Each case builds and hashes a few MiB; 48 cases keep the test short.
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn plans_hold_their_invariants(start_mb in 16u64..3000, size_mb in 40u64..512, initrd in 0usize..3_000_000, min_mb in 0u64..64, cmd in 0usize..1500) {
            let start = start_mb << 20;
            let end = start + (size_mb << 20);
            let iomem = format!(
                "00001000-0009fbff : System RAM\n00100000-{:x} : System RAM\n  {start:x}-{:x} : Crash kernel\n",
                end + (1 << 30), end - 1
            );
            let bz = image();
            let rd = vec![1u8; initrd];
            let line = "z".repeat(cmd);
            let mut req = ClassicRequest::new(LoadKind::Crash, &bz, &line);
            req.initrd = (initrd > 0).then_some(rd.as_slice());
            req.mem_min = start + (min_mb << 20);
            match plan_x86_64(&req, &facts(&iomem)) {
                Ok(p) => check_invariants(&p, PhysRange::new(req.mem_min, end)),
                Err(Error::Plan { .. }) => prop_assert!(size_mb.saturating_sub(min_mb) < 40),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}

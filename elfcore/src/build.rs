//! Building ELF core headers: the `elfcorehdr=` buffer a loader hands to the capture kernel,
//! and the headers of an ELF dump file as a capture tool writes it.
//!
//! Facts for the `elfcorehdr=` header: the kernel's `crash_prepare_elf64_headers`
//! (`kernel/crash_core.c`) and kexec-tools' `kexec/crashdump-elf.c`: `ET_CORE`, `e_phoff` right
//! after the file header, no sections; one `PT_NOTE` per possible CPU at its `crash_notes`
//! buffer with `p_offset = p_paddr`; one `PT_NOTE` for VMCOREINFO; on x86_64 a `PT_LOAD` for the
//! kernel text mapping; then one `PT_LOAD` per RAM range, `p_offset = p_paddr = start`,
//! `p_vaddr` in the direct map, flags `RWX`, `p_align = 0`; the buffer is whole pages
//! (`ELF_CORE_HEADER_ALIGN`, 4 KiB) and `e_phnum` stays below `PN_XNUM`
//! (`arch/x86/kernel/crash.c`). Direct-map bases: x86_64 `__PAGE_OFFSET_BASE_L4`, i386
//! `PAGE_OFFSET` with the 896 MiB lowmem limit, ppc64 `PAGE_OFFSET`, loongarch64 the cached
//! DMW window kexec-tools uses, s390x the identity map of kernels before 6.10.
//!
//! Facts for dump files: makedumpfile's `IMPLEMENTATION` and `write_elf_header`: the file
//! header, one `PT_NOTE` with the merged notes, the `PT_LOAD`s, the notes right after the
//! program headers, segment data right after the notes, back to back, each segment's flags
//! and alignment copied from its source, and bit 0 of `e_flags` (`DUMP_ELF_INCOMPLETE`) on a
//! dump that could not be finished; checked against real makedumpfile output.

use alloc::vec::Vec;

use zerocopy::IntoBytes;
use zerocopy::byteorder::{BigEndian, ByteOrder, LittleEndian};

use crate::error::{Error, Result};
use crate::raw::{
    DUMP_ELF_INCOMPLETE, ELF_MAGIC, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ET_CORE,
    EV_CURRENT, Ehdr32, Ehdr64, PF_R, PF_W, PF_X, PN_XNUM, Phdr32, Phdr64,
};
use crate::types::{Class, Endian, Machine, ProgramHeader};

/// Size the `elfcorehdr=` buffer is rounded up to (`ELF_CORE_HEADER_ALIGN`).
pub const HEADER_ALIGN: u64 = 4096;

/// The machine, class and byte order of the ELF file to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// `e_machine`.
    pub machine: Machine,
    /// ELF class.
    pub class: Class,
    /// Byte order.
    pub endian: Endian,
    /// `e_flags`.
    pub flags: u32,
}

impl Target {
    /// A target with `e_flags` 0.
    pub const fn new(machine: Machine, class: Class, endian: Endian) -> Target {
        Target {
            machine,
            class,
            endian,
            flags: 0,
        }
    }

    /// x86_64: ELF64, little endian.
    pub const fn x86_64() -> Target {
        Target::new(Machine::X86_64, Class::Elf64, Endian::Little)
    }

    /// i386: ELF32, little endian.
    pub const fn i386() -> Target {
        Target::new(Machine::I386, Class::Elf32, Endian::Little)
    }

    /// aarch64: ELF64, little endian.
    pub const fn aarch64() -> Target {
        Target::new(Machine::AARCH64, Class::Elf64, Endian::Little)
    }

    /// 32-bit Arm: ELF32, little endian.
    pub const fn arm() -> Target {
        Target::new(Machine::ARM, Class::Elf32, Endian::Little)
    }

    /// ppc64 big endian: ELF64.
    pub const fn ppc64() -> Target {
        Target::new(Machine::PPC64, Class::Elf64, Endian::Big)
    }

    /// ppc64le: ELF64, little endian.
    pub const fn ppc64le() -> Target {
        Target::new(Machine::PPC64, Class::Elf64, Endian::Little)
    }

    /// s390x: ELF64, big endian.
    pub const fn s390x() -> Target {
        Target::new(Machine::S390, Class::Elf64, Endian::Big)
    }

    /// riscv64: ELF64, little endian.
    pub const fn riscv64() -> Target {
        Target::new(Machine::RISCV, Class::Elf64, Endian::Little)
    }

    /// loongarch64: ELF64, little endian.
    pub const fn loongarch64() -> Target {
        Target::new(Machine::LOONGARCH, Class::Elf64, Endian::Little)
    }

    /// The same target with another class (kexec-tools' `--elf32-core-headers`).
    pub const fn with_class(self, class: Class) -> Target {
        Target { class, ..self }
    }

    /// The same target with `e_flags` set.
    pub const fn with_flags(self, flags: u32) -> Target {
        Target { flags, ..self }
    }
}

/// A physical address range `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhysRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl PhysRange {
    /// x86's low 1 MiB, which the kernel leaves out of the dumped RAM on x86_64 (it is
    /// always reserved, and kexec_file copies it aside for the capture kernel).
    pub const X86_LOW_1M: PhysRange = PhysRange::new(0, 0x10_0000);

    /// `start..end`.
    pub const fn new(start: u64, end: u64) -> PhysRange {
        PhysRange { start, end }
    }

    /// `start..start + size`, or `None` if that overflows.
    pub const fn from_start_size(start: u64, size: u64) -> Option<PhysRange> {
        match start.checked_add(size) {
            Some(end) => Some(PhysRange { start, end }),
            None => None,
        }
    }

    /// `first..=last`, as `/proc/iomem` and the kernel's `struct resource` give ranges, or
    /// `None` if `last` is `u64::MAX`.
    pub const fn from_inclusive(first: u64, last: u64) -> Option<PhysRange> {
        match last.checked_add(1) {
            Some(end) => Some(PhysRange { start: first, end }),
            None => None,
        }
    }

    /// Size in bytes (0 for an empty or inverted range).
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    fn checked(self, what: &'static str) -> Result<PhysRange> {
        if self.is_empty() {
            Err(Error::EmptyRange {
                what,
                start: self.start,
                end: self.end,
            })
        } else {
            Ok(self)
        }
    }
}

/// A note buffer in the crashed kernel's memory: a CPU's `crash_notes` (address and size from
/// `/sys/devices/system/cpu/cpuN/crash_notes{,_size}`) or VMCOREINFO (from
/// `/sys/kernel/vmcoreinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoteBuffer {
    /// Physical address.
    pub paddr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// The x86_64 kernel text mapping: `_text` (virtual and physical) and `_end - _text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelText {
    /// Virtual address of `_text`.
    pub vaddr: u64,
    /// Physical address of `_text`.
    pub paddr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// How RAM's physical addresses map to kernel virtual addresses (`__va`).
///
/// `vaddr = virt_base + (paddr - phys_base)` for `phys_base <= paddr < phys_limit`; other
/// addresses (32-bit highmem) get the all-ones value, as kexec-tools writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirectMap {
    /// Virtual address of `phys_base`.
    pub virt_base: u64,
    /// First physical address mapped.
    pub phys_base: u64,
    /// First physical address not mapped, if there is a limit.
    pub phys_limit: Option<u64>,
}

impl DirectMap {
    /// The direct map of architectures where it does not depend on the machine: x86_64 without
    /// KASLR (`0xffff888000000000`), i386 (`0xc0000000` below 896 MiB), ppc64
    /// (`0xc000000000000000`), loongarch64 (`0x9000000000000000`), s390x (identity). `None`
    /// for aarch64, arm and riscv64, whose base depends on where RAM starts and on the VA
    /// size: the caller reads it from the running kernel and passes it in.
    pub const fn for_machine(machine: Machine) -> Option<DirectMap> {
        let (virt_base, phys_limit) = match machine {
            Machine::X86_64 => (0xffff_8880_0000_0000, None),
            Machine::I386 => (0xc000_0000, Some(0x3800_0000)),
            Machine::PPC64 => (0xc000_0000_0000_0000, None),
            Machine::LOONGARCH => (0x9000_0000_0000_0000, None),
            Machine::S390 => (0, None),
            _ => return None,
        };
        Some(DirectMap {
            virt_base,
            phys_base: 0,
            phys_limit,
        })
    }

    /// The virtual address of `paddr`, or all ones (in the class's width) if it is outside
    /// the map or the sum overflows.
    pub fn virt(&self, paddr: u64, class: Class) -> u64 {
        let unmapped = class.max_value();
        if paddr < self.phys_base || self.phys_limit.is_some_and(|limit| paddr >= limit) {
            return unmapped;
        }
        match self.virt_base.checked_add(paddr - self.phys_base) {
            Some(v) if v <= class.max_value() => v,
            _ => unmapped,
        }
    }
}

/// Builds the `elfcorehdr=` buffer: the ELF core header the capture kernel turns into
/// `/proc/vmcore`.
///
/// ```
/// use elfcorehdr::{CrashHeaderBuilder, ElfCore, NoteBuffer, PhysRange, Target};
///
/// let hdr = CrashHeaderBuilder::new(Target::x86_64())
///     .cpu_note(NoteBuffer { paddr: 0x7fc1_8000, size: 0x1b0 })
///     .vmcoreinfo(NoteBuffer { paddr: 0x0238_5000, size: 0x1000 })
///     .ram(PhysRange::new(0x10_0000, 0x8000_0000))
///     .exclude(PhysRange::new(0x6000_0000, 0x7000_0000))
///     .build()?;
/// assert_eq!(hdr.len(), 4096);
/// let core = ElfCore::parse(&hdr)?;
/// assert_eq!(core.program_header_count(), 4);
/// # Ok::<(), elfcorehdr::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CrashHeaderBuilder {
    target: Target,
    cpu_notes: Vec<NoteBuffer>,
    vmcoreinfo: Option<NoteBuffer>,
    kernel_text: Option<KernelText>,
    ram: Vec<PhysRange>,
    exclude: Vec<PhysRange>,
    direct_map: Option<DirectMap>,
    spare_phdrs: u32,
}

impl CrashHeaderBuilder {
    /// An empty header for `target`.
    pub fn new(target: Target) -> CrashHeaderBuilder {
        CrashHeaderBuilder {
            target,
            cpu_notes: Vec::new(),
            vmcoreinfo: None,
            kernel_text: None,
            ram: Vec::new(),
            exclude: Vec::new(),
            direct_map: None,
            spare_phdrs: 0,
        }
    }

    /// Adds the `crash_notes` buffer of the next possible CPU (call in CPU order).
    pub fn cpu_note(mut self, note: NoteBuffer) -> CrashHeaderBuilder {
        self.cpu_notes.push(note);
        self
    }

    /// Adds the `crash_notes` buffers of several CPUs, in CPU order.
    pub fn cpu_notes(mut self, notes: impl IntoIterator<Item = NoteBuffer>) -> CrashHeaderBuilder {
        self.cpu_notes.extend(notes);
        self
    }

    /// Sets the VMCOREINFO note buffer.
    pub fn vmcoreinfo(mut self, note: NoteBuffer) -> CrashHeaderBuilder {
        self.vmcoreinfo = Some(note);
        self
    }

    /// Sets the kernel text mapping (x86_64 has one; it duplicates part of a RAM range).
    pub fn kernel_text(mut self, text: KernelText) -> CrashHeaderBuilder {
        self.kernel_text = Some(text);
        self
    }

    /// Adds a RAM range to dump. Ranges must not overlap; their order does not matter.
    pub fn ram(mut self, range: PhysRange) -> CrashHeaderBuilder {
        self.ram.push(range);
        self
    }

    /// Adds several RAM ranges.
    pub fn ram_ranges(mut self, ranges: impl IntoIterator<Item = PhysRange>) -> CrashHeaderBuilder {
        self.ram.extend(ranges);
        self
    }

    /// Leaves a range out of the dumped RAM: crash kernel regions, x86_64's low 1 MiB, the
    /// header's own buffer, CMA areas. Excluded ranges may overlap each other and need not
    /// lie inside RAM.
    pub fn exclude(mut self, range: PhysRange) -> CrashHeaderBuilder {
        self.exclude.push(range);
        self
    }

    /// Sets the direct map used for `p_vaddr`, overriding [`DirectMap::for_machine`]
    /// (needed on aarch64, arm and riscv64, and on x86_64 with KASLR).
    pub fn direct_map(mut self, map: DirectMap) -> CrashHeaderBuilder {
        self.direct_map = Some(map);
        self
    }

    /// Sizes the buffer for this many more program headers than are written, so it can be
    /// rewritten in place after CPU or memory hotplug (`CONFIG_CRASH_HOTPLUG`).
    pub fn spare_program_headers(mut self, count: u32) -> CrashHeaderBuilder {
        self.spare_phdrs = count;
        self
    }

    /// An upper bound of the size [`build`](Self::build) returns, known before the ranges
    /// are cut: every excluded range can split at most one RAM range in two. A loader places
    /// the header's own buffer with this size, then excludes that buffer and builds.
    pub fn size_bound(&self) -> Result<u64> {
        let overflow = Error::SizeOverflow {
            what: "header size",
        };
        let phdrs = (self.cpu_notes.len() as u64)
            .checked_add(u64::from(self.vmcoreinfo.is_some()))
            .and_then(|n| n.checked_add(u64::from(self.kernel_text.is_some())))
            .and_then(|n| n.checked_add(self.ram.len() as u64))
            .and_then(|n| n.checked_add(self.exclude.len() as u64))
            .and_then(|n| n.checked_add(u64::from(self.spare_phdrs)))
            .ok_or(overflow.clone())?;
        phdrs
            .checked_mul(self.target.class.phdr_size() as u64)
            .and_then(|n| n.checked_add(self.target.class.ehdr_size() as u64))
            .and_then(|n| round_up(n, HEADER_ALIGN))
            .ok_or(overflow)
    }

    /// The RAM ranges that get a `PT_LOAD`: the RAM ranges, sorted, minus the excluded ones.
    ///
    /// Fails on an empty RAM or excluded range and on overlapping RAM ranges.
    pub fn dumped_ranges(&self) -> Result<Vec<PhysRange>> {
        let mut ram = Vec::with_capacity(self.ram.len());
        for r in &self.ram {
            ram.push(r.checked("RAM range")?);
        }
        ram.sort_unstable();
        for pair in ram.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(Error::OverlappingRanges {
                    first_start: pair[0].start,
                    first_end: pair[0].end,
                    second_start: pair[1].start,
                    second_end: pair[1].end,
                });
            }
        }
        let mut exclude = Vec::with_capacity(self.exclude.len());
        for r in &self.exclude {
            exclude.push(r.checked("excluded range")?);
        }
        exclude.sort_unstable();
        let mut out = Vec::with_capacity(ram.len());
        for r in ram {
            let mut start = r.start;
            for x in &exclude {
                if x.end <= start || x.start >= r.end {
                    continue;
                }
                if x.start > start {
                    out.push(PhysRange::new(start, x.start));
                }
                start = start.max(x.end);
                if start >= r.end {
                    break;
                }
            }
            if start < r.end {
                out.push(PhysRange::new(start, r.end));
            }
        }
        Ok(out)
    }

    /// The program headers the header will hold, in order: CPU notes, VMCOREINFO, kernel text,
    /// RAM.
    pub fn program_headers(&self) -> Result<Vec<ProgramHeader>> {
        let ranges = self.dumped_ranges()?;
        let map = match self.direct_map {
            Some(map) => map,
            None if ranges.is_empty() => DirectMap {
                virt_base: 0,
                phys_base: 0,
                phys_limit: None,
            },
            None => {
                DirectMap::for_machine(self.target.machine).ok_or(Error::DirectMapRequired {
                    machine: self.target.machine.0,
                })?
            }
        };
        let count = (self.cpu_notes.len() as u64)
            .saturating_add(u64::from(self.vmcoreinfo.is_some()))
            .saturating_add(u64::from(self.kernel_text.is_some()))
            .saturating_add(ranges.len() as u64);
        check_phnum(count.saturating_add(u64::from(self.spare_phdrs)))?;
        let mut phdrs = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for n in self.cpu_notes.iter().chain(self.vmcoreinfo.iter()) {
            if n.size == 0 {
                return Err(Error::EmptyRange {
                    what: "note buffer",
                    start: n.paddr,
                    end: n.paddr,
                });
            }
            phdrs.push(ProgramHeader::note(n.paddr, n.paddr, n.size));
        }
        if let Some(t) = self.kernel_text {
            if t.size == 0 {
                return Err(Error::EmptyRange {
                    what: "kernel text",
                    start: t.paddr,
                    end: t.paddr,
                });
            }
            phdrs.push(ProgramHeader::load(
                t.paddr, t.vaddr, t.paddr, t.size, t.size,
            ));
        }
        for r in ranges {
            let vaddr = map.virt(r.start, self.target.class);
            phdrs.push(ProgramHeader::load(
                r.start,
                vaddr,
                r.start,
                r.len(),
                r.len(),
            ));
        }
        Ok(phdrs)
    }

    /// Builds the header: the file header, the program headers, zero padding to whole 4 KiB
    /// pages.
    pub fn build(&self) -> Result<Vec<u8>> {
        let phdrs = self.program_headers()?;
        let class = self.target.class;
        let table = (phdrs.len() as u64)
            .checked_add(u64::from(self.spare_phdrs))
            .and_then(|n| n.checked_mul(class.phdr_size() as u64))
            .and_then(|n| n.checked_add(class.ehdr_size() as u64))
            .ok_or(Error::SizeOverflow {
                what: "header size",
            })?;
        let size = round_up(table, HEADER_ALIGN).ok_or(Error::SizeOverflow {
            what: "header size",
        })?;
        let mut buf = Vec::new();
        write_headers(&mut buf, self.target, &phdrs)?;
        buf.resize(
            usize::try_from(size).map_err(|_| Error::SizeOverflow {
                what: "header size",
            })?,
            0,
        );
        Ok(buf)
    }
}

fn round_up(n: u64, align: u64) -> Option<u64> {
    Some(n.checked_add(align - 1)? / align * align)
}

fn check_phnum(count: u64) -> Result<u16> {
    let max = u64::from(PN_XNUM) - 1;
    if count > max {
        return Err(Error::TooManyProgramHeaders { count, max });
    }
    u16::try_from(count).map_err(|_| Error::TooManyProgramHeaders { count, max })
}

/// Appends the file header (`e_phoff` right after it, no sections) and `phdrs` to `buf`.
///
/// The building block of both builders, public for writers that lay out a file some other
/// way. Fails if there are `PN_XNUM` or more program headers or a value does not fit the
/// class.
pub fn write_headers(buf: &mut Vec<u8>, target: Target, phdrs: &[ProgramHeader]) -> Result<()> {
    let phnum = check_phnum(phdrs.len() as u64)?;
    match target.endian {
        Endian::Little => write_all::<LittleEndian>(buf, target, phnum, phdrs),
        Endian::Big => write_all::<BigEndian>(buf, target, phnum, phdrs),
    }
}

fn fit32(what: &'static str, value: u64) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::TooLargeForElf32 { what, value })
}

fn write_all<O: ByteOrder>(
    buf: &mut Vec<u8>,
    target: Target,
    phnum: u16,
    phdrs: &[ProgramHeader],
) -> Result<()> {
    let mut ident = [0u8; 16];
    ident[..4].copy_from_slice(&ELF_MAGIC);
    ident[4] = match target.class {
        Class::Elf32 => ELFCLASS32,
        Class::Elf64 => ELFCLASS64,
    };
    ident[5] = match target.endian {
        Endian::Little => ELFDATA2LSB,
        Endian::Big => ELFDATA2MSB,
    };
    ident[6] = EV_CURRENT;
    let (ehsize, phentsize): (u16, u16) = match target.class {
        Class::Elf32 => (52, 32),
        Class::Elf64 => (64, 56),
    };
    match target.class {
        Class::Elf64 => {
            let e = Ehdr64::<O> {
                e_ident: ident,
                e_type: ET_CORE.into(),
                e_machine: target.machine.0.into(),
                e_version: u32::from(EV_CURRENT).into(),
                e_entry: 0.into(),
                e_phoff: u64::from(ehsize).into(),
                e_shoff: 0.into(),
                e_flags: target.flags.into(),
                e_ehsize: ehsize.into(),
                e_phentsize: phentsize.into(),
                e_phnum: phnum.into(),
                e_shentsize: 0.into(),
                e_shnum: 0.into(),
                e_shstrndx: 0.into(),
            };
            buf.extend_from_slice(e.as_bytes());
            for p in phdrs {
                let raw = Phdr64::<O> {
                    p_type: p.p_type.into(),
                    p_flags: p.flags.into(),
                    p_offset: p.offset.into(),
                    p_vaddr: p.vaddr.into(),
                    p_paddr: p.paddr.into(),
                    p_filesz: p.filesz.into(),
                    p_memsz: p.memsz.into(),
                    p_align: p.align.into(),
                };
                buf.extend_from_slice(raw.as_bytes());
            }
        }
        Class::Elf32 => {
            let e = Ehdr32::<O> {
                e_ident: ident,
                e_type: ET_CORE.into(),
                e_machine: target.machine.0.into(),
                e_version: u32::from(EV_CURRENT).into(),
                e_entry: 0.into(),
                e_phoff: u32::from(ehsize).into(),
                e_shoff: 0.into(),
                e_flags: target.flags.into(),
                e_ehsize: ehsize.into(),
                e_phentsize: phentsize.into(),
                e_phnum: phnum.into(),
                e_shentsize: 0.into(),
                e_shnum: 0.into(),
                e_shstrndx: 0.into(),
            };
            let mut table = Vec::with_capacity(phdrs.len().saturating_mul(32));
            for p in phdrs {
                let raw = Phdr32::<O> {
                    p_type: p.p_type.into(),
                    p_offset: fit32("p_offset", p.offset)?.into(),
                    p_vaddr: fit32("p_vaddr", p.vaddr)?.into(),
                    p_paddr: fit32("p_paddr", p.paddr)?.into(),
                    p_filesz: fit32("p_filesz", p.filesz)?.into(),
                    p_memsz: fit32("p_memsz", p.memsz)?.into(),
                    p_flags: p.flags.into(),
                    p_align: fit32("p_align", p.align)?.into(),
                };
                table.extend_from_slice(raw.as_bytes());
            }
            buf.extend_from_slice(e.as_bytes());
            buf.extend_from_slice(&table);
        }
    }
    Ok(())
}

/// One memory segment of an ELF dump file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DumpSegment {
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_paddr`.
    pub paddr: u64,
    /// Bytes stored in the file.
    pub filesz: u64,
    /// Bytes of memory covered (at least `filesz`; the rest reads as zeros).
    pub memsz: u64,
    /// `p_flags`: makedumpfile copies them from the segment it read (`RWX` from
    /// `/proc/vmcore`, 0 from a QEMU dump).
    pub flags: u32,
    /// `p_align`, likewise copied.
    pub align: u64,
}

impl DumpSegment {
    /// A segment with flags `RWX` and `p_align` 0, as `/proc/vmcore` has them.
    pub const fn new(vaddr: u64, paddr: u64, filesz: u64, memsz: u64) -> DumpSegment {
        DumpSegment {
            vaddr,
            paddr,
            filesz,
            memsz,
            flags: PF_R | PF_W | PF_X,
            align: 0,
        }
    }

    /// The segment a `PT_LOAD` describes, its flags and alignment kept.
    pub const fn from_program_header(ph: &ProgramHeader) -> DumpSegment {
        DumpSegment {
            vaddr: ph.vaddr,
            paddr: ph.paddr,
            filesz: ph.filesz,
            memsz: ph.memsz,
            flags: ph.flags,
            align: ph.align,
        }
    }
}

/// Builds the leading part of an ELF dump file as makedumpfile `-E` writes it: the file
/// header, one `PT_NOTE`, the `PT_LOAD`s, the notes right after the program headers, then the
/// segments' data back to back from the end of the notes (or from the next multiple of
/// [`data_align`](Self::data_align)). A segment with no file data gets the offset where
/// its data would have started (makedumpfile writes that or 0; with `p_filesz` 0 it means
/// nothing). The fixture tests check the result byte for byte against makedumpfile's own
/// output.
///
/// ```
/// use elfcorehdr::{DumpFileBuilder, DumpSegment, ElfCore, NoteWriter, Target};
///
/// let mut notes = NoteWriter::new(Target::x86_64().endian);
/// notes.push(b"VMCOREINFO", 0, b"OSRELEASE=6.1.0\n")?;
/// let dump = DumpFileBuilder::new(Target::x86_64())
///     .segment(DumpSegment::new(0xffff_8880_0010_0000, 0x10_0000, 0x2000, 0x2000))
///     .build(notes.as_bytes())?;
/// assert_eq!(dump.segments[0].offset, 64 + 2 * 56 + notes.as_bytes().len() as u64);
/// let core = ElfCore::parse(&dump.bytes)?;
/// assert_eq!(core.notes().count(), 1);
/// # Ok::<(), elfcorehdr::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DumpFileBuilder {
    target: Target,
    segments: Vec<DumpSegment>,
    incomplete: bool,
    data_align: u64,
}

/// The result of [`DumpFileBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpFileHeader {
    /// File bytes from offset 0 up to the first segment's data: headers, notes, zero padding.
    pub bytes: Vec<u8>,
    /// The `PT_NOTE` written.
    pub note: ProgramHeader,
    /// The `PT_LOAD`s written, in order; each segment's data goes at its `offset`.
    pub segments: Vec<ProgramHeader>,
    /// File size once every segment's data is written.
    pub file_size: u64,
}

impl DumpFileBuilder {
    /// An empty dump header for `target`; segment data starts right after the notes.
    pub fn new(target: Target) -> DumpFileBuilder {
        DumpFileBuilder {
            target,
            segments: Vec::new(),
            incomplete: false,
            data_align: 1,
        }
    }

    /// Adds a memory segment (in file order).
    pub fn segment(mut self, segment: DumpSegment) -> DumpFileBuilder {
        self.segments.push(segment);
        self
    }

    /// Adds several memory segments.
    pub fn segments(mut self, segments: impl IntoIterator<Item = DumpSegment>) -> DumpFileBuilder {
        self.segments.extend(segments);
        self
    }

    /// Sets the incomplete-dump bit in `e_flags`.
    pub fn incomplete(mut self, incomplete: bool) -> DumpFileBuilder {
        self.incomplete = incomplete;
        self
    }

    /// Aligns the start of segment data to `align` bytes, for example to the dumped kernel's
    /// page size so that a reader can map pages (makedumpfile does not; values below 1 count
    /// as 1).
    pub fn data_align(mut self, align: u64) -> DumpFileBuilder {
        self.data_align = align.max(1);
        self
    }

    /// Lays out the file with `notes` as the merged note segment.
    pub fn build(&self, notes: &[u8]) -> Result<DumpFileHeader> {
        let overflow = |what| Error::SizeOverflow { what };
        let class = self.target.class;
        let phnum = (self.segments.len() as u64)
            .checked_add(1)
            .ok_or(overflow("program header count"))?;
        check_phnum(phnum)?;
        let notes_offset = phnum
            .checked_mul(class.phdr_size() as u64)
            .and_then(|n| n.checked_add(class.ehdr_size() as u64))
            .ok_or(overflow("header size"))?;
        let notes_len = notes.len() as u64;
        let notes_end = notes_offset
            .checked_add(notes_len)
            .ok_or(overflow("notes end"))?;
        let data_start = round_up(notes_end, self.data_align).ok_or(overflow("data start"))?;
        let mut offset = data_start;
        let mut loads = Vec::with_capacity(self.segments.len());
        for s in &self.segments {
            if s.filesz > s.memsz {
                return Err(Error::BadField {
                    field: "segment filesz above memsz",
                    offset: s.paddr,
                    found: s.filesz,
                    expected: s.memsz,
                });
            }
            loads.push(ProgramHeader {
                flags: s.flags,
                align: s.align,
                ..ProgramHeader::load(offset, s.vaddr, s.paddr, s.filesz, s.memsz)
            });
            offset = offset.checked_add(s.filesz).ok_or(overflow("file size"))?;
        }
        let note = ProgramHeader::note(notes_offset, 0, notes_len);
        let mut target = self.target;
        if self.incomplete {
            target.flags |= DUMP_ELF_INCOMPLETE;
        }
        let mut phdrs = Vec::with_capacity(loads.len().saturating_add(1));
        phdrs.push(note);
        phdrs.extend_from_slice(&loads);
        let mut bytes = Vec::new();
        write_headers(&mut bytes, target, &phdrs)?;
        bytes.extend_from_slice(notes);
        bytes.resize(
            usize::try_from(data_start).map_err(|_| overflow("data start"))?,
            0,
        );
        Ok(DumpFileHeader {
            bytes,
            note,
            segments: loads,
            file_size: offset,
        })
    }
}

/// Sets the incomplete-dump bit (`DUMP_ELF_INCOMPLETE`) in the `e_flags` of an ELF file header
/// held in `header` (at least the file header's bytes), in place.
pub fn mark_incomplete(header: &mut [u8]) -> Result<()> {
    let h = crate::types::FileHeader::parse(header)?;
    let at = h.class.e_flags_offset();
    let flags = h.flags | DUMP_ELF_INCOMPLETE;
    let bytes = h.endian.put_u32(flags);
    let field = header.get_mut(at..at + 4).ok_or(Error::Truncated {
        what: "e_flags",
        offset: at as u64,
        len: 4,
        available: 0,
    })?;
    field.copy_from_slice(&bytes);
    Ok(())
}

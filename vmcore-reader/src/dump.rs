//! One type for every dump format: [`Dump`] opens a file or bytes, recognises the format from
//! its first bytes, and answers physical-memory questions through [`PhysMemory`].

#![forbid(unsafe_code)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use elfcorehdr::{DecodedNote, Endian, Machine, Notes, PrStatus, QemuCpuState};

use crate::elf::{self, ElfLayout, Where};
use crate::error::{Error, Result, min_len, to_usize};
use crate::flat::{self, FlatIndex};
use crate::kdump::{self, BlockState, KdumpFile};
use crate::source::Source;

/// The on-disk format of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An ELF core (`/proc/vmcore`, QEMU ELF, `makedumpfile -E`).
    Elf,
    /// kdump-compressed (`"KDUMP   "`).
    Kdump,
    /// The old diskdump (`"DISKDUMP"`), read with the kdump-compressed reader.
    Diskdump,
    /// A flattened stream wrapping a kdump-compressed file.
    FlattenedKdump,
    /// A flattened stream wrapping an ELF file.
    FlattenedElf,
}

impl Format {
    /// A short name (`elf`, `kdump`, `diskdump`, `flattened-kdump`, `flattened-elf`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Elf => "elf",
            Format::Kdump => "kdump",
            Format::Diskdump => "diskdump",
            Format::FlattenedKdump => "flattened-kdump",
            Format::FlattenedElf => "flattened-elf",
        }
    }
}

/// What a dump says about one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Its content is in the dump.
    Present,
    /// Its content is in the dump and is all zero (the kdump-compressed shared zero page).
    Zero,
    /// It is RAM but was filtered out when the dump was made.
    Excluded,
    /// The dump is incomplete and this page was not written.
    Lost,
    /// The dump does not cover it (a hole in the memory map).
    NotInDump,
}

/// What a read does with excluded pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Excluded {
    /// Fail with [`Error::Excluded`].
    #[default]
    Error,
    /// Fill their bytes with this value.
    Fill(u8),
}

/// Physical memory of a dump.
pub trait PhysMemory {
    /// The unit the dump classifies memory in: the kdump block size, or the kernel's page
    /// size for ELF dumps.
    fn page_size(&self) -> u64;

    /// The state of the page holding `paddr`.
    fn page_state(&self, paddr: u64) -> Result<PageState>;

    /// Reads `buf.len()` bytes at `paddr`; excluded pages fail or are filled as `excluded` says.
    fn read_phys_with(&self, paddr: u64, buf: &mut [u8], excluded: Excluded) -> Result<()>;

    /// Reads `buf.len()` bytes at `paddr`; excluded pages are an error.
    fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> Result<()> {
        self.read_phys_with(paddr, buf, Excluded::Error)
    }

    /// Physical ranges `[start, end)` whose content is in the dump, ascending.
    fn present_ranges(&self) -> Vec<(u64, u64)>;
}

enum Body {
    Elf(ElfLayout),
    Kdump(Box<KdumpFile>),
}

/// The largest eraseinfo text [`Dump::eraseinfo`] reads.
pub const MAX_ERASEINFO: u64 = 16 << 20;

/// An open dump of any format.
pub struct Dump {
    source: Source,
    body: Body,
    format: Format,
    page_size: u64,
}

impl core::fmt::Debug for Dump {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dump")
            .field("format", &self.format)
            .field("len", &self.source.len())
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// Physical memory seen through a read-only mapping of the dump file, without a copy
/// (see [`Dump::map_phys`]); unmapped when dropped.
pub struct PhysWindow {
    map: memmap2::Mmap,
}

impl core::fmt::Debug for PhysWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PhysWindow")
            .field("len", &self.map.len())
            .finish()
    }
}

impl core::ops::Deref for PhysWindow {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// One CPU's state at the crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuState {
    /// Index in note order.
    pub index: usize,
    /// The `NT_PRSTATUS` note, when the dump has one.
    pub prstatus: Option<PrStatus>,
    /// QEMU's CPU state note, in QEMU x86 dumps.
    pub qemu: Option<QemuCpuState>,
}

impl Dump {
    /// Opens a dump file: `/proc/vmcore` is mapped read-only when it can be (the kernel
    /// never changes or truncates it), any other file is read with positioned reads, so a
    /// file truncated under the reader gives errors, not SIGBUS.
    pub fn open(path: impl AsRef<Path>) -> Result<Dump> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Io {
            what: "dump file",
            offset: 0,
            source,
        })?;
        let stable = crate::mmap::never_shrinks(&file);
        let source = match stable.then(|| crate::mmap::map(&file)).flatten() {
            Some(m) => Source::Mapped(m, file),
            None => file_source(file, stable)?,
        };
        Dump::from_source(source)
    }

    /// Opens a dump file with positioned reads only: no mapping, except the windows a
    /// caller asks for with [`Dump::map_phys`].
    pub fn open_read(path: impl AsRef<Path>) -> Result<Dump> {
        let file = File::open(path.as_ref()).map_err(|source| Error::Io {
            what: "dump file",
            offset: 0,
            source,
        })?;
        let stable = crate::mmap::never_shrinks(&file);
        Dump::from_source(file_source(file, stable)?)
    }

    /// Maps `len` bytes of physical memory from `paddr` read-only, without copying, when
    /// they are file data of a single `PT_LOAD` of an ELF dump opened from `/proc/vmcore`
    /// (the one input that cannot shrink under a mapping) and lie inside the file's length
    /// at open; `None` otherwise (a regular file, a segment cut short by the end of the
    /// file), and the caller reads with [`PhysMemory::read_phys_with`] instead.
    ///
    /// The window's pages count in the process's resident set while it lives, so keep
    /// windows small and short-lived. As with every mapping, an I/O error under it (a failing
    /// disk) or a truncation of the file raises SIGBUS where a read would return an error:
    /// callers that must survive unreadable input read instead.
    pub fn map_phys(&self, paddr: u64, len: usize) -> Option<PhysWindow> {
        let Body::Elf(e) = &self.body else {
            return None;
        };
        let Where::File { offset, run } = e.locate(paddr) else {
            return None;
        };
        if run < len as u64 {
            return None;
        }
        let (file, file_len) = match &self.source {
            Source::File {
                file,
                len,
                windows: true,
            } => (file, *len),
            Source::Mapped(m, file) => (file, m.len() as u64),
            _ => return None,
        };
        // A PT_LOAD may claim more file data than the file holds (an interrupted copy):
        // mapping past the end would raise SIGBUS where a read returns an error.
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > file_len)
        {
            return None;
        }
        crate::mmap::map_range(file, offset, len).map(|map| PhysWindow { map })
    }

    /// Reads a dump held in memory.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Result<Dump> {
        Dump::from_source(Source::Bytes(bytes.into()))
    }

    fn from_source(source: Source) -> Result<Dump> {
        let mut head = [0u8; 16];
        let n = source.len().min(16) as usize;
        source.read_exact_at("file signature", 0, &mut head[..n])?;
        if flat::is_flattened(&head) {
            let index = FlatIndex::build(source)?;
            let inner = Source::Flat(Box::new(index));
            let mut d = Dump::from_source(inner)?;
            d.format = match d.format {
                Format::Elf => Format::FlattenedElf,
                _ => Format::FlattenedKdump,
            };
            return Ok(d);
        }
        if head[..4] == elfcorehdr::raw::ELF_MAGIC {
            let layout = elf::parse(&source)?;
            let mut d = Dump {
                source,
                body: Body::Elf(layout),
                format: Format::Elf,
                page_size: 4096,
            };
            d.page_size = d.vmcoreinfo_page_size().unwrap_or(4096);
            return Ok(d);
        }
        if kdump::is_kdump(&head) {
            let k = KdumpFile::parse(&source)?;
            let format = if &head[..8] == kdump::DISKDUMP_SIGNATURE {
                Format::Diskdump
            } else {
                Format::Kdump
            };
            let page_size = k.block_size();
            return Ok(Dump {
                source,
                body: Body::Kdump(Box::new(k)),
                format,
                page_size,
            });
        }
        Err(Error::UnknownFormat { found: head })
    }

    fn vmcoreinfo_page_size(&self) -> Option<u64> {
        let text = self.vmcoreinfo_bytes().ok()??;
        let v = elfcorehdr::VmcoreInfo::parse(&text).ok()?;
        v.page_size()
            .ok()?
            .filter(|p| p.is_power_of_two() && *p >= 512)
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Size of the (rebuilt, for flattened streams) file in bytes.
    pub fn file_len(&self) -> u64 {
        self.source.len()
    }

    /// The ELF layout, for ELF dumps.
    pub fn elf(&self) -> Option<&ElfLayout> {
        match &self.body {
            Body::Elf(e) => Some(e),
            Body::Kdump(_) => None,
        }
    }

    /// The record index of a flattened stream (see [`FlatIndex::rebuild`]).
    pub fn flattened(&self) -> Option<&FlatIndex> {
        match &self.source {
            Source::Flat(f) => Some(f),
            _ => None,
        }
    }

    /// The kdump-compressed headers, for kdump dumps.
    pub fn kdump(&self) -> Option<&KdumpFile> {
        match &self.body {
            Body::Kdump(k) => Some(k),
            Body::Elf(_) => None,
        }
    }

    /// Block `pfn` of a kdump-compressed dump as the file stores it (codec flags and
    /// stored bytes, not decompressed), for copying pages between dumps without
    /// recompressing them (`--reassemble`); `None` when this file stores no data for it (a
    /// hole, an excluded page, another part's range, or not a kdump-compressed dump).
    pub fn stored_block(&self, pfn: u64) -> Result<Option<crate::kdump::StoredBlock>> {
        use crate::kdump::StoredBlock;
        let Body::Kdump(k) = &self.body else {
            return Ok(None);
        };
        let BlockState::Dumped(i) = k.block_state(pfn) else {
            return Ok(None);
        };
        let d = k.desc(i, &self.source)?;
        if d.offset == 0 && k.is_incomplete() {
            return Ok(Some(StoredBlock::Lost));
        }
        if k.is_zero_desc(&d) {
            return Ok(Some(StoredBlock::Zero));
        }
        if u64::from(d.size) > k.block_size() || d.size == 0 {
            return Err(Error::BadField {
                field: "page_desc.size",
                offset: k.desc_offset(i),
                value: u64::from(d.size),
                expected: "1 ..= block_size",
            });
        }
        let bytes = self
            .source
            .read_vec("page data", d.offset, u64::from(d.size))?;
        Ok(Some(StoredBlock::Data {
            flags: d.flags,
            bytes,
        }))
    }

    /// Byte order of the dumped machine.
    pub fn endian(&self) -> Endian {
        match &self.body {
            Body::Elf(e) => e.header.endian,
            Body::Kdump(k) => match k.header.byte_order {
                kdump::ByteOrder::Little => Endian::Little,
                kdump::ByteOrder::Big => Endian::Big,
            },
        }
    }

    /// The ELF machine of the dumped system (from `e_machine`, or from `utsname.machine`).
    pub fn machine(&self) -> Machine {
        match &self.body {
            Body::Elf(e) => e.header.machine,
            Body::Kdump(k) => match machine_from_uname(&k.header.utsname[4]) {
                Machine(0) => self.machine_from_vmcoreinfo().unwrap_or(Machine(0)),
                m => m,
            },
        }
    }

    /// QEMU writes `utsname.machine = "Unknown"` in its kdump-compressed output; the
    /// architecture then shows in the keys its VMCOREINFO carries.
    fn machine_from_vmcoreinfo(&self) -> Option<Machine> {
        let text = self.vmcoreinfo_bytes().ok()??;
        let has = |key: &[u8]| text.windows(key.len()).any(|w| w == key);
        if has(b"SYMBOL(init_top_pgt)=") || has(b"NUMBER(pgtable_l5_enabled)=") {
            Some(Machine(62))
        } else if has(b"NUMBER(kimage_voffset)=") {
            Some(Machine(183))
        } else {
            None
        }
    }

    /// The raw notes of the dump: the `PT_NOTE` segments of an ELF dump, or the note copy of a
    /// kdump-compressed one (header version 4 and later). Each with its file offset.
    pub fn note_segments(&self) -> Vec<(u64, &[u8])> {
        match &self.body {
            Body::Elf(e) => e.notes.iter().map(|(o, d)| (*o, d.as_slice())).collect(),
            Body::Kdump(k) => k.notes.iter().map(|(o, d)| (*o, d.as_slice())).collect(),
        }
    }

    /// The VMCOREINFO text (the note's descriptor, trailing NULs kept), if the dump has one.
    pub fn vmcoreinfo_bytes(&self) -> Result<Option<Vec<u8>>> {
        let endian = self.endian();
        for (off, data) in self.note_segments() {
            for n in Notes::with_base(data, endian, off) {
                let n = n?;
                if n.name == elfcorehdr::VMCOREINFO_NOTE_NAME && n.n_type == 0 {
                    return Ok(Some(n.desc.to_vec()));
                }
            }
        }
        if let Body::Kdump(k) = &self.body {
            return Ok(k.vmcoreinfo.clone());
        }
        Ok(None)
    }

    /// The eraseinfo text of a kdump-compressed dump (`kdump_sub_header.offset_eraseinfo`,
    /// `size_eraseinfo`, header version 5 and later) or of an ELF dump (its `ERASEINFO`
    /// note): makedumpfile's lines
    /// `erase EXPR size N` / `erase EXPR nullify` saying what `--config` erased), if any.
    pub fn eraseinfo(&self) -> Result<Option<Vec<u8>>> {
        let Body::Kdump(k) = &self.body else {
            // ELF (`makedumpfile -E`): the text is the descriptor of an `ERASEINFO` note
            // (makedumpfile `write_elf_eraseinfo`).
            let endian = self.endian();
            for (off, data) in self.note_segments() {
                for n in Notes::with_base(data, endian, off) {
                    let n = n?;
                    if n.name == b"ERASEINFO" && n.n_type == 0 {
                        return Ok(Some(n.desc.to_vec()));
                    }
                }
            }
            return Ok(None);
        };
        match k.sub.eraseinfo {
            Some((off, size)) if size > 0 && off > 0 => {
                if size > MAX_ERASEINFO {
                    return Err(Error::TooLarge {
                        what: "eraseinfo",
                        size,
                        limit: MAX_ERASEINFO,
                    });
                }
                self.source.read_vec("eraseinfo", off, size).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The CPUs' states from `NT_PRSTATUS` (and QEMU's CPU notes), in note order.
    pub fn cpus(&self) -> Result<Vec<CpuState>> {
        let endian = self.endian();
        let machine = self.machine();
        let mut pr = Vec::new();
        let mut qemu = Vec::new();
        for (off, data) in self.note_segments() {
            for n in Notes::with_base(data, endian, off) {
                let n = n?;
                match n.decode(machine, endian) {
                    Ok(DecodedNote::PrStatus(p)) => pr.push(p),
                    Ok(DecodedNote::QemuCpuState(q)) => qemu.push(q),
                    _ => {}
                }
            }
        }
        let count = pr.len().max(qemu.len());
        Ok((0..count)
            .map(|i| CpuState {
                index: i,
                prstatus: pr.get(i).cloned(),
                qemu: qemu.get(i).cloned(),
            })
            .collect())
    }

    /// The `phys_base` a kdump-compressed header records (x86_64), if any.
    pub fn header_phys_base(&self) -> Option<u64> {
        self.kdump().map(|k| k.sub.phys_base)
    }

    /// Physical ranges `[start, end)` of the memory the dump describes (present, zero or
    /// excluded; holes left out), merged, ascending.
    pub fn memory_ranges(&self) -> Vec<(u64, u64)> {
        match &self.body {
            Body::Elf(e) => e.memory_ranges(),
            Body::Kdump(k) => {
                let bs = self.page_size;
                k.runs(false)
                    .into_iter()
                    .map(|(s, e)| (s.saturating_mul(bs), e.saturating_mul(bs)))
                    .collect()
            }
        }
    }

    /// Counts of pages by state over every page of the memory the dump describes: (present,
    /// zero, excluded, lost). For ELF dumps, zero pages are found by reading present pages.
    pub fn page_counts(&self) -> Result<PageCounts> {
        let mut c = PageCounts::default();
        let ps = self.page_size;
        match &self.body {
            Body::Kdump(k) => {
                for pfn in 0..k.max_mapnr {
                    match k.block_state(pfn) {
                        BlockState::Hole | BlockState::OtherPart => {}
                        BlockState::Excluded => c.excluded += 1,
                        BlockState::Dumped(i) => {
                            let d = k.desc(i, &self.source)?;
                            if d.offset == 0 && k.is_incomplete() {
                                c.lost += 1;
                            } else if k.is_zero_desc(&d) {
                                c.zero += 1;
                            } else {
                                c.present += 1;
                            }
                        }
                    }
                }
            }
            Body::Elf(e) => {
                // Read the file bytes in large chunks (positioned reads, not the mapping) and
                // fold them into pages; a page split between two segments counts once.
                let mut buf = vec![0u8; 1 << 20];
                let mut page: Option<(u64, bool)> = None;
                let flush = |c: &mut PageCounts, page: Option<(u64, bool)>| match page {
                    Some((_, true)) => c.present += 1,
                    Some((_, false)) => c.zero += 1,
                    None => {}
                };
                for (s, end) in e.present_ranges() {
                    let mut p = s;
                    while p < end {
                        let Where::File { offset, run } = e.locate(p) else {
                            break;
                        };
                        let n = min_len(run.min(end - p), buf.len());
                        let chunk = &mut buf[..n];
                        self.source.read_bulk("PT_LOAD data", offset, chunk)?;
                        let mut at = 0usize;
                        while at < n {
                            let addr = p + at as u64;
                            let pfn = addr / ps;
                            let take = min_len(ps - addr % ps, n - at);
                            let nonzero = chunk[at..at + take].iter().any(|&b| b != 0);
                            match &mut page {
                                Some((cur, nz)) if *cur == pfn => *nz |= nonzero,
                                _ => {
                                    flush(&mut c, page);
                                    page = Some((pfn, nonzero));
                                }
                            }
                            at += take;
                        }
                        p += n as u64;
                    }
                }
                flush(&mut c, page);
                // Excluded: memory of segments not covered by any segment's file bytes,
                // computed on the merged ranges (p_memsz is hostile: never walk it page by page).
                let present = e.present_ranges();
                for (s, end) in e.memory_ranges() {
                    let mut cursor = s;
                    for &(ps_start, ps_end) in &present {
                        if ps_end <= cursor || ps_start >= end {
                            continue;
                        }
                        if ps_start > cursor {
                            c.excluded += (ps_start - cursor).div_ceil(ps);
                        }
                        cursor = cursor.max(ps_end);
                    }
                    if cursor < end {
                        c.excluded += (end - cursor).div_ceil(ps);
                    }
                }
            }
        }
        Ok(c)
    }
}

/// Page counts of a dump, in [`PhysMemory::page_size`] units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageCounts {
    /// Pages with non-zero content in the dump.
    pub present: u64,
    /// Pages stored as zero.
    pub zero: u64,
    /// Pages filtered out.
    pub excluded: u64,
    /// Pages lost to an incomplete dump.
    pub lost: u64,
}

fn file_source(file: File, windows: bool) -> Result<Source> {
    let len = file
        .metadata()
        .map_err(|source| Error::Io {
            what: "dump file metadata",
            offset: 0,
            source,
        })?
        .len();
    Ok(Source::File { file, len, windows })
}

/// The ELF machine for a `uname -m` string.
pub fn machine_from_uname(m: &str) -> Machine {
    Machine(match m {
        "x86_64" => 62,
        "i386" | "i486" | "i586" | "i686" | "x86" => 3,
        "aarch64" | "arm64" => 183,
        "ppc64" | "ppc64le" => 21,
        "ppc" => 20,
        "s390x" | "s390" => 22,
        "riscv64" | "riscv32" => 243,
        "loongarch64" => 258,
        "mips" | "mips64" => 8,
        m if m.starts_with("arm") => 40,
        _ => 0,
    })
}

impl PhysMemory for Dump {
    fn page_size(&self) -> u64 {
        self.page_size
    }

    fn page_state(&self, paddr: u64) -> Result<PageState> {
        Ok(match &self.body {
            Body::Elf(e) => match e.locate(paddr) {
                Where::File { .. } => PageState::Present,
                Where::Excluded { .. } => PageState::Excluded,
                Where::Absent { .. } => PageState::NotInDump,
            },
            Body::Kdump(k) => match k.block_state(paddr / self.page_size) {
                BlockState::Hole | BlockState::OtherPart => PageState::NotInDump,
                BlockState::Excluded => PageState::Excluded,
                BlockState::Dumped(i) => {
                    let d = k.desc(i, &self.source)?;
                    if d.offset == 0 && k.is_incomplete() {
                        PageState::Lost
                    } else if k.is_zero_desc(&d) {
                        PageState::Zero
                    } else {
                        PageState::Present
                    }
                }
            },
        })
    }

    fn read_phys_with(&self, paddr: u64, buf: &mut [u8], excluded: Excluded) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = paddr
                .checked_add(done as u64)
                .ok_or(Error::NotInDump { paddr })?;
            let want = buf.len() - done;
            let out = &mut buf[done..];
            let n = match &self.body {
                Body::Elf(e) => match e.locate(at) {
                    Where::File { offset, run } => {
                        let n = min_len(run, want);
                        self.source
                            .read_exact_at("PT_LOAD data", offset, &mut out[..n])?;
                        n
                    }
                    Where::Excluded { run } => {
                        let Excluded::Fill(v) = excluded else {
                            return Err(Error::Excluded { paddr: at });
                        };
                        let n = min_len(run, want);
                        out[..n].fill(v);
                        n
                    }
                    Where::Absent { .. } => return Err(Error::NotInDump { paddr: at }),
                },
                Body::Kdump(k) => {
                    let bs = self.page_size;
                    let pfn = at / bs;
                    let within = at % bs;
                    let n = min_len(bs - within, want);
                    match k.block_state(pfn) {
                        BlockState::Hole | BlockState::OtherPart => {
                            return Err(Error::NotInDump { paddr: at });
                        }
                        BlockState::Excluded => {
                            let Excluded::Fill(v) = excluded else {
                                return Err(Error::Excluded { paddr: at });
                            };
                            out[..n].fill(v);
                        }
                        BlockState::Dumped(i) => {
                            if within == 0 && n as u64 == bs {
                                k.read_block(pfn, i, &self.source, &mut out[..n])?;
                            } else {
                                let mut block = vec![0u8; to_usize("dump block", bs)?];
                                k.read_block(pfn, i, &self.source, &mut block)?;
                                // `within < bs`, the block's length.
                                let within = min_len(within, block.len());
                                out[..n].copy_from_slice(&block[within..within + n]);
                            }
                        }
                    }
                    n
                }
            };
            done += n;
        }
        Ok(())
    }

    fn present_ranges(&self) -> Vec<(u64, u64)> {
        match &self.body {
            Body::Elf(e) => e.present_ranges(),
            Body::Kdump(k) => {
                let bs = self.page_size;
                k.runs(true)
                    .into_iter()
                    .map(|(s, e)| (s.saturating_mul(bs), e.saturating_mul(bs)))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window never reaches past the end of the file, even where a PT_LOAD says the file
    /// holds more (mapping it would raise SIGBUS when touched).
    #[test]
    fn windows_stop_at_the_end_of_the_file() {
        let target = elfcorehdr::Target::x86_64();
        let ram = vec![0x5au8; 64 << 10];
        let full = crate::synth::elf_dump(target, &[(0x10_0000, ram)], &[]);
        let seg = Dump::from_bytes(full.clone())
            .unwrap()
            .elf()
            .unwrap()
            .segments[0]
            .offset;
        let cut = usize::try_from(seg).unwrap() + (16 << 10);
        let path =
            std::env::temp_dir().join(format!("vmcore-reader-window-{}.elf", std::process::id()));
        std::fs::write(&path, &full[..cut]).unwrap();
        let file = File::open(&path).unwrap();
        // As for `/proc/vmcore`: windows allowed.
        let len = file.metadata().unwrap().len();
        let dump = Dump::from_source(Source::File {
            file,
            len,
            windows: true,
        })
        .unwrap();
        let inside = dump.map_phys(0x10_0000, 16 << 10).unwrap();
        assert!(inside.iter().all(|&b| b == 0x5a));
        assert!(dump.map_phys(0x10_0000, 32 << 10).is_none());
        assert!(dump.map_phys(0x10_0000 + (16 << 10), 4096).is_none());
        std::fs::remove_file(&path).unwrap();
    }

    /// Windows on a source that allows them (as `/proc/vmcore` does) equal reads, stay
    /// inside one PT_LOAD's file data, and are refused for inputs that are not a file.
    #[test]
    fn map_phys_windows_equal_reads_and_stay_inside_one_segment() {
        let target = elfcorehdr::Target::x86_64();
        let pattern = |n: usize, k: u8| -> Vec<u8> {
            (0..n)
                .map(|i| (i % 251).to_le_bytes()[0] ^ k)
                .collect::<Vec<u8>>()
        };
        let elf = crate::synth::elf_dump(
            target,
            &[
                (0x10_0000, pattern(64 << 10, 1)),
                (0x20_0000, pattern(32 << 10, 2)),
            ],
            &[],
        );
        let path =
            std::env::temp_dir().join(format!("vmcore-reader-windows-{}.elf", std::process::id()));
        std::fs::write(&path, &elf).unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let dump = Dump::from_source(Source::File {
            file,
            len,
            windows: true,
        })
        .unwrap();
        let ranges = dump.present_ranges();
        assert_eq!(ranges.len(), 2);
        for &(s, e) in &ranges {
            let whole = usize::try_from(e - s).unwrap();
            // Whole pages inside the range, from an unaligned start too.
            for (from, len) in [(s, 4096), (s + 100, 8192), (s, whole)] {
                let w = dump
                    .map_phys(from, len)
                    .expect("file data of one PT_LOAD maps");
                assert_eq!(w.len(), len);
                let mut r = vec![0u8; len];
                dump.read_phys(from, &mut r).unwrap();
                assert!(
                    w[..] == r[..],
                    "window at {from:#x}+{len:#x} differs from a read"
                );
            }
            // Past the segment's file data: no window.
            assert!(dump.map_phys(e - 4096, 8192).is_none());
        }
        assert!(dump.map_phys(0, 0).is_none());
        // Inputs that are not an ELF file on disk do not map.
        let bytes = Dump::from_bytes(elf).unwrap();
        assert!(bytes.map_phys(ranges[0].0, 4096).is_none());
        std::fs::remove_file(&path).unwrap();
    }

    /// A regular file is never mapped: another process could truncate it under us.
    #[test]
    fn regular_files_are_read_not_mapped() {
        let target = elfcorehdr::Target::x86_64();
        let full = crate::synth::elf_dump(target, &[(0x10_0000, vec![1u8; 8192])], &[]);
        let path =
            std::env::temp_dir().join(format!("vmcore-reader-regular-{}.elf", std::process::id()));
        std::fs::write(&path, &full).unwrap();
        let dump = Dump::open(&path).unwrap();
        assert!(matches!(dump.source, Source::File { windows: false, .. }));
        assert!(dump.map_phys(0x10_0000, 4096).is_none());
        let mut b = [0u8; 4096];
        dump.read_phys(0x10_0000, &mut b).unwrap();
        assert_eq!(b, [1u8; 4096]);
        std::fs::remove_file(&path).unwrap();
    }
}

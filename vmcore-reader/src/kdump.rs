//! The kdump-compressed format ("KDUMP   ", and the old "DISKDUMP"): header versions 1 to 6,
//! in the dumped machine's byte order and word size.
//!
//! Facts: `formats.md`, from makedumpfile `diskdump_mod.h` (`struct disk_dump_header`,
//! `struct kdump_sub_header`, `page_desc_t`, the `DUMP_DH_*` bits), crash `diskdump.c` (the
//! 32-bit ARM sub-header whose `off_t` fields are 8-byte aligned) and libkdumpfile
//! `diskdump.c` (the 32-bit "pack" and "pad" sub-headers). The layout is chosen from the file
//! (`utsname.machine`, and the byte order under which `header_version` and `block_size` make
//! sense), never from the host.
//!
//! A block is `block_size` bytes, usually the kernel's page size; QEMU writes 64 KiB blocks
//! for arm64 guests with 4 KiB pages, so everything here counts in blocks.

#![forbid(unsafe_code)]

use std::sync::Mutex;

use crate::codec::{self, Codec};
use crate::error::{Error, Result, add, min_len, mul, to_usize};
use crate::source::Source;

/// The current signature.
pub const KDUMP_SIGNATURE: &[u8; 8] = b"KDUMP   ";
/// The old diskdump signature.
pub const DISKDUMP_SIGNATURE: &[u8; 8] = b"DISKDUMP";

/// `disk_dump_header.status` bits.
pub mod status {
    /// Pages may be zlib-compressed.
    pub const ZLIB: u32 = 0x1;
    /// Pages may be LZO-compressed.
    pub const LZO: u32 = 0x2;
    /// Pages may be snappy-compressed.
    pub const SNAPPY: u32 = 0x4;
    /// The dump stopped early (ENOSPC or `-L`).
    pub const INCOMPLETE: u32 = 0x8;
    /// vmemmap pages were excluded.
    pub const EXCLUDED_VMEMMAP: u32 = 0x10;
    /// Pages may be zstd-compressed.
    pub const ZSTD: u32 = 0x20;
}

/// Size of one `page_desc_t` (`off_t offset; unsigned size, flags; u64 page_flags`): 24 bytes
/// on every architecture makedumpfile supports (its `off_t` is always 64-bit).
pub const PAGE_DESC_SIZE: u64 = PAGE_DESC_LEN as u64;
pub(crate) const PAGE_DESC_LEN: usize = 24;
const MAX_BITMAP: u64 = 1 << 32;
const NEW_UTS_LEN: usize = 65;

/// Byte order of the dumped machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Little endian.
    Little,
    /// Big endian.
    Big,
}

/// Word size and sub-header layout of the dumped machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordSize {
    /// LP64.
    Bits64,
    /// ILP32 with 4-byte-aligned 64-bit fields (i386 and most 32-bit ABIs).
    Bits32Packed,
    /// ILP32 with 8-byte-aligned 64-bit fields (32-bit ARM EABI, and 32-bit MIPS/PowerPC).
    Bits32Padded,
}

impl WordSize {
    fn long(self) -> usize {
        match self {
            WordSize::Bits64 => 8,
            _ => 4,
        }
    }
}

pub(crate) fn rd(order: ByteOrder, b: &[u8], at: usize, len: usize) -> u64 {
    let Some(s) = b.get(at..at + len) else {
        return 0;
    };
    let mut v = 0u64;
    match order {
        ByteOrder::Big => s.iter().for_each(|&x| v = (v << 8) | u64::from(x)),
        ByteOrder::Little => s.iter().rev().for_each(|&x| v = (v << 8) | u64::from(x)),
    }
    v
}

/// A 4-byte field (0 past the end of `b`, as [`rd`]).
pub(crate) fn rd32(order: ByteOrder, b: &[u8], at: usize) -> u32 {
    let Some(s) = b.get(at..).and_then(|s| s.first_chunk::<4>()) else {
        return 0;
    };
    match order {
        ByteOrder::Big => u32::from_be_bytes(*s),
        ByteOrder::Little => u32::from_le_bytes(*s),
    }
}

/// A 4-byte signed field (C `int`).
fn rd_i32(order: ByteOrder, b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(rd32(order, b, at).to_ne_bytes())
}

/// The `disk_dump_header` fields, widened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDumpHeader {
    /// `"KDUMP   "` or `"DISKDUMP"`.
    pub signature: [u8; 8],
    /// `header_version`.
    pub header_version: u32,
    /// `utsname`: sysname, nodename, release, version, machine, domainname.
    pub utsname: [String; 6],
    /// `timestamp` seconds.
    pub timestamp_sec: u64,
    /// `timestamp` microseconds.
    pub timestamp_usec: u64,
    /// `status` (see [`status`]).
    pub status: u32,
    /// `block_size`.
    pub block_size: u32,
    /// `sub_hdr_size` in blocks.
    pub sub_hdr_size: u32,
    /// `bitmap_blocks`.
    pub bitmap_blocks: u32,
    /// `max_mapnr` (32 bits; see [`KdumpSubHeader::max_mapnr_64`]).
    pub max_mapnr: u32,
    /// `nr_cpus`.
    pub nr_cpus: u32,
    /// Byte order chosen for the file.
    pub byte_order: ByteOrder,
    /// Word size chosen for the file.
    pub word_size: WordSize,
}

/// The `kdump_sub_header` fields present in this header version, widened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KdumpSubHeader {
    /// `phys_base`.
    pub phys_base: u64,
    /// `dump_level`.
    pub dump_level: i32,
    /// `split` (header v2).
    pub split: i32,
    /// `start_pfn` / `start_pfn_64` (header v2/v6).
    pub start_pfn: u64,
    /// `end_pfn` / `end_pfn_64` (header v2/v6).
    pub end_pfn: u64,
    /// `offset_vmcoreinfo`, `size_vmcoreinfo` (header v3).
    pub vmcoreinfo: Option<(u64, u64)>,
    /// `offset_note`, `size_note` (header v4).
    pub note: Option<(u64, u64)>,
    /// `offset_eraseinfo`, `size_eraseinfo` (header v5).
    pub eraseinfo: Option<(u64, u64)>,
    /// `max_mapnr_64` (header v6).
    pub max_mapnr_64: Option<u64>,
}

/// Whether `head` starts a kdump-compressed file.
pub fn is_kdump(head: &[u8]) -> bool {
    head.len() >= 8 && (&head[..8] == KDUMP_SIGNATURE || &head[..8] == DISKDUMP_SIGNATURE)
}

fn word_size_for(machine: &str) -> Option<WordSize> {
    Some(match machine {
        "x86_64" | "aarch64" | "arm64" | "ppc64" | "ppc64le" | "s390x" | "riscv64"
        | "loongarch64" | "mips64" | "sparc64" | "ia64" | "alpha" => WordSize::Bits64,
        "i386" | "i486" | "i586" | "i686" | "x86" | "s390" | "riscv32" => WordSize::Bits32Packed,
        m if m.starts_with("arm") || m.starts_with("ppc") || m.starts_with("mips") => {
            WordSize::Bits32Padded
        }
        _ => return None,
    })
}

fn plausible(order: ByteOrder, b: &[u8], ws: WordSize) -> bool {
    let v = rd(order, b, 8, 4);
    let base = if ws == WordSize::Bits64 { 424 } else { 412 };
    let bs = rd(order, b, base + 4, 4);
    (1..=64).contains(&v) && bs.is_power_of_two() && (512..=1 << 20).contains(&bs)
}

/// Parses `disk_dump_header` from the file's first block (at least 464 bytes).
pub fn parse_header(b: &[u8]) -> Result<DiskDumpHeader> {
    if b.len() < 464 {
        return Err(Error::Truncated {
            what: "disk_dump_header",
            offset: 0,
            len: 464,
            available: b.len() as u64,
        });
    }
    if !is_kdump(b) {
        let mut found = [0; 16];
        found.copy_from_slice(&b[..16]);
        return Err(Error::UnknownFormat { found });
    }
    let uts = |i: usize| {
        let s = &b[12 + i * NEW_UTS_LEN..12 + (i + 1) * NEW_UTS_LEN];
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    };
    let machine = uts(4);
    let candidates: Vec<WordSize> = match word_size_for(&machine) {
        Some(w) => vec![w],
        None => vec![WordSize::Bits64, WordSize::Bits32Packed],
    };
    let mut chosen = None;
    'outer: for ws in candidates {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            if plausible(order, b, ws) {
                chosen = Some((order, ws));
                break 'outer;
            }
        }
    }
    let Some((order, ws)) = chosen else {
        return Err(Error::BadField {
            field: "disk_dump_header.header_version/block_size",
            offset: 8,
            value: rd(ByteOrder::Little, b, 8, 4),
            expected: "a version 1..64 and a power-of-two block size in either byte order",
        });
    };
    let (ts, tsl, base) = if ws == WordSize::Bits64 {
        (408, 8, 424)
    } else {
        (404, 4, 412)
    };
    let f = |i: usize| rd32(order, b, base + 4 * i);
    let mut signature = [0; 8];
    signature.copy_from_slice(&b[..8]);
    Ok(DiskDumpHeader {
        signature,
        header_version: rd32(order, b, 8),
        utsname: [uts(0), uts(1), uts(2), uts(3), machine, uts(5)],
        timestamp_sec: rd(order, b, ts, tsl),
        timestamp_usec: rd(order, b, ts + tsl, tsl),
        status: f(0),
        block_size: f(1),
        sub_hdr_size: f(2),
        bitmap_blocks: f(3),
        max_mapnr: f(4),
        nr_cpus: f(9),
        byte_order: order,
        word_size: ws,
    })
}

/// Parses `kdump_sub_header` (at file offset `block_size`) for header `h`.
pub fn parse_sub_header(h: &DiskDumpHeader, b: &[u8]) -> Result<KdumpSubHeader> {
    let o = h.byte_order;
    let l = h.word_size.long();
    // Offsets: phys_base, dump_level, split, start_pfn, end_pfn, off_vmcoreinfo, size_vmcoreinfo,
    // off_note, size_note, off_eraseinfo, size_eraseinfo, start_pfn_64, end_pfn_64, max_mapnr_64.
    let offs: [usize; 14] = match h.word_size {
        WordSize::Bits64 => [0, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96],
        WordSize::Bits32Packed => [0, 4, 8, 12, 16, 20, 28, 32, 40, 44, 52, 56, 64, 72],
        WordSize::Bits32Padded => [0, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88],
    };
    let v = h.header_version;
    let need = if v >= 6 {
        offs[13] + 8
    } else if v >= 5 {
        offs[10] + l
    } else if v >= 4 {
        offs[8] + l
    } else if v >= 3 {
        offs[6] + l
    } else if v >= 2 {
        offs[4] + l
    } else {
        offs[1] + 4
    };
    if b.len() < need {
        return Err(Error::Truncated {
            what: "kdump_sub_header",
            offset: u64::from(h.block_size),
            len: need as u64,
            available: b.len() as u64,
        });
    }
    let pair = |a: usize, s: usize| (rd(o, b, offs[a], 8), rd(o, b, offs[s], l));
    let mut sh = KdumpSubHeader {
        phys_base: rd(o, b, offs[0], l),
        dump_level: rd_i32(o, b, offs[1]),
        ..KdumpSubHeader::default()
    };
    if v >= 2 {
        sh.split = rd_i32(o, b, offs[2]);
        sh.start_pfn = rd(o, b, offs[3], l);
        sh.end_pfn = rd(o, b, offs[4], l);
    }
    if v >= 3 {
        sh.vmcoreinfo = Some(pair(5, 6));
    }
    if v >= 4 {
        sh.note = Some(pair(7, 8));
    }
    if v >= 5 {
        sh.eraseinfo = Some(pair(9, 10));
    }
    if v >= 6 {
        sh.start_pfn = rd(o, b, offs[11], 8);
        sh.end_pfn = rd(o, b, offs[12], 8);
        sh.max_mapnr_64 = Some(rd(o, b, offs[13], 8));
    }
    Ok(sh)
}

/// One `page_desc_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageDesc {
    /// File offset of the page data (0 in an incomplete dump: lost).
    pub offset: u64,
    /// Stored size.
    pub size: u32,
    /// Codec flags (`DUMP_DH_COMPRESSED_*`), 0 for a raw page.
    pub flags: u32,
    /// `page_flags` (always 0 from makedumpfile).
    pub page_flags: u64,
}

/// Decodes one page descriptor.
pub fn parse_page_desc(order: ByteOrder, b: &[u8; 24]) -> PageDesc {
    PageDesc {
        offset: rd(order, b, 0, 8),
        size: rd32(order, b, 8),
        flags: rd32(order, b, 12),
        page_flags: rd(order, b, 16, 8),
    }
}

/// The state of one block of a kdump-compressed dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockState {
    Hole,
    Excluded,
    Dumped(u64),
    /// Part of the dump, but stored in another file of a split set (`--split`).
    OtherPart,
}

/// One block as a kdump-compressed file stores it (see `Dump::stored_block`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredBlock {
    /// The descriptor points at the shared zero block.
    Zero,
    /// The dump is incomplete and this block was not written (descriptor offset 0).
    Lost,
    /// Stored bytes and the descriptor's codec flags (0: raw).
    Data {
        /// `page_desc.flags`.
        flags: u32,
        /// The stored (compressed or raw) bytes, `page_desc.size` of them.
        bytes: Vec<u8>,
    },
}

/// A parsed kdump-compressed dump.
#[derive(Debug)]
pub struct KdumpFile {
    /// The main header.
    pub header: DiskDumpHeader,
    /// The sub-header.
    pub sub: KdumpSubHeader,
    /// Number of blocks the bitmaps describe.
    pub max_mapnr: u64,
    bitmap1: Vec<u8>,
    bitmap2: Vec<u8>,
    /// Set bits of bitmap 2 before each 4096-bit chunk.
    rank: Vec<u64>,
    dumpable: u64,
    /// `[start_pfn, end_pfn)` of a part of a split set (`split != 0`).
    split: Option<(u64, u64)>,
    /// Set bits of bitmap 2 before `start_pfn`: a part's descriptors start with its range.
    first_index: u64,
    desc_start: u64,
    zero_page: Option<u64>,
    /// VMCOREINFO text copied into the header area.
    pub vmcoreinfo: Option<Vec<u8>>,
    /// The copied `PT_NOTE` bytes and their file offset.
    pub notes: Option<(u64, Vec<u8>)>,
    cache: Mutex<Vec<CachedBlock>>,
}

/// One slot of the decompressed-block cache: block number and contents.
type CachedBlock = Option<(u64, Vec<u8>)>;

const RANK_BITS: u64 = 4096;
const RANK_BYTES: usize = 4096 / 8;
const CACHE_SLOTS: usize = 64;

impl KdumpFile {
    pub(crate) fn parse(src: &Source) -> Result<KdumpFile> {
        let mut b0 = vec![0u8; 512.min(usize::try_from(src.len()).unwrap_or(512))];
        src.read_exact_at("disk_dump_header", 0, &mut b0)?;
        let header = parse_header(&b0)?;
        let bs = u64::from(header.block_size);
        let sub_len = mul("kdump_sub_header size", u64::from(header.sub_hdr_size), bs)?;
        let sub_read = sub_len.clamp(128, 4096).min(src.len().saturating_sub(bs));
        let sub_bytes = src.read_vec("kdump_sub_header", bs, sub_read)?;
        // The old diskdump's sub-header is arch-specific, not makedumpfile's: only the block
        // layout is shared (crash `diskdump.c`).
        let sub = if header.header_version >= 1 && &header.signature == KDUMP_SIGNATURE {
            parse_sub_header(&header, &sub_bytes)?
        } else {
            KdumpSubHeader::default()
        };
        let max_mapnr = sub.max_mapnr_64.unwrap_or(u64::from(header.max_mapnr));
        let bitmap_off = mul(
            "bitmap offset",
            add("bitmap offset", 1, u64::from(header.sub_hdr_size))?,
            bs,
        )?;
        let bitmap_len = mul("bitmap length", u64::from(header.bitmap_blocks), bs)?;
        if bitmap_len > MAX_BITMAP {
            return Err(Error::TooLarge {
                what: "kdump bitmaps",
                size: bitmap_len,
                limit: MAX_BITMAP,
            });
        }
        let need = max_mapnr.div_ceil(8);
        let half = bitmap_len / 2;
        if half < need {
            return Err(Error::BadField {
                field: "disk_dump_header.bitmap_blocks",
                offset: 436,
                value: u64::from(header.bitmap_blocks),
                expected: "bitmaps covering max_mapnr",
            });
        }
        let both = src.read_vec("kdump bitmaps", bitmap_off, bitmap_len)?;
        // `need <= half <= bitmap_len`, the length of `both`, so both fit a `usize`.
        let need = to_usize("kdump bitmap", need)?;
        let half = to_usize("kdump bitmap", half)?;
        let bitmap1 = both[..need].to_vec();
        let bitmap2 = both[half..half + need].to_vec();
        drop(both);
        let mut rank = Vec::with_capacity(need.div_ceil(RANK_BYTES) + 1);
        let mut count = 0u64;
        for chunk in bitmap2.chunks(RANK_BYTES) {
            rank.push(count);
            count += chunk.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
        }
        let desc_start = add("page descriptors", bitmap_off, bitmap_len)?;
        let data_start = add(
            "page data",
            desc_start,
            mul("page descriptors", count, PAGE_DESC_SIZE)?,
        )?;
        let vmcoreinfo = match sub.vmcoreinfo {
            Some((off, size)) if size > 0 && off > 0 => {
                Some(src.read_vec("VMCOREINFO copy", off, size.min(1 << 20))?)
            }
            _ => None,
        };
        let notes = match sub.note {
            Some((off, size)) if size > 0 && off > 0 => {
                Some((off, src.read_vec("PT_NOTE copy", off, size.min(64 << 20))?))
            }
            _ => None,
        };
        // A part of a split set (makedumpfile `--split`, `write_kdump_header`): every part
        // holds both whole bitmaps and reserves descriptors for every dumpable pfn, but
        // writes the descriptors and data of `[start_pfn, end_pfn)` only, the first at
        // the start of the descriptor area.
        let split = if sub.split != 0 {
            if sub.start_pfn > sub.end_pfn || sub.end_pfn > max_mapnr {
                return Err(Error::BadField {
                    field: "kdump_sub_header.end_pfn",
                    offset: bs,
                    value: sub.end_pfn,
                    expected: "start_pfn <= end_pfn <= max_mapnr",
                });
            }
            Some((sub.start_pfn, sub.end_pfn))
        } else {
            None
        };
        let mut f = KdumpFile {
            header,
            sub,
            max_mapnr,
            bitmap1,
            bitmap2,
            rank,
            dumpable: count,
            split,
            first_index: 0,
            desc_start,
            zero_page: None,
            vmcoreinfo,
            notes,
            cache: Mutex::new(vec![None; CACHE_SLOTS]),
        };
        if let Some((start, _)) = split {
            f.first_index = f.set_before(start);
        }
        // makedumpfile writes one shared zero block right after the descriptors (dump level
        // bit 1); every zero pfn's descriptor points at it.
        // A descriptor pointing at an all-zero raw block there reads as zero by content,
        // so the check is by content alone.
        if count > 0 {
            let mut blk = vec![0u8; crate::error::to_usize("zero page", bs)?];
            if src.read_exact_at("zero page", data_start, &mut blk).is_ok()
                && blk.iter().all(|&x| x == 0)
            {
                f.zero_page = Some(data_start);
            }
        }
        Ok(f)
    }

    /// The block size.
    pub fn block_size(&self) -> u64 {
        u64::from(self.header.block_size)
    }

    /// Number of blocks stored (set bits in bitmap 2; for a part of a split set, the
    /// blocks of its range).
    pub fn dumpable_blocks(&self) -> u64 {
        match self.split {
            Some((_, end)) => self.set_before(end) - self.first_index,
            None => self.dumpable,
        }
    }

    /// Number of blocks the whole dump stores (set bits in bitmap 2), for a part of a split
    /// set too.
    pub fn dumpable_blocks_in_dump(&self) -> u64 {
        self.dumpable
    }

    /// Bitmap 1 ("not a hole"), `ceil(max_mapnr / 8)` bytes, LSB first.
    pub fn bitmap1(&self) -> &[u8] {
        &self.bitmap1
    }

    /// Bitmap 2 ("dumpable"), `ceil(max_mapnr / 8)` bytes, LSB first; for a part of a
    /// split set, that of the whole dump.
    pub fn bitmap2(&self) -> &[u8] {
        &self.bitmap2
    }

    /// `[start_pfn, end_pfn)` of this file when it is one part of a split set
    /// (`makedumpfile --split`); `None` for a whole dump.
    pub fn split_range(&self) -> Option<(u64, u64)> {
        self.split
    }

    /// Set bits of bitmap 2 below `pfn` (at most `max_mapnr`).
    fn set_before(&self, pfn: u64) -> u64 {
        let pfn = pfn.min(self.max_mapnr);
        let chunk = pfn / RANK_BITS;
        let Some(&r) = usize::try_from(chunk).ok().and_then(|c| self.rank.get(c)) else {
            return self.dumpable;
        };
        let start = chunk * (RANK_BYTES as u64);
        let byte = pfn >> 3;
        let whole = (start..byte)
            .filter_map(|i| usize::try_from(i).ok().and_then(|i| self.bitmap2.get(i)))
            .map(|b| u64::from(b.count_ones()))
            .sum::<u64>();
        let part = usize::try_from(byte)
            .ok()
            .and_then(|i| self.bitmap2.get(i))
            .map_or(0, |b| {
                u64::from((b & ((1u8 << (pfn & 7)) - 1)).count_ones())
            });
        r + whole + part
    }

    /// Whether the dump is marked incomplete.
    pub fn is_incomplete(&self) -> bool {
        self.header.status & status::INCOMPLETE != 0
    }

    fn bit(map: &[u8], pfn: u64) -> bool {
        usize::try_from(pfn >> 3)
            .ok()
            .and_then(|i| map.get(i))
            .is_some_and(|b| b & (1 << (pfn & 7)) != 0)
    }

    pub(crate) fn block_state(&self, pfn: u64) -> BlockState {
        if pfn >= self.max_mapnr {
            return BlockState::Hole;
        }
        if let Some((start, end)) = self.split {
            if pfn < start || pfn >= end {
                return BlockState::OtherPart;
            }
        }
        if !Self::bit(&self.bitmap2, pfn) {
            return if Self::bit(&self.bitmap1, pfn) {
                BlockState::Excluded
            } else {
                BlockState::Hole
            };
        }
        let chunk = (pfn / RANK_BITS) as usize;
        let mut r = self.rank[chunk];
        let start = chunk * RANK_BYTES;
        let byte = (pfn >> 3) as usize;
        r += self.bitmap2[start..byte]
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum::<u64>();
        r += u64::from((self.bitmap2[byte] & ((1u8 << (pfn & 7)) - 1)).count_ones());
        BlockState::Dumped(r - self.first_index)
    }

    /// File offset of descriptor `index` (saturating: for error reports).
    pub(crate) fn desc_offset(&self, index: u64) -> u64 {
        self.desc_start
            .saturating_add(index.saturating_mul(PAGE_DESC_SIZE))
    }

    pub(crate) fn desc(&self, index: u64, src: &Source) -> Result<PageDesc> {
        let off = add(
            "page descriptor",
            self.desc_start,
            mul("page descriptor", index, PAGE_DESC_SIZE)?,
        )?;
        let mut b = [0u8; 24];
        match src.read_exact_at("page descriptor", off, &mut b) {
            Ok(()) => Ok(parse_page_desc(self.header.byte_order, &b)),
            // An incomplete dump cut before this descriptor (a full disk, `-L`, a kill): the
            // page is lost, as a zeroed descriptor says.
            Err(Error::Truncated { .. }) if self.is_incomplete() => Ok(PageDesc {
                offset: 0,
                size: 0,
                flags: 0,
                page_flags: 0,
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether the descriptor points at the shared zero block.
    pub(crate) fn is_zero_desc(&self, d: &PageDesc) -> bool {
        self.zero_page == Some(d.offset) && d.flags == 0
    }

    /// Reads block `pfn` (already known to be dumped at descriptor `index`) into `out`.
    pub(crate) fn read_block(
        &self,
        pfn: u64,
        index: u64,
        src: &Source,
        out: &mut [u8],
    ) -> Result<()> {
        // The remainder is below `CACHE_SLOTS`.
        let slot = min_len(pfn % CACHE_SLOTS as u64, CACHE_SLOTS - 1);
        if let Ok(cache) = self.cache.lock() {
            if let Some((p, data)) = &cache[slot] {
                if *p == pfn {
                    out.copy_from_slice(data);
                    return Ok(());
                }
            }
        }
        let bs = self.block_size();
        let paddr = pfn.saturating_mul(bs);
        let d = self.desc(index, src)?;
        if d.offset == 0 && self.is_incomplete() {
            return Err(Error::Lost { paddr });
        }
        if u64::from(d.size) > bs || d.size == 0 {
            return Err(Error::BadField {
                field: "page_desc.size",
                offset: self.desc_start + index * PAGE_DESC_SIZE + 8,
                value: u64::from(d.size),
                expected: "1 ..= block_size",
            });
        }
        let codec = Codec::from_flags(d.flags).ok_or(Error::UnknownCodec {
            offset: self.desc_start + index * PAGE_DESC_SIZE,
            flags: d.flags,
        })?;
        match codec {
            Codec::None => {
                if u64::from(d.size) != bs {
                    return Err(Error::BadField {
                        field: "page_desc.size of a raw page",
                        offset: self.desc_start + index * PAGE_DESC_SIZE + 8,
                        value: u64::from(d.size),
                        expected: "block_size",
                    });
                }
                src.read_exact_at("page data", d.offset, out)?;
            }
            c if !codec::enabled(c) => {
                return Err(Error::CodecDisabled {
                    codec: c.name(),
                    offset: d.offset,
                });
            }
            c => {
                let mut tmp;
                let data = match src.slice(d.offset, d.size as usize) {
                    Some(s) => s,
                    None => {
                        tmp = vec![0u8; d.size as usize];
                        src.read_exact_at("compressed page", d.offset, &mut tmp)?;
                        &tmp[..]
                    }
                };
                codec::decompress(c, data, out).map_err(|detail| Error::Decompress {
                    codec: c.name(),
                    paddr,
                    offset: d.offset,
                    size: u64::from(d.size),
                    detail,
                })?;
            }
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache[slot] = Some((pfn, out.to_vec()));
        }
        Ok(())
    }

    /// Ranges of blocks `[start, end)` with bit `which` (1 or 2) set.
    /// A part of a split set reports its own range only.
    pub(crate) fn runs(&self, second: bool) -> Vec<(u64, u64)> {
        let map = if second { &self.bitmap2 } else { &self.bitmap1 };
        let (lo, hi) = self.split.unwrap_or((0, self.max_mapnr));
        let mut out = Vec::new();
        let mut start = None;
        for pfn in lo..hi {
            let set = Self::bit(map, pfn);
            match (set, start) {
                (true, None) => start = Some(pfn),
                (false, Some(s)) => {
                    out.push((s, pfn));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, hi));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(order: ByteOrder, machine: &str, ws: WordSize) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..8].copy_from_slice(KDUMP_SIGNATURE);
        let put = |b: &mut Vec<u8>, at: usize, v: u32| {
            let bytes = match order {
                ByteOrder::Little => v.to_le_bytes(),
                ByteOrder::Big => v.to_be_bytes(),
            };
            b[at..at + 4].copy_from_slice(&bytes);
        };
        put(&mut b, 8, 6);
        b[12 + 4 * 65..12 + 4 * 65 + machine.len()].copy_from_slice(machine.as_bytes());
        let base = if ws == WordSize::Bits64 { 424 } else { 412 };
        put(&mut b, base + 4, 4096);
        b
    }

    #[test]
    fn layout_comes_from_the_file() {
        for (order, machine, ws) in [
            (ByteOrder::Little, "x86_64", WordSize::Bits64),
            (ByteOrder::Big, "s390x", WordSize::Bits64),
            (ByteOrder::Big, "ppc64", WordSize::Bits64),
            (ByteOrder::Little, "i686", WordSize::Bits32Packed),
            (ByteOrder::Little, "armv7l", WordSize::Bits32Padded),
            (ByteOrder::Big, "mips", WordSize::Bits32Padded),
        ] {
            let h = parse_header(&header(order, machine, ws)).unwrap();
            assert_eq!(
                (h.byte_order, h.word_size, h.block_size),
                (order, ws, 4096),
                "{machine}"
            );
        }
    }

    #[test]
    fn implausible_headers_are_rejected() {
        let mut b = header(ByteOrder::Little, "x86_64", WordSize::Bits64);
        b[428..432].copy_from_slice(&3000u32.to_le_bytes());
        assert!(matches!(parse_header(&b), Err(Error::BadField { .. })));
        assert!(matches!(
            parse_header(&b[..100]),
            Err(Error::Truncated { .. })
        ));
    }
}

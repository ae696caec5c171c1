//! Small builders of synthetic dumps, for tests, examples and fuzz seeds: a kdump-compressed
//! writer for any byte order, word size, header version and block size, a flattened-stream
//! writer, an ELF dump writer over `elfcorehdr`, and an x86_64 kernel image fragment holding
//! a lockless printk ring buffer and page tables. They write what the readers expect from the
//! formats' sources (see the modules of this crate); they are not a capture tool.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use elfcorehdr::{DumpFileBuilder, DumpSegment, Endian, NoteWriter, Target};

use crate::kdump::{ByteOrder, PAGE_DESC_LEN, WordSize};

/// Writes the low `len` (at most 8) bytes of `v` at `at`.
fn put(order: ByteOrder, buf: &mut [u8], at: usize, len: usize, v: u64) {
    let le = v.to_le_bytes();
    for (i, &byte) in le.iter().enumerate().take(len) {
        let pos = match order {
            ByteOrder::Little => at + i,
            ByteOrder::Big => at + len - 1 - i,
        };
        buf[pos] = byte;
    }
}

/// A builder's offset or size as a `usize`: the builders make dumps in memory, so a value
/// that does not fit is a caller's mistake.
fn idx(v: u64) -> usize {
    usize::try_from(v).expect("a synthetic dump's offsets fit in memory")
}

/// How a synthetic kdump-compressed page is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthCodec {
    /// Raw.
    Raw,
    /// zlib (needs the `zlib` feature).
    Zlib,
    /// Raw snappy (needs the `snappy` feature).
    Snappy,
    /// One zstd frame (needs the `zstd` feature).
    Zstd,
}

/// A kdump-compressed file to build.
#[derive(Debug, Clone)]
pub struct KdumpBuilder {
    /// Byte order of the dumped machine.
    pub order: ByteOrder,
    /// Word size and sub-header layout.
    pub word_size: WordSize,
    /// `utsname.machine`.
    pub machine: String,
    /// `utsname.release`.
    pub release: String,
    /// `header_version` (1 to 6).
    pub header_version: u32,
    /// `block_size`.
    pub block_size: u32,
    /// Number of blocks the bitmaps describe.
    pub max_mapnr: u64,
    /// Codec for every page that compresses smaller.
    pub codec: SynthCodec,
    /// Blocks: `Some(content)` dumped, `None` excluded (RAM but filtered). Others are holes.
    pub blocks: BTreeMap<u64, Option<Vec<u8>>>,
    /// Store all-zero blocks through one shared zero page, as makedumpfile's dump level 1.
    pub shared_zero: bool,
    /// The notes copied into the header area (version 4 and later).
    pub notes: Vec<u8>,
    /// VMCOREINFO text (version 3 and later).
    pub vmcoreinfo: Vec<u8>,
    /// Mark the dump incomplete and drop the data of the last `lost` dumped blocks.
    pub lost: u64,
    /// `sub_header.phys_base`.
    pub phys_base: u64,
}

impl KdumpBuilder {
    /// A little-endian x86_64 version-6 builder with 4 KiB blocks and no pages.
    pub fn new(max_mapnr: u64) -> KdumpBuilder {
        KdumpBuilder {
            order: ByteOrder::Little,
            word_size: WordSize::Bits64,
            machine: "x86_64".into(),
            release: "6.1.0-synthetic".into(),
            header_version: 6,
            block_size: 4096,
            max_mapnr,
            codec: SynthCodec::Raw,
            blocks: BTreeMap::new(),
            shared_zero: false,
            notes: Vec::new(),
            vmcoreinfo: Vec::new(),
            lost: 0,
            phys_base: 0,
        }
    }

    fn compress(&self, data: &[u8]) -> (Vec<u8>, u32) {
        let out: Option<(Vec<u8>, u32)> = match self.codec {
            SynthCodec::Raw => None,
            #[cfg(feature = "zlib")]
            SynthCodec::Zlib => {
                let mut c = flate2::Compress::new(flate2::Compression::fast(), true);
                let mut v = Vec::with_capacity(data.len() + 64);
                let _ = c.compress_vec(data, &mut v, flate2::FlushCompress::Finish);
                Some((v, 0x1))
            }
            #[cfg(feature = "snappy")]
            SynthCodec::Snappy => snap::raw::Encoder::new()
                .compress_vec(data)
                .ok()
                .map(|v| (v, 0x4)),
            #[cfg(feature = "zstd")]
            SynthCodec::Zstd => Some((
                ruzstd::encoding::compress_to_vec(
                    data,
                    ruzstd::encoding::CompressionLevel::Fastest,
                ),
                0x20,
            )),
            #[allow(
                unreachable_patterns,
                reason = "reachable when a codec feature is turned off"
            )]
            _ => None,
        };
        match out {
            Some((v, f)) if v.len() < data.len() => (v, f),
            _ => (data.to_vec(), 0),
        }
    }

    /// Writes the file.
    pub fn build(&self) -> Vec<u8> {
        let o = self.order;
        let bs = self.block_size as usize;
        let l = if self.word_size == WordSize::Bits64 {
            8
        } else {
            4
        };
        let sub_size = 104 + self.notes.len() + self.vmcoreinfo.len();
        let sub_blocks = sub_size.div_ceil(bs);
        let bitmap_half = idx(self.max_mapnr.div_ceil(8)).div_ceil(bs).max(1) * bs;
        let bitmap_blocks = 2 * bitmap_half / bs;
        let mut out = vec![0u8; bs * (1 + sub_blocks + bitmap_blocks)];
        // disk_dump_header
        out[..8].copy_from_slice(b"KDUMP   ");
        put(o, &mut out, 8, 4, u64::from(self.header_version));
        let uts = [
            "Linux",
            "synthetic",
            self.release.as_str(),
            "#1",
            self.machine.as_str(),
            "(none)",
        ];
        for (i, s) in uts.iter().enumerate() {
            let at = 12 + 65 * i;
            let n = s.len().min(64);
            out[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
        }
        let (ts, tsl, base) = if self.word_size == WordSize::Bits64 {
            (408, 8, 424)
        } else {
            (404, 4, 412)
        };
        put(o, &mut out, ts, tsl, 1_700_000_000);
        let mut status = match self.codec {
            SynthCodec::Raw => 0,
            SynthCodec::Zlib => 0x1,
            SynthCodec::Snappy => 0x4,
            SynthCodec::Zstd => 0x20,
        };
        if self.lost > 0 {
            status |= 0x8;
        }
        put(o, &mut out, base, 4, status);
        put(o, &mut out, base + 4, 4, u64::from(self.block_size));
        put(o, &mut out, base + 8, 4, sub_blocks as u64);
        put(o, &mut out, base + 12, 4, bitmap_blocks as u64);
        put(o, &mut out, base + 16, 4, self.max_mapnr & 0xffff_ffff);
        put(o, &mut out, base + 36, 4, 1);
        // kdump_sub_header and the note/vmcoreinfo copies.
        let offs: [usize; 14] = match self.word_size {
            WordSize::Bits64 => [0, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96],
            WordSize::Bits32Packed => [0, 4, 8, 12, 16, 20, 28, 32, 40, 44, 52, 56, 64, 72],
            WordSize::Bits32Padded => [0, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88],
        };
        let sh = bs;
        put(o, &mut out, sh + offs[0], l, self.phys_base);
        put(o, &mut out, sh + offs[1], 4, 31);
        put(
            o,
            &mut out,
            sh + offs[4],
            l,
            self.max_mapnr & if l == 8 { u64::MAX } else { 0xffff_ffff },
        );
        let notes_at = sh + 104;
        out[notes_at..notes_at + self.notes.len()].copy_from_slice(&self.notes);
        let vi_at = notes_at + self.notes.len();
        out[vi_at..vi_at + self.vmcoreinfo.len()].copy_from_slice(&self.vmcoreinfo);
        if self.header_version >= 3 {
            put(o, &mut out, sh + offs[5], 8, vi_at as u64);
            put(o, &mut out, sh + offs[6], l, self.vmcoreinfo.len() as u64);
        }
        if self.header_version >= 4 {
            put(o, &mut out, sh + offs[7], 8, notes_at as u64);
            put(o, &mut out, sh + offs[8], l, self.notes.len() as u64);
        }
        if self.header_version >= 6 {
            put(o, &mut out, sh + offs[12], 8, self.max_mapnr);
            put(o, &mut out, sh + offs[13], 8, self.max_mapnr);
        }
        // Bitmaps.
        let bm = bs * (1 + sub_blocks);
        for (&pfn, content) in &self.blocks {
            if pfn >= self.max_mapnr {
                continue;
            }
            let (byte, bit) = ((pfn / 8) as usize, 1u8 << (pfn % 8));
            out[bm + byte] |= bit;
            if content.is_some() {
                out[bm + bitmap_half + byte] |= bit;
            }
        }
        // Descriptors, then data.
        let dumped: Vec<(&u64, &Vec<u8>)> = self
            .blocks
            .iter()
            .filter(|(p, _)| **p < self.max_mapnr)
            .filter_map(|(p, c)| c.as_ref().map(|c| (p, c)))
            .collect();
        let desc_at = out.len();
        out.resize(desc_at + dumped.len() * PAGE_DESC_LEN, 0);
        let zero = vec![0u8; bs];
        let mut zero_at = None;
        if self.shared_zero {
            zero_at = Some(out.len());
            out.extend_from_slice(&zero);
        }
        let keep = dumped
            .len()
            .saturating_sub(usize::try_from(self.lost).unwrap_or(usize::MAX));
        for (i, (_, content)) in dumped.iter().enumerate() {
            let mut block = content.to_vec();
            block.resize(bs, 0);
            let d = desc_at + i * PAGE_DESC_LEN;
            if i >= keep {
                continue;
            }
            let (offset, size, flags) = match zero_at {
                Some(z) if block == zero => (z, bs, 0),
                _ => {
                    let (data, flags) = self.compress(&block);
                    let at = out.len();
                    out.extend_from_slice(&data);
                    (at, data.len(), flags)
                }
            };
            put(o, &mut out, d, 8, offset as u64);
            put(o, &mut out, d + 8, 4, size as u64);
            put(o, &mut out, d + 12, 4, u64::from(flags));
        }
        out
    }
}

/// Wraps `file` in a flattened stream: records of `chunk` bytes written back to front, then
/// the first record written again (an overwrite the reader must honour).
pub fn flatten(file: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = vec![0u8; 4096];
    out[..12].copy_from_slice(b"makedumpfile");
    out[16..24].copy_from_slice(&1i64.to_be_bytes());
    out[24..32].copy_from_slice(&1i64.to_be_bytes());
    let mut record = |off: usize, data: &[u8]| {
        let field = |v: usize| i64::try_from(v).expect("a synthetic stream fits in memory");
        out.extend_from_slice(&field(off).to_be_bytes());
        out.extend_from_slice(&field(data.len()).to_be_bytes());
        out.extend_from_slice(data);
    };
    let chunks: Vec<(usize, &[u8])> = file
        .chunks(chunk.max(1))
        .enumerate()
        .map(|(i, c)| (i * chunk.max(1), c))
        .collect();
    // The first record is written with garbage first, then rewritten.
    if let Some((_, c)) = chunks.first() {
        record(0, &vec![0xee; c.len()]);
    }
    for (off, c) in chunks.iter().rev() {
        record(*off, c);
    }
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out
}

/// An ELF dump of `segments` (physical address, contents) with `notes`, for `target`.
pub fn elf_dump(target: Target, segments: &[(u64, Vec<u8>)], notes: &[u8]) -> Vec<u8> {
    let mut b = DumpFileBuilder::new(target);
    for (paddr, data) in segments {
        b = b.segment(DumpSegment::new(
            0,
            *paddr,
            data.len() as u64,
            data.len() as u64,
        ));
    }
    let Ok(header) = b.build(notes) else {
        return Vec::new();
    };
    let mut out = header.bytes;
    for (_, data) in segments {
        out.extend_from_slice(data);
    }
    out
}

/// A VMCOREINFO note (and nothing else) in `endian`.
pub fn vmcoreinfo_note(endian: Endian, text: &str) -> Vec<u8> {
    let mut w = NoteWriter::new(endian);
    let _ = w.push(b"VMCOREINFO", 0, text.as_bytes());
    w.into_bytes()
}

/// One record of a synthetic printk ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthRecord {
    /// Timestamp.
    pub ts_nsec: u64,
    /// Text.
    pub text: Vec<u8>,
    /// Level.
    pub level: u8,
    /// Descriptor state (2 = finalized, 1 = committed, 0 = reserved).
    pub state: u64,
}

/// Physical memory of a synthetic x86_64 kernel: kernel text at `0xffffffff81000000`
/// mapped to physical `0x100_0000` (`phys_base = 0`), a lockless printk ring of `records`
/// there (a ring of `1 << count_bits` descriptors and a `1 << data_bits`-byte text ring, so
/// older records are overwritten), 4-level page tables mapping the direct map at
/// `0xffff_8880_0000_0000` with 4 KiB, 2 MiB and 1 GiB pages, and the VMCOREINFO text.
#[derive(Debug, Clone)]
pub struct SynthKernel {
    /// Physical memory: one segment at `0x100_0000`.
    pub memory: Vec<u8>,
    /// Physical address of `memory`.
    pub base: u64,
    /// VMCOREINFO.
    pub vmcoreinfo: String,
}

/// Where [`SynthKernel`]'s direct map starts.
pub const SYNTH_DIRECT_MAP: u64 = 0xffff_8880_0000_0000;
const KTEXT: u64 = 0xffff_ffff_8100_0000;
const PBASE: u64 = 0x100_0000;

impl SynthKernel {
    /// Builds the kernel memory of a little-endian 64-bit (x86_64) kernel.
    pub fn new(records: &[SynthRecord], count_bits: u32, data_bits: u32) -> SynthKernel {
        SynthKernel::with_layout(records, count_bits, data_bits, ByteOrder::Little, 8)
    }

    /// Builds the kernel memory in byte order `order` with `pointer`-byte longs (4 or 8). The
    /// printk structures follow the kernel's layout for that word size; the x86_64 page
    /// tables are written whatever the layout (other architectures translate through the
    /// ELF segment's `p_vaddr`, see [`SynthKernel::elf_with_vaddr`]).
    pub fn with_layout(
        records: &[SynthRecord],
        count_bits: u32,
        data_bits: u32,
        order: ByteOrder,
        pointer: u64,
    ) -> SynthKernel {
        let size = 0x20_0000usize;
        let mut m = vec![0u8; size];
        let p = pointer;
        let pl = idx(p);
        let ktext = SynthKernel::text_base(pointer);
        let count = 1u64 << count_bits;
        let data_size = 1u64 << data_bits;
        // Layout inside the segment (offsets from PBASE).
        let (prb_var, rb, descs, infos, data) =
            (0x1000u64, 0x1100u64, 0x2000u64, 0x10000u64, 0x40000u64);
        let (pgd, pud, pmd, pte) = (0x1a_0000u64, 0x1a_1000u64, 0x1a_2000u64, 0x1a_3000u64);
        let w = |m: &mut Vec<u8>, off: u64, len: usize, v: u64| put(order, m, idx(off), len, v);
        // struct printk_ringbuffer { prb_desc_ring (count_bits, descs, infos, head_id,
        // tail_id, last_finalized_id); prb_data_ring (size_bits, data, head_lpos, tail_lpos);
        // atomic_long_t fail; }
        let text_ring = 6 * p;
        w(&mut m, prb_var, pl, ktext + rb);
        w(&mut m, rb, 4, u64::from(count_bits));
        w(&mut m, rb + p, pl, ktext + descs);
        w(&mut m, rb + 2 * p, pl, ktext + infos);
        w(&mut m, rb + text_ring, 4, u64::from(data_bits));
        w(&mut m, rb + text_ring + p, pl, ktext + data);
        let sv_shift = 8 * p - 2;
        let mut lpos = 0u64;
        for (n, r) in records.iter().enumerate() {
            let id = n as u64;
            let slot = id % count;
            let size = (p + r.text.len() as u64).div_ceil(p) * p;
            let mut begin = lpos;
            // A block never straddles the ring's end; one ending exactly there wraps too.
            if begin / data_size != (begin + size) / data_size {
                begin = (begin / data_size + 1) * data_size;
            }
            let next = begin + size;
            let at = data + begin % data_size;
            w(&mut m, at, pl, id);
            let t = idx(at + p);
            m[t..t + r.text.len()].copy_from_slice(&r.text);
            // Data-less records carry the same lpos in begin and next (FAILED_LPOS-like).
            let (b, nx) = if r.text.is_empty() {
                (begin | 1, begin | 1)
            } else {
                (begin, next)
            };
            let d = descs + slot * 3 * p;
            w(&mut m, d, pl, (r.state << sv_shift) | id);
            w(&mut m, d + p, pl, b);
            w(&mut m, d + 2 * p, pl, nx);
            let i = infos + slot * 88;
            w(&mut m, i, 8, id);
            w(&mut m, i + 8, 8, r.ts_nsec);
            w(&mut m, i + 16, 2, r.text.len() as u64);
            // flags:5 then level:3, allocated from the low bits on little-endian targets.
            let flags = if r.text.starts_with(b" cont") {
                8u64
            } else {
                2
            };
            let level_byte = match order {
                ByteOrder::Little => (u64::from(r.level) << 5) | flags,
                ByteOrder::Big => u64::from(r.level) | (flags << 3),
            };
            w(&mut m, i + 19, 1, level_byte);
            w(&mut m, i + 20, 4, n as u64);
            lpos = next;
        }
        let last = records.len().saturating_sub(1) as u64;
        let tail = (last + 1).saturating_sub(count);
        w(&mut m, rb + 3 * p, pl, last);
        w(&mut m, rb + 4 * p, pl, tail);
        // Page tables: PGD[273] -> PUD; PUD[0] = 1 GiB page at 0x4000_0000; PUD[1] -> PMD;
        // PMD[0] = 2 MiB page at PBASE; PMD[1] -> PTE; PTE[n] = PBASE + n * 4 KiB.
        let pa = |off: u64| PBASE + off;
        w(&mut m, pgd + 273 * 8, 8, pa(pud) | 0x63);
        w(&mut m, pud, 8, 0x4000_0000 | 0xe3);
        w(&mut m, pud + 8, 8, pa(pmd) | 0x63);
        w(&mut m, pmd, 8, PBASE | 0xe3);
        w(&mut m, pmd + 8, 8, pa(pte) | 0x63);
        for n in 0..512u64 {
            w(&mut m, pte + n * 8, 8, (PBASE + n * 4096) | 0x63);
        }
        let vmcoreinfo = format!(
            "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\nSYMBOL(init_top_pgt)={:x}\nNUMBER(phys_base)=0\n\
             NUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=0\nSYMBOL(prb)={:x}\nSIZE(printk_ringbuffer)={}\n\
             OFFSET(printk_ringbuffer.desc_ring)=0\nOFFSET(printk_ringbuffer.text_data_ring)={}\n\
             OFFSET(prb_desc_ring.count_bits)=0\nOFFSET(prb_desc_ring.descs)={}\nOFFSET(prb_desc_ring.infos)={}\n\
             OFFSET(prb_desc_ring.head_id)={}\nOFFSET(prb_desc_ring.tail_id)={}\nSIZE(prb_desc)={}\n\
             OFFSET(prb_desc.state_var)=0\nOFFSET(prb_desc.text_blk_lpos)={}\nOFFSET(prb_data_blk_lpos.begin)=0\n\
             OFFSET(prb_data_blk_lpos.next)={}\nSIZE(printk_info)=88\nOFFSET(printk_info.seq)=0\n\
             OFFSET(printk_info.ts_nsec)=8\nOFFSET(printk_info.text_len)=16\nOFFSET(printk_info.caller_id)=20\n\
             OFFSET(printk_info.dev_info)=24\nOFFSET(dev_printk_info.subsystem)=0\nLENGTH(printk_info_subsystem)=16\n\
             OFFSET(dev_printk_info.device)=16\nLENGTH(printk_info_device)=48\nOFFSET(prb_data_ring.size_bits)=0\n\
             OFFSET(prb_data_ring.data)={}\nOFFSET(atomic_long_t.counter)=0\nCRASHTIME=1700000000\n",
            ktext + pgd,
            ktext + prb_var,
            11 * p,
            text_ring,
            p,
            2 * p,
            3 * p,
            4 * p,
            3 * p,
            p,
            p,
            p,
        );
        SynthKernel {
            memory: m,
            base: PBASE,
            vmcoreinfo,
        }
    }

    /// The virtual address of the memory's first byte for a kernel with `pointer`-byte longs.
    pub fn text_base(pointer: u64) -> u64 {
        if pointer == 8 { KTEXT } else { 0xc100_0000 }
    }

    /// The memory as an ELF dump of `target` whose segment carries its virtual address, as
    /// the kernel's `/proc/vmcore` does.
    pub fn elf_with_vaddr(&self, target: Target, pointer: u64) -> Vec<u8> {
        let notes = vmcoreinfo_note(target.endian, &self.vmcoreinfo);
        let len = self.memory.len() as u64;
        let seg = DumpSegment::new(SynthKernel::text_base(pointer), self.base, len, len);
        let Ok(header) = DumpFileBuilder::new(target).segment(seg).build(&notes) else {
            return Vec::new();
        };
        let mut out = header.bytes;
        out.extend_from_slice(&self.memory);
        out
    }

    /// The memory as an ELF dump (`vmcore-dmesg` input).
    pub fn elf(&self) -> Vec<u8> {
        let notes = vmcoreinfo_note(Endian::Little, &self.vmcoreinfo);
        elf_dump(
            Target::x86_64(),
            &[(self.base, self.memory.clone())],
            &notes,
        )
    }

    /// The memory as a kdump-compressed file.
    pub fn kdump(&self, codec: SynthCodec) -> Vec<u8> {
        let mut b = KdumpBuilder::new((self.base + self.memory.len() as u64) / 4096);
        b.codec = codec;
        b.shared_zero = true;
        b.vmcoreinfo = self.vmcoreinfo.clone().into_bytes();
        b.notes = vmcoreinfo_note(Endian::Little, &self.vmcoreinfo);
        for (i, page) in self.memory.chunks(4096).enumerate() {
            b.blocks
                .insert(self.base / 4096 + i as u64, Some(page.to_vec()));
        }
        b.build()
    }
}

//! The capture pipeline: read the input dump (`/proc/vmcore` or any dump `vmcore_reader`
//! opens), select pages by dump level, compress on N threads, and write in pfn order to a
//! [`Sink`]. Memory stays bounded: the bitmaps are made one cycle of pfns at a time (as
//! makedumpfile's cyclic mode does) and pages flow in fixed-size batches.
//!
//! No data loss: the header is written first with the incomplete flag
//! (`DUMP_DH_COMPRESSED_INCOMPLETE`, or `e_flags` bit 0 for ELF) and cleared only when every
//! page is written, so a dump cut by ENOSPC, an I/O error, `-L` or SIGKILL opens as
//! incomplete. Page data goes out before the descriptors that point at it, and the
//! descriptor area is allocated (sparsely) up front, so a descriptor is either whole and
//! valid or zero ("lost"). A page that cannot be read from the input gets a zero
//! descriptor (lost) and the capture goes on.
//!
//! Facts: makedumpfile `makedumpfile.c` (`write_kdump_header`, `write_kdump_pages_cyclic`,
//! `write_kdump_bitmap`, `create_1st_bitmap`, `exclude_nodata_pages`, `get_max_mapnr`,
//! `write_elf_pages_cyclic` and its `PFN_EXCLUDED` = 256 rule) and `IMPLEMENTATION`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use elfcorehdr::{Class, DumpFileBuilder, DumpSegment, Endian, Notes, Target};
use vmcore_reader::kdump::{ByteOrder, WordSize};
use vmcore_reader::{Dump, Excluded, Kernel, PhysMemory};

use crate::bitmap::{bit, clear, count_bits, set_bits};
use crate::classify::{self, ExcludedCounts, MemMapRange, PageClass, PageLayout, level};
use crate::codec::{Codec, PageCompressor, is_zero};
use crate::erase::Erase;
use crate::error::{Error, Result, add, min_len, mul, to_len};
use crate::kdump::{KdumpHeader, encode_desc, sub_header_size};
use crate::sink::Sink;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// kdump-compressed with this page codec.
    Kdump(Codec),
    /// ELF (`-E`).
    Elf,
}

/// What to capture and how.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// The output format.
    pub format: OutputFormat,
    /// Dump level bits 0..=31 (see [`level`]).
    pub dump_level: u8,
    /// Compression threads (at least 1).
    pub threads: usize,
    /// Pfns per bitmap cycle (rounded to a multiple of 8 × the memory section size).
    pub cycle_pfns: u64,
    /// Pages per batch handed to one thread.
    pub batch_pages: usize,
    /// `timestamp` of the kdump header (seconds, microseconds); default: the crash time
    /// from VMCOREINFO (`CRASHTIME`), else the current time.
    pub timestamp: Option<(u64, u64)>,
    /// Physical ranges overwritten in the output and the eraseinfo text recorded
    /// (see [`crate::erase`]); default: nothing erased.
    pub erase: Erase,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            format: OutputFormat::Kdump(Codec::None),
            dump_level: 31,
            threads: 1,
            cycle_pfns: 1 << 25,
            batch_pages: 256,
            timestamp: None,
            erase: Erase::default(),
        }
    }
}

/// The phase a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Building the bitmaps (classification).
    Classify,
    /// Writing pages.
    Write,
}

/// A progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// Units done (pfns for classification, pages for writing).
    pub done: u64,
    /// Units in all.
    pub total: u64,
    /// Output bytes so far.
    pub written: u64,
}

/// What a capture did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Pfns the bitmaps describe.
    pub max_mapnr: u64,
    /// Page size.
    pub page_size: u64,
    /// Pfns in the input's memory (bitmap 1).
    pub pages_in_memory: u64,
    /// Pfns selected (bitmap 2; zero pages included for kdump output).
    pub pages_dumpable: u64,
    /// Pages left out, by class (`zero` counts pages stored as the shared zero page for
    /// kdump output, pages left out for ELF).
    pub excluded: ExcludedCounts,
    /// Pages whose data was written.
    pub pages_written: u64,
    /// Pages that could not be read from the input (recorded as lost).
    pub pages_unreadable: u64,
    /// Pages whose `struct page` could not be read (kept, unclassified).
    pub memmap_unreadable: u64,
    /// Input page bytes read.
    pub bytes_in: u64,
    /// Output bytes.
    pub bytes_out: u64,
    /// Whether the output is marked incomplete.
    pub incomplete: bool,
    /// Why the output stopped early, if it did.
    pub stopped_by: Option<String>,
    /// Time spent building bitmaps.
    pub time_classify: Duration,
    /// Time spent reading, compressing and writing pages.
    pub time_write: Duration,
}

/// The input's memory: PT_LOAD-like segments in pages.
struct InputMap {
    ps: u64,
    /// `ps` as a length (at most 1 MiB, checked by `capture`).
    ps_len: usize,
    /// (paddr, filesz, memsz).
    segs: Vec<(u64, u64, u64)>,
    max_mapnr: u64,
}

impl InputMap {
    fn new(dump: &Dump, ps: u64) -> Result<InputMap> {
        let segs: Vec<(u64, u64, u64)> = match dump.elf() {
            Some(e) => e
                .segments
                .iter()
                .map(|s| (s.paddr, s.filesz, s.memsz))
                .collect(),
            None => dump
                .present_ranges()
                .into_iter()
                .map(|(s, e)| (s, e - s, e - s))
                .collect(),
        };
        let mut max = 0u64;
        for &(p, _, m) in &segs {
            max = max.max(add("segment end", p, m)?);
        }
        Ok(InputMap {
            ps,
            ps_len: to_len("page size", ps)?,
            segs,
            max_mapnr: max.div_ceil(ps),
        })
    }

    /// Bitmap 1 (pfn in memory) and bitmap 2 before filtering (pfn has data) for pfns
    /// `[start, end)`.
    fn bitmaps(&self, start: u64, end: u64) -> (Vec<u8>, Vec<u8>) {
        // A cycle's bitmap: `end - start` is at most the cycle length the caller chose.
        let bytes = min_len((end - start).div_ceil(8), usize::MAX);
        let mut b1 = vec![0u8; bytes];
        let set = |b: &mut [u8], s: u64, e: u64, on: bool| {
            for p in s.max(start)..e.min(end) {
                let i = p - start;
                if on {
                    b[(i >> 3) as usize] |= 1 << (i & 7);
                } else {
                    b[(i >> 3) as usize] &= !(1 << (i & 7));
                }
            }
        };
        for &(p, _, m) in &self.segs {
            // makedumpfile (`create_1st_bitmap`): a partial last page is not in memory.
            set(&mut b1, p / self.ps, (p + m) / self.ps, true);
        }
        let mut b2 = b1.clone();
        for &(p, f, m) in &self.segs {
            if f < m {
                set(&mut b2, (p + f) / self.ps, (p + m).div_ceil(self.ps), false);
            }
        }
        (b1, b2)
    }

    /// Reads page `pfn` into `buf`: bytes outside every segment's file data are zero.
    fn read_page(&self, dump: &Dump, pfn: u64, buf: &mut [u8]) -> std::result::Result<(), ()> {
        let pa = pfn * self.ps;
        match dump.read_phys_with(pa, buf, Excluded::Fill(0)) {
            Ok(()) => Ok(()),
            Err(vmcore_reader::Error::NotInDump { .. }) => {
                buf.fill(0);
                for &(p, f, _) in &self.segs {
                    let s = p.max(pa);
                    let e = (p + f).min(pa + self.ps);
                    if s < e {
                        // `pa <= s < e <= pa + ps`: offsets within the page `buf` holds.
                        let part =
                            &mut buf[min_len(s - pa, self.ps_len)..min_len(e - pa, self.ps_len)];
                        dump.read_phys_with(s, part, Excluded::Fill(0))
                            .map_err(|_| ())?;
                    }
                }
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Reads consecutive pages from pfn `first` into `buf` (whole pages) with one call, or
    /// page by page when that fails, so that one bad page does not take its neighbours
    /// along; hands each page to `each` with its index in the run and whether it was read.
    fn read_run(
        &self,
        dump: &Dump,
        first: u64,
        buf: &mut [u8],
        mut each: impl FnMut(usize, &mut [u8], bool),
    ) {
        let whole = dump
            .read_phys_with(first * self.ps, buf, Excluded::Fill(0))
            .is_ok();
        for (j, page) in buf.chunks_exact_mut(self.ps_len).enumerate() {
            let ok = whole || self.read_page(dump, first + j as u64, page).is_ok();
            each(j, page, ok);
        }
    }
}

/// The classification context: VMCOREINFO's page layout and the mem_map ranges.
struct Selector<'k, 'd> {
    kernel: Option<&'k Kernel<'d>>,
    layout: Option<PageLayout>,
    ranges: Vec<MemMapRange>,
    threads: usize,
}

/// Pfns per part when a cycle is classified on several threads (256 MiB of 4 KiB pages). A
/// free block or compound page that runs past its part's end is finished in the next parts
/// after the merge, so the result is the one-thread classification.
const PART_PFNS: u64 = PART_LEN as u64;
const PART_LEN: usize = 1 << 16;

/// One classified part: its index, bitmaps 1 and 2, its counts, and the excluded block
/// running past its end.
type Part = (
    usize,
    Vec<u8>,
    Vec<u8>,
    CaptureStats,
    Option<(PageClass, u64)>,
);

impl Selector<'_, '_> {
    /// Bitmaps 1 and 2 for pfns `[start, end)` (`start` a multiple of [`PART_PFNS`] or of
    /// the cycle), classified in parts on up to `threads` threads.
    fn cycle(
        &self,
        map: &InputMap,
        start: u64,
        end: u64,
        stats: &mut CaptureStats,
    ) -> (Vec<u8>, Vec<u8>) {
        let parts: Vec<(u64, u64)> = (start..end)
            .step_by(PART_LEN)
            .map(|s| (s, (s + PART_PFNS).min(end)))
            .collect();
        let workers = self.threads.min(parts.len());
        if workers <= 1 || start % 8 != 0 {
            let (b1, b2, _) = self.classify_part(map, start, end, stats);
            return (b1, b2);
        }
        let mut done: Vec<Part> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let parts = &parts;
                    sc.spawn(move || {
                        let mut out = Vec::new();
                        for (k, &(s, e)) in parts.iter().enumerate().skip(w).step_by(workers) {
                            let mut st = CaptureStats::default();
                            let (b1, b2, spill) = self.classify_part(map, s, e, &mut st);
                            out.push((k, b1, b2, st, spill));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        done.sort_by_key(|d| d.0);
        let (mut b1, mut b2) = (Vec::new(), Vec::new());
        let mut spills = Vec::new();
        for (k, p1, p2, st, spill) in done {
            b1.extend_from_slice(&p1);
            b2.extend_from_slice(&p2);
            stats.memmap_unreadable += st.memmap_unreadable;
            stats.excluded.add(&st.excluded);
            if let Some(sp) = spill {
                spills.push((parts[k].1, sp));
            }
        }
        apply_spills(&mut b2, start, end, &spills, &mut stats.excluded);
        (b1, b2)
    }

    fn classify_part(
        &self,
        map: &InputMap,
        start: u64,
        end: u64,
        stats: &mut CaptureStats,
    ) -> (Vec<u8>, Vec<u8>, Option<(PageClass, u64)>) {
        let (b1, mut b2) = map.bitmaps(start, end);
        let mut spill = None;
        let walk = self.layout.as_ref().filter(|l| l.needs_walk());
        if let (Some(k), Some(l)) = (self.kernel, walk) {
            let (unreadable, s) = classify::exclude_pages(
                k,
                l,
                &self.ranges,
                start,
                end,
                &b1,
                &mut b2,
                &mut stats.excluded,
            );
            stats.memmap_unreadable += unreadable;
            spill = s;
        }
        (b1, b2, spill)
    }
}

/// Finishes blocks that ran past their part: `spills` holds (the part's end pfn, the
/// block's class, the pfn the block ends at). The later parts saw those pages as tails
/// (kept) or as pages of no class of their own; the block's head decides, as on one thread.
/// `b2` covers pfns `[start, end)`.
fn apply_spills(
    b2: &mut [u8],
    start: u64,
    end: u64,
    spills: &[(u64, (PageClass, u64))],
    counts: &mut ExcludedCounts,
) {
    for &(from, (class, until)) in spills {
        let Some(counter) = classify::counter(counts, class) else {
            continue;
        };
        for q in from.max(start)..until.min(end) {
            if clear(b2, q - start) {
                *counter += 1;
            }
        }
    }
}

fn word_size(dump: &Dump) -> WordSize {
    match dump.elf().map(|e| e.header.class) {
        Some(Class::Elf32) => {
            if matches!(dump.machine().0, 3) {
                WordSize::Bits32Packed
            } else {
                WordSize::Bits32Padded
            }
        }
        Some(Class::Elf64) => WordSize::Bits64,
        None => dump
            .kdump()
            .map_or(WordSize::Bits64, |k| k.header.word_size),
    }
}

fn notes_copy(dump: &Dump) -> Vec<u8> {
    let mut v = Vec::new();
    for (_, d) in dump.note_segments() {
        v.extend_from_slice(d);
    }
    v
}

fn vmcoreinfo_in(notes: &[u8], endian: Endian) -> Option<(u64, u64)> {
    for n in Notes::new(notes, endian).flatten() {
        if n.is(elfcorehdr::VMCOREINFO_NOTE_NAME, 0) {
            let at = (n.desc.as_ptr() as usize).checked_sub(notes.as_ptr() as usize)?;
            return Some((at as u64, n.desc.len() as u64));
        }
    }
    None
}

fn utsname(kernel: Option<&Kernel<'_>>, dump: &Dump) -> [Vec<u8>; 6] {
    let uts = kernel.and_then(|k| Some((k, k.info().symbol("init_uts_ns").ok()??)));
    if let Some((k, sym)) = uts {
        let off = k
            .info()
            .offset("uts_namespace.name")
            .ok()
            .flatten()
            .unwrap_or(0);
        let mut b = vec![0u8; 6 * 65];
        if k.read_virt(sym.wrapping_add(off), &mut b).is_ok() && b[..5] == *b"Linux" {
            return core::array::from_fn(|i| {
                let s = &b[i * 65..(i + 1) * 65];
                let end = s.iter().position(|&c| c == 0).unwrap_or(64);
                s[..end].to_vec()
            });
        }
    }
    if let Some(kd) = dump.kdump() {
        return core::array::from_fn(|i| kd.header.utsname[i].as_bytes().to_vec());
    }
    let release = kernel
        .and_then(|k| k.info().osrelease().map(|s| s.as_bytes().to_vec()))
        .unwrap_or_default();
    let big = dump.endian() == Endian::Big;
    let machine: &[u8] = match dump.machine().0 {
        62 => b"x86_64",
        183 => b"aarch64",
        3 => b"i686",
        40 => b"armv7l",
        8 => b"mips",
        20 => b"ppc",
        21 if big => b"ppc64",
        21 => b"ppc64le",
        22 => b"s390x",
        243 => b"riscv64",
        258 => b"loongarch64",
        _ => b"",
    };
    [
        b"Linux".to_vec(),
        Vec::new(),
        release,
        Vec::new(),
        machine.to_vec(),
        Vec::new(),
    ]
}

fn write_err(what: &'static str, offset: u64) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Write {
        what,
        offset,
        source,
    }
}

/// What became of one page of a batch.
#[derive(Debug, Clone, Copy)]
enum Item {
    Zero,
    Data { len: usize, flags: u32 },
    Unreadable,
}

/// A batch of pages, read and compressed by one worker: the stored bytes back to back.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    items: Vec<Item>,
}

/// Captures `dump` into `sink`. Write failures after the header (ENOSPC, EIO, the `-L`
/// limit) end the capture early with a readable, incomplete dump: the result is then `Ok`
/// with [`CaptureStats::incomplete`] set and [`CaptureStats::stopped_by`] saying why.
pub fn capture(
    dump: &Dump,
    opts: &CaptureOptions,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
) -> Result<CaptureStats> {
    let kernel = Kernel::new(dump).ok();
    let (map, layout, ranges) = prepare(dump, kernel.as_ref(), opts)?;
    let selector = Selector {
        kernel: kernel.as_ref(),
        layout,
        ranges,
        threads: opts.threads.max(1),
    };
    let cycle = cycle_len(opts);
    let mut stats = CaptureStats {
        max_mapnr: map.max_mapnr,
        page_size: map.ps,
        ..CaptureStats::default()
    };
    match opts.format {
        OutputFormat::Kdump(codec) => write_kdump(
            dump,
            kernel.as_ref(),
            &map,
            &selector,
            opts,
            codec,
            cycle,
            sink,
            progress,
            &mut stats,
            None,
        )?,
        OutputFormat::Elf => write_elf(
            dump, &map, &selector, opts, cycle, sink, progress, &mut stats,
        )?,
    }
    stats.bytes_out = sink.written();
    Ok(stats)
}

fn cycle_len(opts: &CaptureOptions) -> u64 {
    (opts.cycle_pfns.max(1 << 15) / (1 << 15)) * (1 << 15)
}

/// One file of a split dump: its pfn range and the bitmaps of the whole dump, per cycle.
struct SplitPart<'b> {
    range: (u64, u64),
    bitmaps: &'b [(Vec<u8>, Vec<u8>)],
}

/// Every boundary between two parts of a split dump is a multiple of this many pfns.
///
/// crash (`diskdump.c`, the `valid_pages` table of a split part) counts a part's bitmap 2 in
/// 64-bit words from its `start_pfn`, so it reads a part that starts inside a word at the
/// wrong descriptors; makedumpfile's boundaries are whole split blocks, always aligned.
pub const SPLIT_ALIGN: u64 = 64;

/// Pfn ranges `[start, end)` for `parts` files covering `[0, max_mapnr)`, each holding about
/// the same number of dumpable pfns (set bits of bitmap 2, given per cycle of `cycle` pfns).
///
/// makedumpfile (`calculate_end_pfn_by_splitblock`) balances the same weight, but in whole
/// `--splitblock-size` blocks (1 GiB by default, so a small dump goes to the first file
/// whole); this balances to [`SPLIT_ALIGN`] pfns.
pub fn split_ranges<B: AsRef<[u8]>>(
    bitmap2: &[B],
    cycle: u64,
    max_mapnr: u64,
    parts: usize,
) -> Vec<(u64, u64)> {
    let total: u64 = bitmap2.iter().map(|b| count_bits(b.as_ref())).sum();
    let n = u64::try_from(parts.max(1)).unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(parts.max(1));
    let mut start = 0u64;
    let mut seen = 0u64;
    let mut k = 1u64;
    'walk: for (c, b2) in bitmap2.iter().enumerate() {
        let b2 = b2.as_ref();
        let base = u64::try_from(c).unwrap_or(u64::MAX).saturating_mul(cycle);
        for i in set_bits(b2, u64::try_from(b2.len()).unwrap_or(0).saturating_mul(8)) {
            if k >= n {
                break 'walk;
            }
            // Part k ends after the pfn that brings it to k/n of the weight.
            seen += 1;
            let pfn = base + i;
            while k < n && seen * n >= total * k {
                let end = (pfn + 1)
                    .next_multiple_of(SPLIT_ALIGN)
                    .clamp(start, max_mapnr);
                out.push((start, end));
                start = end;
                k += 1;
            }
        }
    }
    while k < n {
        out.push((start, start));
        k += 1;
    }
    out.push((start, max_mapnr));
    out
}

/// Captures `dump` into one kdump-compressed file per sink (`makedumpfile --split`): the
/// pfns are cut into ranges of about the same number of dumpable pages
/// ([`split_ranges`]); every file holds the whole dump's headers and bitmaps and the pages
/// of its range, and a [`vmcore_reader::SplitSet`] (or `makedumpfile --reassemble`) reads
/// them as one dump. The bitmaps are classified once; then one writer thread per file
/// writes its range, each with `threads / files` compression threads (at least one;
/// makedumpfile refuses `--num-threads` with `--split`). Returns each file's range and
/// statistics (the classification counts, which describe the whole dump, are in every
/// entry).
pub fn capture_split(
    dump: &Dump,
    opts: &CaptureOptions,
    sinks: &mut [&mut (dyn Sink + Send)],
    progress: &mut (dyn FnMut(usize, &Progress) + Send),
) -> Result<Vec<((u64, u64), CaptureStats)>> {
    let OutputFormat::Kdump(codec) = opts.format else {
        return Err(Error::Options("--split writes kdump-compressed files only"));
    };
    if sinks.len() < 2 {
        return Err(Error::Options("--split needs at least two output files"));
    }
    let kernel = Kernel::new(dump).ok();
    let (map, layout, ranges) = prepare(dump, kernel.as_ref(), opts)?;
    let selector = Selector {
        kernel: kernel.as_ref(),
        layout,
        ranges,
        threads: opts.threads.max(1),
    };
    let cycle = cycle_len(opts);
    let mut base = CaptureStats {
        max_mapnr: map.max_mapnr,
        page_size: map.ps,
        ..CaptureStats::default()
    };
    let t0 = Instant::now();
    let ncycles = map.max_mapnr.div_ceil(cycle).max(1);
    let mut bitmaps = Vec::with_capacity(to_len("cycles", ncycles)?);
    for c in 0..ncycles {
        let s = c * cycle;
        let e = (s + cycle).min(map.max_mapnr);
        bitmaps.push(selector.cycle(&map, s, e, &mut base));
    }
    base.time_classify = t0.elapsed();
    let b2s: Vec<&[u8]> = bitmaps.iter().map(|(_, b2)| b2.as_slice()).collect();
    let cuts = split_ranges(&b2s, cycle, map.max_mapnr, sinks.len());
    let per = (opts.threads.max(1) / sinks.len()).max(1);
    // Every part has the same `disk_dump_header` (makedumpfile's `store_splitting_info`
    // compares them byte for byte), so the time is taken once.
    let crash_time = kernel
        .as_ref()
        .and_then(|k| k.info().crash_time().ok().flatten());
    let timestamp = opts.timestamp.or(crash_time.map(|t| (t, 0))).or_else(|| {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Some((d.as_secs(), u64::from(d.subsec_micros())))
    });
    let part_opts = CaptureOptions {
        threads: per,
        timestamp,
        ..opts.clone()
    };
    let progress = std::sync::Mutex::new(progress);
    let results: Vec<Result<CaptureStats>> = std::thread::scope(|sc| {
        let handles: Vec<_> = sinks
            .iter_mut()
            .zip(&cuts)
            .enumerate()
            .map(|(i, (sink, &range))| {
                let (map, selector, part_opts, bitmaps, progress, base, kernel) = (
                    &map,
                    &selector,
                    &part_opts,
                    &bitmaps,
                    &progress,
                    &base,
                    kernel.as_ref(),
                );
                sc.spawn(move || {
                    let mut stats = base.clone();
                    stats.pages_in_memory = 0;
                    let part = SplitPart { range, bitmaps };
                    let mut report = |p: &Progress| {
                        if let Ok(mut f) = progress.lock() {
                            f(i, p);
                        }
                    };
                    let sink: &mut dyn Sink = &mut **sink;
                    write_kdump(
                        dump,
                        kernel,
                        map,
                        selector,
                        part_opts,
                        codec,
                        cycle,
                        sink,
                        &mut report,
                        &mut stats,
                        Some(&part),
                    )?;
                    stats.bytes_out = sink.written();
                    stats.time_classify = base.time_classify;
                    Ok(stats)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    cuts.into_iter()
        .zip(results)
        .map(|(r, s)| s.map(|s| (r, s)))
        .collect()
}

/// What both capture paths need first: the input map (with `max_mapnr` lowered to the
/// mem_map's end as makedumpfile does) and the page layout and mem_map ranges for the level.
fn prepare(
    dump: &Dump,
    kernel: Option<&Kernel<'_>>,
    opts: &CaptureOptions,
) -> Result<(InputMap, Option<PageLayout>, Vec<MemMapRange>)> {
    if opts.dump_level > 31 {
        return Err(Error::Options("dump level must be 0 ..= 31"));
    }
    let ps = dump.page_size();
    if !ps.is_power_of_two() || !(512..=1 << 20).contains(&ps) {
        return Err(Error::BadValue {
            what: "page size",
            value: ps,
            expected: "a power of two 512 ..= 1 MiB",
        });
    }
    let mut map = InputMap::new(dump, ps)?;
    let long = match word_size(dump) {
        WordSize::Bits64 => 8,
        _ => 4,
    };
    let big = dump.endian() == Endian::Big;
    let mut layout = None;
    let mut ranges = Vec::new();
    let wants_walk =
        opts.dump_level & (level::CACHE | level::CACHE_PRIVATE | level::USER | level::FREE) != 0;
    if let Some(k) = kernel {
        match PageLayout::from_info(k.info(), opts.dump_level, long, big) {
            Ok(l) if opts.dump_level & level::FREE != 0 && !l.can_find_free() => {
                // Kernels before 2.6.38 without PG_buddy in VMCOREINFO need the free-list
                // walk, which this crate does not do: say so rather than keep free pages.
                return Err(Error::VmcoreInfo {
                    what: "free pages (dump level 16) need OFFSET(page.private) and PG_buddy or PAGE_BUDDY_MAPCOUNT_VALUE; the free-list walk of older kernels is not implemented".into(),
                });
            }
            Ok(l) => {
                match classify::mem_map_ranges(k, &l, ps.trailing_zeros(), map.max_mapnr) {
                    Ok(r) => ranges = r,
                    Err(e) if wants_walk => return Err(e),
                    Err(_) => {}
                }
                layout = Some(l);
            }
            Err(e) if wants_walk => return Err(e),
            Err(_) => {}
        }
    } else if wants_walk {
        return Err(Error::VmcoreInfo {
            what: "the input has no usable VMCOREINFO, needed for dump levels above 1".into(),
        });
    }
    // makedumpfile lowers max_mapnr to the end of the last memory section that has a
    // mem_map (`get_mem_map`): memory the kernel never tracked (a QEMU VGA window, BIOS ROM)
    // is left out.
    if let Some(end) = ranges.iter().map(|r| r.end).max() {
        map.max_mapnr = map.max_mapnr.min(end);
    }
    Ok((map, layout, ranges))
}

#[allow(
    clippy::too_many_arguments,
    reason = "one private caller; input, classification, options, output and callbacks are separate borrows"
)]
fn write_kdump(
    dump: &Dump,
    kernel: Option<&Kernel<'_>>,
    map: &InputMap,
    sel: &Selector<'_, '_>,
    opts: &CaptureOptions,
    codec: Codec,
    cycle: u64,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
    stats: &mut CaptureStats,
    part: Option<&SplitPart<'_>>,
) -> Result<()> {
    let ps = map.ps;
    let ws = word_size(dump);
    let order = match dump.endian() {
        Endian::Little => ByteOrder::Little,
        Endian::Big => ByteOrder::Big,
    };
    let notes = notes_copy(dump);
    let sub_size = sub_header_size(ws);
    let note_off = ps + sub_size;
    let vmci = vmcoreinfo_in(&notes, dump.endian())
        .map(|(o, l)| (note_off + o, l))
        .unwrap_or((0, 0));
    let sub_blocks = (sub_size + notes.len() as u64).div_ceil(ps);
    let half = map.max_mapnr.div_ceil(8).div_ceil(ps).max(1) * ps;
    let bitmap_blocks = 2 * half / ps;
    let bitmap_off = mul("bitmap offset", 1 + sub_blocks, ps)?;
    let desc_off = add("descriptor offset", bitmap_off, 2 * half)?;
    let too_big = |what, v: u64| Error::TooLarge { what, value: v };
    let crash_time = kernel.and_then(|k| k.info().crash_time().ok().flatten());
    let (ts_sec, ts_usec) = match (opts.timestamp, crash_time) {
        (Some(t), _) => t,
        (None, Some(t)) => (t, 0),
        (None, None) => {
            let d = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            (d.as_secs(), u64::from(d.subsec_micros()))
        }
    };
    let phys_base = kernel
        .and_then(|k| k.info().number("phys_base").ok().flatten())
        .or_else(|| dump.header_phys_base())
        .unwrap_or(0);
    let mut header = KdumpHeader {
        order,
        word_size: ws,
        utsname: utsname(kernel, dump),
        timestamp: (ts_sec, ts_usec),
        status: codec.flag() | vmcore_reader::kdump::status::INCOMPLETE,
        block_size: u32::try_from(ps).map_err(|_| too_big("block size", ps))?,
        sub_hdr_size: u32::try_from(sub_blocks).map_err(|_| too_big("sub_hdr_size", sub_blocks))?,
        bitmap_blocks: u32::try_from(bitmap_blocks)
            .map_err(|_| too_big("bitmap_blocks", bitmap_blocks))?,
        max_mapnr: map.max_mapnr,
        nr_cpus: dump
            .cpus()
            .map(|c| u32::try_from(c.len()).unwrap_or(u32::MAX))
            .unwrap_or(0)
            .max(1),
        phys_base,
        dump_level: u32::from(opts.dump_level),
        vmcoreinfo: vmci,
        note: (note_off, notes.len() as u64),
        split: part.map(|p| p.range),
        eraseinfo: (0, 0),
    };
    // Header first, marked incomplete until the end.
    let mut head = header.encode_main();
    let mut sub = header.encode_sub();
    sub.extend_from_slice(&notes);
    sub.resize(to_len("kdump_sub_header", sub_blocks * ps)?, 0);
    sink.write_at(0, &head)
        .map_err(write_err("disk_dump_header", 0))?;
    sink.write_at(ps, &sub)
        .map_err(write_err("kdump_sub_header", ps))?;
    sink.extend_to(desc_off)
        .map_err(write_err("bitmaps", bitmap_off))?;

    // Pass 1: bitmaps, cycle by cycle.
    let t0 = Instant::now();
    let mut dumpable = 0u64;
    let mut kept: Option<Vec<u8>> = None;
    let ncycles = map.max_mapnr.div_ceil(cycle).max(1);
    let mut stop: Option<String> = None;
    for c in 0..ncycles {
        let s = c * cycle;
        let e = (s + cycle).min(map.max_mapnr);
        let (b1, b2) = match part {
            // A split part holds the bitmaps of the whole dump, classified once for all.
            Some(p) => p.bitmaps[to_len("cycle", c)?].clone(),
            None => sel.cycle(map, s, e, stats),
        };
        stats.pages_in_memory += count_bits(&b1);
        dumpable += count_bits(&b2);
        if stop.is_none() {
            // Bitmap 2 first: a dump cut between the two shows its pages as lost, not
            // as filtered out.
            if let Err(err) = sink.write_at(bitmap_off + half + s / 8, &b2) {
                stop = Some(format!("writing bitmap 2: {err}"));
            } else if let Err(err) = sink.write_at(bitmap_off + s / 8, &b1) {
                stop = Some(format!("writing bitmap 1: {err}"));
            }
        }
        if ncycles == 1 && part.is_none() {
            kept = Some(b2);
        }
        progress(&Progress {
            phase: Phase::Classify,
            done: e,
            total: map.max_mapnr,
            written: sink.written(),
        });
    }
    stats.pages_dumpable = dumpable;
    stats.time_classify = t0.elapsed();
    if let Some(why) = stop {
        stats.incomplete = true;
        stats.stopped_by = Some(why);
        return Ok(());
    }

    // Pass 2: pages.
    let t1 = Instant::now();
    let data_start = add("page data", desc_off, mul("descriptors", dumpable, 24)?)?;
    sink.extend_to(data_start)
        .map_err(write_err("page descriptors", desc_off))?;
    let shared_zero = opts.dump_level & level::ZERO != 0;
    let mut data_cursor = data_start;
    // A part writes the pages of its own range, its first descriptor at `desc_off`.
    let (lo, hi) = part.map_or((0, map.max_mapnr), |p| p.range);
    let part_pages = match part {
        Some(p) => p
            .bitmaps
            .iter()
            .enumerate()
            .try_fold(0u64, |n, (c, (_, b2))| {
                let s = mul("cycle", u64::try_from(c).unwrap_or(u64::MAX), cycle)?;
                Ok::<u64, Error>(
                    n + set_bits(b2, b2.len() as u64 * 8)
                        .filter(|&i| (lo..hi).contains(&(s + i)))
                        .count() as u64,
                )
            })?,
        None => dumpable,
    };
    let zero_desc = encode_desc(order, data_start, header.block_size, 0);
    if shared_zero {
        if let Err(e) = sink.write_at(data_start, &vec![0u8; map.ps_len]) {
            stats.incomplete = true;
            stats.stopped_by = Some(format!("writing the zero page: {e}"));
            return Ok(());
        }
        data_cursor += ps;
    }
    let threads = opts.threads.max(1);
    let mut compressors = (0..threads)
        .map(|_| PageCompressor::new(codec, map.ps_len))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Writer {
        sink,
        order,
        desc_off,
        next_desc: 0,
        flushed_desc: 0,
        descs: Vec::with_capacity(64 * 1024),
        data: Vec::with_capacity(2 << 20),
        ends: Vec::with_capacity(4096),
        data_at: data_cursor,
        cursor: data_cursor,
    };
    let batch = opts.batch_pages.max(1);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let spare = std::sync::Mutex::new(Vec::<Batch>::new());
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u64>)>(2 * threads);
    let job_rx = std::sync::Mutex::new(job_rx);
    let (res_tx, res_rx) = std::sync::mpsc::sync_channel::<(u64, Batch)>(2 * threads);
    std::thread::scope(|scope| {
        // Producer: the pfns of bitmap 2, cycle by cycle, in batches.
        let stop = &stop;
        let producer = scope.spawn(move || {
            let mut seq = 0u64;
            let mut kept = kept;
            for c in 0..ncycles {
                let s = c * cycle;
                let e = (s + cycle).min(map.max_mapnr);
                if e <= lo || s >= hi {
                    continue;
                }
                let b2 = match (kept.take(), part) {
                    (Some(b), _) => b,
                    (None, Some(p)) => p.bitmaps[min_len(c, p.bitmaps.len() - 1)].1.clone(),
                    (None, None) => {
                        let mut scratch = CaptureStats::default();
                        sel.cycle(map, s, e, &mut scratch).1
                    }
                };
                let mut group = Vec::with_capacity(batch);
                for i in set_bits(&b2, e - s) {
                    if !(lo..hi).contains(&(s + i)) {
                        continue;
                    }
                    group.push(s + i);
                    if group.len() == batch {
                        if stop.load(std::sync::atomic::Ordering::Relaxed)
                            || job_tx.send((seq, std::mem::take(&mut group))).is_err()
                        {
                            return;
                        }
                        seq += 1;
                    }
                }
                if !group.is_empty() {
                    if job_tx.send((seq, group)).is_err() {
                        return;
                    }
                    seq += 1;
                }
            }
        });
        // Workers: read, test for zero, compress.
        let job_rx = &job_rx;
        let spare = &spare;
        for pc in compressors.iter_mut() {
            let res_tx = res_tx.clone();
            scope.spawn(move || {
                let mut run_buf = Vec::new();
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, pfns)) = job else { return };
                    let mut b = spare
                        .lock()
                        .ok()
                        .and_then(|mut v| v.pop())
                        .unwrap_or_default();
                    compress_batch(
                        dump,
                        map,
                        &pfns,
                        pc,
                        shared_zero,
                        &opts.erase,
                        &mut run_buf,
                        &mut b,
                    );
                    if res_tx.send((seq, b)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(res_tx);
        // Writer (this thread): results in sequence order.
        let mut pending = std::collections::BTreeMap::new();
        let mut next = 0u64;
        let mut done = 0u64;
        'recv: for (seq, b) in res_rx.iter() {
            pending.insert(seq, b);
            while let Some(b) = pending.remove(&next) {
                next += 1;
                let mut at = 0usize;
                for item in &b.items {
                    stats.bytes_in += ps;
                    let res = match *item {
                        Item::Zero => {
                            stats.excluded.zero += 1;
                            out.push_desc(zero_desc)
                        }
                        Item::Unreadable => {
                            stats.pages_unreadable += 1;
                            out.push_desc([0; 24])
                        }
                        Item::Data { len, flags } => {
                            stats.pages_written += 1;
                            let r = out.push_data(&b.data[at..at + len], flags);
                            at += len;
                            r
                        }
                    };
                    if let Err(e) = res {
                        stats.incomplete = true;
                        stats.stopped_by = Some(e.to_string());
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        break 'recv;
                    }
                }
                done += b.items.len() as u64;
                if let Ok(mut v) = spare.lock() {
                    if v.len() < threads {
                        v.push(b);
                    }
                }
                progress(&Progress {
                    phase: Phase::Write,
                    done,
                    total: part_pages,
                    written: out.sink.written(),
                });
            }
        }
        // Unblock the producer and workers when stopping early: results are refused, and
        // the jobs still queued are taken until the producer sees the stop flag and ends.
        drop(res_rx);
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            while job_rx.lock().is_ok_and(|rx| rx.recv().is_ok()) {}
        }
        let _ = producer.join();
    });
    if !stats.incomplete {
        if let Err(e) = out.flush() {
            stats.incomplete = true;
            stats.stopped_by = Some(e.to_string());
        }
    }
    stats.time_write = t1.elapsed();
    if stats.incomplete {
        // What was flushed stays valid; the header already says incomplete.
        let _ = out.sink.finish();
        return Ok(());
    }
    if !opts.erase.eraseinfo.is_empty() {
        // makedumpfile `write_kdump_eraseinfo`: the text right after the page data, then
        // the sub header pointing at it.
        let at = out.cursor;
        let text = &opts.erase.eraseinfo;
        out.sink
            .write_at(at, text)
            .map_err(write_err("eraseinfo", at))?;
        header.eraseinfo = (at, text.len() as u64);
        out.sink
            .write_at(ps, &header.encode_sub())
            .map_err(write_err("kdump_sub_header", ps))?;
    }
    if stats.pages_unreadable > 0 {
        stats.incomplete = true;
        stats.stopped_by = Some(format!(
            "{} input pages could not be read",
            stats.pages_unreadable
        ));
    } else {
        header.status &= !vmcore_reader::kdump::status::INCOMPLETE;
    }
    head = header.encode_main();
    out.sink
        .write_at(0, &head)
        .map_err(write_err("disk_dump_header", 0))?;
    out.sink
        .finish()
        .map_err(write_err("end of output", out.sink.written()))?;
    Ok(())
}

/// Ordered output of descriptors and data: data is written before the descriptors that
/// point at it.
struct Writer<'s> {
    sink: &'s mut dyn Sink,
    order: ByteOrder,
    desc_off: u64,
    next_desc: u64,
    flushed_desc: u64,
    descs: Vec<u8>,
    data: Vec<u8>,
    /// For each pending data page: (pending descriptors up to and including it, end of its
    /// bytes in `data`).
    ends: Vec<(usize, usize)>,
    data_at: u64,
    cursor: u64,
}

impl Writer<'_> {
    fn push_desc(&mut self, d: [u8; 24]) -> Result<()> {
        self.descs.extend_from_slice(&d);
        self.next_desc += 1;
        if self.descs.len() >= 24 * 16384 {
            self.flush()?;
        }
        Ok(())
    }

    fn push_data(&mut self, bytes: &[u8], flags: u32) -> Result<()> {
        // A compressed page is at most a page (1 MiB at most).
        let size = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
            what: "compressed page",
            value: bytes.len() as u64,
        })?;
        let d = encode_desc(self.order, self.cursor, size, flags);
        self.data.extend_from_slice(bytes);
        self.cursor += bytes.len() as u64;
        self.descs.extend_from_slice(&d);
        self.next_desc += 1;
        self.ends.push((self.descs.len() / 24, self.data.len()));
        if self.data.len() >= 2 << 20 || self.descs.len() >= 24 * 16384 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let mut keep = self.descs.len() / 24;
        let mut failure = None;
        let written = if self.data.is_empty() {
            Ok(())
        } else {
            self.sink.write_at(self.data_at, &self.data)
        };
        if let Err(e) = written {
            // Salvage: write page by page as far as the space goes; keep the descriptors of
            // the pages that made it (and the data-less ones before the first lost page).
            failure = Some(Error::Write {
                what: "page data",
                offset: self.data_at,
                source: e,
            });
            let mut done = 0;
            keep = self.ends.first().map_or(keep, |&(n, _)| n - 1);
            for (i, &(_, end)) in self.ends.iter().enumerate() {
                if self
                    .sink
                    .write_at(self.data_at + done as u64, &self.data[done..end])
                    .is_err()
                {
                    break;
                }
                done = end;
                keep = self
                    .ends
                    .get(i + 1)
                    .map_or(self.descs.len() / 24, |&(m, _)| m - 1);
            }
        }
        self.data_at += self.data.len() as u64;
        self.data.clear();
        self.ends.clear();
        if keep > 0 {
            let at = self.desc_off + self.flushed_desc * 24;
            let bytes = &self.descs[..keep * 24];
            if let Err(e) = self.sink.write_at(at, bytes) {
                // The bulk write stopped inside the descriptors, perhaps inside one that
                // straddles a block boundary, whose first bytes landed in an allocated block
                // (seen on a full tmpfs). Redo them one at a time; where one fails, zero the
                // part of it before the next 512-byte boundary, so that a descriptor is whole
                // or zero (lost), never torn.
                for (k, d) in bytes.chunks(24).enumerate() {
                    let o = at + k as u64 * 24;
                    if self.sink.write_at(o, d).is_err() {
                        let boundary = (o / 512 + 1) * 512;
                        if boundary < o + 24 {
                            // `boundary - o < 24`.
                            let _ = self
                                .sink
                                .write_at(o, &[0u8; 24][..min_len(boundary - o, 24)]);
                        }
                        break;
                    }
                }
                failure.get_or_insert(Error::Write {
                    what: "page descriptors",
                    offset: at,
                    source: e,
                });
            }
        }
        self.flushed_desc = self.next_desc;
        self.descs.clear();
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Reads, tests and compresses the pages `pfns` into `out` (emptied first; a batch the
/// writer is done with, so its buffers are reused rather than allocated and faulted in
/// again).
#[allow(
    clippy::too_many_arguments,
    reason = "a worker's inputs: the dump, its map, the pfns, the worker's compressor and buffers, and the two page rules (shared zero page, erasing)"
)]
fn compress_batch(
    dump: &Dump,
    map: &InputMap,
    pfns: &[u64],
    pc: &mut PageCompressor,
    shared_zero: bool,
    erase: &Erase,
    run_buf: &mut Vec<u8>,
    out: &mut Batch,
) {
    let ps = map.ps_len;
    out.data.clear();
    out.items.clear();
    let (Some(&first), Some(&last)) = (pfns.first(), pfns.last()) else {
        return;
    };
    // The batch's span through one window of the input when it maps (no copy), else runs
    // of consecutive pfns with one read each.
    let span = (last - first + 1).saturating_mul(map.ps);
    // `span <= WINDOW_MAX` (8 MiB) fits a `usize`, and so does every offset inside it.
    let window = usize::try_from(span)
        .ok()
        .filter(|_| span <= WINDOW_MAX)
        .and_then(|len| dump.map_phys(first * map.ps, len));
    if let Some(w) = window {
        let mut scratch = Vec::new();
        for &pfn in pfns {
            let at = min_len((pfn - first) * map.ps, w.len());
            let page = &w[at..at + ps];
            if erase.touches(pfn * map.ps, map.ps) {
                // The mapped input is read-only: erase a copy.
                scratch.clear();
                scratch.extend_from_slice(page);
                erase.apply(pfn * map.ps, &mut scratch);
                add_page(out, pc, &scratch, shared_zero);
            } else {
                add_page(out, pc, page, shared_zero);
            }
        }
        return;
    }
    let mut k = 0;
    while k < pfns.len() {
        let run = 1 + pfns[k + 1..]
            .iter()
            .zip(1u64..)
            .take_while(|&(&p, d)| p == pfns[k] + d)
            .count();
        if run_buf.len() < run * ps {
            run_buf.resize(run * ps, 0);
        }
        let run_pa = pfns[k] * map.ps;
        map.read_run(dump, pfns[k], &mut run_buf[..run * ps], |j, page, ok| {
            if ok {
                // `j < run <= pfns.len()`: a page index within the run.
                erase.apply(run_pa + (j as u64) * map.ps, page);
                add_page(out, pc, page, shared_zero);
            } else {
                out.items.push(Item::Unreadable);
            }
        });
        k += run;
    }
}

/// The largest input window a batch maps (256 pages spread over at most this many bytes).
const WINDOW_MAX: u64 = 8 << 20;

/// Appends one page to `out`: the shared zero page, or its stored (maybe compressed) bytes.
fn add_page(out: &mut Batch, pc: &mut PageCompressor, page: &[u8], shared_zero: bool) {
    if shared_zero && is_zero(page) {
        out.items.push(Item::Zero);
        return;
    }
    let (bytes, flags) = match pc.compress(page) {
        Ok((d, f)) => (d, f),
        Err(_) => (page, 0),
    };
    out.data.extend_from_slice(bytes);
    out.items.push(Item::Data {
        len: bytes.len(),
        flags,
    });
}

/// Bytes per read and write of `-E` segment data; three such buffers circulate.
const ELF_CHUNK: u64 = ELF_CHUNK_LEN as u64;
const ELF_CHUNK_LEN: usize = 1 << 20;

/// Segment data for `-E`, read ahead of the writer: bytes for file offset `at`.
#[derive(Default)]
struct ElfChunk {
    at: u64,
    data: Vec<u8>,
    pages_written: u64,
    pages_unreadable: u64,
}

/// Appends `n` bytes of physical memory from `pa` to `chunk` in one read, or page by page
/// when that fails, so that an unreadable page is zero-filled and counted alone.
fn read_elf_piece(dump: &Dump, ps: u64, pa: u64, n: u64, chunk: &mut ElfChunk) {
    let from = chunk.data.len();
    // `n <= ELF_CHUNK` (1 MiB), the caller's bound.
    let n_len = min_len(n, ELF_CHUNK_LEN);
    let n = n_len as u64;
    chunk.data.resize(from + n_len, 0);
    if dump
        .read_phys_with(pa, &mut chunk.data[from..], Excluded::Fill(0))
        .is_ok()
    {
        chunk.pages_written += (pa + n - 1) / ps - pa / ps + 1;
        return;
    }
    let mut q = pa;
    while q < pa + n {
        let m = (pa + n - q).min(ps - q % ps);
        // `q - pa < n` and `m <= n`: offsets within the piece.
        let at = from + min_len(q - pa, n_len);
        let part = &mut chunk.data[at..at + min_len(m, n_len)];
        if dump.read_phys_with(q, part, Excluded::Fill(0)).is_err() {
            part.fill(0);
            chunk.pages_unreadable += 1;
        } else {
            chunk.pages_written += 1;
        }
        q += m;
    }
}

/// [`zero_pages`] on `threads` threads, each over a contiguous share of the bitmap.
fn zero_pages_parallel(
    dump: &Dump,
    map: &InputMap,
    start: u64,
    b2: &[u8],
    len: u64,
    threads: usize,
) -> Vec<u64> {
    let share = len.div_ceil(threads as u64).div_ceil(64) * 64;
    if threads <= 1 || share >= len {
        return zero_pages(dump, map, start, b2, len);
    }
    std::thread::scope(|scope| {
        // `share < len` and `a < len`, the bitmap's bit count: indices into `b2`.
        let step = min_len(share, usize::MAX);
        let handles: Vec<_> = (0..len)
            .step_by(step)
            .map(|a| {
                let part = &b2[min_len(a / 8, b2.len())..];
                let n = share.min(len - a);
                scope.spawn(move || {
                    let mut z = zero_pages(dump, map, start + a, part, n);
                    z.iter_mut().for_each(|i| *i += a);
                    z
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The indices below `len` of bitmap `b2` (pfns from `start`) whose pages read as all
/// zero; runs of consecutive pfns are read up to 256 pages at a time (an unreadable page
/// is not a zero page).
fn zero_pages(dump: &Dump, map: &InputMap, start: u64, b2: &[u8], len: u64) -> Vec<u64> {
    const RUN: usize = 256;
    let ps = map.ps_len;
    let mut buf = vec![0u8; RUN * ps];
    let mut zero = Vec::new();
    let mut run: Vec<u64> = Vec::with_capacity(RUN);
    let mut flush = |run: &mut Vec<u64>| {
        let Some(&first) = run.first() else { return };
        map.read_run(
            dump,
            start + first,
            &mut buf[..run.len() * ps],
            |j, page, ok| {
                if ok && is_zero(page) {
                    zero.push(run[j]);
                }
            },
        );
        run.clear();
    };
    for i in set_bits(b2, len) {
        if run.last().is_some_and(|&l| l + 1 != i) || run.len() == RUN {
            flush(&mut run);
        }
        run.push(i);
    }
    flush(&mut run);
    zero
}

/// makedumpfile writes `p_offset` 0 for a `PT_LOAD` without file data.
fn zero_empty_offsets(bytes: &mut [u8], loads: &[DumpSegment], target: Target) {
    let (phoff, size, at, width) = match target.class {
        Class::Elf64 => (64usize, 56usize, 8usize, 8usize),
        Class::Elf32 => (52, 32, 4, 4),
    };
    for (i, l) in loads.iter().enumerate() {
        if l.filesz == 0 {
            // Program header 0 is the PT_NOTE.
            let o = phoff + (i + 1) * size + at;
            if let Some(f) = bytes.get_mut(o..o + width) {
                f.fill(0);
            }
        }
    }
}

/// Pages of excluded runs shorter than this inside a segment are written anyway, as
/// makedumpfile's `PFN_EXCLUDED` does, to keep the number of `PT_LOAD`s down.
pub const PFN_EXCLUDED: u64 = 256;

#[allow(
    clippy::too_many_arguments,
    reason = "one private caller; input, classification, options, output and callbacks are separate borrows"
)]
fn write_elf(
    dump: &Dump,
    map: &InputMap,
    sel: &Selector<'_, '_>,
    opts: &CaptureOptions,
    cycle: u64,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
    stats: &mut CaptureStats,
) -> Result<()> {
    let ps = map.ps;
    let t0 = Instant::now();
    let target = match dump.elf() {
        Some(e) => Target::new(e.header.machine, e.header.class, e.header.endian),
        None => Target::new(dump.machine(), Class::Elf64, dump.endian()),
    };
    let vaddrs: Vec<u64> = match dump.elf() {
        Some(e) => e.segments.iter().map(|s| s.vaddr).collect(),
        None => vec![0; map.segs.len()],
    };
    // makedumpfile copies each PT_LOAD's p_flags and p_align to the pieces it writes.
    let attrs: Vec<(u32, u64)> = match dump.elf() {
        Some(e) => e
            .program_headers
            .iter()
            .filter(|p| p.is_load())
            .map(|p| (p.flags, p.align))
            .collect(),
        None => Vec::new(),
    };
    let piece = |k: usize, vaddr: u64, paddr: u64, filesz: u64, memsz: u64| {
        let mut d = DumpSegment::new(vaddr, paddr, filesz, memsz);
        if let Some(&(flags, align)) = attrs.get(k) {
            d.flags = flags;
            d.align = align;
        }
        d
    };
    // Pass 1: the dumpable pfn set, zero pages removed (makedumpfile reads them twice for ELF).
    let mut dumpable: Vec<(u64, u64)> = Vec::new(); // runs of dumpable pfns
    let ncycles = map.max_mapnr.div_ceil(cycle).max(1);
    for c in 0..ncycles {
        let s = c * cycle;
        let e = (s + cycle).min(map.max_mapnr);
        let (b1, mut b2) = sel.cycle(map, s, e, stats);
        stats.pages_in_memory += count_bits(&b1);
        if opts.dump_level & level::ZERO != 0 {
            for i in zero_pages_parallel(dump, map, s, &b2, e - s, opts.threads.max(1)) {
                clear(&mut b2, i);
                stats.excluded.zero += 1;
            }
        }
        stats.pages_dumpable += count_bits(&b2);
        for i in 0..e - s {
            if bit(&b2, i) {
                match dumpable.last_mut() {
                    Some(r) if r.1 == s + i => r.1 += 1,
                    _ => dumpable.push((s + i, s + i + 1)),
                }
            }
        }
        progress(&Progress {
            phase: Phase::Classify,
            done: e,
            total: map.max_mapnr,
            written: 0,
        });
    }
    // Segments: per input segment, runs of dumpable pages, short gaps kept.
    let mut loads: Vec<DumpSegment> = Vec::new();
    for (k, &(p, f, m)) in map.segs.iter().enumerate() {
        let seg_end_mem = p + m;
        let seg_end_file = p + f;
        let first = p / ps;
        let last = seg_end_file.div_ceil(ps);
        let runs: Vec<(u64, u64)> = dumpable
            .iter()
            .filter(|r| r.1 > first && r.0 < last)
            .map(|r| (r.0.max(first), r.1.min(last)))
            .collect();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for r in runs {
            match merged.last_mut() {
                Some(l) if r.0 - l.1 < PFN_EXCLUDED => l.1 = r.1,
                _ => merged.push(r),
            }
        }
        // A short excluded run at the start of a segment is kept too.
        if let Some(f) = merged.first_mut().filter(|f| f.0 - first < PFN_EXCLUDED) {
            f.0 = first;
        }
        let vbase = vaddrs.get(k).copied().unwrap_or(0);
        if merged.is_empty() {
            loads.push(piece(k, vbase, p, 0, m));
            continue;
        }
        if merged[0].0 * ps > p {
            loads.push(piece(k, vbase, p, 0, merged[0].0 * ps - p));
        }
        for (j, &(rs, re)) in merged.iter().enumerate() {
            let start = (rs * ps).max(p);
            let file_end = (re * ps).min(seg_end_file);
            let mem_end = merged.get(j + 1).map_or(seg_end_mem, |n| n.0 * ps);
            let va = if vbase == 0 || vbase == u64::MAX {
                vbase
            } else {
                vbase.wrapping_add(start - p)
            };
            loads.push(piece(k, va, start, file_end - start, mem_end - start));
        }
    }
    stats.time_classify = t0.elapsed();
    let t1 = Instant::now();
    let mut notes = notes_copy(dump);
    notes.extend_from_slice(&opts.erase.elf_note(dump.endian() == Endian::Big));
    let mut built = DumpFileBuilder::new(target)
        .segments(loads.clone())
        .incomplete(true)
        .build(&notes)?;
    zero_empty_offsets(&mut built.bytes, &loads, target);
    sink.write_at(0, &built.bytes)
        .map_err(write_err("ELF headers", 0))?;
    let total: u64 = loads.iter().map(|l| l.filesz / ps).sum();
    // A reader thread fills ELF_CHUNK-byte chunks in file order while this thread writes the
    // previous ones; three buffers circulate between the two.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<ElfChunk>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut done = 0u64;
    std::thread::scope(|scope| {
        let segments = &built.segments;
        let loads = &loads;
        scope.spawn(move || {
            let mut chunk = ElfChunk::default();
            for (ld, ph) in loads.iter().zip(segments) {
                let mut pa = ld.paddr;
                let end = ld.paddr + ld.filesz;
                chunk.at = ph.offset;
                while pa < end {
                    let n = (end - pa).min(ELF_CHUNK - chunk.data.len() as u64);
                    let from = chunk.data.len();
                    read_elf_piece(dump, ps, pa, n, &mut chunk);
                    if let Some(piece) = chunk.data.get_mut(from..) {
                        opts.erase.apply(pa, piece);
                    }
                    pa += n;
                    if chunk.data.len() as u64 >= ELF_CHUNK || pa >= end {
                        let next_at = chunk.at + chunk.data.len() as u64;
                        let mut data = empty_rx.try_recv().unwrap_or_default();
                        data.clear();
                        let next = ElfChunk {
                            at: next_at,
                            data,
                            ..ElfChunk::default()
                        };
                        if full_tx.send(std::mem::replace(&mut chunk, next)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        for chunk in full_rx.iter() {
            stats.pages_written += chunk.pages_written;
            stats.pages_unreadable += chunk.pages_unreadable;
            stats.bytes_in += chunk.data.len() as u64;
            done += chunk.pages_written + chunk.pages_unreadable;
            if let Err(e) = sink.write_at(chunk.at, &chunk.data) {
                stats.incomplete = true;
                stats.stopped_by = Some(format!("writing segment data at {:#x}: {e}", chunk.at));
                break;
            }
            let _ = empty_tx.send(chunk.data);
            progress(&Progress {
                phase: Phase::Write,
                done,
                total,
                written: sink.written(),
            });
        }
        // On a write failure the reader's next send fails and it ends.
        drop(full_rx);
    });
    stats.time_write = t1.elapsed();
    if stats.incomplete {
        let _ = sink.finish();
        return Ok(());
    }
    if stats.pages_unreadable > 0 {
        stats.incomplete = true;
        stats.stopped_by = Some(format!(
            "{} input pages could not be read",
            stats.pages_unreadable
        ));
    } else {
        let mut done = DumpFileBuilder::new(target)
            .segments(loads.clone())
            .build(&notes)?;
        zero_empty_offsets(&mut done.bytes, &loads, target);
        sink.write_at(0, &done.bytes)
            .map_err(write_err("ELF headers", 0))?;
    }
    sink.finish()
        .map_err(write_err("end of output", sink.written()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_blocks_are_finished_in_the_next_parts() {
        // pfns 0..64 from 0: a free block from pfn 20 runs to 40 past a part end at 24,
        // where pfns 24..40 were kept (tails); pfn 30 was already out (counted there).
        let mut b2 = vec![0xffu8; 8];
        b2[3] &= !(1 << 6);
        let mut counts = ExcludedCounts::default();
        apply_spills(
            &mut b2,
            0,
            64,
            &[(24, (PageClass::Free, 40)), (48, (PageClass::Keep, 56))],
            &mut counts,
        );
        let set: Vec<u64> = crate::bitmap::set_bits(&b2, 64).collect();
        let want: Vec<u64> = (0..24).chain(40..64).collect();
        assert_eq!(set, want);
        assert_eq!(counts.free, 15);
        // A block running past the cycle's end stops there.
        let mut b = vec![0xffu8; 2];
        let mut c = ExcludedCounts::default();
        apply_spills(&mut b, 0, 16, &[(8, (PageClass::User, 1 << 20))], &mut c);
        assert_eq!(b, [0xff, 0]);
        assert_eq!(c.user, 8);
    }

    /// Ranges cover `[0, max_mapnr)` in order, every boundary a multiple of
    /// [`SPLIT_ALIGN`], each holding about `1/n` of the set bits, across cycles and with the
    /// bits bunched at one end.
    #[test]
    fn split_ranges_balance_the_dumpable_pages() {
        // Two cycles of 4096 pfns: the first with one pfn in eight set, the second full.
        let b2 = vec![vec![0x01u8; 512], vec![0xffu8; 512]];
        let r = split_ranges(&b2, 4096, 8192, 3);
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].0, r[2].1), (0, 8192));
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        assert!(r.iter().all(|&(s, _)| s % SPLIT_ALIGN == 0), "{r:?}");
        let weight = |(s, e): (u64, u64)| {
            (s..e)
                .filter(|&p| {
                    let (c, i) = (p / 4096, p % 4096);
                    b2[usize::try_from(c).unwrap()][usize::try_from(i / 8).unwrap()]
                        & (1 << (i % 8))
                        != 0
                })
                .count()
        };
        let w: Vec<usize> = r.iter().map(|&x| weight(x)).collect();
        assert_eq!(w.iter().sum::<usize>(), 512 + 4096);
        // A third each, to within one aligned block of set bits.
        assert!(w.iter().all(|&n| n.abs_diff(1536) <= 64), "{w:?}");
        // Nothing dumpable: the last part takes the whole range, the others are empty.
        let r = split_ranges(&[vec![0u8; 8]], 64, 64, 2);
        assert_eq!(r, vec![(0, 0), (0, 64)]);
        // More parts than aligned blocks: some parts are empty, boundaries stay aligned,
        // and the ranges still end at max_mapnr.
        let r = split_ranges(&[vec![0b101u8; 16]], 128, 100, 4);
        assert_eq!(r, vec![(0, 64), (64, 64), (64, 100), (100, 100)]);
    }
}

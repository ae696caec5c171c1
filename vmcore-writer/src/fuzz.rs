//! Entry points for the fuzz targets under `fuzz/`, kept here so the corpus replay test and
//! the fuzzer run the same code on stable. They feed the writer what comes from the dump:
//! VMCOREINFO values and `struct page` (mem_map) contents, and whole hostile dumps. Each
//! returns a number so the work is not optimised away; bad input must give errors, never
//! panics, hangs or unbounded allocations.

use vmcore_reader::{Dump, KernelInfo, PhysMemory};

use crate::capture::{CaptureOptions, OutputFormat, capture};
use crate::classify::{PageClass, PageLayout};
use crate::codec::Codec;
use crate::sink::VecSink;

/// `data` = VMCOREINFO text, a NUL byte, then mem_map bytes. Parses the page layout for
/// several dump levels, word sizes and byte orders, and classifies every `struct page`.
pub fn classify_pages(data: &[u8]) -> usize {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (text, rest) = data.split_at(split);
    let memmap = rest.get(1..).unwrap_or(&[]);
    let Ok(info) = KernelInfo::parse(text) else {
        return 0;
    };
    let mut n = 0;
    for (level, long, big) in [(31u8, 8, false), (16, 8, true), (2, 4, false), (0, 4, true)] {
        let Ok(l) = PageLayout::from_info(&info, level, long, big) else {
            continue;
        };
        n += usize::from(l.needs_walk());
        let mut pages = memmap.chunks_exact(l.size).peekable();
        let mut pfn = 0u64;
        while let Some(p) = pages.next() {
            let (class, count) = l.classify(pfn, p, pages.peek().copied());
            if class != PageClass::Keep {
                n += 1;
            }
            assert!(count >= 1);
            pfn += 1;
        }
    }
    n
}

/// `data[0]` picks the dump level (low 5 bits) and output (the top 3 bits: kdump with one
/// of the codecs, or ELF); the rest is opened as a dump and captured into memory with a
/// 4 MiB limit. Dumps describing more than 1 GiB of memory are skipped (they are valid,
/// only slow).
pub fn capture_dump(data: &[u8]) -> usize {
    let Some((&sel, rest)) = data.split_first() else {
        return 0;
    };
    let Ok(dump) = Dump::from_bytes(rest.to_vec()) else {
        return 0;
    };
    if dump.present_ranges().last().is_some_and(|r| r.1 > 1 << 30)
        || dump.elf().is_some_and(|e| {
            e.segments
                .iter()
                .any(|s| s.paddr.saturating_add(s.memsz) > 1 << 30)
        })
    {
        return 0;
    }
    let format = match sel >> 5 {
        0 => OutputFormat::Kdump(Codec::None),
        1 => OutputFormat::Kdump(Codec::Zlib),
        2 => OutputFormat::Kdump(Codec::Lzo),
        3 => OutputFormat::Kdump(Codec::Snappy),
        4 => OutputFormat::Kdump(Codec::Zstd),
        _ => OutputFormat::Elf,
    };
    let opts = CaptureOptions {
        format,
        dump_level: sel & 31,
        threads: 2,
        ..CaptureOptions::default()
    };
    let mut sink = VecSink {
        limit: Some(4 << 20),
        ..VecSink::default()
    };
    match capture(&dump, &opts, &mut sink, &mut |_| {}) {
        Ok(s) => {
            // What was written must open again.
            if !s.incomplete {
                let out = Dump::from_bytes(sink.bytes).map(|d| d.present_ranges().len());
                assert!(out.is_ok(), "our complete output does not open: {out:?}");
            }
            1 + usize::try_from(s.pages_written).unwrap_or(usize::MAX - 1)
        }
        Err(_) => 0,
    }
}

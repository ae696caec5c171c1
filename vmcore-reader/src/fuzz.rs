//! Entry points for the fuzz targets under `fuzz/`, kept here so the corpus replay test and
//! the fuzzer run the same code on stable. Each returns a number so the work is not
//! optimised away; hostile input must give errors, never panics.

#![forbid(unsafe_code)]

use crate::dump::{Dump, PhysMemory};

/// Opens `data` as a dump of any format (kdump-compressed header, bitmaps and page
/// descriptors; flattened records; ELF), then reads a few pages and the kernel log.
pub fn open_and_read(data: &[u8]) -> usize {
    let Ok(dump) = Dump::from_bytes(data.to_vec()) else {
        return 0;
    };
    let mut n = 1;
    let mut page = vec![0u8; 4096];
    for (start, end) in dump.present_ranges().into_iter().take(8) {
        let len = (end - start).min(4096) as usize;
        if dump.read_phys(start, &mut page[..len]).is_ok() {
            n += 1;
        }
    }
    let _ = dump.page_counts();
    let _ = dump.cpus();
    if let Ok(k) = crate::Kernel::new(&dump) {
        n += crate::read_log(&k).map_or(0, |l| l.records.len());
    }
    n
}

/// Parses `data` as a kdump-compressed file's first blocks: `disk_dump_header`, the
/// sub-header for its version and layout, and the page descriptors after the bitmaps,
/// reading every dumped block.
pub fn kdump_headers(data: &[u8]) -> usize {
    let mut n = 0;
    if let Ok(h) = crate::kdump::parse_header(data) {
        n += 1;
        let bs = h.block_size as usize;
        if let Some(sub) = data.get(bs..) {
            n += usize::from(crate::kdump::parse_sub_header(&h, sub).is_ok());
        }
    }
    for chunk in data.chunks_exact(24).take(64) {
        let mut b = [0u8; 24];
        b.copy_from_slice(chunk);
        let d = crate::kdump::parse_page_desc(crate::kdump::ByteOrder::Big, &b);
        n += usize::from(crate::codec::Codec::from_flags(d.flags).is_some());
    }
    if let Ok(dump) = Dump::from_bytes(data.to_vec()) {
        n += 1;
        let bs = dump.page_size();
        let mut block = vec![0u8; usize::try_from(bs.min(1 << 20)).unwrap_or(4096)];
        for (start, end) in dump.present_ranges().into_iter().take(16) {
            let mut p = start;
            while p < end && p - start < 64 * bs {
                if dump.read_phys(p, &mut block).is_ok() {
                    n += 1;
                }
                p += bs;
            }
        }
        let _ = dump.page_counts();
    }
    n
}

/// Indexes `data` as a flattened stream and reads the rebuilt file through the index.
pub fn flattened(data: &[u8]) -> usize {
    let Ok(index) =
        crate::flat::FlatIndex::build(crate::source::Source::Bytes(data.to_vec().into()))
    else {
        return 0;
    };
    let mut buf = [0u8; 512];
    let mut n = 0;
    let mut off = 0u64;
    while off < index.len().min(1 << 20) {
        let len = (index.len() - off).min(512) as usize;
        if index.read_exact_at("fuzz", off, &mut buf[..len]).is_ok() {
            n += 1;
        }
        off += 4093;
    }
    n + open_and_read(data)
}

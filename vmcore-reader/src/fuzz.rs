//! Entry points for the fuzz targets under `fuzz/`, kept here so the corpus replay test and
//! the fuzzer run the same code on stable. Each returns a number so the work is not
//! optimised away; hostile input must give errors, never panics.

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

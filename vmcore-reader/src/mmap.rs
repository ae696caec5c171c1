//! The crate's only `unsafe`: mapping a dump file read-only with `memmap2`.
//!
//! makedumpfile maps `/proc/vmcore` and dump files for speed (the kernel supports `mmap` on
//! `/proc/vmcore` since 3.11) and falls back to `read()` when mapping fails; [`map`] returns
//! `None` in that case and the caller reads with positioned reads instead.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::Mmap;

/// Maps `file` read-only, or returns `None` when the file cannot be mapped (a pipe, a
/// filesystem without mmap, an empty file).
pub(crate) fn map(file: &File) -> Option<Mmap> {
    if file.metadata().ok()?.len() == 0 {
        return None;
    }
    // SAFETY: `Mmap::map` is unsafe because the mapping aliases the file: if another process
    // truncates the file while it is mapped, touching the lost pages raises SIGBUS, and if it
    // writes to the file the bytes behind our `&[u8]` change. Dumps are opened read-only and
    // are immutable by contract (a finished dump file or `/proc/vmcore`, which the kernel never
    // changes or truncates); the crate's documentation of `Dump::open` states that callers
    // must not modify or truncate the file while the `Dump` lives, and `Dump::open_read`
    // avoids the mapping for callers who cannot promise that.
    let mapped = unsafe { Mmap::map(file) };
    mapped.ok()
}

/// Maps `len` bytes of `file` from `offset` read-only (memmap2 aligns the offset down to a
/// page and hides the slack), or `None` when that range cannot be mapped (a FUSE file in
/// direct-I/O mode, a pipe); the caller then reads instead.
///
/// A window rather than the whole file: the kernel builds the page tables of a
/// `/proc/vmcore` mapping when it is made (`mmap_vmcore` in `fs/proc/vmcore.c` remaps the old
/// memory at once), so mapping all of a large machine's memory would cost the capture kernel
/// a page-table byte per 512 bytes of dump; makedumpfile maps windows too.
pub(crate) fn map_range(file: &File, offset: u64, len: usize) -> Option<Mmap> {
    if len == 0 {
        return None;
    }
    // SAFETY: as for `map`: the mapping aliases the file, so a truncation of it by another
    // process would make touching the lost pages raise SIGBUS, and a write to it would change
    // the bytes behind our `&[u8]`. The range lies inside the file (the caller checked it
    // against a PT_LOAD's file data), dumps are immutable by contract, and
    // `Dump::map_phys` documents that it maps.
    let mapped = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)
    };
    mapped.ok()
}

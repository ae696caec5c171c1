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
    // SAFETY: memmap2 documents why `Mmap::map` is unsafe (`MmapOptions`, "Safety"): "All
    // file-backed memory map constructors are marked `unsafe` because of the potential for
    // *Undefined Behavior* (UB) using the map if the underlying file is subsequently
    // modified, in or out of process." mmap(2) names the two ways that shows: for a
    // MAP_PRIVATE mapping "It is unspecified whether changes made to the file after the
    // mmap() call are visible in the mapped region", and SIGBUS is raised on an "Attempted
    // access to a page of the buffer that lies beyond the end of the mapped file". Why it
    // holds here: the file is opened read-only and we never write through the mapping; the
    // mapping covers exactly the file's length at this call (memmap2 takes it from
    // `metadata()`), and every access goes through `Source`, which bounds reads by that
    // length; and the inputs are immutable by contract: `/proc/vmcore` is never changed or
    // truncated by the kernel, and `Dump::open` documents that the caller must not modify or
    // truncate a dump file while the `Dump` lives (`Dump::open_read` avoids the mapping for
    // callers who cannot promise that).
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
    // SAFETY: the same contract as `map` (memmap2: UB "if the underlying file is
    // subsequently modified, in or out of process"; mmap(2): SIGBUS on "a page of the buffer
    // that lies beyond the end of the mapped file"). Why it holds: the mapping is read-only
    // and never written through; the caller (`Dump::map_phys`) checked that
    // `offset + len` lies inside a PT_LOAD's file data; the inputs are immutable by the
    // contract `Dump::open` and `Dump::map_phys` document.
    let mapped = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)
    };
    mapped.ok()
}

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

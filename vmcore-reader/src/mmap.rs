//! The crate's only `unsafe`: mapping a dump file read-only with `memmap2`.
//!
//! makedumpfile maps `/proc/vmcore` for speed (the kernel supports `mmap` on `/proc/vmcore`
//! since 3.11) and falls back to `read()` when mapping fails; [`map`] returns `None` in that
//! case and the caller reads with positioned reads instead. Regular dump files are not
//! mapped at all ([`never_shrinks`]): another process could truncate them under the mapping.
#![allow(
    unsafe_code,
    reason = "the crate's one mapping module (DESIGN.md); each block carries its SAFETY proof"
)]

use std::fs::File;

use memmap2::Mmap;

/// Whether `file` is on the procfs mounted at `/proc` (the same device as `/proc`): that is
/// `/proc/vmcore`, whose size and contents the kernel fixes when the capture kernel boots.
/// Only such files are mapped. A regular file can be truncated by another process while
/// mapped, and mmap(2) says what touching the lost part does: SIGBUS on "Attempted access
/// to a page of the buffer that lies beyond the end of the mapped file"; a read returns an
/// error instead, so regular files are read with positioned reads.
#[cfg(unix)]
pub(crate) fn never_shrinks(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata("/proc")) {
        (Ok(f), Ok(proc)) => f.is_file() && f.dev() == proc.dev(),
        _ => false,
    }
}

/// Without `/proc`, nothing is known not to shrink: every file is read.
#[cfg(not(unix))]
pub(crate) fn never_shrinks(_file: &File) -> bool {
    false
}

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
    // length; and the caller (`Dump::open`) maps only files for which `never_shrinks` holds,
    // `/proc/vmcore`, which the kernel never changes or truncates while it exists.
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
    // `offset + len` lies inside a PT_LOAD's file data and inside the file's length at open,
    // and it maps only files for which `never_shrinks` holds (`/proc/vmcore`).
    let mapped = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)
    };
    mapped.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn only_procfs_files_count_as_never_shrinking() {
        let path = std::env::temp_dir().join(format!("vmcore-reader-mmap-{}", std::process::id()));
        std::fs::write(&path, b"regular").unwrap();
        assert!(!never_shrinks(&File::open(&path).unwrap()));
        std::fs::remove_file(&path).unwrap();
        // A chroot without /proc mounted has no procfs file to try.
        if let Ok(f) = File::open("/proc/self/stat") {
            assert!(never_shrinks(&f));
        }
    }
}

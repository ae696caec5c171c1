//! Where a dump's bytes come from: a read-only mapping, positioned `read()`s on a file, a
//! byte buffer, or the indexed records of a flattened stream. Everything above reads through
//! [`Source::read_exact_at`], which names the offset on failure.

#![forbid(unsafe_code)]

use std::fs::File;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::flat::FlatIndex;

/// The bytes of a dump.
#[derive(Debug)]
pub(crate) enum Source {
    /// A read-only mapping of the whole file, and the file for bulk scans.
    Mapped(memmap2::Mmap, File),
    /// A file read with positioned reads; `windows`: whether [`crate::Dump::map_phys`] may
    /// map parts of it (only a file that never shrinks, `/proc/vmcore`).
    File { file: File, len: u64, windows: bool },
    /// Bytes in memory (synthetic dumps, fuzzing).
    Bytes(Arc<[u8]>),
    /// A flattened stream, read through its record index.
    Flat(Box<FlatIndex>),
}

impl Source {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Mapped(m, _) => m.len() as u64,
            Source::File { len, .. } => *len,
            Source::Bytes(b) => b.len() as u64,
            Source::Flat(f) => f.len(),
        }
    }

    /// A borrowed slice when the bytes are addressable directly.
    pub(crate) fn slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let data: &[u8] = match self {
            Source::Mapped(m, _) => m,
            Source::Bytes(b) => b,
            _ => return None,
        };
        let start = usize::try_from(offset).ok()?;
        data.get(start..start.checked_add(len)?)
    }

    /// Fills `buf` from `offset`; fails with [`Error::Truncated`] past the end.
    pub(crate) fn read_exact_at(
        &self,
        what: &'static str,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<()> {
        let len = buf.len() as u64;
        let truncated = || Error::Truncated {
            what,
            offset,
            len,
            available: self.len(),
        };
        let end = offset.checked_add(len).ok_or_else(truncated)?;
        if end > self.len() {
            return Err(truncated());
        }
        match self {
            Source::Mapped(..) | Source::Bytes(_) => {
                let s = self.slice(offset, buf.len()).ok_or_else(truncated)?;
                buf.copy_from_slice(s);
                Ok(())
            }
            Source::File { file, .. } => read_file_at(file, what, offset, buf),
            Source::Flat(f) => f.read_exact_at(what, offset, buf),
        }
    }

    /// Like [`Source::read_exact_at`], but for scans over much of the file: a mapped file is
    /// read with positioned reads so the scan does not grow the process's resident set by
    /// the size of the dump.
    pub(crate) fn read_bulk(&self, what: &'static str, offset: u64, buf: &mut [u8]) -> Result<()> {
        match self {
            Source::Mapped(m, file)
                if offset.saturating_add(buf.len() as u64) <= m.len() as u64 =>
            {
                read_file_at(file, what, offset, buf)
            }
            _ => self.read_exact_at(what, offset, buf),
        }
    }

    /// Reads `len` bytes at `offset` into a new buffer (`len` must already be bounded by the
    /// caller against [`Source::len`]).
    pub(crate) fn read_vec(&self, what: &'static str, offset: u64, len: u64) -> Result<Vec<u8>> {
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(Error::Truncated {
                what,
                offset,
                len,
                available: self.len(),
            });
        }
        let mut v = vec![0; crate::error::to_usize(what, len)?];
        self.read_exact_at(what, offset, &mut v)?;
        Ok(v)
    }
}

#[cfg(unix)]
pub(crate) fn read_file_at(
    file: &File,
    what: &'static str,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset).map_err(|source| Error::Io {
        what,
        offset,
        source,
    })
}

#[cfg(not(unix))]
pub(crate) fn read_file_at(
    file: &File,
    what: &'static str,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(buf))
        .map_err(|source| Error::Io {
            what,
            offset,
            source,
        })
}

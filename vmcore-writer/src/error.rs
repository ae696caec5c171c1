//! The one error type of the crate: what failed, and where (file offset, pfn, address).

/// Why a dump could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input dump failed (and the failure is not limited to one page).
    #[error("reading the input dump: {0}")]
    Read(#[from] vmcore_reader::Error),
    /// Writing the output failed at this offset.
    #[error("writing {what} at offset {offset:#x}: {source}")]
    Write {
        /// What was being written.
        what: &'static str,
        /// Output offset.
        offset: u64,
        /// The operating system's error (`ENOSPC`, `EIO`, or `EFBIG` for the `-L` limit).
        #[source]
        source: std::io::Error,
    },
    /// The input has no VMCOREINFO, or lacks a key the requested dump level needs.
    #[error("VMCOREINFO: {what}")]
    VmcoreInfo {
        /// What is missing or wrong.
        what: String,
    },
    /// A value taken from the dump (VMCOREINFO, `struct page` contents) is out of range.
    #[error("{what} is {value:#x}, expected {expected}")]
    BadValue {
        /// What the value is.
        what: &'static str,
        /// The value found.
        value: u64,
        /// What was expected.
        expected: &'static str,
    },
    /// A size computed from the dump overflows or exceeds what the format can hold.
    #[error("{what} overflows or exceeds the format's limit ({value:#x})")]
    TooLarge {
        /// What was computed.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// An ELF structure could not be built.
    #[error("ELF: {0}")]
    Elf(#[from] elfcorehdr::Error),
    /// A flattened stream is malformed.
    #[error("flattened stream at offset {offset:#x}: {what}")]
    Flattened {
        /// What is wrong.
        what: &'static str,
        /// Stream offset.
        offset: u64,
    },
    /// A page codec failed.
    #[error("{codec} compression failed: {detail}")]
    Codec {
        /// The codec.
        codec: &'static str,
        /// The codec's message.
        detail: String,
    },
    /// The caller's options conflict.
    #[error("invalid options: {0}")]
    Options(&'static str),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn add(what: &'static str, a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).ok_or(Error::TooLarge { what, value: a })
}

pub(crate) fn mul(what: &'static str, a: u64, b: u64) -> Result<u64> {
    a.checked_mul(b).ok_or(Error::TooLarge { what, value: a })
}

/// `v` as a `usize` (a length or index into memory), or [`Error::TooLarge`] naming it.
pub(crate) fn to_len(what: &'static str, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::TooLarge { what, value: v })
}

/// `min(v, max)` as a `usize`: a `v` that does not fit a `usize` is larger than `max`.
pub(crate) fn min_len(v: u64, max: usize) -> usize {
    usize::try_from(v).map_or(max, |v| v.min(max))
}

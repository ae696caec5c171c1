//! The crate's error type. Every variant names where in the input the
//! problem is and the value found there.

use std::path::PathBuf;

use crate::compress::Compression;

/// Errors of this crate.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ends before a structure it announces.
    #[error("{what}: need {need} bytes at offset {offset:#x}, input has {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Bytes it needs from `offset`.
        need: u64,
        /// Total input length.
        have: u64,
    },
    /// A magic number or signature is wrong.
    #[error("{what}: bad magic {found:#x} at offset {offset:#x}")]
    BadMagic {
        /// The structure.
        what: &'static str,
        /// Offset of the magic.
        offset: u64,
        /// The value found.
        found: u64,
    },
    /// A header field holds a value that cannot be right.
    #[error("{what}: invalid value {value:#x} at offset {offset:#x}: {reason}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its value.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// No known format matches.
    #[error("not a kernel image this crate knows (first bytes {first:02x?})")]
    Unrecognized {
        /// Up to 8 leading bytes.
        first: Vec<u8>,
    },
    /// A compressed stream is corrupt.
    #[error("{codec} data at offset {offset:#x} is corrupt: {message}")]
    Decompress {
        /// The codec.
        codec: Compression,
        /// Offset of the stream in the input.
        offset: u64,
        /// The decoder's message.
        message: String,
    },
    /// Decompression would exceed the caller's limit.
    #[error(
        "{codec} data at offset {offset:#x} decompresses to more than the limit of {limit} bytes"
    )]
    DecompressedTooLarge {
        /// The codec.
        codec: Compression,
        /// Offset of the stream.
        offset: u64,
        /// The limit.
        limit: u64,
    },
    /// A codec this crate can recognise but not decode (bzip2, lz4, lzo).
    #[error("{codec} data at offset {offset:#x}: decoding this codec is not supported")]
    UnsupportedCompression {
        /// The codec.
        codec: Compression,
        /// Offset of the stream.
        offset: u64,
    },
    /// Wrappers nest deeper than the parser follows.
    #[error("image wrappers nest deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: u32,
    },
    /// More digest regions than the purgatory's parameter block holds.
    #[error("the purgatory hashes at most {max} regions, {count} were given")]
    PurgatoryRegions {
        /// Regions given.
        count: usize,
        /// The parameter block's capacity.
        max: usize,
    },
    /// A line of `/proc/iomem` (or a memmap entry) is malformed.
    #[error("line {line}: {reason}: {text:?}")]
    MemoryMap {
        /// 1-based line number (or entry index for `/sys/firmware/memmap`).
        line: usize,
        /// The text (at most 80 bytes).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A load plan cannot be made (no room, a limit exceeded, a missing fact).
    #[error("{what} ({value:#x}): {reason}")]
    Plan {
        /// What was being planned.
        what: &'static str,
        /// The value concerned.
        value: u64,
        /// Why it cannot be planned.
        reason: String,
    },
    /// The ELF core header could not be built.
    #[error("elfcorehdr: {0}")]
    CoreHeader(elfcorehdr::Error),
    /// A file under the root directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Shorthand for this crate's results.
pub type Result<T> = core::result::Result<T, Error>;

//! The one error type of the crate: every variant names where in the dump (file offset,
//! physical or virtual address) and what was found or expected.

#![forbid(unsafe_code)]

/// Why a dump could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error reading the dump.
    #[error("I/O error reading {what} at offset {offset:#x}: {source}")]
    Io {
        /// What was being read.
        what: &'static str,
        /// File offset.
        offset: u64,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The dump ends before a structure it points at.
    #[error("{what} at offset {offset:#x} needs {len} bytes but the dump has {available}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset of the structure.
        offset: u64,
        /// Bytes needed.
        len: u64,
        /// Bytes the dump (or stream) holds.
        available: u64,
    },
    /// The first bytes match no dump format.
    #[error(
        "unknown dump format at offset 0: found {found:02x?}, expected ELF, \"KDUMP   \", \"DISKDUMP\" or \"makedumpfile\""
    )]
    UnknownFormat {
        /// The first 16 bytes.
        found: [u8; 16],
    },
    /// The files given as one split set (`makedumpfile --split`) do not belong together.
    #[error("split dump {file}: {field} is {found}, expected {expected}")]
    SplitSet {
        /// The part that does not fit (as given to [`crate::SplitSet::open`]).
        file: std::path::PathBuf,
        /// The header field that differs, or the range check that fails.
        field: &'static str,
        /// What this file holds.
        found: String,
        /// What the set needs.
        expected: String,
    },
    /// A header field holds a value the format does not allow.
    #[error("{field} at offset {offset:#x} is {value:#x}, expected {expected}")]
    BadField {
        /// The field.
        field: &'static str,
        /// File offset of the field.
        offset: u64,
        /// The value found.
        value: u64,
        /// What was expected.
        expected: &'static str,
    },
    /// A size or offset computed from the dump overflows.
    #[error("{what} overflows: {a:#x} and {b:#x}")]
    Overflow {
        /// What was computed.
        what: &'static str,
        /// First operand.
        a: u64,
        /// Second operand.
        b: u64,
    },
    /// An ELF structure is malformed (from `elfcorehdr`).
    #[error("ELF: {0}")]
    Elf(#[from] elfcorehdr::Error),
    /// The physical address is not in the dump at all (a hole, or outside every segment).
    #[error("physical address {paddr:#x} is not in the dump")]
    NotInDump {
        /// The address.
        paddr: u64,
    },
    /// The page was filtered out when the dump was made (dump level), so its content is unknown.
    #[error("physical address {paddr:#x} is in a page excluded from the dump")]
    Excluded {
        /// The address.
        paddr: u64,
    },
    /// The dump is marked incomplete and this page was not written before it stopped.
    #[error("physical address {paddr:#x} was lost: the dump is incomplete")]
    Lost {
        /// The address.
        paddr: u64,
    },
    /// A compressed page did not decompress to one block.
    #[error(
        "{codec} page for physical address {paddr:#x} at offset {offset:#x} ({size} bytes): {detail}"
    )]
    Decompress {
        /// The codec.
        codec: &'static str,
        /// Physical address of the page.
        paddr: u64,
        /// File offset of the compressed data.
        offset: u64,
        /// Compressed size.
        size: u64,
        /// What went wrong.
        detail: String,
    },
    /// The page is compressed with a codec this build leaves out (a disabled cargo feature).
    #[error(
        "page at offset {offset:#x} uses {codec}, which this build of vmcore-reader leaves out"
    )]
    CodecDisabled {
        /// The codec.
        codec: &'static str,
        /// File offset of the page.
        offset: u64,
    },
    /// The page descriptor names no codec this reader knows.
    #[error("page descriptor at offset {offset:#x} has unknown flags {flags:#x}")]
    UnknownCodec {
        /// File offset of the descriptor.
        offset: u64,
        /// Its flags.
        flags: u32,
    },
    /// The dump carries no VMCOREINFO.
    #[error("the dump carries no VMCOREINFO note")]
    NoVmcoreInfo,
    /// A VMCOREINFO entry the operation needs is missing.
    #[error("VMCOREINFO has no {key}")]
    MissingKey {
        /// The key, as written in VMCOREINFO.
        key: String,
    },
    /// A VMCOREINFO value does not parse.
    #[error("VMCOREINFO {key}={value:?}: expected {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The dumped machine's architecture has no translation here.
    #[error("no virtual-to-physical translation for machine {machine}")]
    UnsupportedArch {
        /// The machine name or ELF `e_machine`.
        machine: String,
    },
    /// Virtual addresses cannot be translated in this dump.
    #[error("no virtual-to-physical translation: {reason}")]
    NoTranslation {
        /// Why (the architecture, or the VMCOREINFO key that is missing).
        reason: String,
    },
    /// A page-table walk found no mapping.
    #[error(
        "virtual address {vaddr:#x} is not mapped: level {level} entry {entry:#x} at physical {entry_paddr:#x}"
    )]
    NotMapped {
        /// The address.
        vaddr: u64,
        /// Page-table level (the root is the highest number).
        level: u8,
        /// The entry that ended the walk.
        entry: u64,
        /// Where the entry was read.
        entry_paddr: u64,
    },
    /// The kernel log's structures are inconsistent.
    #[error("printk: {what} at {vaddr:#x} is {value:#x}")]
    Printk {
        /// What was wrong.
        what: &'static str,
        /// Virtual address of the field or buffer.
        vaddr: u64,
        /// The value found.
        value: u64,
    },
    /// A size read from the dump is beyond what the reader will allocate.
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// What would be allocated.
        what: &'static str,
        /// Requested size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

pub(crate) fn add(what: &'static str, a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).ok_or(Error::Overflow { what, a, b })
}

pub(crate) fn mul(what: &'static str, a: u64, b: u64) -> Result<u64> {
    a.checked_mul(b).ok_or(Error::Overflow { what, a, b })
}

pub(crate) fn to_usize(what: &'static str, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::TooLarge {
        what,
        size: v,
        limit: u64::try_from(usize::MAX).unwrap_or(u64::MAX),
    })
}

/// `min(v, max)` as a `usize`: a `v` that does not fit a `usize` is larger than `max`.
pub(crate) fn min_len(v: u64, max: usize) -> usize {
    usize::try_from(v).map_or(max, |v| v.min(max))
}

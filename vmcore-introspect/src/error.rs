//! The one error type of the crate: every variant names the kernel virtual address (or the
//! table and index) and the value that was found, so a corrupted dump is diagnosable.

/// Why a kernel structure could not be read from the dump.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading kernel memory failed (not mapped, page excluded by the dump level, not in the dump).
    #[error("reading {what} at {vaddr:#x} ({len} bytes): {source}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// Kernel virtual address.
        vaddr: u64,
        /// Bytes asked for.
        len: u64,
        /// The reader's error.
        #[source]
        source: vmcore_reader::Error,
    },
    /// The dump lacks what the operation needs (a VMCOREINFO key, a symbol, a BTF type).
    #[error("the dump has no {what}: {why}")]
    Missing {
        /// What is missing (`SYMBOL(kallsyms_names)` in VMCOREINFO, `symbol init_task`, ...).
        what: String,
        /// What needed it.
        why: &'static str,
    },
    /// VMCOREINFO could not be read or a value in it does not parse.
    #[error("VMCOREINFO: {0}")]
    Vmcoreinfo(#[source] vmcore_reader::Error),
    /// A value read from the dump is outside what the structure allows.
    #[error("{what} at {vaddr:#x} is {value:#x}, expected {expected}")]
    Bad {
        /// The field or table entry.
        what: &'static str,
        /// Where it was read (kernel virtual address; an offset into a buffer for BTF).
        vaddr: u64,
        /// The value found.
        value: u64,
        /// What was allowed.
        expected: String,
    },
    /// A list in the dump loops back on itself before reaching its head.
    #[error(
        "{what}: node {node:#x} seen twice after {steps} steps (a cycle not through the head at {head:#x})"
    )]
    Cycle {
        /// The list.
        what: &'static str,
        /// The list head.
        head: u64,
        /// The node met twice.
        node: u64,
        /// Nodes walked.
        steps: u64,
    },
    /// A list is longer than the dump could hold.
    #[error("{what} from {head:#x} has more than {limit} entries")]
    TooLong {
        /// The list.
        what: &'static str,
        /// The list head.
        head: u64,
        /// The bound.
        limit: u64,
    },
    /// A BTF structure, member or type is malformed or absent.
    #[error("BTF: {0}")]
    Btf(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

pub(crate) fn bad(
    what: &'static str,
    vaddr: u64,
    value: u64,
    expected: impl Into<String>,
) -> Error {
    Error::Bad {
        what,
        vaddr,
        value,
        expected: expected.into(),
    }
}

/// `a + b` in the address space of the dumped kernel, or an error naming both.
#[allow(dead_code, reason = "used by the walkers of the next steps")]
pub(crate) fn add(what: &'static str, a: u64, b: u64) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| bad(what, a, b, "an address that does not overflow"))
}

pub(crate) fn to_usize(what: &'static str, vaddr: u64, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| bad(what, vaddr, v, "a size that fits in usize"))
}

//! The crate's one error type: every parse and build failure, with the offset and value at fault.

/// Everything that can go wrong while parsing or building an ELF core.
///
/// Offsets are byte offsets into the buffer handed to the parser (for notes: into the note
/// bytes, plus the base offset given to [`Notes::with_base`](crate::Notes::with_base)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A structure does not fit in the bytes available.
    #[error("{what} at offset {offset:#x} needs {len} bytes but only {available} are there")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs.
        len: u64,
        /// How many bytes the buffer holds from its start (or from `offset` for notes).
        available: u64,
    },
    /// The first four bytes are not `\x7fELF`.
    #[error("not an ELF file: magic is {found:02x?}")]
    BadMagic {
        /// The four bytes found at offset 0.
        found: [u8; 4],
    },
    /// `e_ident[EI_CLASS]` is neither 1 nor 2.
    #[error("unknown ELF class {found} at offset 4")]
    BadClass {
        /// The byte found.
        found: u8,
    },
    /// `e_ident[EI_DATA]` is neither 1 nor 2.
    #[error("unknown ELF byte order {found} at offset 5")]
    BadByteOrder {
        /// The byte found.
        found: u8,
    },
    /// A header field holds a value this format cannot have.
    #[error("{field} at offset {offset:#x} is {found:#x}, expected {expected:#x}")]
    BadField {
        /// The field's name.
        field: &'static str,
        /// Where it is.
        offset: u64,
        /// What it holds.
        found: u64,
        /// What it must hold.
        expected: u64,
    },
    /// An offset plus a size does not fit in 64 bits.
    #[error("{what} at offset {offset:#x} with size {size:#x} overflows")]
    Overflow {
        /// What was being located.
        what: &'static str,
        /// The offset read.
        offset: u64,
        /// The size read.
        size: u64,
    },
    /// A note runs past the end of its segment.
    #[error(
        "note at offset {offset:#x} (namesz {namesz}, descsz {descsz}) runs past the segment end at {end:#x}"
    )]
    NoteOverrun {
        /// Offset of the note header.
        offset: u64,
        /// Its `n_namesz`.
        namesz: u32,
        /// Its `n_descsz`.
        descsz: u32,
        /// Offset of the end of the segment.
        end: u64,
    },
    /// A note descriptor is shorter than the structure it should hold.
    #[error("{what} descriptor is {found} bytes, needs at least {need}")]
    DescriptorTooShort {
        /// What the descriptor should hold.
        what: &'static str,
        /// How many bytes the structure needs.
        need: usize,
        /// How many the descriptor has.
        found: usize,
    },
    /// No register layout is known for this `e_machine`.
    #[error("no register layout for ELF machine {machine}")]
    UnsupportedMachine {
        /// The `e_machine` value.
        machine: u16,
    },
    /// VMCOREINFO text is not valid UTF-8.
    #[error("VMCOREINFO is not UTF-8 at byte {offset}")]
    VmcoreInfoNotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: u64,
    },
    /// A VMCOREINFO value does not parse as the number its key calls for.
    #[error("VMCOREINFO line at byte {offset}: value of {key} is not a valid {expected}")]
    VmcoreInfoValue {
        /// Byte offset of the line.
        offset: u64,
        /// The key's kind (`SYMBOL`, `SIZE`, ...).
        key: &'static str,
        /// The number format expected.
        expected: &'static str,
    },
    /// A range given to a builder is empty (`start >= end`) or wraps.
    #[error("{what} {start:#x}..{end:#x} is empty")]
    EmptyRange {
        /// Which kind of range.
        what: &'static str,
        /// Its start.
        start: u64,
        /// Its (exclusive) end.
        end: u64,
    },
    /// Two RAM ranges given to a builder overlap.
    #[error(
        "RAM ranges {first_start:#x}..{first_end:#x} and {second_start:#x}..{second_end:#x} overlap"
    )]
    OverlappingRanges {
        /// Start of the lower range.
        first_start: u64,
        /// End of the lower range.
        first_end: u64,
        /// Start of the other range.
        second_start: u64,
        /// End of the other range.
        second_end: u64,
    },
    /// More program headers than `e_phnum` can hold below `PN_XNUM`.
    #[error("{count} program headers; at most {max} fit below PN_XNUM")]
    TooManyProgramHeaders {
        /// How many were asked for.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// A value does not fit in a 32-bit ELF field.
    #[error("{what} {value:#x} does not fit in an ELF32 field")]
    TooLargeForElf32 {
        /// Which value.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// The architecture's direct map is not fixed, so the caller must give one.
    #[error("ELF machine {machine} has no fixed direct map; give one with direct_map()")]
    DirectMapRequired {
        /// The `e_machine` value.
        machine: u16,
    },
    /// A size computed by a builder overflows.
    #[error("{what} overflows")]
    SizeOverflow {
        /// What was being computed.
        what: &'static str,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]

#[cfg(test)]
extern crate std;

mod distro;
mod eval;
mod kernel;
mod memparse;
mod place;
mod target;
mod text;
mod value;

use core::fmt;

pub use distro::{
    Distro, RecommendError, RecommendOptions, Recommendation, UnknownDistro, recommend,
};
pub use eval::{Failure, Reservation, evaluate, evaluate_value};
pub use memparse::memparse;
pub use place::{ASSUMED_KERNEL, PlaceFailure, Placement, Span, assumed_free, place};
pub use target::{Arch, BadKernelVersion, HighSupport, KernelVersion, Rules, Target, UnknownArch};
pub use text::TextBuf;
pub use value::{CrashKernel, EditError, Edited, RangeEntry, Ranges};

/// The suffixed forms `crashkernel=X,high`, `,low` and `,cma`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suffix {
    /// `,high`: look for room above the low limit first.
    High,
    /// `,low`: the size of the region below the low limit beside a high one.
    Low,
    /// `,cma`: a contiguous memory area the capture kernel may use (v6.17+).
    Cma,
}

impl Suffix {
    /// The suffix as written, with its comma.
    pub fn text(self) -> &'static str {
        match self {
            Suffix::High => ",high",
            Suffix::Low => ",low",
            Suffix::Cma => ",cma",
        }
    }
}

impl fmt::Display for Suffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// What the kernel complains about in a malformed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// "memory value expected": no number where one must be.
    MemoryValueExpected,
    /// "unrecognized char: %c" (0 stands for the end of the line).
    UnrecognizedChar(u8),
    /// "'-' expected" after a range start.
    DashExpected,
    /// "end <= start" in a range.
    EndNotAboveStart,
    /// "':' expected" after a range.
    ColonExpected,
    /// "Memory value expected after '@'" in the range form.
    MemoryValueExpectedAfterAt,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::MemoryValueExpected => f.write_str("memory value expected"),
            Reason::UnrecognizedChar(0) => f.write_str("unrecognized char: end of line"),
            Reason::UnrecognizedChar(c) if c.is_ascii_graphic() || *c == b' ' => {
                write!(f, "unrecognized char: {}", char::from(*c))
            }
            Reason::UnrecognizedChar(c) => write!(f, "unrecognized char: byte {c:#04x}"),
            Reason::DashExpected => f.write_str("'-' expected"),
            Reason::EndNotAboveStart => f.write_str("end <= start"),
            Reason::ColonExpected => f.write_str("':' expected"),
            Reason::MemoryValueExpectedAfterAt => f.write_str("Memory value expected after '@'"),
        }
    }
}

/// A value the kernel rejects: where (a byte offset into the text given) and
/// why, in the words the kernel prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed {
    /// Byte offset into the command line or value that was parsed.
    pub pos: usize,
    /// The kernel's complaint.
    pub reason: Reason,
    /// The suffixed token it was found in, if any.
    pub suffix: Option<Suffix>,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.suffix {
            Some(s) => write!(f, "crashkernel=X{s} at byte {}: {}", self.pos, self.reason),
            None => write!(f, "crashkernel= at byte {}: {}", self.pos, self.reason),
        }
    }
}

/// A byte count shown the way the command line spells it: the largest of
/// `E P T G M K` that divides it exactly, else plain bytes.
///
/// ```
/// use crashkernel_param::Size;
/// assert_eq!(Size(256 << 20).to_string(), "256M");
/// assert_eq!(Size(1536 << 20).to_string(), "1536M");
/// assert_eq!(Size(4097).to_string(), "4097");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, char); 6] = [
            (60, 'E'),
            (50, 'P'),
            (40, 'T'),
            (30, 'G'),
            (20, 'M'),
            (10, 'K'),
        ];
        if self.0 != 0 {
            for (shift, unit) in UNITS {
                if self.0.trailing_zeros() >= shift {
                    return write!(f, "{}{unit}", self.0 >> shift);
                }
            }
        }
        write!(f, "{}", self.0)
    }
}

impl core::error::Error for Malformed {}
impl core::error::Error for Failure {}
impl core::error::Error for EditError {}
impl core::error::Error for RecommendError {}
impl core::error::Error for UnknownArch {}
impl core::error::Error for UnknownDistro {}
impl core::error::Error for BadKernelVersion {}

#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![forbid(clippy::undocumented_unsafe_blocks)]

pub mod arm64;
pub mod codec;
mod dump;
pub mod elf;
mod error;
pub mod flat;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod kdump;
mod kernel;
mod mmap;
pub mod printk;
mod source;
mod split;
#[cfg(any(test, feature = "synth"))]
#[doc(hidden)]
pub mod synth;
pub mod x86_64;

pub use dump::{
    CpuState, Dump, Excluded, Format, PageCounts, PageState, PhysMemory, PhysWindow,
    machine_from_uname,
};
pub use error::{Error, Result};
pub use kernel::{Kernel, KernelInfo, Translation};
pub use printk::{KernelLog, LogKind, LogRecord, read_log};
pub use split::SplitSet;

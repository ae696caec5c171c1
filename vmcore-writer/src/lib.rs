#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![forbid(unsafe_code)]

pub mod bitmap;
mod capture;
pub mod classify;
pub mod codec;
pub mod erase;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod kdump;
pub mod lzo;
mod reassemble;
pub mod sink;

pub use capture::{
    CaptureOptions, CaptureStats, OutputFormat, PFN_EXCLUDED, Phase, Progress, SPLIT_ALIGN,
    capture, capture_split, split_ranges,
};
pub use classify::{ExcludedCounts, PageClass, PageLayout, level};
pub use codec::{Codec, PageCompressor};
pub use erase::{Erase, EraseRange};
pub use error::{Error, Result};
pub use reassemble::{ReassembleStats, reassemble};
pub use sink::{FileSink, FlatSink, Rebuilt, Sink, VecSink, rebuild};

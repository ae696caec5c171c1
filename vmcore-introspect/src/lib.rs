#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
pub mod kallsyms;
mod mem;

pub use error::{Error, Result};
pub use kallsyms::{Kallsyms, KallsymsLocations, Symbol};
pub use mem::{ByteOrder, FlatMemory, Memory};

#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![forbid(unsafe_code)]

pub mod btf;
mod error;
pub mod kallsyms;
mod mem;
pub mod modules;
pub mod scan;
pub mod tasks;

pub use btf::{Btf, Member};
pub use error::{Error, Result};
pub use kallsyms::{Kallsyms, KallsymsLocations, Symbol};
pub use mem::{ByteOrder, FlatMemory, Memory};
pub use modules::{Module, modules};
pub use tasks::{Task, TaskWalker};

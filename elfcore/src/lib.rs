#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

extern crate alloc;

mod build;
mod decode;
mod error;
mod fields;
// Public only so the fuzz target and the corpus replay test can reach it; not part of the
// supported API and free to change in any release.
#[doc(hidden)]
pub mod fuzz;
mod note;
mod parse;
mod prstatus;
mod qemu;
pub mod raw;
mod types;
mod vmcoreinfo;

pub use build::{
    CrashHeaderBuilder, DirectMap, DumpFileBuilder, DumpFileHeader, DumpSegment, HEADER_ALIGN,
    KernelText, NoteBuffer, PhysRange, Target, mark_incomplete, write_headers,
};
pub use decode::DecodedNote;
pub use error::{Error, Result};
pub use note::{Note, NoteWriter, Notes, note_size};
pub use parse::{CoreNotes, ElfCore, ProgramHeaders};
pub use prstatus::{
    Aarch64Regs, ArmRegs, I386Regs, Loongarch64Regs, Ppc64Regs, PrPsInfo, PrStatus, Registers,
    Riscv64Regs, S390xRegs, TimeVal, X86_64Regs,
};
pub use qemu::{QEMU_NOTE_NAME, QemuCpuState, QemuSegment};
pub use types::{Class, Endian, FileHeader, Machine, ProgramHeader};
pub use vmcoreinfo::{Entry, Key, VMCOREINFO_NOTE_NAME, VmcoreInfo};

//! Dispatch from a note's name and type to its typed decoder.

use crate::error::Result;
use crate::note::Note;
use crate::prstatus::{PrPsInfo, PrStatus};
use crate::qemu::{QEMU_NOTE_NAME, QemuCpuState};
use crate::raw::{NT_PRPSINFO, NT_PRSTATUS, NT_VMCOREINFO};
use crate::types::{Endian, Machine};
use crate::vmcoreinfo::{VMCOREINFO_NOTE_NAME, VmcoreInfo};

/// A note decoded by name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodedNote<'a> {
    /// `CORE`/`NT_PRSTATUS`: one CPU's registers at the crash.
    PrStatus(PrStatus),
    /// `CORE`/`NT_PRPSINFO`.
    PrPsInfo(PrPsInfo),
    /// `VMCOREINFO`/0.
    VmcoreInfo(VmcoreInfo<'a>),
    /// `QEMU`/0: QEMU's x86 CPU state.
    QemuCpuState(QemuCpuState),
    /// Any other note, undecoded.
    Other(Note<'a>),
}

impl<'a> Note<'a> {
    /// Decodes this note for a core of machine `machine` and byte order `endian`.
    ///
    /// `CORE` notes other than `NT_PRSTATUS` and `NT_PRPSINFO` (floating point, extended
    /// state, ...) come back as [`DecodedNote::Other`].
    pub fn decode(&self, machine: Machine, endian: Endian) -> Result<DecodedNote<'a>> {
        Ok(match (self.name, self.n_type) {
            (b"CORE", NT_PRSTATUS) => {
                DecodedNote::PrStatus(PrStatus::parse(self.desc, machine, endian)?)
            }
            (b"CORE", NT_PRPSINFO) => {
                DecodedNote::PrPsInfo(PrPsInfo::parse(self.desc, machine, endian)?)
            }
            (name, NT_VMCOREINFO) if name == VMCOREINFO_NOTE_NAME => {
                DecodedNote::VmcoreInfo(VmcoreInfo::parse(self.desc)?)
            }
            (name, 0) if name == QEMU_NOTE_NAME => {
                DecodedNote::QemuCpuState(QemuCpuState::parse(self.desc, endian)?)
            }
            _ => DecodedNote::Other(*self),
        })
    }
}

//! QEMU's `QEMU` notes: the x86 CPU state `dump-guest-memory` writes beside each CPU's
//! `NT_PRSTATUS`.
//!
//! Layout: QEMU's `target/i386/arch_dump.c` (`QEMUCPUSegment`, `QEMUCPUState`, version 1),
//! all fields 64-bit or 32-bit in the guest's byte order, for i386 and x86_64 guests alike.
//! Other targets write only `CORE` notes.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::fields::{Reader, Writer};
use crate::types::Endian;

/// The note name of QEMU's CPU state notes (type 0).
pub const QEMU_NOTE_NAME: &[u8] = b"QEMU";

/// One segment register as QEMU saves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QemuSegment {
    /// Selector.
    pub selector: u32,
    /// Limit.
    pub limit: u32,
    /// Descriptor flags.
    pub flags: u32,
    /// Base address.
    pub base: u64,
}

/// QEMU's x86 CPU state (`QEMUCPUState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(
    missing_docs,
    reason = "the register fields are named as in QEMU's QEMUCPUState and need no prose each"
)]
pub struct QemuCpuState {
    /// Format version (1).
    pub version: u32,
    /// `sizeof(QEMUCPUState)` as written (440 for version 1).
    pub size: u32,
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    pub cs: QemuSegment,
    pub ds: QemuSegment,
    pub es: QemuSegment,
    pub fs: QemuSegment,
    pub gs: QemuSegment,
    pub ss: QemuSegment,
    pub ldt: QemuSegment,
    pub tr: QemuSegment,
    pub gdt: QemuSegment,
    pub idt: QemuSegment,
    /// `cr0`..`cr4`.
    pub cr: [u64; 5],
    pub kernel_gs_base: u64,
}

impl QemuCpuState {
    /// Size of version 1 of the structure.
    pub const SIZE: usize = 440;

    /// Decodes the descriptor of a `QEMU` note.
    pub fn parse(desc: &[u8], endian: Endian) -> Result<QemuCpuState> {
        if desc.len() < Self::SIZE {
            return Err(Error::DescriptorTooShort {
                what: "QEMU CPU state",
                need: Self::SIZE,
                found: desc.len(),
            });
        }
        let mut r = Reader {
            data: desc,
            pos: 0,
            endian,
        };
        let version = r.u32();
        let size = r.u32();
        let [
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rsp,
            rbp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
            rflags,
        ] = core::array::from_fn(|_| r.u64());
        let [cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt] = core::array::from_fn(|_| {
            let selector = r.u32();
            let limit = r.u32();
            let flags = r.u32();
            r.skip(4);
            QemuSegment {
                selector,
                limit,
                flags,
                base: r.u64(),
            }
        });
        let cr = core::array::from_fn(|_| r.u64());
        let kernel_gs_base = r.u64();
        Ok(QemuCpuState {
            version,
            size,
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rsp,
            rbp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
            rflags,
            cs,
            ds,
            es,
            fs,
            gs,
            ss,
            ldt,
            tr,
            gdt,
            idt,
            cr,
            kernel_gs_base,
        })
    }

    /// Encodes the descriptor, [`QemuCpuState::SIZE`] bytes.
    pub fn to_bytes(&self, endian: Endian) -> Vec<u8> {
        let mut w = Writer {
            buf: Vec::with_capacity(Self::SIZE),
            endian,
        };
        w.u32(self.version);
        w.u32(self.size);
        for v in [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rsp,
            self.rbp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rip,
            self.rflags,
        ] {
            w.u64(v);
        }
        for s in [
            self.cs, self.ds, self.es, self.fs, self.gs, self.ss, self.ldt, self.tr, self.gdt,
            self.idt,
        ] {
            w.u32(s.selector);
            w.u32(s.limit);
            w.u32(s.flags);
            w.u32(0);
            w.u64(s.base);
        }
        for v in self.cr.iter().chain([&self.kernel_gs_base]) {
            w.u64(*v);
        }
        w.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_offsets() {
        let s = QemuCpuState {
            version: 1,
            size: 440,
            rip: 0xffff_ffff_8100_0000,
            cs: QemuSegment {
                selector: 0x10,
                limit: 0xffff_ffff,
                flags: 0xa09b00,
                base: 0,
            },
            cr: [1, 2, 3, 4, 5],
            kernel_gs_base: 0x55,
            ..QemuCpuState::default()
        };
        let b = s.to_bytes(Endian::Little);
        assert_eq!(b.len(), QemuCpuState::SIZE);
        // rip is the 17th u64 after version and size.
        assert_eq!(&b[8 + 16 * 8..8 + 17 * 8], &s.rip.to_le_bytes());
        assert_eq!(QemuCpuState::parse(&b, Endian::Little), Ok(s));
        assert!(QemuCpuState::parse(&b[..439], Endian::Little).is_err());
    }
}

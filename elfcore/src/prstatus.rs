//! `NT_PRSTATUS` and `NT_PRPSINFO`: the kernel's `struct elf_prstatus` and `struct
//! elf_prpsinfo`, with the registers of each architecture by name.
//!
//! Layouts: `include/linux/elfcore.h` and `include/uapi/linux/elfcore.h` (`elf_siginfo`,
//! `elf_prstatus_common`, `elf_prpsinfo`), with the natural alignment of each ABI; the register
//! sets are each architecture's `elf_gregset_t`: x86_64 and i386 `struct user_regs_struct`
//! (`arch/x86/include/asm/user_{64,32}.h`), arm64 `struct user_pt_regs`
//! (`arch/arm64/include/uapi/asm/ptrace.h`), arm `uregs[18]`, ppc64 `struct pt_regs` as 48
//! words (`arch/powerpc/include/uapi/asm/ptrace.h`, `ELF_NGREG`), s390x `s390_regs`
//! (`arch/s390/include/uapi/asm/ptrace.h`), riscv64 `struct user_regs_struct`
//! (`arch/riscv/include/uapi/asm/ptrace.h`), loongarch64 `struct user_pt_regs`
//! (`arch/loongarch/include/uapi/asm/ptrace.h`). With 8-byte longs the registers start at
//! offset 112, with 4-byte longs at 72.
//!
//! The register width follows `e_machine`, not the ELF class: an x86_64 `/proc/vmcore` made
//! from an ELF32 `elfcorehdr=` still carries 64-bit `prstatus` notes. `EM_RISCV` is taken as
//! riscv64.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::fields::{Reader, Writer};
use crate::types::{Endian, Machine};

/// Word size of an architecture's `long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    W32,
    W64,
}

impl Word {
    pub(crate) const fn bytes(self) -> usize {
        match self {
            Word::W32 => 4,
            Word::W64 => 8,
        }
    }
}

fn word_of(machine: Machine) -> Result<Word> {
    match machine {
        Machine::I386 | Machine::ARM => Ok(Word::W32),
        Machine::X86_64
        | Machine::AARCH64
        | Machine::PPC64
        | Machine::S390
        | Machine::RISCV
        | Machine::LOONGARCH => Ok(Word::W64),
        Machine(machine) => Err(Error::UnsupportedMachine { machine }),
    }
}

macro_rules! named_regs {
    ($(#[$doc:meta])* $name:ident, $word:expr, { $($(#[$fdoc:meta])* $field:ident : $kind:tt),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        #[allow(missing_docs, reason = "register fields carry the kernel's register names; the struct doc names the layout")]
        pub struct $name {
            $($(#[$fdoc])* pub $field: named_regs!(@ty $kind),)*
        }

        impl $name {
            #[allow(dead_code, reason = "read by the layout assertions below, which rustc 1.85 does not count as a use")]
            const WORD: Word = $word;
            const SIZE: usize = 0 $(+ named_regs!(@size $kind, $word))*;

            fn read(r: &mut Reader<'_>) -> $name {
                $name { $($field: named_regs!(@read r, $kind, $word),)* }
            }

            fn write(&self, w: &mut Writer) {
                $(named_regs!(@write w, self.$field, $kind, $word);)*
            }
        }
    };
    (@ty w) => { u64 };
    (@ty u32) => { u32 };
    (@ty [w; $n:expr]) => { [u64; $n] };
    (@ty [u32; $n:expr]) => { [u32; $n] };
    (@size w, $word:expr) => { $word.bytes() };
    (@size u32, $word:expr) => { 4 };
    (@size [w; $n:expr], $word:expr) => { $n * $word.bytes() };
    (@size [u32; $n:expr], $word:expr) => { $n * 4 };
    (@read $r:ident, w, $word:expr) => { $r.word($word) };
    (@read $r:ident, u32, $word:expr) => { $r.u32() };
    (@read $r:ident, [w; $n:expr], $word:expr) => { $r.words::<$n>($word) };
    (@read $r:ident, [u32; $n:expr], $word:expr) => { core::array::from_fn(|_| $r.u32()) };
    (@write $w:ident, $v:expr, w, $word:expr) => { $w.word($word, $v) };
    (@write $w:ident, $v:expr, u32, $word:expr) => { $w.u32($v) };
    (@write $w:ident, $v:expr, [w; $n:expr], $word:expr) => { $w.words($word, &$v) };
    (@write $w:ident, $v:expr, [u32; $n:expr], $word:expr) => { for x in $v { $w.u32(x) } };
}

named_regs!(
    /// x86_64 `struct user_regs_struct`.
    X86_64Regs, Word::W64, {
    r15: w, r14: w, r13: w, r12: w, rbp: w, rbx: w, r11: w, r10: w, r9: w, r8: w, rax: w,
    rcx: w, rdx: w, rsi: w, rdi: w, orig_rax: w, rip: w, cs: w, eflags: w, rsp: w, ss: w,
    fs_base: w, gs_base: w, ds: w, es: w, fs: w, gs: w,
});

named_regs!(
    /// i386 `struct user_regs_struct` (32-bit values widened).
    I386Regs, Word::W32, {
    ebx: w, ecx: w, edx: w, esi: w, edi: w, ebp: w, eax: w, ds: w, es: w, fs: w, gs: w,
    orig_eax: w, eip: w, cs: w, eflags: w, esp: w, ss: w,
});

named_regs!(
    /// arm64 `struct user_pt_regs`.
    Aarch64Regs, Word::W64, {
    /// `x0`..`x30` (`x29` is the frame pointer, `x30` the link register).
    regs: [w; 31], sp: w, pc: w, pstate: w,
});

named_regs!(
    /// 32-bit Arm `uregs[18]` (32-bit values widened).
    ArmRegs, Word::W32, {
    /// `r0`..`r15` (`r13` = sp, `r14` = lr, `r15` = pc).
    regs: [w; 16], cpsr: w, orig_r0: w,
});

named_regs!(
    /// ppc64 `struct pt_regs` as the 48 words of `elf_gregset_t`.
    Ppc64Regs, Word::W64, {
    /// `r0`..`r31` (`r1` is the stack pointer).
    gpr: [w; 32], nip: w, msr: w, orig_gpr3: w, ctr: w, link: w, xer: w, ccr: w, softe: w,
    trap: w, dar: w, dsisr: w, result: w, pad: [w; 4],
});

named_regs!(
    /// s390x `s390_regs`.
    S390xRegs, Word::W64, {
    psw_mask: w, psw_addr: w,
    /// `r0`..`r15` (`r15` is the stack pointer).
    gprs: [w; 16],
    acrs: [u32; 16], orig_gpr2: w,
});

named_regs!(
    /// riscv64 `struct user_regs_struct`.
    Riscv64Regs, Word::W64, {
    pc: w, ra: w, sp: w, gp: w, tp: w, t0: w, t1: w, t2: w, s0: w, s1: w, a0: w, a1: w, a2: w,
    a3: w, a4: w, a5: w, a6: w, a7: w, s2: w, s3: w, s4: w, s5: w, s6: w, s7: w, s8: w, s9: w,
    s10: w, s11: w, t3: w, t4: w, t5: w, t6: w,
});

named_regs!(
    /// loongarch64 `struct user_pt_regs`.
    Loongarch64Regs, Word::W64, {
    /// `r0`..`r31` (`r3` is the stack pointer).
    regs: [w; 32], orig_a0: w, csr_era: w, csr_badv: w, reserved: [w; 10],
});

/// The registers of one CPU, by architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Registers {
    /// `EM_X86_64`.
    X86_64(X86_64Regs),
    /// `EM_386`.
    I386(I386Regs),
    /// `EM_AARCH64`.
    Aarch64(Aarch64Regs),
    /// `EM_ARM`.
    Arm(ArmRegs),
    /// `EM_PPC64`.
    Ppc64(Ppc64Regs),
    /// `EM_S390`.
    S390x(S390xRegs),
    /// `EM_RISCV`.
    Riscv64(Riscv64Regs),
    /// `EM_LOONGARCH`.
    Loongarch64(Loongarch64Regs),
}

impl Registers {
    /// The instruction pointer (`rip`, `eip`, `pc`, `nip`, the PSW address, `csr_era`).
    pub fn instruction_pointer(&self) -> u64 {
        match self {
            Registers::X86_64(r) => r.rip,
            Registers::I386(r) => r.eip,
            Registers::Aarch64(r) => r.pc,
            Registers::Arm(r) => r.regs[15],
            Registers::Ppc64(r) => r.nip,
            Registers::S390x(r) => r.psw_addr,
            Registers::Riscv64(r) => r.pc,
            Registers::Loongarch64(r) => r.csr_era,
        }
    }

    /// The stack pointer.
    pub fn stack_pointer(&self) -> u64 {
        match self {
            Registers::X86_64(r) => r.rsp,
            Registers::I386(r) => r.esp,
            Registers::Aarch64(r) => r.sp,
            Registers::Arm(r) => r.regs[13],
            Registers::Ppc64(r) => r.gpr[1],
            Registers::S390x(r) => r.gprs[15],
            Registers::Riscv64(r) => r.sp,
            Registers::Loongarch64(r) => r.regs[3],
        }
    }

    /// The `e_machine` these registers belong to.
    pub fn machine(&self) -> Machine {
        match self {
            Registers::X86_64(_) => Machine::X86_64,
            Registers::I386(_) => Machine::I386,
            Registers::Aarch64(_) => Machine::AARCH64,
            Registers::Arm(_) => Machine::ARM,
            Registers::Ppc64(_) => Machine::PPC64,
            Registers::S390x(_) => Machine::S390,
            Registers::Riscv64(_) => Machine::RISCV,
            Registers::Loongarch64(_) => Machine::LOONGARCH,
        }
    }

    /// All-zero registers of `machine`.
    pub fn zeroed(machine: Machine) -> Result<Registers> {
        Ok(match machine {
            Machine::X86_64 => Registers::X86_64(X86_64Regs::default()),
            Machine::I386 => Registers::I386(I386Regs::default()),
            Machine::AARCH64 => Registers::Aarch64(Aarch64Regs::default()),
            Machine::ARM => Registers::Arm(ArmRegs::default()),
            Machine::PPC64 => Registers::Ppc64(Ppc64Regs::default()),
            Machine::S390 => Registers::S390x(S390xRegs::default()),
            Machine::RISCV => Registers::Riscv64(Riscv64Regs::default()),
            Machine::LOONGARCH => Registers::Loongarch64(Loongarch64Regs::default()),
            Machine(machine) => return Err(Error::UnsupportedMachine { machine }),
        })
    }

    fn size(machine: Machine) -> Result<usize> {
        Ok(match machine {
            Machine::X86_64 => X86_64Regs::SIZE,
            Machine::I386 => I386Regs::SIZE,
            Machine::AARCH64 => Aarch64Regs::SIZE,
            Machine::ARM => ArmRegs::SIZE,
            Machine::PPC64 => Ppc64Regs::SIZE,
            Machine::S390 => S390xRegs::SIZE,
            Machine::RISCV => Riscv64Regs::SIZE,
            Machine::LOONGARCH => Loongarch64Regs::SIZE,
            Machine(machine) => return Err(Error::UnsupportedMachine { machine }),
        })
    }

    fn read(machine: Machine, r: &mut Reader<'_>) -> Result<Registers> {
        Ok(match machine {
            Machine::X86_64 => Registers::X86_64(X86_64Regs::read(r)),
            Machine::I386 => Registers::I386(I386Regs::read(r)),
            Machine::AARCH64 => Registers::Aarch64(Aarch64Regs::read(r)),
            Machine::ARM => Registers::Arm(ArmRegs::read(r)),
            Machine::PPC64 => Registers::Ppc64(Ppc64Regs::read(r)),
            Machine::S390 => Registers::S390x(S390xRegs::read(r)),
            Machine::RISCV => Registers::Riscv64(Riscv64Regs::read(r)),
            Machine::LOONGARCH => Registers::Loongarch64(Loongarch64Regs::read(r)),
            Machine(machine) => return Err(Error::UnsupportedMachine { machine }),
        })
    }

    fn write(&self, w: &mut Writer) {
        match self {
            Registers::X86_64(r) => r.write(w),
            Registers::I386(r) => r.write(w),
            Registers::Aarch64(r) => r.write(w),
            Registers::Arm(r) => r.write(w),
            Registers::Ppc64(r) => r.write(w),
            Registers::S390x(r) => r.write(w),
            Registers::Riscv64(r) => r.write(w),
            Registers::Loongarch64(r) => r.write(w),
        }
    }
}

// Every register set's word size agrees with `word_of`.
const _: () = {
    assert!(matches!(X86_64Regs::WORD, Word::W64) && X86_64Regs::SIZE == 216);
    assert!(matches!(I386Regs::WORD, Word::W32) && I386Regs::SIZE == 68);
    assert!(matches!(Aarch64Regs::WORD, Word::W64) && Aarch64Regs::SIZE == 272);
    assert!(matches!(ArmRegs::WORD, Word::W32) && ArmRegs::SIZE == 72);
    assert!(matches!(Ppc64Regs::WORD, Word::W64) && Ppc64Regs::SIZE == 384);
    assert!(matches!(S390xRegs::WORD, Word::W64) && S390xRegs::SIZE == 216);
    assert!(matches!(Riscv64Regs::WORD, Word::W64) && Riscv64Regs::SIZE == 256);
    assert!(matches!(Loongarch64Regs::WORD, Word::W64) && Loongarch64Regs::SIZE == 360);
};

/// A time value of `elf_prstatus` (`struct __kernel_old_timeval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeVal {
    /// Seconds.
    pub sec: i64,
    /// Microseconds.
    pub usec: i64,
}

/// A decoded `NT_PRSTATUS` note: `struct elf_prstatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrStatus {
    /// `pr_info.si_signo`.
    pub signo: i32,
    /// `pr_info.si_code`.
    pub code: i32,
    /// `pr_info.si_errno`.
    pub errno: i32,
    /// `pr_cursig`.
    pub cursig: u16,
    /// `pr_sigpend`.
    pub sigpend: u64,
    /// `pr_sighold`.
    pub sighold: u64,
    /// `pr_pid`.
    pub pid: i32,
    /// `pr_ppid`.
    pub ppid: i32,
    /// `pr_pgrp`.
    pub pgrp: i32,
    /// `pr_sid`.
    pub sid: i32,
    /// `pr_utime`.
    pub utime: TimeVal,
    /// `pr_stime`.
    pub stime: TimeVal,
    /// `pr_cutime`.
    pub cutime: TimeVal,
    /// `pr_cstime`.
    pub cstime: TimeVal,
    /// `pr_reg`.
    pub registers: Registers,
    /// `pr_fpvalid`, when the descriptor is long enough to hold it.
    pub fpvalid: Option<i32>,
}

/// The low 32 bits of `v`.
pub(crate) fn low32(v: u64) -> u32 {
    let [a, b, c, d, ..] = v.to_le_bytes();
    u32::from_le_bytes([a, b, c, d])
}

/// A `long` read as unsigned, reinterpreted as signed (sign-extended from 32 bits).
fn signed(word: Word, v: u64) -> i64 {
    match word {
        Word::W32 => i64::from(i32::from_ne_bytes(low32(v).to_ne_bytes())),
        Word::W64 => i64::from_ne_bytes(v.to_ne_bytes()),
    }
}

/// The bits of a signed `long`, for writing.
fn unsigned(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

impl PrStatus {
    /// Decodes the descriptor of an `NT_PRSTATUS` note of a core whose `e_machine` is
    /// `machine`.
    pub fn parse(desc: &[u8], machine: Machine, endian: Endian) -> Result<PrStatus> {
        let word = word_of(machine)?;
        let regs_at = Self::regs_offset(word);
        let need = regs_at.saturating_add(Registers::size(machine)?);
        if desc.len() < need {
            return Err(Error::DescriptorTooShort {
                what: "NT_PRSTATUS",
                need,
                found: desc.len(),
            });
        }
        let mut r = Reader {
            data: desc,
            pos: 0,
            endian,
        };
        let signo = r.i32();
        let code = r.i32();
        let errno = r.i32();
        let cursig = r.u16();
        r.align(word.bytes());
        let sigpend = r.word(word);
        let sighold = r.word(word);
        let pid = r.i32();
        let ppid = r.i32();
        let pgrp = r.i32();
        let sid = r.i32();
        let mut tv = || TimeVal {
            sec: signed(word, r.word(word)),
            usec: signed(word, r.word(word)),
        };
        let (utime, stime, cutime, cstime) = (tv(), tv(), tv(), tv());
        debug_assert_eq!(r.pos, regs_at);
        let registers = Registers::read(machine, &mut r)?;
        let fpvalid = (desc.len() >= r.pos.saturating_add(4)).then(|| r.i32());
        Ok(PrStatus {
            signo,
            code,
            errno,
            cursig,
            sigpend,
            sighold,
            pid,
            ppid,
            pgrp,
            sid,
            utime,
            stime,
            cutime,
            cstime,
            registers,
            fpvalid,
        })
    }

    const fn regs_offset(word: Word) -> usize {
        match word {
            Word::W32 => 72,
            Word::W64 => 112,
        }
    }

    /// Prstatus with every field zero but the registers.
    pub fn new(registers: Registers) -> PrStatus {
        PrStatus {
            signo: 0,
            code: 0,
            errno: 0,
            cursig: 0,
            sigpend: 0,
            sighold: 0,
            pid: 0,
            ppid: 0,
            pgrp: 0,
            sid: 0,
            utime: TimeVal::default(),
            stime: TimeVal::default(),
            cutime: TimeVal::default(),
            cstime: TimeVal::default(),
            registers,
            fpvalid: Some(0),
        }
    }

    /// Encodes the descriptor as the kernel's `crash_save_cpu` lays it out for the registers'
    /// machine, `sizeof(struct elf_prstatus)` bytes (without `pr_fpvalid` when it is `None`).
    /// Values wider than a 32-bit ABI's fields keep their low bits.
    pub fn to_bytes(&self, endian: Endian) -> Vec<u8> {
        let machine = self.registers.machine();
        let word = match word_of(machine) {
            Ok(w) => w,
            Err(_) => Word::W64,
        };
        let mut w = Writer {
            buf: Vec::new(),
            endian,
        };
        w.i32(self.signo);
        w.i32(self.code);
        w.i32(self.errno);
        w.u16(self.cursig);
        w.align(word.bytes());
        w.word(word, self.sigpend);
        w.word(word, self.sighold);
        w.i32(self.pid);
        w.i32(self.ppid);
        w.i32(self.pgrp);
        w.i32(self.sid);
        for t in [self.utime, self.stime, self.cutime, self.cstime] {
            w.word(word, unsigned(t.sec));
            w.word(word, unsigned(t.usec));
        }
        self.registers.write(&mut w);
        if let Some(fp) = self.fpvalid {
            w.i32(fp);
            w.align(word.bytes());
        }
        w.buf
    }
}

/// A decoded `NT_PRPSINFO` note: `struct elf_prpsinfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrPsInfo {
    /// `pr_state`.
    pub state: u8,
    /// `pr_sname`.
    pub sname: u8,
    /// `pr_zomb`.
    pub zomb: u8,
    /// `pr_nice`.
    pub nice: i8,
    /// `pr_flag`.
    pub flag: u64,
    /// `pr_uid`.
    pub uid: u32,
    /// `pr_gid`.
    pub gid: u32,
    /// `pr_pid`.
    pub pid: i32,
    /// `pr_ppid`.
    pub ppid: i32,
    /// `pr_pgrp`.
    pub pgrp: i32,
    /// `pr_sid`.
    pub sid: i32,
    /// `pr_fname`, NUL padded.
    pub fname: [u8; 16],
    /// `pr_psargs`, NUL padded.
    pub psargs: [u8; 80],
}

/// The low 16 bits of `v` (a 16-bit `__kernel_uid_t` holds only those).
fn low16(v: u32) -> u16 {
    let [a, b, ..] = v.to_le_bytes();
    u16::from_le_bytes([a, b])
}

/// Whether `__kernel_uid_t` is 16 bits wide (i386 and arm).
fn short_uid(machine: Machine) -> bool {
    matches!(machine, Machine::I386 | Machine::ARM)
}

impl PrPsInfo {
    fn size(machine: Machine) -> Result<usize> {
        Ok(match (word_of(machine)?, short_uid(machine)) {
            (Word::W64, _) => 136,
            (Word::W32, true) => 124,
            (Word::W32, false) => 128,
        })
    }

    /// Decodes the descriptor of an `NT_PRPSINFO` note of a core whose `e_machine` is
    /// `machine`.
    pub fn parse(desc: &[u8], machine: Machine, endian: Endian) -> Result<PrPsInfo> {
        let word = word_of(machine)?;
        let need = Self::size(machine)?;
        if desc.len() < need {
            return Err(Error::DescriptorTooShort {
                what: "NT_PRPSINFO",
                need,
                found: desc.len(),
            });
        }
        let mut r = Reader {
            data: desc,
            pos: 0,
            endian,
        };
        let [state, sname, zomb, nice] = r.take::<4>();
        r.align(word.bytes());
        let flag = r.word(word);
        let (uid, gid) = if short_uid(machine) {
            (u32::from(r.u16()), u32::from(r.u16()))
        } else {
            (r.u32(), r.u32())
        };
        Ok(PrPsInfo {
            state,
            sname,
            zomb,
            nice: i8::from_ne_bytes([nice]),
            flag,
            uid,
            gid,
            pid: r.i32(),
            ppid: r.i32(),
            pgrp: r.i32(),
            sid: r.i32(),
            fname: r.take(),
            psargs: r.take(),
        })
    }

    /// Encodes the descriptor for `machine`.
    pub fn to_bytes(&self, machine: Machine, endian: Endian) -> Result<Vec<u8>> {
        let word = word_of(machine)?;
        let mut w = Writer {
            buf: Vec::new(),
            endian,
        };
        w.buf.extend_from_slice(&[
            self.state,
            self.sname,
            self.zomb,
            self.nice.to_ne_bytes()[0],
        ]);
        w.align(word.bytes());
        w.word(word, self.flag);
        if short_uid(machine) {
            w.u16(low16(self.uid));
            w.u16(low16(self.gid));
        } else {
            w.u32(self.uid);
            w.u32(self.gid);
        }
        for v in [self.pid, self.ppid, self.pgrp, self.sid] {
            w.i32(v);
        }
        w.buf.extend_from_slice(&self.fname);
        w.buf.extend_from_slice(&self.psargs);
        w.align(word.bytes());
        Ok(w.buf)
    }

    /// `pr_fname` up to its first NUL.
    pub fn fname(&self) -> &[u8] {
        let end = self.fname.iter().position(|&b| b == 0).unwrap_or(16);
        &self.fname[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prstatus_sizes_match_the_kernel() {
        // sizeof(struct elf_prstatus) per ABI, from the layouts above.
        for (machine, size) in [
            (Machine::X86_64, 336),
            (Machine::I386, 144),
            (Machine::AARCH64, 392),
            (Machine::ARM, 148),
            (Machine::PPC64, 504),
            (Machine::S390, 336),
            (Machine::RISCV, 376),
            (Machine::LOONGARCH, 480),
        ] {
            let p = PrStatus::new(Registers::zeroed(machine).unwrap());
            assert_eq!(p.to_bytes(Endian::Little).len(), size, "{machine:?}");
        }
    }

    #[test]
    fn x86_64_rip_is_at_its_offset() {
        // rip is the 17th register: 112 + 16 * 8 = 240.
        let mut desc = [0u8; 336];
        desc[240..248].copy_from_slice(&0xffff_ffff_8100_1234_u64.to_le_bytes());
        desc[32..36].copy_from_slice(&77u32.to_le_bytes());
        let p = PrStatus::parse(&desc, Machine::X86_64, Endian::Little).unwrap();
        assert_eq!(p.registers.instruction_pointer(), 0xffff_ffff_8100_1234);
        assert_eq!(p.pid, 77);
        assert_eq!(
            PrStatus::parse(&desc[..300], Machine::X86_64, Endian::Little),
            Err(Error::DescriptorTooShort {
                what: "NT_PRSTATUS",
                need: 328,
                found: 300
            })
        );
    }

    #[test]
    fn prpsinfo_round_trip() {
        let mut info = PrPsInfo {
            state: 1,
            sname: b'R',
            zomb: 0,
            nice: -5,
            flag: 0x40,
            uid: 1000,
            gid: 100,
            pid: 1,
            ppid: 0,
            pgrp: 1,
            sid: 1,
            fname: [0; 16],
            psargs: [0; 80],
        };
        info.fname[..4].copy_from_slice(b"init");
        for m in [Machine::X86_64, Machine::I386, Machine::S390] {
            let bytes = info.to_bytes(m, Endian::Big).unwrap();
            assert_eq!(bytes.len(), PrPsInfo::size(m).unwrap());
            assert_eq!(PrPsInfo::parse(&bytes, m, Endian::Big).unwrap(), info);
        }
        assert_eq!(info.fname(), b"init");
    }
}

//! The kexec user-space ABI: flag values, the `kexec_load` architecture field,
//! `struct kexec_segment`, the segment cap, the reboot command and the syscall
//! numbers of every architecture that has kexec.
//!
//! Facts come from the kernel's `include/uapi/linux/kexec.h` (licensed
//! "GPL-2.0 WITH Linux-syscall-note", the userspace-facing header), the
//! `reboot(2)` ABI in `include/uapi/linux/reboot.h`, and the per-arch syscall
//! tables (`arch/*/entry/syscalls/*.tbl`, `include/uapi/asm-generic/unistd.h`)
//! as kexec-tools `kexec/kexec-syscall.h` also lists them. The values are
//! checked in the tests against `libc` where it has them and against the
//! header's `#define` lines otherwise.

use core::ffi::c_void;

/// `kexec_load` flag: load the image to run on a crash (kdump), not on reboot.
pub const KEXEC_ON_CRASH: u32 = 0x0000_0001;
/// `kexec_load` flag: preserve the machine state so the new image can return (kexec jump).
pub const KEXEC_PRESERVE_CONTEXT: u32 = 0x0000_0002;
/// `kexec_load` flag: only replace the elfcorehdr segment of the loaded crash image (v6.6+).
pub const KEXEC_UPDATE_ELFCOREHDR: u32 = 0x0000_0004;
/// `kexec_load` flag: user space allows the kernel to rewrite the elfcorehdr on
/// CPU or memory hotplug (v6.10+).
pub const KEXEC_CRASH_HOTPLUG_SUPPORT: u32 = 0x0000_0008;
/// Mask of the architecture field (bits 16..=31) of the `kexec_load` flags.
pub const KEXEC_ARCH_MASK: u32 = 0xffff_0000;

/// `kexec_file_load` flag: unload the image instead of loading one.
pub const KEXEC_FILE_UNLOAD: u32 = 0x0000_0001;
/// `kexec_file_load` flag: the operation is about the crash (kdump) image.
pub const KEXEC_FILE_ON_CRASH: u32 = 0x0000_0002;
/// `kexec_file_load` flag: no initramfs; the initrd fd is ignored.
pub const KEXEC_FILE_NO_INITRAMFS: u32 = 0x0000_0004;
/// `kexec_file_load` flag: print debug messages about the load to the kernel log (v6.7+).
pub const KEXEC_FILE_DEBUG: u32 = 0x0000_0008;
/// `kexec_file_load` flag: do not place the crash image in CMA-backed crash memory (v6.17+).
pub const KEXEC_FILE_NO_CMA: u32 = 0x0000_0010;
/// `kexec_file_load` flag: carry the current boot's device tree over to the new kernel on x86.
pub const KEXEC_FILE_FORCE_DTB: u32 = 0x0000_0020;

/// Architecture field value: the running kernel's own architecture.
pub const KEXEC_ARCH_DEFAULT: u32 = 0;
/// Architecture field value: i386.
pub const KEXEC_ARCH_386: u32 = 3 << 16;
/// Architecture field value: m68k.
pub const KEXEC_ARCH_68K: u32 = 4 << 16;
/// Architecture field value: PA-RISC.
pub const KEXEC_ARCH_PARISC: u32 = 15 << 16;
/// Architecture field value: x86_64.
pub const KEXEC_ARCH_X86_64: u32 = 62 << 16;
/// Architecture field value: 32-bit PowerPC.
pub const KEXEC_ARCH_PPC: u32 = 20 << 16;
/// Architecture field value: 64-bit PowerPC.
pub const KEXEC_ARCH_PPC64: u32 = 21 << 16;
/// Architecture field value: IA-64.
pub const KEXEC_ARCH_IA_64: u32 = 50 << 16;
/// Architecture field value: 32-bit ARM.
pub const KEXEC_ARCH_ARM: u32 = 40 << 16;
/// Architecture field value: s390 / s390x.
pub const KEXEC_ARCH_S390: u32 = 22 << 16;
/// Architecture field value: SuperH.
pub const KEXEC_ARCH_SH: u32 = 42 << 16;
/// Architecture field value: little-endian MIPS.
pub const KEXEC_ARCH_MIPS_LE: u32 = 10 << 16;
/// Architecture field value: big-endian MIPS.
pub const KEXEC_ARCH_MIPS: u32 = 8 << 16;
/// Architecture field value: arm64.
pub const KEXEC_ARCH_AARCH64: u32 = 183 << 16;
/// Architecture field value: RISC-V.
pub const KEXEC_ARCH_RISCV: u32 = 243 << 16;
/// Architecture field value: LoongArch.
pub const KEXEC_ARCH_LOONGARCH: u32 = 258 << 16;

/// The most segments `kexec_load` accepts in one call.
pub const KEXEC_SEGMENT_MAX: usize = 16;

/// `reboot(2)` command that jumps into the loaded kexec image.
pub const LINUX_REBOOT_CMD_KEXEC: u32 = 0x4558_4543;

/// `struct kexec_segment` exactly as `kexec_load(2)` reads it: a user buffer
/// and the physical range it is copied to.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KexecSegment {
    /// Start of the bytes to copy (in the caller's address space).
    pub buf: *const c_void,
    /// Number of bytes at `buf`.
    pub bufsz: usize,
    /// Physical destination address (page aligned).
    pub mem: *const c_void,
    /// Size of the destination range (page aligned, at least `bufsz`); the rest is zeroed.
    pub memsz: usize,
}

/// The CPU architectures that have the kexec system calls, named as Rust
/// target architectures.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64 (64-bit ABI).
    X86_64,
    /// i386.
    X86,
    /// arm64.
    Aarch64,
    /// 32-bit ARM (EABI).
    Arm,
    /// 64-bit PowerPC, either byte order.
    Powerpc64,
    /// 64-bit IBM Z.
    S390x,
    /// 64-bit RISC-V.
    Riscv64,
    /// 64-bit LoongArch.
    Loongarch64,
}

/// Syscall numbers of the two load calls on one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallNumbers {
    /// `kexec_load`.
    pub kexec_load: i64,
    /// `kexec_file_load`, or `None` where the architecture does not wire it up.
    pub kexec_file_load: Option<i64>,
}

impl Arch {
    /// All architectures in the table.
    pub const ALL: [Arch; 8] = [
        Arch::X86_64,
        Arch::X86,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Powerpc64,
        Arch::S390x,
        Arch::Riscv64,
        Arch::Loongarch64,
    ];

    /// The syscall numbers on this architecture.
    ///
    /// From the arch syscall tables: x86_64 `syscall_64.tbl`, i386
    /// `syscall_32.tbl` (no `kexec_file_load`), arm `arch/arm/tools/syscall.tbl`,
    /// powerpc and s390 `syscall.tbl`, and the asm-generic table shared by
    /// arm64, riscv and loongarch.
    pub const fn syscall_numbers(self) -> SyscallNumbers {
        let (load, file) = match self {
            Arch::X86_64 => (246, Some(320)),
            Arch::X86 => (283, None),
            Arch::Aarch64 | Arch::Riscv64 | Arch::Loongarch64 => (104, Some(294)),
            Arch::Arm => (347, Some(401)),
            Arch::Powerpc64 => (268, Some(382)),
            Arch::S390x => (277, Some(381)),
        };
        SyscallNumbers {
            kexec_load: load,
            kexec_file_load: file,
        }
    }

    /// The value of the `kexec_load` architecture field for this architecture
    /// (already shifted into bits 16..=31).
    pub const fn kexec_arch(self) -> u32 {
        match self {
            Arch::X86_64 => KEXEC_ARCH_X86_64,
            Arch::X86 => KEXEC_ARCH_386,
            Arch::Aarch64 => KEXEC_ARCH_AARCH64,
            Arch::Arm => KEXEC_ARCH_ARM,
            Arch::Powerpc64 => KEXEC_ARCH_PPC64,
            Arch::S390x => KEXEC_ARCH_S390,
            Arch::Riscv64 => KEXEC_ARCH_RISCV,
            Arch::Loongarch64 => KEXEC_ARCH_LOONGARCH,
        }
    }

    /// The architecture this crate was compiled for, if it is in the table.
    pub const fn host() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "x86") {
            Some(Arch::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Arch::Arm)
        } else if cfg!(target_arch = "powerpc64") {
            Some(Arch::Powerpc64)
        } else if cfg!(target_arch = "s390x") {
            Some(Arch::S390x)
        } else if cfg!(target_arch = "riscv64") {
            Some(Arch::Riscv64)
        } else if cfg!(target_arch = "loongarch64") {
            Some(Arch::Loongarch64)
        } else {
            None
        }
    }
}

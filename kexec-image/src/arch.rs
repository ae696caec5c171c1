//! CPU architectures and byte orders of kernel images.

use core::fmt;

/// The CPU architecture a kernel image is built for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64.
    X86_64,
    /// 32-bit x86.
    X86,
    /// arm64.
    Aarch64,
    /// 32-bit ARM.
    Arm,
    /// 64-bit PowerPC.
    Powerpc64,
    /// 32-bit PowerPC.
    Powerpc,
    /// 64-bit IBM Z.
    S390x,
    /// 64-bit RISC-V.
    Riscv64,
    /// 32-bit RISC-V.
    Riscv32,
    /// 64-bit LoongArch.
    Loongarch64,
    /// Another ELF machine number.
    OtherElf(u16),
}

impl Arch {
    /// The name used in facts and plans (Rust target-arch spelling).
    pub fn name(self) -> String {
        match self {
            Arch::X86_64 => "x86_64".into(),
            Arch::X86 => "x86".into(),
            Arch::Aarch64 => "aarch64".into(),
            Arch::Arm => "arm".into(),
            Arch::Powerpc64 => "powerpc64".into(),
            Arch::Powerpc => "powerpc".into(),
            Arch::S390x => "s390x".into(),
            Arch::Riscv64 => "riscv64".into(),
            Arch::Riscv32 => "riscv32".into(),
            Arch::Loongarch64 => "loongarch64".into(),
            Arch::OtherElf(m) => format!("elf-machine-{m}"),
        }
    }

    /// Parses a name as printed by [`Arch::name`], also accepting Debian and
    /// kernel spellings (`amd64`, `arm64`, `ppc64el`, `riscv64`, `armhf`, `i386`).
    pub fn from_name(name: &str) -> Option<Arch> {
        Some(match name {
            "x86_64" | "amd64" => Arch::X86_64,
            "x86" | "i386" | "i686" => Arch::X86,
            "aarch64" | "arm64" => Arch::Aarch64,
            "arm" | "armhf" | "armel" => Arch::Arm,
            "powerpc64" | "ppc64" | "ppc64le" | "ppc64el" => Arch::Powerpc64,
            "powerpc" | "ppc" => Arch::Powerpc,
            "s390x" | "s390" => Arch::S390x,
            "riscv64" => Arch::Riscv64,
            "riscv32" => Arch::Riscv32,
            "loongarch64" | "loong64" => Arch::Loongarch64,
            _ => return None,
        })
    }

    /// The architecture of an ELF `e_machine` with its class (64-bit or not).
    pub fn from_elf_machine(machine: u16, is64: bool) -> Arch {
        match (machine, is64) {
            (62, _) => Arch::X86_64,
            (3, _) => Arch::X86,
            (183, _) => Arch::Aarch64,
            (40, _) => Arch::Arm,
            (21, _) => Arch::Powerpc64,
            (20, _) => Arch::Powerpc,
            (22, _) => Arch::S390x,
            (243, true) => Arch::Riscv64,
            (243, false) => Arch::Riscv32,
            (258, _) => Arch::Loongarch64,
            (m, _) => Arch::OtherElf(m),
        }
    }

    /// The architecture of a PE/COFF machine type.
    pub fn from_pe_machine(machine: u16) -> Option<Arch> {
        Some(match machine {
            0x8664 => Arch::X86_64,
            0x014c => Arch::X86,
            0xaa64 => Arch::Aarch64,
            0x01c2 | 0x01c4 => Arch::Arm,
            0x5064 => Arch::Riscv64,
            0x5032 => Arch::Riscv32,
            0x6264 => Arch::Loongarch64,
            _ => return None,
        })
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little-endian.
    Little,
    /// Big-endian.
    Big,
}

impl fmt::Display for Endian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endian::Little => "little",
            Endian::Big => "big",
        })
    }
}

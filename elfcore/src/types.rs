//! Host-independent descriptions of an ELF core: class, byte order, machine, and the file and
//! program headers widened to 64 bits so callers never care which class they came from.
//!
//! `e_machine` numbers are those of the gABI registry as listed in the kernel's
//! `include/uapi/linux/elf-em.h`.

use crate::raw::{PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE};

/// ELF class: the width of addresses and offsets in the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

impl Class {
    /// Size of the file header in this class.
    pub const fn ehdr_size(self) -> usize {
        match self {
            Class::Elf32 => crate::raw::EHDR32_SIZE,
            Class::Elf64 => crate::raw::EHDR64_SIZE,
        }
    }

    /// Size of one program header in this class.
    pub const fn phdr_size(self) -> usize {
        match self {
            Class::Elf32 => crate::raw::PHDR32_SIZE,
            Class::Elf64 => crate::raw::PHDR64_SIZE,
        }
    }

    /// Size of one section header in this class.
    pub const fn shdr_size(self) -> usize {
        match self {
            Class::Elf32 => crate::raw::SHDR32_SIZE,
            Class::Elf64 => crate::raw::SHDR64_SIZE,
        }
    }

    /// Largest value a header address or offset field can hold.
    pub const fn max_value(self) -> u64 {
        match self {
            Class::Elf32 => u32::MAX as u64,
            Class::Elf64 => u64::MAX,
        }
    }

    /// Offset of `e_flags` in the file header (where a writer flips the incomplete bit).
    pub const fn e_flags_offset(self) -> usize {
        match self {
            Class::Elf32 => 36,
            Class::Elf64 => 48,
        }
    }
}

/// Byte order of every multi-byte field, chosen at run time from `e_ident[EI_DATA]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

impl Endian {
    pub(crate) fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    pub(crate) fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }

    pub(crate) fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    pub(crate) fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    pub(crate) fn put_u64(self, v: u64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// `e_machine`: the architecture a core was made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Machine(pub u16);

impl Machine {
    /// `EM_386`: i386.
    pub const I386: Machine = Machine(3);
    /// `EM_PPC64`: 64-bit PowerPC, either byte order.
    pub const PPC64: Machine = Machine(21);
    /// `EM_S390`: s390 and s390x.
    pub const S390: Machine = Machine(22);
    /// `EM_ARM`: 32-bit Arm.
    pub const ARM: Machine = Machine(40);
    /// `EM_X86_64`.
    pub const X86_64: Machine = Machine(62);
    /// `EM_AARCH64`.
    pub const AARCH64: Machine = Machine(183);
    /// `EM_RISCV`.
    pub const RISCV: Machine = Machine(243);
    /// `EM_LOONGARCH`.
    pub const LOONGARCH: Machine = Machine(258);

    /// The usual short name (`x86_64`, `aarch64`, ...), or `None` for machines this crate
    /// has no name for.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Machine::I386 => "i386",
            Machine::PPC64 => "ppc64",
            Machine::S390 => "s390x",
            Machine::ARM => "arm",
            Machine::X86_64 => "x86_64",
            Machine::AARCH64 => "aarch64",
            Machine::RISCV => "riscv64",
            Machine::LOONGARCH => "loongarch64",
            _ => return None,
        })
    }
}

/// The file header of an ELF file, fields widened to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// `e_ident[EI_CLASS]`.
    pub class: Class,
    /// `e_ident[EI_DATA]`.
    pub endian: Endian,
    /// `e_ident[EI_VERSION]`.
    pub ident_version: u8,
    /// `e_ident[EI_OSABI]`.
    pub os_abi: u8,
    /// `e_ident[EI_ABIVERSION]`.
    pub abi_version: u8,
    /// `e_type` (`ET_CORE` = 4 for cores).
    pub e_type: u16,
    /// `e_machine`.
    pub machine: Machine,
    /// `e_version`.
    pub version: u32,
    /// `e_entry`.
    pub entry: u64,
    /// `e_phoff`.
    pub phoff: u64,
    /// `e_shoff`.
    pub shoff: u64,
    /// `e_flags` (bit 0 set by makedumpfile on an incomplete dump).
    pub flags: u32,
    /// `e_ehsize`.
    pub ehsize: u16,
    /// `e_phentsize`.
    pub phentsize: u16,
    /// `e_phnum` as stored; `0xffff` (`PN_XNUM`) means the count is in section 0.
    pub phnum: u16,
    /// `e_shentsize`.
    pub shentsize: u16,
    /// `e_shnum`.
    pub shnum: u16,
    /// `e_shstrndx`.
    pub shstrndx: u16,
}

impl FileHeader {
    /// Whether `e_flags` carries makedumpfile's incomplete-dump bit.
    pub const fn is_incomplete(&self) -> bool {
        self.flags & crate::raw::DUMP_ELF_INCOMPLETE != 0
    }
}

/// One program header, fields widened to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProgramHeader {
    /// `p_type`.
    pub p_type: u32,
    /// `p_flags`.
    pub flags: u32,
    /// `p_offset`. In an `elfcorehdr=` header this is the physical address, not a file offset.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_paddr`.
    pub paddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
}

impl ProgramHeader {
    /// Whether this is a `PT_LOAD`.
    pub const fn is_load(&self) -> bool {
        self.p_type == PT_LOAD
    }

    /// Whether this is a `PT_NOTE`.
    pub const fn is_note(&self) -> bool {
        self.p_type == PT_NOTE
    }

    /// A `PT_NOTE` at `offset` (and physical address `paddr`) of `size` bytes, flags 0.
    pub const fn note(offset: u64, paddr: u64, size: u64) -> ProgramHeader {
        ProgramHeader {
            p_type: PT_NOTE,
            flags: 0,
            offset,
            vaddr: 0,
            paddr,
            filesz: size,
            memsz: size,
            align: 0,
        }
    }

    /// A `PT_LOAD` with flags `RWX`, as the kernel and kexec-tools write them.
    pub const fn load(
        offset: u64,
        vaddr: u64,
        paddr: u64,
        filesz: u64,
        memsz: u64,
    ) -> ProgramHeader {
        ProgramHeader {
            p_type: PT_LOAD,
            flags: PF_R | PF_W | PF_X,
            offset,
            vaddr,
            paddr,
            filesz,
            memsz,
            align: 0,
        }
    }
}

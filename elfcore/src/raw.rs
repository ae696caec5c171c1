//! On-disk ELF structures, generic over byte order, and the constants this crate uses.
//!
//! Layouts are those of the System V gABI as spelled in the kernel's
//! `include/uapi/linux/elf.h`: `Elf{32,64}_Ehdr`, `Elf{32,64}_Phdr`, `Elf{32,64}_Shdr` and
//! `Elf{32,64}_Nhdr` (the note header is the same 12 bytes in both classes). Every field is a
//! zerocopy byte-order integer, so the structs have alignment 1 and can be read from any offset
//! of a byte slice on any host.

use zerocopy::byteorder::{ByteOrder, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `\x7fELF`, the first four bytes of every ELF file.
pub const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
/// `e_ident[EI_CLASS]` for 32-bit files.
pub const ELFCLASS32: u8 = 1;
/// `e_ident[EI_CLASS]` for 64-bit files.
pub const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]` for little-endian files.
pub const ELFDATA2LSB: u8 = 1;
/// `e_ident[EI_DATA]` for big-endian files.
pub const ELFDATA2MSB: u8 = 2;
/// `EV_CURRENT`, the only ELF version.
pub const EV_CURRENT: u8 = 1;

/// `e_type` of a core file.
pub const ET_CORE: u16 = 4;

/// `e_phnum` value meaning "the real count is in `sh_info` of section header 0".
pub const PN_XNUM: u16 = 0xffff;

/// Program header type: loadable segment.
pub const PT_LOAD: u32 = 1;
/// Program header type: notes.
pub const PT_NOTE: u32 = 4;

/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;

/// Note type of `struct elf_prstatus` (name `CORE`).
pub const NT_PRSTATUS: u32 = 1;
/// Note type of `struct elf_prpsinfo` (name `CORE`).
pub const NT_PRPSINFO: u32 = 3;
/// Note type of the VMCOREINFO note (name `VMCOREINFO`) and of QEMU's CPU state note (name `QEMU`).
pub const NT_VMCOREINFO: u32 = 0;

/// `e_flags` bit makedumpfile sets on an ELF dump it could not finish (`DUMP_ELF_INCOMPLETE`).
pub const DUMP_ELF_INCOMPLETE: u32 = 1;

/// `Elf64_Ehdr`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Ehdr64<O: ByteOrder> {
    pub e_ident: [u8; 16],
    pub e_type: U16<O>,
    pub e_machine: U16<O>,
    pub e_version: U32<O>,
    pub e_entry: U64<O>,
    pub e_phoff: U64<O>,
    pub e_shoff: U64<O>,
    pub e_flags: U32<O>,
    pub e_ehsize: U16<O>,
    pub e_phentsize: U16<O>,
    pub e_phnum: U16<O>,
    pub e_shentsize: U16<O>,
    pub e_shnum: U16<O>,
    pub e_shstrndx: U16<O>,
}

/// `Elf32_Ehdr`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Ehdr32<O: ByteOrder> {
    pub e_ident: [u8; 16],
    pub e_type: U16<O>,
    pub e_machine: U16<O>,
    pub e_version: U32<O>,
    pub e_entry: U32<O>,
    pub e_phoff: U32<O>,
    pub e_shoff: U32<O>,
    pub e_flags: U32<O>,
    pub e_ehsize: U16<O>,
    pub e_phentsize: U16<O>,
    pub e_phnum: U16<O>,
    pub e_shentsize: U16<O>,
    pub e_shnum: U16<O>,
    pub e_shstrndx: U16<O>,
}

/// `Elf64_Phdr` (note the field order differs from the 32-bit one).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Phdr64<O: ByteOrder> {
    pub p_type: U32<O>,
    pub p_flags: U32<O>,
    pub p_offset: U64<O>,
    pub p_vaddr: U64<O>,
    pub p_paddr: U64<O>,
    pub p_filesz: U64<O>,
    pub p_memsz: U64<O>,
    pub p_align: U64<O>,
}

/// `Elf32_Phdr`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Phdr32<O: ByteOrder> {
    pub p_type: U32<O>,
    pub p_offset: U32<O>,
    pub p_vaddr: U32<O>,
    pub p_paddr: U32<O>,
    pub p_filesz: U32<O>,
    pub p_memsz: U32<O>,
    pub p_flags: U32<O>,
    pub p_align: U32<O>,
}

/// `Elf64_Shdr`; only section 0 is ever read (for the `PN_XNUM` extension).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Shdr64<O: ByteOrder> {
    pub sh_name: U32<O>,
    pub sh_type: U32<O>,
    pub sh_flags: U64<O>,
    pub sh_addr: U64<O>,
    pub sh_offset: U64<O>,
    pub sh_size: U64<O>,
    pub sh_link: U32<O>,
    pub sh_info: U32<O>,
    pub sh_addralign: U64<O>,
    pub sh_entsize: U64<O>,
}

/// `Elf32_Shdr`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Shdr32<O: ByteOrder> {
    pub sh_name: U32<O>,
    pub sh_type: U32<O>,
    pub sh_flags: U32<O>,
    pub sh_addr: U32<O>,
    pub sh_offset: U32<O>,
    pub sh_size: U32<O>,
    pub sh_link: U32<O>,
    pub sh_info: U32<O>,
    pub sh_addralign: U32<O>,
    pub sh_entsize: U32<O>,
}

/// `Elf{32,64}_Nhdr`: the same in both classes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
#[allow(
    missing_docs,
    reason = "fields keep the gABI names of elf.h, which the module doc cites"
)]
pub struct Nhdr<O: ByteOrder> {
    pub n_namesz: U32<O>,
    pub n_descsz: U32<O>,
    pub n_type: U32<O>,
}

/// `sizeof(Elf64_Ehdr)`.
pub const EHDR64_SIZE: usize = core::mem::size_of::<Ehdr64<zerocopy::LE>>();
/// `sizeof(Elf32_Ehdr)`.
pub const EHDR32_SIZE: usize = core::mem::size_of::<Ehdr32<zerocopy::LE>>();
/// `sizeof(Elf64_Phdr)`.
pub const PHDR64_SIZE: usize = core::mem::size_of::<Phdr64<zerocopy::LE>>();
/// `sizeof(Elf32_Phdr)`.
pub const PHDR32_SIZE: usize = core::mem::size_of::<Phdr32<zerocopy::LE>>();
/// `sizeof(Elf64_Shdr)`.
pub const SHDR64_SIZE: usize = core::mem::size_of::<Shdr64<zerocopy::LE>>();
/// `sizeof(Elf32_Shdr)`.
pub const SHDR32_SIZE: usize = core::mem::size_of::<Shdr32<zerocopy::LE>>();
/// `sizeof(Elf_Nhdr)`.
pub const NHDR_SIZE: usize = core::mem::size_of::<Nhdr<zerocopy::LE>>();

const _: () = {
    assert!(EHDR64_SIZE == 64);
    assert!(EHDR32_SIZE == 52);
    assert!(PHDR64_SIZE == 56);
    assert!(PHDR32_SIZE == 32);
    assert!(SHDR64_SIZE == 64);
    assert!(SHDR32_SIZE == 40);
    assert!(NHDR_SIZE == 12);
};

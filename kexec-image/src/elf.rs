//! ELF kernel images (`vmlinux`) of any class, byte order and machine: the
//! file header and the program headers a loader places.
//!
//! Layout from the System V ABI (`include/uapi/linux/elf.h` has the same
//! structs). Byte order is a type parameter (zerocopy `U32<O>`), picked at
//! run time from `EI_DATA`.

use zerocopy::byteorder::{BigEndian, ByteOrder, LittleEndian, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::arch::{Arch, Endian};
use crate::bytes::{len64, read};
use crate::error::{Error, Result};

/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_NOTE`.
pub const PT_NOTE: u32 = 4;
/// `ET_EXEC`.
pub const ET_EXEC: u16 = 2;
/// `ET_DYN`.
pub const ET_DYN: u16 = 3;

#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct Ehdr64<O: ByteOrder> {
    ident: [u8; 16],
    e_type: U16<O>,
    e_machine: U16<O>,
    e_version: U32<O>,
    e_entry: U64<O>,
    e_phoff: U64<O>,
    e_shoff: U64<O>,
    e_flags: U32<O>,
    e_ehsize: U16<O>,
    e_phentsize: U16<O>,
    e_phnum: U16<O>,
    e_shentsize: U16<O>,
    e_shnum: U16<O>,
    e_shstrndx: U16<O>,
}

#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct Ehdr32<O: ByteOrder> {
    ident: [u8; 16],
    e_type: U16<O>,
    e_machine: U16<O>,
    e_version: U32<O>,
    e_entry: U32<O>,
    e_phoff: U32<O>,
    e_shoff: U32<O>,
    e_flags: U32<O>,
    e_ehsize: U16<O>,
    e_phentsize: U16<O>,
    e_phnum: U16<O>,
    e_shentsize: U16<O>,
    e_shnum: U16<O>,
    e_shstrndx: U16<O>,
}

#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct Phdr64<O: ByteOrder> {
    p_type: U32<O>,
    p_flags: U32<O>,
    p_offset: U64<O>,
    p_vaddr: U64<O>,
    p_paddr: U64<O>,
    p_filesz: U64<O>,
    p_memsz: U64<O>,
    p_align: U64<O>,
}

#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct Phdr32<O: ByteOrder> {
    p_type: U32<O>,
    p_offset: U32<O>,
    p_vaddr: U32<O>,
    p_paddr: U32<O>,
    p_filesz: U32<O>,
    p_memsz: U32<O>,
    p_flags: U32<O>,
    p_align: U32<O>,
}

const _: () = assert!(core::mem::size_of::<Ehdr64<LittleEndian>>() == 64);
const _: () = assert!(core::mem::size_of::<Ehdr32<LittleEndian>>() == 52);
const _: () = assert!(core::mem::size_of::<Phdr64<LittleEndian>>() == 56);
const _: () = assert!(core::mem::size_of::<Phdr32<LittleEndian>>() == 32);

/// One program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramHeader {
    /// `p_type`.
    pub kind: u32,
    /// `p_flags`.
    pub flags: u32,
    /// File offset.
    pub offset: u64,
    /// Virtual address.
    pub vaddr: u64,
    /// Physical address.
    pub paddr: u64,
    /// Bytes in the file.
    pub filesz: u64,
    /// Bytes in memory.
    pub memsz: u64,
    /// Alignment.
    pub align: u64,
}

/// A parsed ELF kernel.
#[derive(Debug, Clone)]
pub struct ElfImage {
    /// 64-bit class.
    pub is64: bool,
    /// Byte order.
    pub endian: Endian,
    /// `e_type`.
    pub elf_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// The machine as an architecture.
    pub arch: Arch,
    /// `e_flags`.
    pub flags: u32,
    /// Entry point.
    pub entry: u64,
    /// Program headers.
    pub program_headers: Vec<ProgramHeader>,
}

impl ElfImage {
    /// Whether `data` starts with the ELF magic.
    pub fn probe(data: &[u8]) -> bool {
        data.starts_with(b"\x7fELF")
    }

    /// Lowest physical address and total span of the `PT_LOAD` segments.
    pub fn load_span(&self) -> Option<(u64, u64)> {
        let loads = self.program_headers.iter().filter(|p| p.kind == PT_LOAD);
        let lo = loads.clone().map(|p| p.paddr).min()?;
        let hi = loads.map(|p| p.paddr.saturating_add(p.memsz)).max()?;
        Some((lo, hi.saturating_sub(lo)))
    }

    /// Parses the file header and every program header, checking each
    /// `PT_LOAD`'s file range against the input.
    pub fn parse(data: &[u8]) -> Result<ElfImage> {
        let ident: [u8; 16] = read(data, 0, "ELF identification")?;
        if &ident[..4] != b"\x7fELF" {
            return Err(Error::BadMagic {
                what: "ELF magic",
                offset: 0,
                found: u64::from(u32::from_be_bytes([ident[0], ident[1], ident[2], ident[3]])),
            });
        }
        let is64 = match ident[4] {
            1 => false,
            2 => true,
            c => {
                return Err(Error::InvalidField {
                    what: "EI_CLASS",
                    offset: 4,
                    value: u64::from(c),
                    reason: "neither ELFCLASS32 nor ELFCLASS64",
                });
            }
        };
        match (ident[5], is64) {
            (1, true) => parse_64::<LittleEndian>(data, Endian::Little),
            (2, true) => parse_64::<BigEndian>(data, Endian::Big),
            (1, false) => parse_32::<LittleEndian>(data, Endian::Little),
            (2, false) => parse_32::<BigEndian>(data, Endian::Big),
            (d, _) => Err(Error::InvalidField {
                what: "EI_DATA",
                offset: 5,
                value: u64::from(d),
                reason: "neither ELFDATA2LSB nor ELFDATA2MSB",
            }),
        }
    }
}

fn check_phdrs(data: &[u8], phoff: u64, phentsize: u16, phnum: u16, want: usize) -> Result<()> {
    if usize::from(phentsize) != want && phnum != 0 {
        return Err(Error::InvalidField {
            what: "e_phentsize",
            offset: if want == 56 { 0x36 } else { 0x2a },
            value: u64::from(phentsize),
            reason: "not the size of a program header of this class",
        });
    }
    let total = u64::from(phnum) * want as u64;
    let end = phoff.checked_add(total).ok_or(Error::InvalidField {
        what: "e_phoff",
        offset: if want == 56 { 0x20 } else { 0x1c },
        value: phoff,
        reason: "program header table end overflows",
    })?;
    if end > len64(data) {
        return Err(Error::Truncated {
            what: "program header table",
            offset: phoff,
            need: total,
            have: len64(data),
        });
    }
    Ok(())
}

fn check_load(data: &[u8], p: &ProgramHeader, at: u64) -> Result<()> {
    if p.kind == PT_LOAD {
        let end = p.offset.checked_add(p.filesz);
        if end.is_none_or(|e| e > len64(data)) {
            return Err(Error::Truncated {
                what: "PT_LOAD segment",
                offset: p.offset,
                need: p.filesz,
                have: len64(data),
            });
        }
        if p.filesz > p.memsz {
            return Err(Error::InvalidField {
                what: "p_filesz",
                offset: at,
                value: p.filesz,
                reason: "larger than p_memsz",
            });
        }
    }
    Ok(())
}

fn parse_64<O: ByteOrder>(data: &[u8], endian: Endian) -> Result<ElfImage> {
    let h: Ehdr64<O> = read(data, 0, "ELF64 header")?;
    let phoff = h.e_phoff.get();
    let phnum = h.e_phnum.get();
    check_phdrs(data, phoff, h.e_phentsize.get(), phnum, 56)?;
    let mut program_headers = Vec::with_capacity(usize::from(phnum));
    for i in 0..u64::from(phnum) {
        let at = phoff + i * 56;
        let p: Phdr64<O> = read(data, at, "ELF64 program header")?;
        let ph = ProgramHeader {
            kind: p.p_type.get(),
            flags: p.p_flags.get(),
            offset: p.p_offset.get(),
            vaddr: p.p_vaddr.get(),
            paddr: p.p_paddr.get(),
            filesz: p.p_filesz.get(),
            memsz: p.p_memsz.get(),
            align: p.p_align.get(),
        };
        check_load(data, &ph, at)?;
        program_headers.push(ph);
    }
    let machine = h.e_machine.get();
    Ok(ElfImage {
        is64: true,
        endian,
        elf_type: h.e_type.get(),
        machine,
        arch: Arch::from_elf_machine(machine, true),
        flags: h.e_flags.get(),
        entry: h.e_entry.get(),
        program_headers,
    })
}

fn parse_32<O: ByteOrder>(data: &[u8], endian: Endian) -> Result<ElfImage> {
    let h: Ehdr32<O> = read(data, 0, "ELF32 header")?;
    let phoff = u64::from(h.e_phoff.get());
    let phnum = h.e_phnum.get();
    check_phdrs(data, phoff, h.e_phentsize.get(), phnum, 32)?;
    let mut program_headers = Vec::with_capacity(usize::from(phnum));
    for i in 0..u64::from(phnum) {
        let at = phoff + i * 32;
        let p: Phdr32<O> = read(data, at, "ELF32 program header")?;
        let ph = ProgramHeader {
            kind: p.p_type.get(),
            flags: p.p_flags.get(),
            offset: u64::from(p.p_offset.get()),
            vaddr: u64::from(p.p_vaddr.get()),
            paddr: u64::from(p.p_paddr.get()),
            filesz: u64::from(p.p_filesz.get()),
            memsz: u64::from(p.p_memsz.get()),
            align: u64::from(p.p_align.get()),
        };
        check_load(data, &ph, at)?;
        program_headers.push(ph);
    }
    let machine = h.e_machine.get();
    Ok(ElfImage {
        is64: false,
        endian,
        elf_type: h.e_type.get(),
        machine,
        arch: Arch::from_elf_machine(machine, false),
        flags: h.e_flags.get(),
        entry: u64::from(h.e_entry.get()),
        program_headers,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF with one PT_LOAD of `body` bytes, in either class and order.
    pub(crate) fn build(is64: bool, big: bool, machine: u16, body: usize) -> Vec<u8> {
        let (eh, ph) = if is64 { (64usize, 56usize) } else { (52, 32) };
        let mut v = vec![0u8; eh + ph + body];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = if is64 { 2 } else { 1 };
        v[5] = if big { 2 } else { 1 };
        v[6] = 1;
        let put = |v: &mut Vec<u8>, off: usize, val: u64, n: usize| {
            let b = if big {
                val.to_be_bytes()
            } else {
                val.to_le_bytes()
            };
            let src = if big { &b[8 - n..] } else { &b[..n] };
            v[off..off + n].copy_from_slice(src);
        };
        put(&mut v, 16, 2, 2);
        put(&mut v, 18, u64::from(machine), 2);
        put(&mut v, 20, 1, 4);
        let (w, eoff) = if is64 { (8, 24) } else { (4, 24) };
        put(&mut v, eoff, 0x100_0000, w); // entry
        put(&mut v, eoff + w, eh as u64, w); // phoff
        let tail = eoff + 3 * w + 4; // after shoff and flags
        put(&mut v, tail, eh as u64, 2);
        put(&mut v, tail + 2, ph as u64, 2);
        put(&mut v, tail + 4, 1, 2);
        let p = eh;
        put(&mut v, p, 1, 4);
        if is64 {
            put(&mut v, p + 4, 7, 4);
            put(&mut v, p + 8, (eh + ph) as u64, 8);
            put(&mut v, p + 16, 0xffff_ffff_8100_0000, 8);
            put(&mut v, p + 24, 0x100_0000, 8);
            put(&mut v, p + 32, body as u64, 8);
            put(&mut v, p + 40, body as u64 + 0x1000, 8);
            put(&mut v, p + 48, 0x20_0000, 8);
        } else {
            put(&mut v, p + 4, (eh + ph) as u64, 4);
            put(&mut v, p + 8, 0xc100_0000, 4);
            put(&mut v, p + 12, 0x100_0000, 4);
            put(&mut v, p + 16, body as u64, 4);
            put(&mut v, p + 20, body as u64 + 0x1000, 4);
            put(&mut v, p + 24, 7, 4);
            put(&mut v, p + 28, 0x1000, 4);
        }
        v
    }

    #[test]
    fn all_classes_and_orders() {
        for (is64, big, machine, arch) in [
            (true, false, 62, Arch::X86_64),
            (true, true, 21, Arch::Powerpc64),
            (true, false, 243, Arch::Riscv64),
            (false, false, 3, Arch::X86),
            (false, true, 20, Arch::Powerpc),
            (true, true, 22, Arch::S390x),
        ] {
            let e = ElfImage::parse(&build(is64, big, machine, 100)).unwrap();
            assert_eq!((e.is64, e.arch), (is64, arch));
            assert_eq!(e.endian, if big { Endian::Big } else { Endian::Little });
            assert_eq!(e.entry, 0x100_0000);
            assert_eq!(e.program_headers.len(), 1);
            assert_eq!(e.load_span(), Some((0x100_0000, 100 + 0x1000)));
        }
    }

    #[test]
    fn hostile_headers() {
        let good = build(true, false, 62, 100);
        assert!(matches!(
            ElfImage::parse(&good[..good.len() - 1]),
            Err(Error::Truncated {
                what: "PT_LOAD segment",
                ..
            })
        ));
        let mut v = good.clone();
        v[4] = 9;
        assert!(matches!(
            ElfImage::parse(&v),
            Err(Error::InvalidField {
                what: "EI_CLASS",
                ..
            })
        ));
        let mut v = good.clone();
        v[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(ElfImage::parse(&v).is_err());
        let mut v = good.clone();
        v[0x36] = 40;
        assert!(matches!(
            ElfImage::parse(&v),
            Err(Error::InvalidField {
                what: "e_phentsize",
                ..
            })
        ));
        let mut v = good;
        v[0x38..0x3a].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(ElfImage::parse(&v), Err(Error::Truncated { .. })));
    }
}

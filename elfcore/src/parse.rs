//! Parsing any ELF core: file header, program headers (with the `PN_XNUM` extension through
//! section header 0) and the notes of its `PT_NOTE` segments.
//!
//! Facts: the gABI (`e_phnum == PN_XNUM` means `sh_info` of section 0 holds the count; the
//! Linux core dumper `fs/binfmt_elf.c` and QEMU's `dump/dump.c` write it that way), and QEMU's
//! habit of putting section headers before the program headers: `e_phoff` is taken wherever it
//! points. Every offset and size read from the input is checked before use; nothing is
//! allocated.

use zerocopy::byteorder::{BigEndian, ByteOrder, LittleEndian};
use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::error::{Error, Result};
use crate::note::Notes;
use crate::raw::{
    ELF_MAGIC, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, Ehdr32, Ehdr64, PN_XNUM, Phdr32,
    Phdr64, Shdr32, Shdr64,
};
use crate::types::{Class, Endian, FileHeader, Machine, ProgramHeader};

pub(crate) fn read_at<T: FromBytes + KnownLayout + Immutable>(
    data: &[u8],
    offset: u64,
    what: &'static str,
) -> Result<T> {
    let len = core::mem::size_of::<T>();
    let truncated = || Error::Truncated {
        what,
        offset,
        len: len as u64,
        available: data.len() as u64,
    };
    let start = usize::try_from(offset).map_err(|_| truncated())?;
    let tail = data.get(start..).ok_or_else(truncated)?;
    T::read_from_prefix(tail)
        .map(|(value, _)| value)
        .map_err(|_| truncated())
}

impl FileHeader {
    /// Parses the file header at the start of `data` (which may be just the file's first
    /// 64 bytes).
    pub fn parse(data: &[u8]) -> Result<FileHeader> {
        let ident: [u8; 16] = read_at(data, 0, "ELF identification")?;
        let magic = [ident[0], ident[1], ident[2], ident[3]];
        if magic != ELF_MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let class = match ident[4] {
            ELFCLASS32 => Class::Elf32,
            ELFCLASS64 => Class::Elf64,
            found => return Err(Error::BadClass { found }),
        };
        let endian = match ident[5] {
            ELFDATA2LSB => Endian::Little,
            ELFDATA2MSB => Endian::Big,
            found => return Err(Error::BadByteOrder { found }),
        };
        match endian {
            Endian::Little => parse_ehdr::<LittleEndian>(data, class, endian),
            Endian::Big => parse_ehdr::<BigEndian>(data, class, endian),
        }
    }

    /// The end offset of the header tables this header points at: the program header table,
    /// and with `PN_XNUM` section header 0 (whose `sh_info` holds the real count, so the
    /// program header table may then end further on). Reading this many leading bytes of a
    /// file is enough for [`ElfCore::parse`], except that with `PN_XNUM` it may report
    /// [`Error::Truncated`] naming the exact end it needs.
    pub fn tables_end(&self) -> Result<u64> {
        let ehdr = self.class.ehdr_size() as u64;
        // With PN_XNUM the count is not known yet: the table starts at e_phoff.
        let count = if self.phnum == PN_XNUM {
            0
        } else {
            u64::from(self.phnum)
        };
        let phdrs = table_end(
            "program header table",
            self.phoff,
            count,
            self.class.phdr_size() as u64,
        )?;
        let mut end = ehdr.max(phdrs);
        if self.phnum == PN_XNUM {
            let shdr0 = table_end(
                "section header 0",
                self.shoff,
                1,
                self.class.shdr_size() as u64,
            )?;
            end = end.max(shdr0);
        }
        Ok(end)
    }
}

fn table_end(what: &'static str, offset: u64, count: u64, entsize: u64) -> Result<u64> {
    let size = count.checked_mul(entsize).ok_or(Error::Overflow {
        what,
        offset,
        size: u64::MAX,
    })?;
    offset
        .checked_add(size)
        .ok_or(Error::Overflow { what, offset, size })
}

fn parse_ehdr<O: ByteOrder>(data: &[u8], class: Class, endian: Endian) -> Result<FileHeader> {
    let h = match class {
        Class::Elf64 => {
            let e: Ehdr64<O> = read_at(data, 0, "ELF64 file header")?;
            FileHeader {
                class,
                endian,
                ident_version: e.e_ident[6],
                os_abi: e.e_ident[7],
                abi_version: e.e_ident[8],
                e_type: e.e_type.get(),
                machine: Machine(e.e_machine.get()),
                version: e.e_version.get(),
                entry: e.e_entry.get(),
                phoff: e.e_phoff.get(),
                shoff: e.e_shoff.get(),
                flags: e.e_flags.get(),
                ehsize: e.e_ehsize.get(),
                phentsize: e.e_phentsize.get(),
                phnum: e.e_phnum.get(),
                shentsize: e.e_shentsize.get(),
                shnum: e.e_shnum.get(),
                shstrndx: e.e_shstrndx.get(),
            }
        }
        Class::Elf32 => {
            let e: Ehdr32<O> = read_at(data, 0, "ELF32 file header")?;
            FileHeader {
                class,
                endian,
                ident_version: e.e_ident[6],
                os_abi: e.e_ident[7],
                abi_version: e.e_ident[8],
                e_type: e.e_type.get(),
                machine: Machine(e.e_machine.get()),
                version: e.e_version.get(),
                entry: u64::from(e.e_entry.get()),
                phoff: u64::from(e.e_phoff.get()),
                shoff: u64::from(e.e_shoff.get()),
                flags: e.e_flags.get(),
                ehsize: e.e_ehsize.get(),
                phentsize: e.e_phentsize.get(),
                phnum: e.e_phnum.get(),
                shentsize: e.e_shentsize.get(),
                shnum: e.e_shnum.get(),
                shstrndx: e.e_shstrndx.get(),
            }
        }
    };
    Ok(h)
}

/// A parsed view of an ELF core held in a byte slice.
///
/// The slice may be the whole file or only its leading part: the header tables must be in it
/// (see [`FileHeader::tables_end`]), segment contents need not be. Nothing is copied;
/// program headers and notes are decoded lazily as they are iterated.
#[derive(Debug, Clone, Copy)]
pub struct ElfCore<'a> {
    data: &'a [u8],
    header: FileHeader,
    phnum: u32,
}

impl<'a> ElfCore<'a> {
    /// Parses the file header and checks that the whole program header table is in `data`.
    ///
    /// Any ELF file is accepted whatever its `e_type`; [`FileHeader::e_type`] tells whether it
    /// is a core. `e_phentsize` must be the class's program header size when there are program
    /// headers.
    pub fn parse(data: &'a [u8]) -> Result<ElfCore<'a>> {
        let header = FileHeader::parse(data)?;
        let phnum = match header.phnum {
            PN_XNUM => xnum_count(data, &header)?,
            n => u32::from(n),
        };
        if phnum > 0 {
            let expected = header.class.phdr_size() as u64;
            if u64::from(header.phentsize) != expected {
                return Err(Error::BadField {
                    field: "e_phentsize",
                    offset: match header.class {
                        Class::Elf32 => 42,
                        Class::Elf64 => 54,
                    },
                    found: u64::from(header.phentsize),
                    expected,
                });
            }
            let end = table_end(
                "program header table",
                header.phoff,
                u64::from(phnum),
                expected,
            )?;
            if end > data.len() as u64 {
                return Err(Error::Truncated {
                    what: "program header table",
                    offset: header.phoff,
                    len: end.saturating_sub(header.phoff),
                    available: data.len() as u64,
                });
            }
        }
        Ok(ElfCore {
            data,
            header,
            phnum,
        })
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The bytes this view was made from.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The end offset of the file header, the program header table and (with `PN_XNUM`)
    /// section header 0: the leading bytes a reader needs for the headers.
    pub fn tables_end(&self) -> u64 {
        let phdrs = self.header.phoff.saturating_add(
            u64::from(self.phnum).saturating_mul(self.header.class.phdr_size() as u64),
        );
        // parse() checked every table against the slice, so none of these overflow.
        self.header.tables_end().unwrap_or(0).max(phdrs)
    }

    /// The number of program headers, after resolving `PN_XNUM`.
    pub fn program_header_count(&self) -> u32 {
        self.phnum
    }

    /// Iterates over the program headers in table order.
    pub fn program_headers(&self) -> ProgramHeaders<'a> {
        ProgramHeaders {
            data: self.data,
            class: self.header.class,
            endian: self.header.endian,
            next: self.header.phoff,
            left: self.phnum,
        }
    }

    /// The file bytes of a segment: `p_filesz` bytes at `p_offset`, if they are in the slice.
    pub fn segment_data(&self, ph: &ProgramHeader) -> Result<&'a [u8]> {
        slice_at(self.data, ph.offset, ph.filesz, "segment")
    }

    /// Iterates over the notes of every `PT_NOTE` segment in program header order.
    ///
    /// A segment whose bytes are not in the slice (as in an `elfcorehdr=` header, where
    /// `p_offset` is a physical address) yields an [`Error::Truncated`] and the iteration
    /// moves on to the next segment.
    pub fn notes(&self) -> CoreNotes<'a> {
        CoreNotes {
            core: *self,
            phdrs: self.program_headers(),
            current: None,
        }
    }
}

fn slice_at<'a>(data: &'a [u8], offset: u64, size: u64, what: &'static str) -> Result<&'a [u8]> {
    let end = offset
        .checked_add(size)
        .ok_or(Error::Overflow { what, offset, size })?;
    let truncated = Error::Truncated {
        what,
        offset,
        len: size,
        available: data.len() as u64,
    };
    let (Ok(start), Ok(end)) = (usize::try_from(offset), usize::try_from(end)) else {
        return Err(truncated);
    };
    data.get(start..end).ok_or(truncated)
}

fn xnum_count(data: &[u8], header: &FileHeader) -> Result<u32> {
    let what = "section header 0 (PN_XNUM)";
    if header.shoff == 0 {
        return Err(Error::BadField {
            field: "e_shoff with e_phnum == PN_XNUM",
            offset: match header.class {
                Class::Elf32 => 32,
                Class::Elf64 => 40,
            },
            found: 0,
            expected: header.class.ehdr_size() as u64,
        });
    }
    let count = match (header.class, header.endian) {
        (Class::Elf64, Endian::Little) => {
            read_at::<Shdr64<LittleEndian>>(data, header.shoff, what)?
                .sh_info
                .get()
        }
        (Class::Elf64, Endian::Big) => read_at::<Shdr64<BigEndian>>(data, header.shoff, what)?
            .sh_info
            .get(),
        (Class::Elf32, Endian::Little) => {
            read_at::<Shdr32<LittleEndian>>(data, header.shoff, what)?
                .sh_info
                .get()
        }
        (Class::Elf32, Endian::Big) => read_at::<Shdr32<BigEndian>>(data, header.shoff, what)?
            .sh_info
            .get(),
    };
    Ok(count)
}

fn read_phdr(data: &[u8], offset: u64, class: Class, endian: Endian) -> Result<ProgramHeader> {
    fn p64<O: ByteOrder>(data: &[u8], offset: u64) -> Result<ProgramHeader> {
        let p: Phdr64<O> = read_at(data, offset, "ELF64 program header")?;
        Ok(ProgramHeader {
            p_type: p.p_type.get(),
            flags: p.p_flags.get(),
            offset: p.p_offset.get(),
            vaddr: p.p_vaddr.get(),
            paddr: p.p_paddr.get(),
            filesz: p.p_filesz.get(),
            memsz: p.p_memsz.get(),
            align: p.p_align.get(),
        })
    }
    fn p32<O: ByteOrder>(data: &[u8], offset: u64) -> Result<ProgramHeader> {
        let p: Phdr32<O> = read_at(data, offset, "ELF32 program header")?;
        Ok(ProgramHeader {
            p_type: p.p_type.get(),
            flags: p.p_flags.get(),
            offset: u64::from(p.p_offset.get()),
            vaddr: u64::from(p.p_vaddr.get()),
            paddr: u64::from(p.p_paddr.get()),
            filesz: u64::from(p.p_filesz.get()),
            memsz: u64::from(p.p_memsz.get()),
            align: u64::from(p.p_align.get()),
        })
    }
    match (class, endian) {
        (Class::Elf64, Endian::Little) => p64::<LittleEndian>(data, offset),
        (Class::Elf64, Endian::Big) => p64::<BigEndian>(data, offset),
        (Class::Elf32, Endian::Little) => p32::<LittleEndian>(data, offset),
        (Class::Elf32, Endian::Big) => p32::<BigEndian>(data, offset),
    }
}

/// Iterator over the program headers of an [`ElfCore`].
#[derive(Debug, Clone)]
pub struct ProgramHeaders<'a> {
    data: &'a [u8],
    class: Class,
    endian: Endian,
    next: u64,
    left: u32,
}

impl Iterator for ProgramHeaders<'_> {
    type Item = ProgramHeader;

    fn next(&mut self) -> Option<ProgramHeader> {
        if self.left == 0 {
            return None;
        }
        // ElfCore::parse checked that the whole table is inside `data`.
        let ph = read_phdr(self.data, self.next, self.class, self.endian).ok()?;
        self.left -= 1;
        self.next = self.next.saturating_add(self.class.phdr_size() as u64);
        Some(ph)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for ProgramHeaders<'_> {}

/// Iterator over the notes of all `PT_NOTE` segments of an [`ElfCore`].
#[derive(Debug, Clone)]
pub struct CoreNotes<'a> {
    core: ElfCore<'a>,
    phdrs: ProgramHeaders<'a>,
    current: Option<Notes<'a>>,
}

impl<'a> Iterator for CoreNotes<'a> {
    type Item = Result<crate::note::Note<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(notes) = &mut self.current {
                if let Some(item) = notes.next() {
                    return Some(item);
                }
                self.current = None;
            }
            let ph = self.phdrs.by_ref().find(ProgramHeader::is_note)?;
            match self.core.segment_data(&ph) {
                Ok(bytes) => {
                    self.current = Some(Notes::with_base(bytes, self.core.header.endian, ph.offset))
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{Target, write_headers};
    use alloc::vec::Vec;

    fn core_bytes(target: Target, phdrs: &[ProgramHeader]) -> Vec<u8> {
        let mut b = Vec::new();
        write_headers(&mut b, target, phdrs).unwrap();
        b
    }

    #[test]
    fn reads_both_classes_and_orders() {
        let phdrs = [
            ProgramHeader::note(0x100, 0, 0x20),
            ProgramHeader::load(0x1000, 0xc000_0000, 0, 0x1000, 0x2000),
        ];
        for target in [
            Target::x86_64(),
            Target::s390x(),
            Target::i386(),
            Target::arm().with_class(Class::Elf32),
        ] {
            let b = core_bytes(target, &phdrs);
            let core = ElfCore::parse(&b).unwrap();
            assert_eq!(core.header().machine, target.machine);
            assert_eq!(core.header().endian, target.endian);
            assert_eq!(core.program_headers().len(), 2);
            assert_eq!(core.program_headers().collect::<Vec<_>>(), phdrs);
            assert_eq!(core.tables_end(), b.len() as u64);
        }
    }

    #[test]
    fn phoff_is_taken_wherever_it_points() {
        // Program headers after 64 bytes of something else, as QEMU writes its dumps.
        let phdrs = [ProgramHeader::load(0, 1, 2, 3, 4)];
        let mut b = core_bytes(Target::x86_64(), &phdrs);
        let table = b.split_off(64);
        b.extend_from_slice(&[0xee; 64]);
        b.extend_from_slice(&table);
        b[32..40].copy_from_slice(&128u64.to_le_bytes());
        let core = ElfCore::parse(&b).unwrap();
        assert_eq!(core.program_headers().next(), Some(phdrs[0]));
    }

    #[test]
    fn segment_outside_the_slice_is_truncated() {
        let b = core_bytes(
            Target::x86_64(),
            &[ProgramHeader::note(0x7fa1_8c00, 0x7fa1_8c00, 0x1b0)],
        );
        let core = ElfCore::parse(&b).unwrap();
        let notes: Vec<_> = core.notes().collect();
        assert_eq!(
            notes,
            [Err(Error::Truncated {
                what: "segment",
                offset: 0x7fa1_8c00,
                len: 0x1b0,
                available: b.len() as u64,
            })]
        );
    }
}

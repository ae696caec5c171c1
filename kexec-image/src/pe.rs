//! PE/COFF images: EFI stubs of every architecture, the generic EFI "zboot"
//! compressed kernel, and Unified Kernel Images (UKI).
//!
//! PE layout from the Microsoft PE/COFF specification (DOS header `e_lfanew`
//! at 0x3c, COFF header, optional header, data directory 4 = certificate
//! table, 40-byte section headers). The zboot header from
//! `drivers/firmware/efi/libstub/zboot-header.S`: "zimg" at 4, payload offset
//! and size at 8 and 12, the NUL-terminated codec name at 0x18, and
//! `LINUX_PE_MAGIC` at 0x38. UKI sections as systemd's UKI specification
//! names them (`.linux`, `.initrd`, `.cmdline`, `.osrel`, `.uname`, ...).

use crate::arch::Arch;
use crate::bytes::{add, c_string, len64, read, slice};
use crate::compress::Compression;
use crate::error::{Error, Result};

/// `LINUX_PE_MAGIC` at 0x38 of Linux PE images.
pub const LINUX_PE_MAGIC: u32 = 0x8182_23cd;

/// A PE section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Name (up to 8 bytes, NULs trimmed).
    pub name: String,
    /// Size in memory.
    pub virtual_size: u32,
    /// RVA.
    pub virtual_address: u32,
    /// Size in the file.
    pub raw_size: u32,
    /// File offset.
    pub raw_offset: u32,
}

impl Section {
    /// The section's bytes in the file: `virtual_size` bytes when it is
    /// smaller than the padded raw size, otherwise the raw size.
    pub fn data<'a>(&self, image: &'a [u8]) -> Result<&'a [u8]> {
        slice(
            image,
            u64::from(self.raw_offset),
            u64::from(self.size()),
            "PE section data",
        )
    }

    /// Length of [`Section::data`].
    pub fn size(&self) -> u32 {
        if self.virtual_size != 0 && self.virtual_size < self.raw_size {
            self.virtual_size
        } else {
            self.raw_size
        }
    }
}

/// A parsed PE image.
#[derive(Debug, Clone)]
pub struct PeImage {
    /// Offset of the "PE\0\0" signature.
    pub pe_offset: u32,
    /// COFF machine.
    pub machine: u16,
    /// The machine as an architecture.
    pub arch: Option<Arch>,
    /// PE32+ (64-bit optional header).
    pub pe32_plus: bool,
    /// Optional-header subsystem (10 = EFI application).
    pub subsystem: u16,
    /// Entry point RVA.
    pub entry: u32,
    /// Certificate table (file offset, size), when the image carries an Authenticode signature.
    pub certificate_table: Option<(u32, u32)>,
    /// Sections.
    pub sections: Vec<Section>,
    /// Whether `LINUX_PE_MAGIC` is at 0x38.
    pub linux_magic: bool,
}

impl PeImage {
    /// Whether `data` starts with a DOS header whose `e_lfanew` points to "PE\0\0".
    pub fn probe(data: &[u8]) -> bool {
        data.starts_with(b"MZ") && Self::parse(data).is_ok()
    }

    /// Parses the headers and section table.
    pub fn parse(data: &[u8]) -> Result<PeImage> {
        let mz: [u8; 2] = read(data, 0, "DOS header")?;
        if &mz != b"MZ" {
            return Err(Error::BadMagic {
                what: "DOS MZ signature",
                offset: 0,
                found: u64::from(u16::from_le_bytes(mz)),
            });
        }
        let lfanew = u32::from_le_bytes(read(data, 0x3c, "e_lfanew")?);
        let pe = u64::from(lfanew);
        let sig: [u8; 4] = read(data, pe, "PE signature")?;
        if &sig != b"PE\0\0" {
            return Err(Error::BadMagic {
                what: "PE signature",
                offset: pe,
                found: u64::from(u32::from_le_bytes(sig)),
            });
        }
        let coff = pe + 4;
        let le16 =
            |off: u64, what| -> Result<u16> { Ok(u16::from_le_bytes(read(data, off, what)?)) };
        let le32 =
            |off: u64, what| -> Result<u32> { Ok(u32::from_le_bytes(read(data, off, what)?)) };
        let machine = le16(coff, "COFF machine")?;
        let nsections = le16(coff + 2, "COFF NumberOfSections")?;
        let opt_size = le16(coff + 16, "COFF SizeOfOptionalHeader")?;
        let opt = coff + 20;
        let (pe32_plus, subsystem, entry, certificate_table) = if opt_size >= 2 {
            let magic = le16(opt, "optional header magic")?;
            let plus = match magic {
                0x10b => false,
                0x20b => true,
                m => {
                    return Err(Error::InvalidField {
                        what: "optional header magic",
                        offset: opt,
                        value: u64::from(m),
                        reason: "neither PE32 (0x10b) nor PE32+ (0x20b)",
                    });
                }
            };
            let entry = le32(opt + 16, "AddressOfEntryPoint")?;
            let subsystem = le16(opt + 68, "Subsystem")?;
            let (count_at, dirs_at) = if plus { (108, 112) } else { (92, 96) };
            let ndirs = le32(opt + count_at, "NumberOfRvaAndSizes")?;
            let cert = if ndirs > 4 && u64::from(opt_size) >= dirs_at + 5 * 8 {
                let off = le32(opt + dirs_at + 32, "certificate table offset")?;
                let size = le32(opt + dirs_at + 36, "certificate table size")?;
                (size != 0).then_some((off, size))
            } else {
                None
            };
            (plus, subsystem, entry, cert)
        } else {
            (false, 0, 0, None)
        };
        let table = add(opt, u64::from(opt_size), "SizeOfOptionalHeader", coff + 16)?;
        let need = u64::from(nsections) * 40;
        if table.saturating_add(need) > len64(data) {
            return Err(Error::Truncated {
                what: "PE section table",
                offset: table,
                need,
                have: len64(data),
            });
        }
        let mut sections = Vec::with_capacity(usize::from(nsections));
        for i in 0..u64::from(nsections) {
            let at = table + i * 40;
            let raw_name: [u8; 8] = read(data, at, "section name")?;
            let end = raw_name.iter().position(|&b| b == 0).unwrap_or(8);
            sections.push(Section {
                name: String::from_utf8_lossy(&raw_name[..end]).into_owned(),
                virtual_size: le32(at + 8, "section VirtualSize")?,
                virtual_address: le32(at + 12, "section VirtualAddress")?,
                raw_size: le32(at + 16, "section SizeOfRawData")?,
                raw_offset: le32(at + 20, "section PointerToRawData")?,
            });
        }
        let linux_magic = read::<[u8; 4]>(data, 0x38, "Linux PE magic")
            .is_ok_and(|b| u32::from_le_bytes(b) == LINUX_PE_MAGIC);
        Ok(PeImage {
            pe_offset: lfanew,
            machine,
            arch: Arch::from_pe_machine(machine),
            pe32_plus,
            subsystem,
            entry,
            certificate_table,
            sections,
            linux_magic,
        })
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Whether this is a Unified Kernel Image (has a `.linux` section).
    pub fn is_uki(&self) -> bool {
        self.section(".linux").is_some()
    }
}

/// The EFI zboot header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zboot {
    /// Offset of the compressed payload.
    pub payload_offset: u32,
    /// Size of the compressed payload (without the appended size word).
    pub payload_size: u32,
    /// The codec name in the header ("gzip", "zstd", ...).
    pub compression_name: String,
    /// The codec, when known.
    pub compression: Option<Compression>,
}

impl Zboot {
    /// Whether `data` has "MZ" then "zimg".
    pub fn probe(data: &[u8]) -> bool {
        data.len() >= 8 && &data[..2] == b"MZ" && &data[4..8] == b"zimg"
    }

    /// Parses the zboot header and checks the payload range.
    pub fn parse(data: &[u8]) -> Result<Zboot> {
        let head: [u8; 8] = read(data, 0, "zboot header")?;
        if &head[..2] != b"MZ" || &head[4..8] != b"zimg" {
            return Err(Error::BadMagic {
                what: "zboot \"zimg\" image type",
                offset: 4,
                found: u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]])),
            });
        }
        let payload_offset = u32::from_le_bytes(read(data, 8, "zboot payload offset")?);
        let payload_size = u32::from_le_bytes(read(data, 12, "zboot payload size")?);
        let _ = slice(
            data,
            u64::from(payload_offset),
            u64::from(payload_size),
            "zboot payload",
        )?;
        let compression_name = c_string(data, 0x18, 32).unwrap_or_default();
        Ok(Zboot {
            payload_offset,
            payload_size,
            compression: Compression::from_name(&compression_name),
            compression_name,
        })
    }

    /// The compressed payload bytes.
    pub fn payload<'a>(&self, data: &'a [u8]) -> Result<&'a [u8]> {
        slice(
            data,
            u64::from(self.payload_offset),
            u64::from(self.payload_size),
            "zboot payload",
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "the test builders write small constants into header fields"
    )]
    use super::*;

    /// A PE32+ image with the given sections (name, contents), optionally zboot.
    pub(crate) fn build(
        machine: u16,
        sections: &[(&str, &[u8])],
        zboot: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        let pe = 0x80usize;
        let opt_size = 240usize;
        let table = pe + 24 + opt_size;
        let mut data_at = (table + 40 * sections.len()).next_multiple_of(0x200);
        let mut v = vec![0u8; data_at];
        v[..2].copy_from_slice(b"MZ");
        v[0x38..0x3c].copy_from_slice(&LINUX_PE_MAGIC.to_le_bytes());
        v[0x3c..0x40].copy_from_slice(&(pe as u32).to_le_bytes());
        v[pe..pe + 4].copy_from_slice(b"PE\0\0");
        v[pe + 4..pe + 6].copy_from_slice(&machine.to_le_bytes());
        v[pe + 6..pe + 8].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        v[pe + 20..pe + 22].copy_from_slice(&(opt_size as u16).to_le_bytes());
        let opt = pe + 24;
        v[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        v[opt + 16..opt + 20].copy_from_slice(&0x1000u32.to_le_bytes());
        v[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes());
        v[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        for (i, (name, body)) in sections.iter().enumerate() {
            let at = table + 40 * i;
            v[at..at + name.len()].copy_from_slice(name.as_bytes());
            v[at + 8..at + 12].copy_from_slice(&(body.len() as u32).to_le_bytes());
            v[at + 12..at + 16].copy_from_slice(&(0x1000 * (i as u32 + 1)).to_le_bytes());
            let raw = body.len().next_multiple_of(0x200);
            v[at + 16..at + 20].copy_from_slice(&(raw as u32).to_le_bytes());
            v[at + 20..at + 24].copy_from_slice(&(data_at as u32).to_le_bytes());
            v.resize(data_at + raw, 0);
            v[data_at..data_at + body.len()].copy_from_slice(body);
            data_at += raw;
        }
        if let Some((codec, payload)) = zboot {
            v[4..8].copy_from_slice(b"zimg");
            let at = v.len() as u32;
            v[8..12].copy_from_slice(&at.to_le_bytes());
            v[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            v[0x18..0x18 + codec.len()].copy_from_slice(codec.as_bytes());
            v.extend_from_slice(payload);
            v.extend_from_slice(&[0, 0, 0, 0]);
        }
        v
    }

    #[test]
    fn sections_and_uki() {
        let v = build(
            0x8664,
            &[(".linux", b"kernel"), (".cmdline", b"quiet\n")],
            None,
        );
        let pe = PeImage::parse(&v).unwrap();
        assert_eq!(pe.arch, Some(Arch::X86_64));
        assert!(pe.pe32_plus && pe.is_uki() && pe.linux_magic);
        assert_eq!(pe.subsystem, 10);
        assert_eq!(
            pe.section(".cmdline").unwrap().data(&v).unwrap(),
            b"quiet\n"
        );
        assert_eq!(pe.certificate_table, None);
    }

    #[test]
    fn zboot_header() {
        let v = build(
            0xaa64,
            &[(".text", b"stub")],
            Some(("zstd", b"\x28\xb5\x2f\xfdxx")),
        );
        let z = Zboot::parse(&v).unwrap();
        assert_eq!(z.compression, Some(Compression::Zstd));
        assert_eq!(z.payload(&v).unwrap(), b"\x28\xb5\x2f\xfdxx");
        let mut bad = v.clone();
        bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Zboot::parse(&bad), Err(Error::Truncated { .. })));
    }

    #[test]
    fn hostile_pe() {
        let v = build(0x8664, &[(".linux", b"k")], None);
        let mut bad = v.clone();
        bad[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(PeImage::parse(&bad), Err(Error::Truncated { .. })));
        let mut bad = v.clone();
        bad[0x86..0x88].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            PeImage::parse(&bad),
            Err(Error::Truncated {
                what: "PE section table",
                ..
            })
        ));
        let mut bad = v;
        let sec = 0x80 + 24 + 240;
        bad[sec + 20..sec + 24].copy_from_slice(&u32::MAX.to_le_bytes());
        let pe = PeImage::parse(&bad).unwrap();
        assert!(pe.section(".linux").unwrap().data(&bad).is_err());
    }
}

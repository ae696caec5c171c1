//! The RISC-V `Image` header (64 bytes at offset 0, little-endian).
//!
//! Layout from `Documentation/arch/riscv/boot-image-header.rst`: the
//! deprecated 8-byte magic "RISCV\0\0\0" at 0x30 and the current 4-byte magic
//! "RSC\x05" at 0x38; kexec_file (`arch/riscv/kernel/kexec_image.c`) checks the
//! latter. Debian ships this format under the name `vmlinux-*` on riscv64,
//! which is why images are probed by content and never by name.

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::arch::Endian;
use crate::bytes::read;
use crate::error::{Error, Result};

/// "RSC\x05" at 0x38.
pub const RISCV_MAGIC2: u32 = 0x0543_5352;
/// "RISCV\0\0\0" at 0x30 (deprecated).
pub const RISCV_MAGIC: u64 = 0x0000_0056_4353_4952;

/// The 64-byte RISC-V Image header.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[allow(missing_docs)]
pub struct RiscvHeader {
    pub code0: U32,
    pub code1: U32,
    pub text_offset: U64,
    pub image_size: U64,
    pub flags: U64,
    pub version: U32,
    pub res1: U32,
    pub res2: U64,
    pub magic: U64,
    pub magic2: U32,
    pub res3: U32,
}

const _: () = assert!(core::mem::size_of::<RiscvHeader>() == 64);

/// A parsed RISC-V Image.
#[derive(Debug, Clone)]
pub struct RiscvImage {
    /// The raw header.
    pub header: RiscvHeader,
    /// Image load offset from the start of RAM.
    pub text_offset: u64,
    /// Effective image size.
    pub image_size: u64,
    /// Byte order (flags bit 0).
    pub endian: Endian,
    /// Header version (major, minor).
    pub version: (u16, u16),
    /// Whether the current magic ("RSC\x05") is present (else only the deprecated one).
    pub has_magic2: bool,
    /// Offset of the PE header (EFI stub), when `MZ` starts the file.
    pub pe_offset: Option<u32>,
}

impl RiscvImage {
    /// Whether either RISC-V magic is present.
    pub fn probe(data: &[u8]) -> bool {
        read::<RiscvHeader>(data, 0, "riscv header")
            .is_ok_and(|h| h.magic2.get() == RISCV_MAGIC2 || h.magic.get() == RISCV_MAGIC)
    }

    /// Parses the header.
    pub fn parse(data: &[u8]) -> Result<RiscvImage> {
        let h: RiscvHeader = read(data, 0, "RISC-V Image header")?;
        let has_magic2 = h.magic2.get() == RISCV_MAGIC2;
        if !has_magic2 && h.magic.get() != RISCV_MAGIC {
            return Err(Error::BadMagic {
                what: "RISC-V Image magic2",
                offset: 0x38,
                found: u64::from(h.magic2.get()),
            });
        }
        let v = h.version.get();
        Ok(RiscvImage {
            text_offset: h.text_offset.get(),
            image_size: h.image_size.get(),
            endian: if h.flags.get() & 1 != 0 {
                Endian::Big
            } else {
                Endian::Little
            },
            version: ((v >> 16) as u16, (v & 0xffff) as u16),
            has_magic2,
            pe_offset: data.starts_with(b"MZ").then(|| h.res3.get()),
            header: h,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn build(image_size: u64, len: usize) -> Vec<u8> {
        let mut img = vec![0u8; len.max(64)];
        img[8..16].copy_from_slice(&0x20_0000u64.to_le_bytes());
        img[16..24].copy_from_slice(&image_size.to_le_bytes());
        img[0x20..0x24].copy_from_slice(&0x0002_0000u32.to_le_bytes());
        img[0x30..0x38].copy_from_slice(b"RISCV\0\0\0");
        img[0x38..0x3c].copy_from_slice(b"RSC\x05");
        img
    }

    #[test]
    fn parse_header() {
        let i = RiscvImage::parse(&build(0x150_0000, 128)).unwrap();
        assert_eq!((i.text_offset, i.image_size), (0x20_0000, 0x150_0000));
        assert_eq!(i.version, (2, 0));
        assert!(i.has_magic2);
        assert_eq!(i.endian, Endian::Little);
        let mut bad = build(1, 64);
        bad[0x30] = 0;
        bad[0x38] = 0;
        assert!(matches!(
            RiscvImage::parse(&bad),
            Err(Error::BadMagic { .. })
        ));
    }
}

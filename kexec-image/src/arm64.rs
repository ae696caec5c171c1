//! The arm64 `Image` header (64 bytes at offset 0, little-endian).
//!
//! Layout and flag bits from `Documentation/arch/arm64/booting.rst`; the
//! kexec_file checks from `arch/arm64/kernel/kexec_image.c` (magic only, the
//! image must not be big-endian when the kernel is little-endian).

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::arch::Endian;
use crate::bytes::read;
use crate::error::{Error, Result};

/// "ARM\x64" at offset 0x38.
pub const ARM64_MAGIC: u32 = 0x644d_5241;

/// The 64-byte arm64 Image header.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[allow(missing_docs)]
pub struct Arm64Header {
    pub code0: U32,
    pub code1: U32,
    pub text_offset: U64,
    pub image_size: U64,
    pub flags: U64,
    pub res2: U64,
    pub res3: U64,
    pub res4: U64,
    pub magic: U32,
    pub res5: U32,
}

const _: () = assert!(core::mem::size_of::<Arm64Header>() == 64);

/// Kernel page size from the header flags (bits 1-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// Not specified (0).
    Unspecified,
    /// 4 KiB.
    K4,
    /// 16 KiB.
    K16,
    /// 64 KiB.
    K64,
}

impl PageSize {
    /// Size in bytes, when specified.
    pub fn bytes(self) -> Option<u64> {
        match self {
            PageSize::Unspecified => None,
            PageSize::K4 => Some(4096),
            PageSize::K16 => Some(16384),
            PageSize::K64 => Some(65536),
        }
    }
}

/// A parsed arm64 Image.
#[derive(Debug, Clone)]
pub struct Arm64Image {
    /// The raw header.
    pub header: Arm64Header,
    /// Image load offset from a 2 MiB aligned base (0x80000 when `image_size` is 0, per booting.rst).
    pub text_offset: u64,
    /// Effective image size in bytes (0 means unknown: pre-3.17 kernels).
    pub image_size: u64,
    /// Kernel byte order (flags bit 0).
    pub endian: Endian,
    /// Kernel page size (flags bits 1-2).
    pub page_size: PageSize,
    /// Physical placement (flags bit 3): `true` means anywhere in memory,
    /// `false` means as close as possible to the base of DRAM.
    pub place_anywhere: bool,
    /// Offset of the PE header (an EFI stub), when `MZ` starts the file.
    pub pe_offset: Option<u32>,
}

impl Arm64Image {
    /// Whether `data` carries the arm64 magic.
    pub fn probe(data: &[u8]) -> bool {
        read::<Arm64Header>(data, 0, "arm64 header").is_ok_and(|h| h.magic.get() == ARM64_MAGIC)
    }

    /// Parses the header.
    pub fn parse(data: &[u8]) -> Result<Arm64Image> {
        let h: Arm64Header = read(data, 0, "arm64 Image header")?;
        if h.magic.get() != ARM64_MAGIC {
            return Err(Error::BadMagic {
                what: "arm64 Image magic",
                offset: 0x38,
                found: u64::from(h.magic.get()),
            });
        }
        let flags = h.flags.get();
        let image_size = h.image_size.get();
        let text_offset = if image_size == 0 {
            0x80000
        } else {
            h.text_offset.get()
        };
        Ok(Arm64Image {
            text_offset,
            image_size,
            endian: if flags & 1 != 0 {
                Endian::Big
            } else {
                Endian::Little
            },
            page_size: match (flags >> 1) & 3 {
                1 => PageSize::K4,
                2 => PageSize::K16,
                3 => PageSize::K64,
                _ => PageSize::Unspecified,
            },
            place_anywhere: flags & (1 << 3) != 0,
            pe_offset: data.starts_with(b"MZ").then(|| h.res5.get()),
            header: h,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn build(image_size: u64, flags: u64, len: usize) -> Vec<u8> {
        let mut img = vec![0u8; len.max(64)];
        img[0..2].copy_from_slice(b"MZ");
        img[8..16].copy_from_slice(&0u64.to_le_bytes());
        img[16..24].copy_from_slice(&image_size.to_le_bytes());
        img[24..32].copy_from_slice(&flags.to_le_bytes());
        img[0x38..0x3c].copy_from_slice(&ARM64_MAGIC.to_le_bytes());
        img[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        img
    }

    #[test]
    fn flags_decode() {
        let i = Arm64Image::parse(&build(0x2a0_0000, 0b1010, 4096)).unwrap();
        assert_eq!(i.text_offset, 0);
        assert_eq!(i.image_size, 0x2a0_0000);
        assert_eq!(i.endian, Endian::Little);
        assert_eq!(i.page_size, PageSize::K4);
        assert!(i.place_anywhere);
        assert_eq!(i.pe_offset, Some(0x40));
        let old = Arm64Image::parse(&build(0, 1 | (3 << 1), 64)).unwrap();
        assert_eq!(old.text_offset, 0x80000);
        assert_eq!((old.endian, old.page_size), (Endian::Big, PageSize::K64));
        let mut bad = build(1, 0, 64);
        bad[0x38] = 0;
        assert!(matches!(
            Arm64Image::parse(&bad),
            Err(Error::BadMagic { offset: 0x38, .. })
        ));
        assert!(matches!(
            Arm64Image::parse(&bad[..40]),
            Err(Error::Truncated { .. })
        ));
    }
}

//! The 32-bit ARM `zImage`: a self-decompressing kernel with a small header
//! at 0x24 and an optional tag table that tells the decompressed size.
//!
//! Layout from `arch/arm/boot/compressed/head.S` (magic 0x016f2818 at 0x24,
//! start/end at 0x28/0x2c, the endianness word at 0x30, 0x45454545 and the
//! table pointer at 0x34/0x38) and `vmlinux.lds.S` (the `KRNL_SIZE` tag
//! 0x5a534c4b); kexec-tools `kexec/arch/arm/kexec-zImage-arm.c` reads the same.

use crate::arch::Endian;
use crate::bytes::{len64, read};
use crate::error::{Error, Result};

/// zImage magic at 0x24.
pub const ZIMAGE_MAGIC: u32 = 0x016f_2818;
/// Marker at 0x34 announcing the tag table pointer at 0x38.
pub const ZIMAGE_TABLE_MARKER: u32 = 0x4545_4545;
/// Tag id of the kernel size tag.
pub const ZIMAGE_TAG_KRNL_SIZE: u32 = 0x5a53_4c4b;

/// A parsed zImage.
#[derive(Debug, Clone)]
pub struct ArmZImage {
    /// Byte order (from the endianness word).
    pub endian: Endian,
    /// Load/run address word (`_magic_start`; 0 means position independent).
    pub start: u32,
    /// End address word (`_magic_end`): the zImage size when `start` is 0.
    pub end: u32,
    /// Offset of the tag table, when present.
    pub table_offset: Option<u32>,
    /// Decompressed kernel size from the `KRNL_SIZE` tag.
    pub kernel_size: Option<u32>,
    /// BSS size of the decompressed kernel from the same tag.
    pub kernel_bss_size: Option<u32>,
}

fn word(data: &[u8], off: u64, endian: Endian, what: &'static str) -> Result<u32> {
    let b: [u8; 4] = read(data, off, what)?;
    Ok(match endian {
        Endian::Little => u32::from_le_bytes(b),
        Endian::Big => u32::from_be_bytes(b),
    })
}

impl ArmZImage {
    /// Whether the zImage magic is at 0x24 (either byte order).
    pub fn probe(data: &[u8]) -> bool {
        read::<[u8; 4]>(data, 0x24, "zImage magic").is_ok_and(|b| {
            u32::from_le_bytes(b) == ZIMAGE_MAGIC || u32::from_be_bytes(b) == ZIMAGE_MAGIC
        })
    }

    /// Parses the header and, when present, the size tag.
    pub fn parse(data: &[u8]) -> Result<ArmZImage> {
        let b: [u8; 4] = read(data, 0x24, "zImage magic")?;
        let endian = if u32::from_le_bytes(b) == ZIMAGE_MAGIC {
            Endian::Little
        } else if u32::from_be_bytes(b) == ZIMAGE_MAGIC {
            Endian::Big
        } else {
            return Err(Error::BadMagic {
                what: "zImage magic",
                offset: 0x24,
                found: u64::from(u32::from_le_bytes(b)),
            });
        };
        let start = word(data, 0x28, endian, "zImage start")?;
        let end = word(data, 0x2c, endian, "zImage end")?;
        if end < start {
            return Err(Error::InvalidField {
                what: "zImage end",
                offset: 0x2c,
                value: u64::from(end),
                reason: "end address below start address",
            });
        }
        let mut img = ArmZImage {
            endian,
            start,
            end,
            table_offset: None,
            kernel_size: None,
            kernel_bss_size: None,
        };
        let has_table =
            word(data, 0x34, endian, "zImage table marker").is_ok_and(|m| m == ZIMAGE_TABLE_MARKER);
        if has_table {
            let t = word(data, 0x38, endian, "zImage table pointer")?;
            // The pointer is a link-time address; with start == 0 it is a file offset.
            let off = u64::from(t.wrapping_sub(start));
            img.table_offset = Some(t);
            img.read_tags(data, off)?;
        }
        Ok(img)
    }

    fn read_tags(&mut self, data: &[u8], mut off: u64) -> Result<()> {
        // Each tag: size in words (including this 2-word header), id, payload.
        for _ in 0..64 {
            let size = word(data, off, self.endian, "zImage tag size")?;
            if size == 0 {
                return Ok(());
            }
            let id = word(data, off + 4, self.endian, "zImage tag id")?;
            let bytes = u64::from(size) * 4;
            if bytes < 8 || off.saturating_add(bytes) > len64(data) {
                return Err(Error::InvalidField {
                    what: "zImage tag size",
                    offset: off,
                    value: u64::from(size),
                    reason: "tag runs past the end of the image",
                });
            }
            if id == ZIMAGE_TAG_KRNL_SIZE && size >= 4 {
                let size_ptr = word(data, off + 8, self.endian, "KRNL_SIZE size_ptr")?;
                let bss = word(data, off + 12, self.endian, "KRNL_SIZE bss_size")?;
                let at = u64::from(size_ptr.wrapping_sub(self.start));
                self.kernel_size = Some(word(data, at, self.endian, "KRNL_SIZE value")?);
                self.kernel_bss_size = Some(bss);
            }
            off += bytes;
        }
        // Bounded walk: head.S never makes a table of more than 64 tags.
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "the test builders write small constants into header fields"
    )]
    use super::*;

    pub(crate) fn build(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        let put =
            |v: &mut Vec<u8>, off: usize, x: u32| v[off..off + 4].copy_from_slice(&x.to_le_bytes());
        put(&mut v, 0x24, ZIMAGE_MAGIC);
        put(&mut v, 0x28, 0);
        put(&mut v, 0x2c, len as u32);
        put(&mut v, 0x30, 0x0403_0201);
        put(&mut v, 0x34, ZIMAGE_TABLE_MARKER);
        put(&mut v, 0x38, 0x100);
        put(&mut v, 0x100, 4);
        put(&mut v, 0x104, ZIMAGE_TAG_KRNL_SIZE);
        put(&mut v, 0x108, (len - 4) as u32);
        put(&mut v, 0x10c, 0x5_0000);
        put(&mut v, 0x110, 0);
        put(&mut v, len - 4, 0x0123_4567);
        v
    }

    #[test]
    fn header_and_tag() {
        let z = ArmZImage::parse(&build(0x1000)).unwrap();
        assert_eq!(z.endian, Endian::Little);
        assert_eq!((z.start, z.end), (0, 0x1000));
        assert_eq!(z.kernel_size, Some(0x0123_4567));
        assert_eq!(z.kernel_bss_size, Some(0x5_0000));
        let mut bad = build(0x1000);
        bad[0x100..0x104].copy_from_slice(&0x1000_0000u32.to_le_bytes());
        assert!(matches!(
            ArmZImage::parse(&bad),
            Err(Error::InvalidField { .. })
        ));
        assert!(matches!(
            ArmZImage::parse(&build(0x1000)[..0x20]),
            Err(Error::Truncated { .. })
        ));
    }
}

//! x86 bzImage: the real-mode `setup_header` at 0x1f1, the protected-mode
//! kernel after the setup sectors, and its compressed payload.
//!
//! Layout and flag meanings from `Documentation/arch/x86/boot.rst` and the
//! uAPI `arch/x86/include/uapi/asm/bootparam.h`; the kexec_file acceptance
//! rules from `arch/x86/kernel/kexec-bzimage64.c` (`bzImage64_probe`).

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::bytes::{self, c_string, read, slice};
use crate::compress::{self, Compression};
use crate::error::{Error, Result};

/// Offset of the setup header in the image.
pub const SETUP_HEADER_OFFSET: u64 = 0x1f1;
/// `boot_flag` value.
pub const BOOT_FLAG: u16 = 0xaa55;
/// `header` value: "HdrS".
pub const HDRS_MAGIC: u32 = 0x5372_6448;

/// `loadflags` bit: the protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `loadflags` bit: KASLR enabled (set by the kernel).
pub const KASLR_FLAG: u8 = 1 << 1;
/// `loadflags` bit: quiet early messages.
pub const QUIET_FLAG: u8 = 1 << 5;
/// `loadflags` bit: obsolete `KEEP_SEGMENTS`.
pub const KEEP_SEGMENTS: u8 = 1 << 6;
/// `loadflags` bit: `heap_end_ptr` is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;

/// `xloadflags` bit: a 64-bit entry point at +0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit: kernel, boot_params and command line may sit above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `xloadflags` bit: 32-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_32: u16 = 1 << 2;
/// `xloadflags` bit: 64-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_64: u16 = 1 << 3;
/// `xloadflags` bit: the EFI kexec path is supported.
pub const XLF_EFI_KEXEC: u16 = 1 << 4;
/// `xloadflags` bit: the kernel supports 5-level paging.
pub const XLF_5LEVEL: u16 = 1 << 5;
/// `xloadflags` bit: 5-level paging is enabled.
pub const XLF_5LEVEL_ENABLED: u16 = 1 << 6;
/// `xloadflags` bit: memory encryption (SME/TDX) aware.
pub const XLF_MEM_ENCRYPTION: u16 = 1 << 7;

/// `struct setup_header` exactly as it sits at 0x1f1 (little-endian, unaligned).
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[allow(missing_docs)]
pub struct SetupHeader {
    pub setup_sects: u8,
    pub root_flags: U16,
    pub syssize: U32,
    pub ram_size: U16,
    pub vid_mode: U16,
    pub root_dev: U16,
    pub boot_flag: U16,
    pub jump: U16,
    pub header: U32,
    pub version: U16,
    pub realmode_swtch: U32,
    pub start_sys_seg: U16,
    pub kernel_version: U16,
    pub type_of_loader: u8,
    pub loadflags: u8,
    pub setup_move_size: U16,
    pub code32_start: U32,
    pub ramdisk_image: U32,
    pub ramdisk_size: U32,
    pub bootsect_kludge: U32,
    pub heap_end_ptr: U16,
    pub ext_loader_ver: u8,
    pub ext_loader_type: u8,
    pub cmd_line_ptr: U32,
    pub initrd_addr_max: U32,
    pub kernel_alignment: U32,
    pub relocatable_kernel: u8,
    pub min_alignment: u8,
    pub xloadflags: U16,
    pub cmdline_size: U32,
    pub hardware_subarch: U32,
    pub hardware_subarch_data: U64,
    pub payload_offset: U32,
    pub payload_length: U32,
    pub setup_data: U64,
    pub pref_address: U64,
    pub init_size: U32,
    pub handover_offset: U32,
    pub kernel_info_offset: U32,
}

const _: () = assert!(core::mem::size_of::<SetupHeader>() == 0x26c - 0x1f1);

/// A parsed bzImage.
#[derive(Debug, Clone)]
pub struct BzImage {
    /// The raw header.
    pub header: SetupHeader,
    /// Boot protocol version (major, minor).
    pub protocol: (u8, u8),
    /// Setup sectors (0 read as 4, as the protocol says).
    pub setup_sects: u32,
    /// File offset of the protected-mode kernel: `(setup_sects + 1) * 512`.
    pub kernel_offset: u64,
    /// Bytes of protected-mode kernel in the file.
    pub kernel_size: u64,
    /// The kernel version string `kernel_version` points to.
    pub version: Option<String>,
    /// The payload, when the protocol has `payload_offset` (2.08+).
    pub payload: Option<Payload>,
    /// Whether an EFI stub (PE header) is present.
    pub efi_stub: bool,
    /// Entry points of the EFI handover protocol, when advertised.
    pub handover: Option<u32>,
}

/// A compressed payload inside an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// File offset.
    pub offset: u64,
    /// Length in bytes, as the header gives it.
    pub length: u64,
    /// Codec found at its start.
    pub compression: Option<Compression>,
}

impl BzImage {
    /// Whether `data` has the bzImage signatures ("HdrS" and 0xAA55).
    pub fn probe(data: &[u8]) -> bool {
        read::<SetupHeader>(data, SETUP_HEADER_OFFSET, "setup_header")
            .is_ok_and(|h| h.header.get() == HDRS_MAGIC && h.boot_flag.get() == BOOT_FLAG)
    }

    /// Parses the header and locates the payload.
    pub fn parse(data: &[u8]) -> Result<BzImage> {
        let h: SetupHeader = read(data, SETUP_HEADER_OFFSET, "setup_header")?;
        if h.boot_flag.get() != BOOT_FLAG {
            return Err(Error::BadMagic {
                what: "setup_header.boot_flag",
                offset: 0x1fe,
                found: u64::from(h.boot_flag.get()),
            });
        }
        if h.header.get() != HDRS_MAGIC {
            return Err(Error::BadMagic {
                what: "setup_header.header",
                offset: 0x202,
                found: u64::from(h.header.get()),
            });
        }
        let version = h.version.get();
        if version < 0x0200 {
            return Err(Error::InvalidField {
                what: "setup_header.version",
                offset: 0x206,
                value: u64::from(version),
                reason: "boot protocol older than 2.00 has no bzImage",
            });
        }
        let setup_sects = if h.setup_sects == 0 {
            4
        } else {
            u32::from(h.setup_sects)
        };
        let kernel_offset = (u64::from(setup_sects) + 1) * 512;
        let len = bytes::len64(data);
        if kernel_offset >= len {
            return Err(Error::Truncated {
                what: "bzImage protected-mode kernel",
                offset: kernel_offset,
                need: 1,
                have: len,
            });
        }
        let kernel_size = len - kernel_offset;
        let version_str = match h.kernel_version.get() {
            0 => None,
            p => c_string(data, u64::from(p) + 0x200, 256),
        };
        let payload = if version >= 0x0208 && h.payload_length.get() != 0 {
            let offset = bytes::add(
                kernel_offset,
                u64::from(h.payload_offset.get()),
                "setup_header.payload_offset",
                0x248,
            )?;
            let length = u64::from(h.payload_length.get());
            let body = slice(data, offset, length, "bzImage payload")?;
            Some(Payload {
                offset,
                length,
                compression: compress::sniff(body),
            })
        } else {
            None
        };
        let efi_stub = data.starts_with(b"MZ");
        let xlf = h.xloadflags.get();
        let handover = (version >= 0x020b
            && xlf & (XLF_EFI_HANDOVER_32 | XLF_EFI_HANDOVER_64) != 0)
            .then(|| h.handover_offset.get());
        Ok(BzImage {
            protocol: ((version >> 8) as u8, (version & 0xff) as u8),
            setup_sects,
            kernel_offset,
            kernel_size,
            version: version_str,
            payload,
            efi_stub,
            handover,
            header: h,
        })
    }

    /// Boot protocol version as the raw `0xMMmm` value.
    pub fn protocol_version(&self) -> u16 {
        self.header.version.get()
    }

    /// Whether the kernel has a 64-bit entry point (`XLF_KERNEL_64`).
    pub fn is_64bit(&self) -> bool {
        self.header.xloadflags.get() & XLF_KERNEL_64 != 0
    }

    /// Whether the kernel may be loaded at any suitably aligned address
    /// (`relocatable_kernel`, protocol 2.05+).
    pub fn relocatable(&self) -> bool {
        self.protocol_version() >= 0x0205 && self.header.relocatable_kernel != 0
    }

    /// Why `kexec_file_load` on x86_64 would refuse this image, following
    /// `bzImage64_probe`: `None` when it would accept it.
    pub fn kexec_file_refusal(&self) -> Option<&'static str> {
        let xlf = self.header.xloadflags.get();
        if self.protocol_version() < 0x020c {
            return Some("boot protocol older than 2.12");
        }
        if self.header.loadflags & LOADED_HIGH == 0 {
            return Some("LOADED_HIGH is not set");
        }
        if xlf & XLF_KERNEL_64 == 0 {
            return Some("no 64-bit entry point (XLF_KERNEL_64)");
        }
        if xlf & XLF_CAN_BE_LOADED_ABOVE_4G == 0 {
            return Some("cannot be loaded above 4G (XLF_CAN_BE_LOADED_ABOVE_4G)");
        }
        None
    }

    /// The payload decompressed (the kernel's `vmlinux` ELF), at most `limit` bytes.
    ///
    /// For codecs other than gzip the build appends the decompressed size as 4
    /// little-endian bytes after the stream (`*_with_size` in
    /// `scripts/Makefile.lib`); those are not part of the stream and are cut.
    pub fn decompress_payload(&self, data: &[u8], limit: u64) -> Result<Vec<u8>> {
        let p = self.payload.ok_or(Error::InvalidField {
            what: "setup_header.payload_length",
            offset: 0x24c,
            value: 0,
            reason: "the image has no payload field (protocol before 2.08)",
        })?;
        let codec = p.compression.ok_or(Error::InvalidField {
            what: "bzImage payload",
            offset: p.offset,
            value: p.length,
            reason: "no known compression magic at the payload start",
        })?;
        let body = slice(data, p.offset, p.length, "bzImage payload")?;
        let stream = match codec {
            Compression::Gzip | Compression::Zstd => body,
            _ => &body[..body.len().saturating_sub(4)],
        };
        compress::decompress(stream, codec, limit, p.offset)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "the test builders write small constants into header fields"
    )]
    use super::*;

    /// A synthetic 64-bit bzImage: 4 setup sectors, a payload of `payload` bytes.
    pub(crate) fn build(payload: &[u8], version: &str) -> Vec<u8> {
        let setup_sects = 4u8;
        let kernel_offset = (usize::from(setup_sects) + 1) * 512;
        let mut img = vec![0u8; kernel_offset + 0x100 + payload.len()];
        img[SETUP_HEADER_OFFSET as usize] = setup_sects;
        let put16 = |img: &mut Vec<u8>, off: usize, v: u16| {
            img[off..off + 2].copy_from_slice(&v.to_le_bytes())
        };
        let put32 = |img: &mut Vec<u8>, off: usize, v: u32| {
            img[off..off + 4].copy_from_slice(&v.to_le_bytes())
        };
        let put64 = |img: &mut Vec<u8>, off: usize, v: u64| {
            img[off..off + 8].copy_from_slice(&v.to_le_bytes())
        };
        put16(&mut img, 0x1fe, BOOT_FLAG);
        put32(&mut img, 0x202, HDRS_MAGIC);
        put16(&mut img, 0x206, 0x020f);
        // version string in the setup area at 0x400 (pointer is minus 0x200)
        img[0x400..0x400 + version.len()].copy_from_slice(version.as_bytes());
        put16(&mut img, 0x20e, 0x200);
        img[0x211] = LOADED_HIGH | CAN_USE_HEAP;
        put32(&mut img, 0x22c, 0x7fff_ffff);
        put32(&mut img, 0x230, 0x20_0000);
        img[0x234] = 1;
        img[0x235] = 21;
        put16(
            &mut img,
            0x236,
            XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G | XLF_EFI_HANDOVER_64 | XLF_EFI_KEXEC,
        );
        put32(&mut img, 0x238, 2047);
        put32(&mut img, 0x248, 0x100);
        put32(&mut img, 0x24c, payload.len() as u32);
        put64(&mut img, 0x258, 0x100_0000);
        put32(&mut img, 0x260, 0x0200_0000);
        put32(&mut img, 0x264, 0x190);
        img[kernel_offset + 0x100..].copy_from_slice(payload);
        img
    }

    #[test]
    fn parse_synthetic() {
        let payload = crate::testutil::gzip(b"\x7fELF fake vmlinux");
        let img = build(&payload, "6.1.0-test (builder@host) #1 SMP");
        assert!(BzImage::probe(&img));
        let b = BzImage::parse(&img).unwrap();
        assert_eq!(b.protocol, (2, 15));
        assert_eq!(b.setup_sects, 4);
        assert_eq!(b.kernel_offset, 0xa00);
        assert!(b.is_64bit() && b.relocatable());
        assert_eq!(b.kexec_file_refusal(), None);
        assert_eq!(
            b.version.as_deref(),
            Some("6.1.0-test (builder@host) #1 SMP")
        );
        let p = b.payload.unwrap();
        assert_eq!((p.offset, p.compression), (0xb00, Some(Compression::Gzip)));
        assert_eq!(
            b.decompress_payload(&img, 1 << 20).unwrap(),
            b"\x7fELF fake vmlinux"
        );
        assert_eq!(b.handover, Some(0x190));
        assert_eq!(core::mem::size_of_val(&b.header), 0x7b);
    }

    #[test]
    fn refusals_and_errors() {
        let img = build(&[0u8; 16], "x");
        let mut old = img.clone();
        old[0x206] = 0x0b;
        assert_eq!(
            BzImage::parse(&old).unwrap().kexec_file_refusal(),
            Some("boot protocol older than 2.12")
        );
        let mut bad = img.clone();
        bad[0x202] = b'X';
        assert!(matches!(
            BzImage::parse(&bad),
            Err(Error::BadMagic { offset: 0x202, .. })
        ));
        assert!(matches!(
            BzImage::parse(&img[..0x230]),
            Err(Error::Truncated { offset: 0x1f1, .. })
        ));
        let mut huge = img.clone();
        huge[0x24c..0x250].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            BzImage::parse(&huge),
            Err(Error::Truncated { .. })
        ));
    }
}

//! The s390x kernel image: an IPL record at offset 0, the "S390EP" entry
//! marker at 0x10008 and the parameter area (`struct parmarea`) at 0x10400
//! with the initrd location, the old-memory range a kdump kernel is told
//! about, and the command line.
//!
//! Offsets from `arch/s390/include/asm/setup.h` (`EP_OFFSET`, `PARMAREA`,
//! `struct parmarea`, `LEGACY_COMMAND_LINE_SIZE`) and how kexec-tools'
//! `kexec/arch/s390/kexec-image.c` and the kernel's
//! `arch/s390/kernel/kexec_image.c` use them. The image is big-endian.

use zerocopy::big_endian::U64;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::bytes::{c_string, read, slice};
use crate::error::{Error, Result};

/// Offset of the "S390EP" marker.
pub const EP_OFFSET: u64 = 0x10008;
/// The marker.
pub const EP_STRING: &[u8; 6] = b"S390EP";
/// Offset of the parameter area.
pub const PARMAREA: u64 = 0x10400;
/// Offset of the command line in the image.
pub const COMMAND_LINE_OFFSET: u64 = 0x10480;
/// Command-line limit when the kernel does not give one.
pub const LEGACY_COMMAND_LINE_SIZE: u64 = 896;
/// Where the normal-boot entry point sits (`STARTUP_NORMAL_OFFSET`); kexec loads from here.
pub const STARTUP_NORMAL_OFFSET: u64 = 0x10000;
/// The kdump entry point (`STARTUP_KDUMP_OFFSET`).
pub const STARTUP_KDUMP_OFFSET: u64 = 0x10010;

/// The fixed part of `struct parmarea` (big-endian `unsigned long`s).
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[allow(missing_docs)]
pub struct Parmarea {
    pub ipl_device: U64,
    pub initrd_start: U64,
    pub initrd_size: U64,
    pub oldmem_base: U64,
    pub oldmem_size: U64,
    pub kernel_version: U64,
    pub max_command_line_size: U64,
}

/// A parsed s390x image.
#[derive(Debug, Clone)]
pub struct S390Image {
    /// The parameter area.
    pub parmarea: Parmarea,
    /// The IPL PSW (first 8 bytes).
    pub ipl_psw: u64,
    /// Command-line limit in bytes: `max_command_line_size`, or 896 when it is 0.
    pub command_line_limit: u64,
    /// The command line built into the image (usually empty).
    pub command_line: String,
    /// Kernel version string the parameter area points to, if inside the file.
    pub version: Option<String>,
}

impl S390Image {
    /// Whether the "S390EP" marker is at 0x10008.
    pub fn probe(data: &[u8]) -> bool {
        slice(data, EP_OFFSET, 6, "S390EP").is_ok_and(|m| m == EP_STRING)
    }

    /// Parses the marker and parameter area.
    pub fn parse(data: &[u8]) -> Result<S390Image> {
        let marker = slice(data, EP_OFFSET, 6, "s390 entry marker")?;
        if marker != EP_STRING {
            let mut b = [0u8; 8];
            b[..6].copy_from_slice(marker);
            return Err(Error::BadMagic {
                what: "s390 S390EP marker",
                offset: EP_OFFSET,
                found: u64::from_be_bytes(b),
            });
        }
        let p: Parmarea = read(data, PARMAREA, "s390 parmarea")?;
        let ipl_psw: U64 = read(data, 0, "s390 IPL PSW")?;
        let max = p.max_command_line_size.get();
        let command_line_limit = if max == 0 {
            LEGACY_COMMAND_LINE_SIZE
        } else {
            max
        };
        let cap = usize::try_from(command_line_limit.min(1 << 20)).unwrap_or(0);
        let command_line = c_string(data, COMMAND_LINE_OFFSET, cap).unwrap_or_default();
        let version = match p.kernel_version.get() {
            0 => None,
            a => c_string(data, a, 256),
        };
        Ok(S390Image {
            ipl_psw: ipl_psw.get(),
            command_line_limit,
            command_line,
            version,
            parmarea: p,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "the test builders write small constants into header fields"
    )]
    use super::*;

    pub(crate) fn build(max_cmdline: u64) -> Vec<u8> {
        let mut v = vec![0u8; 0x12000];
        v[0..8].copy_from_slice(&0x0008_0000_8001_0000u64.to_be_bytes());
        v[EP_OFFSET as usize..EP_OFFSET as usize + 6].copy_from_slice(EP_STRING);
        let p = PARMAREA as usize;
        v[p + 0x30..p + 0x38].copy_from_slice(&max_cmdline.to_be_bytes());
        v[p + 0x28..p + 0x30].copy_from_slice(&0x11800u64.to_be_bytes());
        v[0x11800..0x11805].copy_from_slice(b"6.1.0");
        v[COMMAND_LINE_OFFSET as usize..COMMAND_LINE_OFFSET as usize + 5].copy_from_slice(b"quiet");
        v
    }

    #[test]
    fn parse_parmarea() {
        let i = S390Image::parse(&build(4096)).unwrap();
        assert_eq!(i.command_line_limit, 4096);
        assert_eq!(i.command_line, "quiet");
        assert_eq!(i.version.as_deref(), Some("6.1.0"));
        assert_eq!(S390Image::parse(&build(0)).unwrap().command_line_limit, 896);
        assert!(matches!(
            S390Image::parse(&build(0)[..0x10420]),
            Err(Error::Truncated { .. })
        ));
        let mut bad = build(0);
        bad[EP_OFFSET as usize] = b'X';
        assert!(matches!(
            S390Image::parse(&bad),
            Err(Error::BadMagic { .. })
        ));
    }
}

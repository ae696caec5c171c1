//! The x86_64 purgatory of the classic `kexec_load(2)` path: a small position-independent
//! program the old kernel's `relocate_kernel` jumps to after copying the segments into
//! place. It checks a SHA-256 digest of the loaded segments, refuses to go on when they
//! were corrupted, and enters the new kernel by the 64-bit boot protocol.
//!
//! The program is our own documented assembly, `purgatory/x86_64.S`, built by
//! `purgatory/build.sh` (GNU `as` + `objcopy -O binary`) into the committed
//! `purgatory/x86_64.bin`, which this module embeds; `tests/purgatory.rs` rebuilds it and
//! checks the bytes are the same, runs the same source's SHA-256 code on the host, and
//! (with `fixture-tests`) boots the real image under QEMU from `purgatory/qemu-stub.S`.
//!
//! # What the image does
//! 1. Takes its own stack in the memory after its file bytes (inside [`PurgatoryImage::memsz`]).
//! 2. Hashes the [`DigestRegion`]s in order as one SHA-256 message and compares the result
//!    with [`PurgatoryParams::digest`]. On a mismatch it writes
//!    `purgatory: sha256 digest mismatch` to COM1 (I/O port 0x3f8, as the old kernel's
//!    console left the UART) and halts forever (`hlt` in a loop, interrupts off).
//! 3. Loads its own GDT (0x10 flat 64-bit code = `__BOOT_CS`, 0x18 flat data = `__BOOT_DS`,
//!    Documentation/arch/x86/boot.rst "64-bit BOOT PROTOCOL"), reloads CS, DS, ES, SS, FS
//!    and GS, clears the flags and every general-purpose register but `rsi` =
//!    [`PurgatoryParams::boot_params`], and jumps to [`PurgatoryParams::kernel_entry`].
//!
//! # Parameter block
//! At fixed offsets from the image's first byte, all little-endian (the assembly asserts
//! the same offsets):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x000 | 8 | magic `KDRSPURG` |
//! | 0x008 | 4 | layout version, 1 |
//! | 0x00c | 4 | entry offset |
//! | 0x010 | 4 | memory needed from the load address (file + bss + stack) |
//! | 0x014 | 4 | maximum number of regions, 16 ([`MAX_REGIONS`]) |
//! | 0x018 | 8 | kernel entry ([`OFFSET_KERNEL_ENTRY`]) |
//! | 0x020 | 8 | boot_params address ([`OFFSET_BOOT_PARAMS`]) |
//! | 0x028 | 8 | number of regions in use ([`OFFSET_NR_REGIONS`]) |
//! | 0x030 | 32 | SHA-256 digest ([`OFFSET_DIGEST`]) |
//! | 0x050 | 16 × 16 | regions `{ u64 start, u64 len }` ([`OFFSET_REGIONS`]) |
//! | 0x150 | | code ([`PARAMS_END`]) |
//!
//! The purgatory's own segment must not be one of the regions: its stack and bss change
//! while it runs. Like kexec-tools, hash every other segment; a segment the kernel may
//! rewrite after the load (the elfcorehdr under `KEXEC_UPDATE_ELFCOREHDR`, for crash
//! hotplug) must be left out too.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The flat image built from `purgatory/x86_64.S` by `purgatory/build.sh`.
const IMAGE: &[u8] = include_bytes!("../purgatory/x86_64.bin");

/// The most digest regions the purgatory's parameter block holds.
pub const MAX_REGIONS: usize = 16;
/// Offset of the kernel entry (u64) in the image.
pub const OFFSET_KERNEL_ENTRY: usize = 0x18;
/// Offset of the boot_params address (u64), handed to the kernel in `rsi`.
pub const OFFSET_BOOT_PARAMS: usize = 0x20;
/// Offset of the number of regions in use (u64).
pub const OFFSET_NR_REGIONS: usize = 0x28;
/// Offset of the 32-byte SHA-256 digest.
pub const OFFSET_DIGEST: usize = 0x30;
/// Offset of the region table: [`MAX_REGIONS`] entries of `{ u64 start, u64 len }`.
pub const OFFSET_REGIONS: usize = 0x50;
/// End of the parameter block: [`x86_64`] patches the bytes from
/// [`OFFSET_KERNEL_ENTRY`] up to here and nothing else.
pub const PARAMS_END: usize = OFFSET_REGIONS + MAX_REGIONS * 16;

const MAGIC: &[u8; 8] = b"KDRSPURG";
const LAYOUT_VERSION: u32 = 1;
const OFFSET_VERSION: usize = 0x08;
const OFFSET_ENTRY: usize = 0x0c;
const OFFSET_MEM_NEEDED: usize = 0x10;
const OFFSET_MAX_REGIONS: usize = 0x14;
/// The purgatory segment's alignment: kexec_load wants page-aligned segments.
const ALIGN: u64 = 4096;

/// A loaded segment's bytes in memory, as the purgatory hashes them: `len` bytes at the
/// physical address `start` (the segment's destination and buffer size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestRegion {
    /// Physical (identity-mapped) address of the first byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

/// What [`x86_64`] patches into the purgatory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgatoryParams {
    /// Where the purgatory jumps when the digest matches: the kernel's 64-bit entry.
    pub kernel_entry: u64,
    /// The physical address of the `boot_params` (zero page), passed in `rsi`.
    pub boot_params: u64,
    /// The regions hashed, in order, as one message; at most [`MAX_REGIONS`].
    pub regions: Vec<DigestRegion>,
    /// SHA-256 of the regions' bytes ([`segments_digest`] of the segments' buffers).
    pub digest: [u8; 32],
}

/// The purgatory with its parameters patched in, ready to be one kexec segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgatoryImage {
    /// The segment's buffer.
    pub bytes: Vec<u8>,
    /// The entry point's offset from the segment's destination.
    pub entry_offset: u64,
    /// The segment's memory size (a multiple of [`PurgatoryImage::align`]): the bytes plus
    /// the purgatory's bss and stack.
    pub memsz: u64,
    /// The alignment the destination needs.
    pub align: u64,
}

/// SHA-256 over the segments' buffers in order, as the purgatory recomputes it over
/// their [`DigestRegion`]s.
pub fn segments_digest<'a>(bufs: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for buf in bufs {
        hasher.update(buf);
    }
    hasher.finalize().into()
}

/// The x86_64 purgatory with `params` patched in. Position independent: load it at any
/// `align`-aligned destination; the entry is destination + `entry_offset`.
///
/// Errors: more than [`MAX_REGIONS`] regions, or a region whose end overflows the
/// address space.
pub fn x86_64(params: &PurgatoryParams) -> Result<PurgatoryImage> {
    if params.regions.len() > MAX_REGIONS {
        return Err(Error::PurgatoryRegions {
            count: params.regions.len(),
            max: MAX_REGIONS,
        });
    }
    let header = Header::read(IMAGE)?;
    let mut bytes = IMAGE.to_vec();
    put_u64(&mut bytes, OFFSET_KERNEL_ENTRY, params.kernel_entry);
    put_u64(&mut bytes, OFFSET_BOOT_PARAMS, params.boot_params);
    // At most MAX_REGIONS (checked above), so the count fits in any integer.
    put_u64(
        &mut bytes,
        OFFSET_NR_REGIONS,
        u64::try_from(params.regions.len()).unwrap_or(u64::MAX),
    );
    bytes[OFFSET_DIGEST..OFFSET_DIGEST + 32].copy_from_slice(&params.digest);
    for (i, region) in params.regions.iter().enumerate() {
        if region.start.checked_add(region.len).is_none() {
            return Err(Error::InvalidField {
                what: "purgatory digest region length",
                offset: region.start,
                value: region.len,
                reason: "the region's end is past the 64-bit address space",
            });
        }
        let at = OFFSET_REGIONS + i * 16;
        put_u64(&mut bytes, at, region.start);
        put_u64(&mut bytes, at + 8, region.len);
    }
    let memsz = u64::from(header.mem_needed).next_multiple_of(ALIGN);
    Ok(PurgatoryImage {
        bytes,
        entry_offset: u64::from(header.entry),
        memsz,
        align: ALIGN,
    })
}

/// The fixed fields of the embedded image's header, checked against what this module
/// expects, so a rebuilt binary with another layout is an error and not a bad boot.
struct Header {
    entry: u32,
    mem_needed: u32,
}

impl Header {
    fn read(image: &[u8]) -> Result<Header> {
        let bad = |offset: usize, value: u64, reason: &'static str| Error::InvalidField {
            what: "embedded purgatory header",
            offset: u64::try_from(offset).unwrap_or(u64::MAX),
            value,
            reason,
        };
        let len = u64::try_from(image.len()).unwrap_or(u64::MAX);
        if image.len() <= PARAMS_END {
            return Err(Error::Truncated {
                what: "embedded purgatory",
                offset: 0,
                need: u64::try_from(PARAMS_END + 1).unwrap_or(u64::MAX),
                have: len,
            });
        }
        if &image[..8] != MAGIC {
            let mut first = [0u8; 8];
            first.copy_from_slice(&image[..8]);
            return Err(Error::BadMagic {
                what: "embedded purgatory",
                offset: 0,
                found: u64::from_le_bytes(first),
            });
        }
        let version = get_u32(image, OFFSET_VERSION);
        if version != LAYOUT_VERSION {
            return Err(bad(
                OFFSET_VERSION,
                u64::from(version),
                "layout version is not 1",
            ));
        }
        let entry = get_u32(image, OFFSET_ENTRY);
        if !(u64::try_from(PARAMS_END).unwrap_or(u64::MAX)..len).contains(&u64::from(entry)) {
            return Err(bad(
                OFFSET_ENTRY,
                u64::from(entry),
                "entry is not in the code",
            ));
        }
        let mem_needed = get_u32(image, OFFSET_MEM_NEEDED);
        if u64::from(mem_needed) < len {
            return Err(bad(
                OFFSET_MEM_NEEDED,
                u64::from(mem_needed),
                "memory needed is less than the file",
            ));
        }
        let max = get_u32(image, OFFSET_MAX_REGIONS);
        if usize::try_from(max).ok() != Some(MAX_REGIONS) {
            return Err(bad(
                OFFSET_MAX_REGIONS,
                u64::from(max),
                "region table size is not 16",
            ));
        }
        Ok(Header { entry, mem_needed })
    }
}

fn get_u32(image: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&image[at..at + 4]);
    u32::from_le_bytes(b)
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(n: usize) -> PurgatoryParams {
        PurgatoryParams {
            kernel_entry: 0x1_0000_0200,
            boot_params: 0x8000_1000,
            regions: (0..n)
                .map(|i| DigestRegion {
                    start: 0x1000 * (u64::try_from(i).unwrap() + 1),
                    len: 0x10 + u64::try_from(i).unwrap(),
                })
                .collect(),
            digest: core::array::from_fn(|i| u8::try_from(i).unwrap() ^ 0xa5),
        }
    }

    #[test]
    fn embedded_header_is_valid() {
        let h = Header::read(IMAGE).unwrap();
        assert!(usize::try_from(h.entry).unwrap() >= PARAMS_END);
        assert!(usize::try_from(h.mem_needed).unwrap() > IMAGE.len());
        // The committed image is pristine: nothing patched in.
        assert!(
            IMAGE[OFFSET_KERNEL_ENTRY..PARAMS_END]
                .iter()
                .all(|&b| b == 0)
        );
    }

    #[test]
    fn patches_exactly_the_parameter_block() {
        let p = params(MAX_REGIONS);
        let img = x86_64(&p).unwrap();
        assert_eq!(img.bytes.len(), IMAGE.len());
        assert_eq!(
            img.bytes[..OFFSET_KERNEL_ENTRY],
            IMAGE[..OFFSET_KERNEL_ENTRY]
        );
        assert_eq!(img.bytes[PARAMS_END..], IMAGE[PARAMS_END..]);
        let u64_at = |at: usize| u64::from_le_bytes(img.bytes[at..at + 8].try_into().unwrap());
        assert_eq!(u64_at(OFFSET_KERNEL_ENTRY), p.kernel_entry);
        assert_eq!(u64_at(OFFSET_BOOT_PARAMS), p.boot_params);
        assert_eq!(u64_at(OFFSET_NR_REGIONS), 16);
        assert_eq!(img.bytes[OFFSET_DIGEST..OFFSET_DIGEST + 32], p.digest);
        for (i, r) in p.regions.iter().enumerate() {
            assert_eq!(u64_at(OFFSET_REGIONS + 16 * i), r.start);
            assert_eq!(u64_at(OFFSET_REGIONS + 16 * i + 8), r.len);
        }
        assert_eq!(img.align, 4096);
        assert_eq!(img.memsz % 4096, 0);
        assert!(img.memsz >= u64::from(get_u32(IMAGE, OFFSET_MEM_NEEDED)));
        assert_eq!(img.entry_offset, u64::from(get_u32(IMAGE, OFFSET_ENTRY)));
    }

    #[test]
    fn unused_regions_stay_zero() {
        let img = x86_64(&params(3)).unwrap();
        assert!(
            img.bytes[OFFSET_REGIONS + 3 * 16..PARAMS_END]
                .iter()
                .all(|&b| b == 0)
        );
    }

    #[test]
    fn refuses_seventeen_regions() {
        let err = x86_64(&params(MAX_REGIONS + 1)).unwrap_err();
        assert!(
            matches!(err, Error::PurgatoryRegions { count: 17, max: 16 }),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_region_past_the_address_space() {
        let mut p = params(1);
        p.regions[0] = DigestRegion {
            start: u64::MAX - 3,
            len: 8,
        };
        let err = x86_64(&p).unwrap_err();
        assert!(matches!(err, Error::InvalidField { value: 8, .. }), "{err}");
    }

    #[test]
    fn rejects_a_foreign_header() {
        let mut bad = IMAGE.to_vec();
        bad[0] = b'X';
        assert!(matches!(Header::read(&bad), Err(Error::BadMagic { .. })));
        let mut bad = IMAGE.to_vec();
        bad[OFFSET_VERSION] = 2;
        assert!(matches!(
            Header::read(&bad),
            Err(Error::InvalidField { value: 2, .. })
        ));
        assert!(matches!(
            Header::read(&IMAGE[..PARAMS_END]),
            Err(Error::Truncated { .. })
        ));
    }
}

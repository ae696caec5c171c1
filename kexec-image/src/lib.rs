#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod bytes;
mod error;
#[cfg(test)]
mod testutil;

pub mod arch;
pub mod arm;
pub mod arm64;
pub mod classic;
pub mod compress;
pub mod elf;
pub mod image;
pub mod iomem;
pub mod pe;
pub mod plan;
pub mod purgatory;
pub mod riscv;
pub mod s390;
pub mod x86;

pub use arch::{Arch, Endian};
pub use compress::Compression;
/// The ELF core crate the classic plan builds its elfcorehdr with.
pub use elfcorehdr;
pub use error::{Error, Result};
pub use image::{
    Fact, FactValue, Format, Header, KernelImage, Loadable, ParseOptions, loadable_kernel, probe,
};
pub use iomem::{FirmwareMapEntry, Iomem, MemRange, Resource, read_firmware_memmap};
pub use plan::{
    Check, LoadKind, LoadPlan, LoadRequest, PlannedSegment, SyscallChoice, capture_cmdline,
    concat_cmdline, plan, reuse_cmdline, signature_present,
};

// Not supported API: the body of a fuzz target (`fuzz/`), public so the fuzz
// crate and the corpus replay test can call it.
#[doc(hidden)]
/// The fuzz target body for image parsing: parses `data` with a small
/// decompression limit and renders the facts. Never panics.
pub fn fuzz_parse_image(data: &[u8]) -> usize {
    let opts = ParseOptions {
        decompress: true,
        max_decompressed: 1 << 20,
        max_depth: 3,
    };
    match KernelImage::parse_with(data, &opts) {
        Ok(img) => img.facts().len(),
        Err(e) => e.to_string().len(),
    }
}

// Not supported API: the body of a fuzz target (`fuzz/`), public so the fuzz
// crate and the corpus replay test can call it.
#[doc(hidden)]
/// The fuzz target body for `/proc/iomem` parsing.
pub fn fuzz_parse_iomem(data: &[u8]) -> usize {
    let text = String::from_utf8_lossy(data);
    match Iomem::parse(&text) {
        Ok(m) => m.walk().len() + m.crash_regions().len() + usize::from(m.total_system_ram() > 0),
        Err(e) => e.to_string().len(),
    }
}

#[cfg(test)]
mod seed_corpus {
    //! Writes the fuzz seed corpus from the synthetic builders when
    //! `KEXEC_IMAGE_WRITE_SEEDS` is set (run once by hand; the files are committed).
    use crate::testutil::{gzip, zstd};

    #[test]
    fn write_seeds() {
        let Some(dir) = std::env::var_os("KEXEC_IMAGE_WRITE_SEEDS") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        let arm64 = crate::arm64::tests::build(0x1000, 2, 512);
        let seeds: Vec<(&str, Vec<u8>)> = vec![
            (
                "bzimage.ok",
                crate::x86::tests::build(&gzip(b"\x7fELF"), "6.1.0-seed"),
            ),
            ("arm64.ok", arm64.clone()),
            ("riscv.ok", crate::riscv::tests::build(0x1000, 256)),
            ("elf64le.ok", crate::elf::tests::build(true, false, 62, 64)),
            ("elf64be.ok", crate::elf::tests::build(true, true, 21, 64)),
            ("elf32le.ok", crate::elf::tests::build(false, false, 3, 64)),
            ("zimage.ok", crate::arm::tests::build(512)),
            ("s390.ok", crate::s390::tests::build(4096)),
            (
                "uki.ok",
                crate::pe::tests::build(
                    0x8664,
                    &[(".linux", &arm64), (".cmdline", b"quiet")],
                    None,
                ),
            ),
            (
                "zboot.ok",
                crate::pe::tests::build(0xaa64, &[(".text", b"s")], Some(("zstd", &zstd(&arm64)))),
            ),
            ("gzip.ok", gzip(&arm64)),
            (
                "truncated_bzimage",
                crate::x86::tests::build(b"", "v")[..0x250].to_vec(),
            ),
        ];
        for (name, data) in seeds {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

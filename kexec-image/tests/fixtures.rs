//! Checks on the real kernels and memory maps made by `cargo xtask fixtures`.
//!
//! Every fact is compared with values read here independently, straight from
//! the byte offsets the format documents give (boot.rst, booting.rst,
//! boot-image-header.rst, the s390 setup.h, the ELF header), then the full
//! fact list is compared with a golden JSON file per kernel package version
//! (`tests/golden/`); `KEXEC_IMAGE_UPDATE_GOLDEN=1` rewrites them.
#![cfg(feature = "fixture-tests")]
#![allow(
    clippy::cast_possible_truncation,
    reason = "offsets and counts of the fixture kernels are small"
)]

use std::path::{Path, PathBuf};

use kexec_image::{
    Arch, FactValue, Format, Iomem, KernelImage, LoadKind, LoadRequest, SyscallChoice,
    capture_cmdline, loadable_kernel, plan,
};
use serde_json::Value;

fn fixtures() -> (PathBuf, Value) {
    let dir = std::env::var_os("KDUMP_FIXTURES")
        .map(PathBuf::from)
        .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)");
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}/manifest.json: {e}", dir.display()));
    (
        dir,
        serde_json::from_str(&text).expect("manifest.json is JSON"),
    )
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    let p = dir.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn le16(d: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes(d[o..o + 2].try_into().unwrap()))
}
fn le32(d: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes(d[o..o + 4].try_into().unwrap()))
}
fn le64(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
}
fn be64(d: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(d[o..o + 8].try_into().unwrap())
}

fn fact(img: &KernelImage, name: &str) -> FactValue {
    img.facts()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fact {name}"))
        .value
}

fn num(v: &FactValue) -> u64 {
    match v {
        FactValue::Int(n) | FactValue::Hex(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

fn facts_json(img: &KernelImage) -> Value {
    let mut m = serde_json::Map::new();
    for f in img.facts() {
        let v = match f.value {
            FactValue::Text(s) => Value::String(s),
            FactValue::Int(n) => Value::from(n),
            FactValue::Hex(n) => Value::String(format!("{n:#x}")),
            FactValue::Bool(b) => Value::Bool(b),
        };
        m.insert(f.name, v);
    }
    Value::Object(m)
}

fn check_independently(arch: &str, data: &[u8], img: &KernelImage) {
    match img.format() {
        Format::BzImage => {
            // Documentation/arch/x86/boot.rst offsets.
            assert_eq!(le32(data, 0x202), 0x5372_6448, "HdrS");
            let v = le16(data, 0x206);
            assert_eq!(
                fact(img, "x86.protocol"),
                FactValue::Text(format!("{}.{:02}", v >> 8, v & 0xff))
            );
            let sects = u64::from(data[0x1f1]);
            assert_eq!(num(&fact(img, "x86.setup_sects")), sects);
            assert_eq!(num(&fact(img, "x86.init_size")), le32(data, 0x260));
            assert_eq!(num(&fact(img, "x86.xloadflags")), le16(data, 0x236));
            assert_eq!(num(&fact(img, "x86.cmdline_size")), le32(data, 0x238));
            assert_eq!(num(&fact(img, "x86.pref_address")), le64(data, 0x258));
            assert_eq!(num(&fact(img, "x86.kernel_alignment")), le32(data, 0x230));
            let payload = (sects + 1) * 512 + le32(data, 0x248);
            assert_eq!(num(&fact(img, "x86.payload_offset")), payload);
            assert_eq!(num(&fact(img, "x86.payload_length")), le32(data, 0x24c));
            let p = payload as usize;
            let codec = if data[p..].starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
                "xz"
            } else if data[p..].starts_with(&[0x1f, 0x8b]) {
                "gzip"
            } else if data[p..].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                "zstd"
            } else {
                "other"
            };
            assert_eq!(
                fact(img, "x86.payload_compression"),
                FactValue::Text(codec.into())
            );
            let is64 = le16(data, 0x236) & 1 != 0;
            assert_eq!(img.arch, Some(if is64 { Arch::X86_64 } else { Arch::X86 }));
            assert_eq!(arch == "amd64", is64, "{arch}");
            // The decompressed payload is the vmlinux ELF; the kernel's
            // init_size covers its whole load span.
            let inner = img.inner.as_ref().expect("payload decompressed");
            assert_eq!(inner.format(), Format::Elf);
            assert_eq!(inner.arch, img.arch);
            assert!(num(&fact(inner, "elf.load_span")) <= le32(data, 0x260));
            let accepted = fact(img, "x86.kexec_file_load") == FactValue::Text("accepted".into());
            assert_eq!(
                accepted, is64,
                "Debian's 64-bit bzImage is kexec_file-loadable, i386's is not"
            );
        }
        Format::Arm64Image => {
            // Documentation/arch/arm64/booting.rst.
            assert_eq!(&data[0x38..0x3c], b"ARM\x64");
            assert_eq!(num(&fact(img, "arm64.image_size")), le64(data, 0x10));
            assert_eq!(num(&fact(img, "arm64.text_offset")), le64(data, 0x08));
            assert_eq!(num(&fact(img, "arm64.flags")), le64(data, 0x18));
            let ps = match (le64(data, 0x18) >> 1) & 3 {
                1 => FactValue::Int(4096),
                2 => FactValue::Int(16384),
                3 => FactValue::Int(65536),
                _ => FactValue::Text("unspecified".into()),
            };
            assert_eq!(fact(img, "arm64.page_size"), ps);
            assert!(
                le64(data, 0x10) >= data.len() as u64,
                "image_size covers the file"
            );
        }
        Format::RiscvImage => {
            // Documentation/arch/riscv/boot-image-header.rst.
            assert_eq!(&data[0x38..0x3c], b"RSC\x05");
            assert_eq!(num(&fact(img, "riscv.image_size")), le64(data, 0x10));
            assert_eq!(num(&fact(img, "riscv.text_offset")), le64(data, 0x08));
            assert!(
                !data.starts_with(b"\x7fELF"),
                "Debian's riscv64 vmlinux is an Image, not ELF"
            );
        }
        Format::Elf => {
            assert_eq!(&data[..4], b"\x7fELF");
            let big = data[5] == 2;
            let machine = if big {
                u64::from(u16::from_be_bytes([data[0x12], data[0x13]]))
            } else {
                le16(data, 0x12)
            };
            assert_eq!(num(&fact(img, "elf.machine")), machine);
            assert_eq!(
                num(&fact(img, "elf.class")),
                if data[4] == 2 { 64 } else { 32 }
            );
            assert_eq!(arch, "ppc64el");
            assert_eq!((machine, big), (21, false));
        }
        Format::S390Image => {
            // arch/s390/include/asm/setup.h: EP_OFFSET, PARMAREA.
            assert_eq!(&data[0x10008..0x1000e], b"S390EP");
            let max = be64(data, 0x10430);
            assert_eq!(
                num(&fact(img, "s390.command_line_limit")),
                if max == 0 { 896 } else { max }
            );
            assert_eq!(img.endian.map(|e| e.to_string()).as_deref(), Some("big"));
        }
        Format::ArmZImage => {
            // arch/arm/boot/compressed/head.S.
            assert_eq!(le32(data, 0x24), 0x016f_2818);
            assert_eq!(num(&fact(img, "zimage.end")), le32(data, 0x2c));
            assert_eq!(
                le32(data, 0x2c) - le32(data, 0x28),
                data.len() as u64,
                "end - start is the file size"
            );
            let ks = num(&fact(img, "zimage.kernel_size"));
            assert!(
                ks > data.len() as u64,
                "the decompressed kernel is larger than the zImage"
            );
        }
        other => panic!("{arch}: unexpected format {other}"),
    }
}

#[test]
fn every_fixture_kernel() {
    let (dir, manifest) = fixtures();
    let kernels = manifest["kernels"].as_array().expect("kernels[]");
    assert!(
        kernels.len() >= 7,
        "expected seven arches, manifest has {}",
        kernels.len()
    );
    let update = std::env::var_os("KEXEC_IMAGE_UPDATE_GOLDEN").is_some();
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for k in kernels {
        let arch = k["debian_arch"].as_str().unwrap();
        let data = read(&dir, k["image"].as_str().unwrap());
        let img = KernelImage::parse(&data).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let expected = match k["format"].as_str().unwrap() {
            "bzImage" => Format::BzImage,
            "Image" if arch == "riscv64" => Format::RiscvImage,
            "Image" => Format::Arm64Image,
            "zImage" => Format::ArmZImage,
            "vmlinux" => Format::Elf,
            "s390-image" => Format::S390Image,
            f => panic!("{arch}: manifest format {f}"),
        };
        assert_eq!(img.format(), expected, "{arch}");
        assert_eq!(img.arch, Arch::from_name(arch), "{arch}");
        assert!(img.inner_error.is_none(), "{arch}: {:?}", img.inner_error);
        let release = k["release"].as_str().unwrap();
        if expected != Format::ArmZImage {
            let v = img
                .version
                .as_deref()
                .unwrap_or_else(|| panic!("{arch}: no version"));
            assert!(
                v.starts_with(release),
                "{arch}: version {v:?} vs release {release}"
            );
        }
        check_independently(arch, &data, &img);
        let l = loadable_kernel(&data, &Default::default()).unwrap();
        assert_eq!(
            l.format, expected,
            "{arch}: Debian ships each kernel unwrapped"
        );
        assert!(l.steps.is_empty());

        let package = k["package"].as_str().unwrap();
        let golden = golden_dir.join(format!("{package}_{}.json", k["version"].as_str().unwrap()));
        let got = facts_json(&img);
        if update {
            std::fs::create_dir_all(&golden_dir).unwrap();
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&golden, text).unwrap();
        } else if golden.is_file() {
            let want: Value = serde_json::from_slice(&std::fs::read(&golden).unwrap()).unwrap();
            assert_eq!(got, want, "{arch}: facts differ from {}", golden.display());
        } else {
            // The mirror moved on to a kernel version with no golden file (a
            // fresh cache resolves the newest one). Its values legitimately
            // differ, but the parser must still find every fact it found in
            // the same flavour's golden, with the same format and arch.
            let flavour = package.rsplit('-').next().unwrap();
            let nearest = nearest_golden(&golden_dir, flavour).unwrap_or_else(|| {
                panic!("{arch}: no golden file for the {flavour} flavour at all")
            });
            let want: Value = serde_json::from_slice(&std::fs::read(&nearest).unwrap()).unwrap();
            let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(
                names(&got),
                names(&want),
                "{arch}: fact names differ from {}",
                nearest.display()
            );
            for key in ["format", "arch", "endian"] {
                assert_eq!(
                    got[key],
                    want[key],
                    "{arch}: {key} differs from {}",
                    nearest.display()
                );
            }
        }
    }
}

/// The golden file of the newest version of a kernel flavour (`amd64`,
/// `arm64`, `686-pae` ends in `pae`, ...), by file name.
fn nearest_golden(dir: &Path, flavour: &str) -> Option<std::path::PathBuf> {
    let suffix = format!("-{flavour}_");
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(&suffix))
        })
        .collect();
    found.sort();
    found.pop()
}

/// `/proc/iomem` recorded in the fixture guests, checked against the dump
/// metadata and against a plain line scan done here.
#[test]
fn fixture_iomem() {
    let (dir, manifest) = fixtures();
    let dumps = manifest["dumps"].as_array().expect("dumps[]");
    assert!(!dumps.is_empty());
    let mut saw_crash = false;
    for d in dumps {
        let Some(rel) = d["iomem"].as_str() else {
            continue;
        };
        let text = String::from_utf8(read(&dir, rel)).unwrap();
        let m = Iomem::parse(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(!m.addresses_hidden(), "{rel} was recorded as root");
        let mut ram = 0u64;
        let mut crash = Vec::new();
        for line in text.lines() {
            let top = !line.starts_with(' ');
            let (range, name) = line.trim_start().split_once(" : ").unwrap();
            let (a, b) = range.split_once('-').unwrap();
            let (a, b) = (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
            );
            if top && name == "System RAM" {
                ram += b - a + 1;
            }
            if name == "Crash kernel" {
                crash.push((a, b));
            }
        }
        assert_eq!(m.total_system_ram(), ram, "{rel}");
        let ram_bytes = d["ram_bytes"].as_u64().unwrap();
        assert!(
            ram <= ram_bytes && ram + (16 << 20) >= ram_bytes,
            "{rel}: {ram} vs guest RAM {ram_bytes}"
        );
        let regions: Vec<(u64, u64)> = m.crash_regions().iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(regions, crash, "{rel}");
        assert!(!m.ranges_named("Kernel code").is_empty(), "{rel}");
        if !crash.is_empty() {
            saw_crash = true;
            // A crash load of the x86_64 fixture kernel must fit this region.
            let k = manifest["kernels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["debian_arch"] == "amd64")
                .unwrap();
            let data = read(&dir, k["image"].as_str().unwrap());
            let host = Arch::from_name(d["arch"].as_str().unwrap()).unwrap();
            let req = LoadRequest {
                kind: LoadKind::Crash,
                syscall: SyscallChoice::Auto,
                kernel: &data,
                initrd: None,
                cmdline: capture_cmdline("root=/dev/vda ro quiet crashkernel=256M", host),
                host_arch: host,
                cpus: d["cpus"].as_u64().unwrap() as u32,
                max_decompressed: 1 << 30,
                require_signature: true,
            };
            let p = plan(&req, Some(&m)).unwrap();
            // Debian signs its x86_64 kernel, so even a locked-down kernel takes it.
            assert!(p.is_ok(), "{rel}:\n{}", p.describe());
            let kernel = &p.segments[0];
            let at = kernel.mem.unwrap();
            assert!(
                crash
                    .iter()
                    .any(|&(a, b)| at >= a && at + kernel.memsz - 1 <= b)
            );
        }
    }
    assert!(saw_crash, "no fixture guest recorded a Crash kernel region");
}

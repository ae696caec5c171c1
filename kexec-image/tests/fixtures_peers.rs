//! The fixture kernels read by independent tools, compared with our facts:
//! `file` (libmagic's kernel rules), `readelf` and `objdump` (binutils) and `xz` (the
//! reference decoder, for the x86 payloads). The tools must be installed
//! (Debian: file, binutils, xz-utils); a missing tool fails the test.
#![cfg(feature = "fixture-tests")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kexec_image::{FactValue, Format, Header, KernelImage, ParseOptions};
use serde_json::Value;

fn fixtures() -> (PathBuf, Value) {
    let dir = std::env::var_os("KDUMP_FIXTURES")
        .map(PathBuf::from)
        .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)");
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    (dir, serde_json::from_str(&text).unwrap())
}

fn run(cmd: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut c = Command::new(cmd);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (install it)"));
    if let Some(input) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&input);
        });
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn fact(img: &KernelImage, name: &str) -> FactValue {
    img.facts()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fact {name}"))
        .value
}

/// A LOAD line: (offset, paddr, filesz, memsz).
type Load = (u64, u64, u64, u64);

/// (entry, machine name, number of program headers, LOAD lines).
fn readelf(path: &Path) -> (u64, String, u64, Vec<Load>) {
    let text = String::from_utf8(run(
        "readelf",
        &["-h", "-l", "-W", path.to_str().unwrap()],
        None,
    ))
    .unwrap();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("readelf: no {key}"))
    };
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let entry = hex(&field("Entry point address:"));
    let machine = field("Machine:");
    let phnum: u64 = field("Number of program headers:").parse().unwrap();
    let loads = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"LOAD")).then(|| (hex(w[1]), hex(w[3]), hex(w[4]), hex(w[5])))
        })
        .collect();
    (entry, machine, phnum, loads)
}

fn check_elf_against_readelf(img: &KernelImage, path: &Path, machine_name: &str) {
    let Header::Elf(e) = &img.header else {
        panic!("not ELF")
    };
    let (entry, machine, phnum, loads) = readelf(path);
    assert_eq!(e.entry, entry);
    assert_eq!(machine, machine_name);
    assert_eq!(e.program_headers.len() as u64, phnum);
    let ours: Vec<Load> = e
        .program_headers
        .iter()
        .filter(|p| p.kind == 1)
        .map(|p| (p.offset, p.paddr, p.filesz, p.memsz))
        .collect();
    assert_eq!(ours, loads);
}

#[test]
fn file_readelf_and_xz_agree() {
    let (dir, manifest) = fixtures();
    let scratch = std::env::temp_dir().join(format!("kexec-image-peers-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    for k in manifest["kernels"].as_array().unwrap() {
        let arch = k["debian_arch"].as_str().unwrap();
        let path = dir.join(k["image"].as_str().unwrap());
        let data = std::fs::read(&path).unwrap();
        let img = KernelImage::parse(&data).unwrap();
        let magic = String::from_utf8(run("file", &["-b", path.to_str().unwrap()], None)).unwrap();
        match img.format() {
            Format::BzImage => {
                assert!(magic.contains("bzImage"), "{arch}: {magic}");
                let v = img.version.as_deref().unwrap();
                assert!(
                    magic.contains(&format!("version {v}")),
                    "{arch}: {magic} vs {v}"
                );
                // objdump reads the EFI stub's PE headers: the Authenticode
                // certificate table is data directory 4, "Security Directory".
                let pe = String::from_utf8(run("objdump", &["-p", path.to_str().unwrap()], None))
                    .unwrap();
                let size = pe
                    .lines()
                    .find(|l| l.starts_with("Entry 4 ") && l.ends_with("Security Directory"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .map(|h| u64::from_str_radix(h, 16).unwrap())
                    .unwrap_or(0);
                if size == 0 {
                    assert_eq!(
                        fact(&img, "efi_stub.signed"),
                        FactValue::Bool(false),
                        "{arch}"
                    );
                } else {
                    assert_eq!(
                        fact(&img, "efi_stub.certificate_table_size"),
                        FactValue::Int(size),
                        "{arch}"
                    );
                }
                // xz decodes the payload at the offset the header gives.
                let Header::BzImage(b) = &img.header else {
                    unreachable!()
                };
                let p = b.payload.unwrap();
                let at = |v: u64| usize::try_from(v).unwrap();
                let body = &data[at(p.offset)..at(p.offset + p.length)];
                let reference = run("xz", &["-dc", "--single-stream"], Some(body));
                let ours = b.decompress_payload(&data, 1 << 30).unwrap();
                assert!(
                    ours == reference,
                    "{arch}: our xz output differs from xz(1)'s"
                );
                let vmlinux = scratch.join(format!("vmlinux-{arch}"));
                std::fs::write(&vmlinux, &reference).unwrap();
                let inner = KernelImage::parse_with(&ours, &ParseOptions::headers_only()).unwrap();
                let name = if arch == "amd64" {
                    "Advanced Micro Devices X86-64"
                } else {
                    "Intel 80386"
                };
                check_elf_against_readelf(&inner, &vmlinux, name);
            }
            Format::Arm64Image => {
                let endian = fact(&img, "endian");
                let page = fact(&img, "arm64.page_size");
                assert_eq!(endian, FactValue::Text("little".into()));
                assert!(
                    magic.contains("ARM64 boot executable Image, little-endian"),
                    "{magic}"
                );
                assert_eq!(page, FactValue::Int(4096));
                assert!(magic.contains("4K pages"), "{magic}");
            }
            Format::ArmZImage => assert!(
                magic.contains("ARM boot executable zImage (little-endian)"),
                "{magic}"
            ),
            Format::S390Image => assert!(magic.starts_with("Linux S390"), "{magic}"),
            Format::RiscvImage => {
                // libmagic sees the EFI stub's PE header of the same file.
                assert!(
                    magic.contains("EFI application") && magic.contains("RISC-V 64-bit"),
                    "{magic}"
                );
                assert_eq!(fact(&img, "riscv.efi_stub"), FactValue::Bool(true));
            }
            Format::Elf => {
                assert!(
                    magic.starts_with("ELF 64-bit LSB executable, 64-bit PowerPC"),
                    "{magic}"
                );
                check_elf_against_readelf(&img, &path, "PowerPC64");
            }
            other => panic!("{arch}: {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

//! Checks every fixture `cargo xtask fixtures` made against its oracles, at
//! the byte level that needs no parsing library: the manifest's files exist
//! with their recorded sizes and magics, the ELF dumps hold the guest's
//! marker text at the physical addresses the guest reported (found through a
//! small program-header walk here), makedumpfile's `-d 31` ELF output left
//! those user and page-cache pages out, the markers lie in the guest's own
//! System RAM (`/proc/iomem`), and the peers' kernel logs contain the guest's
//! own `Linux version` line.
//!
//! Enabled by the `fixture-tests` feature (`cargo xtask ci` turns it on after
//! making the fixtures); when enabled it fails, never skips, if
//! `KDUMP_FIXTURES` is unset or a listed file is missing.
#![cfg(feature = "fixture-tests")]

use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

fn fixtures() -> (PathBuf, Value) {
    let dir = std::env::var_os("KDUMP_FIXTURES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .expect("KDUMP_FIXTURES must name the fixture folder (run `cargo xtask fixtures`)");
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let manifest: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    assert_eq!(manifest["schema"], 1, "manifest schema");
    (dir, manifest)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array in {v}"))
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.seek(SeekFrom::Start(offset)).expect("seek");
    let mut buf = vec![0; len];
    f.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {len} bytes at {offset}: {e}", path.display()));
    buf
}

fn existing(dir: &Path, rel: &str) -> PathBuf {
    let p = dir.join(rel);
    assert!(p.is_file(), "listed file {} is missing", p.display());
    p
}

#[derive(Debug)]
struct Load {
    offset: u64,
    paddr: u64,
    filesz: u64,
}

/// The PT_LOADs of a little-endian ELF64 core (System V gABI field offsets:
/// e_phoff at 32, e_phentsize/e_phnum at 54/56; phdr p_type 0, p_offset 8,
/// p_paddr 24, p_filesz 32).
fn loads(path: &Path) -> Vec<Load> {
    let eh = read_at(path, 0, 64);
    assert_eq!(&eh[..4], b"\x7fELF", "{}: ELF magic", path.display());
    assert_eq!(eh[4], 2, "{}: ELFCLASS64", path.display());
    assert_eq!(eh[5], 1, "{}: little-endian", path.display());
    assert_eq!(
        u16::from_le_bytes([eh[16], eh[17]]),
        4,
        "{}: ET_CORE",
        path.display()
    );
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let phoff = u64_at(&eh, 32);
    let phentsize = usize::from(u16::from_le_bytes([eh[54], eh[55]]));
    let phnum = usize::from(u16::from_le_bytes([eh[56], eh[57]]));
    assert!(
        phentsize >= 56 && phnum > 0,
        "{}: phdr table",
        path.display()
    );
    let table = read_at(path, phoff, phentsize * phnum);
    table
        .chunks(phentsize)
        .filter(|ph| u32::from_le_bytes(ph[..4].try_into().unwrap()) == 1)
        .map(|ph| Load {
            offset: u64_at(ph, 8),
            paddr: u64_at(ph, 24),
            filesz: u64_at(ph, 32),
        })
        .collect()
}

/// The file offset holding physical address `paddr` (with `len` bytes after
/// it in the same segment), if any PT_LOAD's file bytes cover it.
fn offset_of(loads: &[Load], paddr: u64, len: u64) -> Option<u64> {
    loads
        .iter()
        .find(|l| paddr >= l.paddr && paddr + len <= l.paddr + l.filesz)
        .map(|l| l.offset + (paddr - l.paddr))
}

fn elf_machine(arch: &str) -> u16 {
    match arch {
        "x86_64" => 62,
        "aarch64" => 183,
        other => panic!("no ELF machine known for {other}"),
    }
}

#[test]
fn kernels_are_the_images_their_entries_say() {
    let (dir, m) = fixtures();
    let kernels = arr(&m, "kernels");
    let mut arches: Vec<&str> = kernels.iter().map(|k| s(k, "debian_arch")).collect();
    arches.sort_unstable();
    assert_eq!(
        arches,
        [
            "amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x"
        ],
        "the seven architectures"
    );
    for k in kernels {
        let image = std::fs::read(existing(&dir, s(k, "image"))).unwrap();
        let at = |off: usize, magic: &[u8]| image.get(off..off + magic.len()) == Some(magic);
        let ok = match s(k, "format") {
            "bzImage" => at(0x202, b"HdrS"),
            "Image" => at(0x38, b"ARM\x64") || at(0x38, b"RSC\x05"),
            "zImage" => at(0x24, &[0x18, 0x28, 0x6f, 0x01]),
            "vmlinux" => at(0, b"\x7fELF"),
            "s390-image" => image.len() > 1 << 20,
            other => panic!("unknown kernel format {other}"),
        };
        assert!(ok, "{} is not a {}", s(k, "image"), s(k, "format"));
        let config = std::fs::read_to_string(existing(&dir, s(k, "config"))).unwrap();
        assert!(
            config.contains("Kernel Configuration"),
            "{}",
            s(k, "config")
        );
        assert!(s(k, "image").ends_with(s(k, "release")), "{k}");
        assert!(s(k, "package").contains(s(k, "release")), "{k}");
    }
}

#[test]
fn dump_files_exist_with_their_sizes_and_magics() {
    let (dir, m) = fixtures();
    let dumps = arr(&m, "dumps");
    assert!(!dumps.is_empty(), "no dumps in the manifest");
    for d in dumps {
        let arch = s(d, "arch");
        for f in arr(d, "files") {
            let path = existing(&dir, s(f, "path"));
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(Some(size), f["size"].as_u64(), "{} size", path.display());
            let head = read_at(&path, 0, 64);
            match s(f, "format") {
                "elf" => {
                    assert_eq!(&head[..4], b"\x7fELF", "{}", path.display());
                    assert_eq!(head[4], 2, "{}: ELFCLASS64", path.display());
                    assert_eq!(
                        u16::from_le_bytes([head[18], head[19]]),
                        elf_machine(arch),
                        "{}: e_machine",
                        path.display()
                    );
                }
                "kdump" => assert_eq!(&head[..8], b"KDUMP   ", "{}", path.display()),
                "flattened" => assert!(!flattened_records(&path).is_empty()),
                other => panic!("unknown dump format {other}"),
            }
        }
    }
}

/// The notes of a little-endian ELF64 core as (name, type, desc): every
/// PT_NOTE segment (p_type 4) walked as `Elf64_Nhdr` records (namesz,
/// descsz, type, then name and desc each padded to 4 bytes).
fn notes(path: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let eh = read_at(path, 0, 64);
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let phentsize = usize::from(u16::from_le_bytes([eh[54], eh[55]]));
    let phnum = usize::from(u16::from_le_bytes([eh[56], eh[57]]));
    let table = read_at(path, u64_at(&eh, 32), phentsize * phnum);
    let mut out = Vec::new();
    for ph in table.chunks(phentsize).filter(|ph| u32_at(ph, 0) == 4) {
        let seg = read_at(
            path,
            u64_at(ph, 8),
            usize::try_from(u64_at(ph, 32)).unwrap(),
        );
        let mut at = 0;
        while at + 12 <= seg.len() {
            let (namesz, descsz) = (u32_at(&seg, at) as usize, u32_at(&seg, at + 4) as usize);
            let kind = u32_at(&seg, at + 8);
            if namesz == 0 && descsz == 0 && kind == 0 {
                break; // zero padding after the last note
            }
            let name_at = at + 12;
            let desc_at = name_at + namesz.div_ceil(4) * 4;
            let end = desc_at + descsz.div_ceil(4) * 4;
            assert!(
                end <= seg.len() + 3,
                "{}: note at {at} overruns its segment",
                path.display()
            );
            let name = String::from_utf8_lossy(&seg[name_at..name_at + namesz])
                .trim_end_matches('\0')
                .to_string();
            out.push((
                name,
                kind,
                seg[desc_at..(desc_at + descsz).min(seg.len())].to_vec(),
            ));
            at = end;
        }
    }
    out
}

#[test]
fn elf_dumps_carry_one_prstatus_per_cpu_and_the_guests_vmcoreinfo() {
    let (dir, m) = fixtures();
    let mut checked = 0;
    for d in arr(&m, "dumps") {
        for f in arr(d, "files") {
            let kind = s(f, "kind");
            if kind != "qemu-elf" && kind != "proc-vmcore" {
                continue;
            }
            let path = existing(&dir, s(f, "path"));
            let notes = notes(&path);
            let prstatus = notes
                .iter()
                .filter(|(n, t, _)| n == "CORE" && *t == 1)
                .count();
            assert_eq!(
                Some(prstatus as u64),
                d["cpus"].as_u64(),
                "{}: NT_PRSTATUS notes",
                path.display()
            );
            let info = notes
                .iter()
                .find(|(n, _, _)| n == "VMCOREINFO")
                .unwrap_or_else(|| panic!("{}: no VMCOREINFO note", path.display()));
            let text = String::from_utf8_lossy(&info.2);
            let release = format!("OSRELEASE={}\n", s(d, "kernel_release"));
            assert!(
                text.starts_with(&release),
                "{}: VMCOREINFO {text:.80}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no ELF dump's notes were checked");
}

/// The records of a makedumpfile flattened stream (makedumpfile's
/// `IMPLEMENTATION` notes: a 4096-byte header starting "makedumpfile\0",
/// type 1 and version 1 as big-endian i64, then records of a big-endian i64
/// offset and i64 size followed by the data, closed by an offset and size of
/// -1). Returns (offset in the rebuilt file, size, position in the stream).
fn flattened_records(path: &Path) -> Vec<(u64, u64, u64)> {
    let len = std::fs::metadata(path).unwrap().len();
    let head = read_at(path, 0, 4096);
    assert_eq!(&head[..13], b"makedumpfile\0", "{}", path.display());
    let be = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap());
    assert_eq!(
        (be(&head[16..24]), be(&head[24..32])),
        (1, 1),
        "{}: type, version",
        path.display()
    );
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(4096)).unwrap();
    let mut pos = 4096u64;
    let mut records = Vec::new();
    loop {
        let mut h = [0u8; 16];
        f.read_exact(&mut h)
            .unwrap_or_else(|e| panic!("{}: record header at {pos}: {e}", path.display()));
        let (off, size) = (be(&h[..8]), be(&h[8..]));
        pos += 16;
        if (off, size) == (-1, -1) {
            assert_eq!(pos, len, "{}: data after the end marker", path.display());
            return records;
        }
        let (off, size) = (
            u64::try_from(off).expect("record offset >= 0"),
            u64::try_from(size).expect("record size >= 0"),
        );
        assert!(
            pos + size <= len,
            "{}: record at {pos} runs past the end",
            path.display()
        );
        records.push((off, size, pos));
        pos += size;
        f.seek(SeekFrom::Start(pos)).unwrap();
    }
}

/// The first 512 bytes of a kdump-compressed file, from the file itself or
/// rebuilt from the flattened stream's records.
fn kdump_head(path: &Path, format: &str) -> Vec<u8> {
    if format == "kdump" {
        return read_at(path, 0, 512);
    }
    let mut head = vec![0u8; 512];
    let mut filled = 0;
    for (off, size, at) in flattened_records(path) {
        if off < 512 {
            let n = usize::try_from(size.min(512 - off)).unwrap();
            let off = usize::try_from(off).unwrap();
            head[off..off + n].copy_from_slice(&read_at(path, at, n));
            filled += n;
        }
    }
    // QEMU's first record is the 464-byte header alone; utsname ends at 402.
    assert!(
        filled >= 12 + 65 * 6,
        "{}: header not rebuilt",
        path.display()
    );
    head
}

/// `utsname` field `i` (sysname, nodename, release, version, machine,
/// domainname; 65 bytes each) of a kdump `disk_dump_header` at offset 12
/// (makedumpfile's `diskdump_mod.h`).
fn utsname(head: &[u8], i: usize) -> String {
    let field = &head[12 + 65 * i..12 + 65 * (i + 1)];
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[test]
fn kdump_headers_name_the_guest_kernel() {
    let (dir, m) = fixtures();
    let mut checked = 0;
    for d in arr(&m, "dumps") {
        for f in arr(d, "files") {
            let format = s(f, "format");
            if format == "elf" {
                continue;
            }
            let path = existing(&dir, s(f, "path"));
            let head = kdump_head(&path, format);
            assert_eq!(&head[..8], b"KDUMP   ", "{}", path.display());
            // QEMU leaves utsname empty (machine "Unknown"); makedumpfile
            // copies the guest's from VMCOREINFO.
            if s(f, "kind").starts_with("md-") {
                assert_eq!(
                    utsname(&head, 2),
                    s(d, "kernel_release"),
                    "{}",
                    path.display()
                );
                assert_eq!(utsname(&head, 4), s(d, "arch"), "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no makedumpfile kdump header was checked");
}

#[test]
fn elf_dumps_hold_the_markers_where_the_guest_saw_them() {
    let (dir, m) = fixtures();
    let mut checked = 0;
    let mut md_e_kept = std::collections::BTreeMap::new();
    let mut md_e_total = std::collections::BTreeMap::new();
    for d in arr(&m, "dumps") {
        let markers = arr(d, "markers");
        assert!(!markers.is_empty(), "{}: no markers", s(d, "name"));
        for f in arr(d, "files") {
            let kind = s(f, "kind");
            if s(f, "format") != "elf" {
                continue;
            }
            let path = existing(&dir, s(f, "path"));
            let loads = loads(&path);
            for mk in markers {
                let text = s(mk, "text").as_bytes();
                for paddr in arr(mk, "paddrs") {
                    let paddr = paddr.as_u64().expect("paddr is a number");
                    let at = offset_of(&loads, paddr, text.len() as u64);
                    match kind {
                        "qemu-elf" | "proc-vmcore" => {
                            let off = at.unwrap_or_else(|| {
                                panic!("{}: no PT_LOAD covers {paddr:#x}", path.display())
                            });
                            assert_eq!(
                                read_at(&path, off, text.len()),
                                text,
                                "{}: marker at paddr {paddr:#x} (file offset {off:#x})",
                                path.display()
                            );
                            checked += 1;
                        }
                        // -d 31 drops page-cache (2, 4) and user (8) pages;
                        // counted below.
                        "md-E" => {
                            let kept =
                                at.is_some_and(|off| read_at(&path, off, text.len()) == text);
                            *md_e_kept.entry((path.clone(), s(mk, "where"))).or_insert(0) +=
                                usize::from(kept);
                            *md_e_total
                                .entry((path.clone(), s(mk, "where")))
                                .or_insert(0) += 1;
                        }
                        other => panic!("unexpected ELF kind {other}"),
                    }
                }
            }
        }
    }
    assert!(checked > 0, "no marker was checked");
    // A page that sat in a per-CPU LRU batch at dump time has no PG_lru yet
    // and escapes the filter, so a few may stay; most must go.
    for (key, total) in &md_e_total {
        let kept = md_e_kept[key];
        assert!(
            kept * 8 <= *total,
            "{}: {kept} of {total} {} markers survived makedumpfile -d 31",
            key.0.display(),
            key.1
        );
    }
}

/// `start-end : name` lines of /proc/iomem at any depth.
fn system_ram(iomem: &str) -> Vec<(u64, u64)> {
    iomem
        .lines()
        .filter(|l| l.trim_end().ends_with(": System RAM"))
        .map(|l| {
            let range = l.trim().split(' ').next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
            )
        })
        .collect()
}

#[test]
fn markers_lie_in_the_guests_system_ram() {
    let (dir, m) = fixtures();
    for d in arr(&m, "dumps") {
        let iomem = std::fs::read_to_string(existing(&dir, s(d, "iomem"))).unwrap();
        let ram = system_ram(&iomem);
        assert!(!ram.is_empty(), "{}: no System RAM in iomem", s(d, "name"));
        let total: u64 = ram.iter().map(|(a, b)| b - a + 1).sum();
        let ram_bytes = d["ram_bytes"].as_u64().unwrap();
        assert!(
            total <= ram_bytes && total > ram_bytes / 2,
            "{}: RAM {total}",
            s(d, "name")
        );
        for mk in arr(d, "markers") {
            for p in arr(mk, "paddrs") {
                let p = p.as_u64().unwrap();
                assert!(
                    ram.iter().any(|(a, b)| (*a..=*b).contains(&p)),
                    "{}: marker {p:#x} outside System RAM",
                    s(d, "name")
                );
            }
        }
    }
}

#[test]
fn peers_print_the_guests_own_linux_version_line() {
    let (dir, m) = fixtures();
    for d in arr(&m, "dumps") {
        let name = s(d, "name");
        let dmesg = std::fs::read_to_string(existing(&dir, s(d, "dmesg_serial"))).unwrap();
        let line = dmesg
            .lines()
            .find_map(|l| l.find("Linux version ").map(|i| &l[i..]))
            .unwrap_or_else(|| panic!("{name}: no Linux version line in the guest's dmesg"));
        assert!(line.contains(s(d, "kernel_release")), "{name}: {line}");
        let peers: Vec<&str> = ["makedumpfile", "vmcore-dmesg"]
            .iter()
            .filter_map(|p| d["peer_dmesg"][*p].as_str())
            .collect();
        assert!(!peers.is_empty(), "{name}: no peer could read the dump");
        for p in peers {
            let text =
                String::from_utf8_lossy(&std::fs::read(existing(&dir, p)).unwrap()).into_owned();
            assert!(text.contains(line), "{p} lacks the guest's line {line:?}");
        }
    }
}

#[test]
fn the_issue_s_dumps_are_all_there() {
    let (_, m) = fixtures();
    let dumps = arr(&m, "dumps");
    let has = |pred: &dyn Fn(&Value) -> bool| dumps.iter().any(pred);
    for ram in [512u64 << 20, 2048 << 20] {
        assert!(
            has(&|d| d["arch"] == "x86_64"
                && d["ram_bytes"].as_u64() == Some(ram)
                && arr(d, "files").iter().any(|f| f["kind"] == "qemu-elf")
                && arr(d, "files")
                    .iter()
                    .any(|f| f["kind"] == "qemu-kdump-flat")),
            "an x86_64 QEMU dump of {ram} bytes"
        );
    }
    assert!(has(&|d| d["arch"] == "aarch64"), "an arm64 dump");
    assert!(
        has(&|d| arr(d, "files").iter().any(|f| f["kind"] == "proc-vmcore")),
        "a real /proc/vmcore"
    );
    for kind in ["md-c", "md-l", "md-E", "md-F"] {
        assert!(
            has(&|d| arr(d, "files").iter().any(|f| f["kind"] == kind)),
            "makedumpfile output {kind}"
        );
    }
}

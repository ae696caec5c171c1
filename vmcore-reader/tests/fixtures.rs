//! Real dumps made by `cargo xtask fixtures` (QEMU and a real kdump, x86_64 and arm64, in
//! every format). Enabled by the `fixture-tests` feature; reads `$KDUMP_FIXTURES` and fails
//! when it is unset or a listed file is missing.
#![cfg(feature = "fixture-tests")]
#![allow(
    clippy::print_stderr,
    reason = "the test tells the person running it how many markers each fixture dump gave"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vmcore_reader::{Dump, Error, Format, Kernel, PageState, PhysMemory, read_log};

fn root() -> PathBuf {
    let dir = std::env::var_os("KDUMP_FIXTURES")
        .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)");
    PathBuf::from(dir)
}

fn manifest() -> Value {
    let p = root().join("manifest.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("manifest.json parses")
}

struct DumpFile {
    dump: String,
    kind: String,
    format: String,
    path: PathBuf,
}

fn dumps() -> Vec<(Value, Vec<DumpFile>)> {
    let m = manifest();
    let mut out = Vec::new();
    for d in m["dumps"].as_array().expect("dumps array") {
        let mut files = Vec::new();
        for f in d["files"].as_array().expect("files array") {
            let path = root().join(f["path"].as_str().expect("path"));
            assert!(path.exists(), "fixture file missing: {}", path.display());
            files.push(DumpFile {
                dump: d["name"].as_str().unwrap().to_owned(),
                kind: f["kind"].as_str().unwrap().to_owned(),
                format: f["format"].as_str().unwrap().to_owned(),
                path,
            });
        }
        out.push((d.clone(), files));
    }
    assert!(!out.is_empty(), "the manifest lists no dumps");
    out
}

fn unfiltered(kind: &str) -> bool {
    matches!(kind, "qemu-elf" | "qemu-kdump-flat" | "proc-vmcore")
}

fn dmesg(path: &Path) -> Vec<u8> {
    let dump = Dump::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let k = Kernel::new(&dump).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let log = read_log(&k).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    log.write_dmesg(&mut out).unwrap();
    out
}

#[test]
fn every_file_opens_in_its_format() {
    for (_, files) in dumps() {
        for f in files {
            let d = Dump::open(&f.path).unwrap_or_else(|e| panic!("{}: {e}", f.path.display()));
            let expected: &[Format] = match f.format.as_str() {
                "elf" => &[Format::Elf],
                "kdump" => &[Format::Kdump],
                "flattened" => &[Format::FlattenedKdump, Format::FlattenedElf],
                other => panic!("unknown format {other}"),
            };
            assert!(
                expected.contains(&d.format()),
                "{}: {:?}",
                f.path.display(),
                d.format()
            );
            assert!(
                d.vmcoreinfo_bytes().unwrap().is_some(),
                "{}: no VMCOREINFO",
                f.path.display()
            );
        }
    }
}

#[test]
fn markers_read_back_at_their_physical_addresses() {
    for (d, files) in dumps() {
        let markers = d["markers"].as_array().expect("markers");
        assert!(!markers.is_empty());
        for f in &files {
            let dump = Dump::open(&f.path).unwrap();
            let (mut found, mut excluded) = (0, 0);
            for m in markers {
                let text = m["text"].as_str().unwrap().as_bytes();
                for a in m["paddrs"].as_array().unwrap() {
                    let paddr = a.as_u64().unwrap();
                    let mut buf = vec![0u8; text.len()];
                    match dump.read_phys(paddr, &mut buf) {
                        Ok(()) => {
                            assert_eq!(buf, text, "{} {}: marker at {paddr:#x}", f.dump, f.kind);
                            found += 1;
                        }
                        Err(Error::Excluded { .. }) if !unfiltered(&f.kind) => {
                            assert_eq!(dump.page_state(paddr).unwrap(), PageState::Excluded);
                            excluded += 1;
                        }
                        Err(Error::NotInDump { .. }) if f.kind == "md-E" => excluded += 1,
                        Err(e) => panic!("{} {}: marker at {paddr:#x}: {e}", f.dump, f.kind),
                    }
                }
            }
            if unfiltered(&f.kind) {
                assert_eq!(excluded, 0);
                assert!(found > 0, "{} {}: no marker found", f.dump, f.kind);
            }
            eprintln!(
                "{} {}: {found} markers read, {excluded} excluded",
                f.dump, f.kind
            );
        }
    }
}

#[test]
fn dmesg_is_the_same_from_every_format() {
    for (d, files) in dumps() {
        let mut texts: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for f in &files {
            texts.insert(f.kind.clone(), dmesg(&f.path));
        }
        let (first_kind, first) = texts.iter().next().unwrap();
        assert!(first.len() > 1000, "{}: log too short", d["name"]);
        let release = d["kernel_release"].as_str().unwrap();
        assert!(String::from_utf8_lossy(first).contains(&format!("Linux version {release}")));
        for (kind, t) in &texts {
            assert!(
                t == first,
                "{}: dmesg of {kind} differs from {first_kind}",
                d["name"]
            );
        }
    }
}

#[test]
fn dmesg_matches_kexec_tools_and_makedumpfile_outputs() {
    let mut compared = 0;
    for (d, files) in dumps() {
        let ours = dmesg(&files[0].path);
        let peer = &d["peer_dmesg"];
        if let Some(p) = peer["vmcore-dmesg"].as_str() {
            let theirs = std::fs::read(root().join(p)).unwrap();
            assert!(
                ours == theirs,
                "{}: differs from kexec-tools vmcore-dmesg",
                d["name"]
            );
            compared += 1;
        }
        if let Some(p) = peer["makedumpfile"].as_str() {
            // makedumpfile indents the continuation lines of multi-line records.
            let norm = |b: &[u8]| -> Vec<String> {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(|l| l.trim_start().to_owned())
                    .collect()
            };
            let theirs = std::fs::read(root().join(p)).unwrap();
            assert_eq!(
                norm(&ours),
                norm(&theirs),
                "{}: differs from makedumpfile --dump-dmesg",
                d["name"]
            );
            compared += 1;
        }
    }
    assert!(compared > 0, "no peer output in the manifest");
}

#[test]
fn dmesg_matches_kexec_tools_run_on_elf_files() {
    let peer = Path::new("/usr/sbin/vmcore-dmesg");
    assert!(peer.exists(), "kexec-tools vmcore-dmesg is not installed");
    let mut compared = 0;
    for (_, files) in dumps() {
        for f in files.iter().filter(|f| f.format == "elf") {
            let out = Command::new(peer).arg(&f.path).output().unwrap();
            if !out.status.success() {
                // kexec-tools needs virtual addresses in PT_LOADs (QEMU dumps lack them).
                assert!(
                    f.kind != "proc-vmcore",
                    "kexec-tools failed on the kernel's own vmcore"
                );
                continue;
            }
            assert!(
                out.stdout == dmesg(&f.path),
                "{} {}: differs from kexec-tools",
                f.dump,
                f.kind
            );
            compared += 1;
        }
    }
    assert!(compared > 0);
}

fn page_sample(dump: &Dump, n: usize, seed: u64) -> Vec<u64> {
    let ranges = dump.present_ranges();
    let ranges: Vec<(u64, u64)> = ranges
        .iter()
        .map(|&(s, e)| (s.div_ceil(4096) * 4096, e / 4096 * 4096))
        .filter(|(s, e)| s < e)
        .collect();
    let total: u64 = ranges.iter().map(|(s, e)| (e - s) / 4096).sum();
    let mut x = seed;
    let mut out = Vec::new();
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut k = x % total;
        for (s, e) in &ranges {
            let pages = (e - s) / 4096;
            if k < pages {
                out.push(s + k * 4096);
                break;
            }
            k -= pages;
        }
    }
    out
}

#[test]
fn random_pages_agree_across_formats_and_with_libkdumpfile() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/libkdumpfile_pages.py");
    for (d, files) in dumps() {
        let opened: Vec<(&DumpFile, Dump)> = files
            .iter()
            .map(|f| (f, Dump::open(&f.path).unwrap()))
            .collect();
        // Sample from a filtered dump when there is one, so every format can hold the page.
        let base = opened
            .iter()
            .find(|(f, _)| f.kind == "md-c")
            .unwrap_or(&opened[0]);
        let sample = page_sample(&base.1, 200, 0x9e37_79b9_7f4a_7c15);
        let mut compared = 0;
        for &paddr in &sample {
            let mut reference: Option<Vec<u8>> = None;
            for (f, dump) in &opened {
                let mut page = vec![0u8; 4096];
                match dump.read_phys(paddr, &mut page) {
                    Ok(()) => match &reference {
                        Some(r) => {
                            assert!(r == &page, "{} {}: page {paddr:#x} differs", f.dump, f.kind)
                        }
                        None => reference = Some(page),
                    },
                    Err(Error::Excluded { .. } | Error::NotInDump { .. })
                        if !unfiltered(&f.kind) => {}
                    Err(e) => panic!("{} {}: {paddr:#x}: {e}", f.dump, f.kind),
                }
            }
            compared += usize::from(reference.is_some());
        }
        assert!(
            compared > 150,
            "{}: only {compared} pages compared",
            d["name"]
        );
        // libkdumpfile reads ELF and kdump-compressed files (not flattened streams).
        for (f, dump) in opened.iter().filter(|(f, _)| f.format != "flattened") {
            let args: Vec<String> = sample.iter().take(40).map(|a| format!("{a:x}")).collect();
            let out = Command::new("/usr/bin/python3")
                .arg(&script)
                .arg(&f.path)
                .arg("4096")
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "libkdumpfile: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let mut agreed = 0;
            for (line, a) in text.lines().zip(&args) {
                let paddr = u64::from_str_radix(a, 16).unwrap();
                let mut page = vec![0u8; 4096];
                let ours = dump.read_phys(paddr, &mut page);
                match (line, ours) {
                    ("EXCLUDED", Err(Error::Excluded { .. } | Error::NotInDump { .. })) => {}
                    (hex, Ok(())) if !hex.starts_with("E") => {
                        let theirs: Vec<u8> = (0..hex.len())
                            .step_by(2)
                            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                            .collect();
                        assert!(
                            theirs == page,
                            "{} {}: page {paddr:#x} differs from libkdumpfile",
                            f.dump,
                            f.kind
                        );
                        agreed += 1;
                    }
                    (l, o) => panic!(
                        "{} {}: {paddr:#x}: libkdumpfile says {l:.40}, we say {o:?}",
                        f.dump, f.kind
                    ),
                }
            }
            assert!(
                agreed > 0,
                "{} {}: no page compared with libkdumpfile",
                f.dump,
                f.kind
            );
        }
    }
}

#[test]
fn crash_facts() {
    for (d, files) in dumps() {
        for f in &files {
            let dump = Dump::open(&f.path).unwrap();
            let k = Kernel::new(&dump).unwrap();
            assert_eq!(
                k.info().osrelease(),
                d["kernel_release"].as_str(),
                "{} {}",
                f.dump,
                f.kind
            );
            let cpus = dump.cpus().unwrap();
            assert_eq!(
                cpus.len() as u64,
                d["cpus"].as_u64().unwrap(),
                "{} {}: CPU notes",
                f.dump,
                f.kind
            );
            let counts = dump.page_counts().unwrap();
            assert!(counts.present > 0);
            if f.kind.starts_with("md-") && f.kind != "md-E" {
                assert!(
                    counts.excluded > 0,
                    "{} {}: -d 31 excludes pages",
                    f.dump,
                    f.kind
                );
            }
        }
    }
}

#[test]
fn flattened_rebuild_matches_makedumpfile_r() {
    use std::io::Read;
    let tmp = std::env::temp_dir().join(format!("vmcore-reader-rebuild-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut compared = 0;
    for (_, files) in dumps() {
        for f in files.iter().filter(|f| f.format == "flattened") {
            let theirs = tmp.join("theirs");
            let ours = tmp.join("ours");
            let _ = std::fs::remove_file(&theirs);
            let status = Command::new("makedumpfile")
                .arg("-R")
                .arg(&theirs)
                .stdin(std::fs::File::open(&f.path).unwrap())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("makedumpfile is installed");
            assert!(status.success(), "makedumpfile -R {}", f.path.display());
            let dump = Dump::open(&f.path).unwrap();
            let mut out = std::io::BufWriter::new(std::fs::File::create(&ours).unwrap());
            dump.flattened()
                .expect("a flattened stream")
                .rebuild(&mut out)
                .unwrap();
            drop(out);
            let (mut a, mut b) = (
                std::fs::File::open(&ours).unwrap(),
                std::fs::File::open(&theirs).unwrap(),
            );
            assert_eq!(
                a.metadata().unwrap().len(),
                b.metadata().unwrap().len(),
                "{} {}",
                f.dump,
                f.kind
            );
            let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
            loop {
                let n = a.read(&mut x).unwrap();
                b.read_exact(&mut y[..n]).unwrap();
                assert!(
                    x[..n] == y[..n],
                    "{} {}: rebuilt file differs from makedumpfile -R",
                    f.dump,
                    f.kind
                );
                if n == 0 {
                    break;
                }
            }
            compared += 1;
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
    assert!(compared > 0);
}

#[test]
fn record_levels_and_caller_ids_are_plausible() {
    let mut panics = 0;
    for (_, files) in dumps() {
        let dump = Dump::open(&files[0].path).unwrap();
        let k = Kernel::new(&dump).unwrap();
        let log = read_log(&k).unwrap();
        for r in &log.records {
            assert!(r.level.unwrap() <= 7);
            assert!(
                r.facility == Some(0),
                "kernel messages have facility 0 (LOG_KERN)"
            );
            assert!(r.caller_id.is_some());
        }
        // panic() prints with pr_emerg (level 0), from the kernel (facility 0).
        if let Some(r) = log
            .records
            .iter()
            .find(|r| r.text.starts_with(b"Kernel panic - not syncing"))
        {
            assert_eq!(
                (r.level, r.facility),
                (Some(0), Some(0)),
                "{}",
                files[0].dump
            );
            panics += 1;
        }
        let seqs: Vec<u64> = log.records.iter().map(|r| r.seq.unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "sequence numbers are consecutive"
        );
    }
    assert!(panics > 0, "no dump holds a panic message");
}

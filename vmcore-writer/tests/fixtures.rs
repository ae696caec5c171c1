//! Real dumps made by `cargo xtask fixtures`: our capture against makedumpfile on the same
//! input. Enabled by the `fixture-tests` feature; reads `$KDUMP_FIXTURES` and fails when it is
//! unset or a file is missing. makedumpfile, python3-libkdumpfile must be installed (Debian
//! packages); the ENOSPC test mounts a tmpfs and needs root.
#![cfg(feature = "fixture-tests")]
#![allow(
    clippy::cast_possible_truncation,
    reason = "page sizes of the fixture dumps (4 KiB to 64 KiB) as lengths"
)]
#![allow(
    clippy::print_stderr,
    reason = "the test tells the person running it what each fixture comparison found"
)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vmcore_reader::{Dump, PageState, PhysMemory};
use vmcore_writer::{
    CaptureOptions, CaptureStats, Codec, FileSink, FlatSink, OutputFormat, capture, rebuild,
};

fn root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("KDUMP_FIXTURES")
            .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)"),
    )
}

/// (dump name, the unfiltered input we read, the ELF makedumpfile reads).
fn inputs() -> Vec<(String, PathBuf, PathBuf)> {
    inputs_with_arch()
        .into_iter()
        .map(|(n, _, i, m)| (n, i, m))
        .collect()
}

/// makedumpfile for a dump's architecture: Debian's build only reads dumps of its own
/// architecture, so arm64 dumps go to the arm64 makedumpfile of the fixtures' sysroot under
/// qemu-user, as `cargo xtask fixtures` made md-*.kdump.
fn makedumpfile_cmd(arch: &str) -> Command {
    if arch == "arm64" || arch == "aarch64" {
        let sysroot = root().join("tools/sysroot-arm64");
        let bin = sysroot.join("usr/bin/makedumpfile");
        assert!(bin.exists(), "fixture file missing: {}", bin.display());
        let mut c = Command::new("qemu-aarch64-static");
        c.arg("-L").arg(&sysroot).arg(bin);
        c
    } else {
        Command::new("makedumpfile")
    }
}

fn arch_of(name: &str) -> String {
    inputs_with_arch()
        .into_iter()
        .find(|(n, ..)| n == name)
        .map(|(_, a, ..)| a)
        .unwrap_or_default()
}

fn inputs_with_arch() -> Vec<(String, String, PathBuf, PathBuf)> {
    let p = root().join("manifest.json");
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("manifest.json"))
        .expect("manifest parses");
    let mut out = Vec::new();
    for d in m["dumps"].as_array().expect("dumps") {
        let name = d["name"].as_str().unwrap().to_owned();
        let arch = d["arch"].as_str().unwrap_or("").to_owned();
        for f in d["files"].as_array().expect("files") {
            let kind = f["kind"].as_str().unwrap();
            let path = root().join(f["path"].as_str().unwrap());
            let md_input = match kind {
                // makedumpfile cannot read QEMU's ELF as is; the fixtures keep a fixed copy.
                "qemu-elf" => path.with_file_name("qemu-fixed.elf"),
                "proc-vmcore" => path.clone(),
                _ => continue,
            };
            assert!(path.exists(), "fixture file missing: {}", path.display());
            assert!(
                md_input.exists(),
                "fixture file missing: {}",
                md_input.display()
            );
            out.push((name.clone(), arch.clone(), path, md_input));
        }
    }
    assert!(
        out.len() >= 4,
        "expected four unfiltered dumps, found {}",
        out.len()
    );
    out
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "vmcore-writer-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ours(input: &Dump, format: OutputFormat, level: u8, out: &Path) -> CaptureStats {
    ours_on(input, format, level, out, 2)
}

fn ours_on(
    input: &Dump,
    format: OutputFormat,
    level: u8,
    out: &Path,
    threads: usize,
) -> CaptureStats {
    let opts = CaptureOptions {
        format,
        dump_level: level,
        threads,
        timestamp: Some((1_700_000_000, 0)),
        ..CaptureOptions::default()
    };
    let file = File::create(out).unwrap();
    let mut sink = FileSink::new(file, None);
    let s = capture(input, &opts, &mut sink, &mut |_| {})
        .unwrap_or_else(|e| panic!("capture -d {level}: {e}"));
    assert!(!s.incomplete, "{s:?}");
    s
}

fn makedumpfile(arch: &str, args: &[&str], input: &Path, out: &Path) {
    let o = makedumpfile_cmd(arch)
        .args(args)
        .arg(input)
        .arg(out)
        .output()
        .expect("makedumpfile runs (Debian package makedumpfile)");
    assert!(
        o.status.success(),
        "makedumpfile {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn pages_equal(input: &Dump, out: &Dump, what: &str, step: usize) -> u64 {
    let ps = out.page_size();
    let mut a = vec![0u8; ps as usize];
    let mut b = vec![0u8; ps as usize];
    let mut n = 0;
    for (s, e) in out.present_ranges() {
        for pa in (s..e).step_by(ps as usize * step) {
            out.read_phys(pa, &mut b)
                .unwrap_or_else(|e| panic!("{what}: ours {pa:#x}: {e}"));
            input
                .read_phys_with(pa, &mut a, vmcore_reader::Excluded::Fill(0))
                .unwrap_or_else(|e| panic!("{what}: input {pa:#x}: {e}"));
            assert!(a == b, "{what}: page {pa:#x} differs from the input");
            n += 1;
        }
    }
    assert!(n > 0, "{what}: no page compared");
    n
}

#[test]
fn selected_pages_equal_makedumpfile_at_levels_0_1_17_31() {
    let mut report = Vec::new();
    for (name, input, md_input) in inputs() {
        let dump = Dump::open(&input).unwrap();
        for level in [0u8, 1, 17, 31] {
            let t = TempDir::new("levels");
            let md = t.0.join("md.kdump");
            let our = t.0.join("ours.kdump");
            makedumpfile(
                &arch_of(&name),
                &["-l", "-d", &level.to_string()],
                &md_input,
                &md,
            );
            let stats = ours(&dump, OutputFormat::Kdump(Codec::Lzo), level, &our);
            let m = Dump::open(&md).unwrap();
            let o = Dump::open(&our).unwrap();
            let (mk, ok) = (m.kdump().unwrap(), o.kdump().unwrap());
            assert_eq!(ok.max_mapnr, mk.max_mapnr, "{name} -d {level}: max_mapnr");
            let (mr, or) = (m.present_ranges(), o.present_ranges());
            let count = |r: &[(u64, u64)]| r.iter().map(|(s, e)| (e - s) / 4096).sum::<u64>();
            assert_eq!(
                or,
                mr,
                "{name} -d {level}: dumpable pages differ (ours {}, makedumpfile {})",
                count(&or),
                count(&mr)
            );
            // Zero pages (shared zero descriptor) where level bit 1 is on.
            let (mc, oc) = if level & 1 != 0 {
                (m.page_counts().unwrap(), o.page_counts().unwrap())
            } else {
                Default::default()
            };
            assert_eq!(oc, mc, "{name} -d {level}: page counts");
            // Classification split in parts over threads gives the one-thread result (at
            // the levels that walk mem_map; uncompressed, as the classification is the point).
            if level >= 16 {
                let one = t.0.join("one.kdump");
                let single = ours_on(&dump, OutputFormat::Kdump(Codec::None), level, &one, 1);
                assert_eq!(
                    single.excluded, stats.excluded,
                    "{name} -d {level}: 1 vs 2 threads"
                );
                assert_eq!(
                    Dump::open(&one).unwrap().present_ranges(),
                    or,
                    "{name} -d {level}: 1 vs 2 threads"
                );
            }
            let (ms, os) = (
                std::fs::metadata(&md).unwrap().len(),
                std::fs::metadata(&our).unwrap().len(),
            );
            report.push(format!(
                "{name} -l -d {level}: dumpable {} (zero {}) equal; excluded {:?}; size ours {os} makedumpfile {ms}",
                ok.dumpable_blocks(),
                oc.zero,
                stats.excluded
            ));
        }
    }
    for r in report {
        eprintln!("{r}");
    }
}

#[test]
fn every_codec_reads_back_identical_through_the_reader_and_libkdumpfile() {
    // The independent page reader the reader's fixture tests use too.
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vmcore-reader/tests/support/libkdumpfile_pages.py");
    for (name, input, _) in inputs() {
        let dump = Dump::open(&input).unwrap();
        for codec in [
            Codec::None,
            Codec::Zlib,
            Codec::Lzo,
            Codec::Snappy,
            Codec::Zstd,
        ] {
            let t = TempDir::new("codecs");
            let our = t.0.join("ours.kdump");
            ours(&dump, OutputFormat::Kdump(codec), 31, &our);
            let o = Dump::open(&our).unwrap();
            // Every page for one codec, a spread for the others (CI runs this unoptimised).
            let step = if codec == Codec::Lzo { 1 } else { 11 };
            let n = pages_equal(&dump, &o, &format!("{name} {codec:?}"), step);
            // libkdumpfile: an independent reader, on a spread of pages.
            let ranges = o.present_ranges();
            let mut addrs = Vec::new();
            for (i, (s, e)) in ranges.iter().enumerate() {
                if i % (ranges.len() / 40 + 1) == 0 {
                    addrs.push(*s);
                    addrs.push((s + (e - s) / 2) & !4095);
                }
            }
            let out = Command::new("/usr/bin/python3")
                .arg(&script)
                .arg(&our)
                .arg("4096")
                .args(addrs.iter().map(|a| format!("{a:x}")))
                .output()
                .expect("python3-libkdumpfile runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let mut buf = vec![0u8; 4096];
            for (line, a) in text.lines().zip(&addrs) {
                dump.read_phys_with(*a, &mut buf, vmcore_reader::Excluded::Fill(0))
                    .unwrap();
                let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(
                    line, hex,
                    "{name} {codec:?}: libkdumpfile reads {a:#x} differently"
                );
            }
            assert_eq!(text.lines().count(), addrs.len());
            eprintln!(
                "{name} {codec:?}: {n} pages equal; {} checked with libkdumpfile",
                addrs.len()
            );
        }
    }
}

#[test]
fn makedumpfile_reads_our_output() {
    for (name, input, md_input) in inputs() {
        let dump = Dump::open(&input).unwrap();
        let t = TempDir::new("mdread");
        let our = t.0.join("ours.kdump");
        ours(&dump, OutputFormat::Kdump(Codec::Zlib), 31, &our);
        let log_ours = t.0.join("ours.txt");
        let log_in = t.0.join("in.txt");
        let run = |from: &Path, to: &Path| {
            let o = makedumpfile_cmd(&arch_of(&name))
                .arg("--dump-dmesg")
                .arg(from)
                .arg(to)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        run(&our, &log_ours);
        run(&md_input, &log_in);
        let (a, b) = (
            std::fs::read(&log_ours).unwrap(),
            std::fs::read(&log_in).unwrap(),
        );
        assert!(a.len() > 1000, "{name}: short log");
        assert_eq!(
            a, b,
            "{name}: makedumpfile prints another log from our file"
        );
        // And makedumpfile refilters our file to the same pages as the input at -d 31.
        let again = t.0.join("again.kdump");
        makedumpfile(&arch_of(&name), &["-c", "-d", "31"], &our, &again);
        let a = Dump::open(&again).unwrap();
        let o = Dump::open(&our).unwrap();
        assert_eq!(a.present_ranges(), o.present_ranges(), "{name}: refiltered");
    }
}

#[test]
fn flattened_stream_rebuilds_to_the_direct_output_and_elf_reads_back() {
    let (name, input, _) = inputs().remove(0);
    let dump = Dump::open(&input).unwrap();
    let t = TempDir::new("flat");
    for format in [OutputFormat::Kdump(Codec::Lzo), OutputFormat::Elf] {
        let direct = t.0.join("direct");
        let stream = t.0.join("stream");
        let rebuilt = t.0.join("rebuilt");
        ours(&dump, format, 31, &direct);
        let opts = CaptureOptions {
            format,
            dump_level: 31,
            timestamp: Some((1_700_000_000, 0)),
            ..CaptureOptions::default()
        };
        let mut sink = FlatSink::new(
            std::io::BufWriter::new(File::create(&stream).unwrap()),
            None,
        );
        capture(&dump, &opts, &mut sink, &mut |_| {}).unwrap();
        drop(sink);
        let mut r = FileSink::new(File::create(&rebuilt).unwrap(), None);
        let res = rebuild(&mut File::open(&stream).unwrap(), &mut r).unwrap();
        assert!(res.complete);
        let (a, b) = (
            std::fs::read(&rebuilt).unwrap(),
            std::fs::read(&direct).unwrap(),
        );
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            a.len() == b.len() && first.is_none(),
            "{name} {format:?}: rebuilt {} bytes, direct {}, first difference at {first:?}",
            a.len(),
            b.len()
        );
        let o = Dump::open(&direct).unwrap();
        pages_equal(&dump, &o, &format!("{name} {format:?}"), 1);
        for p in [&direct, &stream, &rebuilt] {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn enospc_leaves_a_readable_incomplete_dump() {
    let (name, input, _) = inputs().remove(0);
    let dump = Dump::open(&input).unwrap();
    let t = TempDir::new("enospc");
    let mnt = t.0.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6100k", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount runs (root needed)");
    assert!(st.success(), "mounting a tmpfs needs root");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    for format in [OutputFormat::Kdump(Codec::Zlib), OutputFormat::Elf] {
        let out = mnt.join("vmcore");
        let opts = CaptureOptions {
            format,
            dump_level: 0,
            threads: 2,
            ..CaptureOptions::default()
        };
        let mut sink = FileSink::new(File::create(&out).unwrap(), None);
        let stats = capture(&dump, &opts, &mut sink, &mut |_| {}).unwrap();
        drop(sink);
        assert!(stats.incomplete, "{name}: 6 MiB cannot hold the dump");
        assert!(
            stats
                .stopped_by
                .as_deref()
                .unwrap_or("")
                .contains("No space left"),
            "{stats:?}"
        );
        // Positioned reads: a mapping of a file on a full tmpfs faults (SIGBUS) on its holes.
        let o = Dump::open_read(&out).unwrap_or_else(|e| panic!("{name} {format:?}: {e}"));
        match o.kdump() {
            Some(k) => {
                assert!(k.is_incomplete());
                let c = o.page_counts().unwrap();
                assert!(c.present > 100 && c.lost > 100, "{c:?}");
                // Every page that is there is the input's.
                let ps = 4096u64;
                let mut a = vec![0u8; 4096];
                let mut b = vec![0u8; 4096];
                let mut checked = 0;
                for (s, e) in o.present_ranges() {
                    for pa in (s..e).step_by(ps as usize) {
                        if o.page_state(pa).unwrap() == PageState::Present {
                            o.read_phys(pa, &mut b).unwrap();
                            dump.read_phys_with(pa, &mut a, vmcore_reader::Excluded::Fill(0))
                                .unwrap();
                            assert!(a == b, "{pa:#x}");
                            checked += 1;
                        }
                    }
                }
                assert_eq!(checked, c.present);
            }
            None => assert_eq!(o.elf().unwrap().header.flags & 1, 1, "ELF e_flags"),
        }
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn elf_output_is_makedumpfiles_byte_for_byte_and_vmcore_dmesg_reads_it() {
    for (name, _, md_input) in inputs() {
        let arch = arch_of(&name);
        // Both read the same file here (QEMU dumps: the fixed copy makedumpfile accepts).
        let dump = Dump::open(&md_input).unwrap();
        let t = TempDir::new("elf");
        let md = t.0.join("md.elf");
        let our = t.0.join("ours.elf");
        makedumpfile(&arch, &["-E", "-d", "31"], &md_input, &md);
        ours(&dump, OutputFormat::Elf, 31, &our);
        if name.contains("kdump") {
            // The real /proc/vmcore: the whole file is makedumpfile's, byte for byte.
            let (a, b) = (std::fs::read(&our).unwrap(), std::fs::read(&md).unwrap());
            let first = a.iter().zip(&b).position(|(x, y)| x != y);
            assert!(
                a.len() == b.len() && first.is_none(),
                "{name}: ours {} bytes, makedumpfile {}, first difference at {first:?}",
                a.len(),
                b.len()
            );
            eprintln!(
                "{name}: -E -d 31 identical to makedumpfile's ({} bytes)",
                a.len()
            );
        } else {
            // QEMU dumps: makedumpfile copies QEMU's section-header fields into its ELF
            // header and writes part of the non-RAM windows above max_mapnr (VGA, BIOS ROM)
            // that no mem_map describes; below that, the PT_LOADs must be the same.
            let (o, m) = (Dump::open(&our).unwrap(), Dump::open(&md).unwrap());
            let loads = |d: &Dump| -> Vec<(u64, u64, u64, u32)> {
                let e = d.elf().unwrap();
                let flags: Vec<u32> = e
                    .program_headers
                    .iter()
                    .filter(|p| p.is_load())
                    .map(|p| p.flags)
                    .collect();
                e.segments
                    .iter()
                    .zip(flags)
                    .filter(|(s, _)| s.paddr < 0xf000_0000)
                    .map(|(s, f)| (s.paddr, s.filesz, s.memsz, f))
                    .collect()
            };
            assert_eq!(
                loads(&o),
                loads(&m),
                "{name}: PT_LOADs differ from makedumpfile's"
            );
            pages_equal(&dump, &o, &format!("{name} -E"), 7);
            eprintln!(
                "{name}: -E -d 31 PT_LOADs equal to makedumpfile's ({} below 3.75 GiB)",
                loads(&o).len()
            );
        }
        if name.contains("kdump") {
            // kexec-tools' vmcore-dmesg needs the kernel's virtual addresses, which only the
            // real /proc/vmcore has.
            let o = Command::new("vmcore-dmesg")
                .arg(&our)
                .output()
                .expect("vmcore-dmesg (kexec-tools)");
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let expected =
                std::fs::read(root().join(format!("dumps/{name}/vmcore-dmesg.txt"))).unwrap();
            assert!(
                o.stdout == expected,
                "{name}: vmcore-dmesg prints another log from our -E output"
            );
        }
    }
}

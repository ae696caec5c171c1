//! `vmcore-capture --split` and `--reassemble`: split sets read as one dump, parts alone
//! report only their range, sets that do not belong together are refused naming the file and
//! field; and, with the `fixture-tests` feature, interoperability with makedumpfile 1.7.2 both
//! ways on a real dump.

mod support;
use support::Tmp;

use std::path::PathBuf;
use std::process::Command;

use elfcorehdr::{NoteWriter, Target};
use vmcore_reader::{Dump, Error, PageState, PhysMemory, SplitSet};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// An x86_64 ELF dump of 960 pages at 1 MiB: a pattern, with every third page zero.
fn input(dir: &Tmp, crash_time: u64) -> PathBuf {
    let mut ram = vec![0u8; 960 * 4096];
    for (i, b) in ram.iter_mut().enumerate() {
        if (i / 4096) % 3 != 0 {
            *b = u8::try_from(i % 251).unwrap() ^ u8::try_from(i / 4096 % 256).unwrap();
        }
    }
    let mut notes = NoteWriter::new(Target::x86_64().endian);
    let info = format!("OSRELEASE=6.1.0-test\nPAGESIZE=4096\nCRASHTIME={crash_time}\n");
    notes.push(b"VMCOREINFO", 0, info.as_bytes()).unwrap();
    let file =
        vmcore_reader::synth::elf_dump(Target::x86_64(), &[(0x10_0000, ram)], notes.as_bytes());
    let p = dir.path(&format!("vmcore-{crash_time}"));
    std::fs::write(&p, file).unwrap();
    p
}

/// `a` and `b` hold the same memory: the same present ranges, and page by page the same
/// state and content. Returns the number of pages compared.
fn same_pages(a: &dyn PhysMemory, b: &dyn PhysMemory) -> u64 {
    let ranges = a.present_ranges();
    assert_eq!(ranges, b.present_ranges(), "present ranges differ");
    let ps = a.page_size();
    let len = usize::try_from(ps).unwrap();
    let (mut x, mut y) = (vec![0u8; len], vec![0u8; len]);
    let mut n = 0;
    for (s, e) in ranges {
        for pa in (s..e).step_by(len) {
            let (sa, sb) = (a.page_state(pa).unwrap(), b.page_state(pa).unwrap());
            assert_eq!(sa, sb, "page {pa:#x}");
            if matches!(sa, PageState::Present | PageState::Zero) {
                a.read_phys(pa, &mut x).unwrap();
                b.read_phys(pa, &mut y).unwrap();
                assert!(x == y, "page {pa:#x} differs");
            }
            n += 1;
        }
    }
    n
}

/// A part alone holds only `[start_pfn, end_pfn)`: every present range lies inside it,
/// and a page of the dump outside it reads as not in this file.
fn part_reports_only_its_range(part: &Dump, whole: &dyn PhysMemory) {
    let (start, end) = part.kdump().unwrap().split_range().expect("a split part");
    let ps = part.page_size();
    let (lo, hi) = (start * ps, end * ps);
    for (s, e) in part.present_ranges() {
        assert!(
            s >= lo && e <= hi,
            "{s:#x}..{e:#x} outside {lo:#x}..{hi:#x}"
        );
    }
    let outside = whole
        .present_ranges()
        .into_iter()
        .find_map(|(s, e)| {
            (s..e)
                .step_by(usize::try_from(ps).unwrap())
                .find(|&p| p < lo || p >= hi)
        })
        .expect("the dump has pages outside the part");
    assert_eq!(part.page_state(outside).unwrap(), PageState::NotInDump);
    assert!(matches!(
        part.read_phys(outside, &mut vec![0u8; 4096]),
        Err(Error::NotInDump { .. })
    ));
}

#[test]
fn split_set_reads_as_the_unsplit_dump_and_reassembles_to_it() {
    let t = Tmp::new("synth");
    let vmcore = input(&t, 1_700_000_000);
    let whole = t.path("whole");
    run(bin().args(["-l", "-d", "1"]).arg(&vmcore).arg(&whole));
    let parts: Vec<PathBuf> = (1..=3).map(|i| t.path(&format!("part{i}"))).collect();
    run(bin()
        .args(["-l", "-d", "1", "--num-threads", "2", "--split"])
        .arg(&vmcore)
        .args(&parts));
    let whole = Dump::open(&whole).unwrap();
    // Given in any order, the parts are one dump.
    let set = SplitSet::open(&[&parts[2], &parts[0], &parts[1]]).unwrap();
    assert_eq!(same_pages(&set, &whole), 960);
    // Balanced: each part has a third of the dumpable pages, to within one aligned block,
    // and starts on a multiple of 64 pfns (crash needs that).
    let mut ranges = Vec::new();
    for (range, path, part) in set.parts() {
        let n = part.kdump().unwrap().dumpable_blocks();
        assert!(n.abs_diff(320) <= 64, "{}: {n} pages", path.display());
        assert_eq!(range.0 % vmcore_writer::SPLIT_ALIGN, 0, "{range:?}");
        ranges.push(range);
        part_reports_only_its_range(part, &whole);
    }
    assert_eq!(ranges[0].0, 0);
    assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0));
    // Reassembled, it is a whole dump again with the same pages.
    let joined = t.path("joined");
    run(bin().arg("--reassemble").args(&parts).arg(&joined));
    let joined = Dump::open(&joined).unwrap();
    assert_eq!(joined.kdump().unwrap().split_range(), None);
    assert!(!joined.kdump().unwrap().is_incomplete());
    assert_eq!(same_pages(&joined, &whole), 960);
    assert_eq!(joined.page_counts().unwrap(), whole.page_counts().unwrap());
}

fn split_error(paths: &[&PathBuf]) -> (PathBuf, &'static str) {
    match SplitSet::open(paths) {
        Err(Error::SplitSet { file, field, .. }) => (file, field),
        other => panic!("expected a split-set error, got {other:?}"),
    }
}

#[test]
fn sets_that_do_not_belong_together_are_refused_naming_file_and_field() {
    let t = Tmp::new("refuse");
    let a = input(&t, 1_700_000_000);
    let b = input(&t, 1_700_000_001);
    let pa: Vec<PathBuf> = (1..=3).map(|i| t.path(&format!("a{i}"))).collect();
    let pb: Vec<PathBuf> = (1..=3).map(|i| t.path(&format!("b{i}"))).collect();
    run(bin().args(["-d", "1", "--split"]).arg(&a).args(&pa));
    run(bin().args(["-d", "1", "--split"]).arg(&b).args(&pb));
    // A part of another dump (another crash time).
    assert_eq!(
        split_error(&[&pa[0], &pb[1], &pa[2]]),
        (pb[1].clone(), "disk_dump_header.timestamp")
    );
    // A part missing: a gap after the first.
    assert_eq!(
        split_error(&[&pa[0], &pa[2]]),
        (pa[2].clone(), "kdump_sub_header.start_pfn_64")
    );
    // The last part missing: the set stops short of max_mapnr.
    assert_eq!(
        split_error(&[&pa[0], &pa[1]]),
        (pa[1].clone(), "kdump_sub_header.end_pfn_64")
    );
    // A part given twice overlaps.
    let (file, field) = split_error(&[&pa[0], &pa[1], &pa[1], &pa[2]]);
    assert_eq!(
        (file.as_path(), field),
        (pa[1].as_path(), "kdump_sub_header.start_pfn_64")
    );
    // A whole dump is not a part.
    let whole = t.path("whole");
    run(bin().args(["-d", "1"]).arg(&a).arg(&whole));
    assert_eq!(
        split_error(&[&pa[0], &whole]),
        (whole.clone(), "kdump_sub_header.split")
    );
    // The tool says the same and writes nothing.
    let out = bin()
        .arg("--reassemble")
        .args([&pa[0], &pb[1], &pa[2]])
        .arg(t.path("joined"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b2") && err.contains("timestamp"), "{err}");
    assert!(!t.path("joined").exists());
}

#[test]
fn split_outputs_are_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tmp::new("private");
    let vmcore = input(&t, 1_700_000_000);
    let parts: Vec<PathBuf> = (1..=2).map(|i| t.path(&format!("p{i}"))).collect();
    // A symbolic link where a part goes is refused, not followed.
    let target = t.path("elsewhere");
    std::os::unix::fs::symlink(&target, &parts[1]).unwrap();
    let out = bin()
        .args(["-d", "1", "--split"])
        .arg(&vmcore)
        .args(&parts)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!target.exists());
    // The part made before the refusal is removed, not left empty.
    assert!(!parts[0].exists());
    std::fs::remove_file(&parts[1]).unwrap();
    run(bin().args(["-d", "1", "--split"]).arg(&vmcore).args(&parts));
    for p in &parts {
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", p.display());
    }
}

#[cfg(feature = "fixture-tests")]
mod fixtures {
    //! makedumpfile 1.7.2 on the `x86_64-512M` fixture. makedumpfile cannot read QEMU's
    //! ELF (docs/TESTING.md), so it reads `qemu-fixed.elf` beside it; we read `qemu.elf`.
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(
            std::env::var_os("KDUMP_FIXTURES")
                .expect("KDUMP_FIXTURES must name the fixture folder"),
        )
    }

    fn fixture(rel: &str) -> PathBuf {
        let p = root().join("dumps/x86_64-512M").join(rel);
        assert!(p.exists(), "fixture file missing: {}", p.display());
        p
    }

    fn makedumpfile() -> Command {
        let mut c = Command::new("makedumpfile");
        c.env("LC_ALL", "C");
        c
    }

    #[test]
    fn makedumpfile_reassembles_our_split_set() {
        let t = Tmp::new("fx-ours");
        let input = fixture("qemu.elf");
        let whole = t.path("whole");
        run(bin().args(["-l", "-d", "31"]).arg(&input).arg(&whole));
        let parts: Vec<PathBuf> = (1..=3).map(|i| t.path(&format!("o{i}"))).collect();
        run(bin()
            .args(["-l", "-d", "31", "--split"])
            .arg(&input)
            .args(&parts));
        let joined = t.path("md-joined");
        run(makedumpfile().arg("--reassemble").args(&parts).arg(&joined));
        let whole = Dump::open(&whole).unwrap();
        let joined = Dump::open(&joined).unwrap();
        assert!(same_pages(&joined, &whole) > 10_000);
        // And we read our own set as one dump, each part only its range.
        let set = SplitSet::open(&parts).unwrap();
        assert!(same_pages(&set, &whole) > 10_000);
        let first = Dump::open(&parts[0]).unwrap();
        part_reports_only_its_range(&first, &whole);
        // crash opens the set as one dump and prints the same kernel log (it reads a part
        // whose start_pfn is not 64-aligned at the wrong descriptors, see SPLIT_ALIGN).
        crash_reads_the_log(&t, &parts);
    }

    /// `crash vmlinux PART1 PART2...`: the kernel log's last line is makedumpfile's.
    fn crash_reads_the_log(t: &Tmp, parts: &[PathBuf]) {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root().join("manifest.json")).unwrap()).unwrap();
        let release = manifest["dumps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "x86_64-512M")
            .and_then(|d| d["kernel_release"].as_str())
            .unwrap()
            .to_owned();
        let vmlinux = root().join(format!("dbg/{release}/vmlinux-{release}"));
        assert!(
            vmlinux.exists(),
            "fixture file missing: {}",
            vmlinux.display()
        );
        let cmds = t.path("crash-cmds");
        std::fs::write(&cmds, "log\nquit\n").unwrap();
        let text = run(Command::new("crash")
            .arg("-s")
            .arg("-i")
            .arg(&cmds)
            .arg(&vmlinux)
            .args(parts));
        let log = std::fs::read_to_string(fixture("md-dmesg.txt")).unwrap();
        let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        assert!(text.contains(last), "crash did not print {last:?}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("crash: ")),
            "crash complained: {text}"
        );
    }

    #[test]
    fn we_read_and_reassemble_makedumpfiles_split_set() {
        let t = Tmp::new("fx-md");
        let input = fixture("qemu-fixed.elf");
        let unsplit = Dump::open(fixture("md-l.kdump")).unwrap();
        let log = std::fs::read(fixture("md-dmesg.txt")).unwrap();
        // Its default 1 GiB split blocks put all of a 512 MiB dump in the first file;
        // 16 MiB blocks spread it over the three.
        for block in [None, Some("16384")] {
            let parts: Vec<PathBuf> = (1..=3).map(|i| t.path(&format!("p{i}"))).collect();
            for p in &parts {
                let _ = std::fs::remove_file(p);
            }
            let mut cmd = makedumpfile();
            cmd.args(["-l", "-d", "31"]);
            if let Some(b) = block {
                cmd.args(["--splitblock-size", b]);
            }
            run(cmd.arg("--split").arg(&input).args(&parts));
            let set = SplitSet::open(&parts).unwrap();
            assert!(same_pages(&set, &unsplit) > 10_000, "{block:?}");
            let first = Dump::open(&parts[0]).unwrap();
            if block.is_some() {
                part_reports_only_its_range(&first, &unsplit);
            }
            let joined = t.path("joined");
            let _ = std::fs::remove_file(&joined);
            run(bin().arg("--reassemble").args(&parts).arg(&joined));
            let back = Dump::open(&joined).unwrap();
            assert!(same_pages(&back, &unsplit) > 10_000, "{block:?}");
            let dmesg = t.path("dmesg.txt");
            let _ = std::fs::remove_file(&dmesg);
            run(makedumpfile().arg("--dump-dmesg").arg(&joined).arg(&dmesg));
            assert!(
                std::fs::read(&dmesg).unwrap() == log,
                "{block:?}: dmesg differs"
            );
        }
    }
}

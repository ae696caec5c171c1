//! Dumps are secrets (issue 19): every file `vmcore-capture` creates with dump data or a
//! kernel log is mode 0600 under umask 022, metadata (`--stats-json`) follows the umask,
//! and a symbolic link at the output path (to a file, or dangling) is never followed,
//! with or without `-f`. The binary runs under `sh -c 'umask 022; exec ...'`, so the
//! umask is the one a root shell usually has whatever the test runner's is.

mod support;
use support::Tmp;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use vmcore_reader::synth::{SynthKernel, SynthRecord};
use vmcore_reader::{Dump, Kernel, read_log};

/// `vmcore-capture ARGS` under umask 022, with `stdin` as its input.
fn capture_with(args: &[&OsStr], stdin: &[u8]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_vmcore-capture"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may not read stdin at all (then the pipe is closed early): ignore EPIPE.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn capture(args: &[&OsStr]) -> Output {
    capture_with(args, &[])
}

fn os<'a>(items: &'a [&'a dyn AsRef<OsStr>]) -> Vec<&'a OsStr> {
    items.iter().map(|a| a.as_ref()).collect()
}

fn ok(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// An ELF dump of a synthetic x86_64 kernel with a kernel log.
fn input(dir: &Path) -> PathBuf {
    let recs: Vec<SynthRecord> = (0..8u64)
        .map(|i| SynthRecord {
            ts_nsec: i * 1_000_000_007,
            text: format!("secret line {i}").into_bytes(),
            level: 6,
            state: 2,
        })
        .collect();
    let p = dir.join("vmcore");
    std::fs::write(&p, SynthKernel::new(&recs, 4, 12).elf()).unwrap();
    p
}

fn log_of(p: &Path) -> String {
    let d = Dump::open(p).unwrap();
    let k = Kernel::new(&d).unwrap();
    let mut out = Vec::new();
    read_log(&k).unwrap().write_dmesg(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The output kinds, each with the arguments that write it to `out`.
fn kinds() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("kdump, zlib", vec!["-c", "-d", "1"]),
        ("kdump, uncompressed", vec!["-d", "0"]),
        ("kdump, zstd", vec!["-z", "-d", "1"]),
        ("ELF", vec!["-E", "-d", "1"]),
        ("kernel log", vec!["--dump-dmesg"]),
    ]
}

#[test]
fn every_output_kind_is_0600_under_umask_022() {
    let t = Tmp::new("modes");
    let vmcore = input(&t.0);
    let want_log = log_of(&vmcore);
    assert!(want_log.contains("secret line 7"), "{want_log}");
    for (i, (what, args)) in kinds().into_iter().enumerate() {
        let out = t.0.join(format!("out{i}"));
        let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        argv.push(vmcore.as_os_str());
        argv.push(out.as_os_str());
        ok(&capture(&argv), what);
        assert_eq!(mode(&out), 0o600, "{what}");
        if what == "kernel log" {
            assert_eq!(std::fs::read_to_string(&out).unwrap(), want_log);
        } else {
            assert_eq!(log_of(&out), want_log, "{what}");
        }
    }
    // -R: the file rebuilt from a flattened stream, kdump-compressed and ELF.
    for fmt in ["-c", "-E"] {
        let flat = capture(&os(&[&"-F", &fmt, &"-d", &"1", &vmcore]));
        ok(&flat, fmt);
        let rebuilt = t.0.join(format!("rebuilt{fmt}"));
        ok(&capture_with(&os(&[&"-R", &rebuilt]), &flat.stdout), "-R");
        assert_eq!(mode(&rebuilt), 0o600, "-R {fmt}");
        assert_eq!(log_of(&rebuilt), want_log, "-R {fmt}");
    }
    // --stats-json is metadata: it follows the umask (0666 less 022).
    let stats = t.0.join("stats.json");
    let dump = t.0.join("with-stats");
    ok(
        &capture(&os(&[&"-c", &"--stats-json", &stats, &vmcore, &dump])),
        "--stats-json",
    );
    assert_eq!(mode(&dump), 0o600);
    assert_eq!(mode(&stats), 0o644);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(v["complete"], true);
    // -f over a world-readable file leaves a 0600 file.
    let old = t.0.join("old");
    std::fs::write(&old, b"old").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&capture(&os(&[&"-f", &"-c", &vmcore, &old])), "-f");
    assert_eq!(mode(&old), 0o600);
    assert_eq!(log_of(&old), want_log);
    // -F: the shell creates the file stdout goes to; a file others can read is warned about.
    let flat_file = t.0.join("stream");
    let st = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" -F -c \"$1\" > \"$2\"")
        .arg(env!("CARGO_BIN_EXE_vmcore-capture"))
        .arg(&vmcore)
        .arg(&flat_file)
        .output()
        .unwrap();
    ok(&st, "-F > file");
    assert_eq!(mode(&flat_file), 0o644);
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("group or others can read (mode 0644)"),
        "{err}"
    );
    // ... and a private one is not.
    let st = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$0\" -F -c \"$1\" > \"$2.private\"")
        .arg(env!("CARGO_BIN_EXE_vmcore-capture"))
        .arg(&vmcore)
        .arg(&flat_file)
        .output()
        .unwrap();
    ok(&st, "-F > private file");
    assert!(!String::from_utf8_lossy(&st.stderr).contains("warning"));
}

/// A file someone else owns and cares about, and links to it and to nowhere.
struct Links {
    victim: PathBuf,
    link: PathBuf,
    dangling: PathBuf,
    nowhere: PathBuf,
}

impl Links {
    fn new(dir: &Path, tag: &str) -> Links {
        let victim = dir.join(format!("victim-{tag}"));
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.join(format!("link-{tag}"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let nowhere = dir.join(format!("nowhere-{tag}"));
        let dangling = dir.join(format!("dangling-{tag}"));
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        Links {
            victim,
            link,
            dangling,
            nowhere,
        }
    }

    fn victim_untouched(&self, what: &str) {
        assert_eq!(std::fs::read(&self.victim).unwrap(), b"precious", "{what}");
        assert_eq!(mode(&self.victim), 0o644, "{what}");
        assert!(
            std::fs::symlink_metadata(&self.nowhere).is_err(),
            "{what}: the dangling link's target was created"
        );
    }
}

#[test]
fn links_at_the_output_are_never_followed() {
    let t = Tmp::new("links");
    let vmcore = input(&t.0);
    let flat = capture(&os(&[&"-F", &"-c", &vmcore]));
    ok(&flat, "-F");
    let mut kinds = kinds();
    kinds.push(("-R", vec!["-R"]));
    for (i, (what, args)) in kinds.into_iter().enumerate() {
        let l = Links::new(&t.0, &i.to_string());
        let run = |force: bool, out: &Path| {
            let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
            if force {
                argv.push(OsStr::new("-f"));
            }
            if what != "-R" {
                argv.push(vmcore.as_os_str());
            }
            argv.push(out.as_os_str());
            let stdin: &[u8] = if what == "-R" { &flat.stdout } else { &[] };
            capture_with(&argv, stdin)
        };
        for out in [&l.link, &l.dangling] {
            // Without -f: refused, naming the path and what is there.
            let st = run(false, out);
            assert_eq!(st.status.code(), Some(1), "{what}");
            let err = String::from_utf8_lossy(&st.stderr);
            assert!(
                err.contains(&format!(
                    "{}: already exists (a symbolic link to ",
                    out.display()
                )),
                "{what}: {err}"
            );
            assert!(
                std::fs::symlink_metadata(out)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            l.victim_untouched(what);
            // With -f: the link itself is replaced by a new private file.
            ok(&run(true, out), what);
            let meta = std::fs::symlink_metadata(out).unwrap();
            assert!(meta.is_file(), "{what}: {} is still a link", out.display());
            assert_eq!(meta.mode() & 0o7777, 0o600, "{what}");
            l.victim_untouched(what);
        }
    }
    // --stats-json through a link: the link is replaced, its target left alone.
    let l = Links::new(&t.0, "stats");
    for (i, link) in [&l.link, &l.dangling].into_iter().enumerate() {
        let dump = t.0.join(format!("stats-dump-{i}"));
        ok(
            &capture(&os(&[&"-c", &"--stats-json", link, &vmcore, &dump])),
            "--stats-json",
        );
        assert!(std::fs::symlink_metadata(link).unwrap().is_file());
        l.victim_untouched("--stats-json");
    }
    // -f never removes a directory.
    let dir = t.0.join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let st = capture(&os(&[&"-f", &"-c", &vmcore, &dir]));
    assert_eq!(st.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&st.stderr).contains("is a directory"));
    assert!(dir.is_dir());
}

//! `vmcore-capture` on the real dumps of `cargo xtask fixtures`: SIGKILL mid-run leaves a
//! readable dump marked incomplete holding only input pages, and `--dump-dmesg` prints what
//! kexec-tools' vmcore-dmesg printed for the same dump. Enabled by the `fixture-tests`
//! feature; reads `$KDUMP_FIXTURES` and fails when it is unset or a file is missing.
#![cfg(feature = "fixture-tests")]

mod support;
use support::Tmp;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use vmcore_reader::{Dump, PageState, PhysMemory};

fn root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("KDUMP_FIXTURES").expect("KDUMP_FIXTURES must name the fixture folder"),
    )
}

fn fixture(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(p.exists(), "fixture file missing: {}", p.display());
    p
}

#[test]
fn sigkill_mid_run_leaves_a_readable_incomplete_dump() {
    let input = fixture("dumps/x86_64-2G/qemu.elf");
    let t = Tmp::new("kill");
    let out = t.0.join("vmcore");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
        .args(["-d", "0", "--num-threads", "1", "--message-level", "0"])
        .arg(&input)
        .arg(&out)
        .spawn()
        .unwrap();
    // Wait until some page data is out (past the headers and bitmaps), then kill.
    let mut waited = 0;
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 64 << 20 && waited < 600 {
        std::thread::sleep(Duration::from_millis(20));
        waited += 1;
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the capture finished before the kill; nothing was tested"
    );
    let dump = Dump::open_read(&out).unwrap();
    let inp = Dump::open(&input).unwrap();
    let k = dump.kdump().expect("kdump-compressed");
    assert!(
        k.is_incomplete(),
        "a killed capture must say it is incomplete"
    );
    let (mut present, mut lost) = (0u64, 0u64);
    let mut a = vec![0u8; 4096];
    let mut b = vec![0u8; 4096];
    for (s, e) in dump.present_ranges() {
        for pa in (s..e).step_by(4096) {
            match dump.page_state(pa).unwrap() {
                PageState::Present | PageState::Zero => {
                    dump.read_phys(pa, &mut b).unwrap();
                    inp.read_phys(pa, &mut a).unwrap();
                    assert!(a == b, "page {pa:#x} differs from the input");
                    present += 1;
                }
                PageState::Lost => lost += 1,
                s => panic!("{pa:#x}: {s:?}"),
            }
        }
    }
    assert!(
        present > 1000 && lost > 1000,
        "present {present}, lost {lost}"
    );
    eprintln!("killed: {present} pages kept, {lost} lost");
}

#[test]
fn dump_dmesg_prints_the_log_vmcore_dmesg_printed() {
    let input = fixture("dumps/x86_64-kdump-1G/proc-vmcore.elf");
    let expected = std::fs::read(fixture("dumps/x86_64-kdump-1G/vmcore-dmesg.txt")).unwrap();
    let t = Tmp::new("dmesg");
    let log = t.0.join("log");
    let st = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
        .arg("--dump-dmesg")
        .arg(&input)
        .arg(&log)
        .status()
        .unwrap();
    assert!(st.success());
    let got = std::fs::read(&log).unwrap();
    assert!(got.len() > 1000);
    assert!(
        got == expected,
        "the log differs from kexec-tools' vmcore-dmesg output"
    );
}

/// A tmpfs of a fixed size, mounted for one test (we are root, as the FUSE test is).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: PathBuf, size: &str) -> Mount {
        std::fs::create_dir_all(&at).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&at)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t tmpfs failed (the test needs root)");
        Mount(at)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Runs makedumpfile (the peer) with `args`; its stdout and stderr, and the exit code.
fn makedumpfile(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = Command::new("makedumpfile")
        .args(args)
        .output()
        .expect("makedumpfile runs (apt install makedumpfile)");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// makedumpfile's `-d 0,31` as Debian and RHEL write it, on a real 512 MiB dump: level 0
/// (about 74 MB with zlib) does not fit a 40 MiB disk (ENOSPC) or `-L 40M`, level 31
/// (about 18 MB) does; the file left is the level-31 dump, complete, read by our reader and
/// by makedumpfile (its `--dump-dmesg` gives the log makedumpfile itself gave for the dump,
/// and it re-filters the dump at level 31). When no level fits, the last attempt is kept,
/// marked incomplete, exit 1 (makedumpfile's `FAILED`).
#[test]
fn level_list_retries_on_enospc_and_the_limit_and_makedumpfile_reads_the_result() {
    let input = fixture("dumps/x86_64-512M/qemu.elf");
    let want_log = std::fs::read(fixture("dumps/x86_64-512M/md-dmesg.txt")).unwrap();
    let t = Tmp::new("retry");
    let disk = Mount::tmpfs(t.0.join("disk"), "40M");
    let run = |args: &[&str], out: &std::path::Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
            .args(args)
            .arg(&input)
            .arg(out)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let on_disk = disk.0.join("dump");
    let limited = t.0.join("limited");
    for (how, args, out) in [
        ("ENOSPC", vec!["-c", "-d", "0,31"], &on_disk),
        ("-L", vec!["-c", "-d", "0,31", "-L", "40M"], &limited),
    ] {
        let (code, err) = run(&args, out);
        assert_eq!(code, Some(0), "{how}: {err}");
        assert!(
            err.contains("the dump at level 0 does not fit")
                && err.contains("retrying with dump level 31"),
            "{how}: {err}"
        );
        let d = Dump::open(out).unwrap();
        let k = d.kdump().expect("kdump-compressed");
        assert!(!k.is_incomplete(), "{how}");
        assert_eq!(k.sub.dump_level, 31, "{how}");
        let log = t.0.join(format!("dmesg{}", how.trim_start_matches('-')));
        let (code, msg) =
            makedumpfile(&["--dump-dmesg".as_ref(), out.as_os_str(), log.as_os_str()]);
        assert_eq!(code, 0, "{how}: makedumpfile --dump-dmesg: {msg}");
        assert!(
            std::fs::read(&log).unwrap() == want_log,
            "{how}: the log differs from makedumpfile's"
        );
        let refiltered =
            t.0.join(format!("refiltered{}", how.trim_start_matches('-')));
        let (code, msg) = makedumpfile(&[
            "-d".as_ref(),
            "31".as_ref(),
            out.as_os_str(),
            refiltered.as_os_str(),
        ]);
        assert_eq!(code, 0, "{how}: makedumpfile -d 31 on our dump: {msg}");
        std::fs::remove_file(&refiltered).unwrap();
    }
    std::fs::remove_file(&on_disk).unwrap();

    // Neither level fits: the level-31 attempt is kept, marked incomplete, exit 1.
    let (code, err) = run(
        &["-c", "-d", "0,31", "-L", "4M"],
        &limited.with_extension("none"),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no dump level of -d 0,31 fits"), "{err}");
    let d = Dump::open(limited.with_extension("none")).unwrap();
    let k = d.kdump().expect("kdump-compressed");
    assert!(k.is_incomplete());
    assert_eq!(k.sub.dump_level, 31);
    drop(disk);
}

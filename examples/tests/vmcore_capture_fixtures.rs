//! `vmcore-capture` on the real dumps of `cargo xtask fixtures`: SIGKILL mid-run leaves a
//! readable dump marked incomplete holding only input pages, and `--dump-dmesg` prints what
//! kexec-tools' vmcore-dmesg printed for the same dump. Enabled by the `fixture-tests`
//! feature; reads `$KDUMP_FIXTURES` and fails when it is unset or a file is missing.
#![cfg(feature = "fixture-tests")]

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

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(tag: &str) -> Tmp {
    let p = std::env::temp_dir().join(format!("vmcore-capture-fx-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    Tmp(p)
}

#[test]
fn sigkill_mid_run_leaves_a_readable_incomplete_dump() {
    let input = fixture("dumps/x86_64-2G/qemu.elf");
    let t = tmp("kill");
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
    let t = tmp("dmesg");
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

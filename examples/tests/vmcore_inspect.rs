//! `vmcore-inspect` run as a binary: clear errors on dumps that lack what a command needs
//! (synthetic dumps), and, with the `fixture-tests` feature, `ps --json` and `sym` on real
//! fixture dumps against drgn's answers (`vmcore-introspect/tests/oracle/*.json`).

use std::process::Command;

use vmcore_reader::synth::{SynthKernel, SynthRecord};

fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmcore-inspect"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_dump_without_kallsyms_in_vmcoreinfo_says_so() {
    let recs = [SynthRecord {
        ts_nsec: 1,
        text: b"hello".to_vec(),
        level: 4,
        state: 2,
    }];
    let dir = std::env::temp_dir().join(format!("kdump-examples-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("synth.elf");
    std::fs::write(&p, SynthKernel::new(&recs, 5, 13).elf()).unwrap();
    for cmd in [&["ps"][..], &["sym", "schedule"][..], &["--json", "ps"][..]] {
        let mut args = vec![p.as_os_str()];
        args.extend(cmd.iter().map(std::ffi::OsStr::new));
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{cmd:?}: {err}");
        assert!(out.is_empty(), "{cmd:?}: stdout {out:?}");
        assert!(
            err.contains("SYMBOL(kallsyms_names) in VMCOREINFO") && err.lines().count() == 1,
            "{cmd:?}: {err}"
        );
    }
    let (code, _, err) = run(&[p.as_os_str(), "frobnicate".as_ref()]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&[dir.join("absent").as_os_str(), "ps".as_ref()]);
    assert_eq!(code, 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "fixture-tests")]
fn fixture(rel: &str) -> std::path::PathBuf {
    let root = std::env::var_os("KDUMP_FIXTURES")
        .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)");
    let p = std::path::PathBuf::from(root).join(rel);
    assert!(p.exists(), "fixture file missing: {}", p.display());
    p
}

#[cfg(feature = "fixture-tests")]
fn oracle(name: &str) -> serde_json::Value {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../vmcore-introspect/tests/oracle")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[cfg(feature = "fixture-tests")]
#[test]
fn ps_json_of_a_filtered_kdump_matches_drgn() {
    let o = oracle("x86_64-2G");
    let (code, out, err) = run(&[
        fixture("dumps/x86_64-2G/md-l.kdump").as_os_str(),
        "ps".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ours = v["tasks"].as_array().unwrap();
    let want = o["tasks"].as_array().unwrap();
    assert_eq!(ours.len(), want.len());
    for w in want {
        let t = ours
            .iter()
            .find(|t| t["task"] == w["task"])
            .unwrap_or_else(|| panic!("{w} missing"));
        for k in ["pid", "ppid", "cpu", "state", "comm"] {
            assert_eq!(t[k], w[k], "{k} of {w}");
        }
    }
    assert_eq!(
        ours.iter().filter(|t| t["active"] == true).count(),
        2,
        "one per CPU"
    );
}

#[cfg(feature = "fixture-tests")]
#[test]
fn sym_by_name_and_by_address_matches_drgn() {
    for (name, file) in [
        ("x86_64-kdump-1G", "dumps/x86_64-kdump-1G/md-c.kdump"),
        ("arm64-512M", "dumps/arm64-512M/md-l.kdump"),
    ] {
        let o = oracle(name);
        let dump = fixture(file);
        for s in o["symbols"].as_array().unwrap().iter().step_by(37) {
            let sym = s["name"].as_str().unwrap();
            let addr = s["address"].as_u64().unwrap();
            let (code, out, err) = run(&[
                dump.as_os_str(),
                "--json".as_ref(),
                "sym".as_ref(),
                sym.as_ref(),
            ]);
            assert_eq!(code, 0, "{sym}: {err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["address"].as_u64(), Some(addr), "{name} {sym}");
            assert_eq!(v["link_address"], s["link_address"], "{name} {sym}");
            // One byte in: the same symbol, offset 1 (unless an alias sits there).
            let (code, out, err) = run(&[
                dump.as_os_str(),
                "sym".as_ref(),
                format!("{:#x}", addr + 1).as_ref(),
                "--json".as_ref(),
            ]);
            assert_eq!(code, 0, "{sym}: {err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            if v["size"].as_u64().is_some_and(|z| z > 1) {
                assert_eq!(v["address"].as_u64(), Some(addr), "{name} {sym}+1: {v}");
                assert_eq!(v["offset"], 1, "{name} {sym}+1");
            }
        }
    }
}

#[cfg(feature = "fixture-tests")]
#[test]
fn mod_json_matches_drgn() {
    let o = oracle("x86_64-kdump-1G");
    let (code, out, err) = run(&[
        fixture("dumps/x86_64-kdump-1G/md-F.flat").as_os_str(),
        "--json".as_ref(),
        "mod".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["modules"], o["modules"]);
    // Without CONFIG_KALLSYMS_ALL (arm64) the module list head is found by a scan.
    let o = oracle("arm64-512M");
    let (code, out, err) = run(&[
        fixture("dumps/arm64-512M/md-c.kdump").as_os_str(),
        "mod".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["modules"], o["modules"]);
}

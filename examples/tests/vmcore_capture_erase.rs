//! `vmcore-capture --config` against makedumpfile 1.7.2 on the same real dump and filter:
//! the same bytes erased (every page of each erased output equals its unfiltered capture
//! with exactly the filter's ranges overwritten), the same eraseinfo text, and a missing
//! symbol refused naming the line. Enabled by the `fixture-tests` feature; reads
//! `$KDUMP_FIXTURES` (`dumps/x86_64-512M`, the debug vmlinux in `dbg/`) and needs
//! `makedumpfile` on PATH; fails when any is missing.
#![cfg(feature = "fixture-tests")]
#![allow(
    clippy::cast_possible_truncation,
    reason = "test arithmetic on page offsets of a 512 MiB dump"
)]

mod support;
use support::Tmp;

use std::path::{Path, PathBuf};
use std::process::Command;

use vmcore_reader::{Dump, PageState, PhysMemory};

fn fixture(rel: &str) -> PathBuf {
    let root = PathBuf::from(
        std::env::var_os("KDUMP_FIXTURES").expect("KDUMP_FIXTURES must name the fixture folder"),
    );
    let p = root.join(rel);
    assert!(p.exists(), "fixture file missing: {}", p.display());
    p
}

const FILTER: &str = "# what a vendor must not see\n[vmlinux]\nerase linux_banner size 64\nerase saved_command_line nullify\n";
const ERASEINFO: &str = "erase linux_banner size 64\nerase saved_command_line nullify\n";

fn capture(args: &[&str], input: &Path, out: &Path) -> std::process::Output {
    let o = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
        .args(args)
        .arg(input)
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "vmcore-capture {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// (paddr, len, fill) of each range.
type Ranges = Vec<(u64, u64, u8)>;

/// Every page present in both `plain` and `erased` is equal once `ranges` are applied to
/// the plain one; returns how many pages the ranges touched (all present in both).
fn same_but_erased(plain: &Dump, erased: &Dump, ranges: &Ranges) -> usize {
    let ps = plain.page_size();
    let mut a = vec![0u8; ps as usize];
    let mut b = vec![0u8; ps as usize];
    let mut touched = 0;
    let mut compared = 0u64;
    for (s, e) in plain.present_ranges() {
        let mut pa = s;
        while pa < e {
            let both = [
                plain.page_state(pa).unwrap(),
                erased.page_state(pa).unwrap(),
            ]
            .iter()
            .all(|st| matches!(st, PageState::Present | PageState::Zero));
            if both {
                plain.read_phys(pa, &mut a).unwrap();
                erased.read_phys(pa, &mut b).unwrap();
                let mut hit = false;
                for &(rp, rl, fill) in ranges {
                    let s2 = rp.max(pa);
                    let e2 = (rp + rl).min(pa + ps);
                    if s2 < e2 {
                        a[(s2 - pa) as usize..(e2 - pa) as usize].fill(fill);
                        hit = true;
                    }
                }
                touched += usize::from(hit);
                compared += 1;
                assert!(a == b, "page {pa:#x} differs beyond the erased ranges");
            }
            pa += ps;
        }
    }
    assert!(compared > 10_000, "only {compared} pages compared");
    touched
}

fn erased_ranges(stats: &Path) -> Ranges {
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(stats).unwrap()).unwrap();
    let list = j["erased"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{j}");
    assert_eq!(list[0]["line"], 3);
    assert_eq!(list[0]["symbol"], "linux_banner");
    assert_eq!(list[1]["line"], 4);
    list.iter()
        .map(|e| {
            let fill = if e["symbol"] == "saved_command_line" {
                0
            } else {
                b'X'
            };
            (
                e["paddr"].as_u64().unwrap(),
                e["size"].as_u64().unwrap(),
                fill,
            )
        })
        .collect()
}

#[test]
fn erases_what_makedumpfile_erases() {
    let input = fixture("dumps/x86_64-512M/qemu-fixed.elf");
    let md_plain = fixture("dumps/x86_64-512M/md-l.kdump");
    let vmlinux = fixture("dbg/6.1.0-57-amd64/vmlinux-6.1.0-57-amd64");
    let t = Tmp::new("md");
    let conf = t.0.join("f.conf");
    std::fs::write(&conf, FILTER).unwrap();
    let conf_s = conf.to_str().unwrap();
    let stats = t.0.join("stats.json");
    let ours = t.0.join("ours.kdump");
    let o = capture(
        &[
            "-l",
            "-d",
            "31",
            "--config",
            conf_s,
            "--stats-json",
            stats.to_str().unwrap(),
        ],
        &input,
        &ours,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("erase linux_banner (line 3): 64 bytes"),
        "{err}"
    );
    let ranges = erased_ranges(&stats);
    let plain = t.0.join("plain.kdump");
    capture(&["-l", "-d", "31"], &input, &plain);
    let ours_elf = t.0.join("ours.elf");
    capture(&["-E", "-d", "31", "--config", conf_s], &input, &ours_elf);

    let plain_d = Dump::open(&plain).unwrap();
    // The banner really was there: the erased bytes are recognisable ones.
    let mut banner = [0u8; 14];
    plain_d.read_phys(ranges[0].0, &mut banner).unwrap();
    assert_eq!(&banner, b"Linux version ");
    let ours_d = Dump::open(&ours).unwrap();
    assert_eq!(same_but_erased(&plain_d, &ours_d, &ranges), 2);
    assert_eq!(ours_d.eraseinfo().unwrap().unwrap(), ERASEINFO.as_bytes());
    let elf_d = Dump::open(&ours_elf).unwrap();
    assert_eq!(same_but_erased(&plain_d, &elf_d, &ranges), 2);
    // makedumpfile -E puts the text in an ERASEINFO note; so do we.
    assert_eq!(elf_d.eraseinfo().unwrap().unwrap(), ERASEINFO.as_bytes());
    // The flattened stream (-F to stdout) goes through the same page path.
    let flat = t.0.join("ours.flat");
    let fo = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
        .args([
            "-F",
            "-l",
            "-d",
            "31",
            "--message-level",
            "0",
            "--config",
            conf_s,
        ])
        .arg(&input)
        .stdout(std::fs::File::create(&flat).unwrap())
        .status()
        .unwrap();
    assert!(fo.success());
    let flat_d = Dump::open(&flat).unwrap();
    assert_eq!(same_but_erased(&plain_d, &flat_d, &ranges), 2);
    assert_eq!(flat_d.eraseinfo().unwrap().unwrap(), ERASEINFO.as_bytes());

    // makedumpfile with the debug vmlinux, same input, flags and filter.
    let md = t.0.join("md.kdump");
    let mo = Command::new("makedumpfile")
        .args(["--config", conf_s, "-x"])
        .arg(&vmlinux)
        .args(["-l", "-d", "31"])
        .arg(&input)
        .arg(&md)
        .output()
        .expect("makedumpfile on PATH");
    assert!(
        md.exists(),
        "makedumpfile: {}",
        String::from_utf8_lossy(&mo.stderr)
    );
    let md_d = Dump::open(&md).unwrap();
    let md_plain_d = Dump::open(&md_plain).unwrap();
    // The same ranges and fills turn makedumpfile's unfiltered dump into its filtered one.
    assert_eq!(same_but_erased(&md_plain_d, &md_d, &ranges), 2);
    assert_eq!(md_d.eraseinfo().unwrap().unwrap(), ERASEINFO.as_bytes());
    // vmcore-info shows it.
    let info = Command::new(env!("CARGO_BIN_EXE_vmcore-info"))
        .arg(&ours)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("eraseinfo (2 lines):\n  erase linux_banner size 64\n  erase saved_command_line nullify\n"),
        "{text}"
    );
}

#[test]
fn a_missing_symbol_is_an_error_naming_the_line() {
    let input = fixture("dumps/x86_64-512M/qemu-fixed.elf");
    let t = Tmp::new("miss");
    let conf = t.0.join("f.conf");
    std::fs::write(&conf, "[vmlinux]\nerase no_such_symbol_here size 8\n").unwrap();
    let out = t.0.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
        .args(["-d", "31", "--config"])
        .arg(&conf)
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("f.conf:2: symbol no_such_symbol_here is not in the dump's kallsyms"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "no dump is written when the filter does not resolve"
    );
}

//! `vmcore-dmesg` and `vmcore-info` on synthetic dumps in every format, run as binaries.

use std::path::PathBuf;
use std::process::Command;

use vmcore_reader::synth::{SynthCodec, SynthKernel, SynthRecord, flatten};

fn kernel() -> SynthKernel {
    let recs: Vec<SynthRecord> = (0..20u64)
        .map(|i| SynthRecord {
            ts_nsec: i * 1_234_567_891,
            text: format!("line {i}: \x1b[1mbold\x1b[0m").into_bytes(),
            level: 4,
            state: 2,
        })
        .collect();
    SynthKernel::new(&recs, 5, 13)
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kdump-examples-vmcore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn run(bin: &str, args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn vmcore_dmesg_prints_the_same_log_from_every_format() {
    let k = kernel();
    let kd = k.kdump(SynthCodec::Zlib);
    let files = [
        write("dump.elf", &k.elf()),
        write("dump.kdump", &kd),
        write("dump.flat", &flatten(&kd, 8192)),
    ];
    let mut first = None;
    for f in &files {
        let (code, out, err) = run(env!("CARGO_BIN_EXE_vmcore-dmesg"), &[f.as_os_str()]);
        assert_eq!(code, 0, "{err}");
        assert!(err.is_empty());
        assert_eq!(out.lines().count(), 20);
        assert!(
            out.starts_with("[    0.000000] line 0: \\x1b[1mbold\\x1b[0m\n[    1.234567] line 1:"),
            "{out}"
        );
        match &first {
            None => first = Some(out),
            Some(f) => assert_eq!(&out, f),
        }
    }
}

#[test]
fn vmcore_dmesg_errors_name_the_problem() {
    let bad = write("bad.bin", &[0u8; 100]);
    let (code, out, err) = run(env!("CARGO_BIN_EXE_vmcore-dmesg"), &[bad.as_os_str()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("unknown dump format at offset 0"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let (code, _, _) = run(env!("CARGO_BIN_EXE_vmcore-dmesg"), &[]);
    assert_eq!(code, 2);
}

#[test]
fn vmcore_info_json_describes_the_dump() {
    let k = kernel();
    for (name, bytes, format) in [
        ("info.elf", k.elf(), "elf"),
        ("info.kdump", k.kdump(SynthCodec::Snappy), "kdump"),
        (
            "info.flat",
            flatten(&k.kdump(SynthCodec::Raw), 4096),
            "flattened-kdump",
        ),
    ] {
        let f = write(name, &bytes);
        let (code, out, err) = run(
            env!("CARGO_BIN_EXE_vmcore-info"),
            &[f.as_os_str(), "--json".as_ref()],
        );
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["format"], format);
        assert_eq!(v["arch"], "x86_64");
        assert_eq!(v["kernel_release"], "6.1.0-synthetic");
        assert_eq!(v["crash_time"], 1_700_000_000u64);
        assert_eq!(v["page_size"], 4096);
        assert_eq!(v["vmcoreinfo"]["SYMBOL(prb)"], "ffffffff81001000");
        let pages = &v["pages"];
        assert_eq!(
            pages["present"].as_u64().unwrap() + pages["zero"].as_u64().unwrap(),
            512
        );
        let (code, text, _) = run(env!("CARGO_BIN_EXE_vmcore-info"), &[f.as_os_str()]);
        assert_eq!(code, 0);
        assert!(text.contains("kernel_release   6.1.0-synthetic"), "{text}");
    }
}

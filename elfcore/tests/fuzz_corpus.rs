//! Replays the fuzz corpus and any crash artifacts through the fuzz target's body, so CI
//! covers them on stable. `ELFCOREHDR_BLESS=1` rewrites the generated seeds.

mod support;

use std::path::{Path, PathBuf};

use elfcorehdr::{Endian, NoteWriter, PrStatus, Registers, Target, fuzz};

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join("parse_core")
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, t) in support::named_targets() {
        out.push((
            format!("{name}-corehdr"),
            support::sample_crash_header(t).build().unwrap(),
        ));
        let dump = support::sample_dump(t).bytes;
        // Keep the headers and notes; the padding before the data adds nothing.
        let end = dump.len().min(1024);
        out.push((format!("{name}-dump"), dump[..end].to_vec()));
    }
    // A per-CPU crash_notes buffer as the kernel leaves it: one note, then zeros.
    let mut w = NoteWriter::new(Endian::Little);
    let p = PrStatus::new(Registers::zeroed(Target::x86_64().machine).unwrap());
    w.push(b"CORE", 1, &p.to_bytes(Endian::Little)).unwrap();
    let mut buf = w.into_bytes();
    buf.resize(buf.len() + 76, 0);
    out.push(("crash-notes-buffer".into(), buf));
    let mut w = NoteWriter::new(Endian::Little);
    w.push(
        b"QEMU",
        0,
        &elfcorehdr::QemuCpuState {
            version: 1,
            size: 440,
            ..Default::default()
        }
        .to_bytes(Endian::Little),
    )
    .unwrap();
    out.push(("qemu-note".into(), w.into_bytes()));
    out
}

#[test]
fn replay_corpus_and_artifacts() {
    if std::env::var_os("ELFCOREHDR_BLESS").is_some() {
        std::fs::create_dir_all(dir("corpus")).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(dir("corpus").join(name), bytes).unwrap();
        }
    }
    let mut replayed = 0;
    for kind in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(dir(kind)) else {
            assert_eq!(kind, "artifacts", "the fuzz corpus must exist");
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            fuzz::parse_all(&data);
            replayed += 1;
        }
    }
    // Every generated seed is in the corpus and still parses to something.
    for (name, bytes) in seeds() {
        let stored =
            std::fs::read(dir("corpus").join(&name)).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        assert_eq!(
            stored, bytes,
            "seed {name} is stale; rerun with ELFCOREHDR_BLESS=1"
        );
        assert!(
            fuzz::parse_all(&stored) > 0,
            "seed {name} parses to nothing"
        );
    }
    assert!(replayed >= seeds().len());
}

//! Replays the fuzz corpora and crash artifacts (`fuzz/corpus/<target>/`,
//! `fuzz/artifacts/<target>/`) through the fuzz targets' library functions, so stable CI
//! covers them. `VMCORE_READER_WRITE_SEEDS=1` rewrites the synthetic seed files.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: byte patterns keep the low bits on purpose"
)]

use std::path::Path;

use vmcore_reader::kdump::{ByteOrder, WordSize};
use vmcore_reader::synth::{KdumpBuilder, SynthCodec, elf_dump, flatten, vmcoreinfo_note};

type Target = fn(&[u8]) -> usize;

const TARGETS: [(&str, Target); 3] = [
    ("open_dump", vmcore_reader::fuzz::open_and_read),
    ("kdump_headers", vmcore_reader::fuzz::kdump_headers),
    ("flattened", vmcore_reader::fuzz::flattened),
];

#[test]
fn corpus_replays_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for dir in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for e in entries {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                target(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 12, "only {replayed} corpus files");
}

fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (order, ws, machine, codec)) in [
        (
            ByteOrder::Little,
            WordSize::Bits64,
            "x86_64",
            SynthCodec::Zlib,
        ),
        (ByteOrder::Big, WordSize::Bits64, "s390x", SynthCodec::Raw),
        (
            ByteOrder::Little,
            WordSize::Bits32Packed,
            "i686",
            SynthCodec::Snappy,
        ),
        (
            ByteOrder::Little,
            WordSize::Bits32Padded,
            "armv7l",
            SynthCodec::Zstd,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = KdumpBuilder::new(12);
        b.order = order;
        b.word_size = ws;
        b.machine = machine.into();
        b.codec = codec;
        b.shared_zero = true;
        b.vmcoreinfo = b"OSRELEASE=6.1.0\nPAGESIZE=4096\n".to_vec();
        for pfn in 0..8u64 {
            b.blocks.insert(
                pfn,
                Some((0..4096u32).map(|x| (x % 251) as u8 ^ pfn as u8).collect()),
            );
        }
        b.blocks.insert(8, Some(vec![0; 4096]));
        b.blocks.insert(9, None);
        let file = b.build();
        out.push(("kdump_headers", format!("seed-kdump-{i}"), file.clone()));
        out.push(("open_dump", format!("seed-kdump-{i}"), file.clone()));
        out.push((
            "flattened",
            format!("seed-flat-kdump-{i}"),
            flatten(&file, 1500),
        ));
    }
    let elf = elf_dump(
        elfcorehdr::Target::x86_64(),
        &[(0x1000, vec![7; 4096]), (0x3000, vec![9; 8192])],
        &vmcoreinfo_note(
            elfcorehdr::Endian::Little,
            "OSRELEASE=6.1.0\nPAGESIZE=4096\n",
        ),
    );
    out.push(("open_dump", "seed-elf".into(), elf.clone()));
    out.push(("flattened", "seed-flat-elf".into(), flatten(&elf, 600)));
    out
}

#[test]
fn seeds_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = std::env::var_os("VMCORE_READER_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds() {
        let p = root.join(target).join(&name);
        if write {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &data).unwrap();
        }
        let on_disk = std::fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (VMCORE_READER_WRITE_SEEDS=1 writes it)",
                p.display()
            )
        });
        assert!(
            on_disk == data,
            "{} is stale (VMCORE_READER_WRITE_SEEDS=1 rewrites it)",
            p.display()
        );
        // Every seed opens and reads: the targets start from valid inputs.
        let n = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1(&data);
        assert!(n > 1, "{target}/{name} does nothing");
    }
}

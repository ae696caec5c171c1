//! Random 4 KiB physical reads from each format. Synthetic dumps always; with
//! `KDUMP_FIXTURES` set, also the real dumps of its manifest (`cargo bench -p vmcore-reader`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vmcore_reader::synth::{SynthCodec, SynthKernel, SynthRecord, flatten};
use vmcore_reader::{Dump, PhysMemory};

fn addresses(dump: &Dump, n: usize) -> Vec<u64> {
    let ranges: Vec<(u64, u64)> = dump
        .present_ranges()
        .into_iter()
        .map(|(s, e)| (s.div_ceil(4096) * 4096, e / 4096 * 4096))
        .filter(|(s, e)| s < e)
        .collect();
    let total: u64 = ranges.iter().map(|(s, e)| (e - s) / 4096).sum();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .filter_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut k = x % total.max(1);
            for (s, e) in &ranges {
                let pages = (e - s) / 4096;
                if k < pages {
                    return Some(s + k * 4096);
                }
                k -= pages;
            }
            None
        })
        .collect()
}

fn bench_dump(c: &mut Criterion, name: &str, dump: &Dump) {
    let addrs = addresses(dump, 1024);
    let mut buf = vec![0u8; 4096];
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % addrs.len();
            let _ = black_box(dump.read_phys(addrs[i], &mut buf));
        })
    });
}

fn synthetic(c: &mut Criterion) {
    let recs: Vec<SynthRecord> = (0..64)
        .map(|i| SynthRecord {
            ts_nsec: i * 1000,
            text: format!("record {i}").into_bytes(),
            level: 6,
            state: 2,
        })
        .collect();
    let k = SynthKernel::new(&recs, 6, 14);
    let kdump = k.kdump(SynthCodec::Zlib);
    for (name, bytes) in [
        ("synthetic/elf", k.elf()),
        ("synthetic/kdump-raw", k.kdump(SynthCodec::Raw)),
        ("synthetic/kdump-zlib", kdump.clone()),
        ("synthetic/kdump-snappy", k.kdump(SynthCodec::Snappy)),
        ("synthetic/kdump-zstd", k.kdump(SynthCodec::Zstd)),
        ("synthetic/flattened-zlib", flatten(&kdump, 4096)),
    ] {
        let dump = Dump::from_bytes(bytes).expect("synthetic dump opens");
        bench_dump(c, name, &dump);
    }
}

fn fixtures(c: &mut Criterion) {
    let Some(root) = std::env::var_os("KDUMP_FIXTURES") else {
        return;
    };
    let root = std::path::PathBuf::from(root);
    let Ok(text) = std::fs::read_to_string(root.join("manifest.json")) else {
        return;
    };
    let Ok(m) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    for d in m["dumps"].as_array().into_iter().flatten() {
        for f in d["files"].as_array().into_iter().flatten() {
            let (Some(p), Some(kind)) = (f["path"].as_str(), f["kind"].as_str()) else {
                continue;
            };
            if let Ok(dump) = Dump::open(root.join(p)) {
                bench_dump(
                    c,
                    &format!("{}/{kind}", d["name"].as_str().unwrap_or("?")),
                    &dump,
                );
            }
        }
    }
}

criterion_group!(benches, synthetic, fixtures);
criterion_main!(benches);

//! The writer's per-page inner loops: the zero-page test, page compression per codec, and the
//! walk over the set bits of bitmap 2 that feeds the compression threads
//! (`cargo bench -p vmcore-writer --bench pages`).
//!
//! The compression corpus is real when `KDUMP_FIXTURES` points at the fixture cache: up to 4096
//! non-zero pages spread evenly over the `md-E` dump (makedumpfile `-E -d 31`, so exactly the
//! kind of page a `-d 31` capture compresses) of `x86_64-2G`, or of the first dump listed.
//! Without it, a deterministic synthetic mix of text-like, pointer-heavy, mostly-zero and
//! random pages.
#![allow(
    clippy::cast_possible_truncation,
    reason = "bench inputs: random bytes keep the low bits on purpose, and indices are below small constants"
)]
#![allow(
    clippy::print_stderr,
    reason = "the bench says which corpus it measured"
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vmcore_reader::{Dump, PhysMemory};
use vmcore_writer::bitmap;
use vmcore_writer::codec::is_zero;
use vmcore_writer::{Codec, PageCompressor};

const PAGE: usize = 4096;
const CORPUS_PAGES: usize = 4096;

/// A deterministic xorshift64 stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn zero_test(c: &mut Criterion) {
    let zero = vec![0u8; PAGE];
    let mut last = vec![0u8; PAGE];
    last[PAGE - 1] = 1;
    let mut first = vec![0u8; PAGE];
    first[0] = 1;
    let mut g = c.benchmark_group("is_zero");
    g.throughput(Throughput::Bytes(PAGE as u64));
    for (name, page) in [
        ("zero", &zero),
        ("nonzero-last-byte", &last),
        ("nonzero-first-byte", &first),
    ] {
        g.bench_function(name, |b| b.iter(|| is_zero(black_box(page))));
    }
    g.finish();
}

/// The manifest's `md-E` file of `x86_64-2G` (or of the first dump that has one).
fn fixture_dump(root: &std::path::Path) -> PathBuf {
    let manifest = root.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("KDUMP_FIXTURES: reading {}: {e}", manifest.display()));
    let m: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("KDUMP_FIXTURES: parsing {}: {e}", manifest.display()));
    let dumps = m["dumps"].as_array().cloned().unwrap_or_default();
    let md_e = |d: &serde_json::Value| {
        d["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["kind"] == "md-E")
            .and_then(|f| f["path"].as_str())
            .map(|p| root.join(p))
    };
    dumps
        .iter()
        .filter(|d| d["name"] == "x86_64-2G")
        .chain(dumps.iter())
        .find_map(md_e)
        .unwrap_or_else(|| panic!("KDUMP_FIXTURES: no md-E dump in {}", manifest.display()))
}

/// Up to `n` non-zero pages spread evenly over the present memory of `dump`.
fn real_pages(dump: &Dump, n: usize) -> Vec<Vec<u8>> {
    let ps = PAGE as u64;
    let ranges: Vec<(u64, u64)> = dump
        .present_ranges()
        .into_iter()
        .map(|(s, e)| (s.div_ceil(ps) * ps, e / ps * ps))
        .filter(|(s, e)| s < e)
        .collect();
    let total: u64 = ranges.iter().map(|(s, e)| (e - s) / ps).sum();
    let mut addrs = Vec::new();
    for (s, e) in &ranges {
        addrs.extend((*s..*e).step_by(PAGE));
    }
    // Every `stride`-th page, zero ones left out.
    let stride = (total / n as u64).max(1) as usize;
    let mut pages = Vec::with_capacity(n);
    let mut buf = vec![0u8; PAGE];
    for &pa in addrs.iter().step_by(stride) {
        if pages.len() == n {
            break;
        }
        if dump.read_phys(pa, &mut buf).is_ok() && !is_zero(&buf) {
            pages.push(buf.clone());
        }
    }
    pages
}

/// A deterministic mix: 40 % text-like, 30 % kernel-data-like (pointers, small integers,
/// zero padding), 20 % mostly zero, 10 % random.
fn synthetic_pages(n: usize) -> Vec<Vec<u8>> {
    const WORDS: &[&str] = &[
        "the", "kernel", "page", "memory", "task", "struct", "device", "0x", "error", "init",
        "return", "static", "void", "int", "if", "for", "\n", "    ", "=", ";", "{", "}", "(", ")",
        "systemd", "usr", "lib", "x86_64", "linux", "gnu", "so", "/",
    ];
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let mut p = vec![0u8; PAGE];
            match i % 10 {
                0..4 => {
                    let mut at = 0;
                    while at < PAGE {
                        let w = WORDS[r.below(WORDS.len() as u64) as usize].as_bytes();
                        let k = w.len().min(PAGE - at);
                        p[at..at + k].copy_from_slice(&w[..k]);
                        at += k;
                        if at < PAGE {
                            p[at] = b' ';
                            at += 1;
                        }
                    }
                }
                4..7 => {
                    for w in p.chunks_exact_mut(8) {
                        let v = match r.below(4) {
                            0 => 0,
                            1 => 0xffff_8880_0000_0000 | (r.below(1 << 31) & !7),
                            2 => 0xffff_ffff_8100_0000 | (r.below(1 << 24) & !7),
                            _ => r.below(4096),
                        };
                        w.copy_from_slice(&v.to_le_bytes());
                    }
                }
                7..9 => {
                    for _ in 0..8 {
                        let at = r.below((PAGE - 64) as u64) as usize;
                        for b in &mut p[at..at + 64] {
                            *b = r.next() as u8;
                        }
                    }
                }
                _ => {
                    for w in p.chunks_exact_mut(8) {
                        w.copy_from_slice(&r.next().to_le_bytes());
                    }
                }
            }
            p
        })
        .collect()
}

fn compression(c: &mut Criterion) {
    let (source, pages) = match std::env::var_os("KDUMP_FIXTURES") {
        Some(root) => {
            let path = fixture_dump(std::path::Path::new(&root));
            let dump = Dump::open(&path)
                .unwrap_or_else(|e| panic!("KDUMP_FIXTURES: opening {}: {e}", path.display()));
            let pages = real_pages(&dump, CORPUS_PAGES);
            assert!(
                !pages.is_empty(),
                "KDUMP_FIXTURES: no non-zero page in {}",
                path.display()
            );
            ("real", pages)
        }
        None => ("synthetic", synthetic_pages(CORPUS_PAGES)),
    };
    eprintln!("compression corpus: {} {source} pages", pages.len());
    let mut g = c.benchmark_group(format!("compress/{source}"));
    g.throughput(Throughput::Bytes(PAGE as u64));
    for codec in [Codec::Zlib, Codec::Lzo, Codec::Snappy, Codec::Zstd] {
        let mut pc = PageCompressor::new(codec, PAGE).expect("compressor");
        let (mut stored, mut compressed) = (0usize, 0usize);
        for p in &pages {
            let (bytes, flags) = pc.compress(p).expect("compress");
            stored += bytes.len();
            compressed += usize::from(flags != 0);
        }
        eprintln!(
            "{}: {} of {} pages stored compressed, {:.1} % of the input size",
            codec.name(),
            compressed,
            pages.len(),
            100.0 * stored as f64 / (pages.len() * PAGE) as f64
        );
        let mut i = 0;
        g.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
            b.iter(|| {
                i = (i + 1) % pages.len();
                let (bytes, flags) = pc.compress(black_box(&pages[i])).expect("compress");
                black_box((bytes.len(), flags))
            })
        });
    }
    g.finish();
}

/// A bitmap of `pfns` bits made of alternating clear and set runs, with run lengths uniform in
/// `1..=2 * mean` (`set_mean / (set_mean + clear_mean)` of the bits end up set).
fn runs_bitmap(pfns: u64, set_mean: u64, clear_mean: u64, seed: u64) -> Vec<u8> {
    let mut b = vec![0u8; pfns.div_ceil(8) as usize];
    let mut r = Rng(seed);
    let mut p = 0u64;
    while p < pfns {
        p += 1 + r.below(2 * clear_mean);
        let e = (p + 1 + r.below(2 * set_mean)).min(pfns);
        for i in p..e {
            b[(i >> 3) as usize] |= 1 << (i & 7);
        }
        p = e;
    }
    b
}

/// The walk capture's producer did before `bitmap::set_bits`: one bit test per pfn.
fn scan_per_bit(b: &[u8], n: u64, out: &mut Vec<u64>) {
    out.extend((0..n).filter(|&i| bitmap::bit(b, i)));
}

/// The producer's walk over bitmap 2 (`bitmap::set_bits`, a word at a time).
fn scan_per_word(b: &[u8], n: u64, out: &mut Vec<u64>) {
    out.extend(bitmap::set_bits(b, n));
}

fn bitmap_scan(c: &mut Criterion) {
    const PFNS: u64 = 1 << 20;
    // -d 0/1 on a mostly used machine: long present runs with small holes; -d 31: about 7 %
    // of pfns kept in short runs (the x86_64-2G fixture keeps ~33 k of 524 k pfns).
    let maps = [
        ("d1-90pct", runs_bitmap(PFNS, 900, 100, 1)),
        ("d31-7pct", runs_bitmap(PFNS, 8, 100, 2)),
    ];
    // A length that is not a whole number of words, for the per-word tail.
    let odd = runs_bitmap(1003, 5, 5, 3);
    let (mut a, mut w) = (Vec::new(), Vec::new());
    scan_per_bit(&odd, 1003, &mut a);
    scan_per_word(&odd, 1003, &mut w);
    assert_eq!(a, w, "the two scans disagree on a 1003-pfn bitmap");
    let mut g = c.benchmark_group("bitmap-scan");
    g.throughput(Throughput::Elements(PFNS));
    let mut out = Vec::with_capacity(PFNS as usize);
    for (name, b) in &maps {
        let (mut a, mut w) = (Vec::new(), Vec::new());
        scan_per_bit(b, PFNS, &mut a);
        scan_per_word(b, PFNS, &mut w);
        assert_eq!(a, w, "the two scans disagree on {name}");
        eprintln!("bitmap {name}: {} of {PFNS} pfns set", a.len());
        g.bench_function(BenchmarkId::new("per-bit", name), |bch| {
            bch.iter(|| {
                out.clear();
                scan_per_bit(black_box(b), PFNS, &mut out);
                out.len()
            })
        });
        g.bench_function(BenchmarkId::new("per-word", name), |bch| {
            bch.iter(|| {
                out.clear();
                scan_per_word(black_box(b), PFNS, &mut out);
                out.len()
            })
        });
        // Per cycle, for the statistics.
        g.bench_function(BenchmarkId::new("count-bits", name), |bch| {
            bch.iter(|| bitmap::count_bits(black_box(b)))
        });
    }
    g.finish();
}

criterion_group!(benches, zero_test, compression, bitmap_scan);
criterion_main!(benches);

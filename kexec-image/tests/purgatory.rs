//! The x86_64 purgatory: the committed binary is what its source assembles to, and the
//! source's SHA-256 and decision code, run for real on the host, agree with `sha2`.
//!
//! `purgatory/build.sh --test` assembles the same `x86_64.S` with `--defsym TEST=1` into a
//! static Linux executable (its protocol is described in the TEST block of the source):
//! it reads the parameter block [`kexec_image::purgatory::x86_64`] patched and the bytes
//! of the regions, runs the purgatory's entry, and reports the digest it computed and
//! either the refusal line it would write to COM1 or the `rsi` and jump target it would
//! enter the kernel with. GNU binutils is a build requirement of these tests (it is
//! installed wherever the workspace is tested): a missing `as` fails them.

#![allow(
    clippy::cast_possible_truncation,
    reason = "tests build small constants and offsets"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use kexec_image::purgatory::{
    self, DigestRegion, MAX_REGIONS, OFFSET_KERNEL_ENTRY, OFFSET_NR_REGIONS, PARAMS_END,
    PurgatoryParams, segments_digest,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Where the test executable maps the region bytes (TEST_DATA_BASE in x86_64.S).
const DATA_BASE: u64 = 0x2_0000_0000;
const MISMATCH: &[u8] = b"purgatory: sha256 digest mismatch\r\n";
const BAD_COUNT: &[u8] = b"purgatory: more than 16 digest regions\r\n";

fn purgatory_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("purgatory")
}

/// Runs build.sh into a fresh directory under Cargo's per-test temporary folder.
fn build(name: &str, test: bool) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("purgatory-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = Command::new("sh");
    cmd.arg(purgatory_dir().join("build.sh"));
    if test {
        cmd.arg("--test");
    }
    let result = cmd
        .arg(&out)
        .output()
        .expect("run sh purgatory/build.sh (GNU binutils is required)");
    assert!(
        result.status.success(),
        "build.sh failed ({}): {}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

fn test_executable() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build("test", true).join("x86_64-test"))
}

#[test]
fn committed_binary_is_what_the_source_assembles_to() {
    let out = build("bin", false);
    let fresh = std::fs::read(out.join("x86_64.bin")).unwrap();
    let committed = std::fs::read(purgatory_dir().join("x86_64.bin")).unwrap();
    assert!(
        fresh == committed,
        "purgatory/x86_64.bin is stale: run purgatory/build.sh and commit the result \
         ({} bytes fresh, {} committed)",
        fresh.len(),
        committed.len()
    );
    // And the crate embeds that file, unpatched outside the parameter block.
    let img = purgatory::x86_64(&PurgatoryParams {
        kernel_entry: 0,
        boot_params: 0,
        regions: vec![],
        digest: [0; 32],
    })
    .unwrap();
    assert_eq!(img.bytes, committed);
    std::fs::remove_dir_all(out).unwrap();
}

/// What one run of the test executable reported.
#[derive(Debug)]
struct Run {
    /// The digest the purgatory computed (whatever its bss held when it refused before
    /// hashing).
    digest: [u8; 32],
    /// The rest of stdout: the refusal line, or `rsi` and the jump target.
    rest: Vec<u8>,
    /// Exit status: 0 = would enter the kernel, 1 = refused.
    code: i32,
}

/// Runs the purgatory's code on `image` (a patched purgatory) with `data` mapped at
/// DATA_BASE.
fn run(image: &[u8], data: &[u8]) -> Run {
    let mut child = Command::new(test_executable())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = image[OFFSET_KERNEL_ENTRY..PARAMS_END].to_vec();
    input.extend_from_slice(&(data.len() as u64).to_le_bytes());
    input.extend_from_slice(data);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let Output { status, stdout, .. } = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let code = status.code().unwrap_or_else(|| panic!("killed: {status}"));
    assert!(code == 0 || code == 1, "harness failure, exit {code}");
    assert!(stdout.len() >= 32, "short output {stdout:02x?}");
    Run {
        digest: stdout[..32].try_into().unwrap(),
        rest: stdout[32..].to_vec(),
        code,
    }
}

/// `data` holds the regions' bytes at `(offset, len)`; returns the patched image for the
/// digest sha2 computes over them.
fn patched(data: &[u8], spans: &[(usize, usize)], kernel_entry: u64, boot_params: u64) -> Vec<u8> {
    let bufs: Vec<&[u8]> = spans.iter().map(|&(o, l)| &data[o..o + l]).collect();
    let params = PurgatoryParams {
        kernel_entry,
        boot_params,
        regions: spans
            .iter()
            .map(|&(o, l)| DigestRegion {
                start: DATA_BASE + o as u64,
                len: l as u64,
            })
            .collect(),
        digest: segments_digest(bufs),
    };
    purgatory::x86_64(&params).unwrap().bytes
}

fn sha256_of(data: &[u8], spans: &[(usize, usize)]) -> [u8; 32] {
    let mut h = Sha256::new();
    for &(o, l) in spans {
        h.update(&data[o..o + l]);
    }
    h.finalize().into()
}

/// Checks a matching run: the purgatory's digest is sha2's and it would enter the kernel
/// with the patched values.
fn assert_boots(data: &[u8], spans: &[(usize, usize)]) {
    let (entry, bp) = (0x1234_5678_9abc_0200, 0x0000_0008_7654_3000);
    let r = run(&patched(data, spans, entry, bp), data);
    assert_eq!(r.digest, sha256_of(data, spans), "spans {spans:?}");
    let mut expect = bp.to_le_bytes().to_vec();
    expect.extend_from_slice(&u64::to_le_bytes(entry));
    assert_eq!((r.code, r.rest), (0, expect), "spans {spans:?}");
}

fn hex(s: &str) -> [u8; 32] {
    core::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
}

/// FIPS 180-4 / NIST example vectors.
const VECTORS: &[(&[u8], &str)] = &[
    (
        b"",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        b"abc",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ),
];

#[test]
fn segments_digest_known_vectors() {
    for &(msg, want) in VECTORS {
        assert_eq!(segments_digest([msg]), hex(want));
        // The same message cut into pieces hashes the same: one message over all regions.
        let pieces: Vec<&[u8]> = msg.chunks(5).collect();
        assert_eq!(segments_digest(pieces), hex(want));
    }
    let million = vec![b'a'; 1_000_000];
    let want = hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_eq!(segments_digest([&million[..]]), want);
    assert_eq!(segments_digest(million.chunks(333)), want);
}

#[test]
fn purgatory_computes_the_known_vectors() {
    for &(msg, want) in VECTORS {
        let spans = [(0, msg.len())];
        let r = run(&patched(msg, &spans, 1, 2), msg);
        assert_eq!(r.digest, hex(want), "{msg:?}");
        assert_eq!(r.code, 0);
        // Split over three regions (the length in the padding is the total's).
        let n = msg.len();
        let spans = [(0, n / 3), (n / 3, n / 3), (2 * (n / 3), n - 2 * (n / 3))];
        let r = run(&patched(msg, &spans, 1, 2), msg);
        assert_eq!(r.digest, hex(want), "{msg:?} in 3 regions");
    }
    let million = vec![b'a'; 1_000_000];
    let spans = [(0, 1), (1, 499_999), (500_000, 500_000)];
    let r = run(&patched(&million, &spans, 1, 2), &million);
    assert_eq!(
        r.digest,
        hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    );
    assert_eq!(r.code, 0);
}

#[test]
fn purgatory_pads_at_every_block_boundary() {
    // Message lengths around the padding cases (55/56: the length fits or needs a block
    // of its own; 63/64/65: block edges), in one region and spread over 16.
    let data: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
    for len in [
        0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 447, 448, 512,
    ] {
        assert_boots(&data, &[(0, len)]);
        let mut spans = Vec::new();
        let mut at = 0;
        for i in 0..MAX_REGIONS {
            let l = if i + 1 == MAX_REGIONS {
                len - at
            } else {
                (len / MAX_REGIONS).min(len - at)
            };
            spans.push((at, l));
            at += l;
        }
        assert_boots(&data, &spans);
    }
}

#[test]
fn purgatory_refuses_a_corrupted_region() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i ^ (i >> 8)) as u8).collect();
    let spans = [(0, 4096), (5000, 100), (6000, 4000)];
    let image = patched(&data, &spans, 0x100_0000, 0x9_0000);
    assert_eq!(run(&image, &data).code, 0);
    for corrupt_at in [0, 4095, 5050, 9999] {
        let mut bad = data.clone();
        bad[corrupt_at] ^= 0x10;
        let r = run(&image, &bad);
        assert_eq!(r.digest, sha256_of(&bad, &spans));
        assert_eq!(
            (r.code, r.rest.as_slice()),
            (1, MISMATCH),
            "corrupted byte {corrupt_at}"
        );
    }
    // A byte outside every region is not hashed: not a mismatch.
    let mut outside = data.clone();
    outside[4500] ^= 0xff;
    assert_eq!(run(&image, &outside).code, 0);
    // A wrong digest in the parameter block is refused too.
    let mut wrong = image.clone();
    wrong[purgatory::OFFSET_DIGEST + 31] ^= 1;
    assert_eq!(run(&wrong, &data).rest, MISMATCH);
}

#[test]
fn purgatory_refuses_a_region_count_above_16() {
    // x86_64() never writes such a count; the purgatory checks it anyway.
    let mut image = patched(&[0; 64], &[(0, 64)], 1, 2);
    image[OFFSET_NR_REGIONS..OFFSET_NR_REGIONS + 8].copy_from_slice(&17u64.to_le_bytes());
    let r = run(&image, &[0; 64]);
    assert_eq!((r.code, r.rest.as_slice()), (1, BAD_COUNT));
}

#[test]
fn purgatory_hashes_a_large_region() {
    // Some megabytes, as a kernel or an initrd: whole blocks hashed in place.
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    assert_boots(&data, &[(1, data.len() - 1)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn segments_digest_is_sha256_of_the_concatenation(
        bufs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8),
    ) {
        let whole: Vec<u8> = bufs.concat();
        let want: [u8; 32] = Sha256::digest(&whole).into();
        prop_assert_eq!(segments_digest(bufs.iter().map(Vec::as_slice)), want);
    }

    #[test]
    fn purgatory_agrees_with_sha2(
        layout in proptest::collection::vec((0usize..64, 0usize..400), 0..=MAX_REGIONS),
        seed in any::<u64>(),
    ) {
        // Regions at increasing offsets with gaps; bytes from a simple generator.
        let mut spans = Vec::new();
        let mut at = 0;
        for &(gap, len) in &layout {
            at += gap;
            spans.push((at, len));
            at += len;
        }
        let mut x = seed | 1;
        let data: Vec<u8> = (0..at + 1)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let image = patched(&data, &spans, seed, !seed);
        let r = run(&image, &data);
        prop_assert_eq!(r.digest, sha256_of(&data, &spans));
        prop_assert_eq!(r.code, 0);
        let mut expect = (!seed).to_le_bytes().to_vec();
        expect.extend_from_slice(&seed.to_le_bytes());
        prop_assert_eq!(r.rest, expect);
    }
}

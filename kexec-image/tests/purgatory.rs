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

/// The real image (not the TEST build) run under QEMU by `purgatory/qemu-stub.S`, a
/// multiboot kernel that enters it the way relocate_kernel does. Behind `fixture-tests`,
/// whose environment has QEMU (the fixtures are made with it); there a missing
/// `qemu-system-x86_64` fails the test.
#[cfg(feature = "fixture-tests")]
mod qemu {
    use std::io::{Read, Write};
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use kexec_image::purgatory::{self, DigestRegion, PurgatoryImage, PurgatoryParams};

    /// Addresses fixed by qemu-stub.S.
    const PURGATORY_ADDR: u64 = 0x60_0000;
    const BLOB_ADDR: u64 = 0x80_0000;
    const FAKE_KERNEL: u64 = 0x10_1000;
    const BOOT_PARAMS: u64 = 0x0123_4000;
    /// isa-debug-exit with the value 0x10: the fake kernel was entered.
    const KERNEL_ENTERED: i32 = 0x21;
    /// A guard against a hang of the test itself, not a measurement.
    const GUARD: Duration = Duration::from_secs(300);

    fn blob() -> Vec<u8> {
        (0..20_000u32)
            .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
            .collect()
    }

    /// Two regions of the blob with a gap between them, and the image checking them.
    fn image(blob: &[u8]) -> PurgatoryImage {
        let (a, b) = ((0usize, 12_345usize), (13_000usize, 7_000usize));
        let params = PurgatoryParams {
            kernel_entry: FAKE_KERNEL,
            boot_params: BOOT_PARAMS,
            regions: [a, b]
                .iter()
                .map(|&(o, l)| DigestRegion {
                    start: BLOB_ADDR + o as u64,
                    len: l as u64,
                })
                .collect(),
            digest: purgatory::segments_digest([&blob[a.0..a.0 + a.1], &blob[b.0..b.0 + b.1]]),
        };
        purgatory::x86_64(&params).unwrap()
    }

    /// Builds the stub kernel around `image` and `blob` into `dir`.
    fn stub(dir: &Path, image: &PurgatoryImage, blob: &[u8]) -> std::path::PathBuf {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("purgatory.bin"), &image.bytes).unwrap();
        std::fs::write(dir.join("blob.bin"), blob).unwrap();
        let src = super::purgatory_dir().join("qemu-stub.S");
        let entry = format!("PURGATORY_ENTRY={:#x}", PURGATORY_ADDR + image.entry_offset);
        let (obj, elf, bin) = (
            dir.join("stub.o"),
            dir.join("stub.elf"),
            dir.join("stub.bin"),
        );
        let mut as_ = Command::new("as");
        as_.args(["--64", "-I"])
            .arg(dir)
            .args(["--defsym", &entry, "-o"]);
        as_.arg(&obj).arg(src);
        let mut ld = Command::new("ld");
        ld.args(["-N", "-Ttext=0x100000", "-e", "mb_start", "--build-id=none"]);
        ld.args(["--no-warn-rwx-segments", "-o"])
            .arg(&elf)
            .arg(&obj);
        let mut objcopy = Command::new("objcopy");
        objcopy.args(["-O", "binary"]).arg(&elf).arg(&bin);
        for mut cmd in [as_, ld, objcopy] {
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir.join("stub.bin")
    }

    /// A QEMU run: its monitor on stdin/stdout, the purgatory's COM1 in `serial`, the
    /// fake kernel's dump in `debugcon`.
    struct Qemu {
        child: std::process::Child,
        monitor_out: Arc<Mutex<Vec<u8>>>,
        serial: std::path::PathBuf,
        debugcon: std::path::PathBuf,
        started: Instant,
    }

    impl Qemu {
        fn start(dir: &Path, kernel: &Path) -> Qemu {
            let serial = dir.join("serial.txt");
            let debugcon = dir.join("debugcon.bin");
            let mut child = Command::new("qemu-system-x86_64")
                .args(["-M", "pc", "-m", "64", "-display", "none", "-no-reboot"])
                .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
                .args(["-monitor", "stdio", "-kernel"])
                .arg(kernel)
                .arg("-serial")
                .arg(format!("file:{}", serial.display()))
                .arg("-debugcon")
                .arg(format!("file:{}", debugcon.display()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("run qemu-system-x86_64");
            let monitor_out = Arc::new(Mutex::new(Vec::new()));
            let mut stdout = child.stdout.take().unwrap();
            let sink = Arc::clone(&monitor_out);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stdout.read(&mut buf) {
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
            Qemu {
                child,
                monitor_out,
                serial,
                debugcon,
                started: Instant::now(),
            }
        }

        fn guard(&mut self, what: &str) {
            if self.started.elapsed() > GUARD {
                let _ = self.child.kill();
                panic!("QEMU still running after {GUARD:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }

        fn serial(&self) -> Vec<u8> {
            std::fs::read(&self.serial).unwrap_or_default()
        }

        fn monitor(&mut self, cmd: &str) {
            let stdin = self.child.stdin.as_mut().unwrap();
            stdin.write_all(cmd.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
            stdin.flush().unwrap();
        }

        /// Waits for QEMU to exit; its exit status.
        fn wait(&mut self) -> i32 {
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status.code().unwrap_or(-1);
                }
                self.guard("QEMU to exit");
            }
        }
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }

    #[test]
    fn enters_the_kernel_by_the_64_bit_boot_protocol() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("purgatory-qemu-boot");
        let blob = blob();
        let image = image(&blob);
        let kernel = stub(&dir, &image, &blob);
        let mut qemu = Qemu::start(&dir, &kernel);
        let code = qemu.wait();
        assert_eq!(
            code,
            KERNEL_ENTERED,
            "serial: {:?}",
            String::from_utf8_lossy(&qemu.serial())
        );
        assert_eq!(qemu.serial(), b"", "the purgatory is silent on success");
        let dump = std::fs::read(&qemu.debugcon).unwrap();
        assert_eq!(dump.len(), 158, "{dump:02x?}");
        // rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15: all zero but rsi = boot_params.
        for (i, name) in [
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
            "r13", "r14", "r15",
        ]
        .iter()
        .enumerate()
        {
            let want = if *name == "rsi" { BOOT_PARAMS } else { 0 };
            assert_eq!(u64_at(&dump, 8 * i), want, "{name}");
        }
        assert_eq!(u64_at(&dump, 120), 0x2, "rflags: IF, DF and the rest clear");
        let rsp = u64_at(&dump, 128);
        let len = image.bytes.len() as u64;
        assert!(
            (PURGATORY_ADDR + len..=PURGATORY_ADDR + image.memsz).contains(&rsp),
            "rsp {rsp:#x} inside the purgatory's memsz, beyond its bytes"
        );
        let selectors: Vec<u16> = (0..6).map(|i| u16_at(&dump, 136 + 2 * i)).collect();
        assert_eq!(
            selectors,
            [0x10, 0x18, 0x18, 0x18, 0x18, 0x18],
            "cs ds es ss fs gs"
        );
        // The GDT the kernel sees is the purgatory's own, inside its image.
        let (limit, base) = (u16_at(&dump, 148), u64_at(&dump, 150));
        assert_eq!(limit, 31);
        assert!((PURGATORY_ADDR..PURGATORY_ADDR + len).contains(&base));
        let gdt = (base - PURGATORY_ADDR) as usize;
        assert_eq!(u64_at(&image.bytes, gdt + 0x10), 0x00af_9a00_0000_ffff);
        assert_eq!(u64_at(&image.bytes, gdt + 0x18), 0x00cf_9200_0000_ffff);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_a_corrupted_segment_on_com1_and_halts() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("purgatory-qemu-refuse");
        let mut blob = blob();
        let image = image(&blob);
        blob[19_999] ^= 0x01; // the last byte of the second region
        let kernel = stub(&dir, &image, &blob);
        let mut qemu = Qemu::start(&dir, &kernel);
        while !qemu
            .serial()
            .ends_with(b"purgatory: sha256 digest mismatch\r\n")
        {
            if let Some(status) = qemu.child.try_wait().unwrap() {
                panic!(
                    "QEMU exited ({status}) before the refusal; serial {:?}",
                    String::from_utf8_lossy(&qemu.serial())
                );
            }
            qemu.guard("the refusal on COM1");
        }
        // The CPU is halted inside the purgatory (asked until QEMU reports HLT=1).
        let rip = loop {
            qemu.monitor("info registers");
            std::thread::sleep(Duration::from_millis(100));
            let out = String::from_utf8_lossy(&qemu.monitor_out.lock().unwrap()).into_owned();
            let halted = out
                .lines()
                .rfind(|l| l.starts_with("RIP=") && l.contains("HLT=1"))
                .map(|l| u64::from_str_radix(&l[4..20], 16).unwrap());
            if let Some(rip) = halted {
                break rip;
            }
            qemu.guard("HLT=1 in info registers");
        };
        qemu.monitor("quit");
        qemu.wait();
        let len = image.bytes.len() as u64;
        assert!(
            (PURGATORY_ADDR..PURGATORY_ADDR + len).contains(&rip),
            "halted at {rip:#x}, outside the purgatory"
        );
        assert_eq!(
            std::fs::read(&qemu.debugcon).unwrap(),
            b"",
            "the kernel was entered"
        );
        assert_eq!(qemu.serial(), b"purgatory: sha256 digest mismatch\r\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! Every vector of `vectors.txt` through the library.

use crashkernel_param::{Arch, Failure, KernelVersion, Target, evaluate, memparse};

/// One line of `vectors.txt`.
struct Vector<'a> {
    line: usize,
    target: Target,
    ram: u64,
    cmdline: &'a str,
    expected: &'a str,
}

fn size(s: &str) -> u64 {
    let (v, n) = memparse(s.as_bytes());
    assert_eq!(n, s.len(), "bad size {s:?} in vectors.txt");
    v
}

fn vectors() -> Vec<Vector<'static>> {
    let text = include_str!("vectors.txt");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, " | ");
        let (head, cmdline, expected) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let mut head = head.split(' ');
        let arch: Arch = head.next().unwrap().parse().unwrap();
        let version = match head.next().unwrap() {
            "newest" => KernelVersion::NEWEST,
            v => v.parse().unwrap(),
        };
        let ram = size(head.next().unwrap());
        out.push(Vector {
            line: i + 1,
            target: Target::new(arch, version),
            ram,
            cmdline,
            expected,
        });
    }
    out
}

fn describe(r: &Result<crashkernel_param::Reservation, Failure>) -> String {
    match r {
        Ok(r) => {
            let mut s = format!("size={}", r.size);
            if let Some(b) = r.base {
                s += &format!(" base={b}");
            }
            if r.high {
                s += " high";
            }
            if let Some(l) = r.low_size {
                s += &format!(" low={l}");
            }
            if let Some(c) = r.cma_size {
                s += &format!(" cma={c}");
            }
            s
        }
        Err(Failure::Malformed(m)) => format!("error=malformed pos={}", m.pos),
        Err(f) => format!("error={}", f.kind()),
    }
}

/// The expected text with every size in bytes.
fn normalise(expected: &str) -> String {
    expected
        .split(' ')
        .map(|w| match w.split_once('=') {
            Some((k @ ("size" | "base" | "low" | "cma"), v)) => format!("{k}={}", size(v)),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_vector_evaluates_as_the_kernel_does() {
    let vectors = vectors();
    assert!(vectors.len() > 80, "the table lost lines");
    let mut failures = Vec::new();
    for v in &vectors {
        let got = describe(&evaluate(v.cmdline, v.ram, v.target));
        let want = normalise(v.expected);
        if got != want {
            failures.push(format!(
                "vectors.txt:{}: {} {} ram={} {:?}: got {got}, want {want}",
                v.line, v.target.arch, v.target.version, v.ram, v.cmdline
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn failures_read_as_sentences() {
    let t = Target::newest(Arch::X86_64);
    let e = evaluate("crashkernel=2G-1G:128M", 8 << 30, t).unwrap_err();
    assert_eq!(
        e.to_string(),
        "crashkernel= at byte 15: end <= start; the kernel reserves nothing"
    );
    let e = evaluate("quiet", 8 << 30, t).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no crashkernel= on the command line")
    );
    let e = evaluate("crashkernel=64M,low", 8 << 30, t).unwrap_err();
    assert_eq!(
        e.to_string(),
        "crashkernel=X,low alone reserves nothing: it needs crashkernel=Y,high or a plain crashkernel=Y"
    );
    let e = evaluate(
        "crashkernel=512M,high",
        8 << 30,
        Target::newest(Arch::S390x),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not supported on s390x"), "{e}");
}

#[test]
fn automatic_plain_reservations_say_what_a_high_fallback_adds() {
    let r = evaluate("crashkernel=256M", 8 << 30, Target::newest(Arch::X86_64)).unwrap();
    assert_eq!(r.low_if_placed_high, Some(256 << 20));
    let r = evaluate("crashkernel=256M", 8 << 30, Target::newest(Arch::Aarch64)).unwrap();
    assert_eq!(r.low_if_placed_high, Some(128 << 20));
    let r = evaluate(
        "crashkernel=256M",
        8 << 30,
        Target::new(Arch::Aarch64, KernelVersion::new(6, 1)),
    )
    .unwrap();
    assert_eq!(
        r.low_if_placed_high, None,
        "arm64 6.1 does not fall back above the DMA zone"
    );
    let r = evaluate("crashkernel=256M", 8 << 30, Target::newest(Arch::S390x)).unwrap();
    assert_eq!(r.low_if_placed_high, None);
}

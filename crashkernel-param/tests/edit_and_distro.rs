//! Editing as kdump-utils' `_crashkernel_add` does (its spec vectors,
//! `spec/kdump-lib_spec.sh`), and the distro tables.

use crashkernel_param::{Arch, CrashKernel, Distro, EditError, RecommendOptions, recommend};

const M: i64 = 1 << 20;

#[test]
fn deltas_match_kdump_utils() {
    for (value, delta, want) in [
        (
            "1G-4G:256M,4G-64G:320M,64G-:576M",
            100 * M,
            "1G-4G:356M,4G-64G:420M,64G-:676M",
        ),
        ("1G-4G:256M", 100, "1G-4G:268435556"),
        (
            "1G-4G:256M,4G-64G:320M,64G-:576M@4G",
            100 * M,
            "1G-4G:356M,4G-64G:420M,64G-:676M@4G",
        ),
        (
            "1G-4G:1G,4G-64G:2G,64G-:3G@4G",
            100 * M,
            "1G-4G:1124M,4G-64G:2148M,64G-:3172M@4G",
        ),
        (
            "1G-4G:10000K,4G-64G:20000K,64G-:40000K@4G",
            100 * M,
            "1G-4G:112400K,4G-64G:122400K,64G-:142400K@4G",
        ),
        ("1,high", 1, "2,high"),
        ("1K,low", 1, "1025,low"),
        ("128G-1T:4G", 0, "128G-1T:4G"),
        ("10T-100T:1T", 0, "10T-100T:1T"),
        ("128G-1P:4G", 0, "128G-1P:4G"),
        ("128G-1E:4G", 0, "128G-1E:4G"),
        ("1M@1G", 1024, "1025K@1G"),
        ("500M@1G", -100 * M, "400M@1G"),
        ("1099511627776", 0, "1T"),
    ] {
        let got = CrashKernel::parse(value)
            .unwrap()
            .with_delta(delta)
            .unwrap()
            .to_string();
        assert_eq!(got, want, "{value} + {delta}");
    }
}

#[test]
fn edits_refuse_negative_and_overflowing_sizes() {
    let ck = CrashKernel::parse("1G-4G:64M,4G-:512M").unwrap();
    assert_eq!(
        ck.with_delta(-128 * M),
        Err(EditError::Negative {
            size: 64 << 20,
            delta: -128 * M
        })
    );
    let ck = CrashKernel::parse("15E").unwrap();
    assert!(matches!(
        ck.with_delta(i64::MAX),
        Err(EditError::Overflow { .. })
    ));
}

#[test]
fn parse_keeps_what_the_kernel_ignores() {
    match CrashKernel::parse("crashkernel=256M@16Mxyz").unwrap() {
        CrashKernel::Simple {
            size,
            offset,
            ignored,
        } => {
            assert_eq!(
                (size, offset, ignored),
                (256 << 20, Some(16 << 20), Some("xyz"))
            );
        }
        other => panic!("{other:?}"),
    }
    match CrashKernel::parse("1G-4G:192Mjunk@16M").unwrap() {
        CrashKernel::Ranges {
            offset, ignored, ..
        } => assert_eq!((offset, ignored), (Some(16 << 20), Some("junk"))),
        other => panic!("{other:?}"),
    }
    let e = CrashKernel::parse("crashkernel=1G-4G:192M,oops").unwrap_err();
    assert_eq!(
        (e.pos, e.reason.to_string().as_str()),
        (23, "memory value expected")
    );
}

#[test]
fn rhel_and_debian_tables() {
    let none = RecommendOptions::default();
    let r = recommend(Distro::Rhel9, Arch::X86_64, none).unwrap();
    assert_eq!(r.value(), "1G-4G:192M,4G-64G:256M,64G-:512M");
    assert_eq!(r.reservation(16 << 30).unwrap().size, 256 << 20);
    let sev = RecommendOptions {
        sme_sev: true,
        ..none
    };
    assert_eq!(
        recommend(Distro::Rhel9, Arch::X86_64, sev).unwrap().value(),
        "1G-4G:256M,4G-64G:320M,64G-:576M"
    );
    let k64 = RecommendOptions {
        arm64_64k_pages: true,
        ..none
    };
    assert_eq!(
        recommend(Distro::Rhel9, Arch::Aarch64, k64)
            .unwrap()
            .value(),
        "1G-4G:356M,4G-64G:420M,64G-:676M",
        "kdump-utils 05c4861: 356M/420M/676M"
    );
    let r10 = recommend(Distro::Rhel10, Arch::X86_64, none).unwrap();
    assert_eq!(r10.value(), "2G-64G:256M,64G-:512M");
    assert_eq!(
        r10.reservation(1 << 30).unwrap_err().kind(),
        "no_match",
        "RHEL 10 reserves nothing under 2G"
    );
    assert_eq!(
        recommend(Distro::Debian, Arch::Arm, none).unwrap().value(),
        "384M-:128M"
    );
    assert_eq!("centos9".parse::<Distro>(), Ok(Distro::Rhel9));
    assert!(recommend(Distro::Rhel8, Arch::Riscv64, none).is_err());
    // SME/SEV does not change aarch64, 64K pages do not change x86_64.
    assert_eq!(
        recommend(Distro::Rhel10, Arch::Aarch64, sev).unwrap().delta,
        0
    );
    assert_eq!(
        recommend(Distro::Rhel10, Arch::X86_64, k64).unwrap().delta,
        0
    );
}

//! `kexec-load` on fake /proc and /sys trees (no syscall is made: every case
//! here ends before the kernel is asked), and on the real Debian kernels of
//! `cargo xtask fixtures` with `--features fixture-tests`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kexec-load"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A fake root with the recorded /proc/iomem of the x86_64 kdump fixture guest
/// (a 256M "Crash kernel" region) and the given sysfs values.
fn fake_root(name: &str, crash_loaded: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("kexec-load-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::create_dir_all(root.join("sys/kernel")).unwrap();
    let iomem = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kexec-image/tests/data/iomem-x86_64-kdump-1G.txt");
    std::fs::copy(iomem, root.join("proc/iomem")).unwrap();
    std::fs::write(
        root.join("proc/cmdline"),
        "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet crashkernel=256M\n",
    )
    .unwrap();
    std::fs::write(root.join("sys/kernel/kexec_crash_loaded"), crash_loaded).unwrap();
    std::fs::write(root.join("sys/kernel/kexec_loaded"), "0\n").unwrap();
    root
}

#[test]
fn print_ckr_size_reads_the_crash_region() {
    let root = fake_root("ckr", "0\n");
    let (code, out, _) = tool(&["--print-ckr-size", "--root", root.to_str().unwrap()]);
    assert_eq!((code, out.trim()), (0, "268435456"));
}

#[test]
fn status_is_the_exit_code_as_kexec_8_says() {
    // kexec(8): -S exits 1 when the crash kernel (with -l: the kexec kernel) is
    // loaded and 0 when not; without -l it looks at the crash kernel.
    let root = fake_root("status1", "1\n");
    let r = root.to_str().unwrap();
    assert_eq!(tool(&["-S", "-p", "--root", r]).0, 1);
    assert_eq!(
        tool(&["-S", "--root", r]).0,
        1,
        "the crash kernel is the default"
    );
    assert_eq!(
        tool(&["-S", "-l", "--root", r]).0,
        0,
        "no kexec (reboot) kernel"
    );
    let root = fake_root("status0", "0\n");
    assert_eq!(tool(&["-S", "-p", "--root", root.to_str().unwrap()]).0, 0);
}

#[test]
fn elf32_headers_need_the_classic_syscall() {
    let (code, _, err) = tool(&["-s", "-p", "--elf32-core-headers", "/nonexistent"]);
    assert_eq!(code, 2);
    assert!(err.contains("ELF64") && err.contains("-c"), "{err}");
    let (code, _, _) = tool(&[
        "-c",
        "-p",
        "--elf32-core-headers",
        "--elf64-core-headers",
        "k",
    ]);
    assert_eq!(code, 2);
    assert_eq!(tool(&["-c", "-p", "--mem-min", "zz", "k"]).0, 2);
}

/// The sysfs files the classic plan reads: two CPUs' crash notes and VMCOREINFO.
fn classic_root(name: &str) -> PathBuf {
    let root = fake_root(name, "0\n");
    for (cpu, addr) in [(0, "3fc18000"), (1, "3fd18000")] {
        let d = root.join(format!("sys/devices/system/cpu/cpu{cpu}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("crash_notes"), format!("{addr}\n")).unwrap();
        std::fs::write(d.join("crash_notes_size"), "432\n").unwrap();
    }
    std::fs::write(root.join("sys/kernel/vmcoreinfo"), "0x2a700000 1000\n").unwrap();
    root
}

/// A synthetic 64-bit bzImage (protocol 2.15, 2 MiB alignment, 32 MiB init_size).
fn bzimage(dir: &Path) -> PathBuf {
    let mut img = vec![0u8; 0xa00 + 0x1000];
    img[0x1f1] = 4;
    img[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
    img[0x201] = 0x6a;
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    img[0x211] = 1;
    img[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    img[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
    img[0x234] = 1;
    img[0x236..0x238].copy_from_slice(&3u16.to_le_bytes());
    img[0x238..0x23c].copy_from_slice(&2047u32.to_le_bytes());
    img[0x260..0x264].copy_from_slice(&0x200_0000u32.to_le_bytes());
    let p = dir.join("bzImage");
    std::fs::write(&p, img).unwrap();
    p
}

#[test]
fn classic_dry_run_prints_the_segment_table() {
    let root = classic_root("classic");
    let k = bzimage(&root);
    let (code, out, err) = tool(&[
        "-c",
        "-p",
        "--dry-run",
        "--root",
        root.to_str().unwrap(),
        "--append",
        "console=ttyS0",
        k.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("with kexec_load (KEXEC_ARCH_X86_64)"), "{out}");
    for what in ["kernel", "elfcorehdr", "boot_params+cmdline", "purgatory"] {
        assert!(
            out.lines().any(|l| l.ends_with(what)),
            "no {what} segment:\n{out}"
        );
    }
    assert!(
        out.contains("  0x000000002e000000  "),
        "kernel at the crash region's start:\n{out}"
    );
    assert!(out.contains("command line: elfcorehdr="), "{out}");
    assert!(out.contains("PT_LOAD paddr=0x100000 "), "{out}");
    assert_eq!(out.matches("PT_NOTE").count(), 3, "{out}");
    // --mem-min past the region leaves no room.
    let (code, _, err) = tool(&[
        "-c",
        "-p",
        "--dry-run",
        "--mem-min",
        "0x3d000000",
        "--root",
        root.to_str().unwrap(),
        k.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("kernel") && err.contains("do not fit"),
        "{err}"
    );
    // ELF32 headers on request.
    let (code, out, err) = tool(&[
        "-c",
        "-p",
        "--dry-run",
        "--elf32-core-headers",
        "--root",
        root.to_str().unwrap(),
        k.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Elf32"), "{out}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(tool(&[]).0, 2);
    assert_eq!(tool(&["-p", "-l", "k"]).0, 2);
    assert_eq!(tool(&["-s", "-c", "-p", "k"]).0, 2);
    let (code, _, err) = tool(&["--bogus"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn missing_kernel_file_names_the_path() {
    let root = fake_root("missing", "0\n");
    let (code, _, err) = tool(&[
        "-p",
        "--dry-run",
        "--root",
        root.to_str().unwrap(),
        "/nonexistent/vmlinuz",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/vmlinuz"), "{err}");
}

#[cfg(feature = "fixture-tests")]
mod fixtures {
    use super::*;

    fn kernel(debian_arch: &str) -> PathBuf {
        let dir = PathBuf::from(
            std::env::var("KDUMP_FIXTURES").expect("KDUMP_FIXTURES must name the fixture folder"),
        );
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json")).expect("manifest.json"),
        )
        .unwrap();
        let k = manifest["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["debian_arch"] == debian_arch)
            .unwrap_or_else(|| panic!("no {debian_arch} kernel in the manifest"));
        let path = dir.join(k["image"].as_str().unwrap());
        assert!(path.is_file(), "{} is missing", path.display());
        path
    }

    #[test]
    fn info_names_format_and_arch_of_real_kernels() {
        for (arch, format, name) in [
            ("amd64", "bzImage", "x86_64"),
            ("i386", "bzImage", "x86"),
            ("arm64", "arm64-Image", "aarch64"),
            ("s390x", "s390-image", "s390x"),
            ("ppc64el", "elf", "powerpc64"),
        ] {
            let path = kernel(arch);
            let (code, out, err) = tool(&["--info", path.to_str().unwrap(), "--json"]);
            assert_eq!(code, 0, "{err}");
            let json: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(json["format"], format, "{arch}: {json}");
            assert_eq!(json["arch"], name, "{arch}: {json}");
        }
    }

    #[test]
    fn dry_run_plans_the_debian_kernel_into_the_crash_region() {
        let root = fake_root("dry", "0\n");
        let k = kernel("amd64");
        let (code, out, err) = tool(&[
            "-p",
            "--dry-run",
            "--reuse-cmdline",
            "--append",
            "irqpoll nr_cpus=1",
            "--root",
            root.to_str().unwrap(),
            k.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("command line: root=/dev/vda1 ro quiet irqpoll nr_cpus=1"),
            "{out}"
        );
        assert!(out.contains("crash region: 0x2e000000-0x3dffffff"), "{out}");
        assert!(!out.contains("FAIL"), "{out}");
    }
}

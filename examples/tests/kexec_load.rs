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
fn status_is_the_exit_code() {
    let root = fake_root("status1", "1\n");
    assert_eq!(tool(&["-S", "-p", "--root", root.to_str().unwrap()]).0, 0);
    assert_eq!(
        tool(&["-S", "--root", root.to_str().unwrap()]).0,
        1,
        "no kexec (reboot) kernel"
    );
    let root = fake_root("status0", "0\n");
    assert_eq!(tool(&["-S", "-p", "--root", root.to_str().unwrap()]).0, 1);
}

#[test]
fn the_classic_syscall_is_refused_plainly() {
    let (code, _, err) = tool(&["-c", "-p", "/nonexistent"]);
    assert_eq!(code, 1);
    assert!(err.contains("classic kexec_load syscall (-c)"), "{err}");
    let (code, _, err) = tool(&["-p", "--elf32-core-headers", "/nonexistent"]);
    assert_eq!(code, 1);
    assert!(err.contains("ELF32"), "{err}");
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

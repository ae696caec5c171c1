//! End-to-end runs in QEMU guests with our own tools, built static and
//! packed into busybox initramfs images with `xtask/guest/e2e-init.sh` as
//! PID 1:
//!
//! - `cargo xtask guest-kexec`: `kexec-load` arms kdump inside a guest
//!   (status, load, unload, load again), sysrq-c crashes it, and the capture
//!   kernel our loader placed must boot and see `/proc/vmcore`.
//! - `cargo xtask e2e` and `cargo xtask demo`: the whole job, see [`cycle`].
//!
//! Every step is timed and printed; a failing wait prints the serial tail.
//! The guests use the Debian amd64 kernel of the fixture cache, so each
//! command makes (or reuses) the fixtures first.

mod crash;
mod cycle;
mod kexec;

use crate::cmd::{cargo, workspace_root};
use crate::fixtures::guest::{Cpio, Vm};
use crate::fixtures::manifest::{KernelEntry, Manifest, read_json};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// PID 1 of every e2e guest.
pub const INIT: &str = include_str!("../guest/e2e-init.sh");

/// The prefix of every line the guest init prints for the host.
pub const SAY: &str = "KDUMP-RS-E2E: ";

/// The Rust target of the static guest tools.
const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Step timings, printed as each step ends and as a table at the end.
#[derive(Debug)]
pub struct Steps {
    label: String,
    steps: Vec<(String, f64)>,
    started: Instant,
}

impl Steps {
    pub fn new(label: &str) -> Steps {
        Steps {
            label: label.to_string(),
            steps: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Runs `f` as step `name` and records how long it took.
    pub fn time<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("\n{}: == {name} ==", self.label);
        let t = Instant::now();
        let r = f().with_context(|| format!("{} step {name:?}", self.label));
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{}: {name}: {} after {secs:.1} s",
            self.label,
            if r.is_ok() { "done" } else { "FAILED" }
        );
        self.steps.push((name.to_string(), secs));
        r
    }

    pub fn print(&self) {
        eprintln!("\n{}: timings", self.label);
        for (name, secs) in &self.steps {
            eprintln!("  {name:<58} {secs:>7.1} s");
        }
        eprintln!(
            "  {:<58} {:>7.1} s",
            "total",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Builds `bins` of kdump-examples as static x86_64 executables (glibc with
/// `+crt-static`) in their own target folder, `<target>/static-tools`, so the
/// flags never invalidate the ordinary builds. Returns the folder holding
/// the binaries.
pub fn static_tools(bins: &[&str]) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let target = if target.is_absolute() {
        target
    } else {
        workspace_root().join(target)
    };
    let dir = target.join("static-tools");
    let mut c = cargo();
    c.args(["build", "--release", "-p", "kdump-examples", "--target"])
        .arg(STATIC_TARGET)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &dir);
    for b in bins {
        c.args(["--bin", b]);
    }
    crate::cmd::run(&mut c)?;
    let out = dir.join(STATIC_TARGET).join("release");
    for b in bins {
        let bin = out.join(b);
        if has_interpreter(&std::fs::read(&bin).with_context(|| format!("{}", bin.display()))?)? {
            bail!("{} is dynamically linked (it has PT_INTERP)", bin.display());
        }
    }
    Ok(out)
}

/// Whether an ELF64 little-endian executable names a program interpreter
/// (`PT_INTERP`, type 3, in the program headers of the System V gABI): a
/// static executable has none.
fn has_interpreter(elf: &[u8]) -> Result<bool> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        bail!("not an ELF64 little-endian file");
    }
    let u16_at = |o: usize| usize::from(u16::from_le_bytes([elf[o], elf[o + 1]]));
    let phoff = u64::from_le_bytes(elf[32..40].try_into().expect("8 bytes"));
    let phoff = usize::try_from(phoff)?;
    let (entsize, num) = (u16_at(54), u16_at(56));
    for i in 0..num {
        let at = phoff
            .checked_add(i.checked_mul(entsize).context("phdr offset")?)
            .context("phdr offset")?;
        let ty = elf
            .get(at..at + 4)
            .with_context(|| format!("program header {i} at {at} is past the end"))?;
        if ty == 3u32.to_le_bytes() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The amd64 kernel of the fixture cache (made or reused first).
pub fn fixture_kernel() -> Result<(PathBuf, KernelEntry)> {
    let cache = crate::fixtures::ensure()?;
    let manifest: Manifest = read_json(&cache.join("manifest.json"))
        .context("manifest.json missing or unreadable after making the fixtures")?;
    let kernel = manifest
        .kernels
        .into_iter()
        .find(|k| k.debian_arch == "amd64")
        .context("the manifest has no amd64 kernel")?;
    Ok((cache, kernel))
}

/// A busybox initramfs around [`INIT`]: `/dev/console`, `/bin/busybox`,
/// each `(name, path)` of `tools` at `/bin/<name>`, and the given modules
/// in load order (`/modules.order`, loaded by the init's `load_modules`).
pub fn initramfs(tools: &[(&str, &Path)], modules: &[(String, Vec<u8>)]) -> Result<Cpio> {
    let mut c = Cpio::default();
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "mnt", "boot"] {
        c.dir(d);
    }
    c.chardev("dev/console", 5, 1);
    c.file("init", INIT.as_bytes(), 0o755);
    c.file("bin/busybox", &std::fs::read("/bin/busybox")?, 0o755);
    for (name, path) in tools {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        c.file(&format!("bin/{name}"), &bytes, 0o755);
    }
    if !modules.is_empty() {
        let mut order = String::new();
        for (name, bytes) in modules {
            c.file(&format!("lib/modules/{name}.ko"), bytes, 0o644);
            order.push_str(&format!("{name}.ko\n"));
        }
        c.file("modules.order", order.as_bytes(), 0o644);
    }
    Ok(c)
}

/// The QEMU arguments of an x86_64 guest (`-M pc`, no display, serial
/// console handled by [`Vm`]).
pub fn x86_args(
    cache: &Path,
    image: &Path,
    initrd: &Path,
    ram_mib: u64,
    cpus: u32,
    append: &str,
) -> Vec<String> {
    let accel = crate::fixtures::guest::x86_accel(image, &cache.join("tools"));
    vec![
        "-accel".into(),
        accel.into(),
        "-M".into(),
        "pc".into(),
        "-m".into(),
        format!("{ram_mib}M"),
        "-smp".into(),
        cpus.to_string(),
        "-kernel".into(),
        image.display().to_string(),
        "-initrd".into(),
        initrd.display().to_string(),
        "-append".into(),
        append.to_string(),
    ]
}

/// Waits for `needle` on the console and returns the line.
pub fn wait(vm: &mut Vm, needle: &str, secs: u64) -> Result<String> {
    vm.wait_for(needle, Duration::from_secs(secs))
}

/// The lines of `console` after the `n`th (0-based) one containing `from`.
pub fn lines_after<'a>(console: &'a str, from: &str, n: usize) -> Vec<&'a str> {
    let mut seen = 0;
    let mut out = Vec::new();
    let mut on = false;
    for l in console.lines() {
        if on {
            out.push(l);
        } else if l.contains(from) {
            if seen == n {
                on = true;
                out.push(l);
            }
            seen += 1;
        }
    }
    out
}

/// One e2e run at a time per fixture folder (`<cache>/e2e/.lock`), timed
/// as a step since another run (e.g. a concurrent `cargo xtask ci`) may
/// hold it for minutes.
pub fn lock(steps: &mut Steps, cache: &Path) -> Result<crate::fixtures::CacheLock> {
    steps.time("wait for the e2e lock", || {
        crate::fixtures::CacheLock::acquire(&cache.join("e2e"))
    })
}

/// A work folder under `<cache>/e2e/<name>`, emptied.
pub fn work_dir(cache: &Path, name: &str) -> Result<PathBuf> {
    let dir = cache.join("e2e").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// What `cargo xtask ci` runs after the fixtures: the guest kexec test,
/// then the crash-and-capture cycles.
pub fn ci() -> Result<()> {
    kexec::run(&[])?;
    cycle::run_e2e(&[])
}

pub fn run_e2e(args: &[String]) -> Result<()> {
    cycle::run_e2e(args)
}

pub fn run_demo(args: &[String]) -> Result<()> {
    cycle::run_demo(args)
}

pub fn run_guest_kexec(args: &[String]) -> Result<()> {
    kexec::run(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_found_only_when_present() {
        // ELF64 LE header with two program headers at 64: PT_LOAD, then
        // PT_INTERP or PT_NOTE.
        let make = |second: u32| {
            let mut b = vec![0u8; 64 + 2 * 56];
            b[..6].copy_from_slice(b"\x7fELF\x02\x01");
            b[32..40].copy_from_slice(&64u64.to_le_bytes());
            b[54..56].copy_from_slice(&56u16.to_le_bytes());
            b[56..58].copy_from_slice(&2u16.to_le_bytes());
            b[64..68].copy_from_slice(&1u32.to_le_bytes());
            b[120..124].copy_from_slice(&second.to_le_bytes());
            b
        };
        assert!(has_interpreter(&make(3)).unwrap());
        assert!(!has_interpreter(&make(4)).unwrap());
        let mut short = make(3);
        short.truncate(100);
        assert!(has_interpreter(&short).is_err());
        assert!(has_interpreter(b"not an elf").is_err());
    }

    #[test]
    fn lines_after_the_nth_match() {
        let c = "a\nLinux version 1\nb\nLinux version 2\nc\n";
        assert_eq!(lines_after(c, "Linux version", 1), ["Linux version 2", "c"]);
        assert_eq!(lines_after(c, "Linux version", 0).len(), 4);
        assert!(lines_after(c, "Linux version", 2).is_empty());
    }
}

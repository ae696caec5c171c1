//! The crash utility as an oracle: Debian's `crash` with the kernel's
//! `-dbg` vmlinux opens a dump we captured and runs `log` and `bt` on it.
//!
//! The vmlinux comes from `linux-image-<release>-dbg` (about 860 MB as a
//! package, 630 MB unpacked), fetched once with `apt-get download` through
//! the fixture kernel's own apt root and kept in `<cache>/dbg/<release>/`.

use crate::fixtures::apt::AptRoot;
use crate::fixtures::manifest::KernelEntry;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The debug vmlinux of `kernel`, fetched and unpacked on first use.
pub fn debug_vmlinux(cache: &Path, kernel: &KernelEntry) -> Result<PathBuf> {
    let dir = cache.join("dbg").join(&kernel.release);
    let vmlinux = dir.join(format!("vmlinux-{}", kernel.release));
    if std::fs::metadata(&vmlinux).is_ok_and(|m| m.len() > 0) {
        return Ok(vmlinux);
    }
    let root = AptRoot::new(cache, &kernel.suite, &kernel.debian_arch)?;
    let package = format!("{}-dbg", kernel.package);
    let deb_dir = dir.join("deb");
    let deb = match root.download(&package, &kernel.version, &deb_dir) {
        Ok(deb) => deb,
        Err(_) => {
            // The lists may be older than the cached kernel's: refresh once.
            root.update()?;
            root.download(&package, &kernel.version, &deb_dir)?
        }
    };
    let member = format!("./usr/lib/debug/boot/vmlinux-{}", kernel.release);
    let unpack = dir.join("unpack");
    std::fs::create_dir_all(&unpack)?;
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' '{member}'",
        deb.display(),
        unpack.display()
    );
    crate::cmd::run(Command::new("sh").arg("-c").arg(script))?;
    std::fs::rename(unpack.join(&member), &vmlinux)
        .with_context(|| format!("{member} is not in {}", deb.display()))?;
    std::fs::remove_dir_all(&unpack)?;
    std::fs::remove_dir_all(&deb_dir)?;
    Ok(vmlinux)
}

/// Runs `crash -s VMLINUX DUMP` with `log`, `bt` and `exit` on its stdin and
/// checks that the log shows the sysrq panic and the backtrace the panicking
/// task in `sysrq_handle_crash`. Returns the proof lines.
pub fn log_and_bt(vmlinux: &Path, dump: &Path) -> Result<Vec<String>> {
    let mut child = Command::new("crash")
        .arg("-s")
        .arg(vmlinux)
        .arg(dump)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start crash (Debian package crash)")?;
    child
        .stdin
        .take()
        .context("crash stdin")?
        .write_all(b"log\nbt\nexit\n")?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let tail = || {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!(
            "{}\n{}",
            lines[start..].join("\n"),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    for want in [
        "sysrq: Trigger a crash",
        "Kernel panic - not syncing",
        "sysrq_handle_crash",
    ] {
        if !text.contains(want) {
            bail!(
                "crash log/bt on {} lacks {want:?}:\n{}",
                dump.display(),
                tail()
            );
        }
    }
    let task = text
        .lines()
        .find(|l| l.starts_with("PID:") && l.contains("COMMAND:"))
        .with_context(|| format!("crash bt printed no task line:\n{}", tail()))?;
    let frame = text
        .lines()
        .find(|l| l.contains("sysrq_handle_crash at"))
        .with_context(|| format!("crash bt has no sysrq_handle_crash frame:\n{}", tail()))?;
    Ok(vec![
        format!("crash bt: {}", task.trim()),
        format!("crash bt: {}", frame.trim()),
    ])
}

//! `cargo xtask msrv`: builds and tests the published crates with Debian
//! stable's own `rustc` and `cargo`, offline from a `cargo vendor` tree, as a
//! distribution's package build would.
//!
//! The toolchain lives in a Debian 13 (trixie) chroot made with mmdebstrap in
//! the fixture cache (`<cache>/msrv/trixie/`, about 1 GB, made once; trixie's
//! rustc is 1.85.1, the workspace's `rust-version`). Each run copies the
//! tracked files of the workspace and a fresh vendor tree into it, then runs
//! `cargo test --offline --locked` for every published crate inside a private
//! mount namespace (`unshare -m`), so `/proc` and `/dev` mounted for the
//! tests go away with the run. The chroot's target folder is kept between
//! runs, so a warm run rebuilds only what changed.

use crate::cmd::{cargo, run, workspace_root};
use crate::fixtures::apt::{MIRROR, SECURITY};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// The Debian release whose rustc the MSRV follows, and what the chroot needs
/// besides the toolchain (`gcc` and `libc6-dev` for the `-sys` crates that
/// build C, binutils for the purgatory's reassembly test).
const SUITE: &str = "trixie";
const CHROOT_PACKAGES: &str = "ca-certificates,rustc,cargo,gcc,libc6-dev,binutils";

/// The crates a distribution packages: everything but xtask.
const PUBLISHED: &[&str] = &[
    "crashkernel-param",
    "elfcorehdr",
    "kexec-sys",
    "kexec-image",
    "vmcore-reader",
    "vmcore-writer",
    "vmcore-introspect",
    "kdump-examples",
];

pub fn run_msrv(_args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    let cache = crate::fixtures::cache_dir()?;
    let base = cache.join("msrv");
    std::fs::create_dir_all(&base)?;
    let root = base.join(SUITE);
    ensure_chroot(&base, &root)?;

    let rustc = chroot_output(&root, &["rustc", "--version"])?;
    let cargo_v = chroot_output(&root, &["cargo", "--version"])?;
    let declared = workspace_rust_version()?;
    eprintln!("msrv: {SUITE} chroot has {rustc}, {cargo_v}; the workspace declares {declared}");
    if !rustc.starts_with(&format!("rustc {declared}")) {
        bail!(
            "Debian {SUITE}'s {rustc} is not the declared rust-version {declared}: \
             update rust-version in Cargo.toml (and the CHANGELOGs) or this step"
        );
    }

    copy_sources(&root.join("src"))?;
    let vendor = root.join("vendor");
    if vendor.exists() {
        std::fs::remove_dir_all(&vendor)?;
    }
    run(cargo()
        .current_dir(workspace_root())
        .args(["vendor", "--locked", "--versioned-dirs", "--quiet"])
        .arg(&vendor)
        .stdout(std::process::Stdio::null()))?;
    let cargo_home = root.join("cargo-home");
    std::fs::create_dir_all(&cargo_home)?;
    std::fs::write(
        cargo_home.join("config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\
         [source.vendored-sources]\ndirectory = \"/vendor\"\n\
         [net]\noffline = true\n",
    )?;

    let mut test = String::from(
        "mount -t proc proc \"$R/proc\" && mount --rbind /dev \"$R/dev\" && \
         exec chroot \"$R\" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root \
         CARGO_HOME=/cargo-home CARGO_TARGET_DIR=/target \
         sh -c 'cd /src && cargo test --offline --locked --no-fail-fast",
    );
    for p in PUBLISHED {
        test.push_str(" -p ");
        test.push_str(p);
    }
    test.push('\'');
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &test])
        .env("R", &root);
    let (ok, out) = crate::cmd::run_capture(&mut cmd)?;
    let (passed, failed) = crate::ci::count_results(&out);
    eprintln!(
        "msrv: {rustc}: {passed} passed, {failed} failed in {} crates, {:.0} s",
        PUBLISHED.len(),
        started.elapsed().as_secs_f64()
    );
    if !ok || failed > 0 {
        bail!("the crates do not build or pass their tests with Debian {SUITE}'s {rustc}");
    }
    if passed == 0 {
        bail!("no test ran under Debian {SUITE}'s {rustc}");
    }
    Ok(())
}

/// Makes the chroot once; `.ready` marks a finished one, so an interrupted
/// mmdebstrap is redone rather than used.
fn ensure_chroot(base: &Path, root: &Path) -> Result<()> {
    let ready = root.join(".ready");
    if ready.exists() {
        return Ok(());
    }
    crate::fixtures::host::ensure_package(
        "mmdebstrap",
        "the Debian 13 chroot of `cargo xtask msrv`",
    )?;
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let list = base.join(format!("{SUITE}.list"));
    std::fs::write(
        &list,
        format!(
            "deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\n\
             deb {SECURITY} {SUITE}-security main\n"
        ),
    )?;
    run(Command::new("mmdebstrap")
        .args(["--mode=root", "--variant=apt", "--quiet"])
        .arg(format!("--include={CHROOT_PACKAGES}"))
        .arg("--aptopt=Acquire::Check-Valid-Until \"false\"")
        .arg(SUITE)
        .arg(root)
        .arg(&list))?;
    for dir in ["src", "vendor", "target", "cargo-home"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    std::fs::write(&ready, "")?;
    Ok(())
}

fn chroot_output(root: &Path, argv: &[&str]) -> Result<String> {
    let out = Command::new("chroot")
        .arg(root)
        .args(argv)
        .output()
        .with_context(|| format!("chroot {} {argv:?}", root.display()))?;
    if !out.status.success() {
        bail!(
            "chroot {} {argv:?}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The tracked files of the working tree (as they are on disk, so a local
/// change is tested too), replacing the previous copy.
fn copy_sources(dest: &Path) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)?;
    }
    std::fs::create_dir_all(dest)?;
    let top = workspace_root();
    let out = Command::new("git")
        .current_dir(&top)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .context("git ls-files")?;
    if !out.status.success() {
        bail!("git ls-files: {}", String::from_utf8_lossy(&out.stderr));
    }
    for rel in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).context("a non-UTF-8 path in git")?);
        let from = top.join(rel);
        // A file deleted in the working tree but still in the index.
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Links stay links: the licence files point at the root's, and the
        // kdump-config test trees hold dangling systemd links on purpose.
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)
                .with_context(|| format!("linking {}", to.display()))?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(())
}

/// `rust-version` of `[workspace.package]`.
fn workspace_rust_version() -> Result<String> {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml"))?;
    text.lines()
        .find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("rust-version")?
                .trim()
                .strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .context("no rust-version in the workspace Cargo.toml")
}

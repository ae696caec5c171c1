//! `cargo xtask fixtures`: real test inputs made reproducibly on this
//! machine: Debian kernels of seven architectures and real vmcores taken
//! from QEMU guests and from a real kdump, run through the peers
//! (makedumpfile, vmcore-dmesg), into a cache folder outside the checkout.
//!
//! The cache is `$KDUMP_FIXTURES`, else `~/.cache/kdump-fixtures`. Every
//! fixture has a stamp in its folder; a stamped fixture is reused, so a
//! second run only checks and rewrites `manifest.json`. `--force NAME`
//! remakes one. `--large` adds the opt-in 8 GiB dump, which CI never makes.
//! `docs/TESTING.md` says how each is made.

pub(crate) mod apt;
mod ckboots;
pub(crate) mod dumps;
pub(crate) mod guest;
pub(crate) mod host;
pub(crate) mod kernels;
pub mod manifest;

use anyhow::{Context, Result, bail};
use manifest::{Manifest, write_json_atomic};
use std::path::PathBuf;
use std::time::Instant;

/// The environment variable naming the fixture folder (tests read it too).
pub const ENV: &str = "KDUMP_FIXTURES";

const USAGE: &str = "usage: cargo xtask fixtures [--large] [--force NAME]... [--list]

Makes (or reuses) every fixture in $KDUMP_FIXTURES (default ~/.cache/kdump-fixtures)
and ends with the path of manifest.json.

  --large        also make (or reuse) x86_64-8G: x86_64-2G's recipe on 8 GiB of guest
                 RAM, for `cargo xtask bench` (about 18 GiB of disk; TCG boot, workload
                 and dumps take about 5 minutes here). Listed under the manifest's `large_dumps`,
                 which fixture tests do not read. Without --large an existing copy
                 stays listed and is never made or remade.

  --force NAME   remake NAME even if cached: a dump name (x86_64-512M, x86_64-2G,
                 x86_64-kdump-1G, arm64-512M), kernel-ARCH (kernel-amd64, ...),
                 kernels (all seven), dumps (all dumps), tools (refetch arm64
                 busybox and peer sysroot, rebuild the probe, then every dump),
                 kernel-amd64-trixie (Debian 13's amd64 kernel, then its boots),
                 crashkernel-boots (the crashkernel= boots of both amd64 kernels), or all;
                 with --large also x86_64-8G or large (neither `dumps` nor `all`
                 remakes it)
  --list         print the names and exit
";

/// What to remake even when cached.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub force: Vec<String>,
    /// Make the opt-in large dumps too (`--large`).
    pub large: bool,
}

impl Options {
    pub fn forced(&self, name: &str, group: &str) -> bool {
        self.force
            .iter()
            .any(|f| f == name || f == group || f == "all")
    }
}

/// Collects how long each step took, printed at the end and kept in
/// `timings.json` beside the manifest.
#[derive(Debug, Default)]
pub struct Clock {
    steps: Vec<(String, f64, bool)>,
}

impl Clock {
    /// Runs `f` as step `name`; `f` says whether it reused a cached result.
    pub fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<(T, bool)>) -> Result<T> {
        let start = Instant::now();
        eprintln!("\nfixtures: == {name} ==");
        let (value, reused) = f().with_context(|| format!("fixture step {name}"))?;
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "fixtures: {name}: {} in {secs:.1} s",
            if reused { "reused" } else { "made" }
        );
        self.steps.push((name.to_string(), secs, reused));
        Ok(value)
    }

    /// Records a step timed by the caller.
    pub fn record(&mut self, name: &str, secs: f64) {
        self.steps.push((name.to_string(), secs, false));
    }

    /// Records a step whose cached result was reused.
    pub fn reused(&mut self, name: &str) {
        self.steps.push((name.to_string(), 0.0, true));
    }

    fn print(&self) {
        eprintln!("\nfixtures: timings");
        for (name, secs, reused) in &self.steps {
            let how = if *reused { "reused" } else { "made" };
            eprintln!("  {name:<40} {secs:>8.1} s  {how}");
        }
    }
}

/// The fixture folder: `$KDUMP_FIXTURES`, else `~/.cache/kdump-fixtures`
/// (`/var/tmp/kdump-fixtures` when `HOME` is unset).
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache/kdump-fixtures")),
        None => {
            eprintln!("fixtures: HOME is unset; using /var/tmp/kdump-fixtures");
            Ok(PathBuf::from("/var/tmp/kdump-fixtures"))
        }
    }
}

/// One run at a time per fixture folder: `<cache>/.lock/` made with an
/// atomic `mkdir`, holding the owner's pid; a lock whose owner is gone is
/// taken over.
#[derive(Debug)]
pub(crate) struct CacheLock(PathBuf);

impl CacheLock {
    pub(crate) fn acquire(cache: &std::path::Path) -> Result<CacheLock> {
        std::fs::create_dir_all(cache)?;
        let dir = cache.join(".lock");
        let started = Instant::now();
        let mut said = false;
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    std::fs::write(dir.join("pid"), std::process::id().to_string())?;
                    return Ok(CacheLock(dir));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
            let owner = std::fs::read_to_string(dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok());
            let who = owner.map_or_else(|| "unknown".to_string(), |p| p.to_string());
            let young = std::fs::metadata(&dir)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|e| e.as_secs() < 30));
            let alive = match owner {
                Some(pid) => std::path::Path::new(&format!("/proc/{pid}")).exists(),
                None => young,
            };
            if !alive {
                eprintln!(
                    "fixtures: removing stale lock {} (pid {who} gone)",
                    dir.display()
                );
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            if !said {
                eprintln!(
                    "fixtures: waiting for pid {who}, which holds {}",
                    dir.display()
                );
                said = true;
            }
            if started.elapsed().as_secs() > 3600 {
                bail!("{} held by pid {who} for an hour", dir.display());
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes or reuses every fixture and returns the folder holding
/// `manifest.json` (what `cargo xtask ci` calls before the fixture tests).
pub fn ensure() -> Result<PathBuf> {
    ensure_with(&Options::default())
}

/// [`ensure`] with options.
pub fn ensure_with(opts: &Options) -> Result<PathBuf> {
    let started = Instant::now();
    let cache = cache_dir()?;
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let cache = cache.canonicalize()?;
    eprintln!("fixtures: cache folder {}", cache.display());
    let _lock = CacheLock::acquire(&cache)?;
    let mut clock = Clock::default();

    clock.step("host packages", || host::ensure_packages().map(|r| ((), r)))?;

    let mut kernels = Vec::new();
    for spec in &kernels::KERNELS {
        let name = format!("kernel-{}", spec.arch);
        let force = opts.forced(&name, "kernels");
        let entry = clock.step(&name, || kernels::ensure(&cache, spec, force))?;
        eprintln!(
            "fixtures: {} {} {} ({}) -> {}",
            entry.debian_arch, entry.package, entry.version, entry.format, entry.image
        );
        kernels.push(entry);
    }

    let dumps = dumps::ensure_all(&cache, &kernels, opts, &mut clock)?;
    let large_dumps = dumps::ensure_large(&cache, &kernels, opts, &mut clock)?;

    let bookworm_amd64 = kernels
        .iter()
        .find(|k| k.debian_arch == "amd64")
        .context("no amd64 kernel")?
        .clone();
    let crashkernel_boots = ckboots::ensure(
        &cache,
        &bookworm_amd64,
        opts.forced("kernel-amd64-trixie", "kernels"),
        opts.forced("crashkernel-boots", "crashkernel-boots")
            || opts.forced("kernel-amd64-trixie", "kernels"),
        &mut clock,
    )?;

    let manifest = Manifest {
        schema: 1,
        kernels,
        dumps,
        large_dumps,
        crashkernel_boots: Some(crashkernel_boots),
    };
    let path = cache.join("manifest.json");
    write_json_atomic(&path, &manifest)?;
    clock.record("total", started.elapsed().as_secs_f64());
    clock.print();
    let timings: Vec<_> = clock
        .steps
        .iter()
        .map(|(n, s, r)| serde_json::json!({"step": n, "seconds": (s * 10.0).round() / 10.0, "reused": r}))
        .collect();
    write_json_atomic(&cache.join("timings.json"), &timings)?;
    Ok(cache)
}

/// `cargo xtask fixtures [--force NAME]...`
pub fn run(args: &[String]) -> Result<()> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--force" => opts
                .force
                .push(it.next().context("--force needs a NAME")?.clone()),
            "--large" => opts.large = true,
            "--list" => {
                for spec in &kernels::KERNELS {
                    println!("kernel-{}", spec.arch);
                }
                for d in dumps::NAMES {
                    println!("{d}");
                }
                for d in dumps::LARGE_NAMES {
                    println!("{d} (with --large)");
                }
                println!("large (with --large: every large dump)");
                println!("kernel-amd64-trixie");
                println!("crashkernel-boots");
                println!("tools");
                return Ok(());
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown fixtures option {other:?}\n{USAGE}"),
        }
    }
    let known = |name: &str| {
        [
            "all",
            "kernels",
            "dumps",
            "tools",
            "kernel-amd64-trixie",
            "crashkernel-boots",
        ]
        .contains(&name)
            || dumps::NAMES.contains(&name)
            || kernels::KERNELS
                .iter()
                .any(|k| name == format!("kernel-{}", k.arch))
    };
    let large = |name: &str| name == "large" || dumps::LARGE_NAMES.contains(&name);
    if let Some(bad) = opts.force.iter().find(|n| !known(n) && !large(n)) {
        bail!("--force {bad:?}: no such fixture (see --list)");
    }
    if !opts.large {
        if let Some(name) = opts.force.iter().find(|n| large(n)) {
            bail!("--force {name}: a large dump, made only with --large");
        }
    }
    let dir = ensure_with(&opts)?;
    println!("{}", dir.join("manifest.json").display());
    Ok(())
}

//! `cargo xtask ci`: everything CI checks, in the order a reviewer reads it.
//!
//! Tests run last so that the run ends with the test runner's own summary,
//! followed by one plain line adding up every `test result:` line.

use crate::cmd::run as step;
use crate::cmd::{cargo, run_capture};
use anyhow::{Result, bail};

pub fn run(_args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    step(cargo().args(["fmt", "--all", "--check"]))?;
    // Fixture tests are linted like everything else, so clippy sees them too.
    let fixture_features: Vec<String> = packages_with_feature(FIXTURE_FEATURE)?
        .into_iter()
        .flat_map(|p| ["--features".to_owned(), format!("{p}/{FIXTURE_FEATURE}")])
        .collect();
    step(
        cargo()
            .args(["clippy", "--workspace", "--all-targets"])
            .args(&fixture_features)
            .args(["--", "-D", "warnings"]),
    )?;
    // As docs.rs builds them (`[package.metadata.docs.rs]`: all features,
    // `--cfg docsrs`).
    step(
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings"),
    )?;
    // Every published crate packages and its packaged sources build on their
    // own, in dependency order (cargo resolves the workspace's unpublished
    // crates through a temporary local registry).
    forget_packaged_sources()?;
    step(cargo().args(["package", "--workspace", "--exclude", "xtask", "--locked"]))?;
    // The published crates with Debian stable's rustc, offline from a vendor tree.
    crate::msrv::run_msrv(&[])?;

    let fixtures = crate::fixtures::ensure()?;
    eprintln!("ci: fixtures ready in {}", fixtures.display());
    crate::e2e::ci()?;

    let (ok, out) = run_capture(
        cargo()
            .args(["test", "--workspace"])
            .args(&fixture_features)
            .env("KDUMP_FIXTURES", &fixtures),
    )?;
    let (passed, failed) = count_results(&out);
    eprintln!("\nci: finished in {:.0} s", started.elapsed().as_secs_f64());
    println!("summary: {passed} passed, {failed} failed");
    if !ok || failed > 0 {
        bail!("tests failed");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

/// Removes the sources cargo unpacked from earlier `cargo package` runs' local
/// registries (`$CARGO_HOME/registry/src/-<hash>/<crate>-<version>`, a folder
/// without a host name). Cargo unpacks a crate of a given version once per
/// registry and reuses it, so a second run from the same checkout would verify
/// a crate against its dependencies' sources as they were the first time.
fn forget_packaged_sources() -> Result<()> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(h) => std::path::PathBuf::from(h),
        None => {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        }
    };
    let Ok(registries) = std::fs::read_dir(home.join("registry/src")) else {
        return Ok(());
    };
    let ours: Vec<String> = workspace_packages()?
        .into_iter()
        .map(|(name, version)| format!("{name}-{version}"))
        .collect();
    for reg in registries.flatten() {
        if !reg.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for krate in std::fs::read_dir(reg.path())?.flatten() {
            if ours.contains(&krate.file_name().to_string_lossy().into_owned()) {
                std::fs::remove_dir_all(krate.path())?;
            }
        }
    }
    Ok(())
}

/// The workspace's packages as (name, version), from `cargo metadata`.
fn workspace_packages() -> Result<Vec<(String, String)>> {
    let meta = metadata()?;
    Ok(meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_owned(),
                p["version"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

fn metadata() -> Result<serde_json::Value> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The cargo feature that compiles a crate's tests on real fixtures.
const FIXTURE_FEATURE: &str = "fixture-tests";

/// Workspace packages that declare `feature`, from `cargo metadata`.
fn packages_with_feature(feature: &str) -> Result<Vec<String>> {
    let meta = metadata()?;
    let mut names: Vec<String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["features"].get(feature).is_some())
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Adds up `test result: ok. 12 passed; 0 failed; ...` lines.
pub(crate) fn count_results(out: &str) -> (u64, u64) {
    let mut passed = 0;
    let mut failed = 0;
    for line in out.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let part = part
                .trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ");
            if let Some(n) = part.strip_suffix(" passed") {
                passed += n.trim().parse::<u64>().unwrap_or(0);
            } else if let Some(n) = part.strip_suffix(" failed") {
                failed += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    (passed, failed)
}

#[cfg(test)]
mod tests {
    use super::count_results;

    #[test]
    fn counts_every_result_line() {
        let out = "running 3 tests\n\
            test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
            test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
        assert_eq!(count_results(out), (7, 2));
    }
}

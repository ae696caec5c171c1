//! `cargo xtask ci`: everything CI checks, in the order a reviewer reads it.
//!
//! Tests run last so that the run ends with the test runner's own summary,
//! followed by one plain line adding up every `test result:` line.

use crate::cmd::{cargo, run, run_capture};
use anyhow::{Result, bail};

pub fn run_ci(_args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;

    let (ok, out) = run_capture(cargo().args(["test", "--workspace"]))?;
    let (passed, failed) = count_results(&out);
    eprintln!(
        "\nci: finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!("summary: {passed} passed, {failed} failed");
    if !ok || failed > 0 {
        bail!("tests failed");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

pub use run_ci as run;

/// Adds up `test result: ok. 12 passed; 0 failed; ...` lines.
fn count_results(out: &str) -> (u64, u64) {
    let mut passed = 0;
    let mut failed = 0;
    for line in out.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let part = part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ");
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

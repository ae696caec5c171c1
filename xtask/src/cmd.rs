//! Running commands and saying what runs.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Prints a command as a shell would show it, then runs it with inherited
/// stdio; a non-zero exit is an error naming the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    announce(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{} failed: {status}", display(cmd));
    }
    Ok(())
}

/// Runs a command, echoing its stdout and stderr as they come, and returns
/// everything it printed together with whether it succeeded.
pub fn run_capture(cmd: &mut Command) -> Result<(bool, String)> {
    use std::io::{BufRead, BufReader, Write};
    announce(cmd);
    // Merge stderr into stdout through a shell-free pipe pair: cargo test prints
    // results on stdout and compile progress on stderr; both are echoed.
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let mut out = String::new();
    let stdout = child.stdout.take().expect("piped");
    let mut lock = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        writeln!(lock, "{line}").ok();
        out.push_str(&line);
        out.push('\n');
    }
    drop(lock);
    let status = child.wait()?;
    out.push_str(&err_thread.join().unwrap_or_default());
    Ok((status.success(), out))
}

fn announce(cmd: &Command) {
    eprintln!("\n$ {}", display(cmd));
}

fn display(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// `cargo` as the one running this xtask.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

//! `cargo xtask bench`: our `vmcore-capture` against Debian's makedumpfile on the same
//! fixture dumps, same flags, one after the other, several rounds; prints medians of wall
//! time, output size and peak RSS with the ratio ours / theirs, and `cat DUMP > /dev/null`
//! as the read limit. Debian's makedumpfile has no snappy or zstd, so our `-p`/`-z` are set
//! against its `-l`/`-c` (the table says so).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, run as step, workspace_root};

/// (our flags, makedumpfile's flags).
const CONFIGS: [(&str, &str); 7] = [
    ("-l -d 31", "-l -d 31"),
    ("-z -d 31", "-c -d 31"),
    ("-c -d 31", "-c -d 31"),
    ("-p -d 31", "-l -d 31"),
    ("-z -d 1", "-c -d 1"),
    ("-E -d 31", "-E -d 31"),
    ("-F -l -d 31", "-F -l -d 31"),
];

struct Sample {
    secs: f64,
    rss: u64,
    size: u64,
}

fn measure(argv: &[String], out: &Path, to_stdout: bool) -> Result<Sample> {
    let _ = std::fs::remove_file(out);
    let mut c = Command::new("/usr/bin/time");
    c.arg("-f")
        .arg("%M")
        .args(argv)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    if to_stdout {
        c.stdout(std::fs::File::create(out)?);
    } else {
        c.arg(out).stdout(Stdio::null());
    }
    let t = Instant::now();
    let o = c
        .output()
        .with_context(|| format!("running {argv:?} under /usr/bin/time"))?;
    let secs = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr);
    let rss_kb: u64 = err
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .context("no peak RSS from /usr/bin/time")?;
    if !o.status.success() {
        bail!("{argv:?} failed: {err}");
    }
    let size = std::fs::metadata(out).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(out);
    Ok(Sample {
        secs,
        rss: rss_kb * 1024,
        size,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: &[String]) -> Result<()> {
    let mut rounds = 3usize;
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().context("--rounds N")?.parse()?,
            other => inputs.push(PathBuf::from(other)),
        }
    }
    step(cargo().args([
        "build",
        "--release",
        "-p",
        "kdump-examples",
        "--bin",
        "vmcore-capture",
    ]))?;
    let ours = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("release/vmcore-capture");
    if inputs.is_empty() {
        let dir = match std::env::var_os("KDUMP_FIXTURES") {
            Some(d) => PathBuf::from(d),
            None => crate::fixtures::ensure()?,
        };
        // makedumpfile reads QEMU dumps through the fixed copy; take the x86_64 ones (the
        // host makedumpfile reads only its own architecture).
        for d in ["x86_64-2G", "x86_64-kdump-1G"] {
            for f in ["qemu-fixed.elf", "proc-vmcore.elf"] {
                let p = dir.join("dumps").join(d).join(f);
                if p.exists() {
                    inputs.push(p);
                }
            }
        }
    }
    if inputs.is_empty() {
        bail!("no input dump: name files, or set KDUMP_FIXTURES");
    }
    let out = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    for input in &inputs {
        let len = std::fs::metadata(input)?.len();
        println!(
            "\n## {} ({:.2} GiB), {rounds} rounds, medians",
            input.display(),
            len as f64 / (1u64 << 30) as f64
        );
        let mut cat = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            step(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("cat '{}' > /dev/null", input.display())),
            )?;
            cat.push(t.elapsed().as_secs_f64());
        }
        println!("read limit: `cat DUMP > /dev/null` {:.2} s", median(cat));
        println!(
            "\n| ours | makedumpfile | ours s (all CPUs) | ours s (--num-threads 1) | theirs s | time ratio | time ratio 1 thread | ours MiB | theirs MiB | size ratio | ours RSS MiB | theirs RSS MiB | RSS ratio |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (o, m) in CONFIGS {
            let flat = o.contains("-F");
            let mut runs: [Vec<Sample>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..rounds {
                let mut a: Vec<String> = std::iter::once(ours.display().to_string())
                    .chain(o.split(' ').map(String::from))
                    .chain(["--message-level".into(), "0".into()])
                    .collect();
                let mut one = a.clone();
                one.extend(["--num-threads".into(), "1".into()]);
                let mut md: Vec<String> = std::iter::once("makedumpfile".to_string())
                    .chain(m.split(' ').map(String::from))
                    .collect();
                for (k, argv) in [&mut a, &mut one, &mut md].into_iter().enumerate() {
                    argv.push(input.display().to_string());
                    runs[k].push(measure(argv, &out, flat)?);
                }
            }
            let med = |k: usize, f: fn(&Sample) -> f64| median(runs[k].iter().map(f).collect());
            let (t2, t1, tm) = (med(0, |s| s.secs), med(1, |s| s.secs), med(2, |s| s.secs));
            let (so, sm) = (med(0, |s| s.size as f64), med(2, |s| s.size as f64));
            let (ro, rm) = (med(0, |s| s.rss as f64), med(2, |s| s.rss as f64));
            let mib = |x: f64| x / (1u64 << 20) as f64;
            println!(
                "| `{o}` | `{m}` | {t2:.2} | {t1:.2} | {tm:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.3} | {:.1} | {:.1} | {:.2} |",
                t2 / tm,
                t1 / tm,
                mib(so),
                mib(sm),
                so / sm,
                mib(ro),
                mib(rm),
                ro / rm
            );
        }
    }
    Ok(())
}

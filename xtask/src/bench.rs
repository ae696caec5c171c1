//! `cargo xtask bench`: our `vmcore-capture` against Debian's makedumpfile on the same
//! fixture dumps, same flags, one after the other, several rounds; prints medians of wall
//! time, output size and peak RSS with the ratio ours / theirs, and `cat DUMP > /dev/null`
//! as the read limit. Debian's makedumpfile has no snappy or zstd, so our `-p`/`-z` are set
//! against its `-l`/`-c` (the table says so). A last table sets peak RSS at `-l -d 31`
//! against dump size over the x86_64 QEMU dumps (512 MiB to the opt-in 8 GiB one), where
//! a capture tool that streams should stay flat.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, run as step, workspace_root};
use crate::fixtures::manifest::{DumpEntry, Manifest, read_json};

const USAGE: &str = "usage: cargo xtask bench [--rounds N] [--no-large] [DUMP...]

Runs vmcore-capture (release build) and makedumpfile with the same flags on each DUMP,
N rounds (default 3), and prints medians of time, output size and peak RSS.

Without DUMP: x86_64-2G's qemu-fixed.elf, x86_64-kdump-1G's proc-vmcore.elf and the
opt-in x86_64-8G's qemu-fixed.elf, which is made first when it is not in the fixture
folder (`cargo xtask fixtures --large`: about 5 minutes of TCG and 18 GiB of disk).

  --rounds N   rounds per configuration (medians over them)
  --no-large   leave out x86_64-8G (and never make it)

A last table gives our and makedumpfile's peak RSS at `-l -d 31` on every x86_64 QEMU
dump of the fixture folder (512 MiB, 2 GiB and, once made, 8 GiB) and every DUMP.
";

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

/// The configuration of the size-against-RSS table (the first of [`CONFIGS`]).
const SCALING: (&str, &str) = CONFIGS[0];

/// The opt-in dump the default inputs include.
const LARGE_DUMP: &str = "x86_64-8G";

struct Sample {
    secs: f64,
    rss: u64,
    size: u64,
}

/// Medians of our all-CPU runs and makedumpfile's runs of one configuration.
#[derive(Debug, Clone, Copy)]
struct Medians {
    ours_secs: f64,
    theirs_secs: f64,
    ours_rss: f64,
    theirs_rss: f64,
}

struct Args {
    rounds: usize,
    inputs: Vec<PathBuf>,
    large: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Args>> {
    let mut parsed = Args {
        rounds: 3,
        inputs: Vec::new(),
        large: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => parsed.rounds = it.next().context("--rounds N")?.parse()?,
            "--no-large" => parsed.large = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            o if o.starts_with('-') => bail!("unknown bench option {o:?}\n{USAGE}"),
            other => parsed.inputs.push(PathBuf::from(other)),
        }
    }
    if parsed.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    Ok(Some(parsed))
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

fn mib(x: f64) -> f64 {
    x / (1u64 << 20) as f64
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Builds the release `vmcore-capture` and returns its path.
fn build_ours() -> Result<PathBuf> {
    step(cargo().args([
        "build",
        "--release",
        "-p",
        "kdump-examples",
        "--bin",
        "vmcore-capture",
    ]))?;
    Ok(std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("release/vmcore-capture"))
}

/// The fixture folder for the default inputs: `$KDUMP_FIXTURES` as it is, else the
/// fixtures made or reused; with `large`, x86_64-8G is made when its fixed ELF is missing.
fn fixture_dir(large: bool) -> Result<PathBuf> {
    let dir = match std::env::var_os(crate::fixtures::ENV) {
        Some(d) => PathBuf::from(d),
        None => crate::fixtures::ensure()?,
    };
    if large && !qemu_fixed(&dir, LARGE_DUMP).exists() {
        eprintln!("bench: {LARGE_DUMP} is not in {}; making it", dir.display());
        crate::fixtures::ensure_with(&crate::fixtures::Options {
            large: true,
            ..Default::default()
        })?;
    }
    Ok(dir)
}

fn qemu_fixed(dir: &Path, dump: &str) -> PathBuf {
    dir.join("dumps").join(dump).join("qemu-fixed.elf")
}

/// makedumpfile reads QEMU dumps through the fixed copy; only x86_64 ones (the host
/// makedumpfile reads only its own architecture).
fn default_inputs(dir: &Path, large: bool) -> Vec<PathBuf> {
    let mut inputs = vec![
        qemu_fixed(dir, "x86_64-2G"),
        dir.join("dumps/x86_64-kdump-1G/proc-vmcore.elf"),
    ];
    if large {
        inputs.push(qemu_fixed(dir, LARGE_DUMP));
    }
    inputs.retain(|p| p.exists());
    inputs
}

/// The x86_64 QEMU dumps of the fixture folder's manifest (CI's and the opt-in ones)
/// whose fixed ELF is there: the same kernel and recipe at every size.
fn scaling_inputs() -> Vec<PathBuf> {
    let Ok(dir) = crate::fixtures::cache_dir() else {
        return Vec::new();
    };
    let Some(m) = read_json::<Manifest>(&dir.join("manifest.json")) else {
        return Vec::new();
    };
    let qemu_x86 =
        |d: &&DumpEntry| d.arch == "x86_64" && d.files.iter().any(|f| f.kind == "qemu-elf");
    m.dumps
        .iter()
        .chain(&m.large_dumps)
        .filter(qemu_x86)
        .map(|d| qemu_fixed(&dir, &d.name))
        .filter(|p| p.exists())
        .collect()
}

fn argv(program: &str, flags: &str, extra: &[&str], input: &Path) -> Vec<String> {
    std::iter::once(program.to_string())
        .chain(flags.split(' ').map(String::from))
        .chain(extra.iter().map(|s| s.to_string()))
        .chain(std::iter::once(input.display().to_string()))
        .collect()
}

/// `cat DUMP > /dev/null`, median over `rounds`.
fn read_limit(input: &Path, rounds: usize) -> Result<f64> {
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
    Ok(median(cat))
}

/// Ours with all CPUs, ours with one thread (when `one_thread`), then makedumpfile, each
/// `rounds` times on `input`.
fn run_config(
    ours: &Path,
    (o, m): (&str, &str),
    input: &Path,
    rounds: usize,
    out: &Path,
    one_thread: bool,
) -> Result<[Vec<Sample>; 3]> {
    let flat = o.contains("-F");
    let quiet = ["--message-level", "0"];
    let ours = ours.display().to_string();
    let mut runs: [Vec<Sample>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let all = argv(&ours, o, &quiet, input);
        runs[0].push(measure(&all, out, flat)?);
        if one_thread {
            let one = argv(&ours, o, &[quiet[0], quiet[1], "--num-threads", "1"], input);
            runs[1].push(measure(&one, out, flat)?);
        }
        runs[2].push(measure(&argv("makedumpfile", m, &[], input), out, flat)?);
    }
    Ok(runs)
}

fn medians(runs: &[Vec<Sample>; 3]) -> Medians {
    let med = |k: usize, f: fn(&Sample) -> f64| median(runs[k].iter().map(f).collect());
    Medians {
        ours_secs: med(0, |s| s.secs),
        theirs_secs: med(2, |s| s.secs),
        ours_rss: med(0, |s| s.rss as f64),
        theirs_rss: med(2, |s| s.rss as f64),
    }
}

/// One input's table; returns the medians of the [`SCALING`] configuration.
fn bench_input(ours: &Path, input: &Path, rounds: usize, out: &Path) -> Result<Medians> {
    let len = std::fs::metadata(input)
        .with_context(|| format!("{}", input.display()))?
        .len();
    println!(
        "\n## {} ({:.2} GiB), {rounds} rounds, medians",
        input.display(),
        gib(len)
    );
    println!(
        "read limit: `cat DUMP > /dev/null` {:.2} s",
        read_limit(input, rounds)?
    );
    println!(
        "\n| ours | makedumpfile | ours s (all CPUs) | ours s (--num-threads 1) | theirs s | time ratio | time ratio 1 thread | ours MiB | theirs MiB | size ratio | ours RSS MiB | theirs RSS MiB | RSS ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut scaling = None;
    for config in CONFIGS {
        let runs = run_config(ours, config, input, rounds, out, true)?;
        let m = medians(&runs);
        let t1 = median(runs[1].iter().map(|s| s.secs).collect());
        let size = |k: usize| median(runs[k].iter().map(|s| s.size as f64).collect());
        let (so, sm) = (size(0), size(2));
        println!(
            "| `{}` | `{}` | {:.2} | {t1:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.3} | {:.1} | {:.1} | {:.2} |",
            config.0,
            config.1,
            m.ours_secs,
            m.theirs_secs,
            m.ours_secs / m.theirs_secs,
            t1 / m.theirs_secs,
            mib(so),
            mib(sm),
            so / sm,
            mib(m.ours_rss),
            mib(m.theirs_rss),
            m.ours_rss / m.theirs_rss
        );
        if config == SCALING {
            scaling = Some(m);
        }
    }
    scaling.context("the scaling configuration is one of CONFIGS")
}

/// Peak RSS against dump size at [`SCALING`]: inputs already benched reuse their
/// medians, the other fixture sizes get `rounds` runs of ours and makedumpfile.
fn rss_scaling(
    ours: &Path,
    benched: &[(PathBuf, Medians)],
    rounds: usize,
    out: &Path,
) -> Result<()> {
    let mut rows: Vec<(u64, PathBuf, Medians)> = Vec::new();
    let mut paths: Vec<PathBuf> = scaling_inputs();
    paths.extend(benched.iter().map(|(p, _)| p.clone()));
    for path in paths {
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        if rows.iter().any(|(_, p, _)| *p == canon) {
            continue;
        }
        let len = std::fs::metadata(&path)?.len();
        let known = benched
            .iter()
            .find(|(p, _)| p.canonicalize().is_ok_and(|c| c == canon))
            .map(|(_, m)| *m);
        let m = match known {
            Some(m) => m,
            None => medians(&run_config(ours, SCALING, &path, rounds, out, false)?),
        };
        rows.push((len, canon, m));
    }
    rows.sort_by_key(|(len, _, _)| *len);
    println!(
        "\n## Peak RSS against dump size, ours `{}` / makedumpfile `{}`, medians",
        SCALING.0, SCALING.1
    );
    println!("\n| input | GiB | ours s | theirs s | ours RSS MiB | theirs RSS MiB |");
    println!("|---|---|---|---|---|---|");
    for (len, path, m) in &rows {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |",
            path.display(),
            gib(*len),
            m.ours_secs,
            m.theirs_secs,
            mib(m.ours_rss),
            mib(m.theirs_rss)
        );
    }
    if let Some((first, last)) = rows.first().zip(rows.last()).filter(|_| rows.len() > 1) {
        println!(
            "\nours: {:.1} MiB at {:.2} GiB, {:.1} MiB at {:.2} GiB ({:.1}x the input, {:.2}x the RSS); makedumpfile {:.2}x the RSS",
            mib(first.2.ours_rss),
            gib(first.0),
            mib(last.2.ours_rss),
            gib(last.0),
            last.0 as f64 / first.0 as f64,
            last.2.ours_rss / first.2.ours_rss,
            last.2.theirs_rss / first.2.theirs_rss
        );
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    let Some(Args {
        rounds,
        mut inputs,
        large,
    }) = parse_args(args)?
    else {
        return Ok(());
    };
    let ours = build_ours()?;
    if inputs.is_empty() {
        inputs = default_inputs(&fixture_dir(large)?, large);
    }
    if inputs.is_empty() {
        bail!("no input dump: name files, or set KDUMP_FIXTURES");
    }
    let out = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    let mut benched = Vec::new();
    for input in &inputs {
        let m = bench_input(&ours, input, rounds, &out)?;
        benched.push((input.clone(), m));
    }
    rss_scaling(&ours, &benched, rounds, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn args_parse_rounds_large_and_inputs() {
        let a = parse_args(&strings(&["--rounds", "1", "--no-large", "a.elf"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.rounds, 1);
        assert!(!a.large);
        assert_eq!(a.inputs, [PathBuf::from("a.elf")]);
        let d = parse_args(&[]).unwrap().unwrap();
        assert_eq!((d.rounds, d.large, d.inputs.len()), (3, true, 0));
        assert!(parse_args(&strings(&["--rounds", "0"])).is_err());
        assert!(parse_args(&strings(&["--bogus"])).is_err());
        assert!(parse_args(&strings(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn argv_puts_flags_extra_then_input() {
        let v = argv("md", "-l -d 31", &["--x", "1"], Path::new("/d.elf"));
        assert_eq!(v, strings(&["md", "-l", "-d", "31", "--x", "1", "/d.elf"]));
    }

    #[test]
    fn median_takes_the_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![5.0]), 5.0);
    }
}

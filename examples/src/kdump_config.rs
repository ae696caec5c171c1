//! `kdump-config`: will kdump work on this machine, and if not, exactly what
//! to run; and, on request, run it.
//!
//! ```text
//! kdump-config [--root DIR] status [--json]
//! kdump-config [--root DIR] check [--keep WHAT] [--json]
//! kdump-config [--root DIR] recommend [--keep WHAT] [--json]
//! kdump-config [--root DIR] estimate [--json]
//! kdump-config [--root DIR] setup [--dry-run | --apply] [--keep WHAT] [--collector makedumpfile|vmcore-capture] [--crashkernel VALUE] [--json]
//! ```
//!
//! Everything is read under `--root` (default `/`): `proc`, `sys`, `boot`,
//! `etc`. `setup --apply --root DIR` edits only files under DIR and runs no
//! command; without `--root` it runs the commands it shows, as root.
//! `check` exits 0 when kdump will work and 1 when it will not; usage and
//! read errors exit 2. The live parts (free space, `systemctl is-active`,
//! running commands) go through [`Host`], so tooling and tests can supply
//! their own.
//!
//! Not Debian's `kdump-config` (kdump-tools' `show`/`load`/`savecore`
//! script): this is a different program with the same name.

pub mod advice;
pub mod check;
pub mod conf;
pub mod facts;
pub mod kconfig;
pub mod setup;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use crashkernel_param::Size;
use serde_json::{Value, json};

use advice::Keep;
use check::Severity;
use facts::{DumpConfig, Facts};

/// The live parts of the system: what cannot be read from files.
pub trait Host {
    /// Bytes free for an unprivileged writer on the file system holding `path`
    /// (or its nearest existing ancestor); `None` when unknown.
    fn free_space(&self, path: &Path) -> Option<u64>;
    /// Whether a systemd unit is active; `None` when systemd cannot say.
    fn service_active(&self, unit: &str) -> Option<bool>;
    /// Runs a command (words separated by spaces, no shell); an error says what failed.
    fn run(&self, command: &str) -> Result<(), String>;
}

/// The real machine: `df`, `systemctl` and the commands themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveHost;

impl Host for LiveHost {
    fn free_space(&self, path: &Path) -> Option<u64> {
        let mut p = path.to_path_buf();
        while !p.exists() {
            if !p.pop() {
                return None;
            }
        }
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&p)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }

    fn service_active(&self, unit: &str) -> Option<bool> {
        let status = std::process::Command::new("systemctl")
            .args(["is-active", "--quiet", unit])
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        Some(status.success())
    }

    fn run(&self, command: &str) -> Result<(), String> {
        let mut words = command.split_whitespace();
        let program = words.next().ok_or("empty command")?;
        let status = std::process::Command::new(program)
            .args(words)
            .status()
            .map_err(|e| format!("{program}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{command}` failed ({status})"))
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "kdump-config",
    version,
    about = "Will kdump work on this machine, and if not, what to run: status, check, recommend, estimate, setup"
)]
struct Cli {
    /// Read proc, sys, boot and etc under DIR instead of /; setup --apply then edits only DIR.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Distro, kernel, crashkernel= and the reservation, the capture kernel, kernel config, lockdown, service, kdump configuration.
    Status {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when kdump will work; otherwise each problem, its cause and the command that fixes it.
    Check {
        /// What the dump must keep.
        #[arg(long, value_enum, default_value = "kernel")]
        keep: Keep,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The crashkernel= value for this distro, arch and RAM, and the dump level and codec for what to keep.
    Recommend {
        /// What the dump must keep.
        #[arg(long, value_enum, default_value = "kernel")]
        keep: Keep,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The memory the capture kernel needs, as `kdumpctl estimate` computes it, against what is reserved.
    Estimate {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The changes that make kdump work: shown (--dry-run, the default) or made (--apply).
    Setup {
        /// Show the commands and diffs only (the default).
        #[arg(long, conflicts_with = "apply")]
        dry_run: bool,
        /// Make the changes (as root), keeping a backup of every file edited.
        #[arg(long)]
        apply: bool,
        /// What the dump must keep.
        #[arg(long, value_enum, default_value = "kernel")]
        keep: Keep,
        /// The core_collector program (default: the configured one, else makedumpfile).
        #[arg(long, value_parser = ["makedumpfile", "vmcore-capture"])]
        collector: Option<String>,
        /// Use this crashkernel= value instead of the recommended one.
        #[arg(long, value_name = "VALUE")]
        crashkernel: Option<String>,
        /// One JSON object on stdout (the plan, and what was done).
        #[arg(long)]
        json: bool,
    },
}

/// Runs the tool with `args` (program name first) on the live system; returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let out = run(args, &LiveHost);
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    out.code
}

/// What a run printed and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

fn fail(code: i32, msg: String) -> Output {
    Output {
        code,
        stdout: String::new(),
        stderr: format!("kdump-config: {msg}\n"),
    }
}

/// Runs the tool with `args` against `host`.
pub fn run(args: impl IntoIterator<Item = OsString>, host: &dyn Host) -> Output {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            return if code == 0 {
                Output {
                    code,
                    stdout: text,
                    stderr: String::new(),
                }
            } else {
                Output {
                    code,
                    stdout: String::new(),
                    stderr: text,
                }
            };
        }
    };
    let root_given = cli.root.is_some();
    let root = cli.root.unwrap_or_else(|| PathBuf::from("/"));
    if root_given && !root.is_dir() {
        return fail(2, format!("--root {}: not a directory", root.display()));
    }
    let facts = match facts::gather(&root, !root_given, host) {
        Ok(f) => f,
        Err(e) => return fail(2, e),
    };
    let ok = |stdout: String| Output {
        code: 0,
        stdout,
        stderr: String::new(),
    };
    match cli.command {
        Command::Status { json } => {
            if json {
                ok(format!("{}\n", pretty(&status_json(&facts))))
            } else {
                ok(status_text(&facts))
            }
        }
        Command::Check { keep, json } => {
            let (est, findings) = check::check(&root, &facts, keep, host);
            let problems = findings
                .iter()
                .filter(|f| f.severity == Severity::Problem)
                .count();
            let code = i32::from(problems > 0);
            let stdout = if json {
                format!(
                    "{}\n",
                    pretty(&json!({
                        "works": problems == 0,
                        "keep": keep,
                        "findings": findings,
                        "estimate": est,
                    }))
                )
            } else {
                check_text(&facts, keep, &findings)
            };
            Output {
                code,
                stdout,
                stderr: String::new(),
            }
        }
        Command::Recommend { keep, json } => recommend_out(&root, &facts, keep, json),
        Command::Estimate { json } => {
            let est = advice::estimate(&root, &facts);
            if json {
                ok(format!(
                    "{}\n",
                    pretty(&serde_json::to_value(&est).unwrap_or(Value::Null))
                ))
            } else {
                ok(estimate_text(&est))
            }
        }
        Command::Setup {
            dry_run: _,
            apply,
            keep,
            collector,
            crashkernel,
            json,
        } => {
            if let Some(v) = &crashkernel {
                // Refused when the kernel would reserve nothing: the value does not parse,
                // or its allocation finds no room in this machine's RAM.
                let why = match crashkernel_param::evaluate_value(v, facts.ram, facts.target()) {
                    Err(e) => Some(e.to_string()),
                    Ok(r) => {
                        facts.free_ram.as_ref().and_then(|free| {
                            match crashkernel_param::place(&r, facts.target(), free) {
                                Ok(_) | Err(crashkernel_param::PlaceFailure::NotModelled(_)) => {
                                    None
                                }
                                Err(e) => Some(format!(
                                    "it cannot be placed in the RAM proc/iomem shows: {e}"
                                )),
                            }
                        })
                    }
                };
                if let Some(e) = why {
                    return fail(
                        2,
                        format!(
                            "--crashkernel {v}: this kernel would reserve nothing with it: {e}"
                        ),
                    );
                }
            }
            let plan = setup::plan(
                &root,
                &facts,
                keep,
                collector.as_deref(),
                crashkernel.as_deref(),
            );
            if !apply {
                return ok(if json {
                    format!("{}\n", pretty(&json!({ "plan": plan, "applied": false })))
                } else {
                    setup::render(&facts, &plan, root_given)
                });
            }
            let result = if root_given {
                setup::apply_under_root(&root, &plan)
            } else if !is_root_user() {
                Err("setup --apply changes the boot loader and services: run it as root (or use --root DIR)".into())
            } else {
                setup::apply_live(&plan, host)
            };
            match result {
                Err(e) => fail(1, e),
                Ok(done) => {
                    if json {
                        return ok(format!(
                            "{}\n",
                            pretty(&json!({ "plan": plan, "applied": true, "done": done.done }))
                        ));
                    }
                    let mut s = String::new();
                    if done.done.is_empty() {
                        s.push_str("nothing changed: kdump is already set up as asked\n");
                    } else {
                        for d in &done.done {
                            let _ = writeln!(s, "{d}");
                        }
                        if root_given && !plan.commands.is_empty() {
                            let _ =
                                writeln!(s, "not run (under --root): {}", plan.commands.join("; "));
                        }
                    }
                    if plan.reboot {
                        let _ = writeln!(
                            s,
                            "reboot needed: the crashkernel={} reservation is made at boot",
                            plan.crashkernel
                        );
                    }
                    ok(s)
                }
            }
        }
    }
}

#[cfg(unix)]
fn is_root_user() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(not(unix))]
fn is_root_user() -> bool {
    false
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Bytes as the command line spells them when exact (`256M`), else MiB with one decimal.
fn human(bytes: u64) -> String {
    const M: u64 = 1 << 20;
    if bytes % M == 0 || bytes < M {
        Size(bytes).to_string()
    } else {
        let tenths = (u128::from(bytes) * 10 + u128::from(M) / 2) / u128::from(M);
        format!("{}.{}M", tenths / 10, tenths % 10)
    }
}

/// The object `status --json` prints.
pub fn status_json(facts: &Facts) -> Value {
    let mut v = serde_json::to_value(facts).unwrap_or(Value::Null);
    v["crashkernel"] = crate::crashkernel::eval_json(&facts.evaluation);
    v
}

fn status_text(f: &Facts) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "system:         {} (ID={} VERSION_ID={}; tables: {}; tooling: {})",
        if f.os.pretty_name.is_empty() {
            "unknown"
        } else {
            &f.os.pretty_name
        },
        f.os.id,
        f.os.version_id,
        f.distro.map(|d| d.name()).unwrap_or("none"),
        match f.family {
            Some(facts::Family::Rhel) => "kdump-utils",
            Some(facts::Family::Debian) => "kdump-tools",
            None => "unknown",
        }
    );
    let _ = writeln!(
        s,
        "kernel:         {} on {} (arch from {})",
        f.kernel_release, f.arch, f.arch_source
    );
    let _ = writeln!(s, "RAM:            {} ({})", human(f.ram), f.ram_source);
    if f.crashkernel_tokens.is_empty() {
        let _ = writeln!(s, "crashkernel=:   none on the command line");
    } else {
        let _ = writeln!(s, "crashkernel=:   {}", f.crashkernel_tokens.join(" "));
    }
    let _ = match &f.evaluation {
        Ok(r) => writeln!(
            s,
            "  asks for:     {}{}{}{}",
            Size(r.size),
            r.base.map(|b| format!(" at {b:#x}")).unwrap_or_default(),
            if r.high { ", high" } else { "" },
            r.low_size
                .map(|l| format!(", plus {} low", Size(l)))
                .unwrap_or_default()
        )
        .and_then(|_| {
            if f.crashkernel_auto {
                writeln!(
                    s,
                    "                (crashkernel=auto, as the RHEL 8 kernel expands it)"
                )
            } else {
                Ok(())
            }
        }),
        Err(e) => writeln!(s, "  asks for:     nothing: {e}"),
    };
    if f.reserved.is_empty() {
        let _ = writeln!(
            s,
            "reserved:       none (no \"Crash kernel\" in proc/iomem)"
        );
    } else {
        let ranges: Vec<String> = f
            .reserved
            .iter()
            .map(|r| format!("{:#x}-{:#x}", r.start, r.end))
            .collect();
        let _ = writeln!(
            s,
            "reserved:       {} ({})",
            human(f.reserved_total),
            ranges.join(", ")
        );
    }
    if let Some(k) = f.kexec_crash_size {
        let _ = writeln!(s, "  kexec_crash_size: {k}");
    }
    let _ = writeln!(
        s,
        "capture kernel: {}",
        match f.crash_loaded {
            Some(true) => "loaded",
            Some(false) => "not loaded",
            None => "unknown (sys/kernel/kexec_crash_loaded unreadable)",
        }
    );
    let kc = &f.kernel_config;
    match &kc.source {
        None => {
            let _ = writeln!(
                s,
                "kernel config:  not found (boot/config-{} or proc/config.gz)",
                f.kernel_release
            );
        }
        Some(src) => {
            let opts: Vec<String> = kc
                .options
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("n")))
                .collect();
            let _ = writeln!(s, "kernel config:  {src}");
            let _ = writeln!(s, "  {}", opts.join(" "));
            let _ = writeln!(
                s,
                "  kdump support: {}; debug info: {}",
                if kc.missing.is_empty() && !kc.no_kexec {
                    "yes".to_owned()
                } else {
                    let mut m: Vec<String> =
                        kc.missing.iter().map(|n| format!("CONFIG_{n}")).collect();
                    if kc.no_kexec {
                        m.push("CONFIG_KEXEC or CONFIG_KEXEC_FILE".into());
                    }
                    format!("no, missing {}", m.join(", "))
                },
                if kc.debug_info { "yes" } else { "no" }
            );
        }
    }
    let _ = writeln!(
        s,
        "debug vmlinux:  {}",
        f.debug_vmlinux.as_deref().unwrap_or("not installed")
    );
    let _ = writeln!(
        s,
        "lockdown:       {}",
        match f.lockdown.as_deref() {
            None => "not available (no sys/kernel/security/lockdown)".to_owned(),
            Some("none") => "none".to_owned(),
            Some(l) => format!("{l}: only kexec_file_load (kexec -s) can load a capture kernel"),
        }
    );
    let _ = writeln!(
        s,
        "secure boot:    {}",
        match f.secure_boot {
            Some(true) => "enforced",
            Some(false) => "not enforced",
            None => "unknown (no EFI variables)",
        }
    );
    let sv = &f.service;
    let _ = writeln!(
        s,
        "service:        {}",
        if !sv.systemd {
            "no systemd under this root".to_owned()
        } else {
            format!(
                "{} {}, {}, {}",
                sv.unit,
                if sv.installed {
                    "installed"
                } else {
                    "not installed"
                },
                if sv.enabled { "enabled" } else { "not enabled" },
                match sv.active {
                    Some(true) => "active",
                    Some(false) => "inactive",
                    None => "activity not known from files",
                }
            )
        }
    );
    match &f.config {
        DumpConfig::Missing { file } => {
            let _ = writeln!(s, "configuration:  {file} missing");
        }
        cfg => {
            let file = match cfg {
                DumpConfig::KdumpConf { file, .. } | DumpConfig::KdumpTools { file, .. } => file,
                DumpConfig::Missing { file } => file,
            };
            let _ = writeln!(s, "configuration:  {file}");
            if let Some(t) = cfg.target() {
                let _ = writeln!(
                    s,
                    "  target:       {}{}",
                    t.kind,
                    if t.value.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", t.value)
                    }
                );
            }
            if let Some(p) = cfg.path() {
                let _ = writeln!(s, "  path:         {p}");
            }
            if let Some(c) = cfg.collector() {
                let dropped = advice::dropped(c.effective_level());
                let _ = writeln!(
                    s,
                    "  collector:    {} (level {}: drops {}; codec {})",
                    c.command,
                    c.effective_level(),
                    if dropped.is_empty() {
                        "nothing".to_owned()
                    } else {
                        dropped.join(", ")
                    },
                    c.codec
                );
            }
            match cfg {
                DumpConfig::KdumpConf { conf, .. } => {
                    let _ = writeln!(
                        s,
                        "  failure_action: {}; final_action: {}",
                        conf.failure_action, conf.final_action
                    );
                }
                DumpConfig::KdumpTools { conf, .. } => {
                    let _ = writeln!(
                        s,
                        "  USE_KDUMP:    {}",
                        if conf.use_kdump { "1" } else { "0 (disabled)" }
                    );
                }
                DumpConfig::Missing { .. } => {}
            }
            for e in cfg.errors() {
                let _ = writeln!(s, "  error:        {e}");
            }
        }
    }
    for u in &f.unreadable {
        let _ = writeln!(s, "unreadable:     {u}");
    }
    s
}

fn check_text(f: &Facts, keep: Keep, findings: &[check::Finding]) -> String {
    let problems: Vec<&check::Finding> = findings
        .iter()
        .filter(|x| x.severity == Severity::Problem)
        .collect();
    let warnings: Vec<&check::Finding> = findings
        .iter()
        .filter(|x| x.severity == Severity::Warning)
        .collect();
    let mut s = String::new();
    if problems.is_empty() {
        let _ = writeln!(
            s,
            "kdump will work on {} (keeping {}).",
            f.describe(),
            keep.name()
        );
    } else {
        let _ = writeln!(
            s,
            "kdump will NOT work on {} (keeping {}): {} problem{}.",
            f.describe(),
            keep.name(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }
    for (i, p) in problems.iter().enumerate() {
        let _ = writeln!(s, "\n{}. {} [{}]", i + 1, p.what, p.id);
        let _ = writeln!(s, "   cause: {}", p.cause);
        if let Some(fix) = &p.fix {
            let _ = writeln!(s, "   fix:   {fix}");
        }
    }
    for w in warnings {
        let _ = writeln!(s, "\nwarning: {} [{}]", w.what, w.id);
        let _ = writeln!(s, "   {}", w.cause);
        if let Some(fix) = &w.fix {
            let _ = writeln!(s, "   hint:  {fix}");
        }
    }
    s
}

fn recommend_out(root: &Path, f: &Facts, keep: Keep, json: bool) -> Output {
    let family = f.family.unwrap_or(facts::Family::Rhel);
    let est = advice::estimate(root, f);
    let value = check::wanted_crashkernel(f, &est);
    let rec = advice::recommendation(f);
    let level = keep.level();
    let program = f
        .config
        .collector()
        .map(|c| c.program.clone())
        .filter(|p| p == "vmcore-capture")
        .unwrap_or_else(|| "makedumpfile".into());
    let collector = advice::collector_command(&program, family, level, advice::needs_stream(f));
    let expected = advice::expected_dump(f, level);
    let reserves = crashkernel_param::evaluate_value(&value, f.ram, f.target());
    if json {
        let v = json!({
            "distro": f.distro.map(|d| d.name()),
            "arch": f.arch.name(),
            "ram": f.ram,
            "crashkernel": value,
            "distro_value": rec.as_ref().map(|r| r.value().to_owned()),
            "source": f.distro.map(|d| d.source()),
            "reservation": crate::crashkernel::eval_json(&reserves),
            "estimate": est.recommended,
            "keep": keep,
            "dump_level": level,
            "drops": advice::dropped(level),
            "core_collector": collector,
            "expected_dump_max": expected,
        });
        return Output {
            code: 0,
            stdout: format!("{}\n", pretty(&v)),
            stderr: String::new(),
        };
    }
    let mut s = format!("crashkernel={value}\n");
    match (&rec, f.distro) {
        (Some(r), Some(d)) if r.value() == value => {
            let _ = writeln!(s, "  the {} default: {}", d.name(), d.source());
        }
        (Some(r), Some(d)) => {
            let _ = writeln!(
                s,
                "  the {} default is {}; this value is used because {}",
                d.name(),
                r.value(),
                if f.crashkernel_tokens
                    .last()
                    .is_some_and(|t| t.ends_with(&value))
                {
                    "the running one already reserves enough"
                } else {
                    "the default reserves less than the estimate"
                }
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "  no distribution table applies: sized from the estimate"
            );
        }
    }
    let _ = match &reserves {
        Ok(r) => writeln!(
            s,
            "  reserves {} with {} of RAM; the capture kernel needs about {}",
            Size(r.size),
            human(f.ram),
            human(est.recommended)
        ),
        Err(e) => writeln!(s, "  reserves nothing here: {e}"),
    };
    let _ = writeln!(
        s,
        "keep {}: dump level {level}, core_collector {collector}",
        keep.name()
    );
    let _ = writeln!(s, "  drops: {}", advice::dropped(level).join(", "));
    match expected {
        Some(e) => {
            let _ = writeln!(
                s,
                "  expected dump: up to {} before compression (from proc/meminfo now)",
                human(e)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "  expected dump: unknown (proc/meminfo unreadable); at most {}",
                human(f.ram)
            );
        }
    }
    Output {
        code: 0,
        stdout: s,
        stderr: String::new(),
    }
}

fn estimate_text(e: &advice::Estimate) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Reserved crashkernel:    {}", human(e.reserved));
    let _ = writeln!(s, "Recommended crashkernel: {}", human(e.recommended));
    let _ = writeln!(s);
    for p in &e.parts {
        let _ = writeln!(s, "{:<16} {:>9}  {}", p.name, human(p.bytes), p.source);
    }
    let _ = writeln!(s, "{:<16} {:>9}", "estimated", human(e.estimated));
    let _ = writeln!(
        s,
        "{:<16} {:>9}  the distribution default at this RAM size",
        "default",
        human(e.baseline)
    );
    for n in &e.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if e.reserved < e.recommended {
        let _ = writeln!(
            s,
            "WARNING: the reservation is smaller than the recommended {}.",
            human(e.recommended)
        );
    }
    s
}

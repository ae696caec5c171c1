//! The changes that make kdump work, as commands and file edits; shown as a
//! dry run, or applied with backups.
//!
//! What the real tools change, which `--apply --root DIR` reproduces as file
//! edits under DIR: `grubby --update-kernel=ALL --args=crashkernel=V` rewrites
//! the `options` line of every BLS entry (`boot/loader/entries/*.conf`),
//! `GRUB_CMDLINE_LINUX` in `etc/default/grub` and `etc/kernel/cmdline`
//! (grubby-bls; kdump-utils `kdumpctl` `reset-crashkernel` calls it);
//! `systemctl enable` makes the `WantedBy=multi-user.target` link; on Debian,
//! kdump-tools reads `etc/default/grub.d/kdump-tools.cfg` through
//! `update-grub` and `etc/default/kdump-tools` at service start.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::advice::{self, Keep};
use super::check::{self, package};
use super::facts::{DumpConfig, Facts, Family, under};

/// One change to the file tree.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Change {
    /// Write a file (create it when `before` is `None`).
    Write {
        /// Root-relative path.
        path: String,
        /// Current content.
        before: Option<String>,
        /// New content.
        after: String,
        /// On the live system a command makes this change (`None`: kdump-config writes it).
        by: Option<&'static str>,
    },
    /// Make a symbolic link.
    Symlink {
        /// Root-relative path of the link.
        path: String,
        /// What it points to.
        target: String,
        /// The command that makes it on the live system.
        by: Option<&'static str>,
    },
    /// Make a directory.
    Mkdir {
        /// Root-relative path.
        path: String,
    },
}

impl Change {
    fn path(&self) -> &str {
        match self {
            Change::Write { path, .. } | Change::Symlink { path, .. } | Change::Mkdir { path } => {
                path
            }
        }
    }
}

/// Everything setup would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The `crashkernel=` value it sets.
    pub crashkernel: String,
    /// What the dump keeps.
    pub keep: Keep,
    /// The collector command it configures.
    pub collector: String,
    /// Commands the live system runs, in order.
    pub commands: Vec<String>,
    /// File changes (only real ones: nothing here means nothing to change).
    pub changes: Vec<Change>,
    /// Whether a reboot is needed for the reservation.
    pub reboot: bool,
    /// Remarks.
    pub notes: Vec<String>,
}

/// Sets `crashkernel=value` in a whitespace-separated argument list: the first
/// `crashkernel=` token is replaced, later ones removed, or it is appended.
pub fn set_arg(args: &str, value: &str) -> String {
    let new = format!("crashkernel={value}");
    let mut out: Vec<&str> = Vec::new();
    let mut placed = false;
    for t in args.split_whitespace() {
        if t.starts_with("crashkernel=") {
            if !placed {
                out.push(&new);
                placed = true;
            }
        } else {
            out.push(t);
        }
    }
    if !placed {
        out.push(&new);
    }
    out.join(" ")
}

/// Rewrites the line `KEY="..."` (or adds it) with `edit` applied to its value.
fn edit_assignment(text: &str, key: &str, edit: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .filter(|_| !done)
        {
            let rest = rest.trim_end();
            let (quote, inner) = ['"', '\'']
                .iter()
                .find_map(|&q| {
                    rest.strip_prefix(q)
                        .and_then(|r| r.strip_suffix(q))
                        .map(|r| (q, r))
                })
                .unwrap_or(('"', rest));
            let _ = writeln!(out, "{key}={quote}{}{quote}", edit(inner));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !done {
        let _ = writeln!(out, "{key}=\"{}\"", edit(""));
    }
    out
}

/// Sets the `core_collector` line of kdump.conf, keeping comments and order.
fn set_directive(text: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        if word == key {
            if !done {
                let _ = writeln!(out, "{key} {value}");
                done = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !done {
        let _ = writeln!(out, "{key} {value}");
    }
    out
}

/// Size of a GRUB environment block (`grub-core/lib/envblk.c`): the text is
/// padded with `#` to exactly this many bytes.
const GRUBENV_SIZE: usize = 1024;

/// Rewrites `key=value` in a GRUB environment block with `edit`, keeping its
/// 1024-byte size. Returns the text before and after.
pub fn set_grubenv(
    text: &str,
    key: &str,
    edit: impl Fn(&str) -> String,
) -> Result<(String, String), String> {
    let body = text.trim_end_matches('#');
    let mut out = String::new();
    let mut found = false;
    for line in body.lines() {
        match line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            Some(v) if !found => {
                let _ = writeln!(out, "{key}={}", edit(v));
                found = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !found {
        return Err(format!("no {key}= in the environment block"));
    }
    if out.len() > GRUBENV_SIZE {
        return Err(format!(
            "the edited environment block is {} bytes, more than {GRUBENV_SIZE}",
            out.len()
        ));
    }
    let pad = GRUBENV_SIZE - out.len();
    out.extend(std::iter::repeat_n('#', pad));
    Ok((text.to_owned(), out))
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(under(root, rel)).ok()
}

fn write_change(
    changes: &mut Vec<Change>,
    path: String,
    before: Option<String>,
    after: String,
    by: Option<&'static str>,
) {
    if before.as_deref() != Some(after.as_str()) {
        changes.push(Change::Write {
            path,
            before,
            after,
            by,
        });
    }
}

/// Plans setup. `collector`: `makedumpfile` or `vmcore-capture` (default: the configured one).
pub fn plan(
    root: &Path,
    facts: &Facts,
    keep: Keep,
    collector: Option<&str>,
    crashkernel: Option<&str>,
) -> Plan {
    let family = facts.family.unwrap_or(Family::Rhel);
    let est = advice::estimate(root, facts);
    let value = crashkernel
        .map(|v| v.trim_start_matches("crashkernel=").to_owned())
        .unwrap_or_else(|| check::wanted_crashkernel(facts, &est));
    let current = facts.config.collector();
    let program = collector
        .map(str::to_owned)
        .or_else(|| current.map(|c| c.program.clone()))
        .filter(|p| p == "makedumpfile" || p == "vmcore-capture")
        .unwrap_or_else(|| "makedumpfile".to_owned());
    let stream = advice::needs_stream(facts);
    let wanted_collector = advice::collector_command(&program, family, keep.level(), stream);
    let collector_ok = current.is_some_and(|c| {
        advice::collector_drops(c, keep).is_empty()
            && c.program == program
            && check::stream_mismatch(facts, c).is_none()
    });

    let mut commands = Vec::new();
    let mut changes = Vec::new();
    let mut notes = Vec::new();

    if matches!(facts.config, DumpConfig::Missing { .. }) {
        commands.push(package(facts).replace("install", "install -y"));
        notes.push(
            "the kdump package is not installed; under --root its files are written as setup needs them, the package itself is not installed".into(),
        );
    }

    // crashkernel= on every boot entry.
    let mut boot_files = 0;
    let mut boot_changed = false;
    let mut uses_kernelopts = false;
    match family {
        Family::Rhel => {
            let entries_dir = under(root, "boot/loader/entries");
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&entries_dir)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                        .collect()
                })
                .unwrap_or_default();
            entries.sort();
            for p in entries {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let rel = format!("boot/loader/entries/{name}");
                let Some(text) = read(root, &rel) else {
                    continue;
                };
                boot_files += 1;
                let mut after = String::new();
                for line in text.lines() {
                    match line.strip_prefix("options") {
                        Some(args) if args.starts_with([' ', '\t']) => {
                            if args.contains("$kernelopts") {
                                uses_kernelopts = true;
                                after.push_str(line);
                            } else {
                                let _ = write!(after, "options {}", set_arg(args, &value));
                            }
                        }
                        _ => after.push_str(line),
                    }
                    after.push('\n');
                }
                let before = Some(text);
                boot_changed |= before.as_deref() != Some(after.as_str());
                write_change(&mut changes, rel, before, after, Some("grubby"));
            }
            if uses_kernelopts {
                let rel = "boot/grub2/grubenv";
                match read(root, rel).map(|t| set_grubenv(&t, "kernelopts", |v| set_arg(v, &value))) {
                    Some(Ok((before, after))) => {
                        boot_changed |= before != after;
                        write_change(&mut changes, rel.into(), Some(before), after, Some("grubby"));
                    }
                    Some(Err(e)) => notes.push(format!("{rel}: {e}; run grubby on the system itself")),
                    None => notes.push(format!(
                        "the boot entries take their options from $kernelopts but {rel} is missing; run grubby on the system itself"
                    )),
                }
            }
            if let Some(text) = read(root, "etc/default/grub") {
                boot_files += 1;
                let after = edit_assignment(&text, "GRUB_CMDLINE_LINUX", |v| set_arg(v, &value));
                boot_changed |= after != text;
                write_change(
                    &mut changes,
                    "etc/default/grub".into(),
                    Some(text),
                    after,
                    Some("grubby"),
                );
            }
            if let Some(text) = read(root, "etc/kernel/cmdline") {
                boot_files += 1;
                let after = format!("{}\n", set_arg(text.trim_end(), &value));
                boot_changed |= after != text;
                write_change(
                    &mut changes,
                    "etc/kernel/cmdline".into(),
                    Some(text),
                    after,
                    Some("grubby"),
                );
            }
            if boot_changed || boot_files == 0 {
                commands.push(format!(
                    "grubby --update-kernel=ALL --args=crashkernel={value}"
                ));
            }
        }
        Family::Debian => {
            let rel = "etc/default/grub.d/kdump-tools.cfg";
            let before = read(root, rel);
            let after = match &before {
                Some(text) if text.contains("GRUB_CMDLINE_LINUX_DEFAULT=") => {
                    edit_assignment(text, "GRUB_CMDLINE_LINUX_DEFAULT", |v| set_arg(v, &value))
                }
                _ => format!(
                    "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel={value}\"\n"
                ),
            };
            boot_changed = before.as_deref() != Some(after.as_str());
            write_change(&mut changes, rel.into(), before, after, None);
            if boot_changed {
                commands.push("update-grub".into());
                notes.push("update-grub regenerates boot/grub/grub.cfg; with --root it is not run and grub.cfg is left alone".into());
            }
        }
    }
    let reserved_ok = facts.reserved_main() >= est.recommended && facts.reserved_main() > 0;
    let reboot = boot_changed || !reserved_ok;

    // The dump configuration.
    let config_changed;
    match family {
        Family::Rhel => {
            let rel = "etc/kdump.conf";
            let before = read(root, rel);
            let mut after = before.clone().unwrap_or_default();
            if before.is_none() {
                after.push_str("path /var/crash\n");
            }
            if before.is_none() || !collector_ok {
                after = set_directive(&after, "core_collector", &wanted_collector);
            }
            config_changed = before.as_deref() != Some(after.as_str());
            write_change(&mut changes, rel.into(), before, after, None);
        }
        Family::Debian => {
            let rel = "etc/default/kdump-tools";
            let before = read(root, rel);
            let mut after = before.clone().unwrap_or_default();
            let use_kdump =
                matches!(&facts.config, DumpConfig::KdumpTools { conf, .. } if conf.use_kdump);
            if !use_kdump {
                after = edit_assignment(&after, "USE_KDUMP", |_| "1".into())
                    .replace("USE_KDUMP=\"1\"", "USE_KDUMP=1");
            }
            if !collector_ok {
                let args = wanted_collector
                    .trim_start_matches("makedumpfile ")
                    .to_owned();
                after = edit_assignment(&after, "MAKEDUMP_ARGS", |_| args.clone());
                if program == "vmcore-capture" {
                    notes.push("kdump-tools always runs makedumpfile: MAKEDUMP_ARGS gets the level, vmcore-capture is not used".into());
                }
            }
            config_changed = before.as_deref() != Some(after.as_str());
            write_change(&mut changes, rel.into(), before, after, None);
        }
    }

    if let Some((_, path)) = facts
        .config
        .target()
        .zip(facts.config.path())
        .filter(|(t, path)| t.kind == "local" && !under(root, path).is_dir())
    {
        changes.push(Change::Mkdir {
            path: path.trim_start_matches('/').to_owned(),
        });
    } else if matches!(facts.config, DumpConfig::Missing { .. })
        && !under(root, "var/crash").is_dir()
    {
        changes.push(Change::Mkdir {
            path: "var/crash".into(),
        });
    }

    let unit = family.unit();
    let short = unit.trim_end_matches(".service");
    if !facts.service.enabled {
        let lib = match family {
            Family::Rhel => "/usr/lib/systemd/system",
            Family::Debian => "/lib/systemd/system",
        };
        changes.push(Change::Symlink {
            path: format!("etc/systemd/system/multi-user.target.wants/{unit}"),
            target: format!("{lib}/{unit}"),
            by: Some("systemctl"),
        });
        commands.push(format!("systemctl enable --now {short}"));
    } else if config_changed || (facts.reserved_total > 0 && facts.crash_loaded == Some(false)) {
        commands.push(format!("systemctl restart {short}"));
    }
    let kc = &facts.kernel_config;
    if !kc.missing.is_empty() || kc.no_kexec {
        notes.push(format!(
            "the running kernel cannot capture a dump ({}): these changes are not enough; boot a distribution kernel",
            kc.missing
                .iter()
                .map(|n| format!("no CONFIG_{n}"))
                .chain(kc.no_kexec.then(|| "no CONFIG_KEXEC or CONFIG_KEXEC_FILE".to_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if reboot {
        notes.push(format!(
            "reboot to reserve the memory (crashkernel={value}); the service loads the capture kernel after that"
        ));
    }
    Plan {
        crashkernel: value,
        keep,
        collector: wanted_collector,
        commands,
        changes,
        reboot,
        notes,
    }
}

/// A unified diff of two texts (3 lines of context), labelled with `path`.
pub fn unified_diff(path: &str, before: Option<&str>, after: &str) -> String {
    let a: Vec<&str> = before.map(|b| b.lines().collect()).unwrap_or_default();
    let b: Vec<&str> = after.lines().collect();
    // Longest common subsequence table. Configuration files are small; past
    // LCS_CELLS the table is skipped and the diff replaces the whole text.
    const LCS_CELLS: usize = 1 << 22;
    let (n, m) = (a.len(), b.len());
    let table = (n + 1).checked_mul(m + 1).is_some_and(|c| c <= LCS_CELLS);
    let mut lcs = vec![vec![0u32; if table { m + 1 } else { 1 }]; if table { n + 1 } else { 1 }];
    if table {
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
    }
    let prefer_removal = |i: usize, j: usize| !table || lcs[i + 1][j] >= lcs[i][j + 1];
    // Edit script: (tag, a index, b index).
    let mut ops: Vec<(char, usize, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if table && i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || prefer_removal(i, j)) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    let from = if before.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".into()
    };
    let mut out = format!("--- {from}\n+++ b/{path}\n");
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 != ' ')
        .map(|(k, _)| k)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(3);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 6 {
            end = changed[k];
            k += 1;
        }
        let end = (end + 3).min(ops.len() - 1);
        let hunk = &ops[start..=end];
        let a_start = hunk
            .iter()
            .find(|o| o.0 != '+')
            .map(|o| o.1)
            .unwrap_or(hunk[0].1);
        let b_start = hunk
            .iter()
            .find(|o| o.0 != '-')
            .map(|o| o.2)
            .unwrap_or(hunk[0].2);
        let a_len = hunk.iter().filter(|o| o.0 != '+').count();
        let b_len = hunk.iter().filter(|o| o.0 != '-').count();
        let a_first = if a_len == 0 { a_start } else { a_start + 1 };
        let b_first = if b_len == 0 { b_start } else { b_start + 1 };
        let _ = writeln!(out, "@@ -{a_first},{a_len} +{b_first},{b_len} @@");
        for &(tag, ai, bj) in hunk {
            let line = if tag == '+' { b[bj] } else { a[ai] };
            let _ = writeln!(out, "{tag}{line}");
        }
    }
    out
}

/// The dry-run text.
pub fn render(facts: &Facts, plan: &Plan, root_given: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kdump-config setup for {}", facts.describe());
    let _ = writeln!(s, "crashkernel={}", plan.crashkernel);
    let _ = writeln!(s, "keep {}: {}", plan.keep.name(), plan.collector);
    if plan.commands.is_empty() && plan.changes.is_empty() {
        let _ = writeln!(s, "\nnothing to change: kdump is set up as asked");
        if plan.reboot {
            let _ = writeln!(
                s,
                "the running kernel has not reserved enough memory yet: reboot so crashkernel={} takes effect",
                plan.crashkernel
            );
        }
        return s;
    }
    if !plan.commands.is_empty() {
        let _ = writeln!(
            s,
            "\n{}",
            if root_given {
                "commands the real system would run (as root); under --root their file edits are made directly:"
            } else {
                "commands (as root):"
            }
        );
        for c in &plan.commands {
            let _ = writeln!(s, "  {c}");
        }
    }
    if !plan.changes.is_empty() {
        let _ = writeln!(s, "\nchanges:");
        for c in &plan.changes {
            match c {
                Change::Write {
                    path,
                    before,
                    after,
                    by,
                } => {
                    if let Some(by) = by {
                        let _ = writeln!(s, "# {path} (done by {by} on the real system)");
                    }
                    s.push_str(&unified_diff(path, before.as_deref(), after));
                }
                Change::Symlink { path, target, by } => {
                    let _ = writeln!(
                        s,
                        "link {path} -> {target}{}",
                        by.map(|b| format!(" (done by {b} on the real system)"))
                            .unwrap_or_default()
                    );
                }
                Change::Mkdir { path } => {
                    let _ = writeln!(s, "mkdir {path}");
                }
            }
        }
    }
    for n in &plan.notes {
        let _ = writeln!(s, "\nnote: {n}");
    }
    s
}

/// Resolves `rel` under `root` to the file a write would reach, refusing
/// anything that would leave the root: a `..`, an absolute symbolic link on
/// the way (the kernel would follow it out of the root), or a relative one
/// that leads outside. Relative links inside the root (RHEL's
/// `boot/grub2/grubenv` on EFI systems) are followed.
fn contained(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let canon_root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let mut p = canon_root.clone();
    for comp in Path::new(rel).components() {
        let std::path::Component::Normal(c) = comp else {
            return Err(format!("{rel}: not a plain relative path"));
        };
        p.push(c);
        if let Some(target) = std::fs::read_link(&p).ok().filter(|t| t.is_absolute()) {
            return Err(format!(
                "{rel}: an absolute symbolic link is on the way ({}); not following it out of the root",
                target.display()
            ));
        }
    }
    let mut existing = canon_root.join(rel);
    let mut rest = Vec::new();
    while existing.symlink_metadata().is_err() {
        match existing.file_name() {
            Some(n) => rest.push(n.to_owned()),
            None => break,
        }
        existing.pop();
    }
    let mut resolved = existing
        .canonicalize()
        .map_err(|e| format!("{rel}: {e} (a dangling symbolic link?); not writing through it"))?;
    for n in rest.iter().rev() {
        resolved.push(n);
    }
    if !resolved.starts_with(&canon_root) {
        return Err(format!(
            "{rel}: a symbolic link leads out of the root; not following it"
        ));
    }
    Ok(resolved)
}

/// Backs up `path` (a regular file with metadata `meta`) as `FILE.kdump-config.bak`, or the
/// first free `.bak.1`, `.bak.2`, ...: each candidate is created exclusively (a name taken,
/// by a file or a link, is skipped, never written through), with the original's mode and
/// owner, so the backup is no more readable than the file.
fn backup(path: &Path, meta: &std::fs::Metadata) -> Result<PathBuf, String> {
    let base = format!("{}.kdump-config.bak", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1u32;
    loop {
        match crate::files::copy_like(path, meta, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => {
                candidate = PathBuf::from(format!("{base}.{n}"));
                n += 1;
            }
            Err(e) => return Err(format!("{}: {e}", candidate.display())),
        }
    }
}

/// What `apply` did, one line each (root-relative paths).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// Lines describing each change and command.
    pub done: Vec<String>,
}

/// Applies the plan under `root` as file edits only (no command runs).
pub fn apply_under_root(root: &Path, plan: &Plan) -> Result<Applied, String> {
    let mut done = Applied::default();
    for c in &plan.changes {
        apply_change(root, c, &mut done)?;
    }
    Ok(done)
}

fn apply_change(root: &Path, c: &Change, done: &mut Applied) -> Result<(), String> {
    let rel = c.path();
    match c {
        Change::Write { after, before, .. } => {
            let path = contained(root, rel)?;
            // `contained` resolved any link on the way: this is the file itself.
            let original = std::fs::symlink_metadata(&path).ok();
            if let Some(m) = original.as_ref().filter(|m| !m.is_file()) {
                return Err(format!(
                    "{rel}: not a regular file ({:?}); not replacing it",
                    m.file_type()
                ));
            }
            if before.is_some() {
                let meta = original
                    .as_ref()
                    .ok_or_else(|| format!("{rel}: disappeared before it could be backed up"))?;
                let bak = backup(&path, meta).map_err(|e| format!("{rel}: backup: {e}"))?;
                let bak_rel = bak
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                done.done.push(format!("backed up {rel} as {bak_rel}"));
            } else if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{rel}: {e}"))?;
            }
            // The edited file keeps the original's mode and owner; a new one gets what a
            // package would install a configuration file with.
            let perms = match &original {
                Some(m) => crate::files::Perms::SameAs(m),
                None => crate::files::Perms::Exactly(0o644),
            };
            crate::files::replace(&path, after.as_bytes(), perms, "kdump-config")
                .map_err(|e| format!("{rel}: {e}"))?;
            done.done.push(format!("wrote {rel}"));
        }
        Change::Symlink { target, .. } => {
            let path = contained(root, rel)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{rel}: {e}"))?;
            }
            symlink(target, &path).map_err(|e| format!("{rel}: {e}"))?;
            done.done.push(format!("linked {rel} -> {target}"));
        }
        Change::Mkdir { .. } => {
            let path = contained(root, rel)?;
            std::fs::create_dir_all(&path).map_err(|e| format!("{rel}: {e}"))?;
            done.done.push(format!("made directory {rel}"));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &str, path: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn symlink(_target: &str, _path: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "symbolic links need a Unix system",
    ))
}

/// Applies the plan on the live system: the commands run through `host`, and
/// the file changes no command makes are written (with backups) under `/`.
pub fn apply_live(plan: &Plan, host: &dyn super::Host) -> Result<Applied, String> {
    if let Some(install) = plan
        .commands
        .iter()
        .find(|c| c.starts_with("dnf install") || c.starts_with("apt install"))
    {
        return Err(format!(
            "the kdump package is not installed: run `{install}` first, then setup --apply again (its configuration files come with it)"
        ));
    }
    let mut done = Applied::default();
    let root = Path::new("/");
    // Files kdump-config writes itself come first, so the commands see them.
    for c in &plan.changes {
        let by_command = match c {
            Change::Write { by, .. } | Change::Symlink { by, .. } => by.is_some(),
            Change::Mkdir { .. } => false,
        };
        if !by_command {
            apply_change(root, c, &mut done)?;
        }
    }
    for cmd in &plan.commands {
        host.run(cmd)?;
        done.done.push(format!("ran {cmd}"));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_arg_replaces_first_and_drops_rest() {
        assert_eq!(set_arg("ro quiet", "256M"), "ro quiet crashkernel=256M");
        assert_eq!(
            set_arg("ro crashkernel=auto quiet crashkernel=1G,high", "256M"),
            "ro crashkernel=256M quiet"
        );
        assert_eq!(set_arg("", "1G-:256M"), "crashkernel=1G-:256M");
    }

    #[test]
    fn assignments_and_directives() {
        let g = "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"rhgb quiet\"\n";
        assert_eq!(
            edit_assignment(
                "A=1\nGRUB_CMDLINE_LINUX='quiet'\n",
                "GRUB_CMDLINE_LINUX",
                |v| set_arg(v, "1G")
            ),
            "A=1\nGRUB_CMDLINE_LINUX='quiet crashkernel=1G'\n"
        );
        assert_eq!(
            edit_assignment("X=\n", "GRUB_CMDLINE_LINUX", |v| set_arg(v, "1G")),
            "X=\nGRUB_CMDLINE_LINUX=\"crashkernel=1G\"\n"
        );
        assert_eq!(
            edit_assignment(g, "GRUB_CMDLINE_LINUX", |v| set_arg(v, "256M")),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"rhgb quiet crashkernel=256M\"\n"
        );
        assert_eq!(
            set_directive(
                "path /var/crash\n#core_collector x\ncore_collector cp\n",
                "core_collector",
                "makedumpfile -d 1"
            ),
            "path /var/crash\n#core_collector x\ncore_collector makedumpfile -d 1\n"
        );
    }

    #[test]
    fn huge_diffs_replace_the_whole_text() {
        let a: String = (0..3000).map(|i| format!("{i}\n")).collect();
        let b: String = (0..3000).map(|i| format!("{}\n", i + 1)).collect();
        let d = unified_diff("big", Some(&a), &b);
        assert_eq!(d.lines().filter(|l| l.starts_with('-')).count(), 3001);
        assert_eq!(d.lines().filter(|l| l.starts_with('+')).count(), 3001);
    }

    #[test]
    fn grubenv_keeps_its_size() {
        let mut env = String::from(
            "# GRUB Environment Block\nsaved_entry=abc\nkernelopts=root=/dev/sda1 ro crashkernel=auto\n",
        );
        env.extend(std::iter::repeat_n('#', 1024 - env.len()));
        let (_, after) = set_grubenv(&env, "kernelopts", |v| set_arg(v, "512M")).unwrap();
        assert_eq!(after.len(), 1024);
        assert!(after.contains("\nkernelopts=root=/dev/sda1 ro crashkernel=512M\n"));
        assert!(after.starts_with("# GRUB Environment Block\nsaved_entry=abc\n"));
        assert!(set_grubenv(&env, "nothere", |v| v.into()).is_err());
        assert!(set_grubenv(&env, "kernelopts", |_| "x".repeat(1100)).is_err());
    }

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let d = unified_diff("f", Some("a\nb\nc\n"), "a\nB\nc\n");
        assert_eq!(d, "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
        let d = unified_diff("n", None, "x\n");
        assert_eq!(d, "--- /dev/null\n+++ b/n\n@@ -0,0 +1,1 @@\n+x\n");
    }

    proptest::proptest! {
        #[test]
        fn set_arg_leaves_exactly_one_token(args in proptest::collection::vec("(crashkernel=[0-9A-Za-z:,-]{0,8}|[a-z]{1,6}(=[a-z0-9]{1,4})?)", 0..8), value in "[0-9]{1,4}M") {
            let joined = args.join(" ");
            let out = set_arg(&joined, &value);
            let tokens = crate::kdump_config::facts::crashkernel_tokens(&out);
            proptest::prop_assert_eq!(tokens, vec![format!("crashkernel={value}")]);
            proptest::prop_assert_eq!(set_arg(&out, &value), out.clone());
            let others: Vec<&str> = joined.split_whitespace().filter(|t| !t.starts_with("crashkernel=")).collect();
            let kept: Vec<&str> = out.split_whitespace().filter(|t| !t.starts_with("crashkernel=")).collect();
            proptest::prop_assert_eq!(others, kept);
        }

        #[test]
        fn diff_hunks_cover_every_change(a in proptest::collection::vec("[abc]{0,2}", 0..14), b in proptest::collection::vec("[abc]{0,2}", 0..14)) {
            let before: String = a.iter().map(|l| format!("{l}\n")).collect();
            let after: String = b.iter().map(|l| format!("{l}\n")).collect();
            let d = unified_diff("f", Some(&before), &after);
            let changed = d.lines().skip(2).any(|l| l.starts_with('+') || l.starts_with('-'));
            proptest::prop_assert_eq!(changed, before != after);
            // Replaying the hunks over the old text gives the new one.
            let mut out: Vec<&str> = Vec::new();
            let old: Vec<&str> = before.lines().collect();
            let mut next = 0;
            let body: Vec<&str> = d.lines().skip(2).collect();
            let mut i = 0;
            while i < body.len() {
                let h = body[i];
                let start: usize = h.trim_start_matches("@@ -").split(',').next().unwrap().parse().unwrap();
                let len: usize = h.split(' ').nth(1).unwrap().split(',').nth(1).unwrap().parse().unwrap();
                let start = if len == 0 { start } else { start - 1 };
                out.extend(&old[next..start]);
                next = start;
                i += 1;
                while i < body.len() && !body[i].starts_with("@@") {
                    let (tag, text) = body[i].split_at(1);
                    if tag != "-" { out.push(text); }
                    if tag != "+" { next += 1; }
                    i += 1;
                }
            }
            out.extend(&old[next..]);
            proptest::prop_assert_eq!(out, after.lines().collect::<Vec<_>>());
        }
    }

    #[test]
    fn contained_refuses_escapes() {
        let dir =
            std::env::temp_dir().join(format!("kdump-config-contained-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(contained(&dir, "etc/kdump.conf").is_ok());
        assert!(contained(&dir, "../x").is_err());
        #[cfg(unix)]
        {
            std::fs::create_dir_all(dir.join("boot/efi/EFI/redhat")).unwrap();
            std::fs::create_dir_all(dir.join("boot/grub2")).unwrap();
            std::os::unix::fs::symlink("../efi/EFI/redhat/grubenv", dir.join("boot/grub2/grubenv"))
                .unwrap();
            assert!(contained(&dir, "boot/grub2/grubenv").is_err(), "dangling");
            std::fs::write(dir.join("boot/efi/EFI/redhat/grubenv"), "#").unwrap();
            let canon = dir.canonicalize().unwrap();
            assert_eq!(
                contained(&dir, "boot/grub2/grubenv").unwrap(),
                canon.join("boot/efi/EFI/redhat/grubenv")
            );
            std::os::unix::fs::symlink("../../..", dir.join("boot/up")).unwrap();
            assert!(contained(&dir, "boot/up/x").is_err());
            std::os::unix::fs::symlink("/etc", dir.join("etc")).unwrap();
            assert!(contained(&dir, "etc/kdump.conf").is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

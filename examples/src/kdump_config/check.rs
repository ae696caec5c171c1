//! Will kdump work? Each problem with its cause and the command that fixes it.
//!
//! The checks follow what a kdump setup needs, in the order a capture fails:
//! a kernel built for it (`kconfig`), a way to load the capture kernel under
//! lockdown (only `kexec_file_load` is allowed there, `kernel/kexec_file.c`
//! and `security/lockdown`), memory reserved at boot and enough of it (the
//! estimate), the capture kernel loaded (`/sys/kernel/kexec_crash_loaded`),
//! the service and its configuration, room on the target, and a dump level
//! that keeps what the user wants, and an ssh key that ssh would accept.

use std::path::Path;

use crashkernel_param::{Distro, Failure, Size};
use serde::Serialize;

use super::Host;
use super::advice::{self, Estimate, Keep};
use super::facts::{DumpConfig, Facts, Family, under};

const M: u64 = 1 << 20;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// kdump will not work (or will not keep what is wanted).
    Problem,
    /// Worth knowing; kdump may still work.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// A stable name (`no-reservation`, `not-loaded`, ...).
    pub id: &'static str,
    /// What is wrong.
    pub what: String,
    /// Why.
    pub cause: String,
    /// The command that fixes it, when there is one.
    pub fix: Option<String>,
}

/// The `crashkernel=` value setup writes: the running one when it is valid
/// and large enough, else the distro's value when it covers the estimate,
/// else the estimate rounded up to 64M.
pub fn wanted_crashkernel(facts: &Facts, est: &Estimate) -> String {
    if facts.reserved_main() >= est.recommended
        && facts.evaluation.as_ref().is_ok_and(|r| r.size > 0)
    {
        if let Some(token) = facts.crashkernel_tokens.last() {
            return token.trim_start_matches("crashkernel=").to_owned();
        }
    }
    if let Some(rec) = advice::recommendation(facts) {
        if advice::recommended_bytes(facts) >= est.recommended
            && advice::recommended_bytes(facts) > 0
        {
            return rec.value().to_owned();
        }
    }
    let need = est.recommended.max(256 * M);
    let rounded = need.div_ceil(64 * M).saturating_mul(64 * M);
    Size(rounded).to_string()
}

/// The command that puts `crashkernel=VALUE` on every kernel's command line.
pub fn set_crashkernel_command(facts: &Facts, value: &str) -> String {
    match facts.family {
        Some(Family::Debian) => format!(
            "printf '%s\\n' 'GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel={value}\"' > /etc/default/grub.d/kdump-tools.cfg && update-grub && reboot"
        ),
        _ => format!("grubby --update-kernel=ALL --args=crashkernel={value} && reboot"),
    }
}

/// The package that provides the service.
pub fn package(facts: &Facts) -> &'static str {
    match (facts.family, facts.distro) {
        (Some(Family::Debian), _) => "apt install kdump-tools",
        (_, Some(Distro::Rhel10)) => "dnf install kdump-utils",
        _ => "dnf install kexec-tools",
    }
}

/// Why the collector cannot deliver to the configured target on kdump-utils, if it
/// cannot: `(finding id, cause)`. The rules, from kdump-utils: `mkdumprd`
/// `verify_core_collector` refuses a collector whose first word is exactly `makedumpfile`
/// and whose arguments hold no `-F` for an `ssh` or `raw` target ("The specified dump
/// target needs makedumpfile \"-F\" option."), and checks no other program; the capture
/// script (`dracut/99kdumpbase/kdump.sh`) removes `-F` from, and for ssh and raw adds it
/// to, only collectors whose command contains `makedumpfile`, then runs
/// `COLLECTOR /proc/vmcore | ssh ...` (or `| dd`) for ssh and raw and
/// `COLLECTOR /proc/vmcore FILE` otherwise. vmcore-capture, like makedumpfile, takes one
/// file with `-F` and two without. kdump-tools adds `-F` itself for every target
/// (`kdump-config`: `MAKEDUMP_ARGS` gets ` -F` unless it starts with it), so Debian
/// has no such mismatch.
pub fn stream_mismatch(
    facts: &Facts,
    c: &super::conf::Collector,
) -> Option<(&'static str, String)> {
    if !matches!(&facts.config, DumpConfig::KdumpConf { .. }) {
        return None;
    }
    let kind = facts.config.target()?.kind.as_str();
    let stream = kind == "ssh" || kind == "raw";
    let first = c.first_word();
    let args = c.command.get(first.len()..).unwrap_or("");
    let named_makedumpfile = c.command.contains("makedumpfile");
    if stream && first == "makedumpfile" && !args.contains("-F") {
        return Some((
            "collector-needs-flattened",
            format!(
                "kdump-utils' mkdumprd refuses \"{}\" for the {kind} target (\"The specified dump target needs makedumpfile \"-F\" option.\"): the kdump initramfs is not built and the service does not start",
                c.command
            ),
        ));
    }
    if stream && !named_makedumpfile && c.program == "vmcore-capture" && !c.flattened {
        return Some((
            "collector-needs-flattened",
            format!(
                "\"{}\" has no -F: for the {kind} target the capture script runs it on /proc/vmcore alone with its output piped to {}, and it adds -F only to makedumpfile; without -F vmcore-capture needs a DUMPFILE and refuses, so no dump is saved",
                c.command,
                if kind == "ssh" { "ssh" } else { "dd" }
            ),
        ));
    }
    if !stream && !named_makedumpfile && c.program == "vmcore-capture" && c.flattened {
        return Some((
            "collector-flattened-to-file",
            format!(
                "\"{}\" has -F, but the {kind} target gets a file: the capture script runs it with /proc/vmcore and the dump file and removes -F only from makedumpfile; with -F vmcore-capture takes no DUMPFILE and refuses, so no dump is saved",
                c.command
            ),
        ));
    }
    None
}

/// Runs every check.
pub fn check(root: &Path, facts: &Facts, keep: Keep, host: &dyn Host) -> (Estimate, Vec<Finding>) {
    let est = advice::estimate(root, facts);
    let mut out = Vec::new();
    let mut add = |severity, id, what: String, cause: String, fix: Option<String>| {
        out.push(Finding {
            severity,
            id,
            what,
            cause,
            fix,
        })
    };
    let family = facts.family.unwrap_or(Family::Rhel);
    let unit = family.unit();
    let value = wanted_crashkernel(facts, &est);
    let set_cmd = set_crashkernel_command(facts, &value);
    let kernel_pkg = match family {
        Family::Rhel => "dnf install kernel",
        Family::Debian => "apt install linux-image-$(dpkg --print-architecture)",
    };

    if facts.family.is_none() {
        add(
            Severity::Warning,
            "unknown-distribution",
            format!("{:?} is not a distribution kdump-config knows", facts.os.id),
            "etc/os-release names neither a RHEL-family nor a Debian-family system; the checks assume kdump-utils".into(),
            None,
        );
    }

    let kc = &facts.kernel_config;
    match &kc.source {
        None => add(
            Severity::Warning,
            "kernel-config-unknown",
            "the kernel's build configuration is not available".into(),
            format!(
                "neither boot/config-{} nor proc/config.gz exists, so kdump support cannot be confirmed",
                facts.kernel_release
            ),
            None,
        ),
        Some(src) => {
            if !kc.missing.is_empty() {
                add(
                    Severity::Problem,
                    "kernel-cannot-dump",
                    "this kernel cannot capture a crash dump".into(),
                    format!(
                        "{src} does not build in {}",
                        kc.missing
                            .iter()
                            .map(|n| format!("CONFIG_{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(format!(
                        "{kernel_pkg} (a distribution kernel has them), then reboot into it"
                    )),
                );
            }
            if kc.no_kexec {
                add(
                    Severity::Problem,
                    "kernel-cannot-kexec",
                    "this kernel cannot load a capture kernel".into(),
                    format!("{src} has neither CONFIG_KEXEC nor CONFIG_KEXEC_FILE"),
                    Some(format!("{kernel_pkg}, then reboot into it")),
                );
            }
        }
    }

    // Secure Boot on distribution kernels comes with lockdown; either way
    // kdump-utils switches to the file syscall (`prepare_kexec_args`).
    let restriction = match (facts.lockdown.as_deref(), facts.secure_boot) {
        (Some(l @ ("integrity" | "confidentiality")), _) => Some(format!("lockdown is {l}")),
        (_, Some(true)) => Some("Secure Boot is enforced".to_owned()),
        _ => None,
    };
    let locked = restriction.is_some();
    let why = restriction.unwrap_or_default();
    if locked
        && kc.source.is_some()
        && kc.options.get("KEXEC_FILE").cloned().flatten().as_deref() != Some("y")
    {
        add(
            Severity::Problem,
            "lockdown-no-kexec-file",
            "the kernel is locked down and cannot load a capture kernel".into(),
            format!(
                "{why}: only kexec_file_load is allowed, and this kernel has no CONFIG_KEXEC_FILE"
            ),
            Some(format!(
                "{kernel_pkg} (a signed distribution kernel), then reboot into it"
            )),
        );
    }

    let reserved = facts.reserved_total;
    match &facts.evaluation {
        Err(Failure::Absent { .. }) if reserved == 0 => add(
            Severity::Problem,
            "no-reservation",
            "no memory is reserved for the capture kernel".into(),
            match &facts.evaluation {
                Err(Failure::Absent { unused: Some(s) }) => format!(
                    "proc/cmdline has only crashkernel=X{s}, which reserves nothing on its own"
                ),
                _ => "proc/cmdline has no crashkernel=, so the kernel reserved no memory at boot"
                    .into(),
            },
            Some(set_cmd.clone()),
        ),
        Err(f) if reserved == 0 => {
            let token = facts.crashkernel_tokens.last().cloned().unwrap_or_default();
            let mut cause = format!("the kernel refuses {token}: {f}");
            if token == "crashkernel=auto" {
                cause.push_str(" (crashkernel=auto was a RHEL 8 kernel feature; RHEL 9 and later kernels do not know it)");
            }
            add(
                Severity::Problem,
                "crashkernel-refused",
                "crashkernel= is on the command line but nothing is reserved".into(),
                cause,
                Some(set_cmd.clone()),
            );
        }
        Ok(r) if reserved == 0 => add(
            Severity::Problem,
            "reservation-failed",
            "crashkernel= is valid but the kernel reserved nothing at boot".into(),
            format!(
                "the value asks for {} but proc/iomem has no \"Crash kernel\" range: the allocation failed at boot (no free range of that size{})",
                Size(r.size),
                if r.base.is_some() {
                    " at the fixed offset"
                } else {
                    " in the window the kernel searches"
                }
            ),
            Some(format!("dmesg | grep -i crashkernel; then {set_cmd}")),
        ),
        _ => {}
    }
    let main = facts.reserved_main();
    if reserved > 0 && main < est.recommended {
        add(
            Severity::Problem,
            "reservation-too-small",
            format!(
                "{} is reserved, less than the {} the capture kernel needs",
                Size(main),
                Size(est.recommended.div_ceil(M) * M)
            ),
            format!(
                "kernel, modules, 3 x initramfs and runtime add up to {}; the {} default here is {}",
                Size(est.estimated.div_ceil(M) * M),
                facts.distro.map(|d| d.name()).unwrap_or("distribution"),
                Size(est.baseline)
            ),
            Some(set_cmd.clone()),
        );
    }

    match &facts.config {
        DumpConfig::Missing { file } => add(
            Severity::Problem,
            "not-installed",
            "the kdump service is not installed".into(),
            format!("{file} does not exist"),
            Some(match family {
                Family::Rhel => format!("{} && kdump-config setup --apply", package(facts)),
                // kdump-tools ships Debian's own /usr/sbin/kdump-config, a different program.
                Family::Debian => format!(
                    "{}, then this tool's setup --apply (not Debian's kdump-config that kdump-tools installs)",
                    package(facts)
                ),
            }),
        ),
        cfg => {
            for e in cfg.errors() {
                add(
                    Severity::Problem,
                    "config-invalid",
                    "the dump configuration is invalid".into(),
                    e.clone(),
                    Some(format!(
                        "edit /{} (see kdump.conf(5)), then systemctl restart {unit}",
                        match cfg {
                            DumpConfig::KdumpConf { file, .. }
                            | DumpConfig::KdumpTools { file, .. } => file.as_str(),
                            DumpConfig::Missing { file } => file.as_str(),
                        }
                    )),
                );
            }
            if matches!(cfg, DumpConfig::KdumpTools { conf, .. } if !conf.use_kdump) {
                add(
                    Severity::Problem,
                    "kdump-tools-disabled",
                    "kdump-tools is installed but disabled".into(),
                    "etc/default/kdump-tools does not set USE_KDUMP=1".into(),
                    Some("sed -i 's/^#\\?USE_KDUMP=.*/USE_KDUMP=1/' /etc/default/kdump-tools && systemctl restart kdump-tools".into()),
                );
            }
        }
    }

    if facts.service.systemd && facts.service.installed && !facts.service.enabled {
        add(
            Severity::Problem,
            "service-disabled",
            format!("{unit} is not enabled"),
            "nothing loads the capture kernel at boot".into(),
            Some(format!("systemctl enable --now {unit}")),
        );
    }
    if reserved > 0 {
        match facts.crash_loaded {
            Some(false) => add(
                Severity::Problem,
                "not-loaded",
                "no capture kernel is loaded".into(),
                format!(
                    "sys/kernel/kexec_crash_loaded is 0: {} of memory is reserved but a panic would find nothing to boot",
                    Size(reserved)
                ),
                Some(format!(
                    "systemctl {} {unit} (if it fails: journalctl -u {unit})",
                    if facts.service.enabled {
                        "restart"
                    } else {
                        "enable --now"
                    }
                )),
            ),
            None => add(
                Severity::Warning,
                "load-state-unknown",
                "whether a capture kernel is loaded is unknown".into(),
                "sys/kernel/kexec_crash_loaded cannot be read".into(),
                None,
            ),
            Some(true) => {}
        }
    }

    // With a list (-d 11,31) the dump fits when its smallest level fits.
    let expected = facts.config.collector().and_then(|c| {
        c.possible_levels()
            .iter()
            .filter_map(|&l| advice::expected_dump(facts, l))
            .min()
    });
    if let (Some(target), Some(path)) = (facts.config.target(), facts.config.path()) {
        match target.kind.as_str() {
            "local" => {
                let dir = under(root, path);
                if !dir.is_dir() {
                    add(
                        Severity::Problem,
                        "dump-path-missing",
                        format!("the dump directory {path} does not exist"),
                        "the capture would have nowhere to write".into(),
                        Some(format!("mkdir -p {path}")),
                    );
                } else if let Some((free, need)) = host
                    .free_space(&dir)
                    .zip(expected)
                    .filter(|&(free, need)| free < need)
                {
                    add(
                        Severity::Problem,
                        "no-room",
                        format!("{path} has {} free, less than the expected dump", Size(free / M * M)),
                        format!(
                            "the dump at the configured level holds up to {} before compression",
                            Size(need.div_ceil(M) * M)
                        ),
                        Some(format!("free space under {path}, or set another target in /etc/kdump.conf")),
                    );
                }
            }
            kind => add(
                Severity::Warning,
                "target-unchecked",
                format!("the {kind} target {} cannot be checked from here", target.value),
                match expected {
                    Some(need) => format!(
                        "make sure {}{path} exists there with room for up to {} before compression",
                        if target.is_remote() { "" } else { "the file system's " },
                        Size(need.div_ceil(M) * M)
                    ),
                    None => format!("make sure {path} exists there with room for the dump"),
                },
                Some(match family {
                    Family::Rhel => "kdumpctl restart (it mounts or connects to the target and fails if it cannot)".into(),
                    Family::Debian => "kdump-config show".into(),
                }),
            ),
        }
    }

    if let Some(key) = facts.config.ssh_key() {
        // kdumpctl falls back to the default key when the configured one does not exist.
        let key = if under(root, key).exists() {
            key
        } else {
            super::conf::DEFAULT_SSHKEY
        };
        // Like ssh, follow a link to the key and look at the key itself.
        if let Ok(meta) = std::fs::metadata(under(root, key)) {
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            // OpenSSH refuses a private key that group or others have any access to
            // ("UNPROTECTED PRIVATE KEY FILE!", "bad permissions").
            if mode & 0o077 != 0 {
                add(
                    Severity::Problem,
                    "sshkey-exposed",
                    format!("the ssh key {key} is open to group or others (mode {mode:04o})"),
                    "ssh refuses a private key that group or others can access, so the dump would not reach the ssh target; and whoever can read the key can log in there as the dump user and read the dumps".into(),
                    Some(format!("chmod 600 {key}")),
                );
            }
        }
    }

    if let Some(c) = facts.config.collector() {
        if let Some((id, cause)) = stream_mismatch(facts, c) {
            let wanted = advice::collector_command(
                &c.program,
                family,
                keep.level(),
                advice::needs_stream(facts),
            );
            add(
                Severity::Problem,
                id,
                "the collector does not match the dump target".into(),
                cause,
                Some(format!(
                    "kdump-config setup --keep {} --apply (sets: core_collector {wanted}), then kdumpctl restart",
                    keep.name()
                )),
            );
        }
        let dropped = advice::collector_drops(c, keep);
        if !dropped.is_empty() {
            let wanted = advice::collector_command(
                &c.program,
                family,
                keep.level(),
                advice::needs_stream(facts),
            );
            add(
                Severity::Problem,
                "collector-drops-wanted",
                format!("the dump would not keep {}", keep.name()),
                format!(
                    "\"{}\" uses dump level {}, which drops {}",
                    c.command,
                    c.possible_levels()
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(" then "),
                    dropped.join(" and ")
                ),
                Some(match family {
                    Family::Rhel => format!(
                        "kdump-config setup --keep {} --apply (sets: core_collector {wanted})",
                        keep.name()
                    ),
                    Family::Debian => format!(
                        "kdump-config setup --keep {} --apply (sets: MAKEDUMP_ARGS=\"{}\")",
                        keep.name(),
                        wanted.trim_start_matches("makedumpfile ")
                    ),
                }),
            );
        }
    }

    if locked && kc.options.get("KEXEC_FILE").cloned().flatten().as_deref() == Some("y") {
        add(
            Severity::Warning,
            "lockdown",
            format!("kexec is restricted: {why}"),
            "only kexec_file_load may load the capture kernel, and the image must carry a signature the kernel trusts (a distribution kernel does); kexec_load is refused with EPERM".into(),
            None,
        );
    }
    if kc.debug_info && facts.debug_vmlinux.is_none() {
        let rel = &facts.kernel_release;
        add(
            Severity::Warning,
            "no-debug-vmlinux",
            "the kernel's debug information is not installed".into(),
            "crash needs the vmlinux with DWARF to analyse the dump beyond its log (it can be installed later, on any machine)".into(),
            Some(match (family, facts.distro) {
                (Family::Rhel, _) => format!("dnf debuginfo-install kernel-{rel}"),
                (Family::Debian, Some(Distro::Ubuntu)) => {
                    format!("apt install linux-image-{rel}-dbgsym (from the ddebs.ubuntu.com archive)")
                }
                (Family::Debian, _) => format!("apt install linux-image-{rel}-dbg"),
            }),
        );
    }
    if kc.source.is_some() && !kc.debug_info {
        add(
            Severity::Warning,
            "no-debug-info",
            "the kernel was built without debug information".into(),
            "crash and drgn need DWARF or BTF to analyse the dump beyond its log".into(),
            None,
        );
    }
    (est, out)
}

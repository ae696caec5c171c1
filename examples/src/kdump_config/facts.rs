//! What the machine under a root directory says about kdump: os-release, the
//! running kernel, its command line and reservation, the kexec state, the
//! kernel configuration, lockdown, the service and the dump configuration.
//!
//! Files, all relative to the root: `etc/os-release`,
//! `proc/sys/kernel/osrelease`, `proc/cmdline`, `proc/iomem` (through
//! `kexec-image`), `proc/meminfo`, `proc/modules`, `sys/kernel/kexec_*`
//! (through `kexec-sys`), `sys/kernel/security/lockdown` (the LSM prints
//! every level with the active one in brackets, `security/lockdown/lockdown.c`),
//! `boot/config-RELEASE` or `proc/config.gz`, `etc/kdump.conf` or
//! `etc/default/kdump-tools`, and systemd's `*.wants/` links under
//! `etc/systemd/system/`.

use std::path::{Path, PathBuf};

use crashkernel_param::{Arch, Distro, Failure, KernelVersion, Reservation, Target, evaluate};
use kexec_image::Iomem;
use kexec_sys::KexecSysfs;
use serde::Serialize;

use super::Host;
use super::conf::{KdumpConf, KdumpTools};
use super::kconfig::{self, ConfigReport, KernelConfig};

/// The tooling family: which files and commands configure kdump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// CentOS, RHEL, Fedora and rebuilds: kdump-utils, grubby, `kdump.service`.
    Rhel,
    /// Debian and Ubuntu: kdump-tools, `update-grub`, `kdump-tools.service`.
    Debian,
}

impl Family {
    /// The systemd unit that loads the capture kernel.
    pub fn unit(self) -> &'static str {
        match self {
            Family::Rhel => "kdump.service",
            Family::Debian => "kdump-tools.service",
        }
    }
}

/// `/etc/os-release`, the fields that matter.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OsRelease {
    /// `ID`.
    pub id: String,
    /// `ID_LIKE`, split.
    pub id_like: Vec<String>,
    /// `VERSION_ID`.
    pub version_id: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
}

impl OsRelease {
    /// Parses os-release text.
    pub fn parse(text: &str) -> OsRelease {
        let mut os = OsRelease::default();
        for line in text.lines() {
            let Some((k, v)) = super::conf::shell_assignment(line) else {
                continue;
            };
            match k {
                "ID" => os.id = v.to_owned(),
                "ID_LIKE" => os.id_like = v.split_whitespace().map(str::to_owned).collect(),
                "VERSION_ID" => os.version_id = v.to_owned(),
                "PRETTY_NAME" => os.pretty_name = v.to_owned(),
                _ => {}
            }
        }
        os
    }

    fn is(&self, ids: &[&str]) -> bool {
        ids.contains(&self.id.as_str()) || self.id_like.iter().any(|l| ids.contains(&l.as_str()))
    }

    /// The tooling family.
    pub fn family(&self) -> Option<Family> {
        if self.is(&["debian", "ubuntu"]) {
            Some(Family::Debian)
        } else if self.is(&["rhel", "centos", "fedora"]) {
            Some(Family::Rhel)
        } else {
            None
        }
    }

    /// The distro table of `crashkernel-param` that applies.
    pub fn distro(&self) -> Option<Distro> {
        let major: Option<u32> = self
            .version_id
            .split('.')
            .next()
            .and_then(|m| m.parse().ok());
        if self.id == "ubuntu" {
            return Some(Distro::Ubuntu);
        }
        if self.id == "debian" || (self.is(&["debian"]) && !self.is(&["ubuntu"])) {
            return Some(Distro::Debian);
        }
        if self.id == "fedora" {
            return Some(Distro::Rhel10);
        }
        if self.is(&["rhel", "centos", "fedora"]) {
            return match major? {
                8 => Some(Distro::Rhel8),
                9 => Some(Distro::Rhel9),
                m if m >= 10 => Some(Distro::Rhel10),
                _ => None,
            };
        }
        None
    }
}

/// One "Crash kernel" region.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// Last byte.
    pub end: u64,
    /// Bytes.
    pub size: u64,
}

/// The systemd unit's state.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// The unit.
    pub unit: &'static str,
    /// systemd is present under the root.
    pub systemd: bool,
    /// The unit file is installed.
    pub installed: bool,
    /// A `*.wants/` link enables it.
    pub enabled: bool,
    /// `systemctl is-active` (only on the live system; `None` under `--root`).
    pub active: Option<bool>,
}

/// The dump configuration of either family.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "format")]
pub enum DumpConfig {
    /// `/etc/kdump.conf`.
    #[serde(rename = "kdump.conf")]
    KdumpConf {
        /// Root-relative file.
        file: String,
        /// Parsed content.
        #[serde(flatten)]
        conf: KdumpConf,
    },
    /// `/etc/default/kdump-tools`.
    #[serde(rename = "kdump-tools")]
    KdumpTools {
        /// Root-relative file.
        file: String,
        /// Parsed content.
        #[serde(flatten)]
        conf: KdumpTools,
    },
    /// Neither file exists: the kdump package is not installed.
    #[serde(rename = "missing")]
    Missing {
        /// The file that was looked for.
        file: String,
    },
}

impl DumpConfig {
    /// The dump target.
    pub fn target(&self) -> Option<&super::conf::Target> {
        match self {
            DumpConfig::KdumpConf { conf, .. } => conf.target.as_ref(),
            DumpConfig::KdumpTools { conf, .. } => conf.target.as_ref(),
            DumpConfig::Missing { .. } => None,
        }
    }

    /// The directory dumps go to (on the target).
    pub fn path(&self) -> Option<&str> {
        match self {
            DumpConfig::KdumpConf { conf, .. } => Some(&conf.path),
            DumpConfig::KdumpTools { conf, .. } => Some(&conf.coredir),
            DumpConfig::Missing { .. } => None,
        }
    }

    /// The collector in effect.
    pub fn collector(&self) -> Option<&super::conf::Collector> {
        match self {
            DumpConfig::KdumpConf { conf, .. } => conf.collector.as_ref(),
            DumpConfig::KdumpTools { conf, .. } => conf.collector.as_ref(),
            DumpConfig::Missing { .. } => None,
        }
    }

    /// The private key an `ssh` target logs in with, as configured (`sshkey`, `SSH_KEY`)
    /// or the default; `None` for other targets.
    pub fn ssh_key(&self) -> Option<&str> {
        let (target, key) = match self {
            DumpConfig::KdumpConf { conf, .. } => (conf.target.as_ref(), conf.sshkey.as_deref()),
            DumpConfig::KdumpTools { conf, .. } => (conf.target.as_ref(), conf.ssh_key.as_deref()),
            DumpConfig::Missing { .. } => return None,
        };
        if target.is_some_and(|t| t.kind == "ssh") {
            Some(key.unwrap_or(super::conf::DEFAULT_SSHKEY))
        } else {
            None
        }
    }

    /// Problems in the file.
    pub fn errors(&self) -> &[String] {
        match self {
            DumpConfig::KdumpConf { conf, .. } => &conf.errors,
            DumpConfig::KdumpTools { conf, .. } => &conf.errors,
            DumpConfig::Missing { .. } => &[],
        }
    }
}

/// `proc/meminfo` figures used to size dumps (bytes).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemFree`.
    pub free: u64,
    /// `Cached` + `Buffers`.
    pub cache: u64,
    /// `AnonPages`.
    pub anon: u64,
}

impl MemInfo {
    /// Parses meminfo text (`Name:   N kB`).
    pub fn parse(text: &str) -> MemInfo {
        let mut m = MemInfo::default();
        for line in text.lines() {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let kb: u64 = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let bytes = kb.saturating_mul(1024);
            match name {
                "MemTotal" => m.total = bytes,
                "MemFree" => m.free = bytes,
                "Cached" | "Buffers" => m.cache = m.cache.saturating_add(bytes),
                "AnonPages" => m.anon = bytes,
                _ => {}
            }
        }
        m
    }
}

/// Everything `status` reports and `check` judges.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// os-release.
    pub os: OsRelease,
    /// The tooling family, when known.
    pub family: Option<Family>,
    /// The distro table name (`rhel9`, `debian`, ...), when known.
    #[serde(serialize_with = "ser_distro")]
    pub distro: Option<Distro>,
    /// `proc/sys/kernel/osrelease`.
    pub kernel_release: String,
    /// Architecture (`uname -m` name).
    #[serde(serialize_with = "ser_arch")]
    pub arch: Arch,
    /// Where the architecture was read from.
    pub arch_source: &'static str,
    /// System RAM in bytes as the kernel counts it for `crashkernel=`.
    pub ram: u64,
    /// Where `ram` came from (`proc/iomem`, or `proc/meminfo` when iomem hides addresses).
    pub ram_source: &'static str,
    /// `proc/cmdline`.
    pub cmdline: String,
    /// The `crashkernel=` tokens on it.
    pub crashkernel_tokens: Vec<String>,
    /// RHEL 8's `crashkernel=auto`, which the RHEL 8 kernel expands from its own table.
    pub crashkernel_auto: bool,
    /// What the kernel reserves for this command line (evaluated with `crashkernel-param`).
    #[serde(skip)]
    pub evaluation: Result<Reservation, Failure>,
    /// The "Crash kernel" regions of `proc/iomem`.
    pub reserved: Vec<Region>,
    /// The RAM that was free for a reservation at boot, from `proc/iomem`
    /// ([`crate::crashkernel::free_ram_at_boot`]); `None` when iomem is unreadable or hidden.
    #[serde(skip)]
    pub free_ram: Option<Vec<crashkernel_param::Span>>,
    /// Their total.
    pub reserved_total: u64,
    /// `sys/kernel/kexec_crash_size`.
    pub kexec_crash_size: Option<u64>,
    /// `sys/kernel/kexec_crash_loaded`.
    pub crash_loaded: Option<bool>,
    /// The kernel configuration report.
    pub kernel_config: ConfigReport,
    /// The active lockdown level (`none`, `integrity`, `confidentiality`), when the LSM is there.
    pub lockdown: Option<String>,
    /// UEFI Secure Boot enforced (`SecureBoot` = 1 and `SetupMode` = 0 in
    /// `sys/firmware/efi/efivars`, as kdump-utils `is_secure_boot_enforced`
    /// reads them); `None` without EFI variables.
    pub secure_boot: Option<bool>,
    /// The service.
    pub service: Service,
    /// The dump configuration.
    pub config: DumpConfig,
    /// The kernel with debug information that crash and drgn read, when
    /// installed (`usr/lib/debug/lib/modules/RELEASE/vmlinux` from RHEL's
    /// kernel-debuginfo, `usr/lib/debug/boot/vmlinux-RELEASE` from Debian's
    /// `-dbg` and Ubuntu's `-dbgsym` packages).
    pub debug_vmlinux: Option<String>,
    /// `proc/meminfo`, when readable.
    pub meminfo: Option<MemInfo>,
    /// Things that could not be read, one line each.
    pub unreadable: Vec<String>,
}

fn ser_distro<S: serde::Serializer>(d: &Option<Distro>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(d.name()),
        None => s.serialize_none(),
    }
}

fn ser_arch<S: serde::Serializer>(a: &Arch, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.name())
}

impl Facts {
    /// The kernel version for the crashkernel rules.
    pub fn kernel_version(&self) -> KernelVersion {
        self.kernel_release.parse().unwrap_or(KernelVersion::NEWEST)
    }

    /// The region the capture kernel runs in: `kexec_crash_size` (the main
    /// region, without a `,low` one), else the "Crash kernel" total. This is
    /// what `kdumpctl estimate` compares against.
    pub fn reserved_main(&self) -> u64 {
        self.kexec_crash_size
            .filter(|&s| s > 0)
            .unwrap_or(self.reserved_total)
    }

    /// The crashkernel rules target.
    pub fn target(&self) -> Target {
        Target::new(self.arch, self.kernel_version())
    }

    /// A one-line description: "CentOS Stream 9, Linux 5.14.0-427.el9.x86_64 on x86_64".
    pub fn describe(&self) -> String {
        let name = if self.os.pretty_name.is_empty() {
            "unknown distribution"
        } else {
            &self.os.pretty_name
        };
        format!("{name}, Linux {} on {}", self.kernel_release, self.arch)
    }
}

/// A path under the root.
pub fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

fn read_opt(root: &Path, rel: &str, unreadable: &mut Vec<String>) -> Option<String> {
    match std::fs::read_to_string(under(root, rel)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            unreadable.push(format!("{rel}: {e}"));
            None
        }
    }
}

/// The `crashkernel=` tokens of a command line, in order.
pub fn crashkernel_tokens(cmdline: &str) -> Vec<String> {
    cmdline
        .split(' ')
        .filter(|t| t.starts_with("crashkernel="))
        .map(str::to_owned)
        .collect()
}

fn arch_from_release(release: &str) -> Option<Arch> {
    const SUFFIXES: [(&str, Arch); 8] = [
        ("x86_64", Arch::X86_64),
        ("amd64", Arch::X86_64),
        ("aarch64", Arch::Aarch64),
        ("arm64", Arch::Aarch64),
        ("ppc64le", Arch::Ppc64),
        ("s390x", Arch::S390x),
        ("riscv64", Arch::Riscv64),
        ("loongarch64", Arch::Loongarch64),
    ];
    SUFFIXES
        .iter()
        .find(|(s, _)| release.ends_with(s))
        .map(|&(_, a)| a)
}

/// Reads every fact under `root`. Fails only when the kernel release cannot be read.
pub fn gather(root: &Path, live: bool, host: &dyn Host) -> Result<Facts, String> {
    let mut unreadable = Vec::new();
    let os = read_opt(root, "etc/os-release", &mut unreadable)
        .or_else(|| read_opt(root, "usr/lib/os-release", &mut unreadable))
        .map(|t| OsRelease::parse(&t))
        .unwrap_or_default();
    let kernel_release = read_opt(root, "proc/sys/kernel/osrelease", &mut unreadable)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or("proc/sys/kernel/osrelease: cannot read the running kernel's release")?;
    let cmdline = read_opt(root, "proc/cmdline", &mut unreadable)
        .map(|t| t.trim_end_matches('\n').to_owned())
        .unwrap_or_default();

    let config_found = match kconfig::read(root, &kernel_release) {
        Ok(c) => c,
        Err(e) => {
            unreadable.push(e);
            None
        }
    };
    let (arch, arch_source) = match config_found
        .as_ref()
        .and_then(|(_, c): &(String, KernelConfig)| c.arch())
        .and_then(|a| a.parse().ok())
    {
        Some(a) => (a, "kernel config"),
        None => match arch_from_release(&kernel_release) {
            Some(a) => (a, "kernel release"),
            None => (
                std::env::consts::ARCH.parse().unwrap_or(Arch::X86_64),
                "this machine",
            ),
        },
    };

    let meminfo = read_opt(root, "proc/meminfo", &mut unreadable).map(|t| MemInfo::parse(&t));
    let iomem = match Iomem::read(root) {
        Ok(i) => Some(i),
        Err(e) => {
            unreadable.push(format!("proc/iomem: {e}"));
            None
        }
    };
    let (ram, ram_source) = match (&iomem, meminfo) {
        (Some(i), _) if !i.addresses_hidden() && i.total_system_ram() > 0 => {
            (i.total_system_ram(), "proc/iomem")
        }
        (_, Some(m)) if m.total > 0 => (m.total, "proc/meminfo"),
        _ => (0, "unknown"),
    };
    // Without CAP_SYS_ADMIN every address in /proc/iomem reads as zero; the
    // reservation then comes from kexec_crash_size, which anyone may read.
    let hidden = iomem.as_ref().is_some_and(Iomem::addresses_hidden);
    if hidden {
        unreadable.push(
            "proc/iomem: addresses hidden (not root): the reservation is read from sys/kernel/kexec_crash_size".into(),
        );
    }
    let free_ram = iomem
        .as_ref()
        .filter(|i| !hidden && i.total_system_ram() > 0)
        .map(crate::crashkernel::free_ram_at_boot);
    let reserved: Vec<Region> = iomem
        .as_ref()
        .filter(|_| !hidden)
        .map(|i| {
            i.crash_regions()
                .iter()
                .map(|r| Region {
                    start: r.start,
                    end: r.end,
                    size: r.size(),
                })
                .collect()
        })
        .unwrap_or_default();
    let sysfs = KexecSysfs::new(root);
    let kexec_crash_size = sysfs.kexec_crash_size().ok();
    let reserved_total = if hidden {
        kexec_crash_size.unwrap_or(0)
    } else {
        reserved.iter().map(|r| r.size).sum()
    };
    let crash_loaded = sysfs.kexec_crash_loaded().ok();

    let lockdown = read_opt(root, "sys/kernel/security/lockdown", &mut unreadable).and_then(|t| {
        t.split_whitespace()
            .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
            .map(str::to_owned)
    });

    let efivar = |name: &str| {
        std::fs::read(under(
            root,
            &format!("sys/firmware/efi/efivars/{name}-8be4df61-93ca-11d2-aa0d-00e098032b8c"),
        ))
        .ok()
        .and_then(|b| b.get(4).copied())
    };
    // Four bytes of attributes, then the one-byte value.
    let secure_boot = match (efivar("SecureBoot"), efivar("SetupMode")) {
        (Some(sb), Some(setup)) => Some(sb == 1 && setup == 0),
        (Some(sb), None) => Some(sb == 1),
        _ => None,
    };

    let family = os.family();
    let distro = os.distro();
    let tokens = crashkernel_tokens(&cmdline);
    let target = Target::new(
        arch,
        kernel_release.parse().unwrap_or(KernelVersion::NEWEST),
    );
    // RHEL 8 kernels expand crashkernel=auto from their own table; upstream refuses it.
    let auto = distro == Some(Distro::Rhel8)
        && tokens.last().map(String::as_str) == Some("crashkernel=auto");
    let evaluation = if auto {
        crashkernel_param::recommend(Distro::Rhel8, arch, Default::default())
            .map_err(|_| Failure::NoMatch { ram })
            .and_then(|r| r.reservation(ram))
    } else {
        evaluate(&cmdline, ram, target)
    };

    let unit = family.unwrap_or(Family::Rhel).unit();
    let systemd = under(root, "etc/systemd/system").is_dir()
        || under(root, "usr/lib/systemd/system").is_dir()
        || under(root, "lib/systemd/system").is_dir();
    let installed = [
        "usr/lib/systemd/system",
        "lib/systemd/system",
        "etc/systemd/system",
    ]
    .iter()
    .any(|d| {
        under(root, &format!("{d}/{unit}"))
            .symlink_metadata()
            .is_ok()
    });
    let enabled = std::fs::read_dir(under(root, "etc/systemd/system"))
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name().to_string_lossy().ends_with(".wants")
                    && e.path().join(unit).symlink_metadata().is_ok()
            })
        })
        .unwrap_or(false);
    // sd_booted(3): systemd is PID 1 when /run/systemd/system exists.
    let active = if live && under(root, "run/systemd/system").is_dir() {
        host.service_active(unit)
    } else {
        None
    };
    let service = Service {
        unit,
        systemd,
        installed,
        enabled,
        active,
    };

    let config = match family {
        Some(Family::Debian) => {
            let file = "etc/default/kdump-tools".to_owned();
            match read_opt(root, &file, &mut unreadable) {
                Some(t) => DumpConfig::KdumpTools {
                    file,
                    conf: KdumpTools::parse(&t),
                },
                None => DumpConfig::Missing { file },
            }
        }
        _ => {
            let file = "etc/kdump.conf".to_owned();
            match read_opt(root, &file, &mut unreadable) {
                Some(t) => DumpConfig::KdumpConf {
                    file,
                    conf: KdumpConf::parse(&t),
                },
                None => DumpConfig::Missing { file },
            }
        }
    };

    let debug_vmlinux = [
        format!("usr/lib/debug/lib/modules/{kernel_release}/vmlinux"),
        format!("usr/lib/debug/boot/vmlinux-{kernel_release}"),
    ]
    .into_iter()
    .find(|rel| under(root, rel).is_file());

    Ok(Facts {
        os,
        family,
        distro,
        kernel_release,
        arch,
        arch_source,
        ram,
        ram_source,
        cmdline,
        crashkernel_tokens: tokens,
        crashkernel_auto: auto,
        evaluation,
        reserved,
        free_ram,
        reserved_total,
        kexec_crash_size,
        crash_loaded,
        kernel_config: kconfig::report(config_found.as_ref()),
        lockdown,
        secure_boot,
        service,
        config,
        debug_vmlinux,
        meminfo,
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_to_distro() {
        let os = |t: &str| OsRelease::parse(t);
        let cs9 = os(
            "NAME=\"CentOS Stream\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n",
        );
        assert_eq!(cs9.distro(), Some(Distro::Rhel9));
        assert_eq!(cs9.family(), Some(Family::Rhel));
        assert_eq!(
            os("ID=rhel\nVERSION_ID=8.10\n").distro(),
            Some(Distro::Rhel8)
        );
        assert_eq!(
            os("ID=rhel\nVERSION_ID=10.0\n").distro(),
            Some(Distro::Rhel10)
        );
        assert_eq!(
            os("ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=9.4\n").distro(),
            Some(Distro::Rhel9)
        );
        assert_eq!(
            os("ID=debian\nVERSION_ID=\"12\"\n").distro(),
            Some(Distro::Debian)
        );
        let ubuntu = os("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n");
        assert_eq!(ubuntu.distro(), Some(Distro::Ubuntu));
        assert_eq!(ubuntu.family(), Some(Family::Debian));
        assert_eq!(os("ID=rhel\nVERSION_ID=7.9\n").distro(), None);
        assert_eq!(os("ID=arch\n").family(), None);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "(?s).{0,300}") {
            let os = OsRelease::parse(&text);
            let _ = (os.family(), os.distro());
            let _ = MemInfo::parse(&text);
            let _ = crashkernel_tokens(&text);
            let _ = crate::kdump_config::kconfig::KernelConfig::parse(&text).arch();
        }
    }

    #[test]
    fn meminfo_and_tokens() {
        let m = MemInfo::parse(
            "MemTotal:  4000 kB\nMemFree: 1000 kB\nBuffers: 10 kB\nCached: 90 kB\nAnonPages: 500 kB\n",
        );
        assert_eq!(
            (m.total, m.free, m.cache, m.anon),
            (4_096_000, 1_024_000, 102_400, 512_000)
        );
        assert_eq!(
            crashkernel_tokens("ro crashkernel=1G-4G:192M quiet crashkernel=256M,high"),
            ["crashkernel=1G-4G:192M", "crashkernel=256M,high"]
        );
        assert_eq!(arch_from_release("6.1.0-41-arm64"), Some(Arch::Aarch64));
        assert_eq!(
            arch_from_release("5.14.0-427.el9.x86_64"),
            Some(Arch::X86_64)
        );
    }
}

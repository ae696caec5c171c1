//! Distribution defaults for `crashkernel=`, as data.
//!
//! Sources, per table:
//! - RHEL 8 "early": the RHEL 8 kernel's `crashkernel=auto` as documented in
//!   RHEL 8 "Supported kdump configurations" (Table 13.1) and kdump-utils
//!   commit 1813189 (2021-02).
//! - RHEL 8 "late": RHEL 8 documentation, Table 18.1.
//! - RHEL 9 / CentOS Stream 9: kdump-utils `kdump-lib.sh`
//!   `kdump_get_arch_recommend_crashkernel` at commits 34d27c4 (2021-11),
//!   b92bc6e (2022-06, arm64) and 05c4861 (2023-06, arm64 64K pages), and
//!   `crashkernel-howto.txt` of CentOS Stream 9's kexec-tools.
//! - RHEL 10 / CentOS Stream 10: kdump-utils commits fe18f93 and ca42bd6
//!   (2025-03): 192M was no longer enough (NFS dumps need at least 238M).
//! - SME/SEV adds 64M on x86_64, 64K pages add 100M on aarch64 (`kdump-lib.sh`).
//! - Debian: `/etc/default/grub.d/kdump-tools.cfg` of Debian 12's kdump-tools
//!   (`crashkernel=384M-:128M`, every arch).
//! - Ubuntu: the same file of Ubuntu's kdump-tools 1.10.7ubuntu3 (24.04 and later).

use core::fmt::{self, Write};
use core::str::FromStr;

use crate::eval::{Failure, Reservation, evaluate_value};
use crate::target::{Arch, Target};
use crate::text::TextBuf;
use crate::value::CrashKernel;

const M: i64 = 1 << 20;

/// A distribution release whose kdump tooling picks a `crashkernel=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Distro {
    /// RHEL 8 with the kernel's `crashkernel=auto`, as first documented.
    Rhel8Early,
    /// RHEL 8 with `crashkernel=auto`, as later documented.
    Rhel8,
    /// RHEL 9 and CentOS Stream 9 (`kdumpctl get-default-crashkernel`).
    Rhel9,
    /// RHEL 10 and CentOS Stream 10.
    Rhel10,
    /// Debian with kdump-tools.
    Debian,
    /// Ubuntu 24.04 and later with kdump-tools.
    Ubuntu,
}

impl Distro {
    /// Every distro, in a stable order.
    pub const ALL: [Distro; 6] = [
        Distro::Rhel8Early,
        Distro::Rhel8,
        Distro::Rhel9,
        Distro::Rhel10,
        Distro::Debian,
        Distro::Ubuntu,
    ];

    /// Canonical name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Distro::Rhel8Early => "rhel8-early",
            Distro::Rhel8 => "rhel8",
            Distro::Rhel9 => "rhel9",
            Distro::Rhel10 => "rhel10",
            Distro::Debian => "debian",
            Distro::Ubuntu => "ubuntu",
        }
    }

    /// Where the table comes from.
    pub fn source(self) -> &'static str {
        match self {
            Distro::Rhel8Early => {
                "RHEL 8 crashkernel=auto (RHEL 8 docs table 13.1; kdump-utils 1813189)"
            }
            Distro::Rhel8 => "RHEL 8 crashkernel=auto (RHEL 8 docs table 18.1)",
            Distro::Rhel9 => "kdumpctl get-default-crashkernel (kdump-utils kdump-lib.sh, RHEL 9)",
            Distro::Rhel10 => "kdumpctl get-default-crashkernel (kdump-utils fe18f93, RHEL 10)",
            Distro::Debian => "Debian kdump-tools /etc/default/grub.d/kdump-tools.cfg",
            Distro::Ubuntu => {
                "Ubuntu kdump-tools 1.10.7ubuntu3 /etc/default/grub.d/kdump-tools.cfg"
            }
        }
    }

    /// How the value reaches the command line on this distro.
    pub fn mechanism(self) -> &'static str {
        match self {
            Distro::Rhel8Early | Distro::Rhel8 => {
                "the RHEL 8 kernel expands crashkernel=auto; grubby --update-kernel=ALL --args=crashkernel=VALUE sets an explicit value"
            }
            Distro::Rhel9 | Distro::Rhel10 => {
                "kdumpctl reset-crashkernel --kernel=ALL (or grubby --update-kernel=ALL --args=crashkernel=VALUE), then reboot"
            }
            Distro::Debian | Distro::Ubuntu => {
                "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub.d/kdump-tools.cfg, then update-grub and reboot"
            }
        }
    }

    fn table(self, arch: Arch) -> Option<&'static str> {
        use Arch::*;
        Some(match (self, arch) {
            (Distro::Rhel8Early, X86_64 | S390x) => "1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M",
            (Distro::Rhel8Early, Aarch64) => "2G-:448M",
            (Distro::Rhel8, X86_64) => "1G-4G:192M,4G-64G:256M,64G-:512M",
            (Distro::Rhel8, Aarch64) => "2G-:480M",
            (Distro::Rhel8Early | Distro::Rhel8 | Distro::Rhel9 | Distro::Rhel10, Ppc64) => {
                "2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G"
            }
            (Distro::Rhel9, X86_64 | S390x) => "1G-4G:192M,4G-64G:256M,64G-:512M",
            (Distro::Rhel9, Aarch64) => "1G-4G:256M,4G-64G:320M,64G-:576M",
            (Distro::Rhel10, X86_64 | S390x) => "2G-64G:256M,64G-:512M",
            (Distro::Rhel10, Aarch64) => "2G-4G:256M,4G-64G:320M,64G-:576M",
            (Distro::Debian, _) => "384M-:128M",
            (Distro::Ubuntu, _) => {
                "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Distro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A distro name that is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownDistro;

impl fmt::Display for UnknownDistro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown distro (use rhel8-early, rhel8, rhel9, centos9, rhel10, centos10, debian or ubuntu)")
    }
}

impl FromStr for Distro {
    type Err = UnknownDistro;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const NAMES: [(&str, Distro); 20] = [
            ("rhel8-early", Distro::Rhel8Early),
            ("rhel8", Distro::Rhel8),
            ("centos8", Distro::Rhel8),
            ("almalinux8", Distro::Rhel8),
            ("rocky8", Distro::Rhel8),
            ("rhel9", Distro::Rhel9),
            ("centos9", Distro::Rhel9),
            ("centos-stream-9", Distro::Rhel9),
            ("almalinux9", Distro::Rhel9),
            ("rocky9", Distro::Rhel9),
            ("rhel10", Distro::Rhel10),
            ("centos10", Distro::Rhel10),
            ("centos-stream-10", Distro::Rhel10),
            ("almalinux10", Distro::Rhel10),
            ("rocky10", Distro::Rhel10),
            ("debian", Distro::Debian),
            ("debian12", Distro::Debian),
            ("debian13", Distro::Debian),
            ("ubuntu", Distro::Ubuntu),
            ("ubuntu24.04", Distro::Ubuntu),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, d)| d)
            .ok_or(UnknownDistro)
    }
}

/// Facts about the machine that change the recommendation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecommendOptions {
    /// AMD SME or SEV is active (x86_64, RHEL 9+: +64M).
    pub sme_sev: bool,
    /// The kernel uses 64K pages (aarch64, RHEL 9+: +100M).
    pub arm64_64k_pages: bool,
}

/// Why there is no recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecommendError {
    /// The distro ships no default for this arch.
    NoTable {
        /// The distro.
        distro: Distro,
        /// The arch.
        arch: Arch,
    },
}

impl fmt::Display for RecommendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecommendError::NoTable { distro, arch } => write!(
                f,
                "{distro} has no default crashkernel= for {arch}: size it with `kdumpctl estimate` or start from crashkernel=256M"
            ),
        }
    }
}

/// The value a distro's tooling would put on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    /// The distro.
    pub distro: Distro,
    /// The arch.
    pub arch: Arch,
    /// The distro's table as written.
    pub table: &'static str,
    /// Bytes added to each size for this machine (SME/SEV, 64K pages).
    pub delta: i64,
    value: TextBuf,
}

impl Recommendation {
    /// The value (without `crashkernel=`), deltas applied.
    pub fn value(&self) -> &str {
        self.value.as_str()
    }

    /// What the newest kernel on this arch reserves with it for `ram` bytes.
    pub fn reservation(&self, ram: u64) -> Result<Reservation, Failure> {
        evaluate_value(self.value(), ram, Target::newest(self.arch))
    }
}

/// The `crashkernel=` value `distro` recommends on `arch`.
///
/// ```
/// use crashkernel_param::{recommend, Arch, Distro, RecommendOptions};
/// let r = recommend(Distro::Rhel9, Arch::X86_64, RecommendOptions::default()).unwrap();
/// assert_eq!(r.value(), "1G-4G:192M,4G-64G:256M,64G-:512M");
/// assert_eq!(r.reservation(16 << 30).unwrap().size, 256 << 20);
/// ```
pub fn recommend(
    distro: Distro,
    arch: Arch,
    options: RecommendOptions,
) -> Result<Recommendation, RecommendError> {
    let table = distro
        .table(arch)
        .ok_or(RecommendError::NoTable { distro, arch })?;
    let modern = matches!(distro, Distro::Rhel9 | Distro::Rhel10);
    let mut delta = 0;
    if modern && arch == Arch::X86_64 && options.sme_sev {
        delta += 64 * M;
    }
    if modern && arch == Arch::Aarch64 && options.arm64_64k_pages {
        delta += 100 * M;
    }
    let mut value = TextBuf::new();
    // The tables are valid and small: parsing, editing and writing cannot fail.
    if let Some(edited) = CrashKernel::parse(table)
        .ok()
        .and_then(|ck| ck.with_delta(delta).ok())
    {
        let _ = write!(value, "{edited}");
    }
    Ok(Recommendation {
        distro,
        arch,
        table,
        delta,
        value,
    })
}

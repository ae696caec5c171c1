//! The machine a command line is evaluated for: architecture and kernel
//! version, and the per-arch, per-version reservation rules.
//!
//! Facts, each from the kernel source named beside it:
//! - alignment, windows and default low sizes: `arch/*/include/asm/crash_reserve.h`
//!   (v6.9+; before that `asm/crash_core.h` and, before v6.7,
//!   `arch/x86/kernel/setup.c` and `arch/arm64/mm/init.c`);
//! - the generic reservation (`reserve_crashkernel_generic`, `parse_crashkernel`
//!   with `high`/`low_size`): commits 9c08a2a139fe (x86), fdc268232dbb (arm64)
//!   and 39365395046f (riscv), merged for v6.7; LoongArch followed in v6.8;
//! - arm64 `,high`/`,low` since v5.19, its default low size and the fall back of
//!   a plain `crashkernel=X` above the DMA zone since v6.2;
//! - riscv `,high`/`,low` since v6.6;
//! - the round-up of RAM to 128 MiB before range matching: "kdump: round up the
//!   total memory size to 128M for crashkernel reservation" (Tao Liu, from a
//!   2018 patch by Dave Young), merged for v6.0 and present in Debian 12's 6.1
//!   (`kernel/crash_core.c`, `parse_crashkernel_mem`);
//! - `,cma`: v6.17 (`kernel/crash_reserve.c`, `SUFFIX_CMA`), parsed on x86_64.

use core::fmt;
use core::str::FromStr;

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;
const T: u64 = 1 << 40;

/// A CPU architecture the kernel reserves crash memory on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arch {
    /// 64-bit x86 (`x86_64`, Debian `amd64`).
    X86_64,
    /// 32-bit x86 (`i386`, `i686`).
    X86,
    /// 64-bit ARM (`aarch64`, Debian `arm64`).
    Aarch64,
    /// 32-bit ARM (`arm`, Debian `armhf`).
    Arm,
    /// 64-bit RISC-V.
    Riscv64,
    /// 64-bit POWER, either byte order (`ppc64`, `ppc64le`).
    Ppc64,
    /// IBM Z (`s390x`).
    S390x,
    /// 64-bit LoongArch.
    Loongarch64,
}

impl Arch {
    /// Every architecture, in a stable order.
    pub const ALL: [Arch; 8] = [
        Arch::X86_64,
        Arch::X86,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Riscv64,
        Arch::Ppc64,
        Arch::S390x,
        Arch::Loongarch64,
    ];

    /// The name `uname -m` prints (for `Ppc64`, the little-endian `ppc64le`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "i686",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "armv7l",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64 => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Loongarch64 => "loongarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An architecture name that is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownArch;

impl fmt::Display for UnknownArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "unknown architecture (use x86_64, i686, aarch64, arm, riscv64, ppc64le, ppc64, s390x or loongarch64)",
        )
    }
}

impl FromStr for Arch {
    type Err = UnknownArch;
    /// Accepts `uname -m` names and Debian architecture names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "x86_64" | "amd64" | "x86-64" => Arch::X86_64,
            "i386" | "i486" | "i586" | "i686" | "x86" => Arch::X86,
            "aarch64" | "arm64" => Arch::Aarch64,
            "arm" | "armhf" | "armel" | "armv7l" | "armv7" => Arch::Arm,
            "riscv64" => Arch::Riscv64,
            "ppc64" | "ppc64le" | "ppc64el" | "powerpc64" | "powerpc64le" => Arch::Ppc64,
            "s390x" | "s390" => Arch::S390x,
            "loongarch64" | "loong64" => Arch::Loongarch64,
            _ => return Err(UnknownArch),
        })
    }
}

/// A kernel version, major and minor (`6.12`); the patch level does not change
/// the crashkernel rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl KernelVersion {
    /// The newest behaviour this crate models (v6.17: `,cma`).
    pub const NEWEST: KernelVersion = KernelVersion::new(6, 17);

    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        KernelVersion { major, minor }
    }

    const fn at_least(self, major: u16, minor: u16) -> bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A kernel version that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadKernelVersion;

impl fmt::Display for BadKernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("kernel version must start with MAJOR.MINOR, e.g. 6.1 or 6.12.38+deb13-amd64")
    }
}

impl FromStr for KernelVersion {
    type Err = BadKernelVersion;
    /// Reads `6.1`, `6.1.0-41-amd64`, `v6.12.38`, `5.14.0-503.el9.x86_64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut parts = s.splitn(3, '.');
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().map(|p| {
            let digits = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
            p[..digits].parse().ok()
        });
        match (major, minor) {
            (Some(major), Some(Some(minor))) => Ok(KernelVersion { major, minor }),
            _ => Err(BadKernelVersion),
        }
    }
}

/// What a `crashkernel=` value is evaluated against: architecture and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The architecture.
    pub arch: Arch,
    /// The kernel version.
    pub version: KernelVersion,
}

impl Target {
    /// `arch` running the newest modelled kernel.
    pub const fn newest(arch: Arch) -> Self {
        Target {
            arch,
            version: KernelVersion::NEWEST,
        }
    }

    /// `arch` running `version`.
    pub const fn new(arch: Arch, version: KernelVersion) -> Self {
        Target { arch, version }
    }

    /// The rules the kernel applies on this target.
    pub fn rules(self) -> Rules {
        let v = self.version;
        let generic_since = match self.arch {
            Arch::X86_64 | Arch::X86 | Arch::Aarch64 | Arch::Riscv64 => Some((6, 7)),
            Arch::Loongarch64 => Some((6, 8)),
            Arch::Arm | Arch::Ppc64 | Arch::S390x => None,
        };
        let generic = generic_since.is_some_and(|(a, b)| v.at_least(a, b));
        let (align, low_max, high_max) = match self.arch {
            Arch::X86_64 => (16 * M, 4 * G, 64 * T),
            Arch::X86 => (16 * M, 512 * M, 512 * M),
            // arm64_dma_phys_limit: 4 GiB on most machines (1 GiB on a Raspberry Pi 4).
            Arch::Aarch64 => (2 * M, 4 * G, u64::MAX),
            // PMD_SIZE with 4K pages; dma32_phys_limit.
            Arch::Riscv64 => (2 * M, 4 * G, u64::MAX),
            Arch::Loongarch64 => (2 * M, 4 * G, u64::MAX),
            Arch::Arm => (128 * M, u64::MAX, u64::MAX),
            Arch::Ppc64 | Arch::S390x => (0, u64::MAX, u64::MAX),
        };
        let high = match self.arch {
            Arch::X86_64 => HighSupport::Yes,
            // Before v6.7 `,high` on i386 is placed below 512M like a plain
            // value; the generic code searches the empty [512M, 512M) window.
            Arch::X86 if generic => HighSupport::EmptyWindow,
            Arch::X86 => HighSupport::Yes,
            Arch::Aarch64 if v.at_least(5, 19) => HighSupport::Yes,
            Arch::Riscv64 if v.at_least(6, 6) => HighSupport::Yes,
            Arch::Loongarch64 if generic => HighSupport::Yes,
            _ => HighSupport::No,
        };
        let default_low = match self.arch {
            // max(swiotlb default 64M + 8M, 256M)
            Arch::X86_64 => 256 * M,
            Arch::Aarch64 if v.at_least(6, 2) => 128 * M,
            Arch::Riscv64 | Arch::Loongarch64 => 128 * M,
            _ => 0,
        };
        let legacy_x86 = matches!(self.arch, Arch::X86_64 | Arch::X86) && !generic;
        Rules {
            roundup_128m: v.at_least(6, 0),
            cma_suffix: v.at_least(6, 17),
            cma: self.arch == Arch::X86_64 && v.at_least(6, 17),
            high,
            default_low,
            plain_falls_back_high: match self.arch {
                Arch::X86_64 => true,
                Arch::Aarch64 => v.at_least(6, 2),
                Arch::Riscv64 => v.at_least(6, 6),
                Arch::Loongarch64 => generic,
                _ => false,
            },
            legacy_x86,
            fixed_align: if legacy_x86 { M } else { align },
            align,
            low_max,
            high_max,
        }
    }
}

/// Whether an architecture accepts `crashkernel=X,high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HighSupport {
    /// `,high` and `,low` work.
    Yes,
    /// The arch does not look for `,high` at all.
    No,
    /// `,high` is parsed but the high window is empty, so nothing is reserved.
    EmptyWindow,
}

/// The rules one target applies; derived from [`Target::rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// RAM is rounded up to 128 MiB before range matching (v6.0+).
    pub roundup_128m: bool,
    /// Tokens ending in `,cma` are skipped by the plain lookup (v6.17+).
    pub cma_suffix: bool,
    /// The arch reserves `,cma` memory.
    pub cma: bool,
    /// `,high` support.
    pub high: HighSupport,
    /// Low memory reserved beside a high region when `,low` is absent (0: none).
    pub default_low: u64,
    /// A plain `crashkernel=X` that does not fit below the low limit is placed
    /// high, with [`Rules::default_low`] below.
    pub plain_falls_back_high: bool,
    /// x86 before v6.7: any failure of the plain value falls back to `,high`,
    /// an invalid `,low` means the default, and a fixed base at or above 4 GiB
    /// also gets a low region.
    pub legacy_x86: bool,
    /// Alignment the allocator needs for a fixed `@offset` (0: none checked).
    pub fixed_align: u64,
    /// Alignment of an automatic placement (`CRASH_ALIGN`; 0: arch-specific).
    pub align: u64,
    /// End of the low window (`CRASH_ADDR_LOW_MAX`).
    pub low_max: u64,
    /// End of the high window (`CRASH_ADDR_HIGH_MAX`).
    pub high_max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_uname_strings() {
        for (s, v) in [
            ("6.1", (6, 1)),
            ("6.1.0-41-amd64", (6, 1)),
            ("6.12.38+deb13-amd64", (6, 12)),
            ("v5.14", (5, 14)),
            ("5.14.0-503.el9.x86_64", (5, 14)),
            ("6.17-rc3", (6, 17)),
        ] {
            assert_eq!(
                s.parse::<KernelVersion>(),
                Ok(KernelVersion::new(v.0, v.1)),
                "{s}"
            );
        }
        assert!("6".parse::<KernelVersion>().is_err());
        assert!("x.y".parse::<KernelVersion>().is_err());
    }

    #[test]
    fn arch_names_round_trip() {
        for a in Arch::ALL {
            assert_eq!(a.name().parse::<Arch>(), Ok(a));
        }
        assert_eq!("amd64".parse::<Arch>(), Ok(Arch::X86_64));
        assert!("vax".parse::<Arch>().is_err());
    }

    #[test]
    fn debian_kernels_differ_where_the_source_says() {
        let d12 = Target::new(Arch::X86_64, KernelVersion::new(6, 1)).rules();
        let d13 = Target::new(Arch::X86_64, KernelVersion::new(6, 12)).rules();
        assert!(d12.legacy_x86 && !d13.legacy_x86);
        assert_eq!((d12.fixed_align, d13.fixed_align), (M, 16 * M));
        assert!(d12.roundup_128m && d13.roundup_128m);
        assert!(!d13.cma_suffix);
    }
}

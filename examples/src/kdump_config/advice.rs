//! What to reserve and what to keep: the distro's `crashkernel=` value, the
//! capture kernel's memory estimate, and the dump level, codec and expected
//! size for what the user wants to recover.
//!
//! Facts: the estimate follows kdump-utils `kdumpctl` `do_estimate` as
//! summarised in `shared/reference/crashkernel.md`: kernel image + loaded
//! modules + 3 × the kdump initramfs + 16M runtime + the LUKS2 cost, reported
//! against the larger of that and the distro default. Dump-level bits from
//! makedumpfile(8); default codecs from kdump-utils `gen-kdump-conf.sh` (`-l`)
//! and Debian kdump-tools (`-c`).

use std::path::Path;

use crashkernel_param::{Arch, RecommendOptions, Recommendation, recommend};
use kexec_image::image::{KernelImage, ParseOptions};
use serde::Serialize;

use super::conf::{
    Collector, LEVEL_CACHE, LEVEL_CACHE_PRIVATE, LEVEL_FREE, LEVEL_USER, LEVEL_ZERO,
};
use super::facts::{Facts, Family, under};

const M: u64 = 1 << 20;

/// What the user wants to find in the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// Kernel memory only: enough to see why the kernel died (`-d 31`).
    Kernel,
    /// Kernel and page cache: file contents that were cached or not yet written back.
    PageCache,
    /// Kernel and process memory (anonymous pages).
    UserData,
    /// Everything, free pages included (only zero pages are left out; they hold no data).
    All,
}

impl Keep {
    /// The dump level that keeps this and drops the rest.
    pub fn level(self) -> u8 {
        let all = LEVEL_ZERO | LEVEL_CACHE | LEVEL_CACHE_PRIVATE | LEVEL_USER | LEVEL_FREE;
        match self {
            Keep::Kernel => all,
            Keep::PageCache => all & !(LEVEL_CACHE | LEVEL_CACHE_PRIVATE),
            Keep::UserData => all & !LEVEL_USER,
            Keep::All => LEVEL_ZERO,
        }
    }

    /// The level bits that would drop what this wants kept.
    pub fn forbidden(self) -> u8 {
        match self {
            Keep::Kernel => 0,
            Keep::PageCache => LEVEL_CACHE | LEVEL_CACHE_PRIVATE,
            Keep::UserData => LEVEL_USER,
            Keep::All => LEVEL_CACHE | LEVEL_CACHE_PRIVATE | LEVEL_USER | LEVEL_FREE,
        }
    }

    /// The name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Keep::Kernel => "kernel",
            Keep::PageCache => "page-cache",
            Keep::UserData => "user-data",
            Keep::All => "all",
        }
    }
}

/// What a dump level drops, in words.
pub fn dropped(level: u8) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (bit, name) in [
        (LEVEL_ZERO, "zero pages"),
        (LEVEL_CACHE, "page cache"),
        (LEVEL_CACHE_PRIVATE, "page cache with private data"),
        (LEVEL_USER, "user process memory"),
        (LEVEL_FREE, "free pages"),
    ] {
        if level & bit != 0 {
            v.push(name);
        }
    }
    v
}

/// The collector flags to write for a codec and level.
pub fn collector_command(program: &str, family: Family, level: u8, stream: bool) -> String {
    // kdump-utils' mkdumprd refuses a makedumpfile collector without -F for an ssh or
    // raw target, and its capture script adds -F only to collectors named makedumpfile
    // (`mkdumprd` `verify_core_collector`, `dracut/99kdumpbase/kdump.sh`); kdump-tools adds
    // -F to MAKEDUMP_ARGS itself for every target (`kdump-config`), so Debian never gets it.
    let flat = if stream && family == Family::Rhel {
        "-F "
    } else {
        ""
    };
    match (program, family) {
        ("vmcore-capture", _) => format!("vmcore-capture {flat}-z -d {level}"),
        (_, Family::Rhel) => format!("makedumpfile {flat}-l --message-level 7 -d {level}"),
        (_, Family::Debian) => format!("makedumpfile -c -d {level}"),
    }
}

/// Whether the configured target takes the flattened stream from the collector's stdout
/// (kdump-utils' `ssh` and `raw`: `kdump.sh` `dump_ssh`, `dump_raw` pipe it to ssh or dd).
pub fn needs_stream(facts: &Facts) -> bool {
    matches!(&facts.config, super::facts::DumpConfig::KdumpConf { .. })
        && facts
            .config
            .target()
            .is_some_and(|t| t.kind == "ssh" || t.kind == "raw")
}

/// Bytes a dump at `level` holds before compression, from `proc/meminfo`:
/// an upper bound (zero pages and the page classes meminfo does not split are not subtracted).
pub fn expected_dump(facts: &Facts, level: u8) -> Option<u64> {
    let m = facts.meminfo?;
    let total = if facts.ram > 0 { facts.ram } else { m.total };
    let mut size = total;
    if level & LEVEL_FREE != 0 {
        size = size.saturating_sub(m.free);
    }
    if level & (LEVEL_CACHE | LEVEL_CACHE_PRIVATE) == (LEVEL_CACHE | LEVEL_CACHE_PRIVATE) {
        size = size.saturating_sub(m.cache);
    }
    if level & LEVEL_USER != 0 {
        size = size.saturating_sub(m.anon);
    }
    Some(size)
}

/// The distro's recommendation for this machine.
pub fn recommendation(facts: &Facts) -> Option<Recommendation> {
    recommend(facts.distro?, facts.arch, RecommendOptions::default()).ok()
}

/// What the distro value reserves here (0 when it reserves nothing).
pub fn recommended_bytes(facts: &Facts) -> u64 {
    recommendation(facts)
        .and_then(|r| r.reservation(facts.ram).ok())
        .map(|r| r.size.saturating_add(r.low_size.unwrap_or(0)))
        .unwrap_or(0)
}

/// One input of the estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// What it is.
    pub name: &'static str,
    /// Bytes.
    pub bytes: u64,
    /// Where the figure comes from.
    pub source: String,
}

/// `kdumpctl estimate`, computed from the files under the root.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// The parts added up.
    pub parts: Vec<Part>,
    /// Their sum.
    pub estimated: u64,
    /// The distro default reserved at this RAM size.
    pub baseline: u64,
    /// `max(estimated, baseline)`.
    pub recommended: u64,
    /// What is reserved now for the capture kernel (`kexec_crash_size`, else "Crash kernel" in /proc/iomem).
    pub reserved: u64,
    /// Things the estimate could not see.
    pub notes: Vec<String>,
}

fn file_size(root: &Path, rel: &str) -> Option<u64> {
    std::fs::metadata(under(root, rel)).ok().map(|m| m.len())
}

/// The kdump initramfs the service builds (kdump-utils `prepare_kdump_bootinfo`:
/// beside the boot initramfs, or under `/var/lib/kdump` when `/boot` is not
/// writable; kdump-tools: `/var/lib/kdump`), then the boot initramfs as a stand-in.
fn initramfs_paths(family: Family, release: &str) -> (Vec<String>, String) {
    match family {
        Family::Rhel => (
            vec![
                format!("boot/initramfs-{release}kdump.img"),
                format!("var/lib/kdump/initramfs-{release}kdump.img"),
            ],
            format!("boot/initramfs-{release}.img"),
        ),
        Family::Debian => (
            vec![format!("var/lib/kdump/initrd.img-{release}")],
            format!("boot/initrd.img-{release}"),
        ),
    }
}

/// Computes the estimate.
pub fn estimate(root: &Path, facts: &Facts) -> Estimate {
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    let release = &facts.kernel_release;
    let family = facts.family.unwrap_or(Family::Rhel);

    let kernel_rel = format!("boot/vmlinuz-{release}");
    let (kernel, ksource) = match std::fs::read(under(root, &kernel_rel)) {
        Ok(data) => {
            let init_size = KernelImage::parse_with(&data, &ParseOptions::headers_only())
                .ok()
                .and_then(|img| {
                    img.facts()
                        .into_iter()
                        .find_map(|f| match (f.name.as_str(), f.value) {
                            ("x86.init_size", kexec_image::image::FactValue::Int(v)) => Some(v),
                            _ => None,
                        })
                });
            match init_size {
                Some(s) => (
                    s.max(data.len() as u64),
                    format!("{kernel_rel} (bzImage init_size)"),
                ),
                None => (data.len() as u64, format!("{kernel_rel} (file size)")),
            }
        }
        Err(_) => {
            notes.push(format!("{kernel_rel} not found: kernel size counted as 0"));
            (0, format!("{kernel_rel} (missing)"))
        }
    };
    parts.push(Part {
        name: "kernel image",
        bytes: kernel,
        source: ksource,
    });

    let modules: u64 = std::fs::read_to_string(under(root, "proc/modules"))
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    parts.push(Part {
        name: "kernel modules",
        bytes: modules,
        source:
            "proc/modules (every loaded module: an upper bound of those in the kdump initramfs)"
                .into(),
    });

    let (kdump_initrds, boot_initrd) = initramfs_paths(family, release);
    let first = kdump_initrds[0].clone();
    let found = kdump_initrds
        .into_iter()
        .find_map(|rel| file_size(root, &rel).map(|s| (s, rel)));
    let (initrd, isource) = match (found, file_size(root, &boot_initrd)) {
        (Some(found), _) => found,
        (None, Some(s)) => {
            notes.push(format!(
                "{first} is not built yet: sized from {boot_initrd} instead"
            ));
            (s, boot_initrd)
        }
        (None, None) => {
            notes.push(format!("no initramfs found ({first}): counted as 0"));
            (0, first)
        }
    };
    parts.push(Part {
        name: "initramfs x3",
        bytes: initrd.saturating_mul(3),
        source: format!("{isource} ({initrd} bytes, unpacked and copied)"),
    });
    parts.push(Part {
        name: "runtime",
        bytes: 16 * M,
        source: "kdumpctl's fixed allowance".into(),
    });
    let crypttab = std::fs::read_to_string(under(root, "etc/crypttab")).unwrap_or_default();
    let luks = crypttab
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if luks && !facts.config.target().is_some_and(|t| t.is_remote()) {
        let extra = if facts.arch == Arch::Aarch64 {
            50 * M
        } else {
            20 * M
        };
        parts.push(Part {
            name: "LUKS2",
            bytes: extra,
            source: "etc/crypttab lists encrypted devices; add the keyslot's memory cost from `cryptsetup luksDump`".into(),
        });
    }
    let estimated = parts.iter().fold(0u64, |a, p| a.saturating_add(p.bytes));
    let baseline = recommended_bytes(facts);
    Estimate {
        parts,
        estimated,
        baseline,
        recommended: estimated.max(baseline),
        reserved: facts.reserved_main(),
        notes,
    }
}

/// Whether a collector drops something `keep` wants, and what.
/// A list (`-d 11,31`) counts every level of it: the dump ends up at a later one when the
/// first does not fit.
pub fn collector_drops(collector: &Collector, keep: Keep) -> Vec<&'static str> {
    let any = collector.possible_levels().iter().fold(0, |acc, l| acc | l);
    dropped(any & keep.forbidden())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(Keep::Kernel.level(), 31);
        assert_eq!(Keep::PageCache.level(), 25);
        assert_eq!(Keep::UserData.level(), 23);
        assert_eq!(Keep::All.level(), 1);
        for k in [Keep::Kernel, Keep::PageCache, Keep::UserData, Keep::All] {
            assert_eq!(k.level() & k.forbidden(), 0, "{k:?}");
        }
        let c = Collector::parse("makedumpfile -d 31").unwrap();
        assert_eq!(collector_drops(&c, Keep::UserData), ["user process memory"]);
        assert!(collector_drops(&c, Keep::Kernel).is_empty());
    }
}

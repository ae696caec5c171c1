//! The running kernel's build configuration: `/boot/config-RELEASE` or
//! `/proc/config.gz` (`CONFIG_IKCONFIG_PROC`), and the options kdump needs.
//!
//! Which options matter comes from the kernel's `Documentation/admin-guide/kdump/kdump.rst`
//! (`KEXEC`/`KEXEC_FILE` on the first kernel; `CRASH_DUMP`, `PROC_VMCORE`,
//! `RELOCATABLE` and `SYSFS` on the capture kernel, which here is the same
//! kernel), `kernel/Kconfig.kexec` (`KEXEC_SIG`) and `lib/Kconfig.debug`
//! (`DEBUG_INFO*`, `DEBUG_INFO_BTF`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

/// Options `status` reports, in this order.
pub const REPORTED: [&str; 9] = [
    "KEXEC",
    "KEXEC_FILE",
    "KEXEC_SIG",
    "CRASH_DUMP",
    "PROC_VMCORE",
    "RELOCATABLE",
    "SYSFS",
    "DEBUG_INFO",
    "DEBUG_INFO_BTF",
];

/// The options a kernel must have, built in, to capture its own crash.
pub const REQUIRED: [&str; 4] = ["CRASH_DUMP", "PROC_VMCORE", "RELOCATABLE", "SYSFS"];

/// A kernel configuration: `CONFIG_NAME` (without the prefix) to its value
/// (`y`, `m`, a number or a string); options "is not set" are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelConfig {
    values: BTreeMap<String, String>,
}

impl KernelConfig {
    /// Parses the text of a `.config`.
    pub fn parse(text: &str) -> KernelConfig {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("CONFIG_") else {
                continue;
            };
            if let Some((name, value)) = rest.split_once('=') {
                values.insert(name.to_owned(), value.trim_matches('"').to_owned());
            }
        }
        KernelConfig { values }
    }

    /// The value of `CONFIG_<name>`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `CONFIG_<name>` is `y`.
    pub fn builtin(&self, name: &str) -> bool {
        self.get(name) == Some("y")
    }

    /// Whether the kernel carries debug information for analysing a dump:
    /// DWARF (`DEBUG_INFO`, or the 6.x choice symbols) or BTF.
    pub fn has_debug_info(&self) -> bool {
        [
            "DEBUG_INFO",
            "DEBUG_INFO_DWARF4",
            "DEBUG_INFO_DWARF5",
            "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT",
            "DEBUG_INFO_BTF",
        ]
        .iter()
        .any(|n| self.builtin(n))
    }

    /// The architecture the configuration was made for, by `uname -m` name.
    pub fn arch(&self) -> Option<&'static str> {
        const ARCHES: [(&str, &str); 7] = [
            ("X86_64", "x86_64"),
            ("ARM64", "aarch64"),
            ("PPC64", "ppc64le"),
            ("S390", "s390x"),
            ("RISCV", "riscv64"),
            ("LOONGARCH", "loongarch64"),
            ("X86_32", "i686"),
        ];
        ARCHES
            .iter()
            .find(|(sym, _)| self.builtin(sym))
            .map(|&(_, name)| name)
    }
}

/// Where the configuration came from and what it says about kdump.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    /// Root-relative file it was read from, or `None` when neither exists.
    pub source: Option<String>,
    /// Each reported option and its value (`null` when not set).
    pub options: BTreeMap<&'static str, Option<String>>,
    /// Required options that are not built in.
    pub missing: Vec<&'static str>,
    /// Neither `KEXEC` nor `KEXEC_FILE`: nothing can load a capture kernel.
    pub no_kexec: bool,
    /// Whether there is debug information to analyse a dump with.
    pub debug_info: bool,
}

/// Reads `boot/config-<release>`, else `proc/config.gz`, under `root`.
pub fn read(root: &Path, release: &str) -> Result<Option<(String, KernelConfig)>, String> {
    let boot = format!("boot/config-{release}");
    match std::fs::read_to_string(root.join(&boot)) {
        Ok(text) => return Ok(Some((boot, KernelConfig::parse(&text)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{boot}: {e}")),
    }
    let gz = "proc/config.gz";
    match std::fs::File::open(root.join(gz)) {
        Ok(file) => {
            let mut text = String::new();
            flate2::read::GzDecoder::new(file.take(64 << 20))
                .read_to_string(&mut text)
                .map_err(|e| format!("{gz}: {e}"))?;
            Ok(Some((gz.to_owned(), KernelConfig::parse(&text))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{gz}: {e}")),
    }
}

/// The report for a configuration (or for none).
pub fn report(found: Option<&(String, KernelConfig)>) -> ConfigReport {
    let Some((source, config)) = found else {
        return ConfigReport {
            source: None,
            options: REPORTED.iter().map(|&n| (n, None)).collect(),
            missing: Vec::new(),
            no_kexec: false,
            debug_info: false,
        };
    };
    ConfigReport {
        source: Some(source.clone()),
        options: REPORTED
            .iter()
            .map(|&n| (n, config.get(n).map(str::to_owned)))
            .collect(),
        missing: REQUIRED
            .iter()
            .copied()
            .filter(|n| !config.builtin(n))
            .collect(),
        no_kexec: !config.builtin("KEXEC") && !config.builtin("KEXEC_FILE"),
        debug_info: config.has_debug_info(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_unset_and_strings() {
        let c = KernelConfig::parse(
            "# comment\nCONFIG_KEXEC=y\n# CONFIG_CRASH_DUMP is not set\nCONFIG_LOCALVERSION=\"-x\"\nCONFIG_X86_64=y\n",
        );
        assert!(c.builtin("KEXEC"));
        assert_eq!(c.get("CRASH_DUMP"), None);
        assert_eq!(c.get("LOCALVERSION"), Some("-x"));
        assert_eq!(c.arch(), Some("x86_64"));
        let r = report(Some(&("boot/config-x".into(), c)));
        assert_eq!(
            r.missing,
            ["CRASH_DUMP", "PROC_VMCORE", "RELOCATABLE", "SYSFS"]
        );
        assert!(!r.no_kexec);
        assert!(!r.debug_info);
    }

    #[test]
    fn reads_config_gz() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("kdump-config-kconfig-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"CONFIG_CRASH_DUMP=y\nCONFIG_DEBUG_INFO_BTF=y\n")
            .unwrap();
        std::fs::write(dir.join("proc/config.gz"), enc.finish().unwrap()).unwrap();
        let (src, c) = read(&dir, "6.1.0").unwrap().unwrap();
        assert_eq!(src, "proc/config.gz");
        assert!(c.builtin("CRASH_DUMP"));
        assert!(c.has_debug_info());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

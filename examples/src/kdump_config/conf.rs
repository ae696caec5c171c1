//! The dump configuration files: kdump-utils' `/etc/kdump.conf` (CentOS,
//! RHEL, Fedora) and kdump-tools' `/etc/default/kdump-tools` (Debian,
//! Ubuntu), and the `core_collector` command line inside them.
//!
//! Facts: kdump-utils `kdump.conf.5` and `kdumpctl` `check_config` (the
//! directives, one dump target, no duplicates, the deprecated ones),
//! `gen-kdump-conf.sh` (default collector `makedumpfile -l --message-level 7
//! -d 31`, path `/var/crash`, failure action `reboot`); Debian kdump-tools'
//! `debian/kdump-tools.default` (`USE_KDUMP`, `KDUMP_COREDIR` default
//! `/var/crash`, `MAKEDUMP_ARGS` default `-c -d 31`); makedumpfile(8) for the
//! dump-level bits and codec flags.

use serde::Serialize;

/// What kdump-utils uses when `core_collector` is absent.
pub const KDUMP_UTILS_DEFAULT_COLLECTOR: &str = "makedumpfile -l --message-level 7 -d 31";
/// The default for `raw` and `ssh` targets, which get the flattened stream.
pub const KDUMP_UTILS_DEFAULT_STREAM_COLLECTOR: &str = "makedumpfile -F -l --message-level 7 -d 31";
/// The ssh key of an ssh target when none is configured: kdump-utils' `DEFAULT_SSHKEY`
/// (`kdump-lib-initramfs.sh`, `kdump.conf.5`) and kdump-tools' `SSH_KEY` default
/// (`kdump-config`).
pub const DEFAULT_SSHKEY: &str = "/root/.ssh/kdump_id_rsa";
/// What kdump-tools passes to makedumpfile when `MAKEDUMP_ARGS` is unset.
pub const KDUMP_TOOLS_DEFAULT_ARGS: &str = "-c -d 31";

/// Dump-target directives of kdump.conf.
const TARGETS: [&str; 10] = [
    "raw", "ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "virtiofs", "nfs", "ssh",
];
/// Other directives kdump-utils accepts (`override_resettable` from older releases).
const OTHERS: [&str; 18] = [
    "override_resettable",
    "path",
    "core_collector",
    "sshkey",
    "kdump_post",
    "kdump_pre",
    "kdump_emergency",
    "extra_bins",
    "extra_modules",
    "failure_action",
    "default",
    "final_action",
    "force_rebuild",
    "force_no_rebuild",
    "dracut_args",
    "fence_kdump_args",
    "fence_kdump_nodes",
    "auto_reset_crashkernel",
];
/// Directives kdumpctl refuses as deprecated.
const DEPRECATED: [&str; 6] = [
    "net",
    "options",
    "link_delay",
    "disk_timeout",
    "debug_mem_level",
    "blacklist",
];

/// makedumpfile's dump-level bits (`-d`), from makedumpfile(8).
pub const LEVEL_ZERO: u8 = 1;
/// Cache pages without private data.
pub const LEVEL_CACHE: u8 = 2;
/// Cache pages with private data.
pub const LEVEL_CACHE_PRIVATE: u8 = 4;
/// User process pages.
pub const LEVEL_USER: u8 = 8;
/// Free pages.
pub const LEVEL_FREE: u8 = 16;

/// A dump target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The directive: `nfs`, `ssh`, `raw`, `xfs`, ..., or `local` for the root file system.
    pub kind: String,
    /// Its argument (device, `host:/export`, `user@host`); empty for `local`.
    pub value: String,
}

impl Target {
    /// Whether the dump goes over the network.
    pub fn is_remote(&self) -> bool {
        self.kind == "nfs" || self.kind == "ssh"
    }
}

/// A `core_collector` command line, understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collector {
    /// The whole command line.
    pub command: String,
    /// The program (`makedumpfile`, `vmcore-capture`, `cp`, `scp`, ...).
    pub program: String,
    /// The dump level: `-d N`; 0 for `cp`/`scp`/`cat` (everything), `None`
    /// for a filtering program without `-d` (makedumpfile's default is 0). With a list
    /// (`-d 11,31`) the first, which the collector tries first.
    pub dump_level: Option<u8>,
    /// Every level of `-d`, in the order the collector tries them (`-d 11,31`: 11, then 31
    /// when the dump does not fit); empty without `-d`. The same reading as
    /// `vmcore-capture`'s ([`crate::vmcore_capture::parse_dump_levels`]).
    pub dump_levels: Vec<u8>,
    /// The codec flag: `zlib` (`-c`), `lzo` (`-l`), `snappy` (`-p`), `zstd` (`-z`), or `none`.
    pub codec: &'static str,
    /// `-E`: ELF output.
    pub elf: bool,
    /// `-F`: flattened output.
    pub flattened: bool,
}

impl Collector {
    /// Reads a collector command line.
    pub fn parse(command: &str) -> Result<Collector, String> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let Some(&program) = words.first() else {
            return Err("core_collector is empty".into());
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        let filtering = matches!(base, "makedumpfile" | "vmcore-capture");
        let mut c = Collector {
            command: words.join(" "),
            program: base.to_owned(),
            dump_level: if filtering { None } else { Some(0) },
            dump_levels: Vec::new(),
            codec: "none",
            elf: false,
            flattened: false,
        };
        if !filtering {
            return Ok(c);
        }
        let mut i = 1;
        while i < words.len() {
            let w = words[i];
            let level_text = if w == "-d" || w == "--dump-level" {
                i += 1;
                Some(words.get(i).copied().ok_or("-d needs a dump level")?)
            } else {
                w.strip_prefix("-d").filter(|v| !v.is_empty())
            };
            if let Some(t) = level_text {
                // makedumpfile also takes a list "11,31" (retry levels); the first is used first.
                let levels = crate::vmcore_capture::parse_dump_levels(t)?;
                c.dump_level = levels.first().copied();
                c.dump_levels = levels;
            } else if w.starts_with('-') && !w.starts_with("--") {
                for flag in w[1..].chars() {
                    match flag {
                        'c' => c.codec = "zlib",
                        'l' => c.codec = "lzo",
                        'p' => c.codec = "snappy",
                        'z' => c.codec = "zstd",
                        'E' => c.elf = true,
                        'F' => c.flattened = true,
                        _ => {}
                    }
                }
            } else if w == "--message-level" || w == "--num-threads" || w == "-L" {
                i += 1;
            }
            i += 1;
        }
        Ok(c)
    }

    /// The level in effect (makedumpfile keeps everything without `-d`).
    pub fn effective_level(&self) -> u8 {
        self.dump_level.unwrap_or(0)
    }

    /// Every level the dump may end up at: the list of `-d`, or the one level in effect.
    pub fn possible_levels(&self) -> Vec<u8> {
        if self.dump_levels.is_empty() {
            vec![self.effective_level()]
        } else {
            self.dump_levels.clone()
        }
    }

    /// The first word as written (`makedumpfile`, `/usr/sbin/makedumpfile`, ...).
    pub fn first_word(&self) -> &str {
        self.command.split_whitespace().next().unwrap_or("")
    }
}

/// A parsed `/etc/kdump.conf`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KdumpConf {
    /// The dump target (`local` when no target directive is given).
    pub target: Option<Target>,
    /// `path` (default `/var/crash`).
    pub path: String,
    /// `core_collector` as written, or `None` (kdump-utils' default applies).
    pub core_collector: Option<String>,
    /// The collector in effect.
    pub collector: Option<Collector>,
    /// `failure_action` (or the deprecated `default`); kdump-utils' default is `reboot`.
    pub failure_action: String,
    /// `final_action`; default `reboot`.
    pub final_action: String,
    /// `sshkey` as written (the key an ssh target logs in with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sshkey: Option<String>,
    /// What kdumpctl would refuse, one line each, with the line number.
    pub errors: Vec<String>,
}

impl KdumpConf {
    /// Parses the text of kdump.conf.
    pub fn parse(text: &str) -> KdumpConf {
        let mut conf = KdumpConf {
            path: "/var/crash".into(),
            failure_action: "reboot".into(),
            final_action: "reboot".into(),
            ..KdumpConf::default()
        };
        let mut seen: Vec<String> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let n = n + 1;
            let (key, value) = match line.split_once(char::is_whitespace) {
                Some((k, v)) => (k, v.trim()),
                None => (line, ""),
            };
            let is_target =
                TARGETS.contains(&key) || (key == "dracut_args" && value.contains("--mount"));
            if DEPRECATED.contains(&key) {
                conf.errors.push(format!(
                    "line {n}: {key} is deprecated; kdumpctl refuses it (see kdump.conf(5))"
                ));
                continue;
            }
            if !is_target && !OTHERS.contains(&key) {
                conf.errors
                    .push(format!("line {n}: {key:?} is not a kdump.conf directive"));
                continue;
            }
            if value.is_empty() {
                conf.errors.push(format!("line {n}: {key} has no value"));
                continue;
            }
            let slot = if is_target { "<target>" } else { key };
            if seen.iter().any(|s| s == slot) {
                conf.errors.push(if is_target {
                    format!("line {n}: a second dump target ({key}); only one is allowed")
                } else {
                    format!("line {n}: {key} given twice")
                });
                continue;
            }
            seen.push(slot.to_owned());
            match key {
                _ if is_target => {
                    conf.target = Some(Target {
                        kind: key.to_owned(),
                        value: value.to_owned(),
                    })
                }
                "path" => conf.path = value.to_owned(),
                "core_collector" => conf.core_collector = Some(value.to_owned()),
                "failure_action" | "default" => conf.failure_action = value.to_owned(),
                "final_action" => conf.final_action = value.to_owned(),
                "sshkey" => conf.sshkey = Some(value.to_owned()),
                _ => {}
            }
        }
        if conf.target.is_none() {
            conf.target = Some(Target {
                kind: "local".into(),
                value: String::new(),
            });
        }
        for (name, v) in [
            ("failure_action", &conf.failure_action),
            ("final_action", &conf.final_action),
        ] {
            let ok: &[&str] = if name == "failure_action" {
                &["reboot", "halt", "poweroff", "shell", "dump_to_rootfs"]
            } else {
                &["reboot", "halt", "poweroff"]
            };
            if !ok.contains(&v.as_str()) {
                conf.errors
                    .push(format!("{name} {v:?} is not one of {}", ok.join(", ")));
            }
        }
        let stream = conf
            .target
            .as_ref()
            .is_some_and(|t| t.kind == "raw" || t.kind == "ssh");
        let command = conf.core_collector.clone().unwrap_or_else(|| {
            if stream {
                KDUMP_UTILS_DEFAULT_STREAM_COLLECTOR
            } else {
                KDUMP_UTILS_DEFAULT_COLLECTOR
            }
            .to_owned()
        });
        match Collector::parse(&command) {
            Ok(c) => conf.collector = Some(c),
            Err(e) => conf.errors.push(format!("core_collector: {e}")),
        }
        conf
    }
}

/// A parsed `/etc/default/kdump-tools`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KdumpTools {
    /// `USE_KDUMP=1`.
    pub use_kdump: bool,
    /// `KDUMP_COREDIR` (default `/var/crash`).
    pub coredir: String,
    /// `MAKEDUMP_ARGS` as written, or `None` (default `-c -d 31`).
    pub makedump_args: Option<String>,
    /// The collector in effect (makedumpfile with those arguments).
    pub collector: Option<Collector>,
    /// `SSH` or `NFS` when set: the dump goes over the network.
    pub target: Option<Target>,
    /// `SSH_KEY` as written (the key the `SSH` target logs in with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<String>,
    /// Lines that could not be read.
    pub errors: Vec<String>,
}

/// The value of a shell assignment line `NAME=value` (quotes removed), if it is one.
pub fn shell_assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    let (name, value) = line.split_once('=')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    Some((name, value))
}

impl KdumpTools {
    /// Parses the text of /etc/default/kdump-tools.
    pub fn parse(text: &str) -> KdumpTools {
        let mut t = KdumpTools {
            coredir: "/var/crash".into(),
            ..KdumpTools::default()
        };
        for line in text.lines() {
            let Some((name, value)) = shell_assignment(line) else {
                continue;
            };
            match name {
                "USE_KDUMP" => t.use_kdump = value == "1",
                "KDUMP_COREDIR" => t.coredir = value.to_owned(),
                "MAKEDUMP_ARGS" => t.makedump_args = Some(value.to_owned()),
                "SSH_KEY" if !value.is_empty() => t.ssh_key = Some(value.to_owned()),
                "SSH" if !value.is_empty() => {
                    t.target = Some(Target {
                        kind: "ssh".into(),
                        value: value.to_owned(),
                    })
                }
                "NFS" if !value.is_empty() => {
                    t.target = Some(Target {
                        kind: "nfs".into(),
                        value: value.to_owned(),
                    })
                }
                _ => {}
            }
        }
        if t.target.is_none() {
            t.target = Some(Target {
                kind: "local".into(),
                value: String::new(),
            });
        }
        let args = t
            .makedump_args
            .clone()
            .unwrap_or_else(|| KDUMP_TOOLS_DEFAULT_ARGS.to_owned());
        match Collector::parse(&format!("makedumpfile {args}")) {
            Ok(c) => t.collector = Some(c),
            Err(e) => t.errors.push(format!("MAKEDUMP_ARGS: {e}")),
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdump_conf_defaults_and_directives() {
        let c = KdumpConf::parse("# nothing\n");
        assert_eq!(c.path, "/var/crash");
        assert_eq!(c.target.as_ref().unwrap().kind, "local");
        let col = c.collector.unwrap();
        assert_eq!(col.dump_level, Some(31));
        assert_eq!(col.codec, "lzo");

        let c = KdumpConf::parse(
            "nfs server:/export/dumps\npath /kdump\ncore_collector makedumpfile -c -d 31\nfailure_action shell\n",
        );
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert!(c.target.as_ref().unwrap().is_remote());
        assert_eq!(c.failure_action, "shell");
        assert_eq!(c.collector.unwrap().codec, "zlib");
    }

    #[test]
    fn stream_targets_default_to_flattened() {
        let c = KdumpConf::parse("ssh kdump@backup.example.com\n");
        assert!(c.collector.unwrap().flattened);
        let c = KdumpConf::parse("xfs /dev/vg/kdump\n");
        assert!(!c.collector.unwrap().flattened);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "(?s).{0,400}") {
            let c = KdumpConf::parse(&text);
            proptest::prop_assert!(c.target.is_some());
            let _ = KdumpTools::parse(&text);
            let _ = Collector::parse(&text);
        }

        #[test]
        fn collector_level_round_trips(level in 0u8..=31, codec in proptest::sample::select(vec!["-c", "-l", "-p", "-z", ""]), joined in proptest::bool::ANY) {
            let d = if joined { format!("-d{level}") } else { format!("-d {level}") };
            let c = Collector::parse(&format!("makedumpfile {codec} --message-level 7 {d}")).unwrap();
            proptest::prop_assert_eq!(c.dump_level, Some(level));
        }

        #[test]
        fn directive_lines_are_read_back(path in "/[a-z]{1,12}(/[a-z0-9]{1,8}){0,3}", action in proptest::sample::select(vec!["reboot", "halt", "poweroff", "shell", "dump_to_rootfs"])) {
            let c = KdumpConf::parse(&format!("# c\npath {path}\nfailure_action {action}  # why\n"));
            proptest::prop_assert!(c.errors.is_empty());
            proptest::prop_assert_eq!(c.path, path);
            proptest::prop_assert_eq!(c.failure_action, action);
        }
    }

    #[test]
    fn kdump_conf_errors() {
        let c = KdumpConf::parse(
            "nfs a:/b\nssh u@h\nlink_delay 3\nbogus 1\npath\nfailure_action explode\n",
        );
        assert_eq!(c.errors.len(), 5, "{:?}", c.errors);
    }

    #[test]
    fn collectors() {
        let c = Collector::parse("makedumpfile -F -l --message-level 7 -d31").unwrap();
        assert_eq!(
            (c.dump_level, c.codec, c.flattened),
            (Some(31), "lzo", true)
        );
        let c = Collector::parse("/usr/bin/vmcore-capture -z -d 11,31").unwrap();
        assert_eq!(
            (c.program.as_str(), c.dump_level),
            ("vmcore-capture", Some(11))
        );
        assert_eq!(c.possible_levels(), [11, 31]);
        assert_eq!(c.first_word(), "/usr/bin/vmcore-capture");
        // What vmcore-capture refuses, kdump-config refuses: the two read -d alike.
        for bad in ["11,", "1,x", "1,32", ","] {
            assert!(
                Collector::parse(&format!("makedumpfile -d {bad}")).is_err(),
                "{bad}"
            );
            assert!(crate::vmcore_capture::parse_dump_levels(bad).is_err());
        }
        assert_eq!(
            Collector::parse("cp --sparse=always").unwrap().dump_level,
            Some(0)
        );
        assert_eq!(
            Collector::parse("makedumpfile -c")
                .unwrap()
                .effective_level(),
            0
        );
        assert!(Collector::parse("makedumpfile -d 32").is_err());
        assert!(Collector::parse("makedumpfile -d").is_err());
    }

    #[test]
    fn kdump_tools_defaults() {
        let t = KdumpTools::parse("USE_KDUMP=1\n#MAKEDUMP_ARGS=\"-c -d 31\"\nNFS=\"srv:/x\"\n");
        assert!(t.use_kdump);
        assert_eq!(t.makedump_args, None);
        assert_eq!(t.collector.unwrap().dump_level, Some(31));
        assert_eq!(t.target.unwrap().kind, "nfs");
    }
}

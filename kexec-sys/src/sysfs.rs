//! The kexec state the kernel exports in sysfs, read (and, for the crash
//! region size, written) under a root directory so tests run on a fake tree.
//!
//! Files and formats, from `kernel/ksysfs.c` and `drivers/base/cpu.c`:
//! `/sys/kernel/kexec_loaded` and `kexec_crash_loaded` ("0"/"1"),
//! `/sys/kernel/kexec_crash_size` (decimal bytes; writing a smaller value
//! shrinks the region and frees the rest), `/sys/kernel/crash_elfcorehdr_size`
//! (decimal, with `CONFIG_CRASH_HOTPLUG`), `/sys/kernel/vmcoreinfo`
//! ("`%pa %x`": the note's physical address, `0x`-prefixed, then its size in
//! hex), `/sys/devices/system/cpu/cpuN/crash_notes` (hex physical address, no
//! prefix) and `crash_notes_size` (decimal), and the `crash_hotplug` files of
//! `/sys/devices/system/{cpu,memory}`. Also the two settings that explain a
//! refused `kexec_load`: `/proc/sys/kernel/kexec_load_disabled` ("0"/"1", from
//! `kernel/kexec_core.c`) and `/sys/kernel/security/lockdown` (the selected mode
//! in brackets, e.g. `none [integrity] confidentiality`, from
//! `security/lockdown/lockdown.c`).

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where the kernel's VMCOREINFO note lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmcoreinfoLocation {
    /// Physical address of the note.
    pub paddr: u64,
    /// Size of the note buffer in bytes.
    pub size: u64,
}

/// One CPU's crash-notes buffer (where NT_PRSTATUS is written at panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashNotes {
    /// CPU number (`cpuN`).
    pub cpu: u32,
    /// Physical address of the buffer.
    pub paddr: u64,
    /// Size of the buffer, when the kernel exports `crash_notes_size`.
    pub size: Option<u64>,
}

/// The kexec state at a glance (what `kexec-load -S` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KexecStatus {
    /// A normal kexec image is loaded.
    pub loaded: bool,
    /// A crash image is loaded.
    pub crash_loaded: bool,
    /// Size of the crash region in bytes (0 when none is reserved).
    pub crash_size: u64,
    /// Size the kernel sets aside for the elfcorehdr (`None` without crash hotplug).
    pub elfcorehdr_size: Option<u64>,
}

/// Whether the kernel updates the crash elfcorehdr itself on hotplug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrashHotplug {
    /// CPU hotplug (`/sys/devices/system/cpu/crash_hotplug`), if exported.
    pub cpu: Option<bool>,
    /// Memory hotplug (`/sys/devices/system/memory/crash_hotplug`), if exported.
    pub memory: Option<bool>,
}

/// The kernel lockdown mode (`/sys/kernel/security/lockdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockdown {
    /// Not locked down.
    None,
    /// Integrity mode: `kexec_load` is refused, `kexec_file_load` needs a valid signature.
    Integrity,
    /// Confidentiality mode (implies integrity).
    Confidentiality,
}

/// Parses the lockdown file: the mode in brackets.
pub fn parse_lockdown(text: &str) -> Result<Lockdown, &'static str> {
    let sel = text
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
        .ok_or("expected the selected mode in brackets")?;
    match sel {
        "none" => Ok(Lockdown::None),
        "integrity" => Ok(Lockdown::Integrity),
        "confidentiality" => Ok(Lockdown::Confidentiality),
        _ => Err("unknown lockdown mode"),
    }
}

/// The kexec sysfs files under one root directory (`/` on a live system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexecSysfs {
    root: PathBuf,
}

/// Parses a "0"/"1" sysfs boolean (trailing newline allowed).
pub fn parse_bool(text: &str) -> Result<bool, &'static str> {
    match text.trim_end_matches('\n') {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("expected 0 or 1"),
    }
}

/// Parses a decimal sysfs number.
pub fn parse_decimal(text: &str) -> Result<u64, &'static str> {
    let t = text.trim_end_matches('\n');
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a decimal number");
    }
    t.parse().map_err(|_| "decimal number out of range")
}

/// Parses a hexadecimal sysfs number, with or without `0x`.
pub fn parse_hex(text: &str) -> Result<u64, &'static str> {
    let t = text.trim_end_matches('\n');
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected a hexadecimal number");
    }
    u64::from_str_radix(t, 16).map_err(|_| "hexadecimal number out of range")
}

/// Parses `/sys/kernel/vmcoreinfo`: "`<paddr hex> <size hex>`".
pub fn parse_vmcoreinfo(text: &str) -> Result<VmcoreinfoLocation, &'static str> {
    let t = text.trim_end_matches('\n');
    let mut parts = t.split(' ');
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected \"<address> <size>\"");
    };
    Ok(VmcoreinfoLocation {
        paddr: parse_hex(a)?,
        size: parse_hex(b)?,
    })
}

fn clip(text: &str) -> String {
    let t = text.trim();
    let mut end = t.len().min(64);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_owned()
}

impl KexecSysfs {
    /// The files under `root` (e.g. a fake tree in a test, or a mounted target).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        KexecSysfs { root: root.into() }
    }

    /// The running system's files (root `/`).
    pub fn system() -> Self {
        KexecSysfs::new("/")
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn read(&self, rel: &str) -> Result<(PathBuf, String), Error> {
        let path = self.path(rel);
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok((path, t)),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    fn read_optional(&self, rel: &str) -> Result<Option<(PathBuf, String)>, Error> {
        match self.read(rel) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn parsed<T>(
        path: PathBuf,
        text: &str,
        f: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Result<T, Error> {
        f(text).map_err(|reason| Error::Parse {
            path,
            text: clip(text),
            reason,
        })
    }

    /// `/sys/kernel/kexec_loaded`: whether a normal kexec image is loaded.
    pub fn kexec_loaded(&self) -> Result<bool, Error> {
        let (p, t) = self.read("sys/kernel/kexec_loaded")?;
        Self::parsed(p, &t, parse_bool)
    }

    /// `/sys/kernel/kexec_crash_loaded`: whether a crash image is loaded.
    pub fn kexec_crash_loaded(&self) -> Result<bool, Error> {
        let (p, t) = self.read("sys/kernel/kexec_crash_loaded")?;
        Self::parsed(p, &t, parse_bool)
    }

    /// `/sys/kernel/kexec_crash_size`: the crash region size in bytes.
    pub fn kexec_crash_size(&self) -> Result<u64, Error> {
        let (p, t) = self.read("sys/kernel/kexec_crash_size")?;
        Self::parsed(p, &t, parse_decimal)
    }

    /// Writes `/sys/kernel/kexec_crash_size`, which shrinks the crash region to
    /// `bytes` (the kernel refuses growing it, and any change while a crash image is loaded).
    pub fn set_kexec_crash_size(&self, bytes: u64) -> Result<(), Error> {
        let path = self.path("sys/kernel/kexec_crash_size");
        std::fs::write(&path, format!("{bytes}\n")).map_err(|source| Error::Io { path, source })
    }

    /// `/sys/kernel/crash_elfcorehdr_size`, or `None` when the kernel does not export it.
    pub fn crash_elfcorehdr_size(&self) -> Result<Option<u64>, Error> {
        match self.read_optional("sys/kernel/crash_elfcorehdr_size")? {
            Some((p, t)) => Self::parsed(p, &t, parse_decimal).map(Some),
            None => Ok(None),
        }
    }

    /// `/sys/kernel/vmcoreinfo`: where the VMCOREINFO note is.
    pub fn vmcoreinfo(&self) -> Result<VmcoreinfoLocation, Error> {
        let (p, t) = self.read("sys/kernel/vmcoreinfo")?;
        Self::parsed(p, &t, parse_vmcoreinfo)
    }

    /// The crash-notes buffer of every CPU directory that has one, by CPU number.
    pub fn crash_notes(&self) -> Result<Vec<CrashNotes>, Error> {
        let dir = self.path("sys/devices/system/cpu");
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(num) = name.to_str().and_then(|n| n.strip_prefix("cpu")) else {
                continue;
            };
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(cpu) = num.parse::<u32>() else {
                continue;
            };
            let rel = format!("sys/devices/system/cpu/cpu{num}/crash_notes");
            let Some((p, t)) = self.read_optional(&rel)? else {
                continue;
            };
            let paddr = Self::parsed(p, &t, parse_hex)?;
            let size = match self.read_optional(&format!("{rel}_size"))? {
                Some((p, t)) => Some(Self::parsed(p, &t, parse_decimal)?),
                None => None,
            };
            out.push(CrashNotes { cpu, paddr, size });
        }
        out.sort_by_key(|c| c.cpu);
        Ok(out)
    }

    /// The `crash_hotplug` files of CPUs and memory (each `None` when absent).
    pub fn crash_hotplug(&self) -> Result<CrashHotplug, Error> {
        let mut out = CrashHotplug::default();
        if let Some((p, t)) = self.read_optional("sys/devices/system/cpu/crash_hotplug")? {
            out.cpu = Some(Self::parsed(p, &t, parse_bool)?);
        }
        if let Some((p, t)) = self.read_optional("sys/devices/system/memory/crash_hotplug")? {
            out.memory = Some(Self::parsed(p, &t, parse_bool)?);
        }
        Ok(out)
    }

    /// `/proc/sys/kernel/kexec_load_disabled` (`None` when absent): once set,
    /// neither load call works until reboot.
    pub fn kexec_load_disabled(&self) -> Result<Option<bool>, Error> {
        match self.read_optional("proc/sys/kernel/kexec_load_disabled")? {
            Some((p, t)) => Self::parsed(p, &t, parse_bool).map(Some),
            None => Ok(None),
        }
    }

    /// The lockdown mode, `None` when securityfs has no lockdown file.
    pub fn lockdown(&self) -> Result<Option<Lockdown>, Error> {
        match self.read_optional("sys/kernel/security/lockdown")? {
            Some((p, t)) => Self::parsed(p, &t, parse_lockdown).map(Some),
            None => Ok(None),
        }
    }

    /// The ACPI RSDP address the firmware gave the running kernel, where kexec-tools
    /// looks for it: `acpi_rsdp_addr` (offset 0x70) of `/sys/kernel/boot_params/data`,
    /// else the `ACPI20=` or `ACPI=` line of `/sys/firmware/efi/systab`. `None` when
    /// neither has one (on BIOS machines the new kernel scans for it itself).
    pub fn acpi_rsdp(&self) -> Result<Option<u64>, Error> {
        let path = self.path("sys/kernel/boot_params/data");
        match std::fs::read(&path) {
            Ok(data) => {
                if let Some(b) = data.get(0x70..0x78) {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let v = u64::from_le_bytes(a);
                    if v != 0 {
                        return Ok(Some(v));
                    }
                }
            }
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io { path, source });
            }
            Err(_) => {}
        }
        let Some((p, t)) = self.read_optional("sys/firmware/efi/systab")? else {
            return Ok(None);
        };
        for line in t.lines() {
            let v = line
                .strip_prefix("ACPI20=")
                .or_else(|| line.strip_prefix("ACPI="));
            if let Some(v) = v {
                return Self::parsed(p, v, parse_hex).map(Some);
            }
        }
        Ok(None)
    }

    /// The running kernel's `_text` and `_end` virtual addresses from
    /// `/proc/kallsyms`, for the elfcorehdr's kernel text header. `None` when the file
    /// is missing or shows zeros (`kptr_restrict`, not root).
    pub fn kernel_text_symbols(&self) -> Result<Option<(u64, u64)>, Error> {
        let Some((_, t)) = self.read_optional("proc/kallsyms")? else {
            return Ok(None);
        };
        let (mut text, mut end) = (None, None);
        for line in t.lines() {
            let mut w = line.split_ascii_whitespace();
            let (Some(addr), Some(_), Some(name), None) = (w.next(), w.next(), w.next(), w.next())
            else {
                continue;
            };
            let slot = match name {
                "_text" => &mut text,
                "_end" => &mut end,
                _ => continue,
            };
            if slot.is_none() {
                *slot = u64::from_str_radix(addr, 16).ok();
            }
            if text.is_some() && end.is_some() {
                break;
            }
        }
        Ok(match (text, end) {
            (Some(a), Some(b)) if a != 0 && b > a => Some((a, b)),
            _ => None,
        })
    }

    /// Everything `kexec-load -S` needs in one read.
    pub fn status(&self) -> Result<KexecStatus, Error> {
        Ok(KexecStatus {
            loaded: self.kexec_loaded()?,
            crash_loaded: self.kexec_crash_loaded()?,
            crash_size: self.kexec_crash_size()?,
            elfcorehdr_size: self.crash_elfcorehdr_size()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn value_parsers() {
        assert_eq!(parse_bool("1\n"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("2\n").is_err());
        assert!(parse_bool("").is_err());
        assert_eq!(parse_decimal("268435456\n"), Ok(268_435_456));
        assert!(parse_decimal("-1\n").is_err());
        assert!(parse_decimal("99999999999999999999999").is_err());
        assert_eq!(parse_hex("3fc1c400\n"), Ok(0x3fc1_c400));
        assert_eq!(parse_hex("0x000000007fe1b000"), Ok(0x7fe1_b000));
        assert!(parse_hex("0x").is_err());
        assert_eq!(
            parse_vmcoreinfo("0x0000000002b8b000 1024\n"),
            Ok(VmcoreinfoLocation {
                paddr: 0x2b8_b000,
                size: 0x1024
            })
        );
        assert!(parse_vmcoreinfo("0x1000").is_err());
        assert!(parse_vmcoreinfo("0x1000 10 20").is_err());
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n"),
            Ok(Lockdown::Integrity)
        );
        assert_eq!(
            parse_lockdown("[none] integrity confidentiality\n"),
            Ok(Lockdown::None)
        );
        assert_eq!(
            parse_lockdown("none integrity [confidentiality]"),
            Ok(Lockdown::Confidentiality)
        );
        assert!(parse_lockdown("none integrity").is_err());
        assert!(parse_lockdown("[weird]").is_err());
    }

    proptest! {
        #[test]
        fn parsers_round_trip(v in any::<u64>()) {
            prop_assert_eq!(parse_decimal(&format!("{v}\n")), Ok(v));
            prop_assert_eq!(parse_hex(&format!("{v:x}\n")), Ok(v));
            prop_assert_eq!(parse_hex(&format!("{v:#018x}")), Ok(v));
            let s = (v & 0xffff_ffff) as u32;
            prop_assert_eq!(parse_vmcoreinfo(&format!("{v:#018x} {s:x}\n")), Ok(VmcoreinfoLocation { paddr: v, size: u64::from(s) }));
        }

        #[test]
        fn parsers_never_panic(s in ".{0,40}") {
            let _ = parse_bool(&s);
            let _ = parse_decimal(&s);
            let _ = parse_hex(&s);
            let _ = parse_vmcoreinfo(&s);
        }
    }
}

//! VMCOREINFO: the `KEY=VALUE` lines the kernel exports for dump tools, as a typed view.
//!
//! Facts: `kernel/vmcore_info.c` and `include/linux/vmcore_info.h` (`VMCOREINFO_OSRELEASE`,
//! `VMCOREINFO_BUILD_ID`, `VMCOREINFO_PAGESIZE` as `%ld`, `VMCOREINFO_SYMBOL` as `%lx`,
//! `VMCOREINFO_SIZE`/`OFFSET`/`LENGTH` as `%lu`, `VMCOREINFO_NUMBER` as `%ld`,
//! `KERNELOFFSET` as `%lx`, `CRASHTIME` as `%lld` appended at panic). Arch code adds its own
//! keys; those are kept as [`Key::Other`]. Values are parsed only when asked for.

use crate::error::{Error, Result};

/// The note name of VMCOREINFO.
pub const VMCOREINFO_NOTE_NAME: &[u8] = b"VMCOREINFO";

/// A VMCOREINFO key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// `OSRELEASE`: the kernel release (`uname -r`).
    OsRelease,
    /// `BUILD-ID`: the kernel's build ID in hex.
    BuildId,
    /// `PAGESIZE`, decimal.
    PageSize,
    /// `SYMBOL(name)`: an address, hex.
    Symbol(&'a str),
    /// `SIZE(type)`: decimal.
    Size(&'a str),
    /// `OFFSET(struct.member)`: decimal.
    Offset(&'a str, &'a str),
    /// `LENGTH(array)`: decimal.
    Length(&'a str),
    /// `NUMBER(name)`: signed decimal.
    Number(&'a str),
    /// `KERNELOFFSET`: the KASLR offset, hex.
    KernelOffset,
    /// `CRASHTIME`: seconds since the epoch at the panic, decimal.
    CrashTime,
    /// Any other key, as written.
    Other(&'a str),
}

impl<'a> Key<'a> {
    /// Classifies the text left of `=`.
    pub fn parse(key: &'a str) -> Key<'a> {
        let call = |prefix: &str| {
            key.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('('))
                .and_then(|rest| rest.strip_suffix(')'))
        };
        match key {
            "OSRELEASE" => return Key::OsRelease,
            "BUILD-ID" => return Key::BuildId,
            "PAGESIZE" => return Key::PageSize,
            "KERNELOFFSET" => return Key::KernelOffset,
            "CRASHTIME" => return Key::CrashTime,
            _ => {}
        }
        if let Some(name) = call("SYMBOL") {
            Key::Symbol(name)
        } else if let Some(name) = call("SIZE") {
            Key::Size(name)
        } else if let Some(name) = call("OFFSET") {
            match name.split_once('.') {
                Some((s, m)) => Key::Offset(s, m),
                None => Key::Other(key),
            }
        } else if let Some(name) = call("LENGTH") {
            Key::Length(name)
        } else if let Some(name) = call("NUMBER") {
            Key::Number(name)
        } else {
            Key::Other(key)
        }
    }
}

/// One `KEY=VALUE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Byte offset of the line in the text.
    pub offset: u64,
    /// The key, classified.
    pub key: Key<'a>,
    /// The key as written.
    pub raw_key: &'a str,
    /// The text right of the first `=`.
    pub value: &'a str,
}

/// A typed view over VMCOREINFO text (the descriptor of the `VMCOREINFO` note, or
/// `/sys/kernel/vmcoreinfo`'s buffer, or the copy in a kdump-compressed header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmcoreInfo<'a> {
    text: &'a str,
}

impl<'a> VmcoreInfo<'a> {
    /// Checks that `desc` is UTF-8 (trailing NUL padding is dropped). Lines are split lazily.
    pub fn parse(desc: &'a [u8]) -> Result<VmcoreInfo<'a>> {
        let end = desc.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let text = core::str::from_utf8(&desc[..end]).map_err(|e| Error::VmcoreInfoNotUtf8 {
            offset: e.valid_up_to() as u64,
        })?;
        Ok(VmcoreInfo { text })
    }

    /// The text.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Every `KEY=VALUE` line in order; lines without `=` are skipped.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let text = self.text;
        let base = text.as_ptr() as usize;
        text.split('\n').filter_map(move |line| {
            let (raw_key, value) = line.split_once('=')?;
            Some(Entry {
                offset: (line.as_ptr() as usize - base) as u64,
                key: Key::parse(raw_key),
                raw_key,
                value,
            })
        })
    }

    /// The value of the first line whose key is `key`.
    pub fn get(&self, key: Key<'_>) -> Option<Entry<'a>> {
        self.entries().find(|e| e.key == key)
    }

    /// The value of the first line whose key is written exactly `raw_key`.
    pub fn get_raw(&self, raw_key: &str) -> Option<&'a str> {
        self.entries()
            .find(|e| e.raw_key == raw_key)
            .map(|e| e.value)
    }

    /// `OSRELEASE`.
    pub fn osrelease(&self) -> Option<&'a str> {
        self.get(Key::OsRelease).map(|e| e.value)
    }

    /// `BUILD-ID`, as hex text.
    pub fn build_id(&self) -> Option<&'a str> {
        self.get(Key::BuildId).map(|e| e.value)
    }

    /// `PAGESIZE`.
    pub fn page_size(&self) -> Result<Option<u64>> {
        self.number(Key::PageSize, "PAGESIZE", 10)
    }

    /// `SYMBOL(name)`.
    pub fn symbol(&self, name: &str) -> Result<Option<u64>> {
        self.number(Key::Symbol(name), "SYMBOL", 16)
    }

    /// `SIZE(name)`.
    pub fn size(&self, name: &str) -> Result<Option<u64>> {
        self.number(Key::Size(name), "SIZE", 10)
    }

    /// `OFFSET(structure.member)`.
    pub fn offset(&self, structure: &str, member: &str) -> Result<Option<u64>> {
        self.number(Key::Offset(structure, member), "OFFSET", 10)
    }

    /// `LENGTH(name)`.
    pub fn length(&self, name: &str) -> Result<Option<u64>> {
        self.number(Key::Length(name), "LENGTH", 10)
    }

    /// `NUMBER(name)` (signed: some are negative).
    pub fn number_value(&self, name: &str) -> Result<Option<i64>> {
        let Some(e) = self.get(Key::Number(name)) else {
            return Ok(None);
        };
        let v = e.value.trim();
        // `VMCOREINFO_NUMBER` prints `%ld`; arm64 appends some NUMBER()s itself
        // as `0x%llx` (kimage_voffset, PHYS_OFFSET, TCR_EL1_T1SZ in
        // `arch/arm64/kernel/vmcore_info.c`): those are 64-bit patterns.
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16)
                .ok()
                .map(|u| i64::from_ne_bytes(u.to_ne_bytes())),
            None => v.parse::<i64>().ok(),
        };
        parsed.map(Some).ok_or(Error::VmcoreInfoValue {
            offset: e.offset,
            key: "NUMBER",
            expected: "signed decimal or 0x-prefixed hex",
        })
    }

    /// `KERNELOFFSET` (the KASLR offset).
    pub fn kernel_offset(&self) -> Result<Option<u64>> {
        self.number(Key::KernelOffset, "KERNELOFFSET", 16)
    }

    /// `CRASHTIME`.
    pub fn crash_time(&self) -> Result<Option<u64>> {
        self.number(Key::CrashTime, "CRASHTIME", 10)
    }

    fn number(&self, key: Key<'_>, name: &'static str, radix: u32) -> Result<Option<u64>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        let v = e.value.trim();
        let digits = if radix == 16 {
            v.strip_prefix("0x").unwrap_or(v)
        } else {
            v
        };
        u64::from_str_radix(digits, radix)
            .map(Some)
            .map_err(|_| Error::VmcoreInfoValue {
                offset: e.offset,
                key: name,
                expected: if radix == 16 {
                    "hex number"
                } else {
                    "decimal number"
                },
            })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_in_decimal_and_arm64_hex() {
        let v = super::VmcoreInfo::parse(
            b"NUMBER(phys_base)=-111149056\nNUMBER(kimage_voffset)=0xffffd6e8d0000000\nNUMBER(VA_BITS)=48\nNUMBER(bad)=0xzz\n",
        )
        .unwrap();
        assert_eq!(v.number_value("phys_base").unwrap(), Some(-111_149_056));
        assert_eq!(
            v.number_value("kimage_voffset").unwrap(),
            Some(i64::from_ne_bytes(0xffff_d6e8_d000_0000u64.to_ne_bytes()))
        );
        assert_eq!(v.number_value("VA_BITS").unwrap(), Some(48));
        assert!(v.number_value("bad").is_err());
        assert_eq!(v.number_value("absent").unwrap(), None);
    }

    use super::*;

    const TEXT: &[u8] = b"OSRELEASE=6.1.0-41-amd64\nBUILD-ID=0011aabb\nPAGESIZE=4096\n\
SYMBOL(init_uts_ns)=ffffffff82a13420\nSIZE(page)=64\nOFFSET(page.flags)=0\n\
LENGTH(zone.free_area)=11\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n\
KERNELOFFSET=1c000000\nNUMBER(phys_base)=0\nX86_PAE=n\nCRASHTIME=1764290000\n\0\0\0";

    #[test]
    fn typed_view() {
        let v = VmcoreInfo::parse(TEXT).unwrap();
        assert_eq!(v.osrelease(), Some("6.1.0-41-amd64"));
        assert_eq!(v.build_id(), Some("0011aabb"));
        assert_eq!(v.page_size(), Ok(Some(4096)));
        assert_eq!(v.symbol("init_uts_ns"), Ok(Some(0xffff_ffff_82a1_3420)));
        assert_eq!(v.size("page"), Ok(Some(64)));
        assert_eq!(v.offset("page", "flags"), Ok(Some(0)));
        assert_eq!(v.length("zone.free_area"), Ok(Some(11)));
        assert_eq!(v.number_value("PAGE_BUDDY_MAPCOUNT_VALUE"), Ok(Some(-129)));
        assert_eq!(v.kernel_offset(), Ok(Some(0x1c00_0000)));
        assert_eq!(v.crash_time(), Ok(Some(1_764_290_000)));
        assert_eq!(v.get_raw("X86_PAE"), Some("n"));
        assert_eq!(v.symbol("missing"), Ok(None));
        assert!(v.entries().any(|e| e.key == Key::Other("X86_PAE")));
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let v = VmcoreInfo::parse(b"PAGESIZE=4k\nSYMBOL(x)=zz\n").unwrap();
        assert_eq!(
            v.page_size(),
            Err(Error::VmcoreInfoValue {
                offset: 0,
                key: "PAGESIZE",
                expected: "decimal number"
            })
        );
        assert!(matches!(
            v.symbol("x"),
            Err(Error::VmcoreInfoValue { offset: 12, .. })
        ));
        assert_eq!(
            VmcoreInfo::parse(b"OSRELEASE=\xff"),
            Err(Error::VmcoreInfoNotUtf8 { offset: 10 })
        );
    }
}

//! Kernel knowledge from VMCOREINFO alone (no debuginfo): typed lookups of its entries, the
//! architecture's virtual-to-physical translation, and virtual reads.
//!
//! Facts: the kernel's `kernel/vmcore_info.c` and the arch `arch_crash_save_vmcoreinfo()`
//! functions (x86_64: `NUMBER(phys_base)`, `SYMBOL(init_top_pgt)`, `NUMBER(pgtable_l5_enabled)`,
//! `KERNELOFFSET`, `NUMBER(KERNEL_IMAGE_SIZE)`, `NUMBER(sme_mask)`; arm64: `NUMBER(VA_BITS)`,
//! `NUMBER(kimage_voffset)` and `NUMBER(PHYS_OFFSET)` printed in hex, `NUMBER(TCR_EL1_T1SZ)`).

#![forbid(unsafe_code)]

use elfcorehdr::{Endian, Machine, VmcoreInfo};

use crate::dump::{Dump, PhysMemory};
use crate::error::{Error, Result, min_len};
use crate::{arm64, x86_64};

/// VMCOREINFO text owned, with typed lookups that accept every number spelling the kernel
/// uses (`NUMBER()` is `%ld` on most architectures but `0x%llx` for some arm64 keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    text: String,
}

impl KernelInfo {
    /// Parses the VMCOREINFO note descriptor.
    pub fn parse(desc: &[u8]) -> Result<KernelInfo> {
        let v = VmcoreInfo::parse(desc)?;
        Ok(KernelInfo {
            text: v.as_str().to_owned(),
        })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `(key, value)` for every line, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.text.lines().filter_map(|l| l.split_once('='))
    }

    /// The value of `raw_key`.
    pub fn get(&self, raw_key: &str) -> Option<&str> {
        self.entries().find(|(k, _)| *k == raw_key).map(|(_, v)| v)
    }

    /// `OSRELEASE`.
    pub fn osrelease(&self) -> Option<&str> {
        self.get("OSRELEASE")
    }

    /// `SYMBOL(name)`.
    pub fn symbol(&self, name: &str) -> Result<Option<u64>> {
        self.parse_key(&format!("SYMBOL({name})"), Radix::Hex)
    }

    /// `SIZE(name)`.
    pub fn size(&self, name: &str) -> Result<Option<u64>> {
        self.parse_key(&format!("SIZE({name})"), Radix::Dec)
    }

    /// `OFFSET(name)` where `name` is `struct.member`.
    pub fn offset(&self, name: &str) -> Result<Option<u64>> {
        self.parse_key(&format!("OFFSET({name})"), Radix::Dec)
    }

    /// `LENGTH(name)`.
    pub fn length(&self, name: &str) -> Result<Option<u64>> {
        self.parse_key(&format!("LENGTH({name})"), Radix::Dec)
    }

    /// `NUMBER(name)`: signed decimal, or hex with `0x`; negative values wrap to `u64`.
    pub fn number(&self, name: &str) -> Result<Option<u64>> {
        self.parse_key(&format!("NUMBER({name})"), Radix::Auto)
    }

    /// `KERNELOFFSET`.
    pub fn kernel_offset(&self) -> Result<Option<u64>> {
        self.parse_key("KERNELOFFSET", Radix::Hex)
    }

    /// `CRASHTIME`.
    pub fn crash_time(&self) -> Result<Option<u64>> {
        self.parse_key("CRASHTIME", Radix::Dec)
    }

    /// `PAGESIZE`.
    pub fn page_size(&self) -> Result<Option<u64>> {
        self.parse_key("PAGESIZE", Radix::Dec)
    }

    /// A key that must be present.
    pub fn require(&self, what: Result<Option<u64>>, key: &str) -> Result<u64> {
        what?.ok_or_else(|| Error::MissingKey {
            key: key.to_owned(),
        })
    }

    fn parse_key(&self, key: &str, radix: Radix) -> Result<Option<u64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        parse_number(v, radix)
            .map(Some)
            .ok_or_else(|| Error::BadValue {
                key: key.to_owned(),
                value: v.to_owned(),
                expected: match radix {
                    Radix::Hex => "a hex number",
                    Radix::Dec => "a decimal number",
                    Radix::Auto => "a signed decimal or 0x hex number",
                },
            })
    }
}

#[derive(Clone, Copy)]
enum Radix {
    Hex,
    Dec,
    Auto,
}

fn parse_number(v: &str, radix: Radix) -> Option<u64> {
    let v = v.trim();
    match radix {
        Radix::Hex => u64::from_str_radix(v.strip_prefix("0x").unwrap_or(v), 16).ok(),
        Radix::Dec => v.parse().ok(),
        Radix::Auto => {
            if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                u64::from_str_radix(h, 16).ok()
            } else if let Some(n) = v.strip_prefix('-') {
                n.parse::<u64>().ok().map(|n| n.wrapping_neg())
            } else {
                v.parse().ok()
            }
        }
    }
}

/// The translation scheme of the dumped kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Translation {
    /// x86_64 4- or 5-level paging.
    X86_64(x86_64::X86_64),
    /// arm64 with 4K, 16K or 64K granules.
    Arm64(arm64::Arm64),
    /// Any other architecture, through the `p_vaddr` of the ELF dump's `PT_LOAD`s (what
    /// kexec-tools' `vmcore-dmesg` does everywhere): `(vaddr, paddr, memsz)` per segment.
    ElfVaddr(Vec<(u64, u64, u64)>),
}

/// A dump together with what VMCOREINFO says about its kernel.
#[derive(Debug)]
pub struct Kernel<'d> {
    dump: &'d Dump,
    info: KernelInfo,
    translation: Option<Translation>,
    translation_error: Option<String>,
}

impl<'d> Kernel<'d> {
    /// Reads VMCOREINFO from the dump and sets up translation for its architecture. A dump
    /// whose architecture has no translation still gives a `Kernel`; its virtual reads fail
    /// with [`Error::NoTranslation`] naming the reason.
    pub fn new(dump: &'d Dump) -> Result<Kernel<'d>> {
        let desc = dump.vmcoreinfo_bytes()?.ok_or(Error::NoVmcoreInfo)?;
        let info = KernelInfo::parse(&desc)?;
        let (translation, translation_error) = match Self::translation_for(dump, &info) {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(Kernel {
            dump,
            info,
            translation,
            translation_error,
        })
    }

    fn translation_for(dump: &Dump, info: &KernelInfo) -> Result<Translation> {
        let walk = match dump.machine() {
            Machine(62) => x86_64::X86_64::new(dump, info).map(Translation::X86_64),
            Machine(183) => arm64::Arm64::new(info).map(Translation::Arm64),
            Machine(m) => Err(Error::UnsupportedArch {
                machine: format!("e_machine {m}"),
            }),
        };
        // Without a page-table walk (another architecture, or VMCOREINFO lacking its keys),
        // the kernel's /proc/vmcore still gives each RAM range its direct-map address in
        // p_vaddr; QEMU and makedumpfile leave it 0.
        walk.or_else(|e| {
            let maps: Vec<(u64, u64, u64)> = dump
                .elf()
                .map(|el| {
                    el.segments
                        .iter()
                        .filter(|s| s.vaddr != 0 && s.vaddr != s.paddr)
                        .map(|s| (s.vaddr, s.paddr, s.memsz))
                        .collect()
                })
                .unwrap_or_default();
            if maps.is_empty() {
                Err(e)
            } else {
                Ok(Translation::ElfVaddr(maps))
            }
        })
    }

    /// The dump.
    pub fn dump(&self) -> &'d Dump {
        self.dump
    }

    /// VMCOREINFO.
    pub fn info(&self) -> &KernelInfo {
        &self.info
    }

    /// The translation in use, if the architecture has one.
    pub fn translation(&self) -> Option<&Translation> {
        self.translation.as_ref()
    }

    /// Byte order of the dumped kernel.
    pub fn endian(&self) -> Endian {
        self.dump.endian()
    }

    /// Size of a pointer / `long` in the dumped kernel.
    pub fn pointer_size(&self) -> u64 {
        match self.dump.elf().map(|e| e.header.class) {
            Some(elfcorehdr::Class::Elf32) => 4,
            Some(elfcorehdr::Class::Elf64) => 8,
            None => match self.dump.kdump().map(|k| k.header.word_size) {
                Some(crate::kdump::WordSize::Bits64) | None => 8,
                Some(_) => 4,
            },
        }
    }

    /// Translates a kernel virtual address to a physical address.
    pub fn translate(&self, vaddr: u64) -> Result<u64> {
        self.translate_span(vaddr).map(|(pa, _)| pa)
    }

    /// Translates `vaddr`, with how many bytes from it are physically contiguous (to the
    /// end of the page, huge page or block that maps it).
    pub fn translate_span(&self, vaddr: u64) -> Result<(u64, u64)> {
        match &self.translation {
            Some(Translation::X86_64(x)) => x.translate_span(self.dump, vaddr),
            Some(Translation::Arm64(a)) => a.translate_span(self.dump, vaddr),
            Some(Translation::ElfVaddr(maps)) => maps
                .iter()
                .find(|&&(v, _, len)| vaddr >= v && vaddr - v < len)
                .map(|&(v, p, len)| (p.wrapping_add(vaddr - v), len - (vaddr - v)))
                .ok_or(Error::NotMapped {
                    vaddr,
                    level: 0,
                    entry: 0,
                    entry_paddr: 0,
                }),
            None => Err(Error::NoTranslation {
                reason: self.translation_error.clone().unwrap_or_default(),
            }),
        }
    }

    /// Reads kernel virtual memory, one physically contiguous piece at a time (a whole
    /// huge page or block in one read).
    pub fn read_virt(&self, vaddr: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let va = vaddr.wrapping_add(done as u64);
            let (pa, span) = self.translate_span(va)?;
            let n = min_len(span.max(1), buf.len() - done);
            self.dump.read_phys(pa, &mut buf[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    /// Reads `len` bytes of kernel virtual memory into a new buffer, refusing more than `limit`.
    pub fn read_virt_vec(
        &self,
        what: &'static str,
        vaddr: u64,
        len: u64,
        limit: u64,
    ) -> Result<Vec<u8>> {
        if len > limit {
            return Err(Error::TooLarge {
                what,
                size: len,
                limit,
            });
        }
        let mut v = vec![0u8; crate::error::to_usize(what, len)?];
        self.read_virt(vaddr, &mut v)?;
        Ok(v)
    }

    /// Reads an unsigned integer of `size` bytes (1, 2, 4 or 8) in the kernel's byte order.
    pub fn read_uint(&self, vaddr: u64, size: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        let n = size.min(8) as usize;
        self.read_virt(vaddr, &mut b[..n])?;
        Ok(uint(self.endian(), &b[..n]))
    }

    /// Reads a pointer.
    pub fn read_pointer(&self, vaddr: u64) -> Result<u64> {
        self.read_uint(vaddr, self.pointer_size())
    }
}

/// Decodes an unsigned integer of up to 8 bytes.
pub(crate) fn uint(endian: Endian, b: &[u8]) -> u64 {
    let order = match endian {
        Endian::Little => crate::kdump::ByteOrder::Little,
        Endian::Big => crate::kdump::ByteOrder::Big,
    };
    crate::kdump::rd(order, b, 0, b.len().min(8))
}

pub(crate) fn read_phys_u64(dump: &Dump, paddr: u64) -> Result<u64> {
    let mut b = [0u8; 8];
    dump.read_phys(paddr, &mut b)?;
    Ok(uint(dump.endian(), &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_spelling() {
        let i = KernelInfo::parse(
            b"NUMBER(phys_base)=-184549376\nNUMBER(kimage_voffset)=0xffffd3b016600000\nNUMBER(VA_BITS)=48\nSYMBOL(x)=ffffffff81000000\nNUMBER(bad)=zz\n\0\0",
        )
        .unwrap();
        assert_eq!(
            i.number("phys_base").unwrap(),
            Some(0u64.wrapping_sub(184_549_376))
        );
        assert_eq!(
            i.number("kimage_voffset").unwrap(),
            Some(0xffff_d3b0_1660_0000)
        );
        assert_eq!(i.number("VA_BITS").unwrap(), Some(48));
        assert_eq!(i.symbol("x").unwrap(), Some(0xffff_ffff_8100_0000));
        assert_eq!(i.number("missing").unwrap(), None);
        assert!(matches!(i.number("bad"), Err(Error::BadValue { .. })));
        assert!(matches!(
            i.require(i.size("page"), "SIZE(page)"),
            Err(Error::MissingKey { .. })
        ));
    }
}

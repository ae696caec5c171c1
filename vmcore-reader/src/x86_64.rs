//! x86_64 virtual-to-physical translation: the kernel-text map through `phys_base`, and a
//! 4- or 5-level page-table walk from `init_top_pgt` for everything else (the direct map,
//! whose base is randomised by KASLR and not in VMCOREINFO, vmalloc, modules).
//!
//! Facts: the kernel's `arch/x86/include/asm/page_64.h` (`__phys_addr_symbol`:
//! `x - __START_KERNEL_map + phys_base`), `page_64_types.h` (`__START_KERNEL_map =
//! 0xffffffff80000000`, `KERNEL_IMAGE_SIZE`), `pgtable_types.h` (`_PAGE_PRESENT` bit 0,
//! `_PAGE_PSE` bit 7, 52-bit physical address mask), and `arch/x86/kernel/crash_core_64.c`
//! (the VMCOREINFO keys). SME's encryption bit (`NUMBER(sme_mask)`) is cleared from entries.

#![forbid(unsafe_code)]

use crate::dump::Dump;
use crate::error::{Error, Result};
use crate::kernel::{KernelInfo, read_phys_u64};

/// `__START_KERNEL_map`.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
const DEFAULT_KERNEL_IMAGE_SIZE: u64 = 1 << 30;
const PHYS_MASK: u64 = (1 << 52) - 1;

/// x86_64 translation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X86_64 {
    /// `phys_base` (wrapping: it is negative when the kernel runs below its link address).
    pub phys_base: u64,
    /// Physical address of the top-level page table.
    pub root: u64,
    /// Whether 5-level paging is on.
    pub five_level: bool,
    /// Size of the kernel-text map.
    pub kernel_image_size: u64,
    /// The SME encryption mask cleared from page-table entries.
    pub sme_mask: u64,
}

impl X86_64 {
    /// Reads the parameters from VMCOREINFO; `phys_base` falls back to the kdump header's,
    /// then to an ELF kernel-text `PT_LOAD`.
    pub fn new(dump: &Dump, info: &KernelInfo) -> Result<X86_64> {
        let phys_base = match info.number("phys_base")? {
            Some(p) => p,
            None => match dump.header_phys_base() {
                Some(p) => p,
                None => dump
                    .elf()
                    .and_then(|e| {
                        e.segments
                            .iter()
                            .find(|s| s.vaddr >= START_KERNEL_MAP)
                            .map(|s| s.paddr.wrapping_sub(s.vaddr.wrapping_sub(START_KERNEL_MAP)))
                    })
                    .unwrap_or(0),
            },
        };
        let kernel_image_size = info
            .number("KERNEL_IMAGE_SIZE")?
            .unwrap_or(DEFAULT_KERNEL_IMAGE_SIZE);
        // `init_top_pgt` since 4.13, `init_level4_pgt` before; `swapper_pg_dir` is the same
        // table under another name on some kernels.
        let mut root_va = None;
        for name in ["init_top_pgt", "init_level4_pgt", "swapper_pg_dir"] {
            if let Some(v) = info.symbol(name)? {
                root_va = Some(v);
                break;
            }
        }
        let root_va = root_va.ok_or_else(|| Error::MissingKey {
            key: "SYMBOL(init_top_pgt)".into(),
        })?;
        let mut x = X86_64 {
            phys_base,
            root: 0,
            five_level: info.number("pgtable_l5_enabled")?.unwrap_or(0) != 0,
            kernel_image_size,
            sme_mask: info.number("sme_mask")?.unwrap_or(0),
        };
        x.root = x.kernel_text(root_va).ok_or(Error::BadValue {
            key: "SYMBOL(init_top_pgt)".into(),
            value: format!("{root_va:x}"),
            expected: "an address in the kernel-text map",
        })?;
        Ok(x)
    }

    /// The kernel-text translation, if `vaddr` is in that map.
    pub fn kernel_text(&self, vaddr: u64) -> Option<u64> {
        let off = vaddr.checked_sub(START_KERNEL_MAP)?;
        (off < self.kernel_image_size).then(|| off.wrapping_add(self.phys_base))
    }

    /// Translates `vaddr`.
    pub fn translate(&self, dump: &Dump, vaddr: u64) -> Result<u64> {
        self.translate_span(dump, vaddr).map(|(pa, _)| pa)
    }

    /// Translates `vaddr`, with the number of bytes from it that stay physically contiguous
    /// (to the end of its 4 KiB, 2 MiB or 1 GiB page, or of the kernel-text map).
    pub fn translate_span(&self, dump: &Dump, vaddr: u64) -> Result<(u64, u64)> {
        if let Some(p) = self.kernel_text(vaddr) {
            let off = vaddr - START_KERNEL_MAP;
            return Ok((p, self.kernel_image_size - off));
        }
        self.walk_span(dump, vaddr)
    }

    /// Walks the page tables from [`X86_64::root`].
    pub fn walk(&self, dump: &Dump, vaddr: u64) -> Result<u64> {
        self.walk_span(dump, vaddr).map(|(pa, _)| pa)
    }

    /// [`X86_64::walk`], with the bytes left in the page that maps `vaddr`.
    pub fn walk_span(&self, dump: &Dump, vaddr: u64) -> Result<(u64, u64)> {
        let levels: u8 = if self.five_level { 5 } else { 4 };
        let mut table = self.root;
        for level in (1..=levels).rev() {
            let shift = 12 + 9 * u32::from(level - 1);
            let entry_paddr = table.wrapping_add(((vaddr >> shift) & 0x1ff) * 8);
            let entry = read_phys_u64(dump, entry_paddr)? & !self.sme_mask;
            let not_mapped = || Error::NotMapped {
                vaddr,
                level,
                entry,
                entry_paddr,
            };
            if entry & 1 == 0 {
                return Err(not_mapped());
            }
            let page_mask = (1u64 << shift) - 1;
            if level == 1 || (level <= 3 && entry & 0x80 != 0) {
                let pa = (entry & PHYS_MASK & !page_mask) | (vaddr & page_mask);
                return Ok((pa, page_mask + 1 - (vaddr & page_mask)));
            }
            table = entry & PHYS_MASK & !0xfff;
        }
        Err(Error::NotMapped {
            vaddr,
            level: 0,
            entry: 0,
            entry_paddr: table,
        })
    }
}

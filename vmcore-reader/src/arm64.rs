//! arm64 virtual-to-physical translation: a walk of the kernel's page tables from
//! `swapper_pg_dir` (whose physical address is its image address minus `kimage_voffset`),
//! for 4K, 16K and 64K granules and 39- to 52-bit virtual addresses.
//!
//! Facts: the Arm ARM (VMSAv8-64 stage 1 descriptors: bit 0 valid, bit 1 table/page versus
//! block; output address bits `[47:granule]`; with 64K granules and 52-bit PAs, bits `[15:12]`
//! hold `PA[51:48]`) and the kernel's `arch/arm64/kernel/vmcore_info.c` (`NUMBER(VA_BITS)`,
//! `NUMBER(kimage_voffset)`, `NUMBER(PHYS_OFFSET)`, `NUMBER(TCR_EL1_T1SZ)`), and
//! `arch/arm64/include/asm/memory.h` (`__lm_to_phys`, `__kimg_to_phys`).

#![forbid(unsafe_code)]

use crate::dump::Dump;
use crate::error::{Error, Result};
use crate::kernel::{KernelInfo, read_phys_u64};

/// arm64 translation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm64 {
    /// Granule shift (12, 14 or 16).
    pub page_shift: u32,
    /// Virtual address bits of the kernel half (64 − T1SZ, or `VA_BITS`).
    pub va_bits: u32,
    /// `kimage_voffset`.
    pub kimage_voffset: u64,
    /// `PHYS_OFFSET` (`memstart_addr`; negative under KASLR).
    pub phys_offset: Option<u64>,
    /// Physical address of `swapper_pg_dir`.
    pub root: u64,
}

impl Arm64 {
    /// Reads the parameters from VMCOREINFO.
    pub fn new(info: &KernelInfo) -> Result<Arm64> {
        let page_size = info.require(info.page_size(), "PAGESIZE")?;
        let page_shift = match page_size {
            4096 => 12,
            16384 => 14,
            65536 => 16,
            _ => {
                return Err(Error::BadValue {
                    key: "PAGESIZE".into(),
                    value: page_size.to_string(),
                    expected: "4096, 16384 or 65536 on arm64",
                });
            }
        };
        // The range check runs on the full 64-bit value: a `NUMBER(VA_BITS)` of 2^32 + 48
        // must be refused, not truncated to 48.
        let va_bits = match info.number("TCR_EL1_T1SZ")? {
            Some(t) if (12..=39).contains(&t) => 64 - t,
            _ => info.require(info.number("VA_BITS"), "NUMBER(VA_BITS)")?,
        };
        let va_bits = match u32::try_from(va_bits) {
            Ok(v) if (36..=52).contains(&v) => v,
            _ => {
                return Err(Error::BadValue {
                    key: "NUMBER(VA_BITS)".into(),
                    value: va_bits.to_string(),
                    expected: "36 ..= 52",
                });
            }
        };
        let kimage_voffset =
            info.require(info.number("kimage_voffset"), "NUMBER(kimage_voffset)")?;
        let swapper = info.require(info.symbol("swapper_pg_dir"), "SYMBOL(swapper_pg_dir)")?;
        Ok(Arm64 {
            page_shift,
            va_bits,
            kimage_voffset,
            phys_offset: info.number("PHYS_OFFSET")?,
            root: swapper.wrapping_sub(kimage_voffset),
        })
    }

    /// Translates `vaddr` by walking the page tables.
    pub fn translate(&self, dump: &Dump, vaddr: u64) -> Result<u64> {
        self.translate_span(dump, vaddr).map(|(pa, _)| pa)
    }

    /// [`Arm64::translate`], with the bytes left in the page or block that maps `vaddr`.
    pub fn translate_span(&self, dump: &Dump, vaddr: u64) -> Result<(u64, u64)> {
        let bits = self.page_shift - 3;
        let levels = (self.va_bits - self.page_shift).div_ceil(bits);
        let mut table = self.root;
        let oa_mask = ((1u64 << 48) - 1) & !((1u64 << self.page_shift) - 1);
        // At most 5 levels: `va_bits` ≤ 52 and `page_shift` ≥ 12 (checked in `new`), and a
        // `u8` level keeps that bound in the type.
        let levels = u8::try_from(levels).unwrap_or(u8::MAX);
        for level in (0..levels).rev() {
            let l = u32::from(level);
            let shift = self.page_shift + bits * l;
            let width = bits.min(self.va_bits - shift);
            let index = (vaddr >> shift) & ((1u64 << width) - 1);
            let entry_paddr = table.wrapping_add(index * 8);
            let entry = read_phys_u64(dump, entry_paddr)?;
            let not_mapped = || Error::NotMapped {
                vaddr,
                level,
                entry,
                entry_paddr,
            };
            if entry & 1 == 0 {
                return Err(not_mapped());
            }
            let mut oa = entry & oa_mask;
            if self.page_shift == 16 {
                oa |= ((entry >> 12) & 0xf) << 48;
            }
            let is_table = entry & 2 != 0;
            if l == 0 {
                if !is_table {
                    return Err(not_mapped());
                }
                let mask = (1u64 << shift) - 1;
                return Ok((oa | (vaddr & mask), mask + 1 - (vaddr & mask)));
            }
            if !is_table {
                let mask = (1u64 << shift) - 1;
                return Ok(((oa & !mask) | (vaddr & mask), mask + 1 - (vaddr & mask)));
            }
            table = oa;
        }
        Err(Error::NotMapped {
            vaddr,
            level: 0,
            entry: 0,
            entry_paddr: table,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(va_bits: &str) -> KernelInfo {
        let text = format!(
            "PAGESIZE=4096\nNUMBER(VA_BITS)={va_bits}\nNUMBER(kimage_voffset)=0xffff800008000000\nSYMBOL(swapper_pg_dir)=ffff80000a000000\n"
        );
        KernelInfo::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn va_bits_is_range_checked_before_narrowing() {
        assert_eq!(Arm64::new(&info("48")).unwrap().va_bits, 48);
        // 2^32 + 48: a truncating cast would read it as 48 and accept it.
        let err = Arm64::new(&info("4294967344")).unwrap_err();
        assert!(
            matches!(&err, Error::BadValue { key, value, .. } if key == "NUMBER(VA_BITS)" && value == "4294967344"),
            "{err}"
        );
    }
}

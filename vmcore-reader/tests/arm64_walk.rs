//! arm64 page-table walks over synthetic tables for 4K, 16K and 64K granules and 39- to
//! 52-bit virtual addresses: table, page and block descriptors, 52-bit output addresses.
#![allow(
    clippy::cast_possible_truncation,
    reason = "offsets into a small in-memory page-table image built by the test"
)]

use vmcore_reader::synth::{elf_dump, vmcoreinfo_note};
use vmcore_reader::{Dump, Error, Kernel};

const BASE: u64 = 0x4000_0000;
const KIMAGE_VOFFSET: u64 = 0xffff_8000_0000_0000 - BASE;

struct Tables {
    shift: u32,
    va_bits: u32,
    mem: Vec<u8>,
}

impl Tables {
    fn levels(&self) -> u32 {
        (self.va_bits - self.shift).div_ceil(self.shift - 3)
    }
    fn index(&self, va: u64, l: u32) -> u64 {
        let bits = self.shift - 3;
        let s = self.shift + bits * l;
        (va >> s) & ((1u64 << bits.min(self.va_bits - s)) - 1)
    }
    fn set(&mut self, table: u64, index: u64, v: u64) {
        let at = (table - BASE + index * 8) as usize;
        self.mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn dump(&self) -> Dump {
        let info = format!(
            "OSRELEASE=6.1.0-arm64\nPAGESIZE={}\nSYMBOL(swapper_pg_dir)={:x}\nNUMBER(VA_BITS)={}\nNUMBER(kimage_voffset)={:#x}\nNUMBER(PHYS_OFFSET)=0xffffc054c0000000\n",
            1u64 << self.shift,
            BASE + KIMAGE_VOFFSET,
            self.va_bits,
            KIMAGE_VOFFSET
        );
        let file = elf_dump(
            elfcorehdr::Target::aarch64(),
            &[(BASE, self.mem.clone())],
            &vmcoreinfo_note(elfcorehdr::Endian::Little, &info),
        );
        Dump::from_bytes(file).unwrap()
    }
}

fn encode(pa: u64, shift: u32) -> u64 {
    let low = pa & ((1u64 << 48) - 1);
    if shift == 16 {
        low | ((pa >> 48) & 0xf) << 12
    } else {
        low
    }
}

#[test]
fn walks_every_granule_and_va_size() {
    for (shift, va_bits) in [
        (12, 39),
        (12, 48),
        (14, 36),
        (14, 47),
        (14, 48),
        (16, 42),
        (16, 48),
        (16, 52),
    ] {
        let page = 1u64 << shift;
        let mut t = Tables {
            shift,
            va_bits,
            mem: vec![0; (page * 8) as usize],
        };
        let levels = t.levels();
        let va = (u64::MAX << va_bits)
            | (0x0000_5a5a_1234_5678 & ((1u64 << (va_bits - 1)) - 1))
            | (1 << (va_bits - 1));
        // Root at BASE, then one table per level below it.
        for l in (1..levels).rev() {
            let table = BASE + page * u64::from(levels - 1 - l);
            let next = table + page;
            t.set(table, t.index(va, l), encode(next, shift) | 3);
        }
        let target: u64 = if va_bits == 52 {
            0x000f_0000_0000_0000 | 0x8765 << shift
        } else {
            0x8_0000_0000 | 0x8765 << shift
        };
        let last = BASE + page * u64::from(levels - 1);
        t.set(last, t.index(va, 0), encode(target, shift) | 3);
        let dump = t.dump();
        let k = Kernel::new(&dump).unwrap();
        let page_mask = page - 1;
        assert_eq!(
            k.translate(va).unwrap(),
            target | (va & page_mask),
            "{shift} {va_bits}"
        );
        assert_eq!(
            k.translate_span(va).unwrap(),
            (target | (va & page_mask), page_mask + 1 - (va & page_mask)),
            "{shift} {va_bits} span"
        );
        // The neighbouring page has no descriptor.
        let err = k.translate(va ^ page).unwrap_err();
        assert!(
            matches!(err, Error::NotMapped { level: 0, .. }),
            "{shift} {va_bits}: {err}"
        );

        // A block descriptor one level up maps a whole block.
        if levels >= 2 {
            let parent = BASE + page * u64::from(levels - 2);
            let block_shift = shift + (shift - 3);
            let block_pa = 0x40_0000_0000u64 & !((1u64 << block_shift) - 1);
            t.set(parent, t.index(va, 1), encode(block_pa, shift) | 1);
            let dump = t.dump();
            let k = Kernel::new(&dump).unwrap();
            assert_eq!(
                k.translate(va).unwrap(),
                block_pa | (va & ((1u64 << block_shift) - 1)),
                "{shift} {va_bits} block"
            );
            assert_eq!(
                k.translate_span(va).unwrap().1,
                (1u64 << block_shift) - (va & ((1u64 << block_shift) - 1)),
                "{shift} {va_bits} block span"
            );
        }
    }
}

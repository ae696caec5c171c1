//! The kdump-compressed headers as makedumpfile writes them (header version 6), encoded in
//! the dumped machine's byte order and word size with the layouts `vmcore_reader::kdump`
//! reads: `struct disk_dump_header` in block 0, `struct kdump_sub_header` and the copy of
//! the ELF notes from block 1.
//!
//! Facts: makedumpfile `diskdump_mod.h`, `makedumpfile.c` (`write_kdump_header`); crash
//! `diskdump.c` and libkdumpfile `diskdump.c` for the 32-bit layouts.

use vmcore_reader::kdump::{ByteOrder, KDUMP_SIGNATURE, WordSize};

/// The header version written.
pub const HEADER_VERSION: u32 = 6;

/// Size of `struct kdump_sub_header` (version 6) for a word size.
pub fn sub_header_size(ws: WordSize) -> u64 {
    sub_header_len(ws) as u64
}

fn sub_header_len(ws: WordSize) -> usize {
    match ws {
        WordSize::Bits64 => 104,
        WordSize::Bits32Packed => 80,
        WordSize::Bits32Padded => 96,
    }
}

/// Writes the low `len` (at most 8) bytes of `v` at `at`, as far as `buf` reaches.
pub(crate) fn put(order: ByteOrder, buf: &mut [u8], at: usize, len: usize, v: u64) {
    let le = v.to_le_bytes();
    for (i, &byte) in le.iter().enumerate().take(len) {
        let pos = match order {
            ByteOrder::Little => at + i,
            ByteOrder::Big => at + len - 1 - i,
        };
        if let Some(b) = buf.get_mut(pos) {
            *b = byte;
        }
    }
}

/// The fields of the two headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdumpHeader {
    /// Byte order of the dumped machine.
    pub order: ByteOrder,
    /// Word size and sub-header layout.
    pub word_size: WordSize,
    /// `utsname`: sysname, nodename, release, version, machine, domainname.
    pub utsname: [Vec<u8>; 6],
    /// `timestamp` (seconds, microseconds).
    pub timestamp: (u64, u64),
    /// `status` bits.
    pub status: u32,
    /// `block_size` (the page size).
    pub block_size: u32,
    /// `sub_hdr_size` in blocks.
    pub sub_hdr_size: u32,
    /// `bitmap_blocks`.
    pub bitmap_blocks: u32,
    /// Number of pfns the bitmaps describe.
    pub max_mapnr: u64,
    /// `nr_cpus`.
    pub nr_cpus: u32,
    /// `phys_base`.
    pub phys_base: u64,
    /// `dump_level`.
    pub dump_level: u32,
    /// `offset_vmcoreinfo`, `size_vmcoreinfo`.
    pub vmcoreinfo: (u64, u64),
    /// `offset_note`, `size_note`.
    pub note: (u64, u64),
    /// `split = 1` and `[start_pfn, end_pfn)` for one part of a split dump (makedumpfile
    /// `write_kdump_header`: the 32-bit-or-long fields saturate, the `_64` ones are exact).
    pub split: Option<(u64, u64)>,
    /// `offset_eraseinfo`, `size_eraseinfo` (0, 0: none).
    pub eraseinfo: (u64, u64),
}

impl KdumpHeader {
    /// Encodes block 0 (`disk_dump_header`), `block_size` bytes.
    pub fn encode_main(&self) -> Vec<u8> {
        let o = self.order;
        let mut b = vec![0u8; self.block_size as usize];
        b[..8].copy_from_slice(KDUMP_SIGNATURE);
        put(o, &mut b, 8, 4, u64::from(HEADER_VERSION));
        for (i, s) in self.utsname.iter().enumerate() {
            let at = 12 + 65 * i;
            let n = s.len().min(64);
            b[at..at + n].copy_from_slice(&s[..n]);
        }
        let (ts, tsl, base) = if self.word_size == WordSize::Bits64 {
            (408, 8, 424)
        } else {
            (404, 4, 412)
        };
        put(o, &mut b, ts, tsl, self.timestamp.0);
        put(o, &mut b, ts + tsl, tsl, self.timestamp.1);
        put(o, &mut b, base, 4, u64::from(self.status));
        put(o, &mut b, base + 4, 4, u64::from(self.block_size));
        put(o, &mut b, base + 8, 4, u64::from(self.sub_hdr_size));
        put(o, &mut b, base + 12, 4, u64::from(self.bitmap_blocks));
        put(
            o,
            &mut b,
            base + 16,
            4,
            self.max_mapnr.min(u64::from(u32::MAX)),
        );
        put(o, &mut b, base + 36, 4, u64::from(self.nr_cpus));
        b
    }

    /// Encodes `kdump_sub_header` (without the note copy that follows it).
    pub fn encode_sub(&self) -> Vec<u8> {
        let o = self.order;
        let l = if self.word_size == WordSize::Bits64 {
            8
        } else {
            4
        };
        let offs: [usize; 14] = match self.word_size {
            WordSize::Bits64 => [0, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96],
            WordSize::Bits32Packed => [0, 4, 8, 12, 16, 20, 28, 32, 40, 44, 52, 56, 64, 72],
            WordSize::Bits32Padded => [0, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88],
        };
        let mut b = vec![0u8; sub_header_len(self.word_size)];
        put(o, &mut b, offs[0], l, self.phys_base);
        put(o, &mut b, offs[1], 4, u64::from(self.dump_level));
        put(o, &mut b, offs[5], 8, self.vmcoreinfo.0);
        put(o, &mut b, offs[6], l, self.vmcoreinfo.1);
        put(o, &mut b, offs[7], 8, self.note.0);
        put(o, &mut b, offs[8], l, self.note.1);
        put(o, &mut b, offs[9], 8, self.eraseinfo.0);
        put(o, &mut b, offs[10], l, self.eraseinfo.1);
        put(o, &mut b, offs[13], 8, self.max_mapnr);
        if let Some((start, end)) = self.split {
            let long_max = if l == 8 {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            };
            put(o, &mut b, offs[2], 4, 1);
            put(o, &mut b, offs[3], l, start.min(long_max));
            put(o, &mut b, offs[4], l, end.min(long_max));
            put(o, &mut b, offs[11], 8, start);
            put(o, &mut b, offs[12], 8, end);
        }
        b
    }
}

/// Encodes one `page_desc_t` (24 bytes).
pub fn encode_desc(order: ByteOrder, offset: u64, size: u32, flags: u32) -> [u8; 24] {
    let mut b = [0u8; 24];
    put(order, &mut b, 0, 8, offset);
    put(order, &mut b, 8, 4, u64::from(size));
    put(order, &mut b, 12, 4, u64::from(flags));
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmcore_reader::kdump::{parse_header, parse_sub_header};

    #[test]
    fn headers_parse_back_in_every_layout() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            for (ws, machine) in [
                (WordSize::Bits64, "x86_64"),
                (WordSize::Bits32Packed, "i686"),
                (WordSize::Bits32Padded, "armv7l"),
            ] {
                let h = KdumpHeader {
                    order,
                    word_size: ws,
                    utsname: [
                        b"Linux".to_vec(),
                        b"host".to_vec(),
                        b"6.1.0".to_vec(),
                        b"#1".to_vec(),
                        machine.as_bytes().to_vec(),
                        b"(none)".to_vec(),
                    ],
                    timestamp: (1_700_000_000, 5),
                    status: 0x21,
                    block_size: 4096,
                    sub_hdr_size: 1,
                    bitmap_blocks: 2,
                    max_mapnr: 0x1_2345_6789,
                    nr_cpus: 3,
                    phys_base: 0x100_0000,
                    dump_level: 31,
                    vmcoreinfo: (4200, 300),
                    note: (4196, 500),
                    split: Some((0x1000, 0x1_2345_6789)),
                    eraseinfo: (0, 0),
                };
                let main = h.encode_main();
                let p = parse_header(&main).unwrap();
                assert_eq!((p.byte_order, p.word_size), (order, ws));
                assert_eq!(p.header_version, 6);
                assert_eq!(p.status, 0x21);
                assert_eq!(p.utsname[4], machine);
                assert_eq!(p.max_mapnr, u32::MAX);
                assert_eq!(p.nr_cpus, 3);
                assert_eq!(p.timestamp_sec, 1_700_000_000);
                let s = parse_sub_header(&p, &h.encode_sub()).unwrap();
                assert_eq!(s.max_mapnr_64, Some(0x1_2345_6789));
                assert_eq!(s.vmcoreinfo, Some((4200, 300)));
                assert_eq!(s.note, Some((4196, 500)));
                assert_eq!(s.dump_level, 31);
                assert_eq!(s.phys_base, 0x100_0000);
                assert_eq!(
                    (s.split, s.start_pfn, s.end_pfn),
                    (1, 0x1000, 0x1_2345_6789)
                );
            }
        }
    }
}

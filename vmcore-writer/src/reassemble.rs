//! Joining a split dump into one kdump-compressed file (`makedumpfile --reassemble`).
//!
//! Layout facts from makedumpfile (`makedumpfile.c`: `reassemble_kdump_header`,
//! `reassemble_kdump_pages`): the headers, the note copy and both bitmaps are those of the
//! first part with `split`, `start_pfn` and `end_pfn` cleared; the descriptors follow the
//! bitmaps, one per set bit of bitmap 2, and the data after them, with one shared zero page
//! first when dump level bit 1 (zero pages) is set. Stored pages are copied as they are,
//! not recompressed.

use vmcore_reader::SplitSet;
use vmcore_reader::kdump::{StoredBlock, status};

use crate::bitmap::set_bits;
use crate::classify::level;
use crate::error::{Error, Result, add, mul, to_len};
use crate::kdump::{KdumpHeader, encode_desc};
use crate::sink::Sink;

/// What a reassembly did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReassembleStats {
    /// Parts read.
    pub parts: usize,
    /// Descriptors written (set bits of bitmap 2).
    pub pages: u64,
    /// Pages stored as the shared zero page.
    pub zero: u64,
    /// Pages lost in an incomplete part (written as lost).
    pub lost: u64,
    /// Output bytes.
    pub bytes_out: u64,
    /// Whether the output is marked incomplete (a part was).
    pub incomplete: bool,
}

fn write_err(what: &'static str, offset: u64) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Write {
        what,
        offset,
        source,
    }
}

/// Writes the dump that the parts of `set` together hold as one kdump-compressed file.
pub fn reassemble(set: &SplitSet, sink: &mut dyn Sink) -> Result<ReassembleStats> {
    let first = set.first();
    let Some(k0) = first.kdump() else {
        return Err(Error::Options(
            "a split set is made of kdump-compressed files",
        ));
    };
    for (_, _, d) in set.parts() {
        if let Some((_, size)) = d.kdump().and_then(|k| k.sub.eraseinfo) {
            if size > 0 {
                return Err(Error::BadValue {
                    what: "kdump_sub_header.size_eraseinfo of a part",
                    value: size,
                    expected: "0 (eraseinfo is not copied)",
                });
            }
        }
    }
    let h = &k0.header;
    let bs = u64::from(h.block_size);
    let incomplete = set
        .parts()
        .any(|(_, _, d)| d.kdump().is_some_and(|k| k.is_incomplete()));
    let mut header = KdumpHeader {
        order: h.byte_order,
        word_size: h.word_size,
        utsname: h.utsname.clone().map(String::into_bytes),
        timestamp: (h.timestamp_sec, h.timestamp_usec),
        status: h.status | status::INCOMPLETE,
        block_size: h.block_size,
        sub_hdr_size: h.sub_hdr_size,
        bitmap_blocks: h.bitmap_blocks,
        max_mapnr: k0.max_mapnr,
        nr_cpus: h.nr_cpus,
        phys_base: k0.sub.phys_base,
        dump_level: u32::try_from(k0.sub.dump_level).unwrap_or(0),
        vmcoreinfo: k0.sub.vmcoreinfo.unwrap_or((0, 0)),
        note: k0.sub.note.unwrap_or((0, 0)),
        split: None,
        // Parts with eraseinfo are refused above.
        eraseinfo: (0, 0),
    };
    sink.write_at(0, &header.encode_main())
        .map_err(write_err("disk_dump_header", 0))?;
    sink.write_at(bs, &header.encode_sub())
        .map_err(write_err("kdump_sub_header", bs))?;
    if let Some((off, bytes)) = &k0.notes {
        sink.write_at(*off, bytes)
            .map_err(write_err("PT_NOTE copy", *off))?;
    }
    let bitmap_off = mul(
        "bitmap offset",
        add("bitmap offset", 1, u64::from(h.sub_hdr_size))?,
        bs,
    )?;
    let bitmap_len = mul("bitmap length", u64::from(h.bitmap_blocks), bs)?;
    let half = bitmap_len / 2;
    let desc_off = add("page descriptors", bitmap_off, bitmap_len)?;
    sink.extend_to(desc_off)
        .map_err(write_err("bitmaps", bitmap_off))?;
    sink.write_at(bitmap_off, k0.bitmap1())
        .map_err(write_err("bitmap 1", bitmap_off))?;
    sink.write_at(bitmap_off + half, k0.bitmap2())
        .map_err(write_err("bitmap 2", bitmap_off + half))?;
    let total = k0.dumpable_blocks_in_dump();
    let data_start = add("page data", desc_off, mul("page descriptors", total, 24)?)?;
    sink.extend_to(data_start)
        .map_err(write_err("page descriptors", desc_off))?;
    let ps_len = to_len("block size", bs)?;
    let shared_zero = k0.sub.dump_level & i32::from(level::ZERO) != 0;
    let mut cursor = data_start;
    if shared_zero {
        sink.write_at(data_start, &vec![0u8; ps_len])
            .map_err(write_err("zero page", data_start))?;
        cursor += bs;
    }
    let zero_desc = encode_desc(h.byte_order, data_start, h.block_size, 0);
    let mut stats = ReassembleStats {
        parts: set.parts().count(),
        incomplete,
        ..ReassembleStats::default()
    };
    let mut descs: Vec<u8> = Vec::with_capacity(24 * 16384);
    let mut data: Vec<u8> = Vec::with_capacity(4 << 20);
    let (mut desc_at, mut data_at) = (desc_off, cursor);
    let flush = |descs: &mut Vec<u8>,
                 data: &mut Vec<u8>,
                 desc_at: &mut u64,
                 data_at: &mut u64,
                 sink: &mut dyn Sink|
     -> Result<()> {
        // Data before the descriptors that point at it.
        sink.write_at(*data_at, data)
            .map_err(write_err("page data", *data_at))?;
        *data_at += data.len() as u64;
        data.clear();
        sink.write_at(*desc_at, descs)
            .map_err(write_err("page descriptors", *desc_at))?;
        *desc_at += descs.len() as u64;
        descs.clear();
        Ok(())
    };
    let bitmap2 = k0.bitmap2();
    let nbits = u64::try_from(bitmap2.len()).unwrap_or(0).saturating_mul(8);
    for ((start, end), _, part) in set.parts() {
        for pfn in set_bits(bitmap2, nbits) {
            if pfn < start {
                continue;
            }
            if pfn >= end {
                break;
            }
            let d = match part.stored_block(pfn)? {
                Some(StoredBlock::Zero) if shared_zero => {
                    stats.zero += 1;
                    zero_desc
                }
                Some(StoredBlock::Zero) => {
                    let d = encode_desc(h.byte_order, cursor, h.block_size, 0);
                    data.resize(data.len() + ps_len, 0);
                    cursor += bs;
                    d
                }
                Some(StoredBlock::Data { flags, bytes }) => {
                    let size = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
                        what: "stored page",
                        value: bytes.len() as u64,
                    })?;
                    let d = encode_desc(h.byte_order, cursor, size, flags);
                    data.extend_from_slice(&bytes);
                    cursor += u64::from(size);
                    d
                }
                Some(StoredBlock::Lost) | None => {
                    // A set bit the part does not store: the part was cut short.
                    stats.lost += 1;
                    [0u8; 24]
                }
            };
            descs.extend_from_slice(&d);
            stats.pages += 1;
            if data.len() >= 4 << 20 || descs.len() >= 24 * 16384 {
                flush(&mut descs, &mut data, &mut desc_at, &mut data_at, sink)?;
            }
        }
    }
    flush(&mut descs, &mut data, &mut desc_at, &mut data_at, sink)?;
    if stats.lost > 0 {
        stats.incomplete = true;
    }
    if !stats.incomplete {
        header.status &= !status::INCOMPLETE;
    }
    sink.write_at(0, &header.encode_main())
        .map_err(write_err("disk_dump_header", 0))?;
    sink.finish()
        .map_err(write_err("end of output", sink.written()))?;
    stats.bytes_out = sink.written();
    Ok(stats)
}

//! A split dump (`makedumpfile --split`, or `vmcore-capture --split`): several
//! kdump-compressed files, each holding the pages of one pfn range, read as one dump.
//!
//! Layout facts from makedumpfile (`makedumpfile.c`: `write_kdump_header`,
//! `store_splitting_info`, `check_splitting_info`): every part has the same
//! `disk_dump_header` and both whole bitmaps, and its sub-header says `split = 1` and its
//! `[start_pfn_64, end_pfn_64)`; the ranges, sorted, start at 0, follow each other without
//! gap or overlap and end at `max_mapnr`.

use std::path::{Path, PathBuf};

use crate::dump::{Dump, Excluded, PageState, PhysMemory};
use crate::error::{Error, Result};

/// The parts of one split dump, sorted by pfn range, read as one dump.
#[derive(Debug)]
pub struct SplitSet {
    /// (pfn range, path, part), ascending by range.
    parts: Vec<((u64, u64), PathBuf, Dump)>,
    page_size: u64,
    max_mapnr: u64,
}

fn mismatch(file: &Path, field: &'static str, found: String, expected: String) -> Error {
    Error::SplitSet {
        file: file.to_path_buf(),
        field,
        found,
        expected,
    }
}

impl SplitSet {
    /// Opens the parts of a split dump, in any order, and checks that they belong together.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<SplitSet> {
        let mut parts = Vec::with_capacity(paths.len());
        for p in paths {
            let p = p.as_ref();
            parts.push((p.to_path_buf(), Dump::open(p)?));
        }
        SplitSet::from_parts(parts)
    }

    /// Builds a set from parts already open (`(name, dump)`; the name is used in errors).
    pub fn from_parts(parts: Vec<(PathBuf, Dump)>) -> Result<SplitSet> {
        let Some((first_path, first)) = parts.first() else {
            return Err(mismatch(
                Path::new(""),
                "number of parts",
                "0".into(),
                "at least 1".into(),
            ));
        };
        let first_k = first.kdump().ok_or_else(|| {
            mismatch(
                first_path,
                "format",
                first.format().name().into(),
                "kdump-compressed".into(),
            )
        })?;
        let (h0, s0) = (first_k.header.clone(), first_k.sub.clone());
        let max_mapnr = first_k.max_mapnr;
        let mut out = Vec::with_capacity(parts.len());
        for (path, d) in parts {
            let Some(k) = d.kdump() else {
                return Err(mismatch(
                    &path,
                    "format",
                    d.format().name().into(),
                    "kdump-compressed".into(),
                ));
            };
            let Some(range) = k.split_range() else {
                return Err(mismatch(
                    &path,
                    "kdump_sub_header.split",
                    k.sub.split.to_string(),
                    "1 (a part of a split dump)".into(),
                ));
            };
            // makedumpfile compares the whole `disk_dump_header` byte for byte; the parsed
            // fields are the same thing, compared one by one to name the one that differs.
            let h = &k.header;
            let checks: [(&'static str, String, String); 9] = [
                (
                    "disk_dump_header.utsname",
                    format!("{:?}", h.utsname),
                    format!("{:?}", h0.utsname),
                ),
                (
                    "disk_dump_header.timestamp",
                    format!("{}.{:06}", h.timestamp_sec, h.timestamp_usec),
                    format!("{}.{:06}", h0.timestamp_sec, h0.timestamp_usec),
                ),
                // An incomplete part (a full disk) still belongs to the set; its lost pages
                // read as lost.
                (
                    "disk_dump_header.status",
                    format!("{:#x}", h.status & !crate::kdump::status::INCOMPLETE),
                    format!("{:#x}", h0.status & !crate::kdump::status::INCOMPLETE),
                ),
                (
                    "disk_dump_header.block_size",
                    h.block_size.to_string(),
                    h0.block_size.to_string(),
                ),
                (
                    "disk_dump_header.sub_hdr_size",
                    h.sub_hdr_size.to_string(),
                    h0.sub_hdr_size.to_string(),
                ),
                (
                    "disk_dump_header.bitmap_blocks",
                    h.bitmap_blocks.to_string(),
                    h0.bitmap_blocks.to_string(),
                ),
                ("max_mapnr", k.max_mapnr.to_string(), max_mapnr.to_string()),
                (
                    "disk_dump_header.nr_cpus",
                    h.nr_cpus.to_string(),
                    h0.nr_cpus.to_string(),
                ),
                (
                    "kdump_sub_header.dump_level",
                    k.sub.dump_level.to_string(),
                    s0.dump_level.to_string(),
                ),
            ];
            for (field, found, expected) in checks {
                if found != expected {
                    return Err(mismatch(&path, field, found, expected));
                }
            }
            if h.signature != h0.signature
                || h.header_version != h0.header_version
                || h.byte_order != h0.byte_order
                || h.word_size != h0.word_size
            {
                return Err(mismatch(
                    &path,
                    "disk_dump_header.header_version",
                    format!("{} {:?} {:?}", h.header_version, h.byte_order, h.word_size),
                    format!(
                        "{} {:?} {:?}",
                        h0.header_version, h0.byte_order, h0.word_size
                    ),
                ));
            }
            out.push((range, path, d));
        }
        out.sort_by_key(|(r, _, _)| *r);
        let mut next = 0u64;
        for (range, path, _) in &out {
            if range.0 != next {
                let what = if range.0 < next {
                    "overlaps the previous part"
                } else {
                    "leaves a gap after the previous part"
                };
                return Err(mismatch(
                    path,
                    "kdump_sub_header.start_pfn_64",
                    format!("{:#x} ({what})", range.0),
                    format!("{next:#x}"),
                ));
            }
            next = range.1;
        }
        if next != max_mapnr {
            let (_, path, _) = &out[out.len() - 1];
            return Err(mismatch(
                path,
                "kdump_sub_header.end_pfn_64",
                format!("{next:#x}"),
                format!("max_mapnr {max_mapnr:#x} (the set must cover the dump)"),
            ));
        }
        let page_size = out[0].2.page_size();
        Ok(SplitSet {
            parts: out,
            page_size,
            max_mapnr,
        })
    }

    /// The parts, ascending by range: (`[start_pfn, end_pfn)`, path, dump).
    pub fn parts(&self) -> impl Iterator<Item = ((u64, u64), &Path, &Dump)> {
        self.parts.iter().map(|(r, p, d)| (*r, p.as_path(), d))
    }

    /// The first part: headers, notes and VMCOREINFO are the same in every part.
    pub fn first(&self) -> &Dump {
        &self.parts[0].2
    }

    /// Number of pfns the dump describes.
    pub fn max_mapnr(&self) -> u64 {
        self.max_mapnr
    }

    /// The part holding `pfn`.
    pub fn part_of(&self, pfn: u64) -> Option<&Dump> {
        let i = self.parts.partition_point(|((_, end), _, _)| *end <= pfn);
        self.parts
            .get(i)
            .filter(|((s, e), _, _)| (*s..*e).contains(&pfn))
            .map(|(_, _, d)| d)
    }
}

impl PhysMemory for SplitSet {
    fn page_size(&self) -> u64 {
        self.page_size
    }

    fn page_state(&self, paddr: u64) -> Result<PageState> {
        match self.part_of(paddr / self.page_size) {
            Some(d) => d.page_state(paddr),
            None => Ok(PageState::NotInDump),
        }
    }

    fn read_phys_with(&self, paddr: u64, buf: &mut [u8], excluded: Excluded) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = paddr
                .checked_add(u64::try_from(done).unwrap_or(u64::MAX))
                .ok_or(Error::NotInDump { paddr })?;
            let pfn = at / self.page_size;
            let part = self.part_of(pfn).ok_or(Error::NotInDump { paddr: at })?;
            // Up to the end of this part's range (or of the buffer).
            let end = self
                .parts
                .iter()
                .find(|((s, e), _, _)| (*s..*e).contains(&pfn))
                .map_or(at, |((_, e), _, _)| e.saturating_mul(self.page_size));
            let room = end.saturating_sub(at);
            let n = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(buf.len() - done);
            part.read_phys_with(at, &mut buf[done..done + n], excluded)?;
            done += n;
        }
        Ok(())
    }

    fn present_ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (_, _, d) in &self.parts {
            for (s, e) in d.present_ranges() {
                match out.last_mut() {
                    Some(last) if last.1 == s => last.1 = e,
                    _ => out.push((s, e)),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "tests build small constants: block numbers below 64 as bytes"
    )]
    use super::*;
    use crate::synth::KdumpBuilder;

    /// A whole 64-block dump, each block filled with its number + 1.
    fn whole() -> Vec<u8> {
        let mut b = KdumpBuilder::new(64);
        for pfn in 0..64u64 {
            b.blocks.insert(pfn, Some(vec![pfn as u8 + 1; 4096]));
        }
        b.build()
    }

    /// `file` with its sub-header (at block 1, x86_64 layout) saying `split = 1` and `range`.
    fn as_part(mut file: Vec<u8>, range: (u64, u64)) -> Vec<u8> {
        let sub = 4096;
        file[sub + 12..sub + 16].copy_from_slice(&1i32.to_le_bytes());
        for (at, v) in [(16, range.0), (24, range.1), (80, range.0), (88, range.1)] {
            file[sub + at..sub + at + 8].copy_from_slice(&v.to_le_bytes());
        }
        file
    }

    /// The first part of a set holds the first descriptors of the whole dump: read alone,
    /// it has its range and nothing else.
    #[test]
    fn a_part_alone_reports_only_its_range() {
        let d = Dump::from_bytes(as_part(whole(), (0, 24))).unwrap();
        assert_eq!(d.kdump().unwrap().split_range(), Some((0, 24)));
        assert_eq!(d.kdump().unwrap().dumpable_blocks(), 24);
        assert_eq!(d.kdump().unwrap().dumpable_blocks_in_dump(), 64);
        assert_eq!(d.present_ranges(), vec![(0, 24 * 4096)]);
        assert_eq!(d.memory_ranges(), vec![(0, 24 * 4096)]);
        let mut b = vec![0u8; 4096];
        d.read_phys(23 * 4096, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 24));
        assert_eq!(d.page_state(24 * 4096).unwrap(), PageState::NotInDump);
        assert!(matches!(
            d.read_phys(30 * 4096, &mut b),
            Err(Error::NotInDump { .. })
        ));
        let c = d.page_counts().unwrap();
        assert_eq!((c.present, c.excluded), (24, 0));
    }

    #[test]
    fn a_range_past_max_mapnr_is_refused() {
        let e = Dump::from_bytes(as_part(whole(), (10, 65))).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadField {
                    field: "kdump_sub_header.end_pfn",
                    value: 65,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = Dump::from_bytes(as_part(whole(), (20, 10))).unwrap_err();
        assert!(matches!(e, Error::BadField { .. }), "{e:?}");
    }

    #[test]
    fn no_parts_is_an_error() {
        assert!(matches!(
            SplitSet::from_parts(Vec::new()),
            Err(Error::SplitSet {
                field: "number of parts",
                ..
            })
        ));
    }
}

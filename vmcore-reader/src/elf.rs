//! ELF dumps: the kernel's `/proc/vmcore`, copies of it, QEMU's `dump-guest-memory` output
//! (whose program headers may follow its section headers) and `makedumpfile -E` output.
//!
//! Facts: `formats.md` (from the kernel's `fs/proc/vmcore.c` and makedumpfile's
//! `IMPLEMENTATION`). The `PT_LOAD`s are looked up by `p_paddr`: the x86_64 kernel-text
//! segment duplicates part of RAM and neighbouring segments may share a page. Bytes past
//! `p_filesz` and below `p_memsz` were filtered out by makedumpfile (dump level), so they
//! read as excluded, never as silent zeros. The ELF structures themselves are parsed by
//! `elfcorehdr`; only the header tables and the notes are read, never the whole file.

#![forbid(unsafe_code)]

use elfcorehdr::{ElfCore, FileHeader, Notes, ProgramHeader};

use crate::error::{Error, Result, add};
use crate::source::Source;

/// Header tables larger than this are refused (`PN_XNUM` allows about 4 billion headers).
const MAX_TABLES: u64 = 64 << 20;
/// Notes larger than this are refused.
const MAX_NOTES: u64 = 64 << 20;

/// One `PT_LOAD`, physical view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// `p_paddr`.
    pub paddr: u64,
    /// `p_vaddr` (0 or meaningless in QEMU and makedumpfile dumps).
    pub vaddr: u64,
    /// `p_offset`.
    pub offset: u64,
    /// `p_filesz`: bytes present in the file.
    pub filesz: u64,
    /// `p_memsz`: bytes of memory the segment covers.
    pub memsz: u64,
}

impl Segment {
    fn file_end(&self) -> u64 {
        self.paddr.saturating_add(self.filesz)
    }
    fn mem_end(&self) -> u64 {
        self.paddr.saturating_add(self.memsz)
    }
}

/// The parsed headers of an ELF dump.
#[derive(Debug, Clone)]
pub struct ElfLayout {
    /// The file header.
    pub header: FileHeader,
    /// Every program header, in file order.
    pub program_headers: Vec<ProgramHeader>,
    /// The `PT_LOAD`s, in file order.
    pub segments: Vec<Segment>,
    /// `PT_LOAD` indices sorted by `p_paddr`.
    by_paddr: Vec<usize>,
    /// Running maximum of segment memory ends along `by_paddr`.
    reach: Vec<u64>,
    /// The concatenated `PT_NOTE` contents, with the file offset of each part.
    pub notes: Vec<(u64, Vec<u8>)>,
}

pub(crate) fn parse(source: &Source) -> Result<ElfLayout> {
    let mut head = [0u8; 64];
    let n = source.len().min(64) as usize;
    source.read_exact_at("ELF file header", 0, &mut head[..n])?;
    let header = FileHeader::parse(&head[..n])?;
    // With PN_XNUM the first answer may only name section header 0; ask again once.
    let mut end = header.tables_end()?;
    let mut tables;
    let core = loop {
        if end > MAX_TABLES {
            return Err(Error::TooLarge {
                what: "ELF header tables",
                size: end,
                limit: MAX_TABLES,
            });
        }
        let len = end.min(source.len());
        tables = source.read_vec("ELF header tables", 0, len)?;
        match ElfCore::parse(&tables) {
            Ok(core) => break core.program_headers().collect::<Vec<_>>(),
            Err(elfcorehdr::Error::Truncated {
                offset, len: need, ..
            }) if offset.saturating_add(need) > end
                && offset.saturating_add(need) <= source.len() =>
            {
                end = offset.saturating_add(need);
            }
            Err(e) => return Err(e.into()),
        }
    };
    let program_headers = core;
    let mut segments = Vec::new();
    let mut notes = Vec::new();
    let mut note_total = 0u64;
    for ph in &program_headers {
        if ph.is_load() {
            if ph.filesz > ph.memsz {
                return Err(Error::BadField {
                    field: "p_filesz",
                    offset: header.phoff,
                    value: ph.filesz,
                    expected: "at most p_memsz",
                });
            }
            add("PT_LOAD file range", ph.offset, ph.filesz)?;
            add("PT_LOAD memory range", ph.paddr, ph.memsz)?;
            segments.push(Segment {
                paddr: ph.paddr,
                vaddr: ph.vaddr,
                offset: ph.offset,
                filesz: ph.filesz,
                memsz: ph.memsz,
            });
        } else if ph.is_note() {
            note_total = note_total.saturating_add(ph.filesz);
            if note_total > MAX_NOTES {
                return Err(Error::TooLarge {
                    what: "ELF notes",
                    size: note_total,
                    limit: MAX_NOTES,
                });
            }
            notes.push((
                ph.offset,
                source.read_vec("PT_NOTE segment", ph.offset, ph.filesz)?,
            ));
        }
    }
    let mut by_paddr: Vec<usize> = (0..segments.len()).collect();
    by_paddr.sort_by_key(|&i| (segments[i].paddr, segments[i].memsz));
    let reach = by_paddr
        .iter()
        .scan(0u64, |m, &i| {
            *m = (*m).max(segments[i].mem_end());
            Some(*m)
        })
        .collect();
    Ok(ElfLayout {
        header,
        program_headers,
        segments,
        by_paddr,
        reach,
        notes,
    })
}

/// Where a physical address lives in an ELF dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// At this file offset, with this many bytes contiguous from there.
    File { offset: u64, run: u64 },
    /// Inside a segment's memory but past its file bytes (filtered); this many bytes.
    Excluded { run: u64 },
    /// In no segment; this many bytes until the next segment (or `u64::MAX`).
    Absent { run: u64 },
}

impl ElfLayout {
    /// Iterates over the notes of every `PT_NOTE`.
    pub fn notes(&self) -> impl Iterator<Item = Result<elfcorehdr::Note<'_>>> + '_ {
        let endian = self.header.endian;
        self.notes
            .iter()
            .flat_map(move |(off, data)| Notes::with_base(data, endian, *off))
            .map(|n| n.map_err(Error::from))
    }

    pub(crate) fn locate(&self, paddr: u64) -> Where {
        // Segments sorted by p_paddr; `reach[j]` is the furthest memory end among the first
        // j + 1 of them, so the scan back from the last segment starting at or below paddr
        // stops as soon as no earlier segment can cover it (overlaps stay correct).
        let k = self
            .by_paddr
            .partition_point(|&i| self.segments[i].paddr <= paddr);
        let next_start = self
            .by_paddr
            .get(k)
            .map_or(u64::MAX, |&i| self.segments[i].paddr);
        let mut excluded: Option<u64> = None;
        for j in (0..k).rev() {
            if self.reach[j] <= paddr {
                break;
            }
            let s = &self.segments[self.by_paddr[j]];
            if paddr < s.file_end() {
                let delta = paddr - s.paddr;
                return Where::File {
                    offset: s.offset + delta,
                    run: s.filesz - delta,
                };
            }
            if paddr < s.mem_end() {
                let run = s.mem_end() - paddr;
                excluded = Some(excluded.map_or(run, |r| r.min(run)));
            }
        }
        match excluded {
            Some(run) => Where::Excluded {
                run: run.min(next_start - paddr),
            },
            None => Where::Absent {
                run: next_start - paddr,
            },
        }
    }

    /// Physical ranges `[start, end)` with file bytes, merged, ascending.
    pub fn present_ranges(&self) -> Vec<(u64, u64)> {
        merge(
            self.by_paddr
                .iter()
                .map(|&i| &self.segments[i])
                .filter(|s| s.filesz > 0)
                .map(|s| (s.paddr, s.file_end())),
        )
    }

    /// Physical ranges `[start, end)` covered by segment memory, merged, ascending.
    pub fn memory_ranges(&self) -> Vec<(u64, u64)> {
        merge(
            self.by_paddr
                .iter()
                .map(|&i| &self.segments[i])
                .filter(|s| s.memsz > 0)
                .map(|s| (s.paddr, s.mem_end())),
        )
    }
}

pub(crate) fn merge(ranges: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = ranges.collect();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

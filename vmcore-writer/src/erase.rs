//! Erasing: physical byte ranges overwritten in the output, and the eraseinfo text that
//! records them.
//!
//! Generic on purpose: the writer knows nothing of symbols or types. A tool resolves a
//! filter (makedumpfile's `--config` syntax) to physical ranges and hands them here with
//! the text to record. Every output format applies the same ranges to page data as it is
//! prepared for output (before the zero-page test, as makedumpfile filters in `read_pfn`
//! before testing for zero pages); kdump-compressed output also stores the text after the
//! page data and points `kdump_sub_header.offset_eraseinfo`/`size_eraseinfo` at it
//! (makedumpfile `write_kdump_eraseinfo`, header version 5 and later).

/// The byte makedumpfile writes over erased bytes (`erase_ch = 'X'` in `erase_info.c`
/// `update_filter_info`); `nullify` writes zero instead.
pub const FILL: u8 = b'X';

/// One range to overwrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseRange {
    /// First physical address.
    pub paddr: u64,
    /// Length in bytes.
    pub len: u64,
    /// The byte written over it ([`FILL`], or 0 for `nullify`).
    pub fill: u8,
}

/// What to erase and what to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erase {
    ranges: Vec<EraseRange>,
    /// The eraseinfo text stored in kdump output (makedumpfile's lines
    /// `erase EXPR size N\n` / `erase EXPR nullify\n`); empty: none stored.
    pub eraseinfo: Vec<u8>,
}

impl Erase {
    /// Ranges to overwrite (sorted here; empty ones dropped) and the text to record.
    pub fn new(mut ranges: Vec<EraseRange>, eraseinfo: Vec<u8>) -> Erase {
        ranges.retain(|r| r.len > 0);
        ranges.sort_by_key(|r| r.paddr);
        Erase { ranges, eraseinfo }
    }

    /// The ranges, by address.
    pub fn ranges(&self) -> &[EraseRange] {
        &self.ranges
    }

    /// Whether nothing is erased and nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.eraseinfo.is_empty()
    }

    /// The `ERASEINFO` ELF note holding the text, as makedumpfile adds it to the `PT_NOTE`
    /// of `-E` output (`write_elf_eraseinfo`: `n_namesz` 10, `n_type` 0, name and text each
    /// padded to 4 bytes); empty when there is no text or it does not fit a note.
    pub fn elf_note(&self, big_endian: bool) -> Vec<u8> {
        let Ok(descsz) = u32::try_from(self.eraseinfo.len()) else {
            return Vec::new();
        };
        if descsz == 0 {
            return Vec::new();
        }
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut n = Vec::with_capacity(24 + self.eraseinfo.len() + 3);
        n.extend_from_slice(&word(10));
        n.extend_from_slice(&word(descsz));
        n.extend_from_slice(&word(0));
        n.extend_from_slice(b"ERASEINFO\0\0\0");
        n.extend_from_slice(&self.eraseinfo);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    /// Whether any range overlaps `[paddr, paddr + len)`.
    pub fn touches(&self, paddr: u64, len: u64) -> bool {
        let end = paddr.saturating_add(len);
        self.ranges
            .iter()
            .any(|r| r.paddr < end && paddr < r.paddr.saturating_add(r.len))
    }

    /// Overwrites the parts of `buf` (the bytes at physical `paddr`) that ranges cover.
    pub fn apply(&self, paddr: u64, buf: &mut [u8]) {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        let end = paddr.saturating_add(len);
        for r in &self.ranges {
            let s = r.paddr.max(paddr);
            let e = r.paddr.saturating_add(r.len).min(end);
            if s >= e {
                continue;
            }
            // `paddr <= s < e <= paddr + buf.len()`: offsets inside `buf`.
            let (Ok(a), Ok(b)) = (usize::try_from(s - paddr), usize::try_from(e - paddr)) else {
                continue;
            };
            if let Some(part) = buf.get_mut(a..b) {
                part.fill(r.fill);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_clips_to_the_buffer() {
        let e = Erase::new(
            vec![
                EraseRange {
                    paddr: 0x0ffe,
                    len: 4,
                    fill: FILL,
                },
                EraseRange {
                    paddr: 0x1800,
                    len: 8,
                    fill: 0,
                },
                EraseRange {
                    paddr: 0x3000,
                    len: 8,
                    fill: FILL,
                },
            ],
            Vec::new(),
        );
        let mut page = vec![0xaau8; 0x1000];
        assert!(e.touches(0x1000, 0x1000));
        assert!(!e.touches(0x2000, 0x1000));
        e.apply(0x1000, &mut page);
        assert_eq!(&page[..2], b"XX");
        assert_eq!(page[2], 0xaa);
        assert_eq!(&page[0x800..0x808], &[0u8; 8]);
        assert_eq!(page[0x808], 0xaa);
        assert_eq!(page.iter().filter(|&&b| b != 0xaa).count(), 10);
    }

    #[test]
    fn elf_note_is_makedumpfiles_layout() {
        let e = Erase::new(Vec::new(), b"erase a size 1\n".to_vec());
        let n = e.elf_note(false);
        assert_eq!(&n[..12], &[10, 0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&n[12..24], b"ERASEINFO\0\0\0");
        assert_eq!(&n[24..39], b"erase a size 1\n");
        assert_eq!(n.len(), 40);
        assert!(Erase::default().elf_note(true).is_empty());
    }
}

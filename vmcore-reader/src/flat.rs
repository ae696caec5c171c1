//! The flattened stream of `makedumpfile -F` (and QEMU's kdump output through a pipe): a
//! 4096-byte header starting `"makedumpfile"`, type 1, version 1, then records
//! `{ i64 offset; i64 size; bytes }`, all big-endian, ending with offset = size = -1. Each
//! record says "these bytes go at this offset of the real file".
//!
//! Facts: makedumpfile `makedumpfile.h` (`struct makedumpfile_header`,
//! `struct makedumpfile_data_header`, `MAX_SIZE_MDF_HEADER`, `END_FLAG_FLAT_HEADER`) and
//! `IMPLEMENTATION`. [`FlatIndex`] reads the stream once, keeps for each byte range of the
//! rebuilt file the stream offset of its latest record (later records overwrite earlier
//! ones, as `makedumpfile -R` does when it replays them), and serves positioned reads from
//! that index; bytes no record wrote read as zero, as in the sparse file `-R` produces.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use crate::error::{Error, Result, min_len};
use crate::source::Source;

/// The signature at offset 0 (NUL-padded to 16 bytes).
pub const FLAT_SIGNATURE: &[u8; 12] = b"makedumpfile";
/// Size of the stream header.
pub const FLAT_HEADER_SIZE: u64 = 4096;
const RECORD_HEADER: u64 = 16;
/// The largest rebuilt file the index accepts (1 PiB).
const MAX_FILE: u64 = 1 << 50;
/// How much longer than twice the stream the rebuilt file may be.
const SPARSE_SLACK: u64 = 64 << 20;

/// Whether `head` (the first bytes of a file) starts a flattened stream.
pub fn is_flattened(head: &[u8]) -> bool {
    head.len() >= 16 && &head[..12] == FLAT_SIGNATURE && head[12..16] == [0; 4]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    end: u64,
    src: u64,
}

/// An index from offsets of the rebuilt file to offsets in the stream.
#[derive(Debug)]
pub struct FlatIndex {
    stream: Source,
    pieces: BTreeMap<u64, Piece>,
    len: u64,
    records: u64,
}

impl FlatIndex {
    pub(crate) fn build(stream: Source) -> Result<FlatIndex> {
        let mut head = [0u8; 32];
        stream.read_exact_at("flattened header", 0, &mut head)?;
        if !is_flattened(&head) {
            let mut found = [0; 16];
            found.copy_from_slice(&head[..16]);
            return Err(Error::UnknownFormat { found });
        }
        let ty = i64::from_be_bytes(head[16..24].try_into().unwrap_or_default());
        if ty != 1 {
            return Err(Error::BadField {
                field: "makedumpfile_header.type",
                offset: 16,
                value: raw_bits(ty),
                expected: "1 (TYPE_FLAT_HEADER)",
            });
        }
        let mut index = FlatIndex {
            stream,
            pieces: BTreeMap::new(),
            len: 0,
            records: 0,
        };
        let mut pos = FLAT_HEADER_SIZE;
        loop {
            let mut rh = [0u8; 16];
            index
                .stream
                .read_exact_at("flattened record header", pos, &mut rh)?;
            let off = i64::from_be_bytes(rh[..8].try_into().unwrap_or_default());
            let size = i64::from_be_bytes(rh[8..].try_into().unwrap_or_default());
            if off == -1 && size == -1 {
                break;
            }
            let data = pos.checked_add(RECORD_HEADER).ok_or(Error::Overflow {
                what: "flattened record",
                a: pos,
                b: RECORD_HEADER,
            })?;
            let (Ok(off), Ok(size)) = (u64::try_from(off), u64::try_from(size)) else {
                return Err(Error::BadField {
                    field: "makedumpfile_data_header",
                    offset: pos,
                    value: raw_bits(off),
                    expected: "a non-negative offset and size, or -1/-1 at the end",
                });
            };
            let end = off
                .checked_add(size)
                .filter(|&e| e <= MAX_FILE)
                .ok_or(Error::BadField {
                    field: "makedumpfile_data_header.offset + buf_size",
                    offset: pos,
                    value: off.wrapping_add(size),
                    expected: "an end below 1 PiB",
                })?;
            let next = data.checked_add(size).ok_or(Error::Overflow {
                what: "flattened record",
                a: data,
                b: size,
            })?;
            if next > index.stream.len() {
                return Err(Error::Truncated {
                    what: "flattened record data",
                    offset: data,
                    len: size,
                    available: index.stream.len(),
                });
            }
            if size > 0 {
                index.insert(off, end, data);
            }
            index.len = index.len.max(end);
            index.records += 1;
            pos = next;
        }
        // Dump writers lay the file out densely, so the rebuilt file is about as long as the
        // data the stream carries. A stream claiming far more (a sparse terabyte from a few
        // records) would make every reader above walk zeros; refuse it.
        let limit = index
            .stream
            .len()
            .saturating_mul(2)
            .saturating_add(SPARSE_SLACK);
        if index.len > limit {
            return Err(Error::TooLarge {
                what: "file rebuilt from the flattened stream",
                size: index.len,
                limit,
            });
        }
        Ok(index)
    }

    fn insert(&mut self, start: u64, end: u64, src: u64) {
        // Trim or drop every piece overlapping [start, end).
        let overlapping: Vec<(u64, Piece)> = self
            .pieces
            .range(..end)
            .rev()
            .take_while(|(_, p)| p.end > start)
            .map(|(&s, &p)| (s, p))
            .collect();
        for (s, p) in overlapping {
            self.pieces.remove(&s);
            if s < start {
                self.pieces.insert(
                    s,
                    Piece {
                        end: start,
                        src: p.src,
                    },
                );
            }
            if p.end > end {
                let shift = end - s;
                self.pieces.insert(
                    end,
                    Piece {
                        end: p.end,
                        src: p.src + shift,
                    },
                );
            }
        }
        self.pieces.insert(start, Piece { end, src });
    }

    /// Length of the rebuilt file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the rebuilt file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of data records in the stream.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the rebuilt random-access file, what `makedumpfile -R` makes of the stream:
    /// every record's bytes at its offset (the latest record winning), zeros in between.
    /// Returns the number of bytes written.
    pub fn rebuild(&self, out: &mut impl std::io::Write) -> Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        while pos < self.len {
            let n = min_len(self.len - pos, buf.len());
            self.read_exact_at("flattened record data", pos, &mut buf[..n])?;
            out.write_all(&buf[..n]).map_err(|source| Error::Io {
                what: "rebuilt file",
                offset: pos,
                source,
            })?;
            pos += n as u64;
        }
        Ok(pos)
    }

    pub(crate) fn read_exact_at(
        &self,
        what: &'static str,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<()> {
        let mut pos = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let want = buf.len() - done;
            let piece = self
                .pieces
                .range(..=pos)
                .next_back()
                .filter(|(_, p)| p.end > pos);
            let n = match piece {
                Some((&s, p)) => {
                    let n = min_len(p.end - pos, want);
                    let src = p.src + (pos - s);
                    self.stream
                        .read_exact_at(what, src, &mut buf[done..done + n])?;
                    n
                }
                None => {
                    let next = self
                        .pieces
                        .range(pos..)
                        .next()
                        .map_or(u64::MAX, |(&s, _)| s);
                    let n = min_len(next - pos, want);
                    buf[done..done + n].fill(0);
                    n
                }
            };
            done += n;
            pos += n as u64;
        }
        Ok(())
    }
}

/// The bits of a signed header field, for an error that shows the value as found.
fn raw_bits(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(pieces: &[(u64, u64, u64)]) -> FlatIndex {
        let mut i = FlatIndex {
            stream: Source::Bytes(vec![0u8; 1024].into()),
            pieces: BTreeMap::new(),
            len: 0,
            records: 0,
        };
        for &(s, e, src) in pieces {
            i.insert(s, e, src);
        }
        i
    }

    #[test]
    fn later_records_overwrite_earlier_ones() {
        let i = index(&[(0, 100, 500), (50, 60, 900), (90, 200, 10)]);
        let got: Vec<(u64, u64, u64)> = i.pieces.iter().map(|(&s, p)| (s, p.end, p.src)).collect();
        assert_eq!(
            got,
            vec![(0, 50, 500), (50, 60, 900), (60, 90, 560), (90, 200, 10)]
        );
        let i = index(&[(10, 20, 0), (30, 40, 100), (0, 100, 300)]);
        assert_eq!(i.pieces.len(), 1);
    }

    #[test]
    fn signature_needs_the_nul_padding() {
        assert!(is_flattened(b"makedumpfile\0\0\0\0"));
        assert!(!is_flattened(b"makedumpfileXXXX"));
        assert!(!is_flattened(b"makedump"));
    }
}

//! ELF notes: an iterator over any note bytes and a writer that lays notes out.
//!
//! Layout (gABI; the kernel's `include/linux/elfcore.h` and `fs/proc/vmcore.c`): a 12-byte
//! header `n_namesz, n_descsz, n_type`, the name (with its NUL) padded to 4 bytes, the
//! descriptor padded to 4 bytes. Core files use 4-byte alignment in both classes.
//!
//! The kernel's per-CPU `crash_notes` buffers are fixed-size and end with an all-zero note
//! header followed by zero padding; `/proc/vmcore` stops reading a buffer at `n_namesz == 0`.
//! [`Notes`] ends cleanly at an all-zero header, or at a tail of fewer than 12 zero bytes.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::raw::NHDR_SIZE;
use crate::types::Endian;

/// One note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note<'a> {
    /// Offset of the note header: within the note bytes, plus the iterator's base offset.
    pub offset: u64,
    /// The name without its trailing NUL bytes (`CORE`, `VMCOREINFO`, `QEMU`, ...).
    pub name: &'a [u8],
    /// `n_type`.
    pub n_type: u32,
    /// The descriptor, exactly `n_descsz` bytes.
    pub desc: &'a [u8],
}

impl Note<'_> {
    /// Whether this note has the given name and type.
    pub fn is(&self, name: &[u8], n_type: u32) -> bool {
        self.name == name && self.n_type == n_type
    }
}

/// Iterator over the notes in a byte slice (a `PT_NOTE` segment or a per-CPU note buffer).
///
/// Yields `Err` once, for the first malformed note, and then stops.
#[derive(Debug, Clone)]
pub struct Notes<'a> {
    data: &'a [u8],
    endian: Endian,
    base: u64,
    pos: usize,
    done: bool,
}

const fn align4(n: usize) -> Option<usize> {
    match n.checked_add(3) {
        Some(v) => Some(v & !3),
        None => None,
    }
}

impl<'a> Notes<'a> {
    /// Iterates over the notes in `data`, read in byte order `endian`.
    pub fn new(data: &'a [u8], endian: Endian) -> Notes<'a> {
        Notes::with_base(data, endian, 0)
    }

    /// Like [`Notes::new`], with `base` added to every offset reported (the file offset of
    /// `data`, typically).
    pub fn with_base(data: &'a [u8], endian: Endian, base: u64) -> Notes<'a> {
        Notes {
            data,
            endian,
            base,
            pos: 0,
            done: false,
        }
    }

    fn at(&self, pos: usize) -> u64 {
        self.base.saturating_add(pos as u64)
    }

    fn parse_one(&mut self) -> Result<Option<Note<'a>>> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(hdr) = rest.get(..NHDR_SIZE) else {
            if rest.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            return Err(Error::Truncated {
                what: "note header",
                offset: self.at(self.pos),
                len: NHDR_SIZE as u64,
                available: rest.len() as u64,
            });
        };
        let word = |i: usize| {
            let mut b = [0u8; 4];
            if let Some(src) = hdr.get(i..i.saturating_add(4)) {
                b.copy_from_slice(src);
            }
            self.endian.u32(b)
        };
        let (namesz, descsz, n_type) = (word(0), word(4), word(8));
        if namesz == 0 && descsz == 0 && n_type == 0 {
            return Ok(None);
        }
        let overrun = Error::NoteOverrun {
            offset: self.at(self.pos),
            namesz,
            descsz,
            end: self.at(self.data.len()),
        };
        // Positions within `rest`; every step checked, since namesz/descsz are hostile.
        let name_end = usize::try_from(namesz)
            .ok()
            .and_then(|n| NHDR_SIZE.checked_add(n))
            .ok_or(overrun.clone())?;
        let desc_start = align4(name_end).ok_or(overrun.clone())?;
        let desc_end = usize::try_from(descsz)
            .ok()
            .and_then(|n| desc_start.checked_add(n))
            .ok_or(overrun.clone())?;
        let (Some(raw_name), Some(desc)) = (
            rest.get(NHDR_SIZE..name_end),
            rest.get(desc_start..desc_end),
        ) else {
            return Err(overrun);
        };
        let name_len = raw_name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let note = Note {
            offset: self.at(self.pos),
            name: raw_name.get(..name_len).unwrap_or(raw_name),
            n_type,
            desc,
        };
        // The last note of a segment may omit its trailing padding.
        let next = align4(desc_end).unwrap_or(usize::MAX).min(rest.len());
        self.pos = self.pos.saturating_add(next);
        Ok(Some(note))
    }
}

impl<'a> Iterator for Notes<'a> {
    type Item = Result<Note<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.parse_one() {
            Ok(Some(note)) => Some(Ok(note)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Notes<'_> {}

/// Size in bytes of one note with a name of `name_len` bytes (NUL not included) and a
/// descriptor of `desc_len` bytes, padding included, or `None` on overflow.
pub fn note_size(name_len: usize, desc_len: usize) -> Option<usize> {
    let name = align4(name_len.checked_add(1)?)?;
    let desc = align4(desc_len)?;
    NHDR_SIZE.checked_add(name)?.checked_add(desc)
}

/// Appends notes to a buffer in the layout [`Notes`] reads.
#[derive(Debug, Clone)]
pub struct NoteWriter {
    endian: Endian,
    buf: Vec<u8>,
}

impl NoteWriter {
    /// An empty note buffer in byte order `endian`.
    pub fn new(endian: Endian) -> NoteWriter {
        NoteWriter {
            endian,
            buf: Vec::new(),
        }
    }

    /// Appends one note. The name gets its NUL terminator here; both parts are padded to 4.
    ///
    /// Fails with [`Error::SizeOverflow`] if the name or descriptor do not fit in 32 bits.
    pub fn push(&mut self, name: &[u8], n_type: u32, desc: &[u8]) -> Result<&mut NoteWriter> {
        let namesz = name
            .len()
            .checked_add(1)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(Error::SizeOverflow { what: "note name" })?;
        let descsz = u32::try_from(desc.len()).map_err(|_| Error::SizeOverflow {
            what: "note descriptor",
        })?;
        self.buf.extend_from_slice(&self.endian.put_u32(namesz));
        self.buf.extend_from_slice(&self.endian.put_u32(descsz));
        self.buf.extend_from_slice(&self.endian.put_u32(n_type));
        self.buf.extend_from_slice(name);
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(desc);
        self.pad();
        Ok(self)
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished note bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn writes_and_reads_back() {
        let mut w = NoteWriter::new(Endian::Big);
        w.push(b"CORE", 1, &[1, 2, 3, 4, 5]).unwrap();
        w.push(b"VMCOREINFO", 0, b"OSRELEASE=6.1\n").unwrap();
        let bytes = w.into_bytes();
        assert_eq!(
            bytes.len(),
            note_size(4, 5).unwrap() + note_size(10, 14).unwrap()
        );
        let notes: Vec<_> = Notes::new(&bytes, Endian::Big)
            .map(Result::unwrap)
            .collect();
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0].name, b"CORE");
        assert_eq!(notes[0].desc, &[1, 2, 3, 4, 5]);
        assert_eq!(notes[1].offset, note_size(4, 5).unwrap() as u64);
        assert_eq!(notes[1].desc, b"OSRELEASE=6.1\n");
    }

    #[test]
    fn stops_at_zero_padding() {
        let mut w = NoteWriter::new(Endian::Little);
        w.push(b"CORE", 1, &[7; 8]).unwrap();
        let mut bytes = w.into_bytes();
        bytes.resize(bytes.len() + 40, 0);
        let notes: Vec<_> = Notes::new(&bytes, Endian::Little).collect();
        assert_eq!(notes.len(), 1);
        // A tail shorter than a header, all zero, is padding too.
        let mut short = NoteWriter::new(Endian::Little);
        short.push(b"CORE", 1, &[]).unwrap();
        let mut bytes = short.into_bytes();
        bytes.extend_from_slice(&[0; 5]);
        assert_eq!(Notes::new(&bytes, Endian::Little).count(), 1);
    }

    #[test]
    fn overrun_is_an_error_with_offset() {
        let mut w = NoteWriter::new(Endian::Little);
        w.push(b"CORE", 1, &[0; 16]).unwrap();
        let bytes = w.into_bytes();
        let cut = &bytes[..bytes.len() - 4];
        let got: Vec<_> = Notes::with_base(cut, Endian::Little, 0x1000).collect();
        assert_eq!(
            got,
            vec![Err(Error::NoteOverrun {
                offset: 0x1000,
                namesz: 5,
                descsz: 16,
                end: 0x1000 + cut.len() as u64,
            })]
        );
        let huge = [0xff_u8; 12];
        let got: Vec<_> = Notes::new(&huge, Endian::Little).collect();
        assert!(matches!(got[..], [Err(Error::NoteOverrun { .. })]));
        let partial = [1u8, 0, 0];
        assert!(matches!(
            Notes::new(&partial, Endian::Little).next(),
            Some(Err(Error::Truncated { .. }))
        ));
    }
}

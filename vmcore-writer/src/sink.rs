//! Where output bytes go: a random-access file (positioned writes), or the flattened stream
//! of makedumpfile `-F` on any [`Write`]. Both take "these bytes at this offset", so one
//! writer serves both; a size limit (`-L`) turns a write past it into an error, as a full
//! disk would.
//!
//! Flattened facts: makedumpfile `makedumpfile.h` (`struct makedumpfile_header`,
//! `struct makedumpfile_data_header`, `MAX_SIZE_MDF_HEADER`), `IMPLEMENTATION`: a 4096-byte
//! header (`"makedumpfile"`, type 1, version 1, big-endian), then records of a big-endian
//! `(offset, size)` pair and `size` bytes, ended by `(-1, -1)`.

use std::fs::File;
use std::io::{self, Read, Write};

use crate::error::{Error, Result, min_len};

/// Size of the flattened stream's header.
pub const FLAT_HEADER_SIZE: usize = 4096;
/// The flattened stream's signature.
pub const FLAT_SIGNATURE: &[u8; 12] = b"makedumpfile";

/// A destination of positioned writes.
pub trait Sink {
    /// Writes all of `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes sure the output is at least `len` bytes long (a sparse extension for files;
    /// nothing for streams). Reading a hole then gives zeros, which the formats define as
    /// "not written" (a page descriptor with offset 0).
    fn extend_to(&mut self, len: u64) -> io::Result<()>;
    /// Finishes the output (the end record of a stream; nothing for files).
    fn finish(&mut self) -> io::Result<()>;
    /// Bytes written so far (highest end offset for files, stream bytes for streams).
    fn written(&self) -> u64;
}

fn limit_error(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        format!("output limit of {limit} bytes reached (-L)"),
    )
}

/// A random-access output file, optionally limited in size.
#[derive(Debug)]
pub struct FileSink {
    file: File,
    limit: Option<u64>,
    end: u64,
    sync: bool,
}

impl FileSink {
    /// Writes to `file`; with `limit`, no byte goes at or past `limit`.
    pub fn new(file: File, limit: Option<u64>) -> FileSink {
        FileSink {
            file,
            limit,
            end: 0,
            sync: false,
        }
    }

    /// Whether [`Sink::finish`] waits for the data to reach the disk (`fdatasync`); off by
    /// default, as makedumpfile leaves that to the caller's `sync`.
    pub fn sync_on_finish(mut self, sync: bool) -> FileSink {
        self.sync = sync;
        self
    }

    /// The file.
    pub fn into_file(self) -> File {
        self.file
    }
}

impl Sink for FileSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset.saturating_add(data.len() as u64);
        if let Some(l) = self.limit.filter(|&l| end > l) {
            return Err(limit_error(l));
        }
        write_all_at(&self.file, data, offset)?;
        self.end = self.end.max(end);
        Ok(())
    }

    fn extend_to(&mut self, len: u64) -> io::Result<()> {
        let len = self.limit.map_or(len, |l| len.min(l));
        if self.file.metadata()?.len() < len {
            self.file.set_len(len)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn written(&self) -> u64 {
        self.end
    }
}

#[cfg(unix)]
fn write_all_at(f: &File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(data, offset)
}

#[cfg(not(unix))]
fn write_all_at(mut f: &File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(data)
}

/// The flattened stream on any writer (stdout into ssh, a pipe, a file).
#[derive(Debug)]
pub struct FlatSink<W: Write> {
    out: W,
    limit: Option<u64>,
    written: u64,
    started: bool,
}

impl<W: Write> FlatSink<W> {
    /// A stream to `out`; with `limit`, the stream stays below `limit` bytes.
    pub fn new(out: W, limit: Option<u64>) -> FlatSink<W> {
        FlatSink {
            out,
            limit,
            written: 0,
            started: false,
        }
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            let mut h = [0u8; FLAT_HEADER_SIZE];
            h[..12].copy_from_slice(FLAT_SIGNATURE);
            h[16..24].copy_from_slice(&1i64.to_be_bytes());
            h[24..32].copy_from_slice(&1i64.to_be_bytes());
            self.put(&h)?;
        }
        Ok(())
    }

    /// The writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for FlatSink<W> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.start()?;
        let need = self.written + 16 + data.len() as u64 + 16;
        if let Some(l) = self.limit.filter(|&l| need > l) {
            return Err(limit_error(l));
        }
        let off = i64::try_from(offset).map_err(|_| io::Error::other("offset above i64"))?;
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&off.to_be_bytes());
        let size = i64::try_from(data.len()).map_err(|_| io::Error::other("record above i64"))?;
        rec[8..].copy_from_slice(&size.to_be_bytes());
        self.put(&rec)?;
        self.put(data)
    }

    fn extend_to(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.start()?;
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&(-1i64).to_be_bytes());
        rec[8..].copy_from_slice(&(-1i64).to_be_bytes());
        self.put(&rec)?;
        self.out.flush()
    }

    fn written(&self) -> u64 {
        self.written
    }
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Records copied.
    pub records: u64,
    /// Whether the end record was seen (false: the stream was cut short).
    pub complete: bool,
}

/// Rebuilds the random-access file from a flattened stream (`makedumpfile -R`): each
/// record's bytes go at its offset in `out`. A stream cut short (no end record) is copied as
/// far as it goes and reported with `complete: false`.
pub fn rebuild(input: &mut dyn Read, out: &mut dyn Sink) -> Result<Rebuilt> {
    let mut h = vec![0u8; FLAT_HEADER_SIZE];
    read_full(input, &mut h, 0)?;
    if &h[..12] != FLAT_SIGNATURE || h[12..16].iter().any(|&b| b != 0) {
        return Err(Error::Flattened {
            what: "no \"makedumpfile\" signature",
            offset: 0,
        });
    }
    let ty = i64::from_be_bytes(h[16..24].try_into().unwrap_or([0; 8]));
    if ty != 1 {
        return Err(Error::Flattened {
            what: "header type is not 1 (TYPE_FLAT_HEADER)",
            offset: 16,
        });
    }
    let mut at = FLAT_HEADER_SIZE as u64;
    let mut records = 0;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut rec = [0u8; 16];
        match read_some(input, &mut rec)? {
            0 => {
                return Ok(Rebuilt {
                    records,
                    complete: false,
                });
            }
            16 => {}
            _ => {
                return Ok(Rebuilt {
                    records,
                    complete: false,
                });
            }
        }
        let off = i64::from_be_bytes(rec[..8].try_into().unwrap_or([0; 8]));
        let size = i64::from_be_bytes(rec[8..].try_into().unwrap_or([0; 8]));
        if off == -1 && size == -1 {
            return Ok(Rebuilt {
                records,
                complete: true,
            });
        }
        let (Ok(off), Ok(size)) = (u64::try_from(off), u64::try_from(size)) else {
            return Err(Error::Flattened {
                what: "negative record offset or size",
                offset: at,
            });
        };
        at += 16;
        let mut left = size;
        let mut dst = off;
        while left > 0 {
            let n = min_len(left, buf.len());
            let got = read_some(input, &mut buf[..n])?;
            if got < n {
                if got > 0 {
                    out.write_at(dst, &buf[..got])
                        .map_err(|source| Error::Write {
                            what: "rebuilt data",
                            offset: dst,
                            source,
                        })?;
                }
                return Ok(Rebuilt {
                    records,
                    complete: false,
                });
            }
            out.write_at(dst, &buf[..n])
                .map_err(|source| Error::Write {
                    what: "rebuilt data",
                    offset: dst,
                    source,
                })?;
            dst += n as u64;
            left -= n as u64;
            at += n as u64;
        }
        records += 1;
    }
}

fn read_some(input: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Write {
                    what: "flattened stream (reading)",
                    offset: n as u64,
                    source,
                });
            }
        }
    }
    Ok(n)
}

fn read_full(input: &mut dyn Read, buf: &mut [u8], offset: u64) -> Result<()> {
    if read_some(input, buf)? < buf.len() {
        return Err(Error::Flattened {
            what: "stream ends inside its header",
            offset,
        });
    }
    Ok(())
}

/// An in-memory random-access sink, for tests and small outputs.
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Optional size limit.
    pub limit: Option<u64>,
}

impl Sink for VecSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::other("offset + length overflows"))?;
        if let Some(l) = self.limit.filter(|&l| end > l) {
            return Err(limit_error(l));
        }
        let end = usize::try_from(end).map_err(io::Error::other)?;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        // `offset <= end`, which fits a `usize`.
        self.bytes[end - data.len()..end].copy_from_slice(data);
        Ok(())
    }

    fn extend_to(&mut self, len: u64) -> io::Result<()> {
        let len = self.limit.map_or(len, |l| len.min(l));
        let len = usize::try_from(len).map_err(io::Error::other)?;
        if self.bytes.len() < len {
            self.bytes.resize(len, 0);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn written(&self) -> u64 {
        self.bytes.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_round_trip() {
        let mut s = FlatSink::new(Vec::new(), None);
        s.write_at(4096, b"world").unwrap();
        s.write_at(0, b"hello").unwrap();
        s.finish().unwrap();
        let stream = s.into_inner();
        let mut v = VecSink::default();
        let r = rebuild(&mut &stream[..], &mut v).unwrap();
        assert_eq!(
            r,
            Rebuilt {
                records: 2,
                complete: true
            }
        );
        assert_eq!(&v.bytes[..5], b"hello");
        assert_eq!(&v.bytes[4096..], b"world");
        // Cut short.
        let mut v = VecSink::default();
        let r = rebuild(&mut &stream[..stream.len() - 30], &mut v).unwrap();
        assert!(!r.complete);
    }

    #[test]
    fn limits_refuse_writes() {
        let mut v = VecSink {
            limit: Some(10),
            ..VecSink::default()
        };
        assert!(v.write_at(0, &[1; 10]).is_ok());
        assert_eq!(
            v.write_at(5, &[1; 6]).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
    }
}

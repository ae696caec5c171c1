//! Sequential readers and writers of fixed-size fields in a run-time byte order, for the
//! note descriptor decoders. Bounds are the caller's to check first: a read past the end
//! yields zeros rather than panicking.

use alloc::vec::Vec;

use crate::prstatus::{Word, low32};
use crate::types::Endian;

/// Reads fixed-size fields in sequence.
pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) endian: Endian,
}

impl Reader<'_> {
    pub(crate) fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.data.get(self.pos..self.pos.saturating_add(N)) {
            out.copy_from_slice(src);
        }
        self.pos = self.pos.saturating_add(N);
        out
    }
    pub(crate) fn u16(&mut self) -> u16 {
        self.endian.u16(self.take())
    }
    pub(crate) fn u32(&mut self) -> u32 {
        self.endian.u32(self.take())
    }
    pub(crate) fn i32(&mut self) -> i32 {
        i32::from_ne_bytes(self.u32().to_ne_bytes())
    }
    pub(crate) fn u64(&mut self) -> u64 {
        self.endian.u64(self.take())
    }
    pub(crate) fn word(&mut self, w: Word) -> u64 {
        match w {
            Word::W32 => u64::from(self.u32()),
            Word::W64 => self.u64(),
        }
    }
    pub(crate) fn words<const N: usize>(&mut self, w: Word) -> [u64; N] {
        core::array::from_fn(|_| self.word(w))
    }
    pub(crate) fn align(&mut self, n: usize) {
        self.pos = self.pos.next_multiple_of(n);
    }
    pub(crate) fn skip(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n);
    }
}

/// Appends fixed-size fields; the mirror of [`Reader`].
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
    pub(crate) endian: Endian,
}

impl Writer {
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&self.endian.put_u16(v));
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&self.endian.put_u32(v));
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.u32(u32::from_ne_bytes(v.to_ne_bytes()));
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&self.endian.put_u64(v));
    }
    pub(crate) fn word(&mut self, w: Word, v: u64) {
        match w {
            // A 32-bit register holds the low half.
            Word::W32 => self.u32(low32(v)),
            Word::W64 => self.u64(v),
        }
    }
    pub(crate) fn words(&mut self, w: Word, vs: &[u64]) {
        for &v in vs {
            self.word(w, v);
        }
    }
    pub(crate) fn align(&mut self, n: usize) {
        let len = self.buf.len().next_multiple_of(n);
        self.buf.resize(len, 0);
    }
}

//! Bounds-checked reads from untrusted input. Every offset and length goes
//! through checked arithmetic and comes back as a typed error naming it.

use zerocopy::FromBytes;

use crate::error::{Error, Result};

pub(crate) fn len64(data: &[u8]) -> u64 {
    data.len() as u64
}

/// The `len` bytes at `offset`.
pub(crate) fn slice<'a>(
    data: &'a [u8],
    offset: u64,
    len: u64,
    what: &'static str,
) -> Result<&'a [u8]> {
    let truncated = || Error::Truncated {
        what,
        offset,
        need: len,
        have: len64(data),
    };
    let start = usize::try_from(offset).map_err(|_| truncated())?;
    let n = usize::try_from(len).map_err(|_| truncated())?;
    let end = start.checked_add(n).ok_or_else(truncated)?;
    data.get(start..end).ok_or_else(truncated)
}

/// A copy of the `T` at `offset`.
pub(crate) fn read<T: FromBytes>(data: &[u8], offset: u64, what: &'static str) -> Result<T> {
    let bytes = slice(data, offset, core::mem::size_of::<T>() as u64, what)?;
    T::read_from_bytes(bytes).map_err(|_| Error::Truncated {
        what,
        offset,
        need: core::mem::size_of::<T>() as u64,
        have: len64(data),
    })
}

/// `a + b`, or an error naming the field.
pub(crate) fn add(a: u64, b: u64, what: &'static str, offset: u64) -> Result<u64> {
    a.checked_add(b).ok_or(Error::InvalidField {
        what,
        offset,
        value: b,
        reason: "offset arithmetic overflows",
    })
}

/// The NUL-terminated string at `offset` (at most `max` bytes), lossily decoded.
pub(crate) fn c_string(data: &[u8], offset: u64, max: usize) -> Option<String> {
    let start = usize::try_from(offset).ok()?;
    let tail = data.get(start..)?;
    let tail = &tail[..tail.len().min(max)];
    let end = tail.iter().position(|&b| b == 0)?;
    let s = &tail[..end];
    if s.is_empty() || !s.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(String::from_utf8_lossy(s).into_owned())
}

/// Up to 8 leading bytes, for error messages.
pub(crate) fn head(data: &[u8]) -> Vec<u8> {
    data[..data.len().min(8)].to_vec()
}

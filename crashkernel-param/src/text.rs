//! A fixed-capacity text buffer, so rendered values can be evaluated again
//! without an allocator.

use core::fmt;

/// Up to 256 bytes of text written through [`core::fmt::Write`]; writing more
/// fails with [`core::fmt::Error`]. A kernel command line value longer than
/// this is not one any distro table produces.
///
/// ```
/// use core::fmt::Write;
/// use crashkernel_param::TextBuf;
/// let mut buf = TextBuf::new();
/// write!(buf, "crashkernel={}", "256M").unwrap();
/// assert_eq!(buf.as_str(), "crashkernel=256M");
/// ```
#[derive(Clone)]
pub struct TextBuf {
    bytes: [u8; 256],
    len: usize,
}

impl TextBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        TextBuf {
            bytes: [0; 256],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this never fails.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Default for TextBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl PartialEq for TextBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TextBuf {}

impl fmt::Debug for TextBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TextBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

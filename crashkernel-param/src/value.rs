//! One `crashkernel=` value as a structure: parsed with the kernel's grammar
//! and tolerance, rendered back to canonical text, and edited the way
//! kdump-utils' `_crashkernel_add` (`kdump-lib.sh`) does: a delta added to
//! every size, ranges, offsets and suffixes kept.

use core::fmt;

use crate::memparse::memparse;
use crate::{Malformed, Reason, Size, Suffix};

/// A parsed `crashkernel=` value.
///
/// ```
/// use crashkernel_param::CrashKernel;
/// let ck = CrashKernel::parse("crashkernel=1024M-4G:192M,4G-:0x10000000@16M").unwrap();
/// assert_eq!(ck.to_string(), "1G-4G:192M,4G-:256M@16M");
/// assert_eq!(ck.with_delta(64 << 20).unwrap().to_string(), "1G-4G:256M,4G-:320M@16M");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashKernel<'a> {
    /// `size[@offset]`. An empty or zero offset means "pick automatically".
    Simple {
        /// Bytes to reserve.
        size: u64,
        /// `@offset`, as written (`Some(0)` for `@` or `@0`).
        offset: Option<u64>,
        /// Bytes after the offset that the kernel ignores, if any.
        ignored: Option<&'a str>,
    },
    /// `start-[end]:size[,...][@offset]`.
    Ranges {
        /// The entries.
        ranges: Ranges<'a>,
        /// `@offset`, applied whichever entry matches.
        offset: Option<u64>,
        /// Bytes after the last size that the kernel skips, if any.
        ignored: Option<&'a str>,
    },
    /// `size,high`, `size,low` or `size,cma`.
    Suffixed {
        /// Bytes.
        size: u64,
        /// Which suffix.
        suffix: Suffix,
    },
}

/// The entries of the range form, validated when parsed. Two lists are equal
/// when their entries are, however the numbers were spelled.
#[derive(Clone, Copy)]
pub struct Ranges<'a> {
    text: &'a str,
}

impl PartialEq for Ranges<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Ranges<'_> {}

/// One `start-[end]:size` entry: it matches when `start <= ram < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeEntry {
    /// Inclusive lower bound of RAM.
    pub start: u64,
    /// Exclusive upper bound; `None` for no bound.
    pub end: Option<u64>,
    /// Bytes to reserve when it matches.
    pub size: u64,
}

impl<'a> Ranges<'a> {
    /// The entries, in the order written (the first match wins).
    pub fn iter(&self) -> RangesIter<'a> {
        RangesIter {
            rest: self.text.as_bytes(),
        }
    }

    /// The first entry matching `ram` bytes (already rounded, if the kernel
    /// version rounds).
    pub fn matching(&self, ram: u64) -> Option<RangeEntry> {
        self.iter()
            .find(|e| e.start <= ram && e.end.is_none_or(|end| ram < end))
    }
}

impl fmt::Debug for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Ranges<'a> {
    type Item = RangeEntry;
    type IntoIter = RangesIter<'a>;
    fn into_iter(self) -> RangesIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Ranges`].
#[derive(Debug, Clone)]
pub struct RangesIter<'a> {
    rest: &'a [u8],
}

impl Iterator for RangesIter<'_> {
    type Item = RangeEntry;
    fn next(&mut self) -> Option<RangeEntry> {
        if self.rest.is_empty() {
            return None;
        }
        // The text was validated by `parse_ranges`, so each step succeeds.
        let (entry, used) = parse_entry(self.rest, 0).ok()?;
        self.rest = self.rest.get(used + 1..).unwrap_or_default();
        Some(entry)
    }
}

/// An edit that cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditError {
    /// Adding the delta takes a size below zero.
    Negative {
        /// The size before the edit.
        size: u64,
        /// The delta.
        delta: i64,
    },
    /// Adding the delta overflows 64 bits.
    Overflow {
        /// The size before the edit.
        size: u64,
        /// The delta.
        delta: i64,
    },
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Negative { size, delta } => write!(
                f,
                "adding {delta} bytes to {} gives a negative size: use a smaller reduction",
                Size(*size)
            ),
            EditError::Overflow { size, delta } => {
                write!(
                    f,
                    "adding {delta} bytes to {} overflows 64 bits",
                    Size(*size)
                )
            }
        }
    }
}

/// A value with a delta added to each size; its `Display` is the edited text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edited<'a> {
    value: CrashKernel<'a>,
    delta: i64,
}

impl<'a> CrashKernel<'a> {
    /// Parses one value: the text after `crashkernel=` (which may be given
    /// too). The form is chosen as the kernel chooses it: a known suffix at the
    /// end makes the suffixed form, a `:` makes the range form. Text after a
    /// space is not part of the value. What the kernel ignores (junk after an
    /// offset, or after the last range size) is kept in `ignored`; what it
    /// rejects is an error whose `pos` counts from the start of `text`.
    pub fn parse(text: &'a str) -> Result<Self, Malformed> {
        let skip = if text.starts_with("crashkernel=") {
            12
        } else {
            0
        };
        let value = &text[skip..];
        let value = value.split(' ').next().unwrap_or_default();
        Self::parse_value(value).map_err(|m| Malformed {
            pos: m.pos + skip,
            ..m
        })
    }

    fn parse_value(v: &'a str) -> Result<Self, Malformed> {
        let b = v.as_bytes();
        let bad = |pos, reason| Malformed {
            pos,
            reason,
            suffix: None,
        };
        for suffix in [Suffix::High, Suffix::Low, Suffix::Cma] {
            if v.ends_with(suffix.text()) {
                let bad = |pos, reason| Malformed {
                    pos,
                    reason,
                    suffix: Some(suffix),
                };
                let (size, n) = memparse(b);
                if n == 0 {
                    return Err(bad(0, Reason::MemoryValueExpected));
                }
                if n + suffix.text().len() != b.len() {
                    return Err(bad(n, Reason::UnrecognizedChar(b[n])));
                }
                return Ok(CrashKernel::Suffixed { size, suffix });
            }
        }
        if b.contains(&b':') {
            let mut cur = 0;
            loop {
                let (_, used) = parse_entry(b, cur)?;
                cur += used;
                if b.get(cur) == Some(&b',') {
                    cur += 1;
                } else {
                    break;
                }
            }
            let ranges = Ranges { text: &v[..cur] };
            let at = b[cur..].iter().position(|&c| c == b'@').map(|p| cur + p);
            let junk_end = at.unwrap_or(b.len());
            let ignored = (junk_end > cur).then(|| &v[cur..junk_end]);
            let offset = match at {
                None => None,
                Some(at) => {
                    let (o, n) = memparse(&b[at + 1..]);
                    if n == 0 {
                        return Err(bad(at + 1, Reason::MemoryValueExpectedAfterAt));
                    }
                    if at + 1 + n < b.len() {
                        return Ok(CrashKernel::Ranges {
                            ranges,
                            offset: Some(o),
                            ignored: Some(&v[at + 1 + n..]),
                        });
                    }
                    Some(o)
                }
            };
            return Ok(CrashKernel::Ranges {
                ranges,
                offset,
                ignored,
            });
        }
        let (size, n) = memparse(b);
        if n == 0 {
            return Err(bad(0, Reason::MemoryValueExpected));
        }
        match b.get(n) {
            None => Ok(CrashKernel::Simple {
                size,
                offset: None,
                ignored: None,
            }),
            Some(b'@') => {
                let (o, m) = memparse(&b[n + 1..]);
                let end = n + 1 + m;
                let ignored = (end < b.len()).then(|| &v[end..]);
                Ok(CrashKernel::Simple {
                    size,
                    offset: Some(o),
                    ignored,
                })
            }
            Some(&c) => Err(bad(n, Reason::UnrecognizedChar(c))),
        }
    }

    /// The same value with `delta` bytes added to every size (ranges,
    /// offsets and suffixes kept), as `kdumpctl` does for SME/SEV or 64K pages.
    pub fn with_delta(self, delta: i64) -> Result<Edited<'a>, EditError> {
        let check = |size: u64| {
            let r = i128::from(size) + i128::from(delta);
            if r < 0 {
                Err(EditError::Negative { size, delta })
            } else if r > i128::from(u64::MAX) {
                Err(EditError::Overflow { size, delta })
            } else {
                Ok(())
            }
        };
        match self {
            CrashKernel::Simple { size, .. } | CrashKernel::Suffixed { size, .. } => check(size)?,
            CrashKernel::Ranges { ranges, .. } => {
                for e in ranges.iter() {
                    check(e.size)?;
                }
            }
        }
        Ok(Edited { value: self, delta })
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, delta: i64) -> fmt::Result {
        // `with_delta` checked every size, so this neither wraps nor saturates.
        let add = |s: u64| s.checked_add_signed(delta).unwrap_or(s);
        match *self {
            CrashKernel::Simple { size, offset, .. } => {
                write!(f, "{}", Size(add(size)))?;
                if let Some(o) = offset {
                    write!(f, "@{}", Size(o))?;
                }
            }
            CrashKernel::Ranges { ranges, offset, .. } => {
                for (i, e) in ranges.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}-", Size(e.start))?;
                    if let Some(end) = e.end {
                        write!(f, "{}", Size(end))?;
                    }
                    write!(f, ":{}", Size(add(e.size)))?;
                }
                if let Some(o) = offset {
                    write!(f, "@{}", Size(o))?;
                }
            }
            CrashKernel::Suffixed { size, suffix } => write!(f, "{}{suffix}", Size(add(size)))?,
        }
        Ok(())
    }
}

/// Canonical text, without the `crashkernel=` prefix; parsing it gives back
/// the same value (less any ignored junk).
impl fmt::Display for CrashKernel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, 0)
    }
}

impl fmt::Display for Edited<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.render(f, self.delta)
    }
}

/// One `start-[end]:size` at `b[cur..]`: the entry and the bytes it used.
fn parse_entry(b: &[u8], cur: usize) -> Result<(RangeEntry, usize), Malformed> {
    let bad = |pos, reason| Malformed {
        pos,
        reason,
        suffix: None,
    };
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut i = cur;
    let (start, n) = memparse(&b[i..]);
    if n == 0 {
        return Err(bad(i, Reason::MemoryValueExpected));
    }
    i += n;
    if at(i) != b'-' {
        return Err(bad(i, Reason::DashExpected));
    }
    i += 1;
    let mut end = None;
    if at(i) != b':' {
        let (e, n) = memparse(&b[i..]);
        if n == 0 {
            return Err(bad(i, Reason::MemoryValueExpected));
        }
        if e <= start {
            return Err(bad(i, Reason::EndNotAboveStart));
        }
        end = Some(e);
        i += n;
    }
    if at(i) != b':' {
        return Err(bad(i, Reason::ColonExpected));
    }
    i += 1;
    let (size, n) = memparse(&b[i..]);
    if n == 0 {
        return Err(bad(i, Reason::MemoryValueExpected));
    }
    i += n;
    Ok((RangeEntry { start, end, size }, i - cur))
}

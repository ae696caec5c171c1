//! The kernel's own parsing steps, byte for byte: picking the token and
//! reading the simple, range and suffixed forms.
//!
//! Facts from `kernel/crash_reserve.c` (v6.9+; `kernel/crash_core.c` before):
//! `get_last_crashkernel`, `__parse_crashkernel`, `parse_crashkernel_simple`,
//! `parse_crashkernel_mem`, `parse_crashkernel_suffix`. The code here follows
//! their observable behaviour (which bytes are accepted, what is ignored,
//! where each message is printed), not their text.

use crate::memparse::memparse;
use crate::{Malformed, Reason, Suffix};

const NAME: &[u8] = b"crashkernel=";

/// The text being parsed: a whole command line (tokens found with a substring
/// search, as `strstr` does) or one value (the text after `crashkernel=`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    bytes: &'a [u8],
    whole_line: bool,
}

/// The outcome of the plain (`crashkernel=X...`) lookup and parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plain {
    /// `-ENOENT`: no token without a known suffix.
    Absent,
    /// `-EINVAL` with the reason the kernel prints.
    Malformed(Malformed),
    /// A range entry's size is not below the rounded RAM ("invalid size").
    RangeTooLarge { pos: usize, size: u64, limit: u64 },
    /// Parsed. `size == 0` is a valid parse (an explicit 0, or no range matched).
    Parsed {
        size: u64,
        base: u64,
        /// Index of the matching range entry, or `None` for the simple form.
        range: Option<usize>,
        /// Range form whose entries did not match (`size` is 0).
        no_match: bool,
        /// `roundup(ram, 128M)` or `ram`: what ranges were matched against.
        matched_ram: u64,
    },
}

impl<'a> Line<'a> {
    /// A kernel command line. Like the C string it is, it ends at a NUL.
    pub(crate) fn cmdline(s: &'a [u8]) -> Self {
        Line {
            bytes: until_nul(s),
            whole_line: true,
        }
    }

    /// A single value (what follows `crashkernel=`).
    pub(crate) fn value(s: &'a [u8]) -> Self {
        Line {
            bytes: until_nul(s),
            whole_line: false,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    /// `get_last_crashkernel` plus `strlen(name)`: where the value of the last
    /// token of the kind asked for starts.
    pub(crate) fn last_token(&self, suffix: Option<Suffix>, known: &[Suffix]) -> Option<usize> {
        let mut found = None;
        let mut each = |start: usize, value: usize| {
            let end = self.bytes[start..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(self.bytes.len(), |p| start + p);
            let token = &self.bytes[start..end];
            let keep = match suffix {
                None => !known.iter().any(|s| token.ends_with(s.text().as_bytes())),
                Some(s) => token.ends_with(s.text().as_bytes()),
            };
            if keep {
                found = Some(value);
            }
        };
        if self.whole_line {
            let mut from = 0;
            while let Some(p) = find(&self.bytes[from..], NAME) {
                let start = from + p;
                each(start, start + NAME.len());
                from = start + 1;
            }
        } else {
            each(0, 0);
        }
        found
    }

    /// Whether any token carries `suffix` (to explain an unused one).
    pub(crate) fn has_suffix_token(&self, suffix: Suffix) -> bool {
        self.last_token(Some(suffix), &[]).is_some()
    }

    /// `__parse_crashkernel` with no suffix.
    pub(crate) fn plain(&self, ram: u64, roundup_128m: bool, known: &[Suffix]) -> Plain {
        let Some(v) = self.last_token(None, known) else {
            return Plain::Absent;
        };
        let rest = &self.bytes[v..];
        let colon = rest.iter().position(|&b| b == b':');
        let space = rest.iter().position(|&b| b == b' ');
        match (colon, space) {
            (Some(c), Some(s)) if c < s => self.ranges(v, ram, roundup_128m),
            (Some(_), None) => self.ranges(v, ram, roundup_128m),
            _ => self.simple(v),
        }
    }

    fn simple(&self, v: usize) -> Plain {
        let (size, n) = memparse(&self.bytes[v..]);
        if n == 0 {
            return malformed(v, Reason::MemoryValueExpected);
        }
        let cur = v + n;
        let base = match self.at(cur) {
            // The offset is read without any check: empty means 0, junk after it is ignored.
            b'@' => memparse(self.bytes.get(cur + 1..).unwrap_or_default()).0,
            b' ' | 0 => 0,
            c => return malformed(cur, Reason::UnrecognizedChar(c)),
        };
        Plain::Parsed {
            size,
            base,
            range: None,
            no_match: false,
            matched_ram: 0,
        }
    }

    fn ranges(&self, v: usize, ram: u64, roundup_128m: bool) -> Plain {
        const STEP: u64 = 128 << 20;
        // roundup() as the C macro computes it, wrapping like unsigned long long.
        let total = if roundup_128m {
            ram.wrapping_add(STEP - 1) / STEP * STEP
        } else {
            ram
        };
        let mut cur = v;
        let mut index = 0;
        let mut matched = None;
        loop {
            let (start, n) = memparse(&self.bytes[cur..]);
            if n == 0 {
                return malformed(cur, Reason::MemoryValueExpected);
            }
            cur += n;
            if self.at(cur) != b'-' {
                return malformed(cur, Reason::DashExpected);
            }
            cur += 1;
            let mut end = u64::MAX;
            if self.at(cur) != b':' {
                let (e, n) = memparse(&self.bytes[cur..]);
                if n == 0 {
                    return malformed(cur, Reason::MemoryValueExpected);
                }
                if e <= start {
                    return malformed(cur, Reason::EndNotAboveStart);
                }
                end = e;
                cur += n;
            }
            if self.at(cur) != b':' {
                return malformed(cur, Reason::ColonExpected);
            }
            cur += 1;
            let (size, n) = memparse(&self.bytes[cur..]);
            if n == 0 {
                return malformed(cur, Reason::MemoryValueExpected);
            }
            if size >= total {
                return Plain::RangeTooLarge {
                    pos: cur,
                    size,
                    limit: total,
                };
            }
            cur += n;
            if total >= start && total < end {
                matched = Some((index, size));
                break;
            }
            if self.at(cur) != b',' {
                break;
            }
            cur += 1;
            index += 1;
        }
        let Some((index, size)) = matched else {
            return Plain::Parsed {
                size: 0,
                base: 0,
                range: None,
                no_match: true,
                matched_ram: total,
            };
        };
        // Skip whatever follows the matching entry up to '@', a space or the end.
        while !matches!(self.at(cur), 0 | b' ' | b'@') {
            cur += 1;
        }
        let mut base = 0;
        if self.at(cur) == b'@' {
            cur += 1;
            let (b, n) = memparse(&self.bytes[cur..]);
            if n == 0 {
                return malformed(cur, Reason::MemoryValueExpectedAfterAt);
            }
            base = b;
        }
        Plain::Parsed {
            size,
            base,
            range: Some(index),
            no_match: false,
            matched_ram: total,
        }
    }

    /// `__parse_crashkernel` with a suffix: `Ok(None)` is `-ENOENT`.
    pub(crate) fn suffixed(&self, suffix: Suffix) -> Result<Option<u64>, Malformed> {
        let Some(v) = self.last_token(Some(suffix), &[]) else {
            return Ok(None);
        };
        let bad = |pos, reason| Malformed {
            pos,
            reason,
            suffix: Some(suffix),
        };
        let (size, n) = memparse(&self.bytes[v..]);
        if n == 0 {
            return Err(bad(v, Reason::MemoryValueExpected));
        }
        let cur = v + n;
        let text = suffix.text().as_bytes();
        if !self.bytes[cur..].starts_with(text) {
            return Err(bad(cur, Reason::UnrecognizedChar(self.at(cur))));
        }
        let after = cur + text.len();
        match self.at(after) {
            b' ' | 0 => Ok(Some(size)),
            c => Err(bad(after, Reason::UnrecognizedChar(c))),
        }
    }
}

fn malformed(pos: usize, reason: Reason) -> Plain {
    Plain::Malformed(Malformed {
        pos,
        reason,
        suffix: None,
    })
}

fn until_nul(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |n| &s[..n])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

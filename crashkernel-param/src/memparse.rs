//! Numbers as the kernel reads them on its command line.
//!
//! Facts from `lib/cmdline.c` (`memparse`) and `lib/kstrtox.c`
//! (`_parse_integer_fixup_radix`, `_parse_integer_limit`): base 0 means a
//! leading `0x` (followed by a hex digit) is hex and a leading `0` octal;
//! digits accumulate modulo 2^64 (overflow is flagged but ignored by
//! `simple_strtoull`); then one optional case-insensitive suffix `K M G T P E`
//! shifts left by 10 per step, again without overflow detection. No sign and
//! no leading white space are accepted.

/// Reads a number at the start of `s` the way the kernel's `memparse()` does.
///
/// Returns the value and how many bytes were consumed. Zero bytes consumed
/// means "no memory value here" — the kernel's `cur == tmp` test. Note that a
/// lone suffix letter (`"K"`) consumes one byte and yields 0, as in the kernel.
///
/// ```
/// use crashkernel_param::memparse;
/// assert_eq!(memparse(b"256M@16M"), (256 << 20, 4));
/// assert_eq!(memparse(b"0x10000000"), (0x1000_0000, 10));
/// assert_eq!(memparse(b"010"), (8, 3)); // octal
/// assert_eq!(memparse(b"abc"), (0, 0));
/// ```
pub fn memparse(s: &[u8]) -> (u64, usize) {
    let (mut value, mut end) = strtoull(s);
    let shift = match s.get(end).map(u8::to_ascii_uppercase) {
        Some(b'E') => 60,
        Some(b'P') => 50,
        Some(b'T') => 40,
        Some(b'G') => 30,
        Some(b'M') => 20,
        Some(b'K') => 10,
        _ => 0,
    };
    if shift != 0 {
        // The kernel shifts by 10 repeatedly; bits shifted out are lost.
        value <<= shift;
        end += 1;
    }
    (value, end)
}

/// `simple_strtoull(s, &end, 0)`: value and bytes consumed (0 when no digit).
fn strtoull(s: &[u8]) -> (u64, usize) {
    let (base, start) = match s {
        [b'0', x, d, ..] if x.eq_ignore_ascii_case(&b'x') && d.is_ascii_hexdigit() => (16, 2),
        [b'0', ..] => (8, 0),
        _ => (10, 0),
    };
    let mut value: u64 = 0;
    let mut i = start;
    while let Some(digit) = s.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        value = value
            .wrapping_mul(u64::from(base))
            .wrapping_add(u64::from(digit));
        i += 1;
    }
    if i == start {
        // "0x" with no digit never reaches here (base 16 needs a hex digit),
        // so only "no digit at all" lands here: nothing consumed.
        return (0, 0);
    }
    (value, i)
}

#[cfg(test)]
mod tests {
    use super::memparse;

    #[test]
    fn suffixes_are_case_insensitive_powers_of_1024() {
        for (s, v) in [
            ("1k", 1u64 << 10),
            ("1K", 1 << 10),
            ("1m", 1 << 20),
            ("1G", 1 << 30),
            ("1t", 1 << 40),
            ("1P", 1 << 50),
            ("1e", 1 << 60),
            ("3", 3),
        ] {
            assert_eq!(memparse(s.as_bytes()), (v, s.len()), "{s}");
        }
    }

    #[test]
    fn radix_follows_simple_strtoull() {
        assert_eq!(memparse(b"0x1E"), (0x1e, 4), "E is a hex digit here");
        assert_eq!(memparse(b"0x1G"), (1 << 30, 4));
        assert_eq!(memparse(b"0X10"), (16, 4));
        assert_eq!(memparse(b"0x"), (0, 1), "no hex digit: octal 0, stops at x");
        assert_eq!(memparse(b"0xg"), (0, 1));
        assert_eq!(memparse(b"08"), (0, 1), "8 is not octal");
        assert_eq!(memparse(b"0777"), (0o777, 4));
        assert_eq!(memparse(b"0"), (0, 1));
        assert_eq!(memparse(b"0M"), (0, 2));
    }

    #[test]
    fn no_digits_consumes_nothing_unless_a_suffix_follows() {
        assert_eq!(memparse(b""), (0, 0));
        assert_eq!(memparse(b"@1M"), (0, 0));
        assert_eq!(memparse(b" 1M"), (0, 0), "no white space skipping");
        assert_eq!(memparse(b"-1M"), (0, 0), "no sign");
        assert_eq!(
            memparse(b"M"),
            (0, 1),
            "the kernel steps over a lone suffix"
        );
    }

    #[test]
    fn overflow_wraps_like_the_kernel() {
        assert_eq!(memparse(b"18446744073709551616"), (0, 20));
        assert_eq!(memparse(b"16E"), (0, 3));
        assert_eq!(memparse(b"0xffffffffffffffffff"), (u64::MAX, 20));
    }
}

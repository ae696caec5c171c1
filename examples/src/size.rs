//! Sizes on tool command lines: bytes or a `memparse` suffix (`512M`, `16G`).

use crashkernel_param::memparse;

/// Reads `512M`, `16G`, `0x1000`, `4096`: the whole text must be a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (value, used) = memparse(text.as_bytes());
    if used == 0 || used != text.len() {
        return Err(format!(
            "{text:?} is not a size: use bytes or a number with K, M, G, T, P or E (e.g. 16G)"
        ));
    }
    Ok(value)
}

/// Reads a signed size: an optional `-` before [`parse_size`]'s forms.
pub fn parse_delta(text: &str) -> Result<i64, String> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = i64::try_from(parse_size(magnitude)?)
        .map_err(|_| format!("{text:?} is too large for a delta"))?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_deltas() {
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("4095M"), Ok(4095 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("16GB").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(parse_delta("-100m"), Ok(-100 << 20));
        assert_eq!(parse_delta("1k"), Ok(1024));
        assert_eq!(parse_delta("+64M"), Ok(64 << 20));
    }
}

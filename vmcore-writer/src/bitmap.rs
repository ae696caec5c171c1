//! makedumpfile's page bitmaps as the capture walks them: bit `i` of the bitmap is bit
//! `i % 8` of byte `i / 8` (`diskdump_mod.h`: the 1st bitmap says which pfns are memory, the
//! 2nd which are dumped).

/// The indices below `len` whose bits are set, in increasing order; a 64-bit word at a
/// time, so clear stretches cost one test per 64 pfns.
///
/// ```
/// let b = [0b0000_0101u8, 0, 0x80];
/// let set: Vec<u64> = vmcore_writer::bitmap::set_bits(&b, 24).collect();
/// assert_eq!(set, [0, 2, 23]);
/// ```
pub fn set_bits(bitmap: &[u8], len: u64) -> impl Iterator<Item = u64> + '_ {
    bitmap
        .chunks(8)
        .zip((0u64..).step_by(64))
        .flat_map(|(chunk, base)| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let mut w = u64::from_le_bytes(word);
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let i = base + u64::from(w.trailing_zeros());
                    w &= w - 1;
                    i
                })
            })
        })
        .take_while(move |&i| i < len)
}

/// Whether bit `i` is set (false past the end).
pub fn bit(bitmap: &[u8], i: u64) -> bool {
    usize::try_from(i >> 3)
        .ok()
        .and_then(|b| bitmap.get(b))
        .is_some_and(|&byte| byte & (1 << (i & 7)) != 0)
}

/// Clears bit `i`; returns whether it was set (false past the end).
pub fn clear(bitmap: &mut [u8], i: u64) -> bool {
    let Some(byte) = usize::try_from(i >> 3).ok().and_then(|b| bitmap.get_mut(b)) else {
        return false;
    };
    let was = *byte & (1 << (i & 7)) != 0;
    *byte &= !(1 << (i & 7));
    was
}

/// How many bits are set.
pub fn count_bits(bitmap: &[u8]) -> u64 {
    bitmap.iter().map(|x| u64::from(x.count_ones())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn set_bits_agrees_with_bit(b in proptest::collection::vec(any::<u8>(), 0..40), cut in 0u64..400) {
            let len = cut.min(b.len() as u64 * 8);
            let walked: Vec<u64> = set_bits(&b, len).collect();
            let tested: Vec<u64> = (0..len).filter(|&i| bit(&b, i)).collect();
            prop_assert_eq!(&walked, &tested);
            if len == b.len() as u64 * 8 {
                prop_assert_eq!(walked.len() as u64, count_bits(&b));
            }
            // Clearing every set bit empties the bitmap; clearing again reports nothing.
            let mut c = b.clone();
            for &i in &walked {
                prop_assert!(clear(&mut c, i));
                prop_assert!(!clear(&mut c, i));
            }
            prop_assert_eq!(set_bits(&c, len).count(), 0);
        }
    }
}

//! An LZO1X compressor for 4 KiB to 64 KiB pages, written from the format (the
//! instruction encoding that `lzo1x_decompress` accepts, as described in the kernel's
//! `Documentation/staging/lzo.rst`): a greedy matcher over a 4-byte hash, literal runs,
//! M2 matches (length 3 to 8, distance up to 2048) and M3 matches (any length, distance up
//! to 16384), and the M4 end marker `0x11 0x00 0x00`. It favours speed like `lzo1x_1`;
//! its output is decoded by liblzo2, the kernel and every kdump reader. (`lzokay-native`,
//! the pure-Rust compressor on crates.io, clears a 400 KiB dictionary per call, about 300
//! times slower per page than this, which is why it is not used.)

const HASH_BITS: u32 = 13;
const MAX_DIST: usize = 16384;

/// A reusable LZO1X compressor (its hash table is kept between pages).
#[derive(Debug, Clone)]
pub struct Lzo1x {
    /// The last position of each 4-byte hash; position 0 doubles as "none", which is safe
    /// because every candidate is verified against the input before use.
    table: Box<[u16; 1 << HASH_BITS]>,
}

impl Default for Lzo1x {
    fn default() -> Self {
        Lzo1x::new()
    }
}

fn read32(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a)
}

fn read64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

fn hash(v: u32) -> usize {
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize & ((1 << HASH_BITS) - 1)
}

/// The low byte of `v`, for an instruction byte. Callers either bound `v` to the byte by
/// their branch (a length of at most 8 in bits 5..7, a count of at most 255 after
/// [`put_count`]'s zero bytes, a literal count below 256) or split a 16-bit distance into
/// its two bytes on purpose (`lo8(d)`, `lo8(d >> 8)`).
#[inline(always)]
fn lo8(v: usize) -> u8 {
    v.to_le_bytes()[0]
}

/// The low 16 bits of a position in the at most 64 KiB input (the hash table's entries).
#[inline(always)]
fn lo16(v: usize) -> u16 {
    let b = v.to_le_bytes();
    u16::from_le_bytes([b[0], b[1]])
}

/// The next position from `i` whose 4 bytes were seen before within [`MAX_DIST`], and that
/// earlier position; `None` when the input ends first.
#[inline(always)]
fn find_match(
    table: &mut [u16; 1 << HASH_BITS],
    src: &[u8],
    mut i: usize,
    lit_start: usize,
    limit: usize,
) -> Option<(usize, usize)> {
    while i <= limit {
        let v = read32(src, i);
        let h = hash(v);
        let c = usize::from(table[h]);
        table[h] = lo16(i);
        if c < i && i - c <= MAX_DIST && read32(src, c) == v {
            return Some((i, c));
        }
        // Step faster through data that keeps failing to match (as lzo1x_1 does).
        i += 1 + ((i - lit_start) >> 5);
    }
    None
}

/// How many bytes from `i` repeat those from `c` (`c < i`; the first 4 are known equal).
#[inline(always)]
fn match_len(src: &[u8], c: usize, i: usize) -> usize {
    let (a, b) = (&src[c + 4..], &src[i + 4..]);
    let mut len = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let d = read64(x, 0) ^ read64(y, 0);
        if d != 0 {
            return 4 + len + (d.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    4 + len
        + a[len..]
            .iter()
            .zip(&b[len..])
            .take_while(|(x, y)| x == y)
            .count()
}

/// Appends a length that did not fit its instruction's bits: zero bytes for each 255, then
/// the rest.
fn put_count(out: &mut [u8], o: &mut usize, mut n: usize) {
    while n > 255 {
        out[*o] = 0;
        *o += 1;
        n -= 255;
    }
    out[*o] = lo8(n);
    *o += 1;
}

/// The most an input of `n` bytes can grow to (liblzo2 documents the same bound for
/// `lzo1x_1`): every literal run costs at most one count byte per 255 literals plus a few.
pub fn max_compressed_len(n: usize) -> usize {
    n + n / 16 + 64 + 3
}

impl Lzo1x {
    /// A compressor.
    pub fn new() -> Lzo1x {
        Lzo1x {
            table: Box::new([0; 1 << HASH_BITS]),
        }
    }

    /// Compresses `src` into `out` (whose previous contents are replaced).
    pub fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) {
        out.resize(max_compressed_len(src.len()), 0);
        let len = self.compress_into(src, out);
        out.truncate(len);
    }

    /// Compresses `src` into the front of `buf` and returns the compressed length; `buf`
    /// must hold at least [`max_compressed_len`]`(src.len())` bytes (it panics otherwise).
    /// Reusing one such buffer spares the zeroing [`Lzo1x::compress`] does per call.
    pub fn compress_into(&mut self, src: &[u8], buf: &mut [u8]) -> usize {
        let n = src.len();
        assert!(
            buf.len() >= max_compressed_len(n),
            "LZO output buffer of {} bytes for {n} input bytes",
            buf.len()
        );
        let mut o = 0usize;
        let mut lit_start = 0usize;
        let mut i = 0usize;
        // Index of the last match's first byte in `buf`, to put up to 3 literals in its low bits.
        let mut last_match: Option<usize> = None;
        if (8..=1 << 16).contains(&n) {
            self.table.fill(0);
            let limit = n - 4;
            while let Some((at, c)) = find_match(&mut self.table, src, i, lit_start, limit) {
                i = at;
                let len = match_len(src, c, i);
                put_literals(src, lit_start, i, buf, &mut o, last_match);
                let dist = i - c;
                last_match = Some(o);
                if len <= 8 && dist <= 2048 {
                    let d = dist - 1;
                    buf[o] = lo8(((len - 1) << 5) | ((d & 7) << 2));
                    buf[o + 1] = lo8(d >> 3);
                    o += 2;
                } else {
                    if len - 2 <= 31 {
                        buf[o] = 32 | lo8(len - 2);
                        o += 1;
                    } else {
                        buf[o] = 32;
                        o += 1;
                        put_count(buf, &mut o, len - 2 - 31);
                    }
                    let d = (dist - 1) << 2;
                    buf[o] = lo8(d);
                    buf[o + 1] = lo8(d >> 8);
                    o += 2;
                }
                // Hash a position inside the match to find later repeats.
                if len > 8 && i + len - 4 <= limit {
                    let p = i + len - 4;
                    self.table[hash(read32(src, p))] = lo16(p);
                }
                i += len;
                lit_start = i;
            }
        }
        put_literals(src, lit_start, n, buf, &mut o, last_match);
        buf[o..o + 3].copy_from_slice(&[0x11, 0, 0]);
        o + 3
    }
}

/// Emits the literals `src[from..to]`: folded into the previous match's low bits when there
/// are 1 to 3 after a match, as a first-instruction run at the start, or as a literal
/// instruction otherwise.
#[inline(always)]
fn put_literals(
    src: &[u8],
    from: usize,
    to: usize,
    buf: &mut [u8],
    o: &mut usize,
    last_match: Option<usize>,
) {
    let count = to - from;
    if count == 0 {
        return;
    }
    match last_match {
        None if count <= 238 => {
            buf[*o] = lo8(17 + count);
            *o += 1;
        }
        Some(m) if count <= 3 => {
            // The low two bits of the match's distance byte: byte 0 for M2, the
            // first distance byte for M3 (the last two bytes of the instruction, low first).
            let at = if buf[m] >= 64 { m } else { *o - 2 };
            buf[at] |= lo8(count);
        }
        _ => {
            if count - 3 <= 15 {
                buf[*o] = lo8(count - 3);
                *o += 1;
            } else {
                buf[*o] = 0;
                *o += 1;
                put_count(buf, o, count - 3 - 15);
            }
        }
    }
    // Short runs copy 16 bytes when both sides have room; the surplus is overwritten next.
    if count <= 16 && from + 16 <= src.len() && *o + 16 <= buf.len() {
        buf[*o..*o + 16].copy_from_slice(&src[from..from + 16]);
    } else {
        buf[*o..*o + count].copy_from_slice(&src[from..to]);
    }
    *o += count;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(src: &[u8]) {
        let mut z = Lzo1x::new();
        let mut out = Vec::new();
        z.compress(src, &mut out);
        let back = lzokay_decompress(&out, src.len());
        assert_eq!(back, src);
    }

    fn lzokay_decompress(data: &[u8], n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        let got = lzo::decompress_into(data, &mut out).expect("valid LZO1X");
        assert_eq!(got, n);
        out
    }

    #[test]
    fn shapes() {
        round_trip(&[]);
        round_trip(b"a");
        round_trip(b"abc");
        round_trip(&[0u8; 4096]);
        round_trip(&[7u8; 65536]);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .cycle()
            .take(4096)
            .copied()
            .collect();
        round_trip(&text);
        let mut x = 1u32;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16).to_le_bytes()[0]
            })
            .collect();
        round_trip(&noise);
        let mut mixed = noise.clone();
        mixed[1000..3000].fill(0);
        round_trip(&mixed);
        // Long literal runs at the start and after a match.
        let mut m = noise[..600].to_vec();
        m.extend_from_slice(&[1; 40]);
        m.extend_from_slice(&noise[600..1200]);
        round_trip(&m);
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(0u8..4, 0..9000), seed in any::<u64>()) {
            let mut d = data;
            // Mix in runs of random bytes.
            let mut s = seed;
            for b in d.iter_mut().step_by(7) {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                *b = (s >> 56) as u8;
            }
            round_trip(&d);
        }
    }
}

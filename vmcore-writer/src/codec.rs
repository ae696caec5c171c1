//! Page compression in the formats makedumpfile writes, so every peer reads the result: zlib
//! (the zlib wrapper `uncompress()` reads) from libdeflate at its level 2, which on the
//! fixture dumps' pages is both faster than zlib's `Z_BEST_SPEED` (makedumpfile's setting)
//! and about 3 % smaller (zlib-rs, the pure-Rust alternative, is slower at that size and
//! 2 % larger than makedumpfile at its level 2), LZO1X (from this crate's own encoder, [`crate::lzo`]), raw snappy
//! (`snappy_compress`, not the framing format), and one zstd frame per page at level 1
//! (`ZSTD_compressCCtx(..., 1)`). A page is stored compressed only when that is smaller than
//! the page. Facts: makedumpfile `makedumpfile.c` (`write_kdump_pages_cyclic`,
//! `compress_page`), `diskdump_mod.h` (`DUMP_DH_COMPRESSED_*`).

use libdeflater::{CompressionLvl, Compressor};

use crate::error::{Error, Result};

/// libdeflate's level for zlib pages (see the module comment).
const ZLIB_LEVEL: i32 = 2;

/// The page codec of a kdump-compressed dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Raw pages (makedumpfile without `-c/-l/-p/-z`).
    #[default]
    None,
    /// zlib (`-c`).
    Zlib,
    /// LZO1X (`-l`).
    Lzo,
    /// Raw snappy (`-p`).
    Snappy,
    /// zstd (`-z`).
    Zstd,
}

impl Codec {
    /// The `page_desc_t.flags` / `disk_dump_header.status` bit of the codec (0 for raw).
    pub fn flag(self) -> u32 {
        match self {
            Codec::None => 0,
            Codec::Zlib => 0x1,
            Codec::Lzo => 0x2,
            Codec::Snappy => 0x4,
            Codec::Zstd => 0x20,
        }
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Zlib => "zlib",
            Codec::Lzo => "lzo",
            Codec::Snappy => "snappy",
            Codec::Zstd => "zstd",
        }
    }
}

/// One thread's compressor: the codec state is created once and reused for every page.
pub struct PageCompressor {
    codec: Codec,
    zlib: Option<Compressor>,
    lzo: Option<crate::lzo::Lzo1x>,
    snappy: Option<snap::raw::Encoder>,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    out: Vec<u8>,
}

impl core::fmt::Debug for PageCompressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PageCompressor")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl PageCompressor {
    /// A compressor for `codec` and pages of `page_size` bytes.
    pub fn new(codec: Codec, page_size: usize) -> Result<PageCompressor> {
        let err = |e: std::io::Error| Error::Codec {
            codec: "zstd",
            detail: e.to_string(),
        };
        Ok(PageCompressor {
            codec,
            zlib: (codec == Codec::Zlib)
                .then(|| Compressor::new(CompressionLvl::new(ZLIB_LEVEL).unwrap_or_default())),
            lzo: (codec == Codec::Lzo).then(crate::lzo::Lzo1x::new),
            snappy: (codec == Codec::Snappy).then(snap::raw::Encoder::new),
            zstd: if codec == Codec::Zstd {
                Some(zstd::bulk::Compressor::new(1).map_err(err)?)
            } else {
                None
            },
            out: Vec::with_capacity(page_size + page_size / 8 + 128),
        })
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Compresses `page`; returns the stored bytes and the `page_desc_t.flags` value: the
    /// compressed form when it is smaller than the page, else the page itself with flags 0.
    pub fn compress<'a>(&'a mut self, page: &'a [u8]) -> Result<(&'a [u8], u32)> {
        let n = page.len();
        // One buffer, sized once for the largest output any codec may produce, and never
        // truncated, so no call pays for zeroing it again.
        let room = crate::lzo::max_compressed_len(n)
            .max(snap::raw::max_compress_len(n))
            .max(zstd::zstd_safe::compress_bound(n));
        if self.out.len() < room {
            self.out.resize(room, 0);
        }
        let out = self.out.as_mut_slice();
        let len = match self.codec {
            Codec::None => None,
            // Room for one byte less than the page: what does not fit is stored raw.
            Codec::Zlib => self
                .zlib
                .as_mut()
                .and_then(|z| z.zlib_compress(page, &mut out[..n.saturating_sub(1)]).ok()),
            Codec::Lzo => self.lzo.as_mut().map(|d| d.compress_into(page, out)),
            Codec::Snappy => match self.snappy.as_mut() {
                Some(s) => Some(s.compress(page, out).map_err(|e| Error::Codec {
                    codec: "snappy",
                    detail: e.to_string(),
                })?),
                None => None,
            },
            Codec::Zstd => match self.zstd.as_mut() {
                Some(z) => Some(z.compress_to_buffer(page, out).map_err(|e| Error::Codec {
                    codec: "zstd",
                    detail: e.to_string(),
                })?),
                None => None,
            },
        };
        match len {
            Some(len) if len > 0 && len < n => Ok((&self.out[..len], self.codec.flag())),
            _ => Ok((page, 0)),
        }
    }
}

/// Whether `page` is all zero bytes.
pub fn is_zero(page: &[u8]) -> bool {
    let mut chunks = page.chunks_exact(64);
    for c in &mut chunks {
        if c.iter().fold(0u8, |a, &b| a | b) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompress(c: Codec, data: &[u8]) -> Vec<u8> {
        match c {
            Codec::Zlib => {
                let mut d = flate2::Decompress::new(true);
                let mut out = Vec::with_capacity(4096);
                d.decompress_vec(data, &mut out, flate2::FlushDecompress::Finish)
                    .unwrap();
                out
            }
            Codec::Lzo => {
                let mut out = vec![0u8; 4096];
                lzo::decompress_into(data, &mut out).unwrap();
                out
            }
            Codec::Snappy => snap::raw::Decoder::new().decompress_vec(data).unwrap(),
            Codec::Zstd => zstd::bulk::decompress(data, 4096).unwrap(),
            Codec::None => data.to_vec(),
        }
    }

    fn page() -> Vec<u8> {
        (0..4096u32).map(|i| (i / 7 % 13) as u8).collect()
    }

    #[test]
    fn every_codec_round_trips_through_the_reader() {
        for c in [Codec::Zlib, Codec::Lzo, Codec::Snappy, Codec::Zstd] {
            let p = page();
            let mut pc = PageCompressor::new(c, 4096).unwrap();
            for _ in 0..2 {
                let (data, flags) = pc.compress(&p).unwrap();
                assert_eq!(flags, c.flag(), "{c:?}");
                assert!(data.len() < 4096);
                assert_eq!(decompress(c, data), p, "{c:?}");
            }
        }
    }

    #[test]
    fn incompressible_pages_stay_raw() {
        let mut x = 0x1234_5678u32;
        let p: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        for c in [Codec::Zlib, Codec::Lzo, Codec::Snappy, Codec::Zstd] {
            let mut pc = PageCompressor::new(c, 4096).unwrap();
            let (data, flags) = pc.compress(&p).unwrap();
            assert_eq!((data.len(), flags), (4096, 0), "{c:?}");
        }
    }

    #[test]
    fn zero_test() {
        let mut p = vec![0u8; 4096];
        assert!(is_zero(&p));
        p[4095] = 1;
        assert!(!is_zero(&p));
        p[4095] = 0;
        p[0] = 1;
        assert!(!is_zero(&p));
        assert!(is_zero(&[0; 7]));
    }
}

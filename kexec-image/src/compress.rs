//! Compressed payloads and wrapper files: recognising the codecs Linux uses
//! for kernel images (by their stream magic, as `scripts/Makefile.lib` and the
//! kernel's `lib/decompress.c` table know them) and decoding the ones a loader
//! needs, with a caller-set output limit.
//!
//! Decoders: gzip through `flate2` (zlib-rs backend), zstd through `ruzstd`,
//! xz (with the BCJ filters kernels use) and raw lzma through `lzma-rust2`. bzip2, lz4 and lzo are recognised only.

use core::fmt;
use std::io::{Read, Write};

use crate::error::{Error, Result};

/// A compression codec of a kernel payload or wrapper.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// Raw lzma ("lzma alone", `5d 00 00`).
    Lzma,
    /// bzip2 (`BZh`).
    Bzip2,
    /// lz4 legacy frame (`02 21 4c 18`).
    Lz4,
    /// lzop (`89 4c 5a 4f`).
    Lzo,
}

impl Compression {
    /// The name as the kernel's `CONFIG_KERNEL_*` and zboot headers spell it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Bzip2 => "bzip2",
            Compression::Lz4 => "lz4",
            Compression::Lzo => "lzo",
        }
    }

    /// Parses a zboot `compress_type` name.
    pub fn from_name(name: &str) -> Option<Compression> {
        Some(match name {
            "gzip" => Compression::Gzip,
            "zstd" | "zstd22" => Compression::Zstd,
            "xzkern" | "xz" => Compression::Xz,
            "lzma" => Compression::Lzma,
            "bzip2" => Compression::Bzip2,
            "lz4" => Compression::Lz4,
            "lzo" => Compression::Lzo,
            _ => return None,
        })
    }

    /// Whether this crate can decode it.
    pub fn can_decode(self) -> bool {
        matches!(
            self,
            Compression::Gzip | Compression::Zstd | Compression::Xz | Compression::Lzma
        )
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The codec whose stream magic starts `data`, if any.
pub fn sniff(data: &[u8]) -> Option<Compression> {
    const TABLE: [(&[u8], Compression); 7] = [
        (&[0x1f, 0x8b], Compression::Gzip),
        (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
        (b"BZh", Compression::Bzip2),
        (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4),
        (&[0x89, b'L', b'Z', b'O'], Compression::Lzo),
        (&[0x5d, 0x00, 0x00], Compression::Lzma),
    ];
    TABLE
        .iter()
        .find(|(magic, _)| data.starts_with(magic))
        .map(|&(_, c)| c)
}

/// A writer that refuses to grow past a limit.
struct Bounded {
    out: Vec<u8>,
    limit: usize,
    hit: bool,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.out.len());
        if buf.len() > room {
            self.hit = true;
            return Err(std::io::Error::other("output limit reached"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes one `codec` stream from `data` (trailing bytes after the stream
/// are ignored for gzip and zstd), producing at most `limit` bytes.
/// `offset` is where `data` sits in the original input, for error messages.
pub fn decompress(data: &[u8], codec: Compression, limit: u64, offset: u64) -> Result<Vec<u8>> {
    let lim = usize::try_from(limit).unwrap_or(usize::MAX);
    let corrupt = |message: String| Error::Decompress {
        codec,
        offset,
        message,
    };
    let too_large = Error::DecompressedTooLarge {
        codec,
        offset,
        limit,
    };
    let mut sink = Bounded {
        out: Vec::new(),
        limit: lim,
        hit: false,
    };
    match codec {
        Compression::Gzip => {
            let mut dec = flate2::read::GzDecoder::new(data);
            copy_bounded(&mut dec, &mut sink).map_err(|e| {
                if sink_hit(&e) {
                    Error::DecompressedTooLarge {
                        codec,
                        offset,
                        limit,
                    }
                } else {
                    corrupt(e.to_string())
                }
            })?;
        }
        Compression::Zstd => {
            let mut input = data;
            let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut input)
                .map_err(|e| corrupt(e.to_string()))?;
            copy_bounded(&mut dec, &mut sink).map_err(|e| {
                if sink_hit(&e) {
                    Error::DecompressedTooLarge {
                        codec,
                        offset,
                        limit,
                    }
                } else {
                    corrupt(e.to_string())
                }
            })?;
        }
        Compression::Xz | Compression::Lzma => {
            // The dictionary is allocated up front; cap it so hostile headers
            // cannot ask for more than the output limit (at least 16 MiB,
            // at most 256 MiB: kernels use 32 MiB).
            let mem_kb =
                u32::try_from((limit / 1024).clamp(16 * 1024, 256 * 1024)).unwrap_or(256 * 1024);
            let r = if codec == Compression::Xz {
                let mut dec = lzma_rust2::XzReader::new_mem_limit(data, false, mem_kb);
                copy_bounded(&mut dec, &mut sink)
            } else {
                match lzma_rust2::LzmaReader::new_mem_limit(data, mem_kb, None) {
                    Ok(mut dec) => copy_bounded(&mut dec, &mut sink),
                    Err(e) => Err(e),
                }
            };
            if sink.hit {
                return Err(too_large);
            }
            r.map_err(|e| corrupt(e.to_string()))?;
        }
        Compression::Bzip2 | Compression::Lz4 | Compression::Lzo => {
            return Err(Error::UnsupportedCompression { codec, offset });
        }
    }
    Ok(sink.out)
}

const LIMIT_MSG: &str = "output limit reached";

fn sink_hit(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string() == LIMIT_MSG
}

fn copy_bounded(r: &mut impl Read, w: &mut Bounded) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        w.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::{gzip, lzma, xz, zstd};

    #[test]
    fn sniff_and_round_trip() {
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for (codec, packed) in [
            (Compression::Gzip, gzip(&text)),
            (Compression::Xz, xz(&text)),
            (Compression::Zstd, zstd(&text)),
        ] {
            assert_eq!(sniff(&packed), Some(codec));
            assert_eq!(
                decompress(&packed, codec, 1 << 30, 0).unwrap(),
                text,
                "{codec}"
            );
            match decompress(&packed, codec, 1000, 7) {
                Err(Error::DecompressedTooLarge {
                    limit: 1000,
                    offset: 7,
                    ..
                }) => {}
                other => panic!("{codec}: {other:?}"),
            }
        }
        let l = lzma(&text);
        assert_eq!(sniff(&l), Some(Compression::Lzma));
        assert_eq!(decompress(&l, Compression::Lzma, 1 << 30, 0).unwrap(), text);
        // x86 kernels are xz with the x86 BCJ filter (scripts/xz_wrap.sh).
        let bcj = crate::testutil::xz_with_filter(&text, Some(lzma_rust2::FilterType::BcjX86));
        assert_eq!(decompress(&bcj, Compression::Xz, 1 << 30, 0).unwrap(), text);
    }

    #[test]
    fn corrupt_streams_are_errors() {
        let mut g = gzip(b"hello world hello world");
        let n = g.len();
        g[n / 2] ^= 0xff;
        g.truncate(n - 3);
        assert!(decompress(&g, Compression::Gzip, 1 << 20, 0).is_err());
        assert!(
            decompress(
                &[0x28, 0xb5, 0x2f, 0xfd, 0xff],
                Compression::Zstd,
                1 << 20,
                0
            )
            .is_err()
        );
        assert!(
            decompress(
                &[0xfd, b'7', b'z', b'X', b'Z', 0],
                Compression::Xz,
                1 << 20,
                0
            )
            .is_err()
        );
        assert!(matches!(
            decompress(b"BZh9", Compression::Bzip2, 1 << 20, 0),
            Err(Error::UnsupportedCompression { .. })
        ));
    }
}

//! Page codecs of the kdump-compressed format, each behind its cargo feature.
//!
//! Facts: makedumpfile `diskdump_mod.h` (`DUMP_DH_COMPRESSED_ZLIB 0x1`, `_LZO 0x2`,
//! `_SNAPPY 0x4`, `_ZSTD 0x20`) and `makedumpfile.c` (zlib's `compress2`/`deflate` wrapper
//! format, `lzo1x_1`, raw `snappy_compress`, one zstd frame per page). A page must decompress
//! to exactly one block.

#![forbid(unsafe_code)]

/// The codec of one stored page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored raw.
    None,
    /// zlib (RFC 1950 wrapper).
    Zlib,
    /// LZO1X.
    Lzo,
    /// Raw snappy.
    Snappy,
    /// One zstd frame.
    Zstd,
}

impl Codec {
    /// The codec named by a page descriptor's flags.
    pub fn from_flags(flags: u32) -> Option<Codec> {
        Some(match flags {
            0 => Codec::None,
            0x1 => Codec::Zlib,
            0x2 => Codec::Lzo,
            0x4 => Codec::Snappy,
            0x20 => Codec::Zstd,
            _ => return None,
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "raw",
            Codec::Zlib => "zlib",
            Codec::Lzo => "lzo",
            Codec::Snappy => "snappy",
            Codec::Zstd => "zstd",
        }
    }
}

/// Decompresses `src` into exactly `out.len()` bytes.
pub(crate) fn decompress(codec: Codec, src: &[u8], out: &mut [u8]) -> Result<(), String> {
    let n = match codec {
        Codec::None => {
            if src.len() != out.len() {
                return Err(format!("raw page of {} bytes", src.len()));
            }
            out.copy_from_slice(src);
            out.len()
        }
        Codec::Zlib => zlib(src, out)?,
        Codec::Lzo => lzo(src, out)?,
        Codec::Snappy => snappy(src, out)?,
        Codec::Zstd => zstd(src, out)?,
    };
    if n != out.len() {
        return Err(format!("decompressed to {n} bytes, expected {}", out.len()));
    }
    Ok(())
}

#[cfg(feature = "zlib")]
fn zlib(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut d = flate2::Decompress::new(true);
    match d.decompress(src, out, flate2::FlushDecompress::Finish) {
        Ok(flate2::Status::StreamEnd) => usize::try_from(d.total_out()).map_err(|e| e.to_string()),
        Ok(s) => Err(format!(
            "stream did not end ({s:?}) after {} bytes",
            d.total_out()
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(feature = "zlib"))]
fn zlib(_: &[u8], _: &mut [u8]) -> Result<usize, String> {
    Err("the zlib feature is disabled".into())
}

#[cfg(feature = "lzo")]
fn lzo(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    lzo::decompress_into(src, out).map_err(|e| format!("{e:?}"))
}

#[cfg(not(feature = "lzo"))]
fn lzo(_: &[u8], _: &mut [u8]) -> Result<usize, String> {
    Err("the lzo feature is disabled".into())
}

#[cfg(feature = "snappy")]
fn snappy(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let len = snap::raw::decompress_len(src).map_err(|e| e.to_string())?;
    if len != out.len() {
        return Err(format!("snappy length {len}, expected {}", out.len()));
    }
    snap::raw::Decoder::new()
        .decompress(src, out)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "snappy"))]
fn snappy(_: &[u8], _: &mut [u8]) -> Result<usize, String> {
    Err("the snappy feature is disabled".into())
}

#[cfg(feature = "zstd")]
fn zstd(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    ruzstd::decoding::FrameDecoder::new()
        .decode_all(src, out)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "zstd"))]
fn zstd(_: &[u8], _: &mut [u8]) -> Result<usize, String> {
    Err("the zstd feature is disabled".into())
}

/// Whether this build decodes `codec`.
pub fn enabled(codec: Codec) -> bool {
    match codec {
        Codec::None => true,
        Codec::Zlib => cfg!(feature = "zlib"),
        Codec::Lzo => cfg!(feature = "lzo"),
        Codec::Snappy => cfg!(feature = "snappy"),
        Codec::Zstd => cfg!(feature = "zstd"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_codecs_and_unknown_flags_do_not() {
        assert_eq!(Codec::from_flags(0x20), Some(Codec::Zstd));
        assert_eq!(Codec::from_flags(0x3), None);
        assert_eq!(Codec::from_flags(0x8), None);
    }

    #[test]
    fn garbage_and_short_output_are_errors() {
        let mut out = [0u8; 4096];
        for c in [Codec::Zlib, Codec::Lzo, Codec::Snappy, Codec::Zstd] {
            assert!(decompress(c, &[0xff; 17], &mut out).is_err(), "{c:?}");
        }
        assert!(decompress(Codec::None, &[0; 10], &mut out).is_err());
    }

    #[cfg(feature = "lzo")]
    #[test]
    fn lzo_block_from_liblzo2() {
        // "hello, lzo world!" compressed by liblzo2's lzo1x_1 (from the lzo crate's docs).
        let block = [
            34, 104, 101, 108, 108, 111, 44, 32, 108, 122, 111, 32, 119, 111, 114, 108, 100, 33,
            17, 0, 0,
        ];
        let mut out = [0u8; 17];
        decompress(Codec::Lzo, &block, &mut out).unwrap();
        assert_eq!(&out, b"hello, lzo world!");
        let mut long = [0u8; 18];
        assert!(decompress(Codec::Lzo, &block, &mut long).is_err());
    }
}

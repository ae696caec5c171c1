//! Builders for synthetic inputs used by the unit tests.

use std::io::Write as _;

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) fn xz(data: &[u8]) -> Vec<u8> {
    xz_with_filter(data, None)
}

/// xz as the kernel's `scripts/xz_wrap.sh` makes it: a BCJ filter in front of LZMA2.
pub(crate) fn xz_with_filter(data: &[u8], bcj: Option<lzma_rust2::FilterType>) -> Vec<u8> {
    let mut opts = lzma_rust2::XzOptions::with_preset(1);
    if let Some(f) = bcj {
        opts.prepend_pre_filter(f, 0);
    }
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), opts).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

pub(crate) fn lzma(data: &[u8]) -> Vec<u8> {
    let opts = lzma_rust2::LzmaOptions::with_preset(1);
    let mut w = lzma_rust2::LzmaWriter::new_use_header(Vec::new(), &opts, None).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

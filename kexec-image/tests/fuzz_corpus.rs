//! Replays the fuzz corpora and crash artifacts under `fuzz/` on stable.

use std::path::Path;

fn replay(dir: &Path, f: fn(&[u8]) -> usize) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let p = e.unwrap().path();
        if p.is_file() {
            let _ = f(&std::fs::read(&p).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn corpora_replay() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let images = replay(
        &base.join("corpus/parse_image"),
        kexec_image::fuzz_parse_image,
    );
    let iomem = replay(
        &base.join("corpus/parse_iomem"),
        kexec_image::fuzz_parse_iomem,
    );
    assert!(images >= 8, "image seed corpus missing ({images})");
    assert!(iomem >= 3, "iomem seed corpus missing ({iomem})");
    replay(
        &base.join("artifacts/parse_image"),
        kexec_image::fuzz_parse_image,
    );
    replay(
        &base.join("artifacts/parse_iomem"),
        kexec_image::fuzz_parse_iomem,
    );
}

#[test]
fn image_seeds_parse() {
    // Every seed named *.ok must parse as a kernel image.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_image");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ok") {
            let data = std::fs::read(&p).unwrap();
            let img = kexec_image::KernelImage::parse(&data);
            assert!(img.is_ok(), "{}: {:?}", p.display(), img.err());
        }
    }
}

//! Replays the fuzz corpus and any crash artifacts of `fuzz/` on stable.

use std::path::Path;

fn replay(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let p = e.unwrap().path();
        if p.is_file() {
            let data = std::fs::read(&p).unwrap();
            let _ = kexec_sys::fuzz_sysfs_values(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn corpus_replays() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let n = replay(&base.join("corpus/sysfs_values"));
    assert!(n >= 5, "seed corpus missing ({n} files)");
    replay(&base.join("artifacts/sysfs_values"));
    // The seeds include one accepted by every parser that can accept it.
    assert_eq!(kexec_sys::fuzz_sysfs_values(b"1\n"), 3);
    assert_eq!(kexec_sys::fuzz_sysfs_values(b"0x1000 400\n"), 1);
}

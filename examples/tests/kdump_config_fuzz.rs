//! Replays the fuzz corpus (`fuzz/corpus/kdump_config/`) and any crash files
//! (`fuzz/artifacts/kdump_config/`) through the fuzz target's body, so CI on
//! stable covers every input the fuzzer kept.

include!("../fuzz/body.rs");

#[test]
fn corpus_and_artifacts_replay_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut seen = 0;
    for dir in ["corpus/kdump_config", "artifacts/kdump_config"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            kdump_config_fuzz_body(&std::fs::read(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 10, "the seed corpus is missing: {seen} files");
}

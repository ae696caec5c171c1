// The body of the `crashkernel` fuzz target, shared with the replay test in
// `tests/fuzz_corpus.rs` through `include!`: whatever the bytes, evaluation and
// parsing never panic, positions stay inside the input, and canonical text
// parses back to itself.
fn crashkernel_fuzz_body(data: &[u8]) {
    use crashkernel_param::{Arch, CrashKernel, Failure, KernelVersion, Target, evaluate, evaluate_value};
    if data.len() < 10 {
        return;
    }
    let mut ram = [0u8; 8];
    ram.copy_from_slice(&data[..8]);
    let ram = u64::from_le_bytes(ram);
    let arch = Arch::ALL[usize::from(data[8]) % Arch::ALL.len()];
    let version = KernelVersion::new(4 + u16::from(data[9] % 4), u16::from(data[9] / 4 % 20));
    let target = Target::new(arch, version);
    let text = String::from_utf8_lossy(&data[10..]);
    for result in [evaluate(&text, ram, target), evaluate_value(&text, ram, target)] {
        match result {
            Ok(r) => {
                assert!(r.size != 0 && r.size < ram, "{r:?}");
                let _ = format!("{r:?}");
            }
            Err(f) => {
                if let Failure::Malformed(m) = f {
                    assert!(m.pos <= text.len(), "{m:?} beyond {}", text.len());
                }
                let _ = f.to_string();
            }
        }
    }
    if let Ok(ck) = CrashKernel::parse(&text) {
        let canonical = ck.to_string();
        let again = CrashKernel::parse(&canonical).expect("canonical text parses");
        assert_eq!(again.to_string(), canonical);
        if let Ok(edited) = ck.with_delta(i64::from(data[0]) << 20) {
            let edited = edited.to_string();
            CrashKernel::parse(&edited).expect("edited text parses");
        }
    }
}

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kexec_sys::fuzz_sysfs_values(data);
});

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kexec_image::fuzz_parse_iomem(data);
});

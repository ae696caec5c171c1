#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| crashkernel_fuzz_body(data));
include!("../body.rs");

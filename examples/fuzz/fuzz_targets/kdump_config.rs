#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kdump_config_fuzz_body(data));
include!("../body.rs");

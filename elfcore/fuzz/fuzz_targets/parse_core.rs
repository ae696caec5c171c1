//! Fuzzes every parser of elfcorehdr through `elfcorehdr::fuzz::parse_all`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    elfcorehdr::fuzz::parse_all(data);
});

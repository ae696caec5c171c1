//! Fuzzes `vmcore_reader::fuzz::open_and_read`: hostile input must give typed errors, never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vmcore_reader::fuzz::open_and_read(data);
});

//! Fuzzes `vmcore_writer::fuzz::capture_dump`: a hostile dump captured in every format.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vmcore_writer::fuzz::capture_dump(data);
});

//! Fuzzes `vmcore_writer::fuzz::classify_pages`: VMCOREINFO values and mem_map contents.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vmcore_writer::fuzz::classify_pages(data);
});

//! See `studiovault::fuzzing::upload_offsets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| studiovault::fuzzing::upload_offsets(data));

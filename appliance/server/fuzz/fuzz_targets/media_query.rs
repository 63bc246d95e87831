//! See `studiovault::fuzzing::media_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| studiovault::fuzzing::media_query(data));

//! See `studiovault::fuzzing::worker_result`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| studiovault::fuzzing::worker_result(data));

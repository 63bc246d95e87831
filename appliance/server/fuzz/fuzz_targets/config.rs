//! See `studiovault::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| studiovault::fuzzing::config(data));

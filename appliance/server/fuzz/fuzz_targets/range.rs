//! See `studiovault::fuzzing::range`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| studiovault::fuzzing::range(data));

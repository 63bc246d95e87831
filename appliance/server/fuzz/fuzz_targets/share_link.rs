//! See `studiovault::fuzzing::share_link`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| studiovault::fuzzing::share_link(data));

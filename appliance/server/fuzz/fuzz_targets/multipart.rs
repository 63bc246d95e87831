//! See `studiovault::fuzzing::multipart`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    studiovault::fuzzing::abort_on_own_panics();
    studiovault::fuzzing::multipart(data);
});

//! See `studiovault::fuzzing::media_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    studiovault::fuzzing::abort_on_own_panics();
    studiovault::fuzzing::media_query(data);
});

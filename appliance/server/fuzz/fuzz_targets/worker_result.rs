//! See `studiovault::fuzzing::worker_result`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    studiovault::fuzzing::abort_on_own_panics();
    studiovault::fuzzing::worker_result(data);
});

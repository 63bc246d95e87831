//! See `studiovault::fuzzing::share_link`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    studiovault::fuzzing::abort_on_own_panics();
    studiovault::fuzzing::share_link(data);
});

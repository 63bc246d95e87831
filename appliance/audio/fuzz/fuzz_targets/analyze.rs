#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    studiovault_audio_fuzz::fuzz_one(data);
});

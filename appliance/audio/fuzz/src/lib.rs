//! The fuzzing harness, shared by the libFuzzer target and the stable replay binary.

use std::io::Cursor;
use std::sync::Once;
use std::time::{Duration, Instant};

use studiovault_audio::{
    AnalysisOptions, Container, MelodyOptions, MelodyRange, PeakBits, analyze, extract_melody,
};

const CONTAINERS: [Container; 7] = [
    Container::Wav,
    Container::Aiff,
    Container::Flac,
    Container::Mp3,
    Container::Mp4,
    Container::Adts,
    Container::Ogg,
];

/// Panics inside the decoders are caught by the engine and reported as corrupt audio, by design;
/// libFuzzer's hook would abort on them anyway. This hook aborts only for panics raised in the
/// engine's own code, and logs the others (found so far: symphonia-codec-aac 0.5.5's ADTS
/// reader overflows a subtraction in `approximate_frame_count` on a short stream).
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .location()
                .is_some_and(|l| l.file().contains("appliance/audio/src") || !l.file().contains(".cargo/registry"));
            if ours {
                default(info);
                std::process::abort();
            }
            eprintln!("caught dependency panic: {info}");
        }));
    });
}

/// Runs decode + every analysis over `data`. Anything but a panic in the engine's own code, a
/// hang or a crash passes.
pub fn fuzz_one(data: &[u8]) {
    install_panic_hook();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Sniffed like an upload; otherwise the first byte picks a demuxer to throw the rest at.
    let (container, bytes) = match Container::sniff(data) {
        Some(c) => (c, data),
        None => (CONTAINERS[usize::from(selector) % CONTAINERS.len()], rest),
    };
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    let options = AnalysisOptions {
        max_duration: Duration::from_secs(600),
        deadline,
        ..AnalysisOptions::default()
    };
    let len = bytes.len() as u64;
    if let Ok(analysis) = analyze(Cursor::new(bytes.to_vec()), len, container, &options) {
        for level in &analysis.waveform.levels {
            let _ = level.to_dat(PeakBits::Eight);
            let _ = level.to_json(PeakBits::Sixteen);
        }
    }
    if selector & 1 == 1 {
        let options = MelodyOptions {
            range: if selector & 2 == 2 { MelodyRange::Bass } else { MelodyRange::Melody },
            max_duration: Duration::from_secs(600),
            deadline,
            ..MelodyOptions::default()
        };
        if let Ok(melody) = extract_melody(Cursor::new(bytes.to_vec()), len, container, &options) {
            let _ = melody.to_midi();
        }
    }
}

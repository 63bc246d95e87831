//! Quiet tonal material (bare sines, piano-like decays, sparse notes over silence), and
//! copies marked by the first version read by today's detector.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use studiovault_watermark::{Embedder, MarkVersion, Payload, WatermarkKey, detect, embed};

const KEY: WatermarkKey = WatermarkKey::from_bytes([0x3c; 32]);
const RATE: u32 = 44_100;

/// Deterministic pseudo-random note choice.
fn pick(note: usize, choices: usize) -> usize {
    let mut x = note as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    (x % choices as u64) as usize
}

/// Mono melodies: `harmonics` partials per note falling off as 1/h; `decay` per second
/// (0: a held tone with 10 ms edges); with `sparse` only every other note sounds.
fn melody(seconds: f64, base: f64, harmonics: u32, decay: f64, sparse: bool) -> Vec<f32> {
    let scale = [1.0, 1.122, 1.26, 1.498, 1.682, 2.0, 2.245, 2.52];
    let note_len = if decay > 0.0 { 0.8 } else { 0.4 };
    let note_samples = (note_len * f64::from(RATE)) as usize;
    (0..(seconds * f64::from(RATE)) as usize)
        .map(|n| {
            let note = n / note_samples;
            if sparse && !note.is_multiple_of(2) {
                return 0.0;
            }
            let t = (n % note_samples) as f64 / f64::from(RATE);
            let freq = base * scale[pick(note, scale.len())];
            let envelope = if decay > 0.0 {
                (t / 0.005).min(1.0) * (-t * decay).exp()
            } else {
                (t / 0.01).min((note_len - t) / 0.01).min(1.0)
            };
            let tone: f64 = (1..=harmonics)
                .map(|h| {
                    let h = f64::from(h);
                    (std::f64::consts::TAU * freq * h * t).sin() * (-t * h).exp() / h
                })
                .sum();
            (0.25 * envelope * tone) as f32
        })
        .collect()
}

/// What a lossy copy does to it, roughly: a 2-pole low-pass at `cutoff` Hz (an MP3 at
/// 64 kbps keeps little above 4–5 kHz, at 128 kbps about 16 kHz) and requantisation to
/// 16 bits.
fn degrade(samples: &[f32], cutoff: f32) -> Vec<f32> {
    let a = (-std::f32::consts::TAU * cutoff / RATE as f32).exp();
    let mut state = [0.0f32; 2];
    samples
        .iter()
        .map(|&x| {
            let mut y = x;
            for s in &mut state {
                *s = (1.0 - a) * y + a * *s;
                y = *s;
            }
            (y * 32_768.0).round() / 32_768.0
        })
        .collect()
}

/// A 30 s excerpt from an arbitrary sample, degraded, must name exactly `payload`.
fn traced(marked: &[f32], start: usize, cutoff: f32, payload: Payload) {
    let excerpt = degrade(&marked[start..start + 30 * RATE as usize], cutoff);
    let found = detect(&excerpt, RATE, 1, &KEY).unwrap();
    assert_eq!(found.map(|d| d.payload), Some(payload));
}

#[test]
fn piano_like_decays_are_traced() {
    let audio = melody(36.0, 261.6, 6, 4.0, false);
    let payload = Payload::new(0x70_6961_6e6f);
    traced(
        &embed(&audio, RATE, 1, &KEY, payload).unwrap(),
        54_321,
        4_400.0,
        payload,
    );
}

#[test]
fn sparse_notes_over_silence_are_traced() {
    // Half the time is silence, so the excerpt holds only 15 s of notes.
    let audio = melody(60.0, 261.6, 6, 4.0, true);
    let payload = Payload::new(31_337);
    traced(
        &embed(&audio, RATE, 1, &KEY, payload).unwrap(),
        498_765,
        11_000.0,
        payload,
    );
}

#[test]
fn first_version_marks_are_still_traced() {
    // Copies shared before the tonal version carry the first version's mark: today's
    // detector must still name their recipients, on tonal and on busier material.
    let payload = Payload::new(0x0001_0000_0000_0001);
    for audio in [
        melody(36.0, 261.6, 6, 4.0, false),
        melody(36.0, 130.8, 8, 2.0, false),
    ] {
        let mut marked = Vec::new();
        let mut embedder =
            Embedder::with_version(&KEY, payload, RATE, 1, 0.085, MarkVersion::V1).unwrap();
        for block in audio.chunks(4096) {
            embedder.process(block, &mut marked).unwrap();
        }
        embedder.finish(&mut marked).unwrap();
        let current = embed(&audio, RATE, 1, &KEY, payload).unwrap();
        assert_ne!(marked, current, "the tonal floor changes nothing here");
        traced(&marked, 23_456, 4_400.0, payload);
    }
}

#[test]
fn default_version_is_the_tonal_one() {
    assert_eq!(MarkVersion::default(), MarkVersion::V2);
    let audio = melody(4.0, 261.6, 6, 4.0, false);
    let payload = Payload::new(1);
    let mut streamed = Vec::new();
    let mut embedder =
        Embedder::with_version(&KEY, payload, RATE, 1, 0.085, MarkVersion::V2).unwrap();
    embedder.process(&audio, &mut streamed).unwrap();
    embedder.finish(&mut streamed).unwrap();
    assert_eq!(streamed, embed(&audio, RATE, 1, &KEY, payload).unwrap());
}

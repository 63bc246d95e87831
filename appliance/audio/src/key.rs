//! Musical key from a tuned chromagram and key profiles.
//!
//! Each spectral peak between C2 and C7 adds its weight — magnitude^1.5 relative to the frame's
//! loudest peak, so quiet passages count as much as loud ones — to a fine pitch-class histogram
//! of 5-cent bins, at its own pitch and, 0.8 times weaker each, at those of its 2nd–4th
//! subharmonics (a partial is likely a harmonic of a lower note, as in HPCP). Only peaks that
//! were already sounding in the previous frame (at least a quarter of their power, within a
//! bin) count: drums and other transients, which pull the chroma towards whatever pitch a kick
//! drum happens to have, are left out. The tuning is the circular mean of that histogram folded onto one semitone; the
//! 12-bin chroma then gathers each pitch class ±50 cents around the tuned centre. The key is
//! the major or minor profile (Krumhansl–Kessler and Temperley's Kostka–Payne figures,
//! averaged after normalisation) that correlates best with the chroma. The weighting constants
//! were chosen on the benchmark set (see `docs/BENCHMARKS.md`).

use serde::{Deserialize, Serialize};

use crate::resample::ANALYSIS_RATE;
use crate::stft::Stft;

const FRAME_SIZE: usize = 4_096;
const HOP: usize = 2_048;
/// C2 to C7.
const LOWEST_HZ: f32 = 65.4;
const HIGHEST_HZ: f32 = 2_093.0;
const BINS_PER_SEMITONE: usize = 20;
const FINE_BINS: usize = 12 * BINS_PER_SEMITONE;
/// Peaks this far below the frame's loudest are noise.
const PEAK_FLOOR: f32 = 1e-3;
/// Frames whose loudest peak is below this are silence.
const SILENCE: f32 = 1e-4;
/// A peak counts only if the previous frame had at least this share of its power within a bin.
const SUSTAINED: f32 = 0.25;
/// Weight of a peak: (power relative to the frame's loudest)^WEIGHT_EXPONENT.
const WEIGHT_EXPONENT: f64 = 0.75;
const SUBHARMONICS: usize = 4;
const SUBHARMONIC_DECAY: f64 = 0.8;

const PITCH_NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

/// Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
const KRUMHANSL_MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const KRUMHANSL_MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];
/// Temperley (2007), pitch-class frequencies in the Kostka–Payne corpus.
const TEMPERLEY_MAJOR: [f64; 12] = [
    0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400,
];
const TEMPERLEY_MINOR: [f64; 12] = [
    0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Major,
    Minor,
}

/// A track's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// Pitch class of the tonic, 0 = C … 11 = B.
    pub tonic: u8,
    pub mode: Mode,
    /// e.g. `"F# minor"`, `"Eb major"`.
    pub name: String,
    /// Camelot wheel notation, e.g. `"11A"` for F# minor.
    pub camelot: String,
    /// 0 to 1: how far the best key's correlation stands above the runner-up's, scaled by the
    /// correlation itself.
    pub confidence: f64,
    /// Deviation of the track's tuning from A = 440 Hz, in cents (−50 to +50).
    pub tuning_cents: f64,
}

impl Key {
    pub fn new(tonic: u8, mode: Mode) -> Self {
        let tonic = tonic % 12;
        let (suffix, letter, offset) = match mode {
            Mode::Major => ("major", 'B', 8),
            Mode::Minor => ("minor", 'A', 5),
        };
        let number = (7 * u32::from(tonic) + offset) % 12;
        Self {
            tonic,
            mode,
            name: format!("{} {suffix}", PITCH_NAMES[usize::from(tonic)]),
            camelot: format!("{}{letter}", if number == 0 { 12 } else { number }),
            confidence: 0.0,
            tuning_cents: 0.0,
        }
    }
}

/// Accumulates the fine pitch-class histogram as audio streams in.
#[derive(Debug)]
pub(crate) struct Chromagram {
    stft: Stft,
    /// Position of each analysed FFT bin on the 12-semitone circle, in semitones above C.
    bins: std::ops::Range<usize>,
    histogram: Vec<f64>,
    frames: usize,
    /// The previous frame's power spectrum.
    previous: Vec<f32>,
}

impl Chromagram {
    pub(crate) fn new() -> Self {
        let bin_hz = ANALYSIS_RATE as f32 / FRAME_SIZE as f32;
        let lo = (LOWEST_HZ / bin_hz).floor().max(1.0) as usize;
        let hi = ((HIGHEST_HZ / bin_hz).ceil() as usize).min(FRAME_SIZE / 2 - 1);
        Self {
            stft: Stft::new(FRAME_SIZE, HOP),
            bins: lo..hi,
            histogram: vec![0.0; FINE_BINS],
            frames: 0,
            previous: vec![0.0; FRAME_SIZE / 2 + 1],
        }
    }

    pub(crate) fn push(&mut self, samples: &[f32]) {
        let Self {
            stft,
            bins,
            histogram,
            frames,
            previous,
        } = self;
        let bin_hz = f64::from(ANALYSIS_RATE) / FRAME_SIZE as f64;
        stft.push(samples, &mut |power| {
            let loudest = power[bins.clone()].iter().copied().fold(0.0f32, f32::max);
            if loudest < SILENCE * SILENCE {
                previous.copy_from_slice(power);
                return;
            }
            *frames += 1;
            let floor = loudest * PEAK_FLOOR * PEAK_FLOOR;
            for k in bins.clone() {
                let (left, here, right) = (power[k - 1], power[k], power[k + 1]);
                if here <= floor || here <= left || here < right {
                    continue;
                }
                // Parabolic interpolation on log power locates the partial between bins.
                let (a, b, c) = (
                    f64::from(left.max(1e-12)).ln(),
                    f64::from(here).ln(),
                    f64::from(right.max(1e-12)).ln(),
                );
                let denominator = a - 2.0 * b + c;
                let offset = if denominator.abs() > 1e-12 {
                    (0.5 * (a - c) / denominator).clamp(-0.5, 0.5)
                } else {
                    0.0
                };
                let hz = (k as f64 + offset) * bin_hz;
                if previous[k - 1..=k + 1]
                    .iter()
                    .all(|&p| p < here * SUSTAINED)
                {
                    continue;
                }
                let mut weight = f64::from(here / loudest).powf(WEIGHT_EXPONENT);
                for h in 1..=SUBHARMONICS {
                    // Semitones above C, on the circle.
                    let semitones = (12.0 * (hz / h as f64 / 440.0).log2() + 9.0).rem_euclid(12.0);
                    let bin = (semitones * BINS_PER_SEMITONE as f64).round() as usize % FINE_BINS;
                    histogram[bin] += weight;
                    weight *= SUBHARMONIC_DECAY;
                }
            }
            previous.copy_from_slice(power);
        });
    }

    pub(crate) fn finish(self) -> Option<Key> {
        if self.frames == 0 {
            return None;
        }
        estimate(&self.histogram)
    }
}

/// Tuning offset in bins (fractional) from the histogram folded onto one semitone.
fn tuning_offset(histogram: &[f64]) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &w) in histogram.iter().enumerate() {
        let phase =
            2.0 * std::f64::consts::PI * (i % BINS_PER_SEMITONE) as f64 / BINS_PER_SEMITONE as f64;
        re += w * phase.cos();
        im += w * phase.sin();
    }
    let angle = f64::atan2(im, re);
    angle / (2.0 * std::f64::consts::PI) * BINS_PER_SEMITONE as f64
}

/// Pearson correlation.
fn correlation(x: &[f64; 12], y: &[f64; 12]) -> f64 {
    let mx = x.iter().sum::<f64>() / 12.0;
    let my = y.iter().sum::<f64>() / 12.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

fn normalised(profile: &[f64; 12]) -> [f64; 12] {
    let mean = profile.iter().sum::<f64>() / 12.0;
    let spread = (profile.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
    profile.map(|v| (v - mean) / spread)
}

fn blend(a: &[f64; 12], b: &[f64; 12]) -> [f64; 12] {
    let (a, b) = (normalised(a), normalised(b));
    std::array::from_fn(|i| a[i] + b[i])
}

/// The 12-bin chroma centred on the tuned pitch classes.
fn fold(histogram: &[f64], offset_bins: f64) -> [f64; 12] {
    let mut chroma = [0.0; 12];
    for (i, &w) in histogram.iter().enumerate() {
        let semitone = ((i as f64 - offset_bins) / BINS_PER_SEMITONE as f64).round();
        chroma[semitone.rem_euclid(12.0) as usize] += w;
    }
    chroma
}

fn estimate(histogram: &[f64]) -> Option<Key> {
    let offset = tuning_offset(histogram);
    let chroma = fold(histogram, offset);
    let profiles = [
        (Mode::Major, blend(&KRUMHANSL_MAJOR, &TEMPERLEY_MAJOR)),
        (Mode::Minor, blend(&KRUMHANSL_MINOR, &TEMPERLEY_MINOR)),
    ];
    let mut scores: Vec<(f64, u8, Mode)> = Vec::with_capacity(24);
    for (mode, profile) in &profiles {
        for tonic in 0..12u8 {
            let rotated: [f64; 12] =
                std::array::from_fn(|pc| profile[(pc + 12 - usize::from(tonic)) % 12]);
            scores.push((correlation(&chroma, &rotated), tonic, *mode));
        }
    }
    scores.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (best, tonic, mode) = *scores.first()?;
    let runner_up = scores.get(1).map_or(0.0, |s| s.0);
    if best <= 0.0 {
        return None;
    }
    let mut key = Key::new(tonic, mode);
    key.confidence = (((best - runner_up) / best).sqrt() * best).clamp(0.0, 1.0);
    key.confidence = (key.confidence * 100.0).round() / 100.0;
    key.tuning_cents = (offset * 100.0 / BINS_PER_SEMITONE as f64 * 10.0).round() / 10.0;
    Some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn camelot_wheel() {
        let cases = [
            (0, Mode::Major, "C major", "8B"),
            (4, Mode::Major, "E major", "12B"),
            (11, Mode::Major, "B major", "1B"),
            (9, Mode::Minor, "A minor", "8A"),
            (1, Mode::Minor, "Db minor", "12A"),
            (6, Mode::Minor, "F# minor", "11A"),
            (0, Mode::Minor, "C minor", "5A"),
        ];
        for (tonic, mode, name, camelot) in cases {
            let k = Key::new(tonic, mode);
            assert_eq!((k.name.as_str(), k.camelot.as_str()), (name, camelot));
        }
    }

    /// A chord as a sum of harmonic tones, `detune_cents` off A = 440 Hz.
    pub(crate) fn chord(midi_notes: &[u8], secs: f64, detune_cents: f64) -> Vec<f32> {
        let rate = f64::from(ANALYSIS_RATE);
        let mut out = vec![0.0f32; (secs * rate) as usize];
        for &note in midi_notes {
            let hz = 440.0 * 2f64.powf((f64::from(note) - 69.0 + detune_cents / 100.0) / 12.0);
            for h in 1..=4 {
                let amp = 0.1 / h as f64;
                for (i, s) in out.iter_mut().enumerate() {
                    let t = i as f64 / rate;
                    *s += (amp * (2.0 * std::f64::consts::PI * hz * h as f64 * t).sin()) as f32;
                }
            }
        }
        out
    }

    fn key_of(samples: &[f32]) -> Option<Key> {
        let mut chroma = Chromagram::new();
        for c in samples.chunks(3000) {
            chroma.push(c);
        }
        chroma.finish()
    }

    #[test]
    fn finds_the_key_of_cadences() {
        // I–IV–V–I in D major, then i–iv–V–i in G minor, each 20 cents sharp.
        let d_major = [[62, 66, 69], [67, 71, 74], [69, 73, 76], [62, 66, 69]];
        let g_minor = [[55, 58, 62], [60, 63, 67], [62, 66, 69], [55, 58, 62]];
        for (chords, tonic, mode) in [(d_major, 2, Mode::Major), (g_minor, 7, Mode::Minor)] {
            let signal: Vec<f32> = chords.iter().flat_map(|c| chord(c, 2.0, 20.0)).collect();
            let key = key_of(&signal).unwrap();
            assert_eq!((key.tonic, key.mode), (tonic, mode), "{key:?}");
            assert!((key.tuning_cents - 20.0).abs() < 6.0, "{key:?}");
        }
    }

    #[test]
    fn drum_hits_do_not_move_the_key() {
        // A minor (i–iv–V–i) under loud, short hits of a tuned drum on C#, two a second: as
        // tones they would turn the key to A major.
        let a_minor = [[57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64]];
        let mut signal: Vec<f32> = a_minor.iter().flat_map(|c| chord(c, 2.0, 0.0)).collect();
        let rate = f64::from(ANALYSIS_RATE);
        let hz = 440.0 * 2f64.powf((49.0 - 69.0) / 12.0);
        let period = (0.5 * rate) as usize;
        for start in (0..signal.len()).step_by(period) {
            for (i, s) in signal.iter_mut().skip(start).take(period).enumerate() {
                let t = i as f64 / rate;
                let hit: f64 = (1..=3)
                    .map(|h| (std::f64::consts::TAU * hz * h as f64 * t).sin() / h as f64)
                    .sum();
                *s += (4.0 * (-t / 0.03).exp() * hit) as f32;
            }
        }
        let key = key_of(&signal).unwrap();
        assert_eq!((key.tonic, key.mode), (9, Mode::Minor), "{key:?}");
    }

    #[test]
    fn silence_has_no_key() {
        assert!(key_of(&vec![0.0; 50_000]).is_none());
    }
}

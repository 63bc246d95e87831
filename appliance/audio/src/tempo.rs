//! Tempo from an onset-strength envelope and an autocorrelation tempogram.
//!
//! 1. Onset strength: spectral flux of log-compressed magnitudes, `ln(1 + 20·|X|)` per bin from
//!    30 Hz to 5 kHz, half-wave rectified and averaged over the bins, ~43 frames a second.
//! 2. Tempogram: the autocorrelation of the envelope (local mean removed) in overlapping
//!    12-second windows, each normalised to its zero lag, then averaged over the track.
//! 3. Beat period: a comb over the tempogram (lags τ … 8τ, weights 0.8^(k−1)) times a
//!    log-normal prior on the tempo (centred on 120 BPM, one octave wide), which picks the
//!    metrical level listeners tap and settles octave errors towards 120 BPM.
//! 4. The tempo is refined to 0.1 BPM with a Fourier tempogram of the whole envelope at the
//!    beat frequency and its harmonics.
//!
//! The constants were chosen on the benchmark set (see `docs/BENCHMARKS.md`).

use serde::{Deserialize, Serialize};

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use crate::resample::ANALYSIS_RATE;
use crate::stft::Stft;

const FRAME_SIZE: usize = 1_024;
const HOP: usize = 256;
const LOWEST_HZ: f32 = 30.0;
const HIGHEST_HZ: f32 = 5_000.0;
/// Log compression `ln(1 + γ·|X|)`, with |X| = 1 for a full-scale sine.
const COMPRESSION: f32 = 20.0;
const MIN_BPM: f64 = 40.0;
const MAX_BPM: f64 = 240.0;
const PRIOR_CENTRE_BPM: f64 = 120.0;
const PRIOR_OCTAVES: f64 = 1.0;
const COMB_TEETH: usize = 8;
const COMB_DECAY: f64 = 0.8;
const TEMPOGRAM_WINDOW_SECS: f64 = 12.0;
const TEMPOGRAM_HOP_SECS: f64 = 1.0;
/// Below this many seconds of audio no tempo is reported.
const MIN_DURATION_SECS: f64 = 4.0;

/// A track's tempo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tempo {
    /// Beats per minute, rounded to one decimal.
    pub bpm: f64,
    /// How periodic the onsets are at that tempo, 0 (none) to 1 (a metronome).
    pub confidence: f64,
}

fn frame_rate() -> f64 {
    f64::from(ANALYSIS_RATE) / HOP as f64
}

/// Builds the onset-strength envelope as audio streams in.
#[derive(Debug)]
pub(crate) struct OnsetEnvelope {
    stft: Stft,
    /// The FFT bins analysed.
    bins: std::ops::Range<usize>,
    previous: Vec<f32>,
    envelope: Vec<f32>,
    first: bool,
}

impl OnsetEnvelope {
    pub(crate) fn new() -> Self {
        let bin_hz = ANALYSIS_RATE as f32 / FRAME_SIZE as f32;
        let lo = (LOWEST_HZ / bin_hz).ceil() as usize;
        let hi = ((HIGHEST_HZ / bin_hz).ceil() as usize).min(FRAME_SIZE / 2 + 1);
        Self {
            stft: Stft::new(FRAME_SIZE, HOP),
            previous: vec![0.0; hi - lo],
            bins: lo..hi,
            envelope: Vec::new(),
            first: true,
        }
    }

    pub(crate) fn push(&mut self, samples: &[f32]) {
        let Self {
            stft,
            bins,
            previous,
            envelope,
            first,
        } = self;
        // A full-scale sine peaks at FRAME_SIZE / 4 under a Hann window.
        let scale = COMPRESSION * 4.0 / FRAME_SIZE as f32;
        let count = bins.len() as f32;
        stft.push(samples, &mut |power| {
            let mut flux = 0.0;
            for (p, prev) in power[bins.clone()].iter().zip(previous.iter_mut()) {
                let level = (scale * p.sqrt()).ln_1p();
                flux += (level - *prev).max(0.0);
                *prev = level;
            }
            envelope.push(if *first { 0.0 } else { flux / count });
            *first = false;
        });
    }

    pub(crate) fn finish(self) -> Option<Tempo> {
        estimate(&self.envelope)
    }
}

/// The envelope minus its moving average over about one second.
fn detrend(envelope: &[f32]) -> Vec<f64> {
    let half = (frame_rate() / 2.0) as usize;
    let mut prefix = Vec::with_capacity(envelope.len() + 1);
    prefix.push(0.0f64);
    for &v in envelope {
        prefix.push(prefix[prefix.len() - 1] + f64::from(v));
    }
    (0..envelope.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(envelope.len());
            f64::from(envelope[i]) - (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

/// Autocorrelation averaged over windows, each normalised to lag 0; `max_lag + 1` values.
fn tempogram(onsets: &[f64], max_lag: usize) -> Vec<f64> {
    let window = ((TEMPOGRAM_WINDOW_SECS * frame_rate()) as usize).min(onsets.len());
    let hop = ((TEMPOGRAM_HOP_SECS * frame_rate()) as usize).max(1);
    let taper: Vec<f64> = (0..window)
        .map(|i| (std::f64::consts::PI * (i as f64 + 0.5) / window as f64).sin())
        .collect();
    // Zero-padded to at least twice the window, the circular correlation equals the linear one.
    let size = (2 * window.max(max_lag + 1)).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(size);
    let inverse = planner.plan_fft_inverse(size);
    let mut frame = forward.make_input_vec();
    let mut spectrum = forward.make_output_vec();
    let mut lags = inverse.make_output_vec();
    let mut sum = vec![0.0; max_lag + 1];
    let mut count = 0usize;
    let mut start = 0;
    while start + window <= onsets.len() {
        frame.fill(0.0);
        for ((f, &o), &t) in frame.iter_mut().zip(&onsets[start..]).zip(&taper) {
            *f = o * t;
        }
        // Sizes come from the plans, so the transforms cannot fail.
        if forward.process(&mut frame, &mut spectrum).is_ok() {
            for c in &mut spectrum {
                *c = Complex::new(c.norm_sqr(), 0.0);
            }
            if inverse.process(&mut spectrum, &mut lags).is_ok() && lags[0] > 1e-12 {
                for (s, &l) in sum.iter_mut().zip(&lags) {
                    *s += l / lags[0];
                }
                count += 1;
            }
        }
        start += hop;
    }
    if count > 0 {
        sum.iter_mut().for_each(|s| *s /= count as f64);
    }
    sum
}

/// Linear interpolation of `values` at a fractional index (0 past the end).
fn at(values: &[f64], x: f64) -> f64 {
    let i = x.floor() as usize;
    let frac = x - x.floor();
    match (values.get(i), values.get(i + 1)) {
        (Some(a), Some(b)) => a + (b - a) * frac,
        (Some(a), None) => *a,
        _ => 0.0,
    }
}

/// Periodicity at a beat period of `lag` frames: the tempogram at the lag and its multiples.
fn comb(acf: &[f64], lag: f64) -> f64 {
    (1..=COMB_TEETH)
        .map(|k| at(acf, lag * k as f64).max(0.0) * COMB_DECAY.powi(k as i32 - 1))
        .sum()
}

/// Log-normal weighting of a tempo around the prior's centre.
fn prior(bpm: f64) -> f64 {
    let octaves = (bpm / PRIOR_CENTRE_BPM).log2() / PRIOR_OCTAVES;
    (-0.5 * octaves * octaves).exp()
}

fn estimate(envelope: &[f32]) -> Option<Tempo> {
    if (envelope.len() as f64) < MIN_DURATION_SECS * frame_rate() {
        return None;
    }
    let onsets = detrend(envelope);
    let fps = frame_rate();
    let max_lag = (COMB_TEETH as f64 * 60.0 * fps / MIN_BPM).ceil() as usize + 2;
    let acf = tempogram(&onsets, max_lag);
    // No window had any onset energy: silence or a drone has no tempo.
    if acf[0] <= 0.0 {
        return None;
    }
    let lag_of = |bpm: f64| 60.0 * fps / bpm;
    let mut best: Option<(f64, f64)> = None;
    let mut bpm = MIN_BPM;
    while bpm <= MAX_BPM {
        let score = comb(&acf, lag_of(bpm)) * prior(bpm);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((bpm, score));
        }
        bpm += 0.5;
    }
    let (coarse, _) = best?;
    let bpm = refine(&onsets, coarse);
    if !bpm.is_finite() {
        return None;
    }
    let confidence = at(&acf, lag_of(bpm)).clamp(0.0, 1.0);
    Some(Tempo {
        bpm: (bpm * 10.0).round() / 10.0,
        confidence: (confidence * 100.0).round() / 100.0,
    })
}

/// Magnitude of the envelope's Fourier component at `hz`, by phasor rotation.
fn fourier_magnitude(onsets: &[f64], hz: f64) -> f64 {
    let step = 2.0 * std::f64::consts::PI * hz / frame_rate();
    let (ws, wc) = step.sin_cos();
    let (mut re, mut im) = (1.0f64, 0.0f64);
    let (mut acc_re, mut acc_im) = (0.0, 0.0);
    for (n, &o) in onsets.iter().enumerate() {
        acc_re += o * re;
        acc_im -= o * im;
        (re, im) = (re * wc - im * ws, re * ws + im * wc);
        // Renormalise now and then so rounding does not let the phasor drift.
        if n % 1024 == 1023 {
            let norm = (re * re + im * im).sqrt();
            re /= norm;
            im /= norm;
        }
    }
    (acc_re * acc_re + acc_im * acc_im).sqrt()
}

/// Refines `bpm` within ±3 % to the strongest beat-rate component (with harmonics 2 and 4),
/// never past the range the estimate searches ([`MIN_BPM`], [`MAX_BPM`]).
fn refine(onsets: &[f64], bpm: f64) -> f64 {
    let salience = |b: f64| {
        [1.0, 2.0, 4.0]
            .iter()
            .map(|h| fourier_magnitude(onsets, b / 60.0 * h))
            .sum::<f64>()
    };
    let search = |centre: f64, half_width: f64, step: f64| {
        let mut best = (centre, salience(centre));
        let mut b = (centre - half_width).max(MIN_BPM);
        while b <= (centre + half_width).min(MAX_BPM) {
            let s = salience(b);
            if s > best.1 {
                best = (b, s);
            }
            b += step;
        }
        best.0
    };
    let coarse = search(bpm, bpm * 0.03, 0.1);
    search(coarse, 0.1, 0.02)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Short decaying noise bursts every beat, louder on the downbeat, with or without
    /// off-beat hi-hats.
    pub(crate) fn click_track(bpm: f64, secs: f64, off_beats: bool) -> Vec<f32> {
        let rate = f64::from(ANALYSIS_RATE);
        let mut out = vec![0.0f32; (secs * rate) as usize];
        let period = 60.0 / bpm;
        let mut seed = 0x2545_f491_u32;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as f32 / u32::MAX as f32 * 2.0 - 1.0
        };
        let mut beat = 0;
        while beat as f64 * period < secs {
            let hat = if off_beats { 0.2 } else { 0.0 };
            for (offset, gain) in [(0.0, if beat % 4 == 0 { 0.9 } else { 0.6 }), (0.5, hat)] {
                let start = ((beat as f64 + offset) * period * rate) as usize;
                for i in 0..(0.05 * rate) as usize {
                    if let Some(s) = out.get_mut(start + i) {
                        *s += gain * noise() * (-(i as f32) / 120.0).exp();
                    }
                }
            }
            beat += 1;
        }
        out
    }

    fn tempo_of(samples: &[f32]) -> Option<Tempo> {
        let mut onsets = OnsetEnvelope::new();
        for chunk in samples.chunks(4096) {
            onsets.push(chunk);
        }
        onsets.finish()
    }

    #[test]
    fn finds_the_tempo_of_click_tracks() {
        for (bpm, off_beats) in [
            (72.0, false),
            (96.0, true),
            (123.0, true),
            (140.0, true),
            (174.0, false),
        ] {
            let t = tempo_of(&click_track(bpm, 30.0, off_beats)).unwrap();
            assert!((t.bpm - bpm).abs() <= 0.5, "{bpm}: {t:?}");
            assert!(t.confidence > 0.3, "{bpm}: {t:?}");
        }
        // Slow beats with eighth notes are heard at double time, as most listeners tap them.
        let t = tempo_of(&click_track(70.0, 30.0, true)).unwrap();
        assert!((t.bpm - 140.0).abs() <= 1.0, "{t:?}");
    }

    #[test]
    fn refining_a_tempo_at_the_edge_of_the_range_stays_in_it() {
        // The coarse search may end on its edge (a signal whose beat lies just past it); the
        // ±3 % refinement around it then must not step past the range.
        for (edge, bpm) in [(MAX_BPM, 246.0), (MIN_BPM, 39.0)] {
            let mut onsets = OnsetEnvelope::new();
            for chunk in click_track(bpm, 30.0, false).chunks(4096) {
                onsets.push(chunk);
            }
            let refined = refine(&detrend(&onsets.envelope), edge);
            assert!(
                (MIN_BPM..=MAX_BPM).contains(&refined),
                "{bpm} from {edge}: {refined}"
            );
        }
    }

    #[test]
    fn reports_nothing_for_silence_or_short_clips() {
        assert!(tempo_of(&vec![0.0; ANALYSIS_RATE as usize * 10]).is_none());
        assert!(tempo_of(&click_track(120.0, 2.0, true)).is_none());
    }
}

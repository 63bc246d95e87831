//! Pitch salience of each frame, after Salamon & Gómez's Melodia (IEEE TASLP 20(6), 2012):
//! spectral peaks of 46 ms frames, weighted for loudness, are summed onto a 10-cent pitch grid
//! at every pitch they could be a harmonic of. A pitch whose harmonics are present and loud is
//! salient; in a mix, the melody is usually the most salient line over time.

use crate::resample::ANALYSIS_RATE;
use crate::stft::Stft;

/// 11.6 ms between frames at the analysis rate.
const HOP: usize = 128;
/// 46 ms: long enough to separate partials of voices a semitone apart in the low register.
const WINDOW: usize = 512;
/// Four-fold zero padding: 5.4 Hz bins, so interpolated partial frequencies are accurate.
const FFT_SIZE: usize = 2_048;
/// The grid: 10-cent steps from A1 (MIDI 33, 55 Hz) over five octaves, to A6 (1.76 kHz).
const LOWEST_MIDI: f32 = 33.0;
const GRID_STEPS: usize = 600;
const STEPS_PER_SEMITONE: f32 = 10.0;
/// A partial adds to grid steps within one semitone of each pitch it may be a harmonic of.
const SPREAD_STEPS: usize = 10;
const HARMONICS: usize = 20;
/// Weight of the h-th harmonic: HARMONIC_DECAY^(h-1).
const HARMONIC_DECAY: f32 = 0.8;
/// Partials more than 40 dB under the frame's loudest add nothing.
const PEAK_RANGE: f32 = 0.01;
/// Partials below −80 dBFS (sine amplitude) are noise.
const ABSOLUTE_FLOOR: f32 = 1e-4;
/// Partials are looked for between these frequencies.
const PARTIAL_HZ: (f32, f32) = (50.0, 5_000.0);
/// Salience peaks kept per frame, loudest first.
const PEAKS_PER_FRAME: usize = 6;
/// The onset strength compresses magnitudes as ln(1 + this × |X|) (unnormalised FFT): nearly
/// logarithmic over the range of music, so a quiet note's start counts like a loud one's.
const FLUX_COMPRESSION: f32 = 1_000.0;
/// Resolution of the precomputed cos² weighting.
const WEIGHT_TABLE: usize = 1_024;

/// A local maximum of one frame's salience.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SaliencePeak {
    /// Pitch in semitones on the MIDI scale (69 = A4 = 440 Hz), fractional.
    pub pitch: f32,
    pub salience: f32,
}

/// The salience peaks of every frame, in order: frame `i` owns `peaks[starts[i]..starts[i+1]]`.
#[derive(Debug)]
pub(super) struct SalienceFrames {
    pub peaks: Vec<SaliencePeak>,
    pub starts: Vec<u32>,
}

impl Default for SalienceFrames {
    fn default() -> Self {
        Self {
            peaks: Vec::new(),
            starts: vec![0],
        }
    }
}

impl SalienceFrames {
    pub fn frames(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub fn frame(&self, i: usize) -> std::ops::Range<usize> {
        self.starts[i] as usize..self.starts[i + 1] as usize
    }

    /// Seconds from the start of the signal to the centre of frame `i`.
    pub fn frame_secs(i: usize) -> f64 {
        (i * HOP + WINDOW / 2) as f64 / f64::from(ANALYSIS_RATE)
    }

    pub fn hop_secs() -> f64 {
        HOP as f64 / f64::from(ANALYSIS_RATE)
    }
}

/// Both readings of a signal's salience.
#[derive(Debug)]
pub(super) struct Salience {
    /// Partials as they are: right for an isolated line, whose low notes must not lose to
    /// their own upper harmonics.
    pub plain: SalienceFrames,
    /// Partials weighted for loudness (an A-weighting curve raised to the power 1.5, standing
    /// in for Melodia's equal-loudness filter): in a mix the melody sits above the bass and
    /// the accompaniment's low notes, and this keeps them from outweighing it.
    pub weighted: SalienceFrames,
    /// Onset strength of each frame ([`spectral_flux`]).
    pub flux: Vec<f32>,
}

const LOUDNESS_EXPONENT: f32 = 1.5;

#[derive(Debug, Clone, Copy)]
struct Partial {
    hz: f32,
    /// Sine amplitude.
    amplitude: f32,
    /// Loudness weight at its frequency.
    loudness: f32,
}

/// Streams mono samples at [`ANALYSIS_RATE`] into [`Salience`].
pub(super) struct SalienceTracker {
    stft: Stft,
    /// Loudness weight per FFT bin.
    loudness: Vec<f32>,
    /// cos²(π/2 · d) for d = distance in semitones in [0, 1], sampled.
    weights: Vec<f32>,
    grid: Vec<f32>,
    partials: Vec<Partial>,
    plain: SalienceFrames,
    weighted: SalienceFrames,
    /// The previous frame's log magnitudes.
    previous: Vec<f32>,
    flux: Vec<f32>,
}

impl std::fmt::Debug for SalienceTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalienceTracker")
            .field("frames", &self.plain.frames())
            .finish_non_exhaustive()
    }
}

fn a_weighting(hz: f32) -> f32 {
    let f2 = f64::from(hz) * f64::from(hz);
    let numerator = 12_194.0f64.powi(2) * f2 * f2;
    let denominator = (f2 + 20.6f64.powi(2))
        * ((f2 + 107.7f64.powi(2)) * (f2 + 737.9f64.powi(2))).sqrt()
        * (f2 + 12_194.0f64.powi(2));
    // 1.2589 makes the curve 0 dB at 1 kHz.
    (1.258_9 * numerator / denominator) as f32
}

impl SalienceTracker {
    pub fn new() -> Self {
        let bin_hz = ANALYSIS_RATE as f32 / FFT_SIZE as f32;
        let loudness = (0..=FFT_SIZE / 2)
            .map(|k| a_weighting(k as f32 * bin_hz).powf(LOUDNESS_EXPONENT))
            .collect();
        let weights = (0..=WEIGHT_TABLE)
            .map(|i| {
                let d = i as f32 / WEIGHT_TABLE as f32;
                (std::f32::consts::FRAC_PI_2 * d).cos().powi(2)
            })
            .collect();
        Self {
            stft: Stft::zero_padded(WINDOW, FFT_SIZE, HOP),
            loudness,
            weights,
            grid: vec![0.0; GRID_STEPS],
            partials: Vec::new(),
            plain: SalienceFrames::default(),
            weighted: SalienceFrames::default(),
            previous: vec![0.0; FFT_SIZE / 2 + 1],
            flux: Vec::new(),
        }
    }

    pub fn push(&mut self, samples: &[f32]) {
        let Self {
            stft,
            loudness,
            weights,
            grid,
            partials,
            plain,
            weighted,
            previous,
            flux,
        } = self;
        stft.push(samples, &mut |power| {
            flux.push(spectral_flux(power, previous));
            find_partials(power, loudness, partials);
            sum_harmonics(partials, |p| p.amplitude, weights, grid);
            keep_peaks(grid, plain);
            sum_harmonics(partials, |p| p.amplitude * p.loudness, weights, grid);
            keep_peaks(grid, weighted);
        });
    }

    pub fn finish(self) -> Salience {
        Salience {
            plain: self.plain,
            weighted: self.weighted,
            flux: self.flux,
        }
    }
}

/// The rise of the log-compressed magnitude spectrum over the previous frame's, summed over
/// the bins that rose: high where a note starts, even a note struck again at the same pitch
/// and level (an organ's repeated note shows no dip in level, but its partials restart).
/// `previous` becomes this frame's.
fn spectral_flux(power: &[f32], previous: &mut [f32]) -> f32 {
    let mut rise = 0.0;
    for (p, last) in power.iter().zip(previous.iter_mut()) {
        let level = (1.0 + FLUX_COMPRESSION * p.sqrt()).ln();
        rise += (level - *last).max(0.0);
        *last = level;
    }
    rise
}

/// Spectral peaks of one power spectrum, at least −40 dB re the loudest.
fn find_partials(power: &[f32], loudness: &[f32], out: &mut Vec<Partial>) {
    out.clear();
    let bin_hz = ANALYSIS_RATE as f32 / FFT_SIZE as f32;
    // A full-scale sine's bin power under a Hann window of WINDOW samples is (WINDOW / 4)².
    let to_amplitude = 4.0 / WINDOW as f32;
    let lo = ((PARTIAL_HZ.0 / bin_hz) as usize).max(1);
    let hi = ((PARTIAL_HZ.1 / bin_hz) as usize).min(power.len() - 2);
    for k in lo..=hi {
        let (left, here, right) = (power[k - 1], power[k], power[k + 1]);
        if here <= left || here < right {
            continue;
        }
        let amplitude = here.sqrt() * to_amplitude;
        if amplitude < ABSOLUTE_FLOOR || !amplitude.is_finite() {
            continue;
        }
        // Parabolic interpolation on log power locates the partial between bins.
        let (a, b, c) = (left.max(1e-20).ln(), here.ln(), right.max(1e-20).ln());
        let denominator = a - 2.0 * b + c;
        let offset = if denominator.abs() > 1e-12 {
            (0.5 * (a - c) / denominator).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        // The peak's height on the parabola, back to amplitude (half the log power).
        let peak = (0.5 * (b - 0.25 * (a - c) * offset)).exp() * to_amplitude;
        out.push(Partial {
            hz: (k as f32 + offset) * bin_hz,
            amplitude: peak,
            loudness: loudness[k],
        });
    }
    let loudest = out.iter().map(|p| p.amplitude).fold(0.0, f32::max);
    out.retain(|p| p.amplitude >= loudest * PEAK_RANGE);
}

/// Harmonic summation: each partial adds to the grid around every f/h, h = 1..20.
fn sum_harmonics(
    partials: &[Partial],
    amplitude: impl Fn(&Partial) -> f32,
    weights: &[f32],
    grid: &mut [f32],
) {
    grid.fill(0.0);
    let spread = SPREAD_STEPS as f32;
    for partial in partials {
        let steps = STEPS_PER_SEMITONE * (12.0 * (partial.hz / 440.0).log2() + 69.0 - LOWEST_MIDI);
        let mut weight = amplitude(partial);
        for h in 1..=HARMONICS {
            // The grid position of f / h.
            let centre = steps - STEPS_PER_SEMITONE * 12.0 * (h as f32).log2();
            if centre < -spread {
                break;
            }
            if centre <= GRID_STEPS as f32 + spread {
                let first = (centre - spread).ceil().max(0.0) as usize;
                let last = ((centre + spread).floor() as usize).min(GRID_STEPS - 1);
                for (step, cell) in grid.iter_mut().enumerate().take(last + 1).skip(first) {
                    let distance = (step as f32 - centre).abs() / spread;
                    let index = (distance * WEIGHT_TABLE as f32) as usize;
                    *cell += weight * weights[index.min(WEIGHT_TABLE)];
                }
            }
            weight *= HARMONIC_DECAY;
        }
    }
}

/// Appends the frame's strongest local maxima of the grid to `frames`.
fn keep_peaks(grid: &[f32], frames: &mut SalienceFrames) {
    let first = frames.peaks.len();
    for step in 1..grid.len() - 1 {
        let (left, here, right) = (grid[step - 1], grid[step], grid[step + 1]);
        if here <= 0.0 || here <= left || here < right {
            continue;
        }
        let denominator = left - 2.0 * here + right;
        let offset = if denominator.abs() > 1e-12 {
            (0.5 * (left - right) / denominator).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let peak = SaliencePeak {
            pitch: LOWEST_MIDI + (step as f32 + offset) / STEPS_PER_SEMITONE,
            salience: here,
        };
        let frame = &mut frames.peaks[first..];
        if frame.len() < PEAKS_PER_FRAME {
            frames.peaks.push(peak);
        } else if let Some(weakest) = frame
            .iter_mut()
            .min_by(|a, b| a.salience.total_cmp(&b.salience))
            .filter(|w| w.salience < peak.salience)
        {
            *weakest = peak;
        }
    }
    frames.peaks[first..].sort_by(|a, b| b.salience.total_cmp(&a.salience));
    frames.starts.push(frames.peaks.len() as u32);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_most_salient_pitch_of_a_harmonic_tone_is_its_fundamental() {
        // A4 with its first 8 harmonics falling at 6 dB each: the 2nd harmonic is loud too,
        // but only the fundamental collects all of them.
        let rate = ANALYSIS_RATE as f32;
        let tone: Vec<f32> = (0..ANALYSIS_RATE as usize / 2)
            .map(|i| {
                let t = i as f32 / rate;
                (1..=8)
                    .map(|h| {
                        0.3 * 0.5f32.powi(h - 1)
                            * (2.0 * std::f32::consts::PI * 440.0 * h as f32 * t).sin()
                    })
                    .sum()
            })
            .collect();
        let mut tracker = SalienceTracker::new();
        tracker.push(&tone);
        let frames = tracker.finish().plain;
        assert!(frames.frames() > 30);
        for i in 5..frames.frames() - 5 {
            let best = frames.peaks[frames.frame(i)][0];
            assert!((best.pitch - 69.0).abs() < 0.1, "frame {i}: {best:?}");
        }
    }
}

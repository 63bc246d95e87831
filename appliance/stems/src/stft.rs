//! STFT and inverse STFT with the conventions of `torch.stft`/`torch.istft` as Spleeter's
//! PyTorch port calls them: periodic Hann window of n_fft, hop n_fft/4, `center=True` with zero
//! padding of n_fft/2 on both sides, no normalisation; the inverse overlap-adds the windowed
//! frames and divides by the summed squared window, so a signal comes back exactly, edges
//! included.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// One complex STFT bin.
pub type Complex32 = Complex<f32>;

/// The model's STFT size at 44.1/48 kHz.
pub const BASE_N_FFT: usize = 4096;

/// n_fft for `sample_rate`: 4096 scaled by the power of two nearest `rate / 44100`, so a bin
/// stays ~10.8 Hz wide and the model's 1024 bins always cover ~11 kHz. At least 2048 (so there
/// are more than 1024 bins) and at most 65536.
pub fn n_fft_for_rate(sample_rate: u32) -> usize {
    let ratio = f64::from(sample_rate.max(1)) / 44_100.0;
    let exp = ratio.log2().round().clamp(-1.0, 4.0) as i32;
    if exp >= 0 {
        BASE_N_FFT << exp
    } else {
        BASE_N_FFT >> (-exp)
    }
}

/// Frames of a centred STFT of `len` samples: `1 + len / hop`.
pub fn frame_count(len: usize, hop: usize) -> usize {
    1 + len / hop
}

/// Forward and inverse transforms of one frame, with the window and scratch buffers reused.
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    scratch_f: Vec<Complex32>,
    scratch_i: Vec<Complex32>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("n_fft", &self.n_fft)
            .field("hop", &self.hop)
            .finish_non_exhaustive()
    }
}

impl Stft {
    /// An STFT of `n_fft` (even) with hop `n_fft / 4`.
    pub fn new(n_fft: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(n_fft);
        let inverse = planner.plan_fft_inverse(n_fft);
        let window = (0..n_fft)
            .map(|n| {
                let x = 2.0 * std::f64::consts::PI * n as f64 / n_fft as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        Self {
            n_fft,
            hop: n_fft / 4,
            window,
            scratch_f: forward.make_scratch_vec(),
            scratch_i: inverse.make_scratch_vec(),
            forward,
            inverse,
            time: vec![0.0; n_fft],
        }
    }

    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Bins of one frame: n_fft/2 + 1.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The periodic Hann window.
    pub fn window(&self) -> &[f32] {
        &self.window
    }

    /// Spectrum of one frame of `n_fft` raw samples (windowed here) into `out` (`bins()` long).
    pub fn forward_frame(&mut self, samples: &[f32], out: &mut [Complex32]) {
        for ((t, s), w) in self.time.iter_mut().zip(samples).zip(&self.window) {
            *t = s * w;
        }
        // Lengths always match the plan, so the FFT cannot fail.
        let _ = self
            .forward
            .process_with_scratch(&mut self.time, out, &mut self.scratch_f);
    }

    /// The windowed, normalised inverse of one frame (`spec` is used as scratch) into `out`
    /// (`n_fft` long), ready to overlap-add.
    pub fn inverse_frame(&mut self, spec: &mut [Complex32], out: &mut [f32]) {
        // A real signal's DC and Nyquist bins are real; torch's C2R ignores their imaginary part.
        if let Some(c) = spec.first_mut() {
            c.im = 0.0;
        }
        if let Some(c) = spec.last_mut() {
            c.im = 0.0;
        }
        let _ = self
            .inverse
            .process_with_scratch(spec, out, &mut self.scratch_i);
        let scale = 1.0 / self.n_fft as f32;
        for (o, w) in out.iter_mut().zip(&self.window) {
            *o *= w * scale;
        }
    }

    /// The whole centred STFT of `x`: `frame_count(len)` frames of `bins()` bins.
    pub fn stft(&mut self, x: &[f32]) -> Vec<Vec<Complex32>> {
        let (n, hop) = (self.n_fft, self.hop);
        let half = n / 2;
        let mut frame = vec![0.0f32; n];
        (0..frame_count(x.len(), hop))
            .map(|t| {
                for (i, f) in frame.iter_mut().enumerate() {
                    let pos = (t * hop + i) as isize - half as isize;
                    *f = if pos >= 0 && (pos as usize) < x.len() {
                        x[pos as usize]
                    } else {
                        0.0
                    };
                }
                let mut out = vec![Complex32::new(0.0, 0.0); self.bins()];
                self.forward_frame(&frame, &mut out);
                out
            })
            .collect()
    }

    /// The inverse of [`Stft::stft`] for a signal of `len` samples.
    pub fn istft(&mut self, frames: &[Vec<Complex32>], len: usize) -> Vec<f32> {
        let (n, hop) = (self.n_fft, self.hop);
        let half = n / 2;
        let total = n + hop * frames.len().saturating_sub(1);
        let mut acc = vec![0.0f32; total];
        let mut env = vec![0.0f32; total];
        let mut buf = vec![0.0f32; n];
        for (t, spec) in frames.iter().enumerate() {
            let mut spec = spec.clone();
            self.inverse_frame(&mut spec, &mut buf);
            for i in 0..n {
                acc[t * hop + i] += buf[i];
                env[t * hop + i] += self.window[i] * self.window[i];
            }
        }
        (0..len)
            .map(|s| {
                let i = s + half;
                match (acc.get(i), env.get(i)) {
                    (Some(a), Some(e)) if *e > 1e-11 => a / e,
                    _ => 0.0,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(len: usize) -> Vec<f32> {
        let mut s = 1u64;
        (0..len)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                0.5 * (i as f32 * 0.01).sin() + ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            })
            .collect()
    }

    #[test]
    fn round_trip_is_exact_including_edges_and_odd_lengths() {
        for n_fft in [2048, 4096] {
            let mut stft = Stft::new(n_fft);
            for len in [1, 7, 1023, 1024, 4097, 10_001, 44_100] {
                let x = signal(len);
                let spec = stft.stft(&x);
                assert_eq!(spec.len(), 1 + len / (n_fft / 4));
                let y = stft.istft(&spec, len);
                let err = x
                    .iter()
                    .zip(&y)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(err < 1e-5, "n_fft {n_fft} len {len}: {err}");
            }
        }
    }

    #[test]
    fn frames_follow_torch_stft_conventions() {
        // Direct DFT of the centred, zero-padded, Hann-windowed frame for a small transform.
        let n = 16;
        let mut stft = Stft::new(n);
        let x = signal(37);
        let spec = stft.stft(&x);
        assert_eq!(spec.len(), 1 + 37 / 4);
        for (t, frame) in spec.iter().enumerate() {
            for (k, bin) in frame.iter().enumerate() {
                let (mut re, mut im) = (0.0f64, 0.0f64);
                for i in 0..n {
                    let pos = (t * 4 + i) as isize - 8;
                    if pos < 0 || pos as usize >= x.len() {
                        continue;
                    }
                    let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
                    let ph = -2.0 * std::f64::consts::PI * (k * i) as f64 / n as f64;
                    re += x[pos as usize] as f64 * w * ph.cos();
                    im += x[pos as usize] as f64 * w * ph.sin();
                }
                assert!((bin.re as f64 - re).abs() < 1e-4 && (bin.im as f64 - im).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn n_fft_follows_the_sample_rate() {
        assert_eq!(n_fft_for_rate(44_100), 4096);
        assert_eq!(n_fft_for_rate(48_000), 4096);
        assert_eq!(n_fft_for_rate(22_050), 2048);
        assert_eq!(n_fft_for_rate(88_200), 8192);
        assert_eq!(n_fft_for_rate(96_000), 8192);
        assert_eq!(n_fft_for_rate(176_400), 16_384);
        assert_eq!(n_fft_for_rate(192_000), 16_384);
        assert_eq!(n_fft_for_rate(8_000), 2048);
    }
}

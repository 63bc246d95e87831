//! Short-time Fourier magnitudes of a streamed signal, frame by frame.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub(crate) struct Stft {
    size: usize,
    hop: usize,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    pending: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("size", &self.size)
            .field("hop", &self.hop)
            .finish_non_exhaustive()
    }
}

impl Stft {
    /// Hann-windowed frames of `size` samples every `hop` samples.
    pub(crate) fn new(size: usize, hop: usize) -> Self {
        Self::zero_padded(size, size, hop)
    }

    /// Frames of `size` samples, Hann-windowed and zero-padded to a transform of `fft_size`
    /// (finer bins for locating partials, same time resolution).
    pub(crate) fn zero_padded(size: usize, fft_size: usize, hop: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(fft_size.max(size));
        let window = (0..size)
            .map(|i| {
                let phase = 2.0 * std::f32::consts::PI * i as f32 / size as f32;
                0.5 - 0.5 * phase.cos()
            })
            .collect();
        Self {
            size,
            hop,
            window,
            pending: Vec::with_capacity(size * 2),
            frame: vec![0.0; fft.len()],
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; fft.len() / 2 + 1],
            fft,
        }
    }

    /// Appends `samples` and calls `on_frame` with the power spectrum (`fft_size / 2 + 1` bins
    /// of squared magnitude) of every frame completed.
    pub(crate) fn push(&mut self, samples: &[f32], on_frame: &mut impl FnMut(&[f32])) {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= self.size {
            for ((dst, &s), &w) in self.frame[..self.size]
                .iter_mut()
                .zip(&self.pending[start..start + self.size])
                .zip(&self.window)
            {
                *dst = s * w;
            }
            // The transform uses its input as scratch: restore the zero padding every frame.
            self.frame[self.size..].fill(0.0);
            // Lengths come from the plan itself, so the transform cannot fail.
            if self
                .fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .is_ok()
            {
                for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                    *p = c.norm_sqr();
                }
                on_frame(&self.power);
            }
            start += self.hop;
        }
        self.pending.drain(..start.min(self.pending.len()));
    }
}

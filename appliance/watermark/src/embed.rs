//! Streaming embedder: STFT frames of each channel, every tile's bins scaled by 1 ± strength
//! (so the mark follows the music in time, frequency and channel), overlap-added back.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::Error;
use crate::code::{Payload, encode};
use crate::geometry::{BANDS, FRAMES_PER_ROW, Geometry, ROWS_PER_CYCLE, sqrt_hann};
use crate::key::{Layout, WatermarkKey};

/// Relative magnitude change of a band as loud as the frame's mean band: ≈ −21 dB under
/// the bins it rides on. Quieter bands get proportionally more (up to
/// [`MAX_BAND_STRENGTH_FACTOR`] times this), louder ones less, so that no band's mark is
/// louder than a mean band's would be: the detector weighs every band alike, while the
/// ear and the SNR are ruled by the loudest ones.
pub(crate) const DEFAULT_STRENGTH: f32 = 0.085;
/// Cap on the boost of quiet bands relative to the base strength.
const MAX_BAND_STRENGTH_FACTOR: f32 = 2.0;
/// Version 2: the least relative change any band with signal gets, as a share of the base
/// strength (0.235 × 0.085 = 0.02: a ±2 % amplitude change, about −34 dB under the band
/// itself). Without it a band that holds one loud partial, the only thing a pure tone or a
/// piano note has in the band, gets almost nothing.
const TONAL_FLOOR_FACTOR: f32 = 0.235;

/// How a mark is shaped. Both versions are read by [`crate::detect`]; only the embedder
/// chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MarkVersion {
    /// The first version: each band's change follows only its power relative to the
    /// frame's mean band. Kept so that copies can be reproduced exactly as earlier
    /// releases marked them.
    V1,
    /// The tonal version (default): the same tiles, signs and bands as `V1`, with a floor
    /// under each band's change so that a band holding one loud isolated partial (a piano
    /// note, a sung vowel) carries the mark too. A `V1` detector reads it as well.
    #[default]
    V2,
}

/// Embeds a watermark into interleaved f32 audio block by block, in bounded memory.
///
/// Output lags input by about one STFT window (≈ 23 ms); [`Embedder::finish`] flushes the
/// rest, so the marked stream has exactly as many samples as the input.
pub struct Embedder {
    sample_rate: u32,
    channels: usize,
    geometry: Geometry,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spectrum: Vec<Complex32>,
    mark_spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// Tile signs of one cycle, row-major, [`BANDS`] per row.
    signs: Vec<i8>,
    strength: f32,
    version: MarkVersion,
    /// Interleaved input not yet emitted; its first sample frame is `base`.
    pending: Vec<f32>,
    /// Mark accumulated per channel for the pending sample frames, interleaved.
    mark: Vec<f32>,
    base: u64,
    received: u64,
    next_frame: u64,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("strength", &self.strength)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    pub fn new(
        key: &WatermarkKey,
        payload: Payload,
        sample_rate: u32,
        channels: u16,
    ) -> Result<Self, Error> {
        Self::with_strength(key, payload, sample_rate, channels, DEFAULT_STRENGTH)
    }

    /// Like [`Embedder::new`] with a non-default base strength, in (0, 0.5]: the relative
    /// magnitude change of a band as loud as the frame's mean band (default 0.085).
    pub fn with_strength(
        key: &WatermarkKey,
        payload: Payload,
        sample_rate: u32,
        channels: u16,
        strength: f32,
    ) -> Result<Self, Error> {
        Self::with_version(
            key,
            payload,
            sample_rate,
            channels,
            strength,
            MarkVersion::default(),
        )
    }

    /// Like [`Embedder::with_strength`] with an explicit version, e.g. [`MarkVersion::V1`]
    /// to mark exactly as the first release did.
    pub fn with_version(
        key: &WatermarkKey,
        payload: Payload,
        sample_rate: u32,
        channels: u16,
        strength: f32,
        version: MarkVersion,
    ) -> Result<Self, Error> {
        if channels == 0 {
            return Err(Error::NoChannels);
        }
        if !(strength > 0.0 && strength <= 0.5) {
            return Err(Error::InvalidStrength(strength));
        }
        Geometry::check_rate(f64::from(sample_rate))?;
        let geometry = Geometry::new(f64::from(sample_rate))?;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(geometry.fft_len);
        let inverse = planner.plan_fft_inverse(geometry.fft_len);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let layout = Layout::new(key);
        Ok(Self {
            sample_rate,
            channels: usize::from(channels),
            window: sqrt_hann(geometry.window_len),
            time: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            mark_spectrum: forward.make_output_vec(),
            scratch: vec![Complex32::default(); scratch_len],
            forward,
            inverse,
            signs: layout.signs(&encode(key, payload)),
            strength,
            version,
            geometry,
            pending: Vec::new(),
            mark: Vec::new(),
            base: 0,
            received: 0,
            next_frame: 0,
        })
    }

    /// Feeds interleaved samples (whole sample frames) and appends every sample that is
    /// final to `output`.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), Error> {
        if !input.len().is_multiple_of(self.channels) {
            return Err(Error::PartialSampleFrame {
                samples: input.len(),
                channels: self.channels,
            });
        }
        self.pending.extend_from_slice(input);
        self.mark.resize(self.pending.len(), 0.0);
        self.received += (input.len() / self.channels) as u64;
        let window_len = self.geometry.window_len as u64;
        while self.frame_start(self.next_frame) + window_len <= self.received {
            self.mark_frame()?;
        }
        let ready = self.frame_start(self.next_frame);
        self.emit(ready, output);
        Ok(())
    }

    /// Marks what is left (frames running past the end see silence) and emits it.
    pub fn finish(mut self, output: &mut Vec<f32>) -> Result<(), Error> {
        while self.frame_start(self.next_frame) < self.received {
            self.mark_frame()?;
        }
        self.emit(self.received, output);
        Ok(())
    }

    fn frame_start(&self, frame: u64) -> u64 {
        Geometry::embed_frame_start(self.sample_rate, frame)
    }

    fn mark_frame(&mut self) -> Result<(), Error> {
        let frame = self.next_frame;
        self.next_frame += 1;
        let start = (self.frame_start(frame) - self.base) as usize;
        let row = (frame / FRAMES_PER_ROW as u64 % ROWS_PER_CYCLE as u64) as usize;
        let row_signs = &self.signs[row * BANDS..(row + 1) * BANDS];
        let available = self.pending.len() / self.channels;
        let window_len = self.geometry.window_len;
        let scale = self.strength / self.geometry.fft_len as f32;
        let floor = match self.version {
            MarkVersion::V1 => 0.0,
            MarkVersion::V2 => TONAL_FLOOR_FACTOR,
        };
        for channel in 0..self.channels {
            self.time.fill(0.0);
            let end = (start + window_len).min(available);
            for (n, index) in (start..end).enumerate() {
                self.time[n] = self.pending[index * self.channels + channel] * self.window[n];
            }
            self.forward
                .process_with_scratch(&mut self.time, &mut self.spectrum, &mut self.scratch)
                .map_err(|e| Error::Fft(e.to_string()))?;
            let first = self.geometry.first_bin;
            let bins = &self.spectrum[first..][..self.geometry.band_of_bin.len()];
            let mut band_power = [0.0f32; BANDS];
            for (bin, &band) in bins.iter().zip(&self.geometry.band_of_bin) {
                band_power[usize::from(band)] += bin.norm_sqr();
            }
            let mean_power = band_power.iter().sum::<f32>() / BANDS as f32;
            let band_gain: [f32; BANDS] = std::array::from_fn(|band| {
                let relative = if band_power[band] > 0.0 {
                    (mean_power / band_power[band])
                        .sqrt()
                        .clamp(floor, MAX_BAND_STRENGTH_FACTOR)
                } else {
                    0.0
                };
                scale * relative * f32::from(row_signs[band])
            });
            self.mark_spectrum.fill(Complex32::default());
            for ((out, bin), &band) in self.mark_spectrum[first..]
                .iter_mut()
                .zip(bins)
                .zip(&self.geometry.band_of_bin)
            {
                *out = bin * band_gain[usize::from(band)];
            }
            self.inverse
                .process_with_scratch(&mut self.mark_spectrum, &mut self.time, &mut self.scratch)
                .map_err(|e| Error::Fft(e.to_string()))?;
            for (n, index) in (start..end).enumerate() {
                self.mark[index * self.channels + channel] += self.time[n] * self.window[n];
            }
        }
        Ok(())
    }

    /// Emits sample frames before absolute index `until`: input plus mark, never pushing an
    /// in-range sample past full scale.
    fn emit(&mut self, until: u64, output: &mut Vec<f32>) {
        let count = ((until.saturating_sub(self.base)) as usize) * self.channels;
        let count = count.min(self.pending.len());
        output.extend(
            self.pending[..count]
                .iter()
                .zip(&self.mark[..count])
                .map(|(&x, &m)| {
                    let y = x + m;
                    if x.abs() <= 1.0 {
                        y.clamp(-1.0, 1.0)
                    } else {
                        y
                    }
                }),
        );
        self.pending.drain(..count);
        self.mark.drain(..count);
        self.base += (count / self.channels) as u64;
    }
}

/// Marks a whole interleaved signal in one call (the streaming [`Embedder`] underneath).
pub fn embed(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    key: &WatermarkKey,
    payload: Payload,
) -> Result<Vec<f32>, Error> {
    // Blocks keep the embedder's working buffers small and in cache.
    const BLOCK_FRAMES: usize = 16_384;
    let mut embedder = Embedder::new(key, payload, sample_rate, channels)?;
    let mut output = Vec::with_capacity(samples.len());
    for block in samples.chunks(BLOCK_FRAMES * usize::from(channels)) {
        embedder.process(block, &mut output)?;
    }
    embedder.finish(&mut output)?;
    Ok(output)
}

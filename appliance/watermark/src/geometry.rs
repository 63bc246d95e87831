//! The watermark's time–frequency grid, defined in seconds and hertz so that every sample
//! rate (and every playback speed the detector tries) maps onto the same tiles.
//!
//! The mark is a grid of tiles: a tile row is two STFT frames (1 024 samples at 44.1 kHz,
//! about 23 ms) and a band is 86 Hz wide; bands cover 861 Hz – 5.2 kHz, where every codec
//! we care about keeps the signal and music has energy to hide the mark under.

use crate::Error;

/// The rate the grid is defined at; other rates scale the hop, not the grid.
const REFERENCE_RATE: u64 = 44_100;
/// STFT hop at the reference rate.
const REFERENCE_HOP: u64 = 512;
/// STFT frames per tile row.
pub(crate) const FRAMES_PER_ROW: usize = 2;
/// Lowest band edge: bin 20 of a 1 024-point FFT at 44.1 kHz.
const FIRST_BAND_HZ: f64 = 20.0 * 44_100.0 / 1_024.0;
/// Two bins of a 1 024-point FFT at 44.1 kHz.
const BAND_WIDTH_HZ: f64 = 2.0 * 44_100.0 / 1_024.0;
/// Bands per tile row.
pub(crate) const BANDS: usize = 50;
/// Tile rows per watermark cycle (about 2.97 s); the mark repeats every cycle.
pub(crate) const ROWS_PER_CYCLE: usize = 128;
/// Tiles per cycle.
pub(crate) const TILES_PER_CYCLE: usize = ROWS_PER_CYCLE * BANDS;

/// Sample rates callers may use: the top band must sit well below Nyquist.
const MIN_RATE: f64 = 16_000.0;
const MAX_RATE: f64 = 400_000.0;
/// The detector's speed search assumes rates up to this much beyond the caller's.
const SPEED_MARGIN: f64 = 1.05;

/// STFT frame layout for one (possibly assumed) sample rate.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    /// Hop between frames in samples (fractional when the rate is not a multiple of 44.1 kHz).
    pub hop: f64,
    /// Window length in samples: two hops.
    pub window_len: usize,
    /// FFT length: the window zero-padded to a size the FFT handles fast.
    pub fft_len: usize,
    /// First FFT bin inside the band range.
    pub first_bin: usize,
    /// Band of each bin from `first_bin` on, up to the last bin in range.
    pub band_of_bin: Vec<u8>,
}

impl Geometry {
    /// Checks a caller's sample rate.
    pub(crate) fn check_rate(sample_rate: f64) -> Result<(), Error> {
        if (MIN_RATE..=MAX_RATE).contains(&sample_rate) {
            Ok(())
        } else {
            Err(Error::UnsupportedSampleRate(sample_rate))
        }
    }

    /// Frame layout at a caller's rate, or at a rate the speed search assumes near one.
    pub(crate) fn new(sample_rate: f64) -> Result<Self, Error> {
        if !(MIN_RATE / SPEED_MARGIN..=MAX_RATE * SPEED_MARGIN).contains(&sample_rate) {
            return Err(Error::UnsupportedSampleRate(sample_rate));
        }
        let hop = REFERENCE_HOP as f64 * sample_rate / REFERENCE_RATE as f64;
        let window_len = (2.0 * hop).round() as usize;
        let fft_len = fast_fft_len(window_len);
        let bin_hz = sample_rate / fft_len as f64;
        let first_bin = (FIRST_BAND_HZ / bin_hz).ceil() as usize;
        let mut band_of_bin = Vec::new();
        for bin in first_bin.. {
            let band = ((bin as f64 * bin_hz - FIRST_BAND_HZ) / BAND_WIDTH_HZ).floor() as usize;
            if band >= BANDS {
                break;
            }
            band_of_bin.push(band as u8);
        }
        Ok(Self {
            hop,
            window_len,
            fft_len,
            first_bin,
            band_of_bin,
        })
    }

    /// Start sample of frame `index` of the embedding grid, exact for integer rates.
    pub(crate) fn embed_frame_start(sample_rate: u32, index: u64) -> u64 {
        index * REFERENCE_HOP * u64::from(sample_rate) / REFERENCE_RATE
    }
}

/// Square-root periodic Hann window: analysis and synthesis together give a Hann window,
/// whose copies at half-window hops sum to one.
pub(crate) fn sqrt_hann(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let phase = std::f64::consts::PI * i as f64 / len as f64;
            phase.sin() as f32
        })
        .collect()
}

/// Smallest even length ≥ `len` whose prime factors are 2, 3, 5 or 7.
fn fast_fft_len(len: usize) -> usize {
    let mut candidate = len + len % 2;
    loop {
        let mut rest = candidate;
        for factor in [2, 3, 5, 7] {
            while rest.is_multiple_of(factor) {
                rest /= factor;
            }
        }
        if rest == 1 {
            return candidate;
        }
        candidate += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_rate_is_the_plain_grid() -> Result<(), Error> {
        let g = Geometry::new(44_100.0)?;
        assert_eq!((g.window_len, g.fft_len, g.first_bin), (1024, 1024, 20));
        assert_eq!(g.band_of_bin.len(), 2 * BANDS);
        assert_eq!(Geometry::embed_frame_start(48_000, 441), 512 * 480);
        Ok(())
    }

    #[test]
    fn every_band_has_bins_at_common_rates() -> Result<(), Error> {
        for rate in [32_000.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0] {
            let g = Geometry::new(rate)?;
            for band in 0..BANDS as u8 {
                assert!(g.band_of_bin.contains(&band), "rate {rate} band {band}");
            }
        }
        Ok(())
    }
}

//! Loudness per EBU R128 / ITU-R BS.1770-4: gated integrated loudness, loudness range
//! (EBU Tech 3342) and true peak (4× oversampled), measured by the `ebur128` crate.
//!
//! The meter keeps every 100 ms block's energy for exact gating: 80 bytes a second of audio,
//! bounded by the analysis' maximum duration.

use ebur128::{EbuR128, Mode};
use serde::{Deserialize, Serialize};

use crate::error::AnalysisError;

/// Loudness figures; `None` where the signal is too short or too quiet to gate (silence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated loudness, LUFS.
    pub integrated_lufs: Option<f64>,
    /// Loudness range, LU.
    pub range_lu: Option<f64>,
    /// Highest true peak over all channels, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Highest sample peak over all channels, dBFS.
    pub sample_peak_dbfs: Option<f64>,
}

pub(crate) struct LoudnessMeter {
    meter: EbuR128,
    channels: u32,
}

impl std::fmt::Debug for LoudnessMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoudnessMeter")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

fn failed(e: ebur128::Error) -> AnalysisError {
    AnalysisError::Unsupported(format!("loudness meter: {e}"))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some((v * 100.0).round() / 100.0)
}

fn decibels(amplitude: f64) -> Option<f64> {
    (amplitude > 0.0)
        .then(|| 20.0 * amplitude.log10())
        .and_then(finite)
}

impl LoudnessMeter {
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Result<Self, AnalysisError> {
        let channels = u32::try_from(channels)
            .map_err(|_| AnalysisError::Unsupported("too many channels".into()))?;
        let meter = EbuR128::new(
            channels,
            sample_rate,
            Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK,
        )
        .map_err(failed)?;
        Ok(Self { meter, channels })
    }

    pub(crate) fn push(&mut self, interleaved: &[f32]) -> Result<(), AnalysisError> {
        self.meter.add_frames_f32(interleaved).map_err(failed)
    }

    pub(crate) fn finish(&self) -> Loudness {
        let peak = |f: &dyn Fn(u32) -> Result<f64, ebur128::Error>| {
            (0..self.channels)
                .filter_map(|c| f(c).ok())
                .fold(0.0f64, f64::max)
        };
        Loudness {
            integrated_lufs: self.meter.loudness_global().ok().and_then(finite),
            range_lu: self.meter.loudness_range().ok().and_then(finite),
            true_peak_dbtp: decibels(peak(&|c| self.meter.true_peak(c))),
            sample_peak_dbfs: decibels(peak(&|c| self.meter.sample_peak(c))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stereo 1 kHz sine at 48 kHz, in segments of (seconds, dBFS peak level), as in
    /// EBU Tech 3341 / 3342.
    fn tone(segments: &[(f64, f64)]) -> Vec<f32> {
        let rate = 48_000.0;
        let mut out = Vec::new();
        let mut n = 0u64;
        for &(secs, dbfs) in segments {
            let amp = 10f64.powf(dbfs / 20.0);
            for _ in 0..(secs * rate) as u64 {
                let s =
                    (amp * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / rate).sin()) as f32;
                out.push(s);
                out.push(s);
                n += 1;
            }
        }
        out
    }

    fn measure(segments: &[(f64, f64)]) -> Loudness {
        let mut m = LoudnessMeter::new(2, 48_000).unwrap();
        for chunk in tone(segments).chunks(4096) {
            m.push(chunk).unwrap();
        }
        m.finish()
    }

    #[test]
    fn tech_3341_case_1_and_3() {
        let l = measure(&[(20.0, -23.0)]);
        assert!((l.integrated_lufs.unwrap() + 23.0).abs() <= 0.1, "{l:?}");
        let l = measure(&[(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)]);
        assert!((l.integrated_lufs.unwrap() + 23.0).abs() <= 0.1, "{l:?}");
        assert!((l.true_peak_dbtp.unwrap() + 23.0).abs() <= 0.2, "{l:?}");
    }

    #[test]
    fn tech_3342_case_1() {
        let l = measure(&[(20.0, -20.0), (20.0, -30.0)]);
        assert!((l.range_lu.unwrap() - 10.0).abs() <= 1.0, "{l:?}");
    }

    #[test]
    fn silence_has_no_loudness() {
        let l = measure(&[(5.0, f64::NEG_INFINITY)]);
        assert_eq!(l.integrated_lufs, None);
        assert_eq!(l.true_peak_dbtp, None);
    }
}

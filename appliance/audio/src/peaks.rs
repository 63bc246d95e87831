//! Waveform peaks in BBC audiowaveform's formats (version 2), which peaks.js, waveform-data.js
//! and wavesurfer.js read as they are.
//!
//! * Binary `.dat`: a 24-byte little-endian header — version `i32` = 2, flags `u32` (bit 0 set
//!   for 8-bit data), sample rate `i32`, samples per pixel `i32`, length `u32` (pixels),
//!   channels `i32` — then, per pixel and per channel, a min and a max (`i8` or `i16` LE).
//! * JSON: `{"version":2,"channels":C,"sample_rate":R,"samples_per_pixel":S,"bits":B,
//!   "length":N,"data":[min,max,...]}` with the same ordering as the binary data.
//!
//! Samples are scaled to 16 bits (`-32768..=32767`); 8-bit data keeps the high byte, as
//! audiowaveform does.

use serde::{Deserialize, Serialize};

use crate::error::AnalysisError;

/// Sample width of the peak data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeakBits {
    Eight,
    Sixteen,
}

impl PeakBits {
    pub fn count(self) -> u32 {
        match self {
            Self::Eight => 8,
            Self::Sixteen => 16,
        }
    }
}

/// Which zoom levels to compute, and whether to keep channels apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeaksOptions {
    /// Samples per pixel of each level, ascending; each must be a multiple of the first so the
    /// coarser levels are merged from the finest one rather than recomputed from samples.
    pub zooms: Vec<u32>,
    /// One min/max pair per channel (audiowaveform's `--split-channels`) instead of a mono mix.
    pub split_channels: bool,
}

impl Default for PeaksOptions {
    fn default() -> Self {
        Self {
            zooms: vec![256, 1024, 4096],
            split_channels: false,
        }
    }
}

impl PeaksOptions {
    pub(crate) fn validate(&self) -> Result<(), AnalysisError> {
        let invalid = |m: &str| Err(AnalysisError::InvalidOptions(m.into()));
        let Some(&finest) = self.zooms.first() else {
            return invalid("at least one peaks zoom level is needed");
        };
        if finest < 2 || self.zooms.iter().any(|&z| z > 1 << 24) {
            return invalid("peaks zoom levels must lie in 2..=16777216 samples per pixel");
        }
        if self.zooms.windows(2).any(|w| w[1] <= w[0]) || self.zooms.iter().any(|z| z % finest != 0)
        {
            return invalid("peaks zoom levels must ascend, each a multiple of the first");
        }
        Ok(())
    }
}

/// Min/max pairs at one zoom level, 16-bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeakLevel {
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    pub channels: u32,
    /// Per pixel, per channel: min then max.
    pub data: Vec<i16>,
}

impl PeakLevel {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.data.len() / (2 * self.channels.max(1) as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn values(&self, bits: PeakBits) -> impl Iterator<Item = i16> + '_ {
        self.data.iter().map(move |&v| match bits {
            PeakBits::Eight => v >> 8,
            PeakBits::Sixteen => v,
        })
    }

    /// audiowaveform's binary format, version 2.
    pub fn to_dat(&self, bits: PeakBits) -> Vec<u8> {
        let width = if bits == PeakBits::Eight { 1 } else { 2 };
        let mut out = Vec::with_capacity(24 + self.data.len() * width);
        out.extend_from_slice(&2i32.to_le_bytes());
        out.extend_from_slice(&u32::from(bits == PeakBits::Eight).to_le_bytes());
        out.extend_from_slice(&clamp_i32(self.sample_rate).to_le_bytes());
        out.extend_from_slice(&clamp_i32(self.samples_per_pixel).to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&clamp_i32(self.channels).to_le_bytes());
        for v in self.values(bits) {
            match bits {
                PeakBits::Eight => out.push(v.to_le_bytes()[0]),
                PeakBits::Sixteen => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
        out
    }

    /// audiowaveform's JSON format, version 2, with its key order and no whitespace.
    pub fn to_json(&self, bits: PeakBits) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(128 + self.data.len() * 6);
        let _ = write!(
            out,
            "{{\"version\":2,\"channels\":{},\"sample_rate\":{},\"samples_per_pixel\":{},\"bits\":{},\"length\":{},\"data\":[",
            self.channels,
            self.sample_rate,
            self.samples_per_pixel,
            bits.count(),
            self.len()
        );
        for (i, v) in self.values(bits).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{v}");
        }
        out.push_str("]}");
        out
    }

    /// Merges groups of `factor` pixels into one.
    fn coarsen(&self, factor: usize) -> Self {
        let channels = self.channels as usize;
        let stride = 2 * channels;
        let mut data = Vec::with_capacity(self.data.len() / factor + stride);
        for group in self.data.chunks(stride * factor) {
            for c in 0..channels {
                let mut min = i16::MAX;
                let mut max = i16::MIN;
                for pixel in group.chunks_exact(stride) {
                    min = min.min(pixel[2 * c]);
                    max = max.max(pixel[2 * c + 1]);
                }
                data.push(min);
                data.push(max);
            }
        }
        Self {
            sample_rate: self.sample_rate,
            samples_per_pixel: self.samples_per_pixel * factor as u32,
            channels: self.channels,
            data,
        }
    }
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Peaks at every requested zoom level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waveform {
    pub levels: Vec<PeakLevel>,
}

impl Waveform {
    /// The level with exactly `samples_per_pixel`, if it was computed.
    pub fn level(&self, samples_per_pixel: u32) -> Option<&PeakLevel> {
        self.levels
            .iter()
            .find(|l| l.samples_per_pixel == samples_per_pixel)
    }
}

/// Accumulates the finest level sample by sample; coarser ones are merged at the end.
#[derive(Debug)]
pub(crate) struct PeaksBuilder {
    options: PeaksOptions,
    finest: PeakLevel,
    /// Input channels; output has one channel unless split.
    channels: usize,
    in_pixel: u32,
    current: Vec<(f32, f32)>,
}

impl PeaksBuilder {
    pub(crate) fn new(options: &PeaksOptions, sample_rate: u32, channels: usize) -> Self {
        let out_channels = if options.split_channels { channels } else { 1 };
        Self {
            finest: PeakLevel {
                sample_rate,
                samples_per_pixel: options.zooms.first().copied().unwrap_or(256),
                channels: out_channels as u32,
                data: Vec::new(),
            },
            options: options.clone(),
            channels,
            in_pixel: 0,
            current: vec![(f32::INFINITY, f32::NEG_INFINITY); out_channels],
        }
    }

    pub(crate) fn push(&mut self, interleaved: &[f32]) {
        let spp = self.finest.samples_per_pixel;
        let mut frames = interleaved.chunks_exact(self.channels);
        loop {
            // Take as many frames as fit in the current pixel, then close it.
            let room = (spp - self.in_pixel) as usize;
            let mut taken = 0;
            if self.options.split_channels {
                for frame in frames.by_ref().take(room) {
                    for (acc, &s) in self.current.iter_mut().zip(frame) {
                        acc.0 = acc.0.min(s);
                        acc.1 = acc.1.max(s);
                    }
                    taken += 1;
                }
            } else {
                let scale = 1.0 / self.channels as f32;
                let acc = &mut self.current[0];
                for frame in frames.by_ref().take(room) {
                    let s = frame.iter().sum::<f32>() * scale;
                    acc.0 = acc.0.min(s);
                    acc.1 = acc.1.max(s);
                    taken += 1;
                }
            }
            self.in_pixel += taken as u32;
            if self.in_pixel < spp {
                return;
            }
            self.close_pixel();
        }
    }

    fn close_pixel(&mut self) {
        for acc in &mut self.current {
            self.finest.data.push(to_i16(acc.0));
            self.finest.data.push(to_i16(acc.1));
            *acc = (f32::INFINITY, f32::NEG_INFINITY);
        }
        self.in_pixel = 0;
    }

    pub(crate) fn finish(mut self) -> Waveform {
        if self.in_pixel > 0 {
            self.close_pixel();
        }
        let finest_spp = self.finest.samples_per_pixel;
        let mut levels: Vec<PeakLevel> = self
            .options
            .zooms
            .iter()
            .skip(1)
            .map(|&z| self.finest.coarsen((z / finest_spp) as usize))
            .collect();
        levels.insert(0, self.finest);
        Waveform { levels }
    }
}

fn to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn level() -> PeakLevel {
        PeakLevel {
            sample_rate: 44_100,
            samples_per_pixel: 256,
            channels: 1,
            data: vec![-32768, 32767, -256, 511, 0, 0],
        }
    }

    #[test]
    fn dat_v2_header_and_data_are_byte_exact() {
        let dat = level().to_dat(PeakBits::Sixteen);
        let mut want = Vec::new();
        for word in [2u32, 0, 44_100, 256, 3, 1] {
            want.extend_from_slice(&word.to_le_bytes());
        }
        for v in [-32768i16, 32767, -256, 511, 0, 0] {
            want.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(dat, want);

        let dat8 = level().to_dat(PeakBits::Eight);
        assert_eq!(&dat8[4..8], &1u32.to_le_bytes());
        assert_eq!(&dat8[24..], &[0x80, 0x7F, 0xFF, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn json_v2_matches_audiowaveform_layout() {
        assert_eq!(
            level().to_json(PeakBits::Eight),
            r#"{"version":2,"channels":1,"sample_rate":44100,"samples_per_pixel":256,"bits":8,"length":3,"data":[-128,127,-1,1,0,0]}"#
        );
    }

    #[test]
    fn builder_mixes_down_and_coarsens() {
        let options = PeaksOptions {
            zooms: vec![2, 4],
            split_channels: false,
        };
        let mut b = PeaksBuilder::new(&options, 8_000, 2);
        // Five stereo frames: mono mix is 0.5, -0.5, 0.25, 0, 1.0.
        b.push(&[1.0, 0.0, -1.0, 0.0, 0.5, 0.0]);
        b.push(&[0.0, 0.0, 1.0, 1.0]);
        let w = b.finish();
        assert_eq!(w.levels[0].data, vec![-16384, 16384, 0, 8192, 32767, 32767]);
        assert_eq!(w.levels[1].data, vec![-16384, 16384, 32767, 32767]);
        assert_eq!(w.levels[1].samples_per_pixel, 4);
    }

    #[test]
    fn split_channels_keep_each_channel() {
        let options = PeaksOptions {
            zooms: vec![2],
            split_channels: true,
        };
        let mut b = PeaksBuilder::new(&options, 8_000, 2);
        b.push(&[0.5, -0.5, 0.25, 0.0]);
        let w = b.finish();
        assert_eq!(w.levels[0].channels, 2);
        assert_eq!(w.levels[0].data, vec![8192, 16384, -16384, 0]);
    }

    #[test]
    fn rejects_bad_zooms() {
        for zooms in [vec![], vec![256, 300], vec![512, 256], vec![1]] {
            let o = PeaksOptions {
                zooms,
                split_channels: false,
            };
            assert!(o.validate().is_err());
        }
    }
}

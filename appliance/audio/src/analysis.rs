//! The one-pass analysis: decode once, feed peaks, loudness, tempo and key from the same blocks.

use std::io::{Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::decode::{AudioDecoder, Block, ChannelRole, DecodeLimits};
use crate::error::AnalysisError;
use crate::key::{Chromagram, Key};
use crate::loudness::{Loudness, LoudnessMeter};
use crate::peaks::{PeaksBuilder, PeaksOptions, Waveform};
use crate::probe::Container;
use crate::resample::MonoResampler;
use crate::tempo::{OnsetEnvelope, Tempo};

/// What to compute and how far to go.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Longest audio accepted; longer streams fail with [`AnalysisError::TooLong`] as soon as
    /// the decoder passes this point. Also bounds the analysis' memory.
    pub max_duration: Duration,
    /// Give up with [`AnalysisError::DeadlineExceeded`] after this instant.
    pub deadline: Option<Instant>,
    /// Give up with [`AnalysisError::Cancelled`] once this flag is set.
    pub cancel: Option<Arc<AtomicBool>>,
    pub peaks: PeaksOptions,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(3 * 60 * 60),
            deadline: None,
            cancel: None,
            peaks: PeaksOptions::default(),
        }
    }
}

impl AnalysisOptions {
    pub(crate) fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_duration: Some(self.max_duration),
            deadline: self.deadline,
            cancel: self.cancel.clone(),
        }
    }
}

/// Everything the vault shows about a track.
///
/// Serialises to JSON without the waveform, which is large and has formats of its own: take it
/// from [`Analysis::waveform`] with [`crate::PeakLevel::to_json`] or [`crate::PeakLevel::to_dat`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Codec short name, e.g. `flac`, `mp3`, `aac`, `alac`, `vorbis`, `opus`, `pcm_s24le`.
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// Decoded length in seconds.
    pub duration_secs: f64,
    /// `None` for clips under 4 s or without onsets.
    pub tempo: Option<Tempo>,
    /// `None` for silence or unpitched audio.
    pub key: Option<Key>,
    pub loudness: Loudness,
    #[serde(skip)]
    pub waveform: Waveform,
}

/// Accumulates every analysis from interleaved blocks.
#[derive(Debug)]
struct Analyzer {
    sample_rate: u32,
    channels: usize,
    frames: u64,
    peaks: PeaksBuilder,
    loudness: LoudnessMeter,
    resampler: MonoResampler,
    mono: Vec<f32>,
    onsets: OnsetEnvelope,
    chroma: Chromagram,
}

impl Analyzer {
    fn new(
        sample_rate: u32,
        roles: &[ChannelRole],
        options: &AnalysisOptions,
    ) -> Result<Self, AnalysisError> {
        let channels = roles.len();
        Ok(Self {
            sample_rate,
            channels,
            frames: 0,
            peaks: PeaksBuilder::new(&options.peaks, sample_rate, channels),
            loudness: LoudnessMeter::new(roles, sample_rate)?,
            resampler: MonoResampler::new(sample_rate)?,
            mono: Vec::new(),
            onsets: OnsetEnvelope::new(),
            chroma: Chromagram::new(),
        })
    }

    fn push(&mut self, interleaved: &[f32]) -> Result<(), AnalysisError> {
        self.frames += (interleaved.len() / self.channels) as u64;
        self.peaks.push(interleaved);
        self.loudness.push(interleaved);
        mix_to_mono(interleaved, self.channels, &mut self.mono);
        let Self {
            resampler,
            mono,
            onsets,
            chroma,
            ..
        } = self;
        resampler.push(mono, &mut |chunk| {
            onsets.push(chunk);
            chroma.push(chunk);
        })
    }

    fn finish(self, codec: String) -> Result<Analysis, AnalysisError> {
        let Self {
            mut onsets,
            mut chroma,
            ..
        } = self;
        self.resampler.finish(&mut |chunk| {
            onsets.push(chunk);
            chroma.push(chunk);
        })?;
        Ok(Analysis {
            codec,
            sample_rate: self.sample_rate,
            channels: self.channels as u16,
            duration_secs: self.frames as f64 / f64::from(self.sample_rate),
            tempo: onsets.finish(),
            key: chroma.finish(),
            loudness: self.loudness.finish(),
            waveform: self.peaks.finish(),
        })
    }
}

pub(crate) fn mix_to_mono(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) {
    mono.clear();
    if channels == 1 {
        mono.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    mono.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

/// Decodes `source` (`len` bytes, sniffed as `container` by [`Container::sniff`]) once and
/// returns its tempo, key, loudness, duration and waveform peaks.
///
/// Runs for roughly a second per four minutes of audio on one core: call it off the request
/// path (e.g. `tokio::task::spawn_blocking`). Hostile input fails with an error, never a panic
/// or a hang, given a deadline or a cancel flag in `options`.
pub fn analyze<R>(
    source: R,
    len: u64,
    container: Container,
    options: &AnalysisOptions,
) -> Result<Analysis, AnalysisError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    options.peaks.validate()?;
    catch_unwind(AssertUnwindSafe(|| {
        analyze_stream(source, len, container, options)
    }))
    .unwrap_or_else(|_| {
        Err(AnalysisError::Corrupt(
            "the analysis failed on this stream".into(),
        ))
    })
}

fn analyze_stream<R>(
    source: R,
    len: u64,
    container: Container,
    options: &AnalysisOptions,
) -> Result<Analysis, AnalysisError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let mut decoder = AudioDecoder::open(source, len, container, options.limits())?;
    let mut analyzer: Option<Analyzer> = None;
    while let Some(Block {
        samples,
        sample_rate,
        roles,
        ..
    }) = decoder.next_block()?
    {
        let analyzer = match &mut analyzer {
            Some(a) => a,
            None => analyzer.insert(Analyzer::new(sample_rate, roles, options)?),
        };
        analyzer.push(samples)?;
    }
    let codec = decoder.codec().to_owned();
    analyzer
        .ok_or_else(|| AnalysisError::Corrupt("the stream holds no audio".into()))?
        .finish(codec)
}

/// [`analyze`] for samples already in memory: `interleaved` frames of `channels` channels.
pub fn analyze_samples(
    interleaved: &[f32],
    channels: usize,
    sample_rate: u32,
    options: &AnalysisOptions,
) -> Result<Analysis, AnalysisError> {
    options.peaks.validate()?;
    if channels == 0 || !interleaved.len().is_multiple_of(channels) {
        return Err(AnalysisError::InvalidOptions(
            "the sample count must be a multiple of the channel count".into(),
        ));
    }
    let limit = options.max_duration.as_secs_f64() * f64::from(sample_rate);
    if (interleaved.len() / channels) as f64 > limit {
        return Err(AnalysisError::TooLong {
            limit_secs: options.max_duration.as_secs_f64(),
        });
    }
    let roles = ChannelRole::guess(channels);
    let mut analyzer = Analyzer::new(sample_rate, &roles, options)?;
    for block in interleaved.chunks(4096 * channels) {
        analyzer.push(block)?;
    }
    analyzer.finish("pcm_f32".to_owned())
}

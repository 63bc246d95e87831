//! Separating a file: decode (any format the audio engine reads) as a stream, separate, and
//! write the four stems as 32-bit float WAV files at the input's rate, channels and length.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use studiovault_audio::{AnalysisError, AudioDecoder, Container, DecodeLimits, probe};

use crate::model::Model;
use crate::separate::{Separator, SeparatorOptions, StemBlock};
use crate::{STEM_NAMES, StemsError};

/// What a finished separation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SeparationReport {
    pub sample_rate: u32,
    pub channels: usize,
    pub frames: u64,
    /// The stems' WAV files in [`STEM_NAMES`] order.
    pub files: Vec<PathBuf>,
    /// Wall-clock seconds the separation took.
    pub elapsed_secs: f64,
}

const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
/// RIFF header + fmt (18) + fact + data headers.
const HEADER_BYTES: u64 = 12 + 8 + 18 + 12 + 8;

/// A streaming writer of 32-bit IEEE float WAV; the sizes are patched in by [`finish`].
///
/// [`finish`]: FloatWavWriter::finish
#[derive(Debug)]
pub struct FloatWavWriter<W: Write + Seek> {
    out: W,
    channels: u16,
    data_bytes: u64,
    bytes: Vec<u8>,
}

impl<W: Write + Seek> FloatWavWriter<W> {
    pub fn new(mut out: W, sample_rate: u32, channels: u16) -> Result<Self, StemsError> {
        let block = u32::from(channels) * 4;
        let mut h = Vec::with_capacity(HEADER_BYTES as usize);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&18u32.to_le_bytes());
        h.extend_from_slice(&WAVE_FORMAT_IEEE_FLOAT.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&sample_rate.to_le_bytes());
        h.extend_from_slice(&(sample_rate.saturating_mul(block)).to_le_bytes());
        h.extend_from_slice(&(block as u16).to_le_bytes());
        h.extend_from_slice(&32u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        // Non-PCM formats carry a fact chunk with the frame count.
        h.extend_from_slice(b"fact");
        h.extend_from_slice(&4u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0u32.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            out,
            channels: channels.max(1),
            data_bytes: 0,
            bytes: Vec::new(),
        })
    }

    /// Appends interleaved samples.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), StemsError> {
        self.bytes.clear();
        self.bytes
            .extend(samples.iter().flat_map(|v| v.to_le_bytes()));
        self.data_bytes += self.bytes.len() as u64;
        if HEADER_BYTES + self.data_bytes > u64::from(u32::MAX) {
            return Err(StemsError::InvalidInput(
                "the stem is too long for a WAV file (4 GiB)".into(),
            ));
        }
        self.out.write_all(&self.bytes)?;
        Ok(())
    }

    /// Patches the RIFF, fact and data sizes and answers the writer.
    pub fn finish(mut self) -> Result<W, StemsError> {
        let riff = (HEADER_BYTES - 8 + self.data_bytes) as u32;
        let frames = (self.data_bytes / (u64::from(self.channels) * 4)) as u32;
        let data = self.data_bytes as u32;
        self.out.seek(SeekFrom::Start(4))?;
        self.out.write_all(&riff.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(12 + 8 + 18 + 8))?;
        self.out.write_all(&frames.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(HEADER_BYTES - 4))?;
        self.out.write_all(&data.to_le_bytes())?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A float WAV read whole: interleaved samples, channels, sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatWav {
    pub samples: Vec<f32>,
    pub channels: usize,
    pub sample_rate: u32,
}

/// Reads a 32-bit IEEE float WAV (as written by [`separate_file`]) whole; for tests and tools.
pub fn read_float_wav(path: &Path) -> Result<FloatWav, StemsError> {
    let bytes = std::fs::read(path)?;
    let bad = |m: &str| StemsError::InvalidInput(format!("{}: {m}", path.display()));
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file"));
    }
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = bytes
            .get(pos + 8..pos + 8 + size)
            .ok_or_else(|| bad("truncated chunk"))?;
        if id == b"fmt " {
            if body.len() < 16 {
                return Err(bad("short fmt chunk"));
            }
            let tag = u16::from_le_bytes([body[0], body[1]]);
            let channels = u16::from_le_bytes([body[2], body[3]]) as usize;
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            if tag != WAVE_FORMAT_IEEE_FLOAT || bits != 32 || channels == 0 {
                return Err(bad("not 32-bit float"));
            }
            fmt = Some((channels, rate));
        } else if id == b"data" {
            let (channels, sample_rate) = fmt.ok_or_else(|| bad("data before fmt"))?;
            let samples = body
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            return Ok(FloatWav {
                samples,
                channels,
                sample_rate,
            });
        }
        pos += 8 + size + (size & 1);
    }
    Err(bad("no data chunk"))
}

/// Separates `input` into `out_dir/{vocals,drums,bass,other}.wav`.
///
/// `progress` gets the fraction of frames done (0..1, from the duration the container
/// declares; 1 at the end); `cancel` is checked between decoded
/// blocks and answers [`StemsError::Cancelled`], leaving no partial stems behind.
pub fn separate_file(
    model: &Model,
    input: &Path,
    out_dir: &Path,
    options: SeparatorOptions,
    progress: &mut dyn FnMut(f32),
    cancel: &AtomicBool,
) -> Result<SeparationReport, StemsError> {
    let started = Instant::now();
    let open = || -> Result<(File, u64, Container), StemsError> {
        let mut f = File::open(input)?;
        let len = f.metadata()?.len();
        let mut head = [0u8; 16];
        let n = f.read(&mut head)?;
        f.seek(SeekFrom::Start(0))?;
        let container = Container::sniff(&head[..n]).ok_or(AnalysisError::NotAudio)?;
        Ok((f, len, container))
    };
    let (f, len, container) = open()?;
    let expected_frames = probe(f, len, container)
        .ok()
        .and_then(|i| Some(i.duration_secs? * f64::from(i.sample_rate?)));
    let (f, len, container) = open()?;
    let mut decoder = AudioDecoder::open(f, len, container, DecodeLimits::default())?;

    std::fs::create_dir_all(out_dir)?;
    let finals: Vec<PathBuf> = STEM_NAMES
        .iter()
        .map(|n| out_dir.join(format!("{n}.wav")))
        .collect();
    let partials: Vec<PathBuf> = STEM_NAMES
        .iter()
        .map(|n| out_dir.join(format!(".{n}.wav.partial")))
        .collect();
    let result = (|| -> Result<(u32, usize, u64), StemsError> {
        let mut writers: Vec<FloatWavWriter<BufWriter<File>>> = Vec::new();
        let mut sep: Option<Separator<'_>> = None;
        let mut format = (0u32, 0usize);
        let mut frames_out = 0u64;
        let sink = |block: StemBlock<'_>,
                    writers: &mut Vec<FloatWavWriter<BufWriter<File>>>|
         -> Result<(), StemsError> {
            for (w, s) in writers.iter_mut().zip(block.stems()) {
                w.write(s)?;
            }
            Ok(())
        };
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(StemsError::Cancelled);
            }
            let Some(block) = decoder.next_block()? else {
                break;
            };
            if sep.is_none() {
                if block.channels == 0 || block.channels > usize::from(u16::MAX) {
                    return Err(StemsError::InvalidInput("no channels".into()));
                }
                format = (block.sample_rate, block.channels);
                for p in &partials {
                    writers.push(FloatWavWriter::new(
                        BufWriter::with_capacity(1 << 20, File::create(p)?),
                        block.sample_rate,
                        block.channels as u16,
                    )?);
                }
                sep = Some(Separator::new(
                    model,
                    block.sample_rate,
                    block.channels,
                    options,
                )?);
            }
            if (block.sample_rate, block.channels) != format {
                return Err(StemsError::InvalidInput(
                    "the stream changes format midway".into(),
                ));
            }
            if let Some(s) = sep.as_mut() {
                s.push(block.samples, &mut |b| {
                    frames_out += b.frames() as u64;
                    sink(b, &mut writers)
                })?;
                // Half for frames analysed, half for frames written: the output lags the input
                // by up to two segments, and both halves are real work.
                if let Some(total) = expected_frames.filter(|t| *t > 0.0) {
                    let done = (s.frames_in() + frames_out) as f64 / (2.0 * total);
                    progress(done.clamp(0.0, 0.99) as f32);
                }
            }
        }
        let sep = sep.ok_or(StemsError::Empty)?;
        let frames_in = sep.frames_in();
        if cancel.load(Ordering::Relaxed) {
            return Err(StemsError::Cancelled);
        }
        sep.finish(&mut |b| {
            frames_out += b.frames() as u64;
            sink(b, &mut writers)
        })?;
        if frames_out != frames_in {
            return Err(StemsError::InvalidInput(format!(
                "internal: {frames_out} frames out for {frames_in} in"
            )));
        }
        for w in writers {
            w.finish()?
                .into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()?;
        }
        Ok((format.0, format.1, frames_out))
    })();
    match result {
        Ok((sample_rate, channels, frames)) => {
            for (p, f) in partials.iter().zip(&finals) {
                std::fs::rename(p, f)?;
            }
            progress(1.0);
            Ok(SeparationReport {
                sample_rate,
                channels,
                frames,
                files: finals,
                elapsed_secs: started.elapsed().as_secs_f64(),
            })
        }
        Err(e) => {
            for p in &partials {
                let _ = std::fs::remove_file(p);
            }
            Err(e)
        }
    }
}

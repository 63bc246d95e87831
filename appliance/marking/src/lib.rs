//! Recipients' marked copies: decode any format the audio engine reads, embed a recipient's
//! mark as the samples stream through, requantise (TPDF dither at 16 bit), and write WAV or
//! FLAC. Memory stays bounded for WAV (a block at a time); FLAC keeps only the compressed frames
//! until they are written. And the other way: read the mark of suspect audio, and score the
//! candidates it may carry.
//!
//! Pure signal-processing glue: sources are `Read + Seek`, outputs `Write`; opening files, child
//! processes and the store are the server's business.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flacenc::component::BitRepr;
use flacenc::error::Verify;
use studiovault_audio::{AnalysisError, AudioDecoder, Container, DecodeLimits};
use studiovault_watermark::{
    Analysis, DetectOptions, Embedder, Payload, SoftBits, WatermarkKey, accusation_threshold,
};

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error("{0}")]
    Decode(#[from] AnalysisError),
    #[error("watermark: {0}")]
    Watermark(#[from] studiovault_watermark::Error),
    #[error("FLAC encoding: {0}")]
    Flac(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the file holds no audio")]
    Empty,
    #[error("{0}")]
    Unsupported(String),
}

/// Sample format of a written copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Int16,
    Int24,
    Float32,
}

impl Encoding {
    /// The format that keeps a source's resolution: its own bit depth, 16-bit for lossy codecs.
    pub fn for_source(bits_per_sample: Option<u32>, float: bool) -> Self {
        match (float, bits_per_sample) {
            (true, _) => Self::Float32,
            (false, Some(b)) if b > 16 => Self::Int24,
            _ => Self::Int16,
        }
    }

    fn bits(self) -> u16 {
        match self {
            Self::Int16 => 16,
            Self::Int24 => 24,
            Self::Float32 => 32,
        }
    }
}

/// Decoded, marked, interleaved samples, a block at a time.
pub struct MarkedStream {
    decoder: AudioDecoder,
    embedder: Option<Embedder>,
    pub sample_rate: u32,
    pub channels: u16,
    ready: Vec<f32>,
    /// TPDF dither state for 16-bit output.
    noise: u64,
    /// Frames handed out so far, for a progress display.
    progress: Option<Arc<AtomicU64>>,
}

impl std::fmt::Debug for MarkedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarkedStream")
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl MarkedStream {
    pub fn open<R>(
        mut source: R,
        len: u64,
        key: &WatermarkKey,
        payload: Payload,
        limits: DecodeLimits,
    ) -> Result<Self, MarkError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        let mut head = [0u8; 16];
        source.read_exact(&mut head)?;
        source.seek(SeekFrom::Start(0))?;
        let container = Container::sniff(&head).ok_or(AnalysisError::NotAudio)?;
        let mut decoder = AudioDecoder::open(source, len, container, limits)?;
        let first = decoder.next_block()?.ok_or(MarkError::Empty)?;
        let (sample_rate, channels) = (first.sample_rate, first.channels as u16);
        let mut embedder = Embedder::new(key, payload, sample_rate, channels)?;
        let mut ready = Vec::new();
        embedder.process(first.samples, &mut ready)?;
        Ok(Self {
            decoder,
            embedder: Some(embedder),
            sample_rate,
            channels,
            ready,
            noise: 0x9E37_79B9_7F4A_7C15,
            progress: None,
        })
    }

    /// Counts the frames handed out into `frames`.
    pub fn with_progress(mut self, frames: Arc<AtomicU64>) -> Self {
        self.progress = Some(frames);
        self
    }

    /// The next marked samples (interleaved); empty once the stream is done.
    pub fn next_samples(&mut self) -> Result<Vec<f32>, MarkError> {
        while self.ready.is_empty() {
            let Some(mut embedder) = self.embedder.take() else {
                return Ok(Vec::new());
            };
            match self.decoder.next_block()? {
                Some(block) => {
                    embedder.process(block.samples, &mut self.ready)?;
                    self.embedder = Some(embedder);
                }
                None => embedder.finish(&mut self.ready)?,
            }
        }
        if let Some(frames) = &self.progress {
            let channels = u64::from(self.channels.max(1));
            frames.fetch_add(self.ready.len() as u64 / channels, Ordering::Relaxed);
        }
        Ok(std::mem::take(&mut self.ready))
    }

    /// Rounds to `bits`-bit integers; 16-bit output gets triangular dither.
    fn quantise(&mut self, samples: &[f32], encoding: Encoding, out: &mut Vec<i32>) {
        let scale = match encoding {
            Encoding::Int16 => 32_768.0,
            Encoding::Int24 | Encoding::Float32 => 8_388_608.0,
        };
        let max = scale - 1.0;
        for &s in samples {
            let dither = if encoding == Encoding::Int16 {
                let mut uniform = || {
                    self.noise ^= self.noise << 13;
                    self.noise ^= self.noise >> 7;
                    self.noise ^= self.noise << 17;
                    (self.noise >> 11) as f32 / (1u64 << 53) as f32
                };
                uniform() - uniform()
            } else {
                0.0
            };
            out.push((s * scale + dither).round().clamp(-scale, max) as i32);
        }
    }
}

/// Decoded audio kept for detection: a leak is usually an excerpt, and ten minutes is plenty.
const DETECT_MAX: Duration = Duration::from_secs(600);
/// Samples kept for detection whatever the rate and channel count: ten minutes of 48 kHz
/// stereo (230 MB). A file of absurd rate or width yields a shorter excerpt, never more memory.
const DETECT_MAX_SAMPLES: usize = 600 * 48_000 * 2;
/// The widest and fastest audio a suspect file may be; anything beyond is no leaked song.
const DETECT_MAX_RATE: u32 = 192_000;
const DETECT_MAX_CHANNELS: usize = 8;

/// The chance, across all candidates, of naming an innocent recipient.
const FALSE_ACCUSATION: f64 = 1e-6;

/// The candidates (payloads) whose copies `soft` carries, with their scores, strongest first,
/// and the threshold used: at most one innocent in a million is ever named.
pub fn suspects(soft: &SoftBits, key: &WatermarkKey, candidates: &[u64]) -> (Vec<(u64, f64)>, f64) {
    let threshold = accusation_threshold(candidates.len(), FALSE_ACCUSATION);
    let mut named: Vec<(u64, f64)> = candidates
        .iter()
        .map(|&p| (p, soft.score(key, Payload::new(p))))
        .filter(|(_, score)| *score >= threshold)
        .collect();
    named.sort_by(|a, b| b.1.total_cmp(&a.1));
    (named, threshold)
}

/// Reads the watermark of suspect audio: the payload if one decodes, and the soft bits. Audio
/// over [`DETECT_MAX_RATE`] or [`DETECT_MAX_CHANNELS`] is refused; at most [`DETECT_MAX`] (and
/// [`DETECT_MAX_SAMPLES`]) is decoded.
pub fn analyze<R>(
    mut source: R,
    len: u64,
    key: &WatermarkKey,
    limits: DecodeLimits,
) -> Result<Analysis, MarkError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let mut head = [0u8; 16];
    source
        .read_exact(&mut head)
        .map_err(|_| MarkError::Decode(AnalysisError::NotAudio))?;
    source.seek(SeekFrom::Start(0))?;
    let container = Container::sniff(&head).ok_or(AnalysisError::NotAudio)?;
    let mut decoder = AudioDecoder::open(source, len, container, limits)?;
    let mut samples = Vec::new();
    let (mut rate, mut channels) = (0u32, 0usize);
    while let Some(block) = decoder.next_block()? {
        (rate, channels) = (block.sample_rate, block.channels);
        if rate > DETECT_MAX_RATE || channels > DETECT_MAX_CHANNELS {
            return Err(MarkError::Unsupported(format!(
                "{channels} channels at {rate} Hz is beyond what a leak check reads (at most \
                 {DETECT_MAX_CHANNELS} channels at {DETECT_MAX_RATE} Hz)"
            )));
        }
        let room = DETECT_MAX_SAMPLES.saturating_sub(samples.len());
        samples.extend_from_slice(&block.samples[..block.samples.len().min(room)]);
        let seconds = samples.len() as f64 / (f64::from(rate) * channels.max(1) as f64);
        if seconds >= DETECT_MAX.as_secs_f64() || samples.len() >= DETECT_MAX_SAMPLES {
            break;
        }
    }
    // Whole frames only: the budget may have cut one.
    samples.truncate(samples.len() - samples.len() % channels.max(1));
    if samples.is_empty() {
        return Err(MarkError::Empty);
    }
    Ok(studiovault_watermark::analyze(
        &samples,
        rate,
        channels as u16,
        key,
        &DetectOptions::default(),
    )?)
}

/// Writes the marked stream as a WAV file (PCM or IEEE float), patching the sizes at the end.
pub fn write_wav<W: Write + Seek>(
    mut stream: MarkedStream,
    encoding: Encoding,
    mut out: W,
) -> Result<(), MarkError> {
    let channels = stream.channels;
    let bits = encoding.bits();
    let block_align = channels * bits / 8;
    let format_tag: u16 = if encoding == Encoding::Float32 { 3 } else { 1 };
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&format_tag.to_le_bytes());
    header.extend_from_slice(&channels.to_le_bytes());
    header.extend_from_slice(&stream.sample_rate.to_le_bytes());
    header.extend_from_slice(&(stream.sample_rate * u32::from(block_align)).to_le_bytes());
    header.extend_from_slice(&block_align.to_le_bytes());
    header.extend_from_slice(&bits.to_le_bytes());
    header.extend_from_slice(b"data\0\0\0\0");
    out.write_all(&header)?;
    let mut data_len: u64 = 0;
    let mut ints = Vec::new();
    let mut bytes = Vec::new();
    loop {
        let samples = stream.next_samples()?;
        if samples.is_empty() {
            break;
        }
        bytes.clear();
        match encoding {
            Encoding::Float32 => samples
                .iter()
                .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes())),
            Encoding::Int16 | Encoding::Int24 => {
                ints.clear();
                stream.quantise(&samples, encoding, &mut ints);
                let width = usize::from(bits / 8);
                ints.iter()
                    .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()[..width]));
            }
        }
        out.write_all(&bytes)?;
        data_len += bytes.len() as u64;
    }
    let data_len = u32::try_from(data_len)
        .map_err(|_| std::io::Error::other("longer than a WAV file can hold (4 GiB)"))?;
    out.seek(SeekFrom::Start(4))?;
    out.write_all(&(data_len + 36).to_le_bytes())?;
    out.seek(SeekFrom::Start(40))?;
    out.write_all(&data_len.to_le_bytes())?;
    out.flush()?;
    Ok(())
}

/// flacenc pulls samples through this as it encodes.
struct FlacSource {
    stream: MarkedStream,
    encoding: Encoding,
    pending: Vec<i32>,
    error: Option<MarkError>,
}

impl flacenc::source::Source for FlacSource {
    fn channels(&self) -> usize {
        usize::from(self.stream.channels)
    }

    fn bits_per_sample(&self) -> usize {
        usize::from(self.encoding.bits())
    }

    fn sample_rate(&self) -> usize {
        self.stream.sample_rate as usize
    }

    fn read_samples<F: flacenc::source::Fill>(
        &mut self,
        block_size: usize,
        dest: &mut F,
    ) -> Result<usize, flacenc::error::SourceError> {
        let channels = self.channels();
        while self.pending.len() < block_size * channels && self.error.is_none() {
            match self.stream.next_samples() {
                Ok(samples) if samples.is_empty() => break,
                Ok(samples) => {
                    let mut ints = Vec::with_capacity(samples.len());
                    self.stream.quantise(&samples, self.encoding, &mut ints);
                    self.pending.extend(ints);
                }
                Err(e) => self.error = Some(e),
            }
        }
        let take = self.pending.len().min(block_size * channels);
        dest.fill_interleaved(&self.pending[..take])?;
        self.pending.drain(..take);
        Ok(take / channels.max(1))
    }
}

/// Encodes the marked stream as FLAC (16- or 24-bit; float sources become 24-bit).
///
/// Frame by frame, each kept as its encoded bytes: flacenc's whole-stream encoder keeps every
/// frame with its residuals (about eight bytes a sample per channel, several times the file),
/// so a CD-quality track of some twenty minutes outgrew the render's memory limit. Now a
/// copy takes about what its FLAC file takes. STREAMINFO goes in front once the last frame is
/// encoded, exact: the sample count, the frame sizes and the MD5 of the samples.
pub fn encode_flac(stream: MarkedStream, encoding: Encoding) -> Result<EncodedFlac, MarkError> {
    use flacenc::bitsink::{BitSink, ByteSink};
    use flacenc::component::StreamInfo;
    use flacenc::source::{Context, FrameBuf, Source};

    let flac_error = |e: &dyn std::fmt::Debug| MarkError::Flac(format!("{e:?}"));
    let encoding = if encoding == Encoding::Float32 {
        Encoding::Int24
    } else {
        encoding
    };
    // Fixed predictors only: on bench/share-render.sh this halves the encoding time for a file
    // about 3 % larger than LPC's (ffmpeg's level 5), and a recipient waits for this render.
    let mut config = flacenc::config::Encoder::default();
    config.subframe_coding.use_lpc = false;
    let config = config.into_verified().map_err(|(_, e)| flac_error(&e))?;
    let mut source = FlacSource {
        stream,
        encoding,
        pending: Vec::new(),
        error: None,
    };
    let (channels, bits) = (source.channels(), source.bits_per_sample());
    let block_size = config.block_size;
    let mut info =
        StreamInfo::new(source.sample_rate(), channels, bits).map_err(|e| flac_error(&e))?;
    info.set_block_sizes(block_size, block_size)
        .map_err(|e| flac_error(&e))?;
    let mut buffers = (
        FrameBuf::with_size(channels, block_size).map_err(|e| flac_error(&e))?,
        Context::new(bits, channels),
    );
    let mut frames = ByteSink::new();
    loop {
        let read = source
            .read_samples(block_size, &mut buffers)
            .map_err(|e| flac_error(&e))?;
        if read == 0 {
            break;
        }
        let number = buffers
            .1
            .current_frame_number()
            .ok_or_else(|| MarkError::Flac("no frame number".into()))?;
        let frame = flacenc::encode_fixed_size_frame(&config, &buffers.0, number, &info)
            .map_err(|e| flac_error(&e))?;
        info.update_frame_info(&frame);
        frame.write(&mut frames).map_err(|e| flac_error(&e))?;
    }
    if let Some(e) = source.error {
        return Err(e);
    }
    info.set_md5_digest(&buffers.1.md5_digest());
    info.set_total_samples(buffers.1.total_samples());
    // STREAMINFO's minimum block size must leave out the last block (FLAC format, section
    // "METADATA_BLOCK_STREAMINFO"); counting it, decoders that take min != max to mean
    // variable block sizes (symphonia does) misread every frame header. Every block but the
    // last has the maximum size here, so the minimum is the maximum.
    info.set_block_sizes(info.max_block_size(), info.max_block_size())
        .map_err(|e| flac_error(&e))?;
    let mut head = ByteSink::new();
    head.write_bytes_aligned(b"fLaC")
        .map_err(|e| flac_error(&e))?;
    // The one metadata block: the last (0x80), of type STREAMINFO (0), 34 bytes long.
    head.write_bytes_aligned(&[0x80, 0, 0, 34])
        .map_err(|e| flac_error(&e))?;
    info.write(&mut head).map_err(|e| flac_error(&e))?;
    Ok(EncodedFlac {
        head: head.into_inner(),
        frames: frames.into_inner(),
    })
}

/// A FLAC file as [`encode_flac`] makes it: its header, then its frames, kept apart so they
/// are written out without one more copy of the whole.
#[derive(Debug)]
pub struct EncodedFlac {
    head: Vec<u8>,
    frames: Vec<u8>,
}

impl EncodedFlac {
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.head)?;
        out.write_all(&self.frames)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.head;
        bytes.extend_from_slice(&self.frames);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A 16-bit stereo WAV of `frames` frames of two tones.
    fn wav(frames: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let data = frames * 4;
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        for v in [
            16u32.to_le_bytes().to_vec(),
            1u16.to_le_bytes().to_vec(),
            2u16.to_le_bytes().to_vec(),
            44_100u32.to_le_bytes().to_vec(),
            (44_100u32 * 4).to_le_bytes().to_vec(),
            4u16.to_le_bytes().to_vec(),
            16u16.to_le_bytes().to_vec(),
        ] {
            out.extend(v);
        }
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        for i in 0..frames {
            let t = i as f32 / 44_100.0;
            for f in [440.0f32, 660.0] {
                out.extend_from_slice(
                    &(((t * f * std::f32::consts::TAU).sin() * 12_000.0) as i16).to_le_bytes(),
                );
            }
        }
        out
    }

    fn decoded_frames(bytes: Vec<u8>) -> usize {
        decoded(bytes).len() / 2
    }

    /// Every interleaved sample of a stereo file.
    fn decoded(bytes: Vec<u8>) -> Vec<f32> {
        let len = bytes.len() as u64;
        let container = Container::sniff(&bytes).unwrap();
        let mut decoder =
            AudioDecoder::open(Cursor::new(bytes), len, container, DecodeLimits::default())
                .unwrap();
        let mut samples = Vec::new();
        while let Some(block) = decoder.next_block().unwrap() {
            assert_eq!(block.channels, 2);
            samples.extend_from_slice(block.samples);
        }
        samples
    }

    fn stream(frames: u32) -> MarkedStream {
        let source = wav(frames);
        let len = source.len() as u64;
        MarkedStream::open(
            Cursor::new(source),
            len,
            &WatermarkKey::from_bytes([3; 32]),
            Payload::new(7),
            DecodeLimits::default(),
        )
        .unwrap()
    }

    #[test]
    fn flac_copies_decode_whole_and_declare_fixed_blocks() {
        // 100 001 frames: the last FLAC block is short, which flacenc used to declare as the minimum.
        let flac = encode_flac(stream(100_001), Encoding::Int24)
            .unwrap()
            .into_bytes();
        assert_eq!(flac[8..10], flac[10..12], "min block size = max block size");
        assert_eq!(decoded_frames(flac), 100_001);
    }

    #[test]
    fn flac_copies_hold_exactly_the_samples_of_the_wav_copy() {
        for encoding in [Encoding::Int16, Encoding::Int24] {
            let flac = encode_flac(stream(60_000), encoding).unwrap().into_bytes();
            let mut wav = Cursor::new(Vec::new());
            write_wav(stream(60_000), encoding, &mut wav).unwrap();
            let (flac, wav) = (decoded(flac), decoded(wav.into_inner()));
            assert_eq!(flac.len(), 120_000);
            assert!(flac == wav, "{encoding:?}: FLAC is lossless");
        }
    }

    #[test]
    fn wav_copies_keep_length_and_format() {
        for (encoding, bits, tag) in [
            (Encoding::Int16, 16u16, 1u16),
            (Encoding::Int24, 24, 1),
            (Encoding::Float32, 32, 3),
        ] {
            let mut out = Cursor::new(Vec::new());
            write_wav(stream(50_000), encoding, &mut out).unwrap();
            let bytes = out.into_inner();
            assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), tag);
            assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), bits);
            assert_eq!(bytes.len(), 44 + 50_000 * 2 * usize::from(bits / 8));
            assert_eq!(decoded_frames(bytes), 50_000);
        }
    }
}

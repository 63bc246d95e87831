//! Streaming decode to interleaved `f32` blocks, whatever the codec: symphonia for everything it
//! knows; for Opus, which symphonia 0.5 demuxes from Ogg but cannot decode, the pure-Rust
//! `opus-pure` crate (no C library to install, ~400× real time; the `#![forbid(unsafe)]`
//! `opus-decoder` crate was tried first but its O(n²) MDCT decodes at only ~2.5× real time).
//! Memory stays bounded by one packet's worth of samples, however long the stream.

use std::io::{Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use opus_pure::{OpusDecoder, OpusMSDecoder};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{
    CODEC_TYPE_ALAC, CODEC_TYPE_NULL, CODEC_TYPE_OPUS, CodecParameters, DecoderOptions,
};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::{Hint, Probe};
use symphonia::default::formats;
use symphonia_metadata::id3v2::Id3v2Reader;

use crate::error::AnalysisError;
use crate::probe::Container;

/// Sample rates outside this range are not music files but attempts to blow up buffer sizes.
pub(crate) const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;
const MAX_CHANNELS: usize = 32;
/// Decoded samples are clamped to ±24 dBFS so hostile float files cannot overflow the analyses.
const SAMPLE_LIMIT: f32 = 16.0;
/// Opus packets hold at most 120 ms, i.e. 5760 frames at 48 kHz.
pub(crate) const OPUS_MAX_FRAMES: usize = 5_760;
/// How often (in packets) the wall clock is read for the deadline.
const DEADLINE_CHECK_PACKETS: u64 = 32;

/// Bounds on a decode, checked as it runs so a hostile file fails instead of running forever.
#[derive(Debug, Clone, Default)]
pub struct DecodeLimits {
    /// Longest audio to decode before failing with [`AnalysisError::TooLong`].
    pub max_duration: Option<Duration>,
    /// Fail with [`AnalysisError::DeadlineExceeded`] once this instant passes.
    pub deadline: Option<Instant>,
    /// Fail with [`AnalysisError::Cancelled`] once another thread sets this flag.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// One decoded block: interleaved samples at a fixed rate and channel count for the whole stream.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    pub samples: &'a [f32],
    pub channels: usize,
    pub sample_rate: u32,
    /// What each channel is, in the order they are interleaved (WAV order for every codec).
    pub roles: &'a [ChannelRole],
}

/// What a channel is, as far as loudness cares (ITU-R BS.1770): the LFE is left out, and the
/// side and rear surrounds count 1.5 dB more than the front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRole {
    Front,
    Lfe,
    Surround,
}

impl ChannelRole {
    /// The roles of a stream's `channels`, from its layout (the interleaved order is the
    /// layout's bit order, as in WAV). An LFE is taken as one in 5.1 and up only: a plain WAV
    /// of four channels says nothing of its layout (symphonia then names the first four bits,
    /// ending in an LFE), and is more often quad or four microphones than 3.1.
    fn of_layout(layout: symphonia::core::audio::Channels, channels: usize) -> Vec<Self> {
        use symphonia::core::audio::Channels as C;
        let surround = C::REAR_LEFT
            | C::REAR_RIGHT
            | C::REAR_CENTRE
            | C::REAR_LEFT_CENTRE
            | C::REAR_RIGHT_CENTRE
            | C::SIDE_LEFT
            | C::SIDE_RIGHT;
        let mut roles: Vec<Self> = layout
            .iter()
            .map(|channel| {
                if (C::LFE1 | C::LFE2).contains(channel) && channels >= 6 {
                    Self::Lfe
                } else if surround.contains(channel) {
                    Self::Surround
                } else {
                    Self::Front
                }
            })
            .collect();
        roles.resize(channels, Self::Front);
        roles
    }

    /// The roles of `channels` interleaved samples whose layout is not known: WAV's order for
    /// that count (5.1 is L, R, C, LFE, Ls, Rs).
    pub fn guess(channels: usize) -> Vec<Self> {
        let bits = if channels >= 32 {
            u32::MAX
        } else {
            (1u32 << channels) - 1
        };
        Self::of_layout(
            symphonia::core::audio::Channels::from_bits_truncate(bits),
            channels,
        )
    }
}

/// Opus multichannel streams (mapping family 1) come in Vorbis order; `[n]` gives, for each
/// channel in WAV order, the Vorbis channel it is (RFC 7845 §5.1.1.2), so every codec's
/// blocks are in one order.
fn vorbis_to_wav(channels: usize) -> Option<&'static [usize]> {
    Some(match channels {
        1 => &[0],
        2 => &[0, 1],
        3 => &[0, 2, 1],
        4 => &[0, 1, 2, 3],
        5 => &[0, 2, 1, 3, 4],
        6 => &[0, 2, 1, 5, 3, 4],
        7 => &[0, 2, 1, 6, 5, 3, 4],
        8 => &[0, 2, 1, 7, 5, 6, 3, 4],
        _ => return None,
    })
}

/// The WAV-order layout of a mapping-family-1 Opus stream of `channels`.
fn opus_layout(channels: usize) -> Vec<ChannelRole> {
    use ChannelRole::{Front, Lfe, Surround};
    match channels {
        4 => vec![Front, Front, Surround, Surround],
        5 => vec![Front, Front, Front, Surround, Surround],
        6 => vec![Front, Front, Front, Lfe, Surround, Surround],
        7 => vec![Front, Front, Front, Lfe, Surround, Surround, Surround],
        8 => vec![
            Front, Front, Front, Lfe, Surround, Surround, Surround, Surround,
        ],
        n => vec![Front; n],
    }
}

impl Block<'_> {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }
}

/// Adapts any seekable reader to symphonia's source trait.
pub(crate) struct Source<R> {
    pub(crate) inner: R,
    pub(crate) len: Option<u64>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for Source<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<R: Read + Seek + Send + Sync> MediaSource for Source<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

/// The demuxer an input was cleared for: the one reader its probe may instantiate.
///
/// symphonia's own probe scans up to 1 MiB for any marker it knows and opens whatever it finds
/// first, so a file sniffed as one container could be opened as another found further in, past
/// the guard that checked the first (the fuzzer found a `fLaC` mid-stream reserving 3.6 GB).
/// Each demuxer's probe therefore knows that container alone, plus ID3v2 tags where they may
/// open the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Demuxer {
    Wav,
    Aiff,
    Flac,
    Mpa,
    IsoMp4,
    Adts,
    Ogg,
}

impl Demuxer {
    const ALL: [Demuxer; 7] = [
        Demuxer::Wav,
        Demuxer::Aiff,
        Demuxer::Flac,
        Demuxer::Mpa,
        Demuxer::IsoMp4,
        Demuxer::Adts,
        Demuxer::Ogg,
    ];

    fn probe(self) -> &'static Probe {
        static PROBES: OnceLock<Vec<Probe>> = OnceLock::new();
        let probes = PROBES.get_or_init(|| {
            Self::ALL
                .iter()
                .map(|demuxer| {
                    let mut probe = Probe::default();
                    match demuxer {
                        Demuxer::Wav => probe.register_all::<formats::WavReader>(),
                        Demuxer::Aiff => probe.register_all::<formats::AiffReader>(),
                        Demuxer::Flac => {
                            probe.register_all::<formats::FlacReader>();
                            probe.register_all::<Id3v2Reader>();
                        }
                        Demuxer::Mpa => {
                            probe.register_all::<formats::MpaReader>();
                            probe.register_all::<Id3v2Reader>();
                        }
                        Demuxer::IsoMp4 => probe.register_all::<formats::IsoMp4Reader>(),
                        Demuxer::Adts => probe.register_all::<formats::AdtsReader>(),
                        Demuxer::Ogg => probe.register_all::<formats::OggReader>(),
                    }
                    probe
                })
                .collect()
        });
        &probes[self as usize]
    }
}

/// Where the ID3v2 tag opening `source` ends, if one does (header, body, optional footer).
fn id3v2_end<R: Read + Seek>(source: &mut R) -> std::io::Result<Option<u64>> {
    let mut header = [0u8; 10];
    source.seek(SeekFrom::Start(0))?;
    let read = source.read_exact(&mut header);
    source.seek(SeekFrom::Start(0))?;
    if read.is_err() || &header[..3] != b"ID3" || header[6..].iter().any(|b| b & 0x80 != 0) {
        return Ok(None);
    }
    let size = header[6..]
        .iter()
        .fold(0u64, |n, b| (n << 7) | u64::from(*b));
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    Ok(Some(10 + size + footer))
}

/// Structural checks that protect the demuxers from inputs known to make them misbehave;
/// answers the demuxer the input is cleared for.
pub(crate) fn guard<R: Read + Seek>(
    source: &mut R,
    len: u64,
    container: Container,
) -> Result<Demuxer, AnalysisError> {
    let io = |e: std::io::Error| AnalysisError::Corrupt(format!("read failed: {e}"));
    match container {
        Container::Mp4 => crate::mp4_guard::check(source, len).map(|()| Demuxer::IsoMp4),
        Container::Flac => crate::flac_guard::check(source, 0).map(|()| Demuxer::Flac),
        Container::Ogg => crate::ogg_guard::check(source).map(|()| Demuxer::Ogg),
        // Taggers put ID3v2 in front of FLAC too: the FLAC after the tag is guarded as such.
        Container::Mp3 => match id3v2_end(source).map_err(io)? {
            Some(end) if crate::flac_guard::opens_at(source, end).map_err(io)? => {
                crate::flac_guard::check(source, end).map(|()| Demuxer::Flac)
            }
            _ => Ok(Demuxer::Mpa),
        },
        Container::Wav => Ok(Demuxer::Wav),
        Container::Aiff => Ok(Demuxer::Aiff),
        Container::Adts => Ok(Demuxer::Adts),
    }
}

/// Longest ALAC frame accepted (Apple's encoder writes 4096).
const MAX_ALAC_FRAME: u32 = 1 << 16;

/// Rejects codec parameters a symphonia decoder would size buffers from unchecked: its ALAC
/// decoder allocates frame length × channels samples from the magic cookie at construction
/// (the fuzzer found a 16 GB request).
pub(crate) fn check_codec_params(params: &CodecParameters) -> Result<(), AnalysisError> {
    if params.codec == CODEC_TYPE_ALAC {
        let cookie = params.extra_data.as_deref().unwrap_or_default();
        // The 24-byte configuration opens the cookie, or follows 24 bytes of atom headers.
        let frame_length = |at: usize| {
            cookie
                .get(at..at + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        if frame_length(0) > MAX_ALAC_FRAME
            || frame_length(cookie.len().saturating_sub(24)) > MAX_ALAC_FRAME
        {
            return Err(AnalysisError::Unsupported(
                "ALAC frame length beyond 65536 samples".into(),
            ));
        }
    }
    Ok(())
}

/// Opens `demuxer` (which [`guard`] cleared) on `source`.
pub(crate) fn open_format<R>(
    source: R,
    len: u64,
    demuxer: Demuxer,
) -> Result<Box<dyn FormatReader>, SymphoniaError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let stream = MediaSourceStream::new(
        Box::new(Source {
            inner: source,
            len: Some(len),
        }),
        MediaSourceStreamOptions::default(),
    );
    demuxer
        .probe()
        .format(
            &Hint::new(),
            stream,
            &FormatOptions {
                enable_gapless: true,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map(|probed| probed.format)
}

pub(crate) fn describe(e: &SymphoniaError) -> String {
    match e {
        SymphoniaError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the stream ends early".into()
        }
        SymphoniaError::IoError(io) => format!("read failed: {io}"),
        SymphoniaError::DecodeError(m) => format!("malformed stream: {m}"),
        SymphoniaError::SeekError(_) => "the stream cannot be seeked".into(),
        SymphoniaError::Unsupported(m) => format!("unsupported feature: {m}"),
        SymphoniaError::LimitError(m) => format!("exceeds a decoder limit: {m}"),
        SymphoniaError::ResetRequired => "the stream changes format midway".into(),
    }
}

fn caught_panic() -> AnalysisError {
    AnalysisError::Corrupt("the decoder rejected the stream".into())
}

pub(crate) enum OpusStreams {
    Single(Box<OpusDecoder>),
    Multi(OpusMSDecoder),
}

impl OpusStreams {
    /// Builds the decoder an Ogg Opus identification header (RFC 7845 §5.1) asks for.
    pub(crate) fn from_head(head: &[u8]) -> Result<(Self, usize), AnalysisError> {
        let bad = || AnalysisError::Corrupt("malformed Opus identification header".into());
        if head.len() < 19 || !head.starts_with(b"OpusHead") {
            return Err(bad());
        }
        let channels = usize::from(head[9]);
        let pre_skip = usize::from(u16::from_le_bytes([head[10], head[11]]));
        let unsupported = |e: opus_pure::Error| AnalysisError::Unsupported(format!("Opus: {e}"));
        if channels > MAX_CHANNELS {
            return Err(AnalysisError::Unsupported(format!(
                "Opus with {channels} channels"
            )));
        }
        let streams = match head[18] {
            0 => Self::Single(Box::new(
                OpusDecoder::new(48_000, channels).map_err(unsupported)?,
            )),
            family => {
                Self::Multi(OpusMSDecoder::new(48_000, channels, family).map_err(unsupported)?)
            }
        };
        Ok((streams, pre_skip))
    }

    /// The identification header's output gain (RFC 7845 §5.1: Q7.8 dB, which a player must
    /// apply) as a factor; `head` is one [`OpusStreams::from_head`] accepted.
    pub(crate) fn output_gain(head: &[u8]) -> f32 {
        let q78 = i16::from_le_bytes([head[16], head[17]]);
        10f32.powf(f32::from(q78) / (20.0 * 256.0))
    }

    pub(crate) fn decode(
        &mut self,
        packet: &[u8],
        pcm: &mut [f32],
    ) -> Result<usize, opus_pure::Error> {
        match self {
            Self::Single(d) => d.decode(packet, OPUS_MAX_FRAMES, pcm),
            Self::Multi(d) => d.decode(packet, OPUS_MAX_FRAMES, pcm),
        }
    }
}

enum Codec {
    Symphonia {
        decoder: Box<dyn symphonia::core::codecs::Decoder>,
        buffer: Option<SampleBuffer<f32>>,
    },
    Opus {
        streams: OpusStreams,
        channels: usize,
        /// For a mapping-family-1 stream, each WAV-order channel's place in the decoded frame.
        wav_order: Option<&'static [usize]>,
        /// Frames still to drop from the start (the encoder's pre-skip).
        to_skip: usize,
        /// The header's output gain, applied to every sample as players do.
        gain: f32,
        pcm: Vec<f32>,
    },
}

/// A streaming decoder: call [`AudioDecoder::next_block`] until it returns `None`.
pub struct AudioDecoder {
    format: Box<dyn FormatReader>,
    codec: Codec,
    codec_name: String,
    track_id: u32,
    limits: DecodeLimits,
    /// Rate and channel count, fixed by the first decoded block.
    spec: Option<(u32, usize)>,
    /// What each channel is, fixed with `spec`.
    roles: Vec<ChannelRole>,
    block: Vec<f32>,
    packets_read: u64,
    frames_decoded: u64,
    poisoned: bool,
    /// An MP4 track's edit, taken into `trim` once the first block gives the rate.
    edit: Option<crate::mp4_guard::Edit>,
    /// The edit in frames: still to drop from the start, and how many play in all.
    trim: Option<(u64, Option<u64>)>,
}

impl std::fmt::Debug for AudioDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioDecoder")
            .field("codec", &self.codec_name)
            .field("spec", &self.spec)
            .field("frames_decoded", &self.frames_decoded)
            .finish_non_exhaustive()
    }
}

impl AudioDecoder {
    /// Opens the first audio track of `source` (`len` bytes, sniffed as `container`).
    pub fn open<R>(
        source: R,
        len: u64,
        container: Container,
        limits: DecodeLimits,
    ) -> Result<Self, AnalysisError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        catch_unwind(AssertUnwindSafe(|| {
            Self::open_inner(source, len, container, limits)
        }))
        .unwrap_or_else(|_| Err(caught_panic()))
    }

    fn open_inner<R>(
        source: R,
        len: u64,
        container: Container,
        limits: DecodeLimits,
    ) -> Result<Self, AnalysisError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        let mut source = source;
        let demuxer = guard(&mut source, len, container)?;
        let edit = match demuxer {
            Demuxer::IsoMp4 => crate::mp4_guard::edit(&mut source, len),
            _ => None,
        };
        let format = open_format(source, len, demuxer).map_err(|e| match e {
            SymphoniaError::Unsupported(_) => AnalysisError::NotAudio,
            other => AnalysisError::Corrupt(describe(&other)),
        })?;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AnalysisError::Unsupported("the file holds no audio track".into()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let (codec, codec_name) = if params.codec == CODEC_TYPE_OPUS {
            let head = params.extra_data.as_deref().unwrap_or_default();
            let (streams, pre_skip) = OpusStreams::from_head(head)?;
            let channels = usize::from(head[9]);
            // Family 1 is Vorbis's layouts; family 0 is mono or stereo; others name no layout.
            let family = head[18];
            let codec = Codec::Opus {
                streams,
                channels,
                wav_order: (family == 1).then(|| vorbis_to_wav(channels)).flatten(),
                to_skip: pre_skip,
                gain: OpusStreams::output_gain(head),
                pcm: vec![0.0; OPUS_MAX_FRAMES * channels],
            };
            (codec, "opus".to_owned())
        } else {
            check_codec_params(&params)?;
            let registry = symphonia::default::get_codecs();
            let decoder = registry
                .make(&params, &DecoderOptions::default())
                .map_err(|e| AnalysisError::Unsupported(describe(&e)))?;
            let name = registry
                .get_codec(params.codec)
                .map(|d| d.short_name.to_owned())
                .unwrap_or_else(|| format!("{}", params.codec));
            let codec = Codec::Symphonia {
                decoder,
                buffer: None,
            };
            (codec, name)
        };
        Ok(Self {
            format,
            codec,
            codec_name,
            track_id,
            limits,
            spec: None,
            roles: Vec::new(),
            block: Vec::new(),
            packets_read: 0,
            frames_decoded: 0,
            poisoned: false,
            edit,
            trim: None,
        })
    }

    /// Codec short name, e.g. `pcm_s24le`, `flac`, `aac`, `alac`, `vorbis`, `opus`.
    pub fn codec(&self) -> &str {
        &self.codec_name
    }

    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded
    }

    /// The next block of audio, or `None` at the end of the stream.
    pub fn next_block(&mut self) -> Result<Option<Block<'_>>, AnalysisError> {
        if self.poisoned {
            return Err(caught_panic());
        }
        match catch_unwind(AssertUnwindSafe(|| self.fill_block())) {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Ok(None),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                self.poisoned = true;
                return Err(caught_panic());
            }
        }
        let (sample_rate, channels) = self.spec.ok_or_else(caught_panic)?;
        Ok(Some(Block {
            samples: &self.block,
            channels,
            sample_rate,
            roles: &self.roles,
        }))
    }

    fn check_limits(&self) -> Result<(), AnalysisError> {
        if let Some(cancel) = &self.limits.cancel
            && cancel.load(Ordering::Relaxed)
        {
            return Err(AnalysisError::Cancelled);
        }
        if let Some(deadline) = self.limits.deadline
            && self.packets_read.is_multiple_of(DEADLINE_CHECK_PACKETS)
            && Instant::now() >= deadline
        {
            return Err(AnalysisError::DeadlineExceeded);
        }
        Ok(())
    }

    /// Drops from the block what the track's edit leaves out: the encoder's priming at the
    /// start, its padding past the end. False when nothing of the block is left.
    fn trim_to_edit(&mut self, channels: usize) -> bool {
        let Some((to_skip, plays)) = self.trim.as_mut() else {
            return true;
        };
        let frames = self.block.len() / channels;
        let skip = usize::try_from(*to_skip).unwrap_or(usize::MAX).min(frames);
        *to_skip -= skip as u64;
        self.block.drain(..skip * channels);
        if let Some(plays) = *plays {
            let left =
                usize::try_from(plays.saturating_sub(self.frames_decoded)).unwrap_or(usize::MAX);
            self.block.truncate(left.saturating_mul(channels));
        }
        !self.block.is_empty()
    }

    /// Whether the track's edit has played to its end.
    fn edit_played(&self) -> bool {
        self.trim
            .is_some_and(|(_, plays)| plays.is_some_and(|p| self.frames_decoded >= p))
    }

    /// Decodes packets until one yields samples; `false` at the end of the stream.
    fn fill_block(&mut self) -> Result<bool, AnalysisError> {
        loop {
            self.check_limits()?;
            if self.edit_played() {
                return self.end_of_stream();
            }
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.end_of_stream();
                }
                Err(SymphoniaError::ResetRequired) => return self.end_of_stream(),
                Err(e) if self.frames_decoded == 0 => {
                    return Err(AnalysisError::Corrupt(describe(&e)));
                }
                // A damaged tail after good audio is still audio: keep what decoded.
                Err(_) => return self.end_of_stream(),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            self.packets_read += 1;
            let spec = match &mut self.codec {
                Codec::Symphonia { decoder, buffer } => {
                    let decoded = match decoder.decode(&packet) {
                        Ok(d) => d,
                        // Skip a damaged packet, as players do.
                        Err(SymphoniaError::DecodeError(_)) => continue,
                        Err(e) => return Err(AnalysisError::Corrupt(describe(&e))),
                    };
                    let spec = *decoded.spec();
                    let frames = decoded.frames();
                    if frames == 0 {
                        continue;
                    }
                    let channels = spec.channels.count();
                    let needed = frames.saturating_mul(channels);
                    if buffer.as_ref().is_none_or(|b| b.capacity() < needed) {
                        *buffer = Some(SampleBuffer::new(decoded.capacity() as u64, spec));
                    }
                    let Some(buffer) = buffer.as_mut() else {
                        continue;
                    };
                    buffer.copy_interleaved_ref(decoded);
                    self.block.clear();
                    self.block.extend_from_slice(buffer.samples());
                    if self.roles.is_empty() {
                        self.roles = ChannelRole::of_layout(spec.channels, channels);
                    }
                    (spec.rate, channels)
                }
                Codec::Opus {
                    streams,
                    channels,
                    wav_order,
                    to_skip,
                    gain,
                    pcm,
                } => {
                    let frames = match streams.decode(&packet.data, pcm) {
                        Ok(n) => n.min(OPUS_MAX_FRAMES),
                        Err(_) => continue,
                    };
                    // The last page's granule position ends the stream inside its last packet:
                    // the encoder's padding past it is dropped, as players drop it (RFC 7845
                    // §4.4; symphonia's Ogg reader works the count out).
                    let frames = frames.saturating_sub(packet.trim_end() as usize);
                    let skip = (*to_skip).min(frames);
                    *to_skip -= skip;
                    if frames == skip {
                        continue;
                    }
                    self.block.clear();
                    let decoded = &pcm[skip * *channels..frames * *channels];
                    match wav_order {
                        Some(order) => self.block.extend(
                            decoded
                                .chunks_exact(*channels)
                                .flat_map(|frame| order.iter().map(|&i| frame[i])),
                        ),
                        None => self.block.extend_from_slice(decoded),
                    }
                    if *gain != 1.0 {
                        self.block.iter_mut().for_each(|s| *s *= *gain);
                    }
                    if self.roles.is_empty() {
                        self.roles = match wav_order {
                            Some(_) => opus_layout(*channels),
                            None => vec![ChannelRole::Front; *channels],
                        };
                    }
                    (48_000, *channels)
                }
            };
            self.accept_spec(spec)?;
            if let Some(edit) = self.edit.take() {
                self.trim = edit.frames(spec.0);
            }
            if !self.trim_to_edit(spec.1) {
                continue;
            }
            for s in &mut self.block {
                *s = if s.is_finite() {
                    s.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
                } else {
                    0.0
                };
            }
            self.frames_decoded += (self.block.len() / spec.1) as u64;
            if let Some(max) = self.limits.max_duration
                && self.frames_decoded as f64 > max.as_secs_f64() * f64::from(spec.0)
            {
                return Err(AnalysisError::TooLong {
                    limit_secs: max.as_secs_f64(),
                });
            }
            return Ok(true);
        }
    }

    fn accept_spec(&mut self, (rate, channels): (u32, usize)) -> Result<(), AnalysisError> {
        match self.spec {
            Some(fixed) if fixed != (rate, channels) => Err(AnalysisError::Unsupported(
                "the stream changes sample rate or channel count midway".into(),
            )),
            Some(_) => Ok(()),
            None if !SAMPLE_RATES.contains(&rate) => {
                Err(AnalysisError::Unsupported(format!("sample rate {rate} Hz")))
            }
            None if channels == 0 || channels > MAX_CHANNELS => {
                Err(AnalysisError::Unsupported(format!("{channels} channels")))
            }
            None => {
                self.spec = Some((rate, channels));
                Ok(())
            }
        }
    }

    fn end_of_stream(&self) -> Result<bool, AnalysisError> {
        if self.frames_decoded == 0 {
            let what = if self.packets_read == 0 {
                "the stream holds no audio packets"
            } else {
                "no packet of the stream decodes"
            };
            return Err(AnalysisError::Corrupt(what.into()));
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChannelRole::{Front, Lfe, Surround};
    use symphonia::core::audio::Channels as C;

    #[test]
    fn channels_are_weighed_by_their_place_in_the_layout() {
        let quad = C::FRONT_LEFT | C::FRONT_RIGHT | C::REAR_LEFT | C::REAR_RIGHT;
        assert_eq!(
            ChannelRole::of_layout(quad, 4),
            [Front, Front, Surround, Surround]
        );
        let seven_one = C::FRONT_LEFT
            | C::FRONT_RIGHT
            | C::FRONT_CENTRE
            | C::LFE1
            | C::REAR_LEFT
            | C::REAR_RIGHT
            | C::SIDE_LEFT
            | C::SIDE_RIGHT;
        assert_eq!(
            ChannelRole::of_layout(seven_one, 8),
            [
                Front, Front, Front, Lfe, Surround, Surround, Surround, Surround
            ]
        );
        // No layout given: 5.1 in WAV order; four channels are not taken for 3.1.
        assert_eq!(
            ChannelRole::guess(6),
            [Front, Front, Front, Lfe, Surround, Surround]
        );
        assert_eq!(ChannelRole::guess(4), [Front; 4]);
        assert_eq!(ChannelRole::guess(2), [Front; 2]);
        // Opus's Vorbis order, put in WAV order: C and FR swap, the LFE moves up.
        let vorbis_5_1 = [0.0f32, 2.0, 1.0, 4.0, 5.0, 3.0]; // FL C FR RL RR LFE, tagged by WAV index
        let order = vorbis_to_wav(6).unwrap();
        let wav: Vec<f32> = order.iter().map(|&i| vorbis_5_1[i]).collect();
        assert_eq!(wav, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            opus_layout(6),
            [Front, Front, Front, Lfe, Surround, Surround]
        );
    }
}

//! Is this upload audio we can play back? Magic-byte sniffing, then a symphonia probe that
//! demuxes the stream and decodes its first packets.

use std::io::{Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use symphonia::core::codecs::{CODEC_TYPE_NULL, CODEC_TYPE_OPUS, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;

use crate::decode::{
    OPUS_MAX_FRAMES, OpusStreams, check_codec_params, describe, guard, open_format,
};
use crate::error::AnalysisError;

/// Packets decoded to prove a stream is not garbage behind a valid header.
const PACKETS_TO_DECODE: usize = 48;
/// Upper bound on packets walked to measure a duration the container does not state.
const MAX_PACKETS_TO_COUNT: usize = 2_000_000;

/// The container formats the vault accepts, recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Wav,
    Aiff,
    Flac,
    Mp3,
    /// MPEG-4 audio (`.m4a`): AAC or ALAC.
    Mp4,
    /// Raw AAC in ADTS frames (`.aac`).
    Adts,
    /// Ogg: Vorbis or Opus.
    Ogg,
}

impl Container {
    /// Recognises a container from the first bytes of a file (at least 12 are needed).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.len() < 12 {
            return None;
        }
        match head {
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'A',
                b'V',
                b'E',
                ..,
            ] => Some(Self::Wav),
            [
                b'F',
                b'O',
                b'R',
                b'M',
                _,
                _,
                _,
                _,
                b'A',
                b'I',
                b'F',
                b'F' | b'C',
                ..,
            ] => Some(Self::Aiff),
            [b'f', b'L', b'a', b'C', ..] => Some(Self::Flac),
            [b'O', b'g', b'g', b'S', ..] => Some(Self::Ogg),
            [_, _, _, _, b'f', b't', b'y', b'p', ..] => Some(Self::Mp4),
            [b'I', b'D', b'3', ..] => Some(Self::Mp3),
            // ADTS: 12-bit sync, layer bits 00.
            [0xFF, b, ..] if b & 0xF6 == 0xF0 => Some(Self::Adts),
            // MPEG audio frame: 11-bit sync, a layer other than "reserved".
            [0xFF, b, ..] if b & 0xE0 == 0xE0 && b & 0x06 != 0 => Some(Self::Mp3),
            _ => None,
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Wav => "audio/wav",
            Self::Aiff => "audio/aiff",
            Self::Flac => "audio/flac",
            Self::Mp3 => "audio/mpeg",
            Self::Mp4 => "audio/mp4",
            Self::Adts => "audio/aac",
            Self::Ogg => "audio/ogg",
        }
    }
}

/// What the probe learnt about a stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioInfo {
    pub container: Container,
    /// Codec short name, e.g. `pcm_s24le`, `flac`, `aac`, `alac`, `vorbis`, `opus`.
    pub codec: String,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub bits_per_sample: Option<u32>,
    pub duration_secs: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("corrupt audio: {0}")]
    Corrupt(String),
}

/// The first packets' decoder.
enum PacketDecoder {
    Symphonia(Box<dyn symphonia::core::codecs::Decoder>),
    Opus(OpusStreams, Vec<f32>),
}

/// Demuxes `source` (already sniffed as `container`) and decodes its first packets.
///
/// Hostile input must not take the caller down: a panic inside the decoders is caught and
/// reported as corrupt audio.
pub fn probe<R>(source: R, len: u64, container: Container) -> Result<AudioInfo, ProbeError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    catch_unwind(AssertUnwindSafe(|| probe_inner(source, len, container))).unwrap_or_else(|_| {
        Err(ProbeError::Corrupt(
            "the decoder rejected the stream".into(),
        ))
    })
}

fn probe_inner<R>(source: R, len: u64, container: Container) -> Result<AudioInfo, ProbeError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let mut source = source;
    let demuxer =
        guard(&mut source, len, container).map_err(|e| ProbeError::Corrupt(e.to_string()))?;
    // The magic bytes already said which container this is: failing to parse it is damage.
    let mut format =
        open_format(source, len, demuxer).map_err(|e| ProbeError::Corrupt(describe(&e)))?;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| ProbeError::Unsupported("the file holds no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let codec = symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map(|d| d.short_name.to_owned())
        .unwrap_or_else(|| {
            if params.codec == CODEC_TYPE_OPUS {
                "opus".to_owned()
            } else {
                format!("{}", params.codec)
            }
        });

    // Opus has no decoder in symphonia 0.5: the engine's own Opus path proves those packets.
    let mut decoder = if params.codec == CODEC_TYPE_OPUS {
        let head = params.extra_data.as_deref().unwrap_or_default();
        let (streams, _) = OpusStreams::from_head(head).map_err(|e| match e {
            AnalysisError::Unsupported(m) => ProbeError::Unsupported(m),
            other => ProbeError::Corrupt(other.to_string()),
        })?;
        let channels = usize::from(head[9]);
        PacketDecoder::Opus(streams, vec![0.0; OPUS_MAX_FRAMES * channels])
    } else {
        check_codec_params(&params).map_err(|e| ProbeError::Unsupported(e.to_string()))?;
        PacketDecoder::Symphonia(
            symphonia::default::get_codecs()
                .make(&params, &DecoderOptions::default())
                .map_err(|e| ProbeError::Unsupported(describe(&e)))?,
        )
    };

    let mut read_packets = 0usize;
    let mut decoded = 0usize;
    let mut counted_frames: u64 = 0;
    let count_duration = params.n_frames.is_none();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) if read_packets == 0 => return Err(ProbeError::Corrupt(describe(&e))),
            // A damaged tail after good audio is still playable audio.
            Err(_) => break,
        };
        if packet.track_id() != track_id {
            continue;
        }
        read_packets += 1;
        counted_frames = counted_frames.saturating_add(packet.dur);
        if read_packets <= PACKETS_TO_DECODE {
            match &mut decoder {
                PacketDecoder::Symphonia(dec) => match dec.decode(&packet) {
                    Ok(_) => decoded += 1,
                    Err(SymphoniaError::DecodeError(_)) => {}
                    Err(e) => return Err(ProbeError::Corrupt(describe(&e))),
                },
                PacketDecoder::Opus(streams, pcm) => {
                    if streams.decode(&packet.data, pcm).is_ok() {
                        decoded += 1;
                    }
                }
            }
        }
        let done_decoding = read_packets >= PACKETS_TO_DECODE;
        if (done_decoding && !count_duration) || read_packets >= MAX_PACKETS_TO_COUNT {
            break;
        }
    }
    if read_packets == 0 {
        return Err(ProbeError::Corrupt(
            "the stream holds no audio packets".into(),
        ));
    }
    if decoded == 0 {
        return Err(ProbeError::Corrupt(
            "no packet of the stream decodes".into(),
        ));
    }

    let frames = params
        .n_frames
        .or((counted_frames > 0).then_some(counted_frames));
    let duration_secs = match (frames, params.time_base, params.sample_rate) {
        (Some(n), Some(tb), _) => {
            let t = tb.calc_time(n);
            Some(t.seconds as f64 + t.frac)
        }
        (Some(n), None, Some(rate)) if rate > 0 => Some(n as f64 / f64::from(rate)),
        _ => None,
    };
    Ok(AudioInfo {
        container,
        codec,
        sample_rate: params.sample_rate,
        channels: params.channels.map(|c| c.count() as u16),
        bits_per_sample: params.bits_per_sample,
        duration_secs,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_container() {
        let cases: &[(&[u8], Option<Container>)] = &[
            (b"RIFF\0\0\0\0WAVEfmt ", Some(Container::Wav)),
            (b"FORM\0\0\0\0AIFFCOMM", Some(Container::Aiff)),
            (b"FORM\0\0\0\0AIFCFVER", Some(Container::Aiff)),
            (b"fLaC\0\0\0\x22\0\0\0\0", Some(Container::Flac)),
            (b"OggS\0\x02\0\0\0\0\0\0", Some(Container::Ogg)),
            (b"\0\0\0\x20ftypM4A \0\0", Some(Container::Mp4)),
            (b"ID3\x04\0\0\0\0\0\0\0\0", Some(Container::Mp3)),
            (
                &[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0],
                Some(Container::Mp3),
            ),
            (
                &[0xFF, 0xF1, 0x50, 0x80, 0, 0, 0, 0, 0, 0, 0, 0],
                Some(Container::Adts),
            ),
            (b"%PDF-1.7\n%\xe2\xe3\xcf", None),
            (b"<html><body>", None),
            (b"RIFF\0\0\0\0AVI LIST", None),
            (b"short", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(Container::sniff(bytes), *want, "{bytes:?}");
        }
    }

    fn wav_header(data_len: u32, rate: u32, channels: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(36 + data_len).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        h.extend_from_slice(&(channels * 2).to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        h
    }

    #[test]
    fn probes_a_pcm_wav() {
        let frames = 44_100u32;
        let mut wav = wav_header(frames * 4, 44_100, 2);
        for i in 0..frames {
            let s = ((i as f32 * 0.05).sin() * 8000.0) as i16;
            wav.extend_from_slice(&s.to_le_bytes());
            wav.extend_from_slice(&s.to_le_bytes());
        }
        let len = wav.len() as u64;
        let info = probe(std::io::Cursor::new(wav), len, Container::Wav).unwrap();
        assert_eq!(info.sample_rate, Some(44_100));
        assert_eq!(info.channels, Some(2));
        assert_eq!(info.bits_per_sample, Some(16));
        assert_eq!(info.codec, "pcm_s16le");
        let secs = info.duration_secs.unwrap();
        assert!((secs - 1.0).abs() < 1e-6, "{secs}");
    }

    #[test]
    fn rejects_garbage_behind_a_valid_magic() {
        let mut bytes = b"fLaC".to_vec();
        bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let len = bytes.len() as u64;
        let err = probe(std::io::Cursor::new(bytes), len, Container::Flac).unwrap_err();
        assert!(matches!(err, ProbeError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn rejects_a_header_with_no_audio() {
        let wav = wav_header(0, 44_100, 2);
        let len = wav.len() as u64;
        let err = probe(std::io::Cursor::new(wav), len, Container::Wav).unwrap_err();
        assert!(matches!(err, ProbeError::Corrupt(_)), "{err:?}");
    }
}

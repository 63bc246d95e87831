//! Streaming reads of 32-bit float WAV files, the format every backend writes its stems in:
//! the worker checks and uploads stems a block at a time, so memory stays flat however long
//! the track.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

const FORMAT_FLOAT: u16 = 3;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The first two bytes of the KSDATAFORMAT_SUBTYPE_IEEE_FLOAT GUID (the rest is fixed).
const SUBTYPE_FLOAT: u16 = 3;

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a 32-bit float WAV file: {0}")]
    Format(String),
}

/// A float WAV file opened for reading frame blocks in order.
#[derive(Debug)]
pub struct FloatWavReader {
    file: BufReader<File>,
    pub sample_rate: u32,
    pub channels: u16,
    /// Frames in the file.
    pub frames: u64,
    left: u64,
    bytes: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl FloatWavReader {
    pub fn open(path: &Path) -> Result<Self, WavError> {
        let mut file = BufReader::new(File::open(path)?);
        let mut riff = [0u8; 12];
        file.read_exact(&mut riff)
            .map_err(|_| WavError::Format("shorter than a WAV header".into()))?;
        if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
            return Err(WavError::Format("no RIFF/WAVE header".into()));
        }
        let mut fmt: Option<(u16, u32)> = None;
        loop {
            let mut head = [0u8; 8];
            file.read_exact(&mut head)
                .map_err(|_| WavError::Format("no data chunk".into()))?;
            let size = u64::from(u32_at(&head, 4));
            match &head[0..4] {
                b"fmt " => {
                    if !(16..=64).contains(&size) {
                        return Err(WavError::Format(format!("a fmt chunk of {size} bytes")));
                    }
                    let mut body = vec![0u8; size as usize];
                    file.read_exact(&mut body)?;
                    let tag = u16_at(&body, 0);
                    let bits = u16_at(&body, 14);
                    let float = tag == FORMAT_FLOAT
                        || (tag == FORMAT_EXTENSIBLE
                            && size >= 26
                            && u16_at(&body, 24) == SUBTYPE_FLOAT);
                    if !float || bits != 32 {
                        return Err(WavError::Format(format!(
                            "format tag {tag:#06x} with {bits}-bit samples"
                        )));
                    }
                    fmt = Some((u16_at(&body, 2), u32_at(&body, 4)));
                    if size % 2 == 1 {
                        file.seek(SeekFrom::Current(1))?;
                    }
                }
                b"data" => {
                    let (channels, sample_rate) =
                        fmt.ok_or_else(|| WavError::Format("data before fmt".into()))?;
                    if channels == 0 || sample_rate == 0 {
                        return Err(WavError::Format("no channels or no rate".into()));
                    }
                    let frame = u64::from(channels) * 4;
                    if size % frame != 0 {
                        return Err(WavError::Format("a data chunk of partial frames".into()));
                    }
                    return Ok(Self {
                        file,
                        sample_rate,
                        channels,
                        frames: size / frame,
                        left: size / frame,
                        bytes: Vec::new(),
                    });
                }
                _ => {
                    file.seek(SeekFrom::Current(
                        i64::try_from(size + size % 2).unwrap_or(i64::MAX),
                    ))?;
                }
            }
        }
    }

    /// Reads up to `max` frames into `out` (replacing its contents); answers the frames read,
    /// 0 at the end.
    pub fn read_frames(&mut self, max: usize, out: &mut Vec<f32>) -> Result<usize, WavError> {
        let n = self.left.min(max as u64) as usize;
        let channels = usize::from(self.channels);
        self.bytes.resize(n * channels * 4, 0);
        self.file
            .read_exact(&mut self.bytes)
            .map_err(|_| WavError::Format("the data chunk is cut short".into()))?;
        out.clear();
        out.extend(
            self.bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use studiovault_stems::FloatWavWriter;

    #[test]
    fn reads_back_what_the_stems_writer_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut w = FloatWavWriter::new(File::create(&path).unwrap(), 48_000, 2).unwrap();
        let samples: Vec<f32> = (0..2000).map(|i| i as f32 / 2000.0).collect();
        w.write(&samples).unwrap();
        w.finish().unwrap();
        let mut r = FloatWavReader::open(&path).unwrap();
        assert_eq!((r.sample_rate, r.channels, r.frames), (48_000, 2, 1000));
        let mut all = Vec::new();
        let mut block = Vec::new();
        while r.read_frames(333, &mut block).unwrap() > 0 {
            all.extend_from_slice(&block);
        }
        assert_eq!(all, samples);
    }

    #[test]
    fn refuses_integer_and_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pcm.wav");
        let mut h = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&44_100u32.to_le_bytes());
        h.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&8u32.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        std::fs::write(&path, &h).unwrap();
        assert!(matches!(
            FloatWavReader::open(&path),
            Err(WavError::Format(_))
        ));
        std::fs::write(&path, b"RIFF").unwrap();
        assert!(FloatWavReader::open(&path).is_err());
    }
}

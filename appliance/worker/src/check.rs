//! What every separation goes through, whatever the backend: the input decoded to a 32-bit
//! float WAV (the one format backends take), and the stems checked against it before anything
//! is sent: the input's rate, channels and exact length, finite samples, and a sum close to
//! the mix.

use std::path::Path;

use studiovault_api::worker::STEM_NAMES;
use studiovault_audio::{AudioDecoder, Container, DecodeLimits};
use studiovault_stems::FloatWavWriter;

use crate::backend::BackendError;
use crate::wav::FloatWavReader;

/// Frames per block when converting and checking.
pub const BLOCK_FRAMES: usize = 16_384;
/// A backend whose stems sum back to the mix worse than this is broken, not imprecise.
pub const MIN_BACKEND_SUM_DB: f64 = 10.0;

/// The stems' shape, equal to the input's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
}

/// Decodes `source` (any format the appliance stores) to a 32-bit float WAV at `dest`.
pub fn decode_to_wav(source: &Path, dest: &Path) -> Result<Shape, BackendError> {
    let bad = |m: String| BackendError::BadInput(format!("the audio cannot be decoded: {m}"));
    let mut file = std::fs::File::open(source)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; 16];
    let n = std::io::Read::read(&mut file, &mut head)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
    let container = Container::sniff(&head[..n]).ok_or_else(|| bad("not audio".into()))?;
    let mut decoder = AudioDecoder::open(file, len, container, DecodeLimits::default())
        .map_err(|e| bad(e.to_string()))?;
    let mut out = Some(std::fs::File::create(dest)?);
    let mut writer: Option<FloatWavWriter<std::io::BufWriter<std::fs::File>>> = None;
    let mut shape = Shape {
        sample_rate: 0,
        channels: 0,
        frames: 0,
    };
    while let Some(block) = decoder.next_block().map_err(|e| bad(e.to_string()))? {
        if writer.is_none() {
            let channels =
                u16::try_from(block.channels).map_err(|_| bad("too many channels".into()))?;
            shape.sample_rate = block.sample_rate;
            shape.channels = channels;
            if let Some(file) = out.take() {
                writer = Some(
                    FloatWavWriter::new(std::io::BufWriter::new(file), block.sample_rate, channels)
                        .map_err(|e| BackendError::Failed(e.to_string()))?,
                );
            }
        }
        if let Some(w) = writer.as_mut() {
            w.write(block.samples)
                .map_err(|e| BackendError::Failed(e.to_string()))?;
            shape.frames += block.frames() as u64;
        }
    }
    writer
        .ok_or_else(|| bad("it holds no audio".into()))?
        .finish()
        .map_err(|e| BackendError::Failed(e.to_string()))?;
    Ok(shape)
}

fn bad_output(m: String) -> BackendError {
    BackendError::BadOutput(m)
}

/// Opens the input and the four stems, refusing stems whose shape differs from the input's.
pub fn open_all(
    input: &Path,
    stems: &Path,
) -> Result<(FloatWavReader, Vec<FloatWavReader>), BackendError> {
    let mix = FloatWavReader::open(input).map_err(|e| bad_output(format!("the input: {e}")))?;
    let mut readers = Vec::with_capacity(STEM_NAMES.len());
    for name in STEM_NAMES {
        let r = FloatWavReader::open(&stems.join(format!("{name}.wav")))
            .map_err(|e| bad_output(format!("{name}.wav: {e}")))?;
        if r.sample_rate != mix.sample_rate || r.channels != mix.channels || r.frames != mix.frames
        {
            return Err(bad_output(format!(
                "{name}.wav has {} frames at {} Hz in {} channel(s); the input has {} frames at \
                 {} Hz in {}",
                r.frames, r.sample_rate, r.channels, mix.frames, mix.sample_rate, mix.channels
            )));
        }
        readers.push(r);
    }
    Ok((mix, readers))
}

/// Checks the stems in `stems` against the float WAV `input`.
pub fn check_stems(input: &Path, stems: &Path) -> Result<Shape, BackendError> {
    let (mut mix, mut readers) = open_all(input, stems)?;
    let (mut energy, mut residual) = (0f64, 0f64);
    let mut block = Vec::new();
    let mut stem_blocks: Vec<Vec<f32>> = vec![Vec::new(); readers.len()];
    loop {
        let n = mix
            .read_frames(BLOCK_FRAMES, &mut block)
            .map_err(|e| bad_output(e.to_string()))?;
        if n == 0 {
            break;
        }
        for ((r, b), name) in readers.iter_mut().zip(&mut stem_blocks).zip(STEM_NAMES) {
            r.read_frames(BLOCK_FRAMES, b)
                .map_err(|e| bad_output(format!("{name}.wav: {e}")))?;
            if b.iter().any(|x| !x.is_finite()) {
                return Err(bad_output(format!(
                    "{name}.wav holds samples that are not finite numbers (NaN or infinity)"
                )));
            }
        }
        for (i, m) in block.iter().enumerate() {
            let sum: f32 = stem_blocks.iter().map(|b| b[i]).sum();
            energy += f64::from(*m) * f64::from(*m);
            residual += f64::from(sum - m) * f64::from(sum - m);
        }
    }
    if residual > 0.0 && energy > 0.0 {
        let snr = 10.0 * (energy / residual).log10();
        if snr < MIN_BACKEND_SUM_DB {
            return Err(bad_output(format!(
                "the stems sum back to the mix at only {snr:.1} dB (at least \
                 {MIN_BACKEND_SUM_DB} dB expected)"
            )));
        }
    }
    Ok(Shape {
        sample_rate: mix.sample_rate,
        channels: mix.channels,
        frames: mix.frames,
    })
}

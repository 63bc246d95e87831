//! Studio Vault's forensic watermark.
//!
//! Every share link serves a copy marked with its recipient's id, so a leaked file (even a
//! re-encoded 30-second excerpt) names the recipient it was shared with. The mark is keyed
//! by a per-appliance secret, shaped under the music, and read blind from any excerpt.
//! See `docs/WATERMARK.md` for the design and the reasons behind it.
//!
//! Everything here is pure DSP on interleaved `f32` samples: no file or network I/O.
//!
//! ```
//! use studiovault_watermark::{Payload, WatermarkKey, detect, embed};
//! # fn main() -> Result<(), studiovault_watermark::Error> {
//! let key = WatermarkKey::from_bytes([42; 32]);
//! let rate = 44_100;
//! let audio: Vec<f32> = (0..rate * 8)
//!     .map(|n| 0.1 * ((n * 7919 % 10007) as f32 / 5003.5 - 1.0))
//!     .collect();
//! let marked = embed(&audio, rate, 1, &key, Payload::new(1234))?;
//! let found = detect(&marked[rate as usize..], rate, 1, &key)?;
//! assert_eq!(found.map(|d| d.payload), Some(Payload::new(1234)));
//! # Ok(())
//! # }
//! ```

mod code;
mod detect;
mod embed;
mod geometry;
mod key;

pub use code::Payload;
pub use detect::{
    Analysis, DetectOptions, Detection, SoftBits, accusation_threshold, analyze, detect,
};
pub use embed::{Embedder, MarkVersion, embed};
pub use key::WatermarkKey;

/// Why embedding or detection could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("unsupported sample rate {0} Hz (16 kHz to 400 kHz)")]
    UnsupportedSampleRate(f64),
    #[error("audio must have at least one channel")]
    NoChannels,
    #[error("{samples} samples do not divide into {channels}-channel sample frames")]
    PartialSampleFrame { samples: usize, channels: usize },
    #[error("watermark strength {0} is outside (0, 0.5]")]
    InvalidStrength(f32),
    #[error("FFT failed: {0}")]
    Fft(String),
}

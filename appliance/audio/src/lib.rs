//! Studio Vault's signal processing.
//!
//! Everything here is pure: callers hand in readers and sample buffers, nothing opens files or
//! sockets, so each piece can be benchmarked and fuzzed on its own.

mod analysis;
mod decode;
mod error;
mod key;
mod loudness;
mod melody;
mod midi;
mod peaks;
mod probe;
mod resample;
mod stft;
mod tempo;

pub use analysis::{Analysis, AnalysisOptions, analyze, analyze_samples};
pub use decode::{AudioDecoder, Block, DecodeLimits};
pub use error::AnalysisError;
pub use key::{Key, Mode};
pub use loudness::Loudness;
pub use melody::{Melody, MelodyOptions, MelodyRange, Note, extract_melody, melody_from_samples};
pub use peaks::{PeakBits, PeakLevel, PeaksOptions, Waveform};
pub use probe::{AudioInfo, Container, ProbeError, probe};
pub use resample::ANALYSIS_RATE;
pub use tempo::Tempo;

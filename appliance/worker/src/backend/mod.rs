//! Separators a worker runs: each takes a float WAV and writes `vocals.wav`, `drums.wav`,
//! `bass.wav` and `other.wav` (32-bit float, the input's rate, channels and exact length) into
//! an output directory.
//!
//! - [`builtin`]: Spleeter's 2-stem U-Nets in Rust on the CPU, the accompaniment split by DSP
//!   into a draft drums/bass/other.
//! - [`command`]: an external separator (e.g. Demucs on a GPU) behind the contract in
//!   `docs/STEM_BACKENDS.md`.

pub mod builtin;
pub mod command;

use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use builtin::Builtin;
pub use command::Command;

/// What a finished separation made, besides its files.
#[derive(Debug, Clone, PartialEq)]
pub struct Separation {
    /// The model that made the stems, as the backend names it.
    pub model: String,
    /// A draft split, labelled so for the owner.
    pub draft: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The input is not something the separator takes: no retry helps.
    #[error("the separator refused the input: {0}")]
    BadInput(String),
    /// The separator ran out of memory with every setting tried.
    #[error("the separator ran out of memory")]
    OutOfMemory,
    /// The model's weights are missing on this box.
    #[error("the separator's model is missing on this worker: {0}")]
    ModelMissing(String),
    /// The stems it wrote break the contract (length, format, non-finite samples).
    #[error("the separator's stems are unusable: {0}")]
    BadOutput(String),
    #[error("the separator made no progress for {0} s and was stopped")]
    Stalled(u64),
    #[error("the separation was cancelled")]
    Cancelled,
    #[error("the separator failed: {0}")]
    Failed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl BackendError {
    /// Whether another attempt (maybe on another worker) may succeed.
    pub fn retry(&self) -> bool {
        !matches!(
            self,
            Self::BadInput(_) | Self::BadOutput(_) | Self::Cancelled
        )
    }
}

/// A separator.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// `builtin` or `command`, as the console shows it.
    fn name(&self) -> &'static str;

    /// Separates `input` (a float WAV) into the four stems in `out_dir`, reporting progress
    /// (0 to 1) and stopping with [`BackendError::Cancelled`] once `cancel` is set.
    fn separate(
        &self,
        input: &Path,
        out_dir: &Path,
        progress: &(dyn Fn(f32) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Separation, BackendError>;
}

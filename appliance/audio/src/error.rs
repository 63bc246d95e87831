//! Why an analysis gave up. Every input-dependent failure ends here, never in a panic.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum AnalysisError {
    #[error("not an audio file (accepted: WAV, AIFF, FLAC, MP3, AAC/M4A, ALAC, Ogg Vorbis, Opus)")]
    NotAudio,
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("corrupt audio: {0}")]
    Corrupt(String),
    #[error("the audio is longer than the {limit_secs} s limit")]
    TooLong { limit_secs: f64 },
    #[error("the analysis was cancelled")]
    Cancelled,
    #[error("the analysis ran past its deadline")]
    DeadlineExceeded,
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}

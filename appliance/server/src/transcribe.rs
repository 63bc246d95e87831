//! Melody to MIDI on an owner's request (`GET /api/tracks/{id}/melody.mid`), in a child
//! process (`studiovault transcribe-job`) under the analysis limits, like analyses, renders
//! and traces. Decoding and following a line hold a core for seconds (minutes for a long
//! recording) and memory in proportion to the length, so they never run in the server:
//!
//! - at most `analysis.transcriptions` run at once; a request waits up to
//!   `analysis.transcription_wait_seconds` for its turn, then is answered `503 busy`;
//! - the child belongs to the request: when the client goes away (a closed tab, a cancelled
//!   download), the request's future is dropped, the child is killed and its turn passes on.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use studiovault_audio::{MelodyOptions, MelodyRange, extract_melody};
use studiovault_vault::BlobAccess;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::analysis::{JobLimits, JobRequest, run_json_job, serve_json_job, sniff};

/// Why no MIDI file came back.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// Every turn stayed taken for the whole wait.
    #[error("other transcriptions are running; try again in a little while")]
    Busy,
    /// The job ran and failed: the reason (bad audio, a limit, a dead process).
    #[error("{0}")]
    Failed(String),
}

/// The turns transcriptions take and the job they run.
#[derive(Debug)]
pub struct Transcriber {
    limits: JobLimits,
    turns: Arc<Semaphore>,
    wait: Duration,
}

/// What the parent sends the child: the blob, the limits and what to transcribe.
#[derive(Debug, Serialize, Deserialize)]
struct TranscribeRequest {
    #[serde(flatten)]
    audio: JobRequest,
    range: MelodyRange,
    bpm: Option<f64>,
}

/// What the child answers.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TranscribeOutcome {
    /// The Standard MIDI File, base64.
    midi: Option<String>,
    error: Option<String>,
}

impl Transcriber {
    /// `turns` transcriptions at once (at least one), each request waiting up to `wait`.
    pub fn new(limits: JobLimits, turns: u32, wait: Duration) -> Self {
        Self {
            limits,
            turns: Arc::new(Semaphore::new(turns.max(1) as usize)),
            wait,
        }
    }

    /// Waits for a turn; `Busy` if none frees within the wait. Taken before the audio is
    /// opened, so a request turned away leaves no access in the audit log.
    pub async fn turn(&self) -> Result<OwnedSemaphorePermit, TranscribeError> {
        tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| TranscribeError::Busy)?
            .map_err(|_| TranscribeError::Busy)
    }

    /// The `range` line of the audio behind `access` as a Standard MIDI File at `bpm`, read
    /// by a child process during `turn`.
    pub async fn transcribe(
        &self,
        _turn: &OwnedSemaphorePermit,
        access: &BlobAccess,
        range: MelodyRange,
        bpm: Option<f64>,
    ) -> Result<Vec<u8>, TranscribeError> {
        let request = TranscribeRequest {
            audio: JobRequest::new(access, self.limits),
            range,
            bpm,
        };
        let exe = std::env::current_exe()
            .map_err(|e| TranscribeError::Failed(format!("cannot find this binary: {e}")))?;
        let outcome: TranscribeOutcome = run_json_job(
            &exe,
            "transcribe-job",
            "transcription",
            &request,
            self.limits,
        )
        .await
        .map_err(TranscribeError::Failed)?;
        match outcome {
            TranscribeOutcome {
                midi: Some(midi), ..
            } => STANDARD.decode(midi).map_err(|_| {
                TranscribeError::Failed("the transcription process answered garbage".into())
            }),
            TranscribeOutcome { error, .. } => {
                Err(TranscribeError::Failed(error.unwrap_or_else(|| {
                    "the transcription gave no result".into()
                })))
            }
        }
    }
}

/// The child side: `studiovault transcribe-job`.
pub fn child_main(memory_limit_bytes: u64) -> std::process::ExitCode {
    serve_json_job(
        memory_limit_bytes,
        |request: Result<TranscribeRequest, String>| match request.and_then(|r| transcribe(&r)) {
            Ok(midi) => TranscribeOutcome {
                midi: Some(STANDARD.encode(midi)),
                error: None,
            },
            Err(e) => TranscribeOutcome {
                midi: None,
                error: Some(e),
            },
        },
    )
}

fn transcribe(request: &TranscribeRequest) -> Result<Vec<u8>, String> {
    let mut reader = request.audio.open()?;
    let container = sniff(&mut reader)?;
    let options = MelodyOptions {
        range: request.range,
        bpm: request.bpm,
        max_duration: request.audio.max_duration(),
        deadline: Some(request.audio.deadline()),
        cancel: None,
    };
    extract_melody(reader, request.audio.audio_len(), container, &options)
        .map(|melody| melody.to_midi())
        .map_err(|e| e.to_string())
}

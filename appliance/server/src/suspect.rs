//! Reading the watermark of a suspect file an owner uploads (`POST /api/leaks/trace`), in a
//! child process (`studiovault trace-job`) under the analysis limits, like analysis and
//! renders: a hostile file (absurd rates, channel counts or lengths in a few kilobytes) can
//! exhaust only that child's address space or time, never the server's.
//!
//! The parent writes one JSON line (the watermark key and the limits) and then the file's bytes
//! to the child's standard input as they arrive from the client, so the server never holds the
//! file; the child answers one JSON line: the payload that decoded, if any, and the soft bits
//! the candidates are scored against.

use std::io::{BufRead, Read, Write};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use studiovault_audio::DecodeLimits;
use studiovault_watermark::{SoftBits, WatermarkKey};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::analysis::{JobLimits, spawn_job};

/// Suspect files read at once; more wait their turn rather than multiply the memory.
static SLOTS: Semaphore = Semaphore::const_new(1);
/// How long a trace may wait for its turn before it is answered "busy".
const QUEUE_WAIT: Duration = Duration::from_secs(30);

/// What the parent tells the child before the file's bytes.
#[derive(Debug, Serialize, Deserialize)]
struct Brief {
    watermark_key: String,
    timeout_secs: u64,
}

/// What the child read from the file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Reading {
    payload: Option<u64>,
    soft_bits: Option<Vec<f32>>,
    error: Option<String>,
}

/// The watermark read from a suspect file.
#[derive(Debug)]
pub struct Suspect {
    pub payload: Option<u64>,
    pub soft_bits: Option<SoftBits>,
}

#[derive(Debug, thiserror::Error)]
pub enum SuspectError {
    /// Another trace holds the reader for longer than [`QUEUE_WAIT`].
    #[error("another leak trace is running; try again in a minute")]
    Busy,
    /// The file is not audio this appliance reads, or is beyond the limits.
    #[error("the file could not be read as audio: {0}")]
    Unreadable(String),
    /// The client stopped sending the file.
    #[error("the upload of the suspect file broke off")]
    BodyBroken,
    #[error("the leak check could not run: {0}")]
    Job(String),
}

/// Reads the watermark of the file arriving on `body`, in a child process under `limits`.
pub async fn read<S, B>(
    body: S,
    key: &WatermarkKey,
    limits: JobLimits,
) -> Result<Suspect, SuspectError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let _slot = tokio::time::timeout(QUEUE_WAIT, SLOTS.acquire())
        .await
        .map_err(|_| SuspectError::Busy)?
        .map_err(|_| SuspectError::Busy)?;
    let exe = std::env::current_exe().map_err(|e| SuspectError::Job(e.to_string()))?;
    let mut child = spawn_job(&exe, "trace-job", limits, Stdio::null())
        .map_err(|e| SuspectError::Job(format!("cannot start the trace process: {e}")))?;
    let brief = Brief {
        watermark_key: hex::encode(key.as_bytes()),
        timeout_secs: limits.timeout.as_secs(),
    };
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| SuspectError::Job("the trace process has no input".into()))?;
    let feed = async move {
        let mut line = serde_json::to_vec(&brief).unwrap_or_default();
        line.push(b'\n');
        // A child that stops reading (it refused the file early) ends the feed, not the trace.
        if stdin.write_all(&line).await.is_err() {
            return Ok(());
        }
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|_| SuspectError::BodyBroken)?;
            if stdin.write_all_buf(&mut chunk).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    };
    let work = async {
        feed.await?;
        child
            .wait_with_output()
            .await
            .map_err(|e| SuspectError::Job(format!("the trace process failed: {e}")))
    };
    // A little beyond the engine's own deadline, for start-up, the upload and the answer.
    let output = tokio::time::timeout(limits.timeout + Duration::from_secs(5), work)
        .await
        .map_err(|_| {
            SuspectError::Unreadable(format!(
                "reading it took longer than {} s",
                limits.timeout.as_secs()
            ))
        })??;
    if !output.status.success() {
        use std::os::unix::process::ExitStatusExt;
        return Err(match output.status.signal() {
            // Rust aborts when an allocation fails: the address-space limit held.
            Some(6) => SuspectError::Unreadable(format!(
                "it needs more than the {} MiB a leak check may use",
                limits.memory_bytes >> 20
            )),
            _ => SuspectError::Job(format!("the trace process failed ({})", output.status)),
        });
    }
    let reading: Reading = serde_json::from_slice(&output.stdout)
        .map_err(|e| SuspectError::Job(format!("the trace process answered garbage: {e}")))?;
    if let Some(error) = reading.error {
        return Err(SuspectError::Unreadable(error));
    }
    Ok(Suspect {
        payload: reading.payload,
        soft_bits: reading.soft_bits.map(SoftBits::from_values),
    })
}

/// The child side: `studiovault trace-job`. Limits its own address space first, then reads the
/// brief and the file from stdin and prints one [`Reading`] on stdout.
pub fn child_main(memory_limit_bytes: u64) -> ExitCode {
    if !crate::analysis::limit_address_space(memory_limit_bytes) {
        return ExitCode::FAILURE;
    }
    let reading = read_stdin().unwrap_or_else(|error| Reading {
        error: Some(error),
        ..Reading::default()
    });
    let mut out = std::io::stdout().lock();
    match serde_json::to_writer(&mut out, &reading)
        .map_err(std::io::Error::from)
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn read_stdin() -> Result<Reading, String> {
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    input
        .read_until(b'\n', &mut line)
        .map_err(|e| e.to_string())?;
    let brief: Brief = serde_json::from_slice(&line).map_err(|e| format!("bad brief: {e}"))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&brief.watermark_key, &mut key).map_err(|_| "bad watermark key")?;
    let key = WatermarkKey::from_bytes(key);
    let mut file = Vec::new();
    input.read_to_end(&mut file).map_err(|e| e.to_string())?;
    if file.is_empty() {
        return Err("the file is empty".into());
    }
    let len = file.len() as u64;
    let limits = DecodeLimits {
        deadline: Some(Instant::now() + Duration::from_secs(brief.timeout_secs)),
        ..DecodeLimits::default()
    };
    let analysis = studiovault_marking::analyze(std::io::Cursor::new(file), len, &key, limits)
        .map_err(|e| e.to_string())?;
    Ok(Reading {
        payload: analysis.detection.map(|d| d.payload.id),
        soft_bits: analysis.soft_bits.map(|s| s.values().to_vec()),
        error: None,
    })
}

//! The render executor: recipients' watermarked copies, as render jobs of the durable job table
//! (`jobs.rs`). The first time a recipient opens their link, each track of a watermarking share
//! is queued; the executor decodes it, marks it with their payload and stores it as FLAC
//! (lossless, and played by every current browser), encrypted under the owner's key. The
//! portal shows the job's state and progress; the copy is reused afterwards, and a render
//! interrupted by a restart is taken up again after it.
//!
//! Like analysis, each render runs in a child process (`studiovault render-job`) under an
//! address-space limit and a timeout, given only the one source blob's path and key and the
//! payload: a file that makes a decoder misbehave fails its own copy, never the server. The
//! child writes the FLAC on stdout and its progress (frames done) on stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use studiovault_audio::DecodeLimits;
use studiovault_vault::{BlobAccess, JobKind, Lease, RecipientGrant, TrackId, Vault, VaultError};
use studiovault_watermark::{Payload, WatermarkKey};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::jobs::{Executor, Progress};
use studiovault_marking::{EncodedFlac, Encoding, MarkedStream, encode_flac};

/// Limits of one render, from the analysis limits in the config.
pub type RenderLimits = crate::analysis::JobLimits;

/// Renders recipients' copies in child processes of this binary.
#[derive(Debug)]
pub struct RenderExecutor {
    pub exe: PathBuf,
    pub limits: RenderLimits,
    pub key: WatermarkKey,
}

impl Executor for RenderExecutor {
    fn kind(&self) -> JobKind {
        JobKind::Render
    }

    async fn execute(self: Arc<Self>, vault: Vault, lease: Lease, progress: Arc<Progress>) {
        let (v, l) = (vault.clone(), lease.clone());
        let target =
            tokio::task::spawn_blocking(move || RecipientGrant::for_copy_job(&v, &l)).await;
        let (grant, track) = match target {
            Ok(Ok(target)) => target,
            // The recipient went while the copy was queued: nothing to make.
            Ok(Err(VaultError::NotFound)) => return settle(&vault, &lease, Ok(())).await,
            Ok(Err(e)) => return settle(&vault, &lease, Err(RenderError::Store(e))).await,
            Err(e) => return settle(&vault, &lease, Err(RenderError::Job(e.to_string()))).await,
        };
        let started = Instant::now();
        let outcome = render(&vault, &grant, track, &self, progress).await;
        if outcome.is_ok() {
            tracing::info!(%track, elapsed_ms = started.elapsed().as_millis() as u64, "watermarked copy stored");
        }
        settle(&vault, &lease, outcome).await;
    }
}

/// Ends the job after a render: done when the copy was stored (or is no longer wanted: the
/// track or the recipient went, or an earlier attempt stored it), failed otherwise.
async fn settle(vault: &Vault, lease: &Lease, outcome: Result<(), RenderError>) {
    let (v, l) = (vault.clone(), lease.clone());
    let recorded = tokio::task::spawn_blocking(move || match outcome {
        Ok(()) | Err(RenderError::Store(VaultError::NotFound | VaultError::Invalid { .. })) => {
            l.finish(&v)
        }
        Err(e) => {
            tracing::warn!(error = %e, "rendering a watermarked copy failed");
            l.fail(&v, &e.to_string(), e.may_pass()).map(|_| ())
        }
    })
    .await;
    match recorded {
        Ok(Ok(()) | Err(VaultError::LeaseLost)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "recording a render's end failed"),
        Err(e) => tracing::error!(error = %e, "recording a render's end failed"),
    }
}

#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error("{0}")]
    Store(#[from] VaultError),
    /// The child refused the job (its reason) or could not be run.
    #[error("{0}")]
    Job(String),
    /// The child was killed (a signal) or overran its time.
    #[error("{0}")]
    Died(String),
    /// The child needed more memory than its limit: the same track needs as much next time.
    #[error("{0}")]
    OverLimit(String),
}

impl RenderError {
    /// A child that died, or a disk or store that failed, may fare better next time; a file
    /// the child refused will not.
    fn may_pass(&self) -> bool {
        matches!(
            self,
            RenderError::Died(_)
                | RenderError::Store(
                    VaultError::Io(_) | VaultError::Store(_) | VaultError::DiskFull { .. }
                )
        )
    }
}

/// What the parent sends the child on its standard input.
#[derive(Debug, Serialize, Deserialize)]
struct RenderRequest {
    path: PathBuf,
    blob: String,
    len: u64,
    key: String,
    watermark_key: String,
    payload: u64,
    bits_per_sample: Option<u32>,
    float: bool,
    max_duration_secs: u64,
}

async fn render(
    vault: &Vault,
    grant: &RecipientGrant,
    track: TrackId,
    executor: &RenderExecutor,
    progress: Arc<Progress>,
) -> Result<(), RenderError> {
    let (key, limits) = (&executor.key, executor.limits);
    let (v, g) = (vault.clone(), grant.clone());
    let (payload, rec, access) = tokio::task::spawn_blocking(move || {
        let payload = g.watermark_payload(&v)?.ok_or(VaultError::NotFound)?;
        let (rec, access) = g.render_access(&v, track)?;
        Ok::<_, VaultError>((payload, rec, access))
    })
    .await
    .map_err(|e| RenderError::Job(e.to_string()))??;
    let request = RenderRequest {
        path: access.path.clone(),
        blob: access.blob.to_string(),
        len: access.len,
        key: access.key_hex().to_string(),
        watermark_key: hex::encode(key.as_bytes()),
        payload,
        bits_per_sample: rec.info.bits_per_sample,
        float: rec.info.codec.starts_with("pcm_f"),
        max_duration_secs: limits.max_duration.as_secs(),
    };
    let frames_total = (rec.info.duration_secs.unwrap_or(0.0)
        * f64::from(rec.info.sample_rate.unwrap_or(44_100))) as u64;
    let stem = rec
        .info
        .original_filename
        .rsplit_once('.')
        .map_or(rec.info.original_filename.as_str(), |(stem, _)| stem)
        .to_owned();
    // The copy streams from the child's stdout into the encrypting writer through a few chunks
    // in flight: the server never holds a whole copy.
    let (chunks, source) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let (v, g) = (vault.clone(), grant.clone());
    let store = tokio::task::spawn_blocking(move || {
        g.store_render(
            &v,
            track,
            ChannelReader::new(source),
            "audio/flac",
            &format!("{stem}.flac"),
        )
    });
    let report = move |frames: u64| progress.set(frames as f64 / frames_total.max(1) as f64);
    let rendered = run_child(&executor.exe, &request, limits, report, chunks).await;
    let stored = store.await.map_err(|e| RenderError::Job(e.to_string()))?;
    outcome(rendered, stored.map(drop))
}

/// What a render came to. The child's failure is the reason, whatever the store made of the
/// stream it cut short; unless the store stopped first for a passing reason (a full disk, an
/// I/O error): the child then only failed to write to a copy nobody read any more, and its
/// failure, a lasting one, kept the copy from ever being made again.
fn outcome(
    rendered: Result<(), RenderError>,
    stored: Result<(), VaultError>,
) -> Result<(), RenderError> {
    match (rendered, stored.map_err(RenderError::Store)) {
        (Err(_), Err(store)) if store.may_pass() => Err(store),
        (rendered, stored) => rendered.and(stored),
    }
}

/// Chunks of a copy between the child's stdout and the store.
const CHUNKS_IN_FLIGHT: usize = 8;

/// One message on the copy's stream. The end is said explicitly: a stream whose sender went
/// away without saying it (the render task was dropped at shutdown) is a broken copy, never a
/// short one.
enum Chunk {
    Data(bytes::Bytes),
    End,
    Failed(String),
}

/// The store's blocking end of the copy's stream.
struct ChannelReader {
    chunks: mpsc::Receiver<Chunk>,
    current: bytes::Bytes,
    ended: bool,
}

impl ChannelReader {
    fn new(chunks: mpsc::Receiver<Chunk>) -> Self {
        Self {
            chunks,
            current: bytes::Bytes::new(),
            ended: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() && !self.ended {
            match self.chunks.blocking_recv() {
                Some(Chunk::Data(bytes)) => self.current = bytes,
                Some(Chunk::End) => self.ended = true,
                Some(Chunk::Failed(reason)) => return Err(std::io::Error::other(reason)),
                None => return Err(std::io::Error::other("the render was cut off")),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Runs the child and sends its stdout to `chunks`; [`Chunk::End`] only once the child has
/// exited successfully, its failure otherwise.
async fn run_child(
    exe: &Path,
    request: &RenderRequest,
    limits: RenderLimits,
    report: impl Fn(u64) + Send,
    chunks: mpsc::Sender<Chunk>,
) -> Result<(), RenderError> {
    let result = run_child_streaming(exe, request, limits, report, &chunks).await;
    let last = match &result {
        Ok(()) => Chunk::End,
        Err(reason) => Chunk::Failed(reason.to_string()),
    };
    let _ = chunks.send(last).await;
    result
}

async fn run_child_streaming(
    exe: &Path,
    request: &RenderRequest,
    limits: RenderLimits,
    report: impl Fn(u64) + Send,
    chunks: &mpsc::Sender<Chunk>,
) -> Result<(), RenderError> {
    let mut child = crate::analysis::spawn_job(exe, "render-job", limits, Stdio::piped())
        .map_err(|e| RenderError::Died(format!("cannot start the render process: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let line = serde_json::to_vec(request).unwrap_or_default();
        stdin
            .write_all(&line)
            .await
            .map_err(|e| RenderError::Died(format!("cannot brief the render process: {e}")))?;
    }
    let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RenderError::Died("the render process has no pipes".into()));
    };
    let progress = async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut last_error = None;
        while let Ok(Some(line)) = lines.next_line().await {
            match line.strip_prefix("frames ").map(str::parse::<u64>) {
                Some(Ok(n)) => report(n),
                _ => last_error = Some(line),
            }
        }
        last_error
    };
    let output = async move {
        loop {
            let mut chunk = bytes::BytesMut::with_capacity(64 * 1024);
            match stdout.read_buf(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    if chunks.send(Chunk::Data(chunk.freeze())).await.is_err() {
                        return Err("the store stopped taking the copy".to_string());
                    }
                }
                Err(e) => return Err(format!("reading the rendered copy: {e}")),
            }
        }
    };
    let work = async {
        let (streamed, error) = tokio::join!(output, progress);
        let status = child.wait().await;
        (streamed, error, status)
    };
    let (streamed, error, status) =
        tokio::time::timeout(limits.timeout, work)
            .await
            .map_err(|_| {
                RenderError::Died(format!(
                    "the render took longer than {} s",
                    limits.timeout.as_secs()
                ))
            })?;
    let status =
        status.map_err(|e| RenderError::Died(format!("the render process failed: {e}")))?;
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        return Err(match (status.signal(), error) {
            (Some(6), _) => RenderError::OverLimit(format!(
                "the render needed more than its {} MiB memory limit (the track is too long to \
                 mark within it)",
                limits.memory_bytes >> 20
            )),
            (Some(sig), _) => RenderError::Died(format!("the render process died (signal {sig})")),
            (None, Some(reason)) => RenderError::Job(reason),
            (None, None) => RenderError::Job(format!("the render process failed ({status})")),
        });
    }
    streamed.map_err(RenderError::Died)
}

/// The child side: `studiovault render-job`. Limits its own address space, reads one request
/// from stdin, writes the marked FLAC to stdout, and reports progress and errors on stderr.
pub fn child_main(memory_limit_bytes: u64) -> ExitCode {
    if !crate::analysis::limit_address_space(memory_limit_bytes) {
        return ExitCode::FAILURE;
    }
    let mut input = Vec::new();
    let result = std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            serde_json::from_slice::<RenderRequest>(&input).map_err(|e| format!("bad request: {e}"))
        })
        .and_then(|request| render_request(&request));
    match result {
        Ok(flac) => {
            let mut out = std::io::stdout().lock();
            if flac.write_to(&mut out).and_then(|()| out.flush()).is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "{reason}");
            ExitCode::FAILURE
        }
    }
}

fn render_request(request: &RenderRequest) -> Result<EncodedFlac, String> {
    let reader = BlobAccess::from_parts(
        request.path.clone(),
        &request.blob,
        request.len,
        &request.key,
    )
    .and_then(|a| a.open())
    .map_err(|e| format!("the stored audio could not be read: {e}"))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&request.watermark_key, &mut key)
        .map_err(|_| "bad watermark key".to_string())?;
    let key = WatermarkKey::from_bytes(key);
    let frames = Arc::new(AtomicU64::new(0));
    let limits = DecodeLimits {
        max_duration: Some(Duration::from_secs(request.max_duration_secs)),
        ..DecodeLimits::default()
    };
    let stream = MarkedStream::open(
        reader,
        request.len,
        &key,
        Payload::new(request.payload),
        limits,
    )
    .map_err(|e| e.to_string())?
    .with_progress(frames.clone());
    // Progress on stderr, a few times a second, while the encoder runs on this thread.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reporter = {
        let (frames, done) = (frames.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let _ = writeln!(
                    std::io::stderr(),
                    "frames {}",
                    frames.load(Ordering::Relaxed)
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let encoding = Encoding::for_source(request.bits_per_sample, request.float);
    let flac = encode_flac(stream, encoding).map_err(|e| e.to_string());
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    flac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_the_disk_or_store_are_retried_and_refusals_are_not() {
        let io = || std::io::Error::other("EIO");
        for passing in [
            RenderError::Died("killed by signal 9".into()),
            RenderError::Store(VaultError::Io(io())),
            RenderError::Store(VaultError::DiskFull { free: 0 }),
        ] {
            assert!(passing.may_pass(), "{passing}");
        }
        for lasting in [
            RenderError::Job("the file is not audio".into()),
            // Retried, it needed as much again: the copy was tried on every visit for good.
            RenderError::OverLimit("the render needed more than its 1024 MiB".into()),
            RenderError::Store(VaultError::Integrity {
                blob: "b".into(),
                reason: "tag mismatch".into(),
            }),
        ] {
            assert!(!lasting.may_pass(), "{lasting}");
        }
    }

    #[test]
    fn a_render_cut_short_by_its_store_is_the_stores_failure() {
        let io = || VaultError::Io(std::io::Error::other("ENOSPC"));
        // The store stopped reading (disk full): the child's broken pipe is not the reason.
        let failed = outcome(
            Err(RenderError::Job("write: broken pipe".into())),
            Err(io()),
        );
        assert!(failed.is_err_and(|e| e.may_pass()));
        // A child that refused the file is the reason, whatever the store then made of it.
        let corrupt = || VaultError::Integrity {
            blob: "b".into(),
            reason: "short".into(),
        };
        let refused = outcome(Err(RenderError::Job("not audio".into())), Err(corrupt()));
        assert!(refused.is_err_and(|e| !e.may_pass()));
        let died = outcome(Err(RenderError::Died("signal 9".into())), Ok(()));
        assert!(died.is_err_and(|e| matches!(e, RenderError::Died(_))));
        assert!(outcome(Ok(()), Err(io())).is_err_and(|e| e.may_pass()));
        assert!(outcome(Ok(()), Ok(())).is_ok());
    }
}

//! Renders recipients' watermarked copies in the background: the first time a recipient opens
//! their link, each track of a watermarking share is decoded, marked with their payload and
//! stored as FLAC (lossless, and played by every current browser), encrypted under the owner's
//! key. The portal polls [`Renders::state`] to show progress; the copy is reused afterwards.
//!
//! Like analysis, each render runs in a child process (`studiovault render-job`) under an
//! address-space limit and a timeout, given only the one source blob's path and key and the
//! payload: a file that makes a decoder misbehave fails its own copy, never the server. The
//! child writes the FLAC on stdout and its progress (frames done) on stderr.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use studiovault_audio::DecodeLimits;
use studiovault_vault::{BlobAccess, RecipientGrant, RecipientId, TrackId, Vault, VaultError};
use studiovault_watermark::{Payload, WatermarkKey};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::listener::stopped;
use crate::marking::{Encoding, MarkedStream, encode_flac};

/// Where one copy stands while it is not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderState {
    Queued,
    /// Fraction done, 0 to 1.
    Rendering(f32),
    Failed(String),
}

struct Entry {
    frames_done: Arc<AtomicU64>,
    frames_total: u64,
    started: bool,
    failed: Option<String>,
}

struct Job {
    grant: RecipientGrant,
    track: TrackId,
}

/// The render queue and the progress of every copy in it.
pub struct Renders {
    entries: Mutex<HashMap<(RecipientId, TrackId), Entry>>,
    queue: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Renders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renders").finish_non_exhaustive()
    }
}

impl Renders {
    /// The queue and the receiving end for [`run`].
    pub fn new() -> (Arc<Self>, RenderQueue) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                entries: Mutex::new(HashMap::new()),
                queue: tx,
            }),
            RenderQueue(rx),
        )
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(RecipientId, TrackId), Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent: every update is
        // a single insert or field write.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the recipient's copy of `track` unless it is queued, rendering or failed.
    /// `frames_total` sizes the progress bar.
    pub fn request(&self, grant: &RecipientGrant, track: TrackId, frames_total: u64) {
        let mut entries = self.entries();
        let key = (grant.recipient(), track);
        if entries.contains_key(&key) {
            return;
        }
        entries.insert(
            key,
            Entry {
                frames_done: Arc::new(AtomicU64::new(0)),
                frames_total,
                started: false,
                failed: None,
            },
        );
        if self
            .queue
            .send(Job {
                grant: grant.clone(),
                track,
            })
            .is_err()
        {
            entries.remove(&key);
        }
    }

    /// Progress of a copy not yet stored; `None` when nothing is under way for it.
    pub fn state(&self, recipient: RecipientId, track: TrackId) -> Option<RenderState> {
        let entries = self.entries();
        let e = entries.get(&(recipient, track))?;
        Some(match (&e.failed, e.started) {
            (Some(reason), _) => RenderState::Failed(reason.clone()),
            (None, false) => RenderState::Queued,
            (None, true) => {
                let done = e.frames_done.load(Ordering::Relaxed) as f64;
                RenderState::Rendering((done / e.frames_total.max(1) as f64).min(0.99) as f32)
            }
        })
    }
}

/// The receiving end of the render queue.
pub struct RenderQueue(mpsc::UnboundedReceiver<Job>);

impl std::fmt::Debug for RenderQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderQueue").finish_non_exhaustive()
    }
}

/// Limits of one render, from the analysis limits in the config.
pub type RenderLimits = crate::analysis::JobLimits;

/// Renders queued copies, `workers` at a time, until `stop`.
pub async fn run(
    vault: Vault,
    renders: Arc<Renders>,
    RenderQueue(mut queue): RenderQueue,
    key: WatermarkKey,
    (workers, limits): (usize, RenderLimits),
    mut stop: watch::Receiver<bool>,
) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::error!(error = %e, "cannot find this binary to run render jobs; watermarked shares cannot play");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(workers.max(1)));
    let mut running = tokio::task::JoinSet::new();
    loop {
        let job = tokio::select! {
            job = queue.recv() => match job { Some(job) => job, None => break },
            () = stopped(&mut stop) => break,
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (vault, renders, key, exe) = (vault.clone(), renders.clone(), key.clone(), exe.clone());
        running.spawn(async move {
            render_one(vault, renders, key, exe, limits, job).await;
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    // Dropping the set kills running children; their recipients queue them again on their
    // next visit.
    drop(running);
}

async fn render_one(
    vault: Vault,
    renders: Arc<Renders>,
    key: WatermarkKey,
    exe: PathBuf,
    limits: RenderLimits,
    job: Job,
) {
    let entry_key = (job.grant.recipient(), job.track);
    let frames = {
        let mut entries = renders.entries();
        let Some(e) = entries.get_mut(&entry_key) else {
            return;
        };
        e.started = true;
        e.frames_done.clone()
    };
    let started = Instant::now();
    let outcome = render(&vault, &job.grant, job.track, &key, &exe, limits, frames).await;
    let mut entries = renders.entries();
    let track = job.track;
    match outcome {
        Ok(()) => {
            tracing::info!(%track, elapsed_ms = started.elapsed().as_millis() as u64, "watermarked copy stored");
            entries.remove(&entry_key);
        }
        // The link died or the track went while queued: nothing to show anyone.
        Err(RenderError::Store(VaultError::NotFound)) => {
            entries.remove(&entry_key);
        }
        Err(e) => {
            tracing::warn!(%track, error = %e, "rendering a watermarked copy failed");
            if let Some(entry) = entries.get_mut(&entry_key) {
                entry.failed = Some("this copy could not be prepared".into());
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error("{0}")]
    Store(#[from] VaultError),
    #[error("{0}")]
    Job(String),
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
    key: &WatermarkKey,
    exe: &PathBuf,
    limits: RenderLimits,
    frames: Arc<AtomicU64>,
) -> Result<(), RenderError> {
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
    let rendered = run_child(exe, &request, limits, frames, chunks).await;
    let stored = store.await.map_err(|e| RenderError::Job(e.to_string()))?;
    // The child's failure is the reason, whatever the store made of the stream it cut short.
    rendered.map_err(RenderError::Job)?;
    stored?;
    Ok(())
}

/// Chunks of a copy between the child's stdout and the store.
const CHUNKS_IN_FLIGHT: usize = 8;

type Chunk = std::io::Result<bytes::Bytes>;

/// The store's blocking end of the copy's stream: the bytes as they come, then an error if the
/// child failed, or the end of the file if it succeeded.
struct ChannelReader {
    chunks: mpsc::Receiver<Chunk>,
    current: bytes::Bytes,
}

impl ChannelReader {
    fn new(chunks: mpsc::Receiver<Chunk>) -> Self {
        Self {
            chunks,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Runs the child and sends its stdout to `chunks`; the end of the stream is sent only once
/// the child has exited successfully, and its failure as an error chunk otherwise.
async fn run_child(
    exe: &PathBuf,
    request: &RenderRequest,
    limits: RenderLimits,
    frames: Arc<AtomicU64>,
    chunks: mpsc::Sender<Chunk>,
) -> Result<(), String> {
    let result = run_child_streaming(exe, request, limits, frames, &chunks).await;
    if let Err(reason) = &result {
        let _ = chunks
            .send(Err(std::io::Error::other(reason.clone())))
            .await;
    }
    result
}

async fn run_child_streaming(
    exe: &PathBuf,
    request: &RenderRequest,
    limits: RenderLimits,
    frames: Arc<AtomicU64>,
    chunks: &mpsc::Sender<Chunk>,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(exe)
        .arg("render-job")
        .arg("--memory-limit-bytes")
        .arg(limits.memory_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the render process: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let line = serde_json::to_vec(request).unwrap_or_default();
        stdin
            .write_all(&line)
            .await
            .map_err(|e| format!("cannot brief the render process: {e}"))?;
    }
    let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("the render process has no pipes".into());
    };
    let progress = async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut last_error = None;
        while let Ok(Some(line)) = lines.next_line().await {
            match line.strip_prefix("frames ").map(str::parse::<u64>) {
                Some(Ok(n)) => frames.store(n, Ordering::Relaxed),
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
                    if chunks.send(Ok(chunk.freeze())).await.is_err() {
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
    let (streamed, error, status) = tokio::time::timeout(limits.timeout, work)
        .await
        .map_err(|_| format!("the render took longer than {} s", limits.timeout.as_secs()))?;
    let status = status.map_err(|e| format!("the render process failed: {e}"))?;
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        return Err(match (status.signal(), error) {
            (Some(6), _) => format!(
                "the render needed more than its {} MiB memory limit",
                limits.memory_bytes >> 20
            ),
            (Some(sig), _) => format!("the render process died (signal {sig})"),
            (None, Some(reason)) => reason,
            (None, None) => format!("the render process failed ({status})"),
        });
    }
    streamed
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
            if out.write_all(&flac).and_then(|()| out.flush()).is_ok() {
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

fn render_request(request: &RenderRequest) -> Result<Vec<u8>, String> {
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

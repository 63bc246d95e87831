//! Renders recipients' watermarked copies in the background: the first time a recipient opens
//! their link, each track of a watermarking share is decoded, marked with their payload and
//! stored as FLAC (lossless, and played by every current browser), encrypted under the owner's
//! key. The portal polls [`Renders::state`] to show progress; the copy is reused afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use studiovault_vault::{RecipientGrant, RecipientId, TrackId, Vault, VaultError};
use studiovault_watermark::{Payload, WatermarkKey};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::listener::stopped;
use crate::marking::{Encoding, MarkError, MarkedStream, encode_flac};

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

/// Renders queued copies, `workers` at a time, until `stop`.
pub async fn run(
    vault: Vault,
    renders: Arc<Renders>,
    RenderQueue(mut queue): RenderQueue,
    key: WatermarkKey,
    workers: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(workers.max(1)));
    loop {
        let job = tokio::select! {
            job = queue.recv() => match job { Some(job) => job, None => break },
            () = stopped(&mut stop) => break,
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (vault, renders, key) = (vault.clone(), renders.clone(), key.clone());
        tokio::spawn(async move {
            render_one(vault, renders, key, job).await;
            drop(permit);
        });
    }
}

async fn render_one(vault: Vault, renders: Arc<Renders>, key: WatermarkKey, job: Job) {
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
    let (grant, track) = (job.grant, job.track);
    let outcome = tokio::task::spawn_blocking(move || render(&vault, &grant, track, &key, frames))
        .await
        .unwrap_or_else(|e| Err(RenderError::Task(e.to_string())));
    let mut entries = renders.entries();
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
    Mark(#[from] MarkError),
    #[error("render task: {0}")]
    Task(String),
}

fn render(
    vault: &Vault,
    grant: &RecipientGrant,
    track: TrackId,
    key: &WatermarkKey,
    frames: Arc<AtomicU64>,
) -> Result<(), RenderError> {
    let Some(payload) = grant.watermark_payload(vault)? else {
        return Err(VaultError::NotFound.into());
    };
    let (rec, reader) = grant.render_source(vault, track)?;
    let encoding = Encoding::for_source(
        rec.info.bits_per_sample,
        rec.info.codec.starts_with("pcm_f"),
    );
    let stream = MarkedStream::open(
        reader,
        rec.size_bytes,
        key,
        Payload::new(payload),
        Default::default(),
    )?
    .with_progress(frames);
    let flac = encode_flac(stream, encoding)?;
    let stem = rec
        .info
        .original_filename
        .rsplit_once('.')
        .map_or(rec.info.original_filename.as_str(), |(stem, _)| stem);
    grant.store_render(vault, track, &flac, "audio/flac", &format!("{stem}.flac"))?;
    Ok(())
}

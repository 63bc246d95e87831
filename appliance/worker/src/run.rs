//! The worker's loop: lease a job, fetch its source into a private temporary directory,
//! decode it to a float WAV, run the backend while heartbeating its progress, check the stems
//! and upload them, then delete everything the job left. A lost lease (the owner cancelled, or
//! the job went to another worker after this one stalled) stops the backend at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use studiovault_api::worker::{LeasedJob, STEM_NAMES, StemLayout, WorkerCapabilities};

use crate::backend::{Backend, BackendError};
use crate::check::{BLOCK_FRAMES, check_stems, decode_to_wav, open_all};
use crate::client::{ClientError, WorkerClient};

/// The lease request waits this long for a job.
const POLL_WAIT: Duration = Duration::from_secs(25);
/// After a network error, wait this long, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The share of the progress bar the separation takes; the upload takes the rest.
const SEPARATION_SHARE: f32 = 0.9;
/// Directories of this worker's jobs start so; a restart removes those of dead workers.
const DIR_PREFIX: &str = "studiovault-worker-";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The server refused this worker's token (revoked, deleted, or never enrolled).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No job directory can be made: every job would fail alike, so the worker stops.
    #[error("the work directory {} cannot be used: {source}", path.display())]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a worker runs.
#[derive(Debug)]
pub struct WorkerOptions {
    pub client: WorkerClient,
    pub backend: Arc<dyn Backend>,
    pub capabilities: WorkerCapabilities,
    /// Where job directories are made (a private temporary directory each).
    pub work_dir: PathBuf,
    /// Stop after this many jobs (tests and one-shot runs); none to run until stopped.
    pub max_jobs: Option<u64>,
}

/// Runs until `stop` resolves (or `max_jobs` are done); answers an error when the server
/// refuses this worker, which no retry mends.
pub async fn run(options: WorkerOptions, stop: impl Future<Output = ()>) -> Result<(), RunError> {
    // Checked before any lease: a job taken and then dropped for want of a directory would
    // wait for its lease to run out, and spend an attempt.
    drop(job_dir(&options.work_dir)?);
    remove_dead_job_dirs(&options.work_dir);
    let mut stop = std::pin::pin!(stop);
    let mut backoff = FIRST_BACKOFF;
    let mut done = 0u64;
    let mut draining_said = false;
    loop {
        if options.max_jobs.is_some_and(|max| done >= max) {
            return Ok(());
        }
        let answer = tokio::select! {
            answer = options.client.lease(&options.capabilities, POLL_WAIT) => answer,
            () = &mut stop => return Ok(()),
        };
        let answer = match answer {
            Ok(answer) => {
                backoff = FIRST_BACKOFF;
                answer
            }
            Err(ClientError::Refused(why)) => return Err(RunError::Refused(why)),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "asking for a job failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut stop => return Ok(()),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if answer.draining && !draining_said {
            tracing::info!("this worker is drained: it takes no new jobs until resumed");
        }
        draining_said = answer.draining;
        let Some(job) = answer.job else {
            if answer.draining {
                tokio::select! {
                    () = tokio::time::sleep(POLL_WAIT) => {}
                    () = &mut stop => return Ok(()),
                }
            }
            continue;
        };
        tokio::select! {
            result = work_on(&options, &job) => result?,
            // Stopping drops the job's work and hands the job back at once, rather than after
            // its lease runs out.
            () = &mut stop => {
                let handed_back = options.client.hand_back(&job.job, "the worker was stopped");
                if tokio::time::timeout(Duration::from_secs(5), handed_back).await.is_err() {
                    tracing::warn!(job = %job.job, "handing the job back timed out; its lease will run out");
                }
                return Ok(());
            }
        }
        done += 1;
    }
}

/// A private directory for one job under `work_dir`, made with its parents.
fn job_dir(work_dir: &Path) -> Result<tempfile::TempDir, RunError> {
    std::fs::create_dir_all(work_dir)
        .and_then(|()| {
            tempfile::Builder::new()
                .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
                .tempdir_in(work_dir)
        })
        .map_err(|source| RunError::WorkDir {
            path: work_dir.to_owned(),
            source,
        })
}

/// Job directories left by workers that died (their process is gone).
fn remove_dead_job_dirs(work_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Progress as the heartbeat reads it.
#[derive(Debug, Default)]
struct Progress(AtomicU32);

impl Progress {
    fn set(&self, v: f32) {
        self.0.store(v.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}

async fn work_on(options: &WorkerOptions, job: &LeasedJob) -> Result<(), RunError> {
    tracing::info!(job = %job.job, attempt = job.attempt, backend = options.backend.name(), "working on a stem job");
    let dir = match job_dir(&options.work_dir) {
        Ok(dir) => dir,
        Err(e) => {
            // Handed back at once for another worker; this one stops, saying why.
            let reason = format!("the worker could not make a job directory: {e}");
            if let Err(failed) = options.client.hand_back(&job.job, &reason).await {
                tracing::warn!(error = %failed, "handing the job back failed; its lease will run out");
            }
            return Err(e);
        }
    };
    let progress = Arc::new(Progress::default());
    let cancel = Arc::new(AtomicBool::new(false));
    // If this job's work is dropped (the worker is stopping), the backend stops too, instead
    // of running on in its thread while the process waits for it to exit.
    let _stop_backend = CancelOnDrop(cancel.clone());
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeats = {
        let (client, job_id, progress, cancel, lost) = (
            options.client.clone(),
            job.job.clone(),
            progress.clone(),
            cancel.clone(),
            lost.clone(),
        );
        let every = Duration::from_secs(job.heartbeat_secs.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match client.heartbeat(&job_id, progress.get()).await {
                    Ok(_) => {}
                    Err(ClientError::LeaseLost | ClientError::Refused(_)) => {
                        lost.store(true, Ordering::Relaxed);
                        cancel.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "a heartbeat failed"),
                }
            }
        })
    };
    let result = separate_and_upload(options, job, dir.path(), &progress, &cancel).await;
    heartbeats.abort();
    let outcome = match result {
        Ok(()) => {
            tracing::info!(job = %job.job, "stems uploaded");
            Ok(())
        }
        Err(_) if lost.load(Ordering::Relaxed) => {
            tracing::info!(job = %job.job, "the job was cancelled or taken over; its work stopped");
            Ok(())
        }
        Err(JobError::LeaseLost) => {
            tracing::info!(job = %job.job, "the job was cancelled or taken over");
            Ok(())
        }
        Err(JobError::Refused(why)) => Err(RunError::Refused(why)),
        Err(JobError::WorkerBroken(e)) => {
            // Not the job's fault: another worker may separate it, and failing it here would
            // spend its attempts (every queued job's, one after another, in a minute).
            tracing::error!(job = %job.job, error = %e, "this worker cannot separate; the job goes back and the worker stops");
            if let Err(failed) = options.client.hand_back(&job.job, &e.to_string()).await {
                tracing::warn!(error = %failed, "handing the job back failed; its lease will run out");
            }
            Err(RunError::Backend(e))
        }
        Err(JobError::Failed { reason, retry }) => {
            tracing::warn!(job = %job.job, reason = %reason, retry, "the job failed");
            match options.client.fail(&job.job, &reason, retry).await {
                Ok(()) | Err(ClientError::LeaseLost) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reporting the failure failed; the lease will run out")
                }
            }
            Ok(())
        }
    };
    // The source and every stem go now, whatever happened.
    drop(dir);
    outcome
}

enum JobError {
    LeaseLost,
    Refused(String),
    Failed {
        reason: String,
        retry: bool,
    },
    /// This worker cannot run its separator at all (its model or program is missing).
    WorkerBroken(BackendError),
}

impl From<ClientError> for JobError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::LeaseLost => Self::LeaseLost,
            ClientError::Refused(why) => Self::Refused(why),
            ClientError::Status {
                status, message, ..
            } => Self::Failed {
                reason: format!("the server refused the stems ({status}): {message}"),
                retry: status >= 500,
            },
            other => Self::Failed {
                reason: other.to_string(),
                retry: true,
            },
        }
    }
}

impl From<BackendError> for JobError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::ModelMissing(_) => Self::WorkerBroken(e),
            e => Self::Failed {
                retry: e.retry(),
                reason: e.to_string(),
            },
        }
    }
}

fn blocking_failed(e: tokio::task::JoinError) -> JobError {
    JobError::Failed {
        reason: format!("the worker's job thread failed: {e}"),
        retry: true,
    }
}

async fn separate_and_upload(
    options: &WorkerOptions,
    job: &LeasedJob,
    dir: &Path,
    progress: &Arc<Progress>,
    cancel: &Arc<AtomicBool>,
) -> Result<(), JobError> {
    let source = dir.join("source");
    options.client.download_source(&job.job, &source).await?;
    let input = dir.join("input.wav");
    let (src, inp) = (source.clone(), input.clone());
    tokio::task::spawn_blocking(move || decode_to_wav(&src, &inp))
        .await
        .map_err(blocking_failed)??;
    let _ = std::fs::remove_file(&source);
    let stems_dir = dir.join("stems");
    let (backend, inp, out, p, c) = (
        options.backend.clone(),
        input.clone(),
        stems_dir.clone(),
        progress.clone(),
        cancel.clone(),
    );
    let separation = tokio::task::spawn_blocking(move || {
        backend.separate(&inp, &out, &|v| p.set(v * SEPARATION_SHARE), &c)
    })
    .await
    .map_err(blocking_failed)??;
    let (inp, out) = (input.clone(), stems_dir.clone());
    let check = tokio::task::spawn_blocking(move || check_stems(&inp, &out))
        .await
        .map_err(blocking_failed)??;
    let layout = StemLayout {
        stems: STEM_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        channels: check.channels,
        sample_rate: check.sample_rate,
        frames: check.frames,
        backend: options.backend.name().into(),
        model: separation.model,
        draft: separation.draft,
    };
    let upload = || {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (inp, out, p, frames) = (
            input.clone(),
            stems_dir.clone(),
            progress.clone(),
            check.frames,
        );
        let feeder = tokio::task::spawn_blocking(move || {
            if let Err(e) = feed_upload(&inp, &out, frames, &p, &tx) {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
        let (client, layout) = (&options.client, &layout);
        async move {
            let stored = client.upload_stems(&job.job, layout, rx).await;
            feeder.abort();
            stored.map(drop)
        }
    };
    upload_with_retries(UPLOAD_TRIES, UPLOAD_RETRY_WAIT, upload).await?;
    Ok(())
}

/// Tries of one job's upload: a separation may have taken hours, and a dropped connection or a
/// server restarting for an upgrade must not throw it away (the lease holds meanwhile: the
/// heartbeats go on).
const UPLOAD_TRIES: u32 = 4;
/// The wait before the second try; each later one waits this much longer.
const UPLOAD_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Runs `upload` until it succeeds, fails for a reason no retry mends, or `tries` are spent.
async fn upload_with_retries<F, Fut>(
    tries: u32,
    wait: Duration,
    mut upload: F,
) -> Result<(), ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let mut tried = 0;
    loop {
        tried += 1;
        match upload().await {
            Ok(()) => return Ok(()),
            Err(e) if tried < tries && worth_retrying(&e) => {
                tracing::warn!(error = %e, try_ = tried, "uploading the stems failed; trying again");
                tokio::time::sleep(wait * tried).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The link or the server failed, not the stems: a broken connection, a server error or
/// restart, a body cut off as idle, or the server still checking the try that broke.
fn worth_retrying(e: &ClientError) -> bool {
    match e {
        ClientError::Network(_) | ClientError::Io(_) => true,
        ClientError::Status { status, code, .. } => {
            *status >= 500 || *status == 408 || code == "upload_in_progress"
        }
        ClientError::Config(_) | ClientError::Refused(_) | ClientError::LeaseLost => false,
    }
}

/// Streams the interleaved upload body: per frame, each stem's channels in [`STEM_NAMES`]
/// order, with the residual (mix − Σ stems) folded into `other`.
fn feed_upload(
    input: &Path,
    stems: &Path,
    frames: u64,
    progress: &Progress,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), String> {
    let (mut mix, mut readers) = open_all(input, stems).map_err(|e| e.to_string())?;
    let channels = usize::from(mix.channels);
    let mut block = Vec::new();
    let mut stem_blocks: Vec<Vec<f32>> = vec![Vec::new(); readers.len()];
    let mut sent = 0u64;
    loop {
        let n = mix
            .read_frames(BLOCK_FRAMES, &mut block)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        for (r, b) in readers.iter_mut().zip(&mut stem_blocks) {
            r.read_frames(BLOCK_FRAMES, b).map_err(|e| e.to_string())?;
        }
        let last = stem_blocks.len() - 1;
        let mut bytes = Vec::with_capacity(n * channels * stem_blocks.len() * 4);
        for f in 0..n {
            for (s, b) in stem_blocks.iter().enumerate() {
                for c in 0..channels {
                    let i = f * channels + c;
                    let mut x = b[i];
                    if s == last {
                        let sum: f32 = stem_blocks.iter().map(|b| b[i]).sum();
                        x += block[i] - sum;
                    }
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        if tx.blocking_send(Ok(Bytes::from(bytes))).is_err() {
            return Ok(());
        }
        sent += n as u64;
        progress.set(
            SEPARATION_SHARE + (1.0 - SEPARATION_SHARE) * (sent as f32 / frames.max(1) as f32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `upload_with_retries` over canned answers; answers the result and the tries made.
    async fn tries_with(answers: Vec<Result<(), ClientError>>) -> (Result<(), ClientError>, usize) {
        let answers = std::sync::Mutex::new(answers.into_iter());
        let made = AtomicU32::new(0);
        let result = upload_with_retries(4, Duration::from_millis(1), || {
            made.fetch_add(1, Ordering::Relaxed);
            let next = answers.lock().unwrap().next().unwrap_or(Ok(()));
            async move { next }
        })
        .await;
        (result, made.load(Ordering::Relaxed) as usize)
    }

    fn status(status: u16, code: &str) -> ClientError {
        ClientError::Status {
            status,
            code: code.into(),
            message: String::new(),
        }
    }

    #[tokio::test]
    async fn a_broken_upload_is_sent_again_and_a_refused_one_is_not() {
        let broken = || ClientError::Network("connection reset".into());
        // The link broke, then the server restarted, then it was still checking the first try.
        let (result, made) = tries_with(vec![
            Err(broken()),
            Err(status(503, "unavailable")),
            Err(status(409, "upload_in_progress")),
            Ok(()),
        ])
        .await;
        assert!(result.is_ok());
        assert_eq!(made, 4);
        // Four broken tries: the job fails with the last reason.
        let (result, made) = tries_with((0..5).map(|_| Err(broken())).collect()).await;
        assert!(matches!(result, Err(ClientError::Network(_))));
        assert_eq!(made, 4);
        // Stems the server refused, or a job no longer this worker's: no second try.
        for refusal in [status(422, "stems_rejected"), ClientError::LeaseLost] {
            let (result, made) = tries_with(vec![Err(refusal)]).await;
            assert!(result.is_err());
            assert_eq!(made, 1);
        }
    }
}

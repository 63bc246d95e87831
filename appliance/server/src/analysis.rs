//! The analysis executor: runs the analysis jobs the job runner leases (`jobs.rs`), computing
//! tempo, key, loudness and waveform peaks with the audio engine, off the request path.
//!
//! Each job runs in a child process (`studiovault analysis-job`) under an address-space limit
//! and a wall-clock timeout: a hostile file that makes a decoder ask for gigabytes, loop or
//! crash fails its own job with a reason and never touches the server. The child gets the one
//! blob's path and key, not the tenant's key, and talks JSON over its stdin and stdout.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use studiovault_audio::{AnalysisOptions, Container, PeakLevel, Waveform, analyze};
use studiovault_vault::{
    AnalysisJob, AnalysisResult, BlobAccess, BlobReader, JobKind, Lease, Vault, VaultError,
};
use tokio::io::AsyncWriteExt;

use crate::jobs::{Executor, Progress};

const PEAKS_MAGIC: &[u8; 4] = b"SVP1";

/// Limits of one analysis job.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// Longer audio fails its job.
    pub max_duration: Duration,
    /// Wall-clock time a job may take before its process is killed.
    pub timeout: Duration,
    /// Address space of the job's process.
    pub memory_bytes: u64,
}

/// What the parent sends a job child on its standard input: the one blob it may read, and the
/// limits. Jobs that need more (`transcribe.rs`) flatten it into their own request.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobRequest {
    path: PathBuf,
    blob: String,
    len: u64,
    key: String,
    max_duration_secs: u64,
    timeout_secs: u64,
}

impl JobRequest {
    pub fn new(access: &BlobAccess, limits: JobLimits) -> Self {
        Self {
            path: access.path.clone(),
            blob: access.blob.to_string(),
            len: access.len,
            key: access.key_hex().to_string(),
            max_duration_secs: limits.max_duration.as_secs(),
            timeout_secs: limits.timeout.as_secs(),
        }
    }

    /// The child's decrypting reader over the blob.
    pub fn open(&self) -> Result<BlobReader, String> {
        BlobAccess::from_parts(self.path.clone(), &self.blob, self.len, &self.key)
            .and_then(|a| a.open())
            .map_err(|e| format!("the stored audio could not be read: {e}"))
    }

    /// The audio's length in bytes.
    pub fn audio_len(&self) -> u64 {
        self.len
    }

    pub fn max_duration(&self) -> Duration {
        Duration::from_secs(self.max_duration_secs)
    }

    /// When the engine must give up: the timeout from now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.timeout_secs)
    }
}

/// What the child prints on its standard output.
#[derive(Debug, Default, Serialize, Deserialize)]
struct JobOutcome {
    result: Option<AnalysisResult>,
    /// [`encode_peaks`] output, base64.
    peaks: Option<String>,
    error: Option<String>,
}

/// Runs analysis jobs in child processes of this binary.
#[derive(Debug)]
pub struct AnalysisExecutor {
    pub exe: PathBuf,
    pub limits: JobLimits,
}

impl Executor for AnalysisExecutor {
    fn kind(&self) -> JobKind {
        JobKind::Analysis
    }

    async fn execute(self: Arc<Self>, vault: Vault, lease: Lease, _progress: Arc<Progress>) {
        match AnalysisJob::from_lease(lease) {
            Some(job) => run_job(vault, job, self.limits, self.exe.clone()).await,
            None => tracing::error!("an analysis executor was handed another kind of job"),
        }
    }
}

async fn run_job(vault: Vault, job: AnalysisJob, limits: JobLimits, exe: PathBuf) {
    let (owner, track) = (job.owner(), job.track());
    let started = Instant::now();
    let v = vault.clone();
    let (job, access) = match tokio::task::spawn_blocking(move || {
        let access = job.audio_access(&v);
        (job, access)
    })
    .await
    {
        Ok((job, Ok((_, access)))) => (job, access),
        Ok((job, Err(VaultError::NotFound))) => {
            // Deleted after it was leased: nothing to analyse.
            let _ = tokio::task::spawn_blocking(move || job.lease().finish(&vault)).await;
            return;
        }
        Ok((job, Err(e))) => {
            tracing::error!(%track, error = %e, "cannot open a queued track");
            finish(
                vault,
                job,
                Err("the stored audio could not be read".into()),
                Vec::new(),
            )
            .await;
            return;
        }
        Err(e) => {
            tracing::error!(%track, error = %e, "the analysis task failed");
            return;
        }
    };
    let outcome = run_child(&exe, &access, limits).await;
    let (result, peaks) = match outcome {
        Ok(JobOutcome {
            result: Some(result),
            peaks,
            ..
        }) => {
            let peaks = peaks
                .and_then(|p| STANDARD.decode(p).ok())
                .unwrap_or_default();
            (Ok(result), peaks)
        }
        Ok(JobOutcome { error, .. }) => (
            Err(error.unwrap_or_else(|| "the analysis gave no result".into())),
            Vec::new(),
        ),
        Err(reason) => (Err(reason), Vec::new()),
    };
    match &result {
        Ok(_) => {
            tracing::info!(%owner, %track, elapsed_ms = started.elapsed().as_millis() as u64, "track analysed")
        }
        Err(reason) => tracing::warn!(%track, reason, "analysis failed"),
    }
    finish(vault, job, result, peaks).await;
}

async fn finish(
    vault: Vault,
    job: AnalysisJob,
    result: Result<AnalysisResult, String>,
    peaks: Vec<u8>,
) {
    let track = job.track();
    let recorded = tokio::task::spawn_blocking(move || match result {
        Ok(result) => job.complete(&vault, result, &peaks),
        Err(reason) => job.fail(&vault, &reason),
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(%track, error = %e, "recording an analysis failed"),
        Err(e) => tracing::error!(%track, error = %e, "recording an analysis failed"),
    }
}

/// Runs one analysis in a child process; `Err` says why it gave no answer.
async fn run_child(
    exe: &Path,
    access: &BlobAccess,
    limits: JobLimits,
) -> Result<JobOutcome, String> {
    let request = JobRequest::new(access, limits);
    run_json_job(exe, "analysis-job", "analysis", &request, limits).await
}

/// Runs this binary's job `subcommand` in a child process: `request` as one JSON document on
/// its stdin, its answer one JSON document on its stdout. `what` names the job in the reasons
/// `Err` gives ("the transcription took longer than 600 s"). The child is killed when this
/// future is dropped.
pub async fn run_json_job<Req, Out>(
    exe: &Path,
    subcommand: &str,
    what: &str,
    request: &Req,
    limits: JobLimits,
) -> Result<Out, String>
where
    Req: Serialize,
    Out: serde::de::DeserializeOwned,
{
    let mut child = spawn_job(exe, subcommand, limits, Stdio::null())
        .map_err(|e| format!("cannot start the {what} process: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let line = serde_json::to_vec(request).unwrap_or_default();
        stdin
            .write_all(&line)
            .await
            .map_err(|e| format!("cannot brief the {what} process: {e}"))?;
    }
    // A little beyond the engine's own deadline, for start-up and the answer.
    let output = tokio::time::timeout(
        limits.timeout + Duration::from_secs(5),
        child.wait_with_output(),
    )
    .await
    .map_err(|_| format!("the {what} took longer than {} s", limits.timeout.as_secs()))?
    .map_err(|e| format!("the {what} process failed: {e}"))?;
    if !output.status.success() {
        use std::os::unix::process::ExitStatusExt;
        return Err(match output.status.signal() {
            // Rust aborts when an allocation fails: the address-space limit held.
            Some(6) => format!(
                "the {what} needed more than its {} MiB memory limit",
                limits.memory_bytes >> 20
            ),
            Some(sig) => format!("the {what} process died (signal {sig})"),
            None => format!("the {what} process failed ({})", output.status),
        });
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the {what} process answered garbage: {e}"))
}

/// Starts this binary's job `subcommand` (`analysis-job`, `render-job`, `trace-job`,
/// `transcribe-job`) under the memory limit of `limits`, its input and output piped, killed if
/// the parent lets go of it or dies (`child.rs`).
pub fn spawn_job(
    exe: &Path,
    subcommand: &str,
    limits: JobLimits,
    stderr: Stdio,
) -> std::io::Result<tokio::process::Child> {
    tokio::process::Command::new(exe)
        .arg(subcommand)
        .arg("--memory-limit-bytes")
        .arg(limits.memory_bytes.to_string())
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
}

/// Caps this process's address space (for job processes, before they touch any input).
pub fn limit_address_space(bytes: u64) -> bool {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    setrlimit(Resource::As, limit).is_ok()
}

/// The child side: `studiovault analysis-job`.
pub fn child_main(memory_limit_bytes: u64) -> std::process::ExitCode {
    serve_json_job(
        memory_limit_bytes,
        |request: Result<JobRequest, String>| match request.and_then(|r| analyse_request(&r)) {
            Ok(outcome) => outcome,
            Err(e) => JobOutcome {
                error: Some(e),
                ..JobOutcome::default()
            },
        },
    )
}

/// The child side of [`run_json_job`]: limits its own address space first, then reads one
/// request from stdin, and prints what `handle` makes of it on stdout.
pub fn serve_json_job<Req, Out>(
    memory_limit_bytes: u64,
    handle: impl FnOnce(Result<Req, String>) -> Out,
) -> std::process::ExitCode
where
    Req: serde::de::DeserializeOwned,
    Out: Serialize,
{
    if !limit_address_space(memory_limit_bytes) {
        return std::process::ExitCode::FAILURE;
    }
    let mut input = Vec::new();
    let request = std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            serde_json::from_slice::<Req>(&input).map_err(|e| format!("bad request: {e}"))
        });
    let outcome = handle(request);
    let mut out = std::io::stdout().lock();
    match serde_json::to_writer(&mut out, &outcome)
        .and_then(|()| out.flush().map_err(serde_json::Error::io))
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

fn analyse_request(request: &JobRequest) -> Result<JobOutcome, String> {
    let reader = request.open()?;
    let options = AnalysisOptions {
        max_duration: request.max_duration(),
        deadline: Some(request.deadline()),
        ..AnalysisOptions::default()
    };
    let (result, waveform) = analyse(reader, request.len, &options)?;
    Ok(JobOutcome {
        result: Some(result),
        peaks: Some(STANDARD.encode(encode_peaks(&waveform))),
        error: None,
    })
}

/// Sniffs and analyses one stream; the shared core of the worker and `studiovault analyze`.
pub fn analyse<R>(
    mut reader: R,
    len: u64,
    options: &AnalysisOptions,
) -> Result<(AnalysisResult, Waveform), String>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let container = sniff(&mut reader)?;
    let analysis = analyze(reader, len, container, options).map_err(|e| e.to_string())?;
    let result = AnalysisResult {
        tempo_bpm: analysis.tempo.as_ref().map(|t| t.bpm),
        tempo_confidence: analysis.tempo.as_ref().map(|t| t.confidence),
        key: analysis.key.as_ref().map(|k| k.name.clone()),
        camelot: analysis.key.as_ref().map(|k| k.camelot.clone()),
        key_confidence: analysis.key.as_ref().map(|k| k.confidence),
        integrated_lufs: analysis.loudness.integrated_lufs,
        loudness_range_lu: analysis.loudness.range_lu,
        true_peak_dbtp: analysis.loudness.true_peak_dbtp,
        peaks: None,
    };
    Ok((result, analysis.waveform))
}

/// The container `reader` holds, by its first bytes; the reader is left at its start.
pub fn sniff<R: Read + Seek>(reader: &mut R) -> Result<Container, String> {
    let mut head = [0u8; 16];
    reader
        .read_exact(&mut head)
        .ok()
        .and_then(|()| reader.seek(SeekFrom::Start(0)).ok())
        .and_then(|_| Container::sniff(&head))
        .ok_or_else(|| "not a recognised audio container".to_owned())
}

/// Every zoom level, losslessly: `SVP1`, level count, then per level its rate, samples per
/// pixel, channels, value count and 16-bit values (all little-endian).
pub fn encode_peaks(waveform: &Waveform) -> Vec<u8> {
    let mut out = PEAKS_MAGIC.to_vec();
    out.extend_from_slice(&(waveform.levels.len() as u32).to_le_bytes());
    for level in &waveform.levels {
        for v in [
            level.sample_rate,
            level.samples_per_pixel,
            level.channels,
            level.data.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in &level.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// The inverse of [`encode_peaks`]; `None` for bytes it did not write.
pub fn decode_peaks(bytes: &[u8]) -> Option<Waveform> {
    let mut rest = bytes.strip_prefix(PEAKS_MAGIC.as_slice())?;
    let u32_at = |rest: &mut &[u8]| -> Option<u32> {
        let (head, tail) = rest.split_at_checked(4)?;
        *rest = tail;
        Some(u32::from_le_bytes(head.try_into().ok()?))
    };
    let count = u32_at(&mut rest)?;
    let mut levels = Vec::new();
    for _ in 0..count {
        let (sample_rate, samples_per_pixel, channels, n) = (
            u32_at(&mut rest)?,
            u32_at(&mut rest)?,
            u32_at(&mut rest)?,
            u32_at(&mut rest)?,
        );
        let (values, tail) = rest.split_at_checked(n as usize * 2)?;
        rest = tail;
        let data = values
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        levels.push(PeakLevel {
            sample_rate,
            samples_per_pixel,
            channels,
            data,
        });
    }
    rest.is_empty().then_some(Waveform { levels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_round_trip_and_refuse_damage() {
        let waveform = Waveform {
            levels: vec![
                PeakLevel {
                    sample_rate: 44_100,
                    samples_per_pixel: 256,
                    channels: 1,
                    data: vec![-3, 7, -32768, 32767],
                },
                PeakLevel {
                    sample_rate: 44_100,
                    samples_per_pixel: 1024,
                    channels: 1,
                    data: vec![-32768, 32767],
                },
            ],
        };
        let bytes = encode_peaks(&waveform);
        assert_eq!(decode_peaks(&bytes), Some(waveform));
        assert_eq!(decode_peaks(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_peaks(b"nope"), None);
    }
}

//! The upload check, is it audio and what is it, run in a memory-limited child process
//! (`studiovault probe-job`) like every other decoding of stored audio. Building a decoder for
//! a hostile file can ask for gigabytes (a Vorbis codebook's entries times dimensions, a WAV
//! chunk's declared length), and an allocation that fails aborts the process it happens in:
//! that must be the child, which fails the upload with `422`, never the server.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use studiovault_audio::{AudioInfo, Container, ProbeError, probe};
use studiovault_vault::SealedBlob;

use crate::analysis::{JobLimits, JobRequest, run_json_job, serve_json_job};

/// A probe reads headers and a few packets; anything slower is a file built to stall it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// The probe's address space: ample for headers and a few packets of any accepted format, far
/// below what a hostile header asks for. Fixed, not the analysis limit: an admin who lowers
/// that to fail heavy analyses must not refuse every upload with it.
const PROBE_MEMORY_BYTES: u64 = 512 << 20;

/// How uploads are probed.
#[derive(Debug, Clone)]
pub enum Prober {
    /// In a child process of `exe`, under [`PROBE_MEMORY_BYTES`]: the server's way.
    Child { exe: PathBuf },
    /// In this process: the fuzz targets', which drive the router in process and want a
    /// decoder's abort to be their crash.
    InProcess,
}

/// What a probe found, or why the file is not taken.
#[derive(Debug)]
pub enum Probed {
    Audio(AudioInfo),
    Refused(ProbeError),
    /// The probe itself failed (its process could not start, or died): the reason, for the log.
    Failed(String),
}

/// The child's answer: what [`AudioInfo`] holds but the container, which the parent sniffed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ProbeAnswer {
    codec: String,
    sample_rate: Option<u32>,
    channels: Option<u16>,
    bits_per_sample: Option<u32>,
    duration_secs: Option<f64>,
    unsupported: Option<String>,
    corrupt: Option<String>,
}

impl Prober {
    /// Probes `sealed` (still in the temp directory) as `container`.
    pub async fn probe(&self, sealed: &SealedBlob, container: Container) -> Probed {
        match self {
            Self::InProcess => {
                let reader = match sealed.reader() {
                    Ok(reader) => reader,
                    Err(e) => return Probed::Failed(format!("the upload could not be read: {e}")),
                };
                let len = sealed.len();
                match tokio::task::spawn_blocking(move || probe(reader, len, container)).await {
                    Ok(Ok(info)) => Probed::Audio(info),
                    Ok(Err(e)) => Probed::Refused(e),
                    Err(e) => Probed::Failed(format!("the probe's thread failed: {e}")),
                }
            }
            Self::Child { exe } => {
                let access = match sealed.access() {
                    Ok(access) => access,
                    Err(e) => return Probed::Failed(format!("the upload could not be read: {e}")),
                };
                let limits = JobLimits {
                    max_duration: Duration::ZERO,
                    timeout: PROBE_TIMEOUT,
                    memory_bytes: PROBE_MEMORY_BYTES,
                };
                let request = JobRequest::new(&access, limits);
                match run_json_job::<_, ProbeAnswer>(exe, "probe-job", "probe", &request, limits)
                    .await
                {
                    Ok(answer) => answer.into_probed(container),
                    // No process to ask: the server's fault, not the file's.
                    Err(reason) if reason.starts_with("cannot ") => Probed::Failed(reason),
                    // Past its memory limit or its time, or killed: the file made it so.
                    Err(reason) => Probed::Refused(ProbeError::Corrupt(format!(
                        "the file could not be read within the check's limits ({reason})"
                    ))),
                }
            }
        }
    }
}

impl ProbeAnswer {
    fn into_probed(self, container: Container) -> Probed {
        if let Some(why) = self.unsupported {
            return Probed::Refused(ProbeError::Unsupported(why));
        }
        if let Some(why) = self.corrupt {
            return Probed::Refused(ProbeError::Corrupt(why));
        }
        Probed::Audio(AudioInfo {
            container,
            codec: self.codec,
            sample_rate: self.sample_rate,
            channels: self.channels,
            bits_per_sample: self.bits_per_sample,
            duration_secs: self.duration_secs,
        })
    }
}

/// The child side: `studiovault probe-job`.
pub fn child_main(memory_limit_bytes: u64) -> std::process::ExitCode {
    serve_json_job(
        memory_limit_bytes,
        |request: Result<JobRequest, String>| match request.and_then(|r| probe_request(&r)) {
            Ok(answer) => answer,
            Err(why) => ProbeAnswer {
                corrupt: Some(why),
                ..ProbeAnswer::default()
            },
        },
    )
}

fn probe_request(request: &JobRequest) -> Result<ProbeAnswer, String> {
    let mut reader = request.open()?;
    let mut head = Vec::with_capacity(16);
    (&mut reader)
        .take(16)
        .read_to_end(&mut head)
        .and_then(|_| reader.seek(SeekFrom::Start(0)))
        .map_err(|e| format!("the upload could not be read: {e}"))?;
    let container = Container::sniff(&head).ok_or_else(|| "not an audio file".to_owned())?;
    Ok(match probe(reader, request.audio_len(), container) {
        Ok(info) => ProbeAnswer {
            codec: info.codec,
            sample_rate: info.sample_rate,
            channels: info.channels,
            bits_per_sample: info.bits_per_sample,
            duration_secs: info.duration_secs,
            ..ProbeAnswer::default()
        },
        Err(ProbeError::Unsupported(why)) => ProbeAnswer {
            unsupported: Some(why),
            ..ProbeAnswer::default()
        },
        Err(ProbeError::Corrupt(why)) => ProbeAnswer {
            corrupt: Some(why),
            ..ProbeAnswer::default()
        },
    })
}

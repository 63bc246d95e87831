//! The stem workers' API under `/api/worker` on the public listener: token auth
//! (`Authorization: Bearer svw_…`), no cookies. A worker leases one separation job at a time,
//! fetches that job's source audio, renews its lease with progress, and uploads the stems or
//! says why it could not.

use serde::{Deserialize, Serialize};

/// The stems every backend makes, in the order an upload interleaves them.
pub const STEM_NAMES: [&str; 4] = ["vocals", "drums", "bass", "other"];

/// The header of a stems upload that describes its body (JSON of [`StemLayout`]).
pub const STEM_LAYOUT_HEADER: &str = "x-stem-layout";

/// What a worker can run, sent with every lease request and shown in the console.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerCapabilities {
    /// `builtin` or `command`.
    pub backend: String,
    /// The machine's host name, as the worker reports it.
    pub host: String,
    /// The GPU model, when the backend runs on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram_mb: Option<u64>,
    /// Longest track the worker takes, in seconds; none for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_secs: Option<u64>,
    /// The worker's version.
    pub version: String,
}

/// `POST /api/worker/lease`: waits up to `wait_secs` (at most 30) for a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub capabilities: WorkerCapabilities,
    #[serde(default)]
    pub wait_secs: u64,
}

/// The answer to a lease request: a job, or none (when the wait ran out, or the worker is
/// draining and takes no more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseAnswer {
    pub job: Option<LeasedJob>,
    /// The admin drained this worker: finish what it holds, take nothing new.
    #[serde(default)]
    pub draining: bool,
}

/// One leased separation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeasedJob {
    /// The job's id, in the paths of every later call about it.
    pub job: String,
    /// The lease lasts this long past each heartbeat.
    pub lease_secs: u64,
    /// Send a heartbeat at least this often.
    pub heartbeat_secs: u64,
    /// Bytes of the source audio (`GET …/source`), in its original format.
    pub source_bytes: u64,
    /// The source's container, e.g. `wav`, `flac`, `mp3`.
    pub source_container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// This lease's attempt, from 1.
    pub attempt: u32,
}

/// `POST /api/worker/jobs/{job}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// 0 to 1.
    pub progress: f32,
}

/// The answer to a heartbeat: the lease now runs this long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatAnswer {
    pub lease_secs: u64,
}

/// What a stems upload (`PUT /api/worker/jobs/{job}/stems`) holds: `frames` frames of
/// little-endian `f32` samples, each frame every stem's `channels` samples in `stems` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StemLayout {
    pub stems: Vec<String>,
    pub channels: u16,
    pub sample_rate: u32,
    pub frames: u64,
    /// The backend and model that made them, kept with each stem.
    pub backend: String,
    pub model: String,
    /// A draft split (the built-in DSP split of the accompaniment), labelled so in the app.
    #[serde(default)]
    pub draft: bool,
}

impl StemLayout {
    /// Bytes of the body this layout describes, if that fits in 64 bits.
    pub fn body_bytes(&self) -> Option<u64> {
        self.frames
            .checked_mul(u64::from(self.channels))?
            .checked_mul(self.stems.len() as u64)?
            .checked_mul(4)
    }
}

/// The answer to a stems upload: the stems' track ids. `duplicate` when an earlier upload for
/// the same job was already taken (this one changed nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemsStored {
    pub tracks: Vec<String>,
    #[serde(default)]
    pub duplicate: bool,
}

/// `POST /api/worker/jobs/{job}/fail`: the worker could not make the stems. `retry` when
/// another attempt (maybe on another worker) may succeed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFailure {
    pub reason: String,
    #[serde(default)]
    pub retry: bool,
    /// The worker gives the job back without having tried it (it is stopping, or cannot work
    /// at all): queued again at once, the attempt not counted.
    #[serde(default)]
    pub handed_back: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let lease = r#"{"capabilities":{"backend":"x","host":"x","version":"0"},"owner":"a"}"#;
        assert!(serde_json::from_str::<LeaseRequest>(lease).is_err());
        let caps = r#"{"capabilities":{"backend":"x","host":"x","version":"0","owner":"a"}}"#;
        assert!(serde_json::from_str::<LeaseRequest>(caps).is_err());
        let fine = r#"{"capabilities":{"backend":"x","host":"x","version":"0"}}"#;
        assert!(serde_json::from_str::<LeaseRequest>(fine).is_ok());
        assert!(serde_json::from_str::<Heartbeat>(r#"{"progress":0.5,"job":"x"}"#).is_err());
        assert!(serde_json::from_str::<JobFailure>(r#"{"reason":"x","worker":"y"}"#).is_err());
    }

    #[test]
    fn a_layout_counts_its_body_and_refuses_overflow() {
        let layout = StemLayout {
            stems: STEM_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            channels: 2,
            sample_rate: 44_100,
            frames: 10,
            backend: "builtin".into(),
            model: "spleeter-2stems".into(),
            draft: true,
        };
        assert_eq!(layout.body_bytes(), Some(10 * 2 * 4 * 4));
        let huge = StemLayout {
            frames: u64::MAX,
            ..layout
        };
        assert_eq!(huge.body_bytes(), None);
    }
}

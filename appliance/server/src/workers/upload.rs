//! `PUT /api/worker/jobs/{job}/stems`: a worker's stems, checked as they stream in and stored
//! in the job owner's vault.
//!
//! The body is `frames` frames of little-endian `f32`, each frame every stem's samples in
//! [`STEM_NAMES`] order (the `x-stem-layout` header says so). Interleaving the stems lets the
//! server check them in one pass with flat memory: the job's source is decoded beside the body,
//! and the stems must have its rate, channel count and exact length, finite samples, and sum
//! back to it within [`MIN_SUM_SNR_DB`]. Each stem is encrypted as it arrives, as a 32-bit
//! float WAV (no clipping, nothing lost from what the worker sent).

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use studiovault_api::worker::{STEM_LAYOUT_HEADER, STEM_NAMES, StemLayout, StemsStored};
use studiovault_audio::{AudioDecoder, Container, DecodeLimits};
use studiovault_vault::{
    BlobWriter, Lease, NewStems, StemsOutcome, TrackInfo, TrackRecord, Vault, VaultError,
    WorkerRecord,
};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::held;
use crate::web::{ApiError, AppState, respond, with_state};

/// The stems must sum back to the source at least this cleanly (signal to residual, dB).
pub const MIN_SUM_SNR_DB: f64 = 30.0;
/// Largest sample magnitude accepted (+24 dBFS), as the decoder clamps.
const SAMPLE_LIMIT: f32 = 16.0;
/// Body pieces queued between the socket and the checker.
const QUEUE: usize = 8;
const MAX_CHANNELS: u16 = 8;
/// Decoding the source to check the sum may take this long, on top of the time the body
/// takes to arrive ([`check_deadline`]).
const CHECK_DEADLINE: Duration = Duration::from_secs(3600);
/// The slowest upload a stems body is given time for: 256 KiB/s.
const SLOWEST_BODY_BYTES_PER_SEC: u64 = 256 << 10;

/// How long checking a body of `body_bytes` may take. The source is decoded only as fast as
/// the body arrives, so a deadline from the upload's start must leave room for the upload: a
/// long track's stems are gigabytes.
fn check_deadline(body_bytes: u64) -> Duration {
    CHECK_DEADLINE + Duration::from_secs(body_bytes / SLOWEST_BODY_BYTES_PER_SEC)
}

fn rejected(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "stems_rejected", message)
}

/// Why an upload was not stored, from the checking thread.
#[derive(Debug)]
enum Refusal {
    Bad(String),
    Store(VaultError),
}

impl From<VaultError> for Refusal {
    fn from(e: VaultError) -> Self {
        Self::Store(e)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Bad(message) => rejected(message),
            Refusal::Store(e) => e.into(),
        }
    }
}

fn parse_layout(raw: Option<String>, content_length: Option<u64>) -> Result<StemLayout, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::bad_request(format!("the `{STEM_LAYOUT_HEADER}` header is required"))
    })?;
    let layout: StemLayout = serde_json::from_str(&raw)
        .map_err(|e| ApiError::bad_request(format!("malformed `{STEM_LAYOUT_HEADER}`: {e}")))?;
    if layout.stems != STEM_NAMES {
        return Err(rejected(format!(
            "send exactly the stems {} in that order",
            STEM_NAMES.join(", ")
        )));
    }
    if layout.channels == 0 || layout.channels > MAX_CHANNELS {
        return Err(rejected(format!("channels must be 1 to {MAX_CHANNELS}")));
    }
    if layout.frames == 0 {
        return Err(rejected("the stems hold no audio"));
    }
    let expected = layout
        .body_bytes()
        .ok_or_else(|| rejected("that many frames do not fit in one upload"))?;
    match content_length {
        None => Err(ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send Content-Length",
        )),
        Some(len) if len != expected => Err(rejected(format!(
            "the layout describes {expected} bytes but Content-Length is {len}"
        ))),
        Some(_) => Ok(layout),
    }
}

pub(super) fn route(
    state: &AppState,
    worker: impl Filter<Extract = (WorkerRecord,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "worker" / "jobs" / String / "stems")
        .and(warp::put())
        .and(worker)
        .and(warp::header::optional::<String>(STEM_LAYOUT_HEADER))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and(with_state(state))
        .then(
            |job: String, worker: WorkerRecord, layout, length, body, state: AppState| async move {
                respond(upload(job, worker, layout, length, body, state).await)
            },
        )
        .boxed()
}

/// The jobs whose stems are arriving. The check runs on a blocking thread that waits on the
/// body, so each job takes one upload at a time: a worker (or a stolen worker token) cannot
/// hold a thread per request and starve the pool every other request needs.
#[derive(Debug, Default)]
pub struct StemUploads(Mutex<HashSet<u128>>);

/// One job's upload in flight; the job takes another once this is dropped.
struct Arriving<'a> {
    uploads: &'a StemUploads,
    job: u128,
}

impl StemUploads {
    fn begin(&self, job: u128) -> Result<Arriving<'_>, ApiError> {
        let mut jobs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !jobs.insert(job) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "upload_in_progress",
                "this job's stems are already being uploaded: wait for that upload's answer",
            ));
        }
        Ok(Arriving { uploads: self, job })
    }
}

impl Drop for Arriving<'_> {
    fn drop(&mut self) {
        let mut jobs = self
            .uploads
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        jobs.remove(&self.job);
    }
}

async fn upload(
    job: String,
    worker: WorkerRecord,
    layout: Option<String>,
    content_length: Option<u64>,
    body: impl futures_util::Stream<Item = Result<impl Buf, warp::Error>> + Send,
    state: AppState,
) -> Result<Response, ApiError> {
    let layout = parse_layout(layout, content_length)?;
    let lease = held(&state, &worker, &job).await?;
    let _arriving = state.stem_uploads.begin(lease.id)?;
    let idle_limit = Duration::from_secs(state.config.http.body_idle_timeout_secs);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
    let vault = state.vault.clone();
    let (w, l) = (worker.clone(), layout.clone());
    let check = tokio::task::spawn_blocking(move || check_and_store(&vault, &w, &lease, &l, rx));
    let mut body = std::pin::pin!(body);
    let mut silent = false;
    loop {
        // A silent worker (a half-open connection) would hold the checking thread for good.
        let mut piece = match tokio::time::timeout(idle_limit, body.next()).await {
            Ok(Some(Ok(piece))) => piece,
            Ok(None | Some(Err(_))) => break,
            Err(_) => {
                silent = true;
                break;
            }
        };
        if tx
            .send(piece.copy_to_bytes(piece.remaining()))
            .await
            .is_err()
        {
            // The checker refused the stems already; its answer says why.
            break;
        }
    }
    drop(tx);
    let checked = check.await.map_err(|e| {
        tracing::error!(error = %e, "the stems check panicked");
        ApiError::internal()
    })?;
    if silent && checked.is_err() {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the stems stopped arriving for {} s: upload them again",
                idle_limit.as_secs()
            ),
        ));
    }
    let outcome = checked.map_err(ApiError::from)?;
    let (status, stored) = match outcome {
        StemsOutcome::Stored(tracks) => {
            tracing::info!(worker = %worker.name, job = %job, "stems stored");
            (
                StatusCode::CREATED,
                StemsStored {
                    tracks: tracks.iter().map(|t| t.id.to_string()).collect(),
                    duplicate: false,
                },
            )
        }
        StemsOutcome::AlreadyStored(ids) => (
            StatusCode::OK,
            StemsStored {
                tracks: ids.iter().map(ToString::to_string).collect(),
                duplicate: true,
            },
        ),
    };
    Ok(warp::reply::with_status(warp::reply::json(&stored), status).into_response())
}

/// The job's source, decoded sample by sample as the stems arrive.
struct Mix {
    /// The track separated, to name its stems after.
    track: TrackRecord,
    decoder: AudioDecoder,
    pending: VecDeque<f32>,
    done: bool,
}

impl Mix {
    fn open(
        vault: &Vault,
        worker: &WorkerRecord,
        lease: &Lease,
        body_bytes: u64,
    ) -> Result<Self, Refusal> {
        let (rec, mut reader) = vault.open_stem_source(worker, lease, "checking uploaded stems")?;
        let mut head = [0u8; 16];
        reader.read_exact(&mut head).map_err(VaultError::from)?;
        reader.seek(SeekFrom::Start(0)).map_err(VaultError::from)?;
        let container = Container::sniff(&head)
            .ok_or_else(|| Refusal::Bad("the source is no longer readable audio".into()))?;
        let limits = DecodeLimits {
            max_duration: None,
            deadline: Some(Instant::now() + check_deadline(body_bytes)),
            cancel: None,
        };
        let decoder = AudioDecoder::open(reader, rec.size_bytes, container, limits)
            .map_err(|e| Refusal::Bad(format!("the source cannot be decoded: {e}")))?;
        Ok(Self {
            track: rec,
            decoder,
            pending: VecDeque::new(),
            done: false,
        })
    }

    /// Decodes until at least `want` samples are pending or the source ends; checks the
    /// source's rate and channels against the layout on the first block.
    fn fill(&mut self, want: usize, layout: &StemLayout) -> Result<(), Refusal> {
        while self.pending.len() < want && !self.done {
            match self.decoder.next_block() {
                Ok(Some(block)) => {
                    if block.sample_rate != layout.sample_rate
                        || block.channels != usize::from(layout.channels)
                    {
                        return Err(Refusal::Bad(format!(
                            "the stems must have the source's rate and channels ({} Hz, {} ch), \
                             not {} Hz, {} ch",
                            block.sample_rate, block.channels, layout.sample_rate, layout.channels
                        )));
                    }
                    self.pending.extend(block.samples.iter().copied());
                }
                Ok(None) => self.done = true,
                Err(e) => return Err(Refusal::Bad(format!("the source failed to decode: {e}"))),
            }
        }
        Ok(())
    }
}

/// A float WAV header for `frames` frames.
fn wav_header(layout: &StemLayout) -> Result<Vec<u8>, Refusal> {
    let data = layout
        .frames
        .checked_mul(u64::from(layout.channels) * 4)
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| *d <= u32::MAX - 36)
        .ok_or_else(|| Refusal::Bad("a stem longer than a WAV file holds (4 GiB)".into()))?;
    let block_align = layout.channels * 4;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(data + 36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&3u16.to_le_bytes());
    h.extend_from_slice(&layout.channels.to_le_bytes());
    h.extend_from_slice(&layout.sample_rate.to_le_bytes());
    h.extend_from_slice(&(layout.sample_rate * u32::from(block_align)).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&32u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    Ok(h)
}

fn check_and_store(
    vault: &Vault,
    worker: &WorkerRecord,
    lease: &Lease,
    layout: &StemLayout,
    mut body: tokio::sync::mpsc::Receiver<Bytes>,
) -> Result<StemsOutcome, Refusal> {
    let channels = usize::from(layout.channels);
    let stems = layout.stems.len();
    let frame_bytes = 4 * channels * stems;
    let body_bytes = layout.body_bytes().unwrap_or(u64::MAX);
    let mut mix = Mix::open(vault, worker, lease, body_bytes)?;
    let header = wav_header(layout)?;
    let mut writers: Vec<BlobWriter> = Vec::with_capacity(stems);
    for _ in 0..stems {
        let mut w = vault.begin_stem_blob(lease)?;
        w.write(&header)?;
        writers.push(w);
    }
    let mut carry: Vec<u8> = Vec::new();
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); stems];
    let mut frames: u64 = 0;
    let (mut energy, mut residual) = (0f64, 0f64);
    let mut sums = vec![0f32; channels];
    while let Some(piece) = body.blocking_recv() {
        carry.extend_from_slice(&piece);
        let whole = carry.len() / frame_bytes;
        if frames + whole as u64 > layout.frames {
            return Err(Refusal::Bad(format!(
                "the body holds more than the {} frames the layout declares",
                layout.frames
            )));
        }
        mix.fill(whole * channels, layout)?;
        for o in &mut out {
            o.clear();
        }
        for frame in carry[..whole * frame_bytes].chunks_exact(frame_bytes) {
            sums.iter_mut().for_each(|s| *s = 0.0);
            for (stem, samples) in frame.chunks_exact(4 * channels).enumerate() {
                for (ch, raw) in samples.chunks_exact(4).enumerate() {
                    let bytes = [raw[0], raw[1], raw[2], raw[3]];
                    let x = f32::from_le_bytes(bytes);
                    if !x.is_finite() || x.abs() > SAMPLE_LIMIT {
                        return Err(Refusal::Bad(format!(
                            "stem `{}` has a sample that is not a finite number within \
                             ±{SAMPLE_LIMIT} at frame {frames}",
                            layout.stems[stem]
                        )));
                    }
                    sums[ch] += x;
                    out[stem].extend_from_slice(&bytes);
                }
            }
            for sum in &sums {
                let Some(m) = mix.pending.pop_front() else {
                    return Err(Refusal::Bad(format!(
                        "the stems are longer than the source ({frames} frames)"
                    )));
                };
                energy += f64::from(m) * f64::from(m);
                let d = f64::from(*sum - m);
                residual += d * d;
            }
            frames += 1;
        }
        for (w, o) in writers.iter_mut().zip(&out) {
            w.write(o)?;
        }
        carry.drain(..whole * frame_bytes);
    }
    if frames != layout.frames || !carry.is_empty() {
        return Err(Refusal::Bad(format!(
            "the upload ended after {frames} of {} frames",
            layout.frames
        )));
    }
    mix.fill(1, layout)?;
    if !mix.pending.is_empty() {
        return Err(Refusal::Bad(format!(
            "the stems are shorter than the source: {frames} frames, the source has more"
        )));
    }
    let snr = if residual == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (energy / residual).log10()
    };
    if snr < MIN_SUM_SNR_DB && residual / frames as f64 > 1e-10 {
        return Err(Refusal::Bad(format!(
            "the stems do not sum back to the mix: {snr:.1} dB signal to residual, \
             {MIN_SUM_SNR_DB} dB needed"
        )));
    }
    let parent = &mix.track.info;
    let file_stem = match parent.original_filename.rsplit_once('.') {
        Some((base, _)) if !base.is_empty() => base,
        _ if !parent.original_filename.is_empty() => parent.original_filename.as_str(),
        _ => parent.name.as_str(),
    };
    let duration = frames as f64 / f64::from(layout.sample_rate);
    let mut sealed = Vec::with_capacity(stems);
    for (w, name) in writers.into_iter().zip(&layout.stems) {
        let info = TrackInfo {
            name: format!("{} ({name})", parent.name),
            original_filename: format!("{file_stem}-{name}.wav"),
            container: "wav".into(),
            codec: "pcm_f32le".into(),
            mime_type: "audio/wav".into(),
            duration_secs: Some(duration),
            sample_rate: Some(layout.sample_rate),
            channels: Some(layout.channels),
            bits_per_sample: Some(32),
        };
        sealed.push((name.clone(), w.finish()?, info));
    }
    Ok(vault.store_stems(
        worker,
        lease,
        NewStems {
            stems: sealed,
            draft: layout.draft,
            backend: layout.backend.chars().take(64).collect(),
            model: layout.model.chars().take(64).collect(),
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_leaves_time_for_the_body_to_arrive() {
        // An hour of stereo 44.1 kHz: four float stems, about 5 GB.
        let hour = StemLayout {
            frames: 3600 * 44_100,
            ..layout()
        };
        let body = hour.body_bytes().unwrap();
        assert!(body > 5_000_000_000);
        let deadline = check_deadline(body);
        assert!(
            deadline > Duration::from_secs(6 * 3600),
            "{deadline:?}: the body alone needs 5.5 h at 256 KiB/s"
        );
        assert_eq!(check_deadline(0), CHECK_DEADLINE);
    }

    fn layout() -> StemLayout {
        StemLayout {
            stems: STEM_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            channels: 2,
            sample_rate: 44_100,
            frames: 100,
            backend: "builtin".into(),
            model: "m".into(),
            draft: true,
        }
    }

    #[test]
    fn layouts_are_checked_before_any_byte_is_read() {
        let ok = serde_json::to_string(&layout()).ok();
        assert!(parse_layout(ok.clone(), Some(100 * 2 * 4 * 4)).is_ok());
        assert!(parse_layout(None, Some(3200)).is_err());
        assert!(parse_layout(ok.clone(), None).is_err());
        assert!(parse_layout(ok, Some(3199)).is_err());
        let mut two = layout();
        two.stems.truncate(2);
        assert!(parse_layout(serde_json::to_string(&two).ok(), Some(1600)).is_err());
        let mut renamed = layout();
        renamed.stems[0] = "../vocals".into();
        assert!(parse_layout(serde_json::to_string(&renamed).ok(), Some(3200)).is_err());
        let mut wide = layout();
        wide.channels = 9;
        assert!(parse_layout(serde_json::to_string(&wide).ok(), Some(100 * 9 * 16)).is_err());
    }

    #[test]
    fn the_wav_header_says_float_and_the_right_sizes() {
        let h = wav_header(&layout()).ok().unwrap_or_default();
        assert_eq!(h.len(), 44);
        assert_eq!(&h[20..22], &3u16.to_le_bytes());
        assert_eq!(&h[40..44], &800u32.to_le_bytes());
    }
}

//! The stem workers' API (`/api/worker`, types in `studiovault_api::worker`): a worker leases a
//! separation job (long poll), fetches that job's source, renews its lease with progress, and
//! uploads the stems (checked in [`upload`]) or says why it failed.
//!
//! Workers authenticate with the token their enrolment showed once (`Authorization: Bearer
//! svw_…`); no cookie is read here. Every call names the job, and the store answers only for a
//! job this worker holds, so a lease opens its own job's track and nothing else.

mod upload;

pub use upload::StemUploads;

use std::time::{Duration, Instant};

use studiovault_api::worker::{
    Heartbeat, HeartbeatAnswer, JobFailure, LeaseAnswer, LeaseRequest, LeasedJob,
};
use studiovault_vault::{Lease, VaultError, WorkerRecord, WorkerState};
use warp::filters::BoxedFilter;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::web::{ApiError, AppState, blocking, json_body, respond, set, stream_blob, with_state};

/// The longest a lease request waits for a job.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// The lease a worker holds on a job lasts this long past each heartbeat.
pub fn lease_length(state: &AppState) -> Duration {
    Duration::from_secs(state.config.stems.lease_seconds.max(2))
}

/// Heartbeats come four times a lease, so one lost heartbeat does not lose the job.
fn heartbeat_every(lease: Duration) -> u64 {
    (lease.as_secs() / 4).max(1)
}

/// The worker whose token the request carries.
fn worker(
    state: &AppState,
) -> impl Filter<Extract = (WorkerRecord,), Error = Rejection> + Clone + use<> {
    warp::header::optional::<String>("authorization")
        .and(with_state(state))
        .and_then(|authz: Option<String>, state: AppState| async move {
            let token = authz
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_owned)
                .ok_or_else(|| warp::reject::custom(ApiError::from(VaultError::WorkerUnknown)))?;
            let vault = state.vault.clone();
            blocking(move || vault.authenticate_worker(&token))
                .await
                .map_err(warp::reject::custom)
        })
}

/// The job id of a path: 32 hex digits, or no job of this worker's.
pub(crate) fn job_id(raw: &str) -> Result<u128, ApiError> {
    (raw.len() == 32)
        .then(|| u128::from_str_radix(raw, 16).ok())
        .flatten()
        .ok_or_else(|| ApiError::from(VaultError::LeaseLost))
}

pub(crate) fn job_name(id: u128) -> String {
    format!("{id:032x}")
}

/// The lease `worker` holds on the job a path names.
async fn held(state: &AppState, worker: &WorkerRecord, raw: &str) -> Result<Lease, ApiError> {
    let id = job_id(raw)?;
    let (vault, worker) = (state.vault.clone(), worker.clone());
    blocking(move || vault.stem_lease(&worker, id)).await
}

pub(crate) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let lease = warp::path!("api" / "worker" / "lease")
        .and(warp::post())
        .and(worker(state))
        .and(json_body::<LeaseRequest>())
        .and(with_state(state))
        .then(|worker, req, state| async move { respond(lease(worker, req, state).await) });
    let heartbeat = warp::path!("api" / "worker" / "jobs" / String / "heartbeat")
        .and(warp::post())
        .and(worker(state))
        .and(json_body::<Heartbeat>())
        .and(with_state(state))
        .then(
            |job: String, worker: WorkerRecord, beat: Heartbeat, state: AppState| async move {
                let result = async {
                    let lease = held(&state, &worker, &job).await?;
                    let length = lease_length(&state);
                    let vault = state.vault.clone();
                    let progress = if beat.progress.is_finite() {
                        beat.progress
                    } else {
                        0.0
                    };
                    blocking(move || {
                        lease.heartbeat(&vault, progress, length)?;
                        vault.worker_heard(worker.id)
                    })
                    .await?;
                    Ok(warp::reply::json(&HeartbeatAnswer {
                        lease_secs: length.as_secs(),
                    })
                    .into_response())
                };
                respond(result.await)
            },
        );
    let source = warp::path!("api" / "worker" / "jobs" / String / "source")
        .and(warp::get())
        .and(worker(state))
        .and(with_state(state))
        .then(
            |job: String, worker: WorkerRecord, state: AppState| async move {
                let result = async {
                    let lease = held(&state, &worker, &job).await?;
                    let vault = state.vault.clone();
                    let (rec, reader) = blocking(move || {
                        vault.open_stem_source(&worker, &lease, "source for separation")
                    })
                    .await?;
                    let mut res =
                        warp::reply::stream(stream_blob(reader, 0, rec.size_bytes)).into_response();
                    set(&mut res, header::CONTENT_TYPE, "application/octet-stream");
                    set(
                        &mut res,
                        header::CONTENT_LENGTH,
                        &rec.size_bytes.to_string(),
                    );
                    set(&mut res, header::CACHE_CONTROL, "no-store");
                    Ok(res)
                };
                respond(result.await)
            },
        );
    let fail = warp::path!("api" / "worker" / "jobs" / String / "fail")
        .and(warp::post())
        .and(worker(state))
        .and(json_body::<JobFailure>())
        .and(with_state(state))
        .then(
            |job: String, worker: WorkerRecord, failure: JobFailure, state: AppState| async move {
                let result = async {
                    let lease = held(&state, &worker, &job).await?;
                    let vault = state.vault.clone();
                    let reason: String = failure.reason.chars().take(300).collect();
                    if failure.handed_back {
                        tracing::info!(worker = %worker.name, reason = %reason, "a stem job handed back untried");
                        blocking(move || lease.hand_back(&vault)).await?;
                    } else {
                        tracing::warn!(worker = %worker.name, reason = %reason, retry = failure.retry, "a stem job failed on its worker");
                        blocking(move || lease.fail(&vault, &reason, failure.retry)).await?;
                    }
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        );
    let stems = upload::route(state, worker(state));
    vec![
        lease.boxed(),
        heartbeat.boxed(),
        source.boxed(),
        fail.boxed(),
        stems,
    ]
}

/// Long poll: a job as soon as one is ready for this worker, or none after the wait.
async fn lease(
    worker: WorkerRecord,
    req: LeaseRequest,
    state: AppState,
) -> Result<Response, ApiError> {
    let (vault, id, caps) = (state.vault.clone(), worker.id, req.capabilities.clone());
    blocking(move || vault.worker_seen(id, &caps)).await?;
    if worker.state == WorkerState::Draining {
        return Ok(warp::reply::json(&LeaseAnswer {
            job: None,
            draining: true,
        })
        .into_response());
    }
    let deadline = Instant::now() + Duration::from_secs(req.wait_secs).min(MAX_WAIT);
    let length = lease_length(&state);
    loop {
        // Registered before looking, so a job queued meanwhile still wakes this poll.
        let woken = state.stems_wake.notified();
        let (vault, w, max) = (
            state.vault.clone(),
            worker.clone(),
            req.capabilities.max_duration_secs,
        );
        if let Some((lease, rec)) = blocking(move || vault.lease_stems(&w, length, max)).await? {
            tracing::info!(worker = %worker.name, job = %job_name(lease.id), attempt = lease.attempt, "stem job leased");
            let job = LeasedJob {
                job: job_name(lease.id),
                lease_secs: length.as_secs(),
                heartbeat_secs: heartbeat_every(length),
                source_bytes: rec.size_bytes,
                source_container: rec.info.container.clone(),
                duration_secs: rec.info.duration_secs,
                attempt: lease.attempt,
            };
            return Ok(warp::reply::json(&LeaseAnswer {
                job: Some(job),
                draining: false,
            })
            .into_response());
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(warp::reply::json(&LeaseAnswer {
                job: None,
                draining: false,
            })
            .into_response());
        }
        // Expired leases free jobs without a commit to announce them: look again now and then.
        let _ = tokio::time::timeout((deadline - now).min(Duration::from_secs(2)), woken).await;
    }
}

//! Stem workers (`/v1/workers`): the list with the stem queue, enrolment (the token answered
//! once), drain, resume, revoke and delete. A worker is named by its name or its id.

use studiovault_api::admin::{EnrolWorker, StemJobView, WorkerEnrolled, WorkerView, WorkersView};
use studiovault_vault::workers::worker_of_holder;
use studiovault_vault::{
    JobKind, JobRecord, JobState, Vault, VaultError, WorkerRecord, WorkerState,
};
use warp::http::StatusCode;
use warp::{Filter, Reply};

use super::{body, json};
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};
use crate::workers::job_name;

fn job_view(job: &JobRecord, workers: &[WorkerRecord]) -> StemJobView {
    let (state, worker, reason) = match &job.state {
        JobState::Queued => ("queued", None, None),
        JobState::Running { holder, .. } => {
            let name = worker_of_holder(holder)
                .and_then(|id| workers.iter().find(|w| w.id == id))
                .map(|w| w.name.clone());
            ("running", name, None)
        }
        JobState::Failed { reason } => ("failed", None, Some(reason.clone())),
    };
    StemJobView {
        id: job_name(job.id),
        track: job
            .subject
            .track()
            .map(|t| t.to_string())
            .unwrap_or_default(),
        state: state.into(),
        progress: job.progress,
        attempts: job.tries(),
        worker,
        reason,
        created_at: job.created_at_ms,
    }
}

fn worker_view(
    vault: &Vault,
    w: &WorkerRecord,
    jobs: &[JobRecord],
    all: &[WorkerRecord],
) -> WorkerView {
    let holder = w.holder();
    let current = jobs
        .iter()
        .find(|j| matches!(&j.state, JobState::Running { holder: h, .. } if *h == holder))
        .map(|j| job_view(j, all));
    let caps = w.capabilities.as_ref();
    WorkerView {
        id: w.id.to_string(),
        name: w.name.clone(),
        state: w.state.as_str().into(),
        enrolled_at: w.enrolled_at_ms,
        host: caps.map(|c| c.host.clone()),
        backend: caps.map(|c| c.backend.clone()),
        gpu: caps.and_then(|c| c.gpu.clone()),
        vram_mb: caps.and_then(|c| c.vram_mb),
        last_seen: w.last_seen_ms,
        current_job: current,
        jobs_last_hour: w.jobs_last_hour(vault.now_ms()),
        jobs_done: w.jobs_done,
    }
}

/// Every worker and the stem queue.
pub(crate) fn workers_view(vault: &Vault) -> Result<WorkersView, VaultError> {
    let workers = vault.workers()?;
    let jobs = vault.jobs_of(JobKind::Stems)?;
    Ok(WorkersView {
        workers: workers
            .iter()
            .map(|w| worker_view(vault, w, &jobs, &workers))
            .collect(),
        queue: jobs.iter().map(|j| job_view(j, &workers)).collect(),
    })
}

fn find(vault: &Vault, who: &str) -> Result<WorkerRecord, VaultError> {
    vault
        .workers()?
        .into_iter()
        .find(|w| w.name.eq_ignore_ascii_case(who) || w.id.to_string() == who)
        .ok_or(VaultError::NotFound)
}

fn one(vault: &Vault, id: studiovault_vault::WorkerId) -> Result<WorkerView, VaultError> {
    let view = workers_view(vault)?;
    view.workers
        .into_iter()
        .find(|w| w.id == id.to_string())
        .ok_or(VaultError::NotFound)
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let list = warp::path!("v1" / "workers")
        .and(warp::get())
        .and(s())
        .then(|state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || workers_view(&vault))
                    .await
                    .map(|v| json(&v)),
            )
        });
    let enrol = warp::path!("v1" / "workers")
        .and(warp::post())
        .and(body::<EnrolWorker>())
        .and(s())
        .then(|req: EnrolWorker, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let (rec, token) = vault.enrol_worker(&req.name)?;
                Ok(WorkerEnrolled {
                    worker: one(&vault, rec.id)?,
                    token,
                })
            })
            .await
            .map(|v| warp::reply::with_status(json(&v), StatusCode::CREATED).into_response());
            respond(result)
        });
    let change = warp::path!("v1" / "workers" / String / String)
        .and(warp::post())
        .and(s())
        .then(|who: String, action: String, state: AppState| async move {
            let result = async {
                let target = match action.as_str() {
                    "drain" => WorkerState::Draining,
                    "resume" => WorkerState::Active,
                    "revoke" => WorkerState::Revoked,
                    _ => return Err(ApiError::not_found("action")),
                };
                let vault = state.vault.clone();
                let view = blocking(move || {
                    let w = find(&vault, &who)?;
                    vault.set_worker_state(w.id, target)?;
                    one(&vault, w.id)
                })
                .await
                .map_err(ApiError::not_found_as("worker"))?;
                Ok(json(&view))
            };
            respond(result.await)
        });
    let delete = warp::path!("v1" / "workers" / String)
        .and(warp::delete())
        .and(s())
        .then(|who: String, state: AppState| async move {
            let vault = state.vault.clone();
            // Answers the worker as it was, for the caller to name it.
            let result = blocking(move || {
                let w = find(&vault, &who)?;
                let view = one(&vault, w.id)?;
                vault.delete_worker(w.id)?;
                Ok(view)
            })
            .await
            .map_err(ApiError::not_found_as("worker"))
            .map(|view| json(&view));
            respond(result)
        });
    vec![list.boxed(), enrol.boxed(), change.boxed(), delete.boxed()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_views_name_their_worker() -> Result<(), &'static str> {
        let id = "0123456789abcdef0123456789abcdef";
        let job = JobRecord {
            id: 7,
            kind: JobKind::Stems,
            owner: studiovault_vault::UserId::parse(id).ok_or("id")?,
            subject: studiovault_vault::JobSubject::Track {
                track: studiovault_vault::TrackId::parse(id).ok_or("id")?,
            },
            state: JobState::Failed {
                reason: "out of memory".into(),
            },
            attempts: 3,
            due_at_ms: 0,
            progress: 0.0,
            created_at_ms: 1,
            retry_from_ms: None,
            handed_back: 0,
        };
        let view = job_view(&job, &[]);
        assert_eq!(view.state, "failed");
        assert_eq!(view.reason.as_deref(), Some("out of memory"));
        assert_eq!(view.id.len(), 32);
        assert_eq!(view.track, id);
        Ok(())
    }
}

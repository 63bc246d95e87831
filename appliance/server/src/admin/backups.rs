//! Backups and replication (`/v1/backups`, `/v1/replication`): status, snapshots, restore
//! drills and replica checks, run by the server's [`Backups`](crate::backups::Backups).

use studiovault_api::admin::{ReplicaVerifyRequest, SnapshotRequest};
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{body, json};
use crate::backups::BackupsError;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, respond, with_state};

impl From<BackupsError> for ApiError {
    fn from(e: BackupsError) -> Self {
        match e {
            BackupsError::NotConfigured { .. } => {
                Self::new(StatusCode::CONFLICT, "not_configured", e.to_string())
            }
            BackupsError::BackupFailed(message) => {
                Self::new(StatusCode::BAD_GATEWAY, "backup_failed", message)
            }
            BackupsError::ReplicationFailed(message) => {
                Self::new(StatusCode::BAD_GATEWAY, "replication_failed", message)
            }
            BackupsError::Store(e) => e.into(),
            BackupsError::Task(e) => {
                tracing::error!(error = %e, "a blocking task failed");
                Self::internal()
            }
        }
    }
}

/// A backup job's result as JSON, or its error as the API's.
fn backup_answer<T: serde::Serialize>(result: Result<T, BackupsError>) -> Response {
    respond(result.map(|v| json(&v)).map_err(ApiError::from))
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let backups =
        warp::path!("v1" / "backups")
            .and(warp::get())
            .and(s())
            .then(|state: AppState| async move {
                backup_answer(state.backups.status(&state.vault).await)
            });
    let snapshot = warp::path!("v1" / "backups" / "snapshot")
        .and(warp::post())
        .and(body::<SnapshotRequest>())
        .and(s())
        .then(|req: SnapshotRequest, state: AppState| async move {
            backup_answer(state.backups.snapshot(&state.vault, req).await)
        });
    let snapshots = warp::path!("v1" / "backups" / "snapshots")
        .and(warp::get())
        .and(s())
        .then(|state: AppState| async move { backup_answer(state.backups.snapshots().await) });
    let drill = warp::path!("v1" / "backups" / "drill")
        .and(warp::post())
        .and(s())
        .then(
            |state: AppState| async move { backup_answer(state.backups.drill(&state.vault).await) },
        );
    let verify_replicas = warp::path!("v1" / "replication" / "verify")
        .and(warp::post())
        .and(body::<ReplicaVerifyRequest>())
        .and(s())
        .then(|req: ReplicaVerifyRequest, state: AppState| async move {
            backup_answer(
                state
                    .backups
                    .verify_replicas(&state.vault, req.repair)
                    .await,
            )
        });
    vec![
        backups.boxed(),
        snapshot.boxed(),
        snapshots.boxed(),
        drill.boxed(),
        verify_replicas.boxed(),
    ]
}

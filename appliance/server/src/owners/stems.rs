//! A track's stems: ask for them (`POST /api/tracks/{id}/stems`), watch the separation
//! (`GET`), cancel it (`POST …/stems/cancel`), and download them all as one archive
//! (`GET …/stems.tar`). Each stem is a track of its own for playing, sharing and deleting.

use bytes::Bytes;
use futures_util::stream;
use futures_util::{Stream, StreamExt};
use studiovault_api::ProcessingPurpose;
use studiovault_api::public::StemsView;
use studiovault_vault::stems::plan_refusal;
use studiovault_vault::workers::worker_of_holder;
use studiovault_vault::{
    Authenticated, ClientInfo, JobState, Library, OwnerScope, StemsStatus, TrackId, TrackRecord,
    Vault, VaultError,
};
use warp::filters::BoxedFilter;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::tracks::{track_id, view};
use super::{owner_call, owner_state};
use crate::web::tar::{BLOCK, entry_len, header as tar_header, padding, safe_name, trailer};
use crate::web::{
    ApiError, AppState, blocking, client, content_disposition, respond, set, stream_blob,
};

/// What the owner sees of a track's separation.
fn stems_view(vault: &Vault, scope: &OwnerScope, status: StemsStatus) -> StemsView {
    // The plan's refusal, or the owner's own objection to stem separation.
    let unavailable = vault.account(scope).me().ok().and_then(|user| {
        plan_refusal(user.plan).map(str::to_owned).or_else(|| {
            user.objects_to(ProcessingPurpose::Stems)
                .then(|| VaultError::ProcessingStopped {
                    purpose: ProcessingPurpose::Stems,
                    restricted: user.restricted(),
                })
                .map(|e| e.to_string())
        })
    });
    let (state, progress, worker, attempts, reason) = match &status.job {
        None if status.stems.is_empty() => ("none", 0.0, None, 0, None),
        None => ("done", 1.0, None, 0, None),
        Some(job) => match &job.state {
            JobState::Queued => ("queued", 0.0, None, job.tries(), None),
            // Its worker stopped answering (killed, cut off): the job waits for the next one
            // that asks, rather than showing the dead worker's last progress for ever.
            JobState::Running { lease_until_ms, .. } if *lease_until_ms <= vault.now_ms() => {
                ("queued", 0.0, None, job.tries(), None)
            }
            JobState::Running { holder, .. } => {
                let name = worker_of_holder(holder)
                    .and_then(|id| vault.worker(id).ok())
                    .map(|w| w.name);
                ("running", job.progress, name, job.tries(), None)
            }
            JobState::Failed { reason } => ("failed", 0.0, None, job.tries(), Some(reason.clone())),
        },
    };
    StemsView {
        state: state.into(),
        progress,
        worker,
        attempts,
        reason,
        stems: status.stems.iter().map(view).collect(),
        available: unavailable.is_none(),
        unavailable,
    }
}

async fn current(state: &AppState, auth: &Authenticated, id: &str) -> Result<StemsView, ApiError> {
    let id = track_id(id)?;
    let (vault, scope) = (state.vault.clone(), auth.scope.clone());
    blocking(move || {
        let status = vault.library(&scope).stems(id)?;
        Ok(stems_view(&vault, &scope, status))
    })
    .await
    .map_err(ApiError::not_found_as("track"))
}

/// Runs `op` on the owner's library for the track `id` names; answers its outcome and the
/// separation's state after it.
async fn change<T: Send + 'static>(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    op: impl FnOnce(&Library<'_>, TrackId) -> Result<T, VaultError> + Send + 'static,
) -> Result<(T, StemsView), ApiError> {
    let track = track_id(id)?;
    let (vault, scope) = (state.vault.clone(), auth.scope.clone());
    let outcome = blocking(move || op(&vault.library(&scope), track))
        .await
        .map_err(ApiError::not_found_as("track"))?;
    Ok((outcome, current(state, auth, id).await?))
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let get = warp::path!("api" / "tracks" / String / "stems")
        .and(warp::get())
        .and(owner_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                respond(
                    current(&state, &auth, &id)
                        .await
                        .map(|v| warp::reply::json(&v).into_response()),
                )
            },
        );
    let request = warp::path!("api" / "tracks" / String / "stems")
        .and(warp::post())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client: ClientInfo, state: AppState| async move {
                let result = change(&state, &auth, &id, move |lib, track| {
                    lib.request_stems(track, &client)
                })
                .await
                .map(|((), view)| {
                    warp::reply::with_status(warp::reply::json(&view), StatusCode::ACCEPTED)
                        .into_response()
                });
                respond(result)
            },
        );
    let cancel = warp::path!("api" / "tracks" / String / "stems" / "cancel")
        .and(warp::post())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client: ClientInfo, state: AppState| async move {
                let result = change(&state, &auth, &id, move |lib, track| {
                    lib.cancel_stems(track, &client)
                })
                .await
                .and_then(|(cancelled, view)| {
                    if cancelled {
                        Ok(warp::reply::json(&view).into_response())
                    } else {
                        Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "nothing_to_cancel",
                            "this track has no separation queued, running or failed",
                        ))
                    }
                });
                respond(result)
            },
        );
    let archive = warp::path!("api" / "tracks" / String / "stems.tar")
        .and(warp::get())
        .and(owner_state(state))
        .and(client())
        .then(
            |id: String, auth: Authenticated, state: AppState, client| async move {
                respond(archive(id, auth, state, client).await)
            },
        );
    vec![
        archive.boxed(),
        cancel.boxed(),
        get.boxed(),
        request.boxed(),
    ]
}

/// The stems of a track as one tar archive, decrypted as it is sent.
async fn archive(
    id: String,
    auth: Authenticated,
    state: AppState,
    client: ClientInfo,
) -> Result<Response, ApiError> {
    let track = track_id(&id)?;
    let (vault, scope) = (state.vault.clone(), auth.scope.clone());
    let (parent, stems) = blocking(move || {
        let lib = vault.library(&scope);
        Ok((lib.get(track)?, lib.stems(track)?.stems))
    })
    .await
    .map_err(ApiError::not_found_as("track"))?;
    if stems.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_stems",
            "this track has no stems yet",
        ));
    }
    let folder = safe_name(&format!("{} stems", parent.info.name));
    let length: u64 = stems.iter().map(|s| entry_len(s.size_bytes)).sum::<u64>() + 2 * BLOCK;
    let body = archive_stream(state.vault.clone(), auth.scope, &folder, stems, client);
    let mut res = warp::reply::stream(body).into_response();
    set(&mut res, header::CONTENT_TYPE, "application/x-tar");
    set(&mut res, header::CONTENT_LENGTH, &length.to_string());
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &content_disposition("attachment", &format!("{folder}.tar")),
    );
    set(&mut res, header::CACHE_CONTROL, "no-store");
    Ok(res)
}

/// `Sync` too: the body warp sends must be.
type Pieces = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// The archive's bytes: each stem opened (and its read audited) when the archive reaches it,
/// and decrypted piece by piece as the socket asks, as [`stream_blob`] does. A client that
/// stops reading holds no thread: the archive was once written by a blocking thread that
/// waited on the socket, and enough stalled downloads starved the blocking pool every other
/// request needs.
fn archive_stream(
    vault: Vault,
    scope: OwnerScope,
    folder: &str,
    stems: Vec<TrackRecord>,
    client: ClientInfo,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mtime = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let folder = folder.to_owned();
    let entries = stream::iter(stems).flat_map(move |stem| -> Pieces {
        let name = stem.stem.as_ref().map_or("stem", |s| s.name.as_str());
        let header = Bytes::copy_from_slice(&tar_header(
            &format!("{folder}/{name}.wav"),
            stem.size_bytes,
            mtime,
        ));
        let (vault, scope, client, size) = (
            vault.clone(),
            scope.clone(),
            client.clone(),
            stem.size_bytes,
        );
        let opened = tokio::task::spawn_blocking(move || {
            vault
                .library(&scope)
                .open_audio(stem.id, "in the stems archive", &client)
        });
        Box::pin(stream::once(opened).flat_map(move |opened| -> Pieces {
            match opened {
                Ok(Ok((_, reader))) => Box::pin(
                    stream::iter([Ok(header.clone())])
                        .chain(stream_blob(reader, 0, size))
                        .chain(stream::iter([Ok(padding(size))])),
                ),
                failed => {
                    if let Ok(Err(e)) = failed {
                        tracing::error!(error = %e, "a stem could not be opened for the archive");
                    }
                    Box::pin(stream::iter([Err(std::io::Error::other(
                        "a stem could not be read",
                    ))]))
                }
            }
        }))
    });
    entries.chain(stream::iter([Ok(trailer())]))
}

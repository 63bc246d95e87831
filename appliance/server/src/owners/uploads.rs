//! Resumable uploads: the shape of tus 1.0 (create with a declared size, append at an offset,
//! ask for the offset after a dropped connection) in plain JSON and HTTP.
//!
//! ```text
//! POST   /api/uploads        {"filename","size","name"?,"version_of"?}  → 201 {"id","offset":0,"size"}
//! PATCH  /api/uploads/{id}   Upload-Offset: n, body bytes  → 204 (Upload-Offset: n') | 201 track
//! GET    /api/uploads/{id}                                 → 200 {"id","offset","size","track"?}
//! DELETE /api/uploads/{id}                                 → 204 | 409 upload_complete
//! ```
//!
//! Sessions live in memory; their bytes are already encrypted in the temp directory. A server
//! restart empties both, and the client starts over.
//!
//! An append runs to its end in a task of its own, whatever happens to the request: an HTTP/2
//! client that resets its stream (a browser aborting an upload, a network drop) makes hyper
//! drop the request's handler, and what arrived must still be kept for the resume. A finished
//! upload stays answerable for [`FINISHED_KEPT`], as in tus: a client that lost the final
//! answer asks again and learns the track instead of uploading the file twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use studiovault_vault::{Authenticated, ClientInfo, Placement, TrackId, UserId};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::auth;
use super::tracks::view;
use crate::web::incoming::{Incoming, Stopped, over_quota, too_large};
use crate::web::{ApiError, AppState, blocking, client, json_body, respond, with, with_state};

/// Unfinished uploads untouched for this long are dropped.
const IDLE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// How long a finished upload still answers with its track.
const FINISHED_KEPT: Duration = Duration::from_secs(3600);
const MAX_OPEN_PER_OWNER: usize = 16;
const OFFSET_HEADER: &str = "upload-offset";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUpload {
    filename: String,
    size: u64,
    #[serde(default)]
    name: Option<String>,
    /// The track this upload is the next version of.
    #[serde(default)]
    version_of: Option<String>,
}

#[derive(Debug, Serialize)]
struct UploadStatus {
    id: String,
    offset: u64,
    size: u64,
    /// The track, once the upload is finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    track: Option<serde_json::Value>,
}

#[derive(Debug)]
struct Session {
    owner: UserId,
    size: u64,
    filename: String,
    name: Option<String>,
    version_of: Option<TrackId>,
    /// `None` once finished or refused. The async lock serialises appends.
    incoming: tokio::sync::Mutex<Option<Incoming>>,
    /// Bytes held once the last append ended: what the status answers without waiting on an
    /// append in progress (one that took the lock would turn the client's next piece away).
    received: AtomicU64,
    /// The track the upload became (its `TrackView`).
    finished: std::sync::OnceLock<serde_json::Value>,
    /// [`OPEN`], then [`COMMITTING`] (for good) or [`CANCELLED`]: a cancel and the last
    /// append's commit cannot both win, so a cancelled upload never becomes a track.
    fate: AtomicU8,
    last_activity: Mutex<Instant>,
}

/// Taking bytes.
const OPEN: u8 = 0;
/// Complete: being stored as a track, or stored.
const COMMITTING: u8 = 1;
/// Cancelled by its owner: what arrives is discarded.
const CANCELLED: u8 = 2;

impl Session {
    /// Moves from [`OPEN`] to `fate`; answers the fate it had when that failed.
    fn settle(&self, fate: u8) -> Result<(), u8> {
        self.fate
            .compare_exchange(OPEN, fate, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
    }

    fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.last_activity.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the session is still worth keeping at `now`.
    fn kept_at(&self, now: Instant) -> bool {
        let limit = match self.finished.get() {
            Some(_) => FINISHED_KEPT,
            None => IDLE_LIMIT,
        };
        self.idle_for(now) < limit
    }
}

/// The open resumable uploads of every owner.
#[derive(Debug, Default)]
pub struct UploadSessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl UploadSessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session `id` if it belongs to `owner`; another owner's looks like none at all.
    fn get(&self, id: &str, owner: UserId) -> Result<Arc<Session>, ApiError> {
        self.map()
            .get(id)
            .filter(|s| s.owner == owner)
            .cloned()
            .ok_or_else(|| ApiError::not_found("upload"))
    }

    fn remove(&self, id: &str) {
        self.map().remove(id);
    }
}

fn status_response(id: &str, offset: u64, size: u64, code: StatusCode) -> Response {
    status_with_track(id, offset, size, None, code)
}

fn status_with_track(
    id: &str,
    offset: u64,
    size: u64,
    track: Option<serde_json::Value>,
    code: StatusCode,
) -> Response {
    let mut res = warp::reply::with_status(
        warp::reply::json(&UploadStatus {
            id: id.to_owned(),
            offset,
            size,
            track,
        }),
        code,
    )
    .into_response();
    res.headers_mut()
        .insert(OFFSET_HEADER, HeaderValue::from(offset));
    res
}

pub(super) fn routes(
    state: &AppState,
    sessions: &Arc<UploadSessions>,
) -> Vec<warp::filters::BoxedFilter<(Response,)>> {
    let create = warp::path!("api" / "uploads")
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<CreateUpload>())
        .and(with_state(state))
        .and(with(sessions.clone()))
        .then(|auth, req, state, sessions| async move {
            respond(create(auth, req, state, sessions).await)
        });
    let status = warp::path!("api" / "uploads" / String)
        .and(warp::get().or(warp::head()).unify())
        .and(auth(state))
        .and(with(sessions.clone()))
        .then(
            |id: String, auth: Authenticated, sessions: Arc<UploadSessions>| async move {
                let result = async {
                    let session = sessions.get(&id, auth.scope.owner())?;
                    let track = session.finished.get().cloned();
                    let offset = match track {
                        Some(_) => session.size,
                        None => session.received.load(Ordering::Acquire),
                    };
                    Ok(status_with_track(
                        &id,
                        offset,
                        session.size,
                        track,
                        StatusCode::OK,
                    ))
                };
                respond(result.await)
            },
        );
    let append = warp::path!("api" / "uploads" / String)
        .and(warp::patch())
        .and(auth(state))
        .and(warp::header::optional::<u64>(OFFSET_HEADER))
        .and(warp::body::stream())
        .and(client())
        .and(with_state(state))
        .and(with(sessions.clone()))
        .then(
            |id, auth, offset, body, client, state: AppState, sessions| async move {
                // Its own task: see the module's comment.
                let idle = Duration::from_secs(state.config.http.body_idle_timeout_secs);
                let appending = tokio::spawn(async move {
                    let mut body = pinned(body);
                    let result = append(id, auth, offset, &mut body, client, state, sessions).await;
                    drain_if_refused(&result, body, idle).await;
                    result
                });
                respond(
                    appending
                        .await
                        .unwrap_or_else(|_| Err(ApiError::internal())),
                )
            },
        );
    let abort = warp::path!("api" / "uploads" / String)
        .and(warp::delete())
        .and(auth(state))
        .and(with(sessions.clone()))
        .then(
            |id: String, auth: Authenticated, sessions: Arc<UploadSessions>| async move {
                let result = sessions.get(&id, auth.scope.owner()).and_then(|session| {
                    // An append still writing finds it cancelled and discards its bytes.
                    match session.settle(CANCELLED) {
                        Ok(()) | Err(CANCELLED) => {
                            sessions.remove(&id);
                            Ok(StatusCode::NO_CONTENT.into_response())
                        }
                        Err(_) => Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "upload_complete",
                            "this upload is complete and is stored as a track: delete the track \
                             instead",
                        )),
                    }
                });
                respond(result)
            },
        );
    vec![
        create.boxed(),
        status.boxed(),
        append.boxed(),
        abort.boxed(),
    ]
}

async fn create(
    auth: Authenticated,
    req: CreateUpload,
    state: AppState,
    sessions: Arc<UploadSessions>,
) -> Result<Response, ApiError> {
    let max = state.config.http.max_upload_bytes;
    if req.size > max {
        return Err(too_large(max));
    }
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let remaining = blocking(move || vault.library(&scope).remaining_quota()).await?;
    if req.size > remaining {
        return Err(over_quota(remaining));
    }
    let version_of = match req.version_of.as_deref() {
        None => None,
        Some(id) => Some(
            TrackId::parse(id)
                .ok_or_else(|| ApiError::bad_request("version_of must be a track id"))?,
        ),
    };
    let owner = auth.scope.owner();
    let incoming = Incoming::begin(&auth, &state).await?;
    let id = format!("{:032x}", rand::random::<u128>());
    let session = Session {
        owner,
        size: req.size,
        filename: req.filename,
        name: req.name,
        version_of,
        incoming: tokio::sync::Mutex::new(Some(incoming)),
        received: AtomicU64::new(0),
        finished: std::sync::OnceLock::new(),
        fate: AtomicU8::new(OPEN),
        last_activity: Mutex::new(Instant::now()),
    };
    {
        // Counted and inserted under one lock: parallel requests cannot all slip under the cap.
        // A refused session's temporary blob goes with it.
        let now = Instant::now();
        let mut map = sessions.map();
        map.retain(|_, s| s.kept_at(now));
        let open: Vec<_> = map
            .values()
            .filter(|s| s.owner == owner && s.finished.get().is_none())
            .collect();
        if open.len() >= MAX_OPEN_PER_OWNER {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_uploads",
                format!(
                    "at most {MAX_OPEN_PER_OWNER} uploads may be open at once; finish or cancel one"
                ),
            ));
        }
        // Each unfinished upload holds room for its declared size: together they must fit in
        // what the plan has left, or 16 of them could fill the disk's temp space past it.
        let reserved: u64 = open.iter().map(|s| s.size).sum();
        if reserved.saturating_add(req.size) > remaining {
            return Err(over_quota_with_open(remaining.saturating_sub(reserved)));
        }
        map.insert(id.clone(), Arc::new(session));
    }
    let mut res = status_response(&id, 0, req.size, StatusCode::CREATED);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/uploads/{id}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

fn over_quota_with_open(left: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
        format!(
            "the upload exceeds the storage left in your plan once your unfinished uploads are \
             counted ({left} bytes); finish or cancel one"
        ),
    )
}

/// Bytes of a refused request's body read and discarded before answering, so the client sees
/// the answer on a connection it can reuse; past this the connection is simply closed.
const DRAIN_LIMIT: u64 = 64 << 20;

/// The request body, pinned where both the append and the drain after it can read it.
fn pinned<S: Stream<Item = Result<B, warp::Error>>, B: Buf>(body: S) -> std::pin::Pin<Box<S>> {
    Box::pin(body)
}

/// Reads and discards (up to [`DRAIN_LIMIT`], while it keeps coming within `idle`) what is left
/// of a refused request's body.
async fn drain_if_refused(
    result: &Result<Response, ApiError>,
    mut body: std::pin::Pin<Box<impl Stream<Item = Result<impl Buf, warp::Error>>>>,
    idle: Duration,
) {
    if result
        .as_ref()
        .map_or(true, |r| r.status().is_client_error())
    {
        let mut drained = 0u64;
        while drained < DRAIN_LIMIT {
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(Ok(piece))) => drained += piece.remaining() as u64,
                _ => break,
            }
        }
    }
}

async fn append(
    id: String,
    auth: Authenticated,
    offset: Option<u64>,
    body: impl Stream<Item = Result<impl Buf, warp::Error>>,
    client: ClientInfo,
    state: AppState,
    sessions: Arc<UploadSessions>,
) -> Result<Response, ApiError> {
    let session = sessions.get(&id, auth.scope.owner())?;
    let offset = offset.ok_or_else(|| ApiError::bad_request("send the Upload-Offset header"))?;
    let mut guard = session.incoming.try_lock().map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "upload_busy",
            "another request is writing to this upload",
        )
    })?;
    if let Some(track) = session.finished.get() {
        // The final answer was lost: the same request gets it again.
        return Ok(if offset == session.size {
            finished_response(track.clone(), session.size)
        } else {
            offset_mismatch(session.size)
        });
    }
    let incoming = guard
        .as_mut()
        .ok_or_else(|| ApiError::not_found("upload"))?;
    if offset != incoming.len() {
        return Ok(offset_mismatch(incoming.len()));
    }
    session.touch();
    let size = session.size;
    let over = || ApiError::bad_request(format!("the upload declared {size} bytes; more arrived"));
    match incoming.append(body, size, over).await {
        Ok(()) | Err(Stopped::Interrupted) => {}
        Err(Stopped::Refused(e)) => {
            guard.take();
            sessions.remove(&id);
            return Err(e);
        }
    }
    session.touch();
    if session.fate.load(Ordering::Acquire) == CANCELLED {
        guard.take();
        return Err(ApiError::not_found("upload"));
    }
    let received = incoming.len();
    session.received.store(received, Ordering::Release);
    if received < size {
        return Ok(status_response(&id, received, size, StatusCode::NO_CONTENT));
    }
    if session.settle(COMMITTING).is_err() {
        guard.take();
        return Err(ApiError::not_found("upload"));
    }
    let incoming = guard.take().ok_or_else(ApiError::internal)?;
    let committed = incoming
        .commit(
            &session.filename,
            session.name.clone(),
            Placement {
                version_of: session.version_of,
                folder: None,
            },
            &auth,
            client,
            &state,
        )
        .await;
    let track = match committed
        .and_then(|rec| serde_json::to_value(view(&rec)).map_err(|_| ApiError::internal()))
    {
        Ok(track) => track,
        Err(e) => {
            sessions.remove(&id);
            return Err(e);
        }
    };
    session.touch();
    let track = session.finished.get_or_init(|| track).clone();
    Ok(finished_response(track, received))
}

/// `409` telling the client where to continue from.
fn offset_mismatch(held: u64) -> Response {
    let mut res = ApiError::new(
        StatusCode::CONFLICT,
        "offset_mismatch",
        format!("the upload holds {held} bytes; continue from there"),
    )
    .into_response();
    res.headers_mut()
        .insert(OFFSET_HEADER, HeaderValue::from(held));
    res
}

/// `201` with the track a finished upload became.
fn finished_response(track: serde_json::Value, received: u64) -> Response {
    let location = track["id"]
        .as_str()
        .and_then(|t| HeaderValue::from_str(&format!("/api/tracks/{t}")).ok());
    let mut res =
        warp::reply::with_status(warp::reply::json(&track), StatusCode::CREATED).into_response();
    if let Some(v) = location {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(OFFSET_HEADER, HeaderValue::from(received));
    res
}

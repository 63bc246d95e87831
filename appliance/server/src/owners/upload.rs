//! `POST /api/tracks`: an upload in one multipart request (see [`super::incoming`]); the
//! resumable protocol is in [`super::uploads`].

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use studiovault_vault::{Authenticated, ClientInfo, Placement, TrackId};
use warp::http::{StatusCode, header};
use warp::multipart::FormData;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::auth;
use super::tracks::view;
use crate::web::incoming::{Incoming, Stopped, cut_off, over_quota, too_large};
use crate::web::{ApiError, AppState, blocking, client, respond, with_state};

/// Allowance for multipart boundaries and part headers when judging `Content-Length`.
const MULTIPART_SLACK: u64 = 64 * 1024;
const MAX_NAME_FIELD: usize = 1024;

fn multipart_only() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|ct: Option<String>| async move {
            if ct
                .as_deref()
                .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"))
            {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "upload with Content-Type multipart/form-data and the audio in field `file`",
                )))
            }
        })
        .untuple_one()
}

pub(super) fn route(
    state: &AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    warp::path!("api" / "tracks")
        .and(warp::post())
        .and(auth(state))
        .and(warp::header::optional::<u64>("content-length"))
        .and(multipart_only())
        .and(warp::multipart::form().max_length(None))
        .and(client())
        .and(with_state(state))
        .then(|auth, len, form, client, state| async move {
            respond(upload(auth, len, form, client, state).await)
        })
}

async fn upload(
    auth: Authenticated,
    content_length: Option<u64>,
    mut form: FormData,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let max = state.config.http.max_upload_bytes;
    if content_length.is_some_and(|l| l > max.saturating_add(MULTIPART_SLACK)) {
        return Err(too_large(max));
    }
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let remaining = blocking(move || vault.library(&scope).remaining_quota()).await?;
    if content_length.is_some_and(|l| l > remaining.saturating_add(MULTIPART_SLACK)) {
        return Err(over_quota(remaining));
    }
    let limit = max.min(remaining);
    let over_limit = move || {
        if limit == max {
            too_large(max)
        } else {
            over_quota(remaining)
        }
    };

    let mut name: Option<String> = None;
    let mut version_of: Option<String> = None;
    let mut received: Option<(Incoming, String)> = None;
    while let Some(part) = form.next().await {
        let part = part.map_err(|_| cut_off())?;
        match part.name() {
            "file" if received.is_some() => {
                return Err(ApiError::bad_request("send one file per request"));
            }
            "file" => {
                let filename = part.filename().unwrap_or_default().to_owned();
                let mut incoming = Incoming::begin(&auth, &state).await?;
                incoming
                    .append(part.stream(), limit, over_limit)
                    .await
                    .map_err(|stopped| match stopped {
                        Stopped::Interrupted => cut_off(),
                        Stopped::Refused(e) => e,
                    })?;
                received = Some((incoming, filename));
            }
            "name" => name = Some(read_small_field(part.stream()).await?),
            "version_of" => version_of = Some(read_small_field(part.stream()).await?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown multipart field `{}`",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let (incoming, filename) =
        received.ok_or_else(|| ApiError::bad_request("multipart field `file` is required"))?;
    let placement =
        Placement {
            version_of: match version_of.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(id) => Some(TrackId::parse(id).ok_or_else(|| {
                    ApiError::bad_request("field `version_of` must be a track id")
                })?),
            },
            folder: None,
        };
    let rec = incoming
        .commit(&filename, name, placement, &auth, client, &state)
        .await?;
    let mut res = warp::reply::with_status(warp::reply::json(&view(&rec)), StatusCode::CREATED)
        .into_response();
    if let Ok(v) = format!("/api/tracks/{}", rec.id).parse() {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

async fn read_small_field(
    stream: impl Stream<Item = Result<impl Buf, warp::Error>>,
) -> Result<String, ApiError> {
    let mut stream = std::pin::pin!(stream);
    let mut bytes = Vec::new();
    while let Some(piece) = stream.next().await {
        let mut piece = piece.map_err(|_| cut_off())?;
        bytes.extend_from_slice(&piece.copy_to_bytes(piece.remaining()));
        if bytes.len() > MAX_NAME_FIELD {
            return Err(ApiError::bad_request(format!(
                "fields `name` and `version_of` are limited to {MAX_NAME_FIELD} bytes"
            )));
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("fields `name` and `version_of` must be UTF-8 text"))
}

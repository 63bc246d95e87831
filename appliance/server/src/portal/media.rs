//! What the player fetches: a track's waveform peaks under the link, and the audio itself
//! through a signed media URL (`/m/…`), in byte ranges for playing or whole for a download.

use serde::Deserialize;
use studiovault_vault::shares::canonical_decimal;
use studiovault_vault::{ClientInfo, MediaKind, MediaUrl, RecipientId, TrackId};
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{grant_for, link_gone, unlock_cookie};
use crate::web::{
    ApiError, AppState, ByteRange, PeaksQuery, blocking, client, content_disposition,
    peaks_response, resolve, respond, set, stream_blob, with_state,
};

/// The most one answer to a play URL holds; players ask again for what follows.
const PLAY_RANGE_MAX: u64 = 2 << 20;

#[derive(Debug, Deserialize)]
struct MediaQuery {
    /// Read as written, so that only the canonical decimal is accepted.
    e: String,
    n: String,
    s: String,
}

/// `GET /s/{link}/peaks/{track}`: the waveform of a track of the share.
pub(super) fn peaks(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String / "peaks" / String)
        .and(warp::get())
        .and(unlock_cookie(state))
        .and(warp::query::<PeaksQuery>())
        .and(with_state(state))
        .then(
            |token: String, track: String, unlock, q: PeaksQuery, state: AppState| async move {
                let result = async {
                    let grant = grant_for(&state, token, unlock)
                        .await?
                        .ok_or_else(link_gone)?;
                    let track =
                        TrackId::parse(&track).ok_or_else(|| ApiError::not_found("track"))?;
                    let vault = state.vault.clone();
                    let bytes = blocking(move || grant.peaks(&vault, track))
                        .await
                        .map_err(|_| ApiError::not_found("waveform"))?;
                    peaks_response(&bytes, &q)
                };
                respond(result.await)
            },
        )
        .boxed()
}

/// `GET /m/{recipient}/{track}/{kind}?e=…&n=…&s=…`: the audio a signed media URL grants.
pub(super) fn route(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("m" / String / String / String)
        .and(warp::method())
        .and(warp::query::<MediaQuery>())
        .and(warp::header::optional::<String>("range"))
        .and(warp::header::optional::<String>("if-range"))
        .and(client())
        .and(with_state(state))
        .then(
            |recipient: String,
             track: String,
             kind: String,
             method: Method,
             q: MediaQuery,
             range: Option<String>,
             if_range: Option<String>,
             client,
             state: AppState| async move {
                respond(
                    media(
                        (recipient, track, kind),
                        method.as_str().to_owned(),
                        q,
                        (range, if_range),
                        client,
                        state,
                    )
                    .await,
                )
            },
        )
        .boxed()
}

/// A media URL with its query missing or mangled is as invalid as a bad signature.
pub(super) fn malformed() -> BoxedFilter<(Response,)> {
    warp::path!("m" / String / String / String)
        .map(|_, _, _| media_refused().into_response())
        .boxed()
}

fn media_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this media link is invalid, spent or expired",
    )
}

async fn media(
    (recipient, track, kind): (String, String, String),
    method: String,
    q: MediaQuery,
    (range, if_range): (Option<String>, Option<String>),
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let (Some(recipient), Some(track), Some(kind), Some(expires)) = (
        RecipientId::parse(&recipient),
        TrackId::parse(&track),
        MediaKind::parse(&kind),
        canonical_decimal(&q.e),
    ) else {
        return Err(media_refused());
    };
    let url = MediaUrl {
        recipient,
        track,
        kind,
        expires,
        nonce: q.n,
        signature: q.s,
    };
    let vault = state.vault.clone();
    let (_, source) = blocking(move || vault.open_media(&url, &method, &client)).await?;
    let len = source.len;
    let (start, count, detail) = match kind {
        // A download is one whole-file answer: its URL is spent by this request.
        MediaKind::Download => (0, len, String::new()),
        // Playing is not downloading: a play URL answers only the byte ranges a player asks
        // for, at most `PLAY_RANGE_MAX` at a time, never the whole file in one answer.
        MediaKind::Play => {
            let Some(range) = range else {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_required",
                    "a play link serves byte ranges to the player; downloads have their own link",
                ));
            };
            let (start, end) = match resolve(Some(&range), if_range.as_deref(), &source.etag, len) {
                ByteRange::Unsatisfiable => {
                    let mut res = ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "range_not_satisfiable",
                        format!("the file has {len} bytes"),
                    )
                    .into_response();
                    set(&mut res, header::CONTENT_RANGE, &format!("bytes */{len}"));
                    return Ok(res);
                }
                ByteRange::Full => (0, len.saturating_sub(1)),
                ByteRange::Partial { start, end } => (start, end),
            };
            let end = end.min(start + PLAY_RANGE_MAX - 1);
            (start, end - start + 1, format!("bytes {start}-{end}/{len}"))
        }
    };
    let mut res = warp::reply::stream(stream_blob(source.reader, start, count)).into_response();
    if !detail.is_empty() {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(&mut res, header::CONTENT_RANGE, &detail);
    }
    set(&mut res, header::CONTENT_LENGTH, &count.to_string());
    set(&mut res, header::CONTENT_TYPE, &source.mime_type);
    set(&mut res, header::ETAG, &source.etag);
    let disposition = match kind {
        MediaKind::Play => {
            set(&mut res, header::ACCEPT_RANGES, "bytes");
            "inline"
        }
        MediaKind::Download => "attachment",
    };
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &content_disposition(disposition, &source.filename),
    );
    Ok(res)
}

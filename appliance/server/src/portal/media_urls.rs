//! `POST /s/{link}/{play|download}/{track}`: a short-lived signed media URL, bound to this
//! recipient, for a track of the share. `?resume` asks a fresh play URL for the play in
//! progress (its URL expired during a long pause), which counts no new play. Play and download
//! URLs are rate-limited per recipient (`crate::rate`): `429 too_many_plays` or
//! `too_many_downloads` with `Retry-After`.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use studiovault_vault::{ClientInfo, MediaKind, MediaUrl, RecipientId, TrackId, VaultError};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{grant_for, link_gone, unlock_cookie};
use crate::web::{ApiError, AppState, NoSuch, blocking, client, respond, with_state};

pub(super) fn route(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String / String / String)
        .and(warp::post())
        // Another kind is refused as a rejection, not an answer: a comment or listening body
        // refused by its own route (400, 413, 408) keeps that answer instead of this route's
        // "no such action".
        .and_then(|token, kind: String, track| async move {
            MediaKind::parse(&kind)
                .map(|kind| (token, kind, track))
                .ok_or_else(|| warp::reject::custom(NoSuch("action")))
        })
        .untuple_one()
        .and(warp::query::<UrlQuery>())
        .and(unlock_cookie(state))
        .and(client())
        .and(with_state(state))
        .then(
            |token: String,
             kind: MediaKind,
             track: String,
             query: UrlQuery,
             unlock,
             client,
             state: AppState| async move {
                respond(media_url(token, kind, query, track, unlock, client, state).await)
            },
        )
        .boxed()
}

/// What a recipient asks for at a rate (`crate::rate`), each kind counted apart.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rated {
    Plays,
    Downloads,
    Comments,
}

impl Rated {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Rated::Plays => ("plays", "too_many_plays"),
            Rated::Downloads => ("downloads", "too_many_downloads"),
            Rated::Comments => ("comments", "too_many_comments"),
        }
    }

    /// Takes one of `recipient`'s; past the rate, `429 too_many_…` with `Retry-After`.
    pub(super) fn take(self, state: &AppState, recipient: RecipientId) -> Result<(), ApiError> {
        let (what, code) = self.words();
        state
            .recipient_requests
            .take(&format!("{what}/{recipient}"), Instant::now())
            .map_err(|wait| ApiError {
                retry_after: Some(wait),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    code,
                    format!("too many {what} at once; try again in {wait} seconds"),
                )
            })
    }
}

#[derive(Debug, Deserialize)]
struct UrlQuery {
    #[serde(default)]
    resume: Option<String>,
}

#[derive(Debug, Serialize)]
struct SignedUrl {
    url: String,
    expires_at: i64,
}

async fn media_url(
    token: String,
    kind: MediaKind,
    query: UrlQuery,
    track: String,
    unlock: Option<String>,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let track = TrackId::parse(&track).ok_or_else(|| ApiError::not_found("track"))?;
    let grant = grant_for(&state, token, unlock)
        .await?
        .ok_or_else(link_gone)?;
    let vault = state.vault.clone();
    let g = grant.clone();
    let view = blocking(move || g.view(&vault)).await?;
    if !view.every_version().any(|t| t.id == track) {
        return Err(ApiError::not_found("track"));
    }
    if kind == MediaKind::Download && !view.share.allow_download {
        return Err(VaultError::Forbidden("this share is stream-only").into());
    }
    if view.share.watermark && !view.rendered.contains(&track) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copy_not_ready",
            "your copy of this track is still being prepared",
        ));
    }
    match kind {
        MediaKind::Play => Rated::Plays,
        MediaKind::Download => Rated::Downloads,
    }
    .take(&state, grant.recipient())?;
    let vault = state.vault.clone();
    let url: MediaUrl = blocking(move || match (kind, query.resume.is_some()) {
        (MediaKind::Play, true) => grant.resumed_play_url(&vault, track, &client),
        _ => grant.media_url(&vault, track, kind, &client),
    })
    .await?;
    Ok(warp::reply::json(&SignedUrl {
        url: url.path_and_query(),
        expires_at: url.expires * 1000,
    })
    .into_response())
}

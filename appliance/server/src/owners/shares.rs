//! The owner's shares (`/api/shares`).

use studiovault_api::public::{CreateShare, ShareView, UpdateShare};
use studiovault_vault::{
    Authenticated, ClientInfo, NewRecipient, NewShare, RecipientId, ShareDetail, ShareId,
    ShareRecord, Shares, TrackId, VaultError,
};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{auth, owner_call, owner_state};
use crate::leak_report::recipient_view;
use crate::web::{ApiError, AppState, blocking, client, json_body, respond, with_state};

fn share_id(raw: &str) -> Result<ShareId, ApiError> {
    ShareId::parse(raw).ok_or_else(|| ApiError::not_found("share"))
}

fn status(share: &ShareRecord, now_ms: i64) -> &'static str {
    if share.revoked_at_ms.is_some() {
        "revoked"
    } else if share.expires_at_ms <= now_ms {
        "expired"
    } else {
        "active"
    }
}

fn share_view(detail: &ShareDetail, now_ms: i64) -> ShareView {
    let s = &detail.share;
    ShareView {
        id: s.id.to_string(),
        title: s.title.clone(),
        tracks: s.tracks.iter().map(ToString::to_string).collect(),
        created_at: s.created_at_ms,
        expires_at: s.expires_at_ms,
        status: status(s, now_ms).into(),
        password: s.has_password(),
        allow_download: s.allow_download,
        play_limit: s.play_limit,
        download_limit: s.download_limit,
        watermark: s.watermark,
        follow_latest: s.follow_latest,
        revoked_at: s.revoked_at_ms,
        recipients: detail
            .recipients
            .iter()
            .map(|(r, token)| recipient_view(r, token))
            .collect(),
    }
}

fn to_new_share(req: CreateShare) -> Result<NewShare, ApiError> {
    let tracks = req
        .tracks
        .iter()
        .map(|t| {
            TrackId::parse(t).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_input",
                    format!("tracks: `{t}` is not a track id"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewShare {
        title: req.title.unwrap_or_default(),
        tracks,
        recipients: req
            .recipients
            .into_iter()
            .map(|r| NewRecipient {
                name: r.name,
                email: r.email,
            })
            .collect(),
        expires_at_ms: req.expires_at,
        password: req.password,
        allow_download: req.allow_download,
        play_limit: req.play_limit,
        download_limit: req.download_limit,
        follow_latest: req.follow_latest.unwrap_or(true),
    })
}

/// Runs `change` on the owner's share `id` off the reactor and answers the share as it is
/// after; an unknown id (or another owner's) is `404 share`.
async fn on_share(
    state: &AppState,
    auth: Authenticated,
    id: &str,
    change: impl FnOnce(&Shares<'_>, ShareId) -> Result<ShareDetail, VaultError> + Send + 'static,
) -> Response {
    let result = async {
        let id = share_id(id)?;
        let vault = state.vault.clone();
        let detail = blocking(move || change(&vault.shares(&auth.scope), id))
            .await
            .map_err(ApiError::not_found_as("share"))?;
        Ok(warp::reply::json(&share_view(&detail, state.vault.now_ms())).into_response())
    };
    respond(result.await)
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let create = warp::path!("api" / "shares")
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<CreateShare>())
        .and(client())
        .and(with_state(state))
        .then(
            |auth: Authenticated, req: CreateShare, client: ClientInfo, state: AppState| async move {
                let result = async {
                    let new = to_new_share(req)?;
                    let vault = state.vault.clone();
                    let detail =
                        blocking(move || vault.shares(&auth.scope).create(new, &client)).await?;
                    let view = share_view(&detail, state.vault.now_ms());
                    Ok(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED)
                        .into_response())
                };
                respond(result.await)
            },
        );
    let list = warp::path!("api" / "shares")
        .and(warp::get())
        .and(owner_state(state))
        .then(|auth: Authenticated, state: AppState| async move {
            let result = async {
                let vault = state.vault.clone();
                let details = blocking(move || {
                    let shares = vault.shares(&auth.scope);
                    shares
                        .list()?
                        .into_iter()
                        .map(|s| shares.get(s.id))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
                let now = state.vault.now_ms();
                let views: Vec<ShareView> = details.iter().map(|d| share_view(d, now)).collect();
                Ok(warp::reply::json(&views).into_response())
            };
            respond(result.await)
        });
    let get = warp::path!("api" / "shares" / String)
        .and(warp::get())
        .and(owner_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                on_share(&state, auth, &id, |shares, id| shares.get(id)).await
            },
        );
    let update = warp::path!("api" / "shares" / String)
        .and(warp::patch())
        .and(auth(state))
        .and(json_body::<UpdateShare>())
        .and(client())
        .and(with_state(state))
        .then(
            |id: String, auth: Authenticated, req: UpdateShare, client, state: AppState| async move {
                on_share(&state, auth, &id, move |shares, id| {
                    shares.set_expiry(id, req.expires_at, &client)
                })
                .await
            },
        );
    let revoke = warp::path!("api" / "shares" / String)
        .and(warp::delete())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client, state: AppState| async move {
                on_share(&state, auth, &id, move |shares, id| {
                    shares.revoke(id, &client)
                })
                .await
            },
        );
    let revoke_recipient = warp::path!("api" / "shares" / String / "recipients" / String)
        .and(warp::delete())
        .and(owner_call(state))
        .then(
            |id: String, recipient: String, auth: Authenticated, client, state: AppState| async move {
                let result = async {
                    let id = share_id(&id)?;
                    let recipient = RecipientId::parse(&recipient)
                        .ok_or_else(|| ApiError::not_found("recipient"))?;
                    let vault = state.vault.clone();
                    let detail = blocking(move || {
                        vault
                            .shares(&auth.scope)
                            .revoke_recipient(id, recipient, &client)
                    })
                    .await
                    .map_err(ApiError::not_found_as("share"))?;
                    Ok(warp::reply::json(&share_view(&detail, state.vault.now_ms()))
                        .into_response())
                };
                respond(result.await)
            },
        );
    vec![
        create.boxed(),
        list.boxed(),
        get.boxed(),
        update.boxed(),
        revoke.boxed(),
        revoke_recipient.boxed(),
    ]
}

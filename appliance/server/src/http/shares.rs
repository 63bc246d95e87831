//! The owner's shares (`/api/shares`) and leak tracing (`/api/leaks/trace`).

use studiovault_api::public::{
    CreateShare, RecipientEventView, RecipientView, ShareView, Suspect, TraceView, TracedCopy,
    TracedShare, UpdateShare,
};
use studiovault_vault::{
    Authenticated, ClientInfo, NewRecipient, NewShare, RecipientId, RecipientRecord, ShareDetail,
    ShareId, ShareRecord, TraceOutcome, TraceQuery, TraceReport, TrackId, Vault,
};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiError, AppState, auth, blocking, client, json_body, respond, with_state};
use crate::suspect::SuspectError;

/// A suspect file for a trace: a 30-second excerpt is enough; whole songs fit.
const TRACE_BODY_LIMIT: u64 = 512 << 20;

fn share_id(raw: &str) -> Result<ShareId, ApiError> {
    ShareId::parse(raw).ok_or_else(|| ApiError::not_found("share"))
}

fn share_not_found(e: ApiError) -> ApiError {
    if e.status == StatusCode::NOT_FOUND {
        ApiError::not_found("share")
    } else {
        e
    }
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

pub(crate) fn recipient_view(rec: &RecipientRecord, link_token: &str) -> RecipientView {
    RecipientView {
        id: rec.id.to_string(),
        name: rec.name.clone(),
        email: rec.email.clone(),
        link: format!("/s/{link_token}"),
        revoked_at: rec.revoked_at_ms,
        plays: rec.plays,
        downloads: rec.downloads,
        events: rec
            .events
            .iter()
            .map(|e| RecipientEventView {
                at: e.at_ms,
                kind: serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                track: e.track.map(|t| t.to_string()),
            })
            .collect(),
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
        revoked_at: s.revoked_at_ms,
        recipients: detail
            .recipients
            .iter()
            .map(|(r, token)| recipient_view(r, token))
            .collect(),
    }
}

fn traced_share(share: &ShareRecord) -> TracedShare {
    TracedShare {
        id: share.id.to_string(),
        title: share.title.clone(),
        created_at: share.created_at_ms,
    }
}

/// The answer to a trace; `owner_email` only for the admin.
pub(crate) fn trace_view(
    vault: &Vault,
    payload: Option<u64>,
    outcome: &TraceOutcome,
    threshold: Option<f64>,
    for_admin: bool,
) -> TraceView {
    let link = |r: &TraceReport| recipient_view(&r.recipient, &vault.link_token(r.recipient.id));
    let decoded = outcome.decoded.as_ref();
    TraceView {
        found: decoded.is_some() || !outcome.suspects.is_empty(),
        payload: payload.map(|p| format!("{p:016x}")),
        owner_email: decoded
            .or(outcome.suspects.first().map(|(r, _)| r))
            .filter(|_| for_admin)
            .map(|r| r.owner_email.clone()),
        share: decoded.map(|r| traced_share(&r.share)),
        recipient: decoded.map(link),
        copies: decoded
            .map(|r| {
                r.copies
                    .iter()
                    .map(|(track, name, at)| TracedCopy {
                        track: track.to_string(),
                        name: name.clone(),
                        issued_at: *at,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        suspects: outcome
            .suspects
            .iter()
            .map(|(r, score)| Suspect {
                share: traced_share(&r.share),
                recipient: link(r),
                score: *score,
            })
            .collect(),
        threshold,
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
    })
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
        .and(auth(state))
        .and(with_state(state))
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
        .and(auth(state))
        .and(with_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                let result = async {
                    let id = share_id(&id)?;
                    let vault = state.vault.clone();
                    let detail = blocking(move || vault.shares(&auth.scope).get(id))
                        .await
                        .map_err(share_not_found)?;
                    Ok(
                        warp::reply::json(&share_view(&detail, state.vault.now_ms()))
                            .into_response(),
                    )
                };
                respond(result.await)
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
                let result = async {
                    let id = share_id(&id)?;
                    let vault = state.vault.clone();
                    let detail = blocking(move || {
                        vault.shares(&auth.scope).set_expiry(id, req.expires_at, &client)
                    })
                    .await
                    .map_err(share_not_found)?;
                    Ok(warp::reply::json(&share_view(&detail, state.vault.now_ms()))
                        .into_response())
                };
                respond(result.await)
            },
        );
    let revoke = warp::path!("api" / "shares" / String)
        .and(warp::delete())
        .and(auth(state))
        .and(client())
        .and(with_state(state))
        .then(
            |id: String, auth: Authenticated, client, state: AppState| async move {
                let result = async {
                    let id = share_id(&id)?;
                    let vault = state.vault.clone();
                    let detail = blocking(move || vault.shares(&auth.scope).revoke(id, &client))
                        .await
                        .map_err(share_not_found)?;
                    Ok(
                        warp::reply::json(&share_view(&detail, state.vault.now_ms()))
                            .into_response(),
                    )
                };
                respond(result.await)
            },
        );
    let revoke_recipient = warp::path!("api" / "shares" / String / "recipients" / String)
        .and(warp::delete())
        .and(auth(state))
        .and(client())
        .and(with_state(state))
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
                    .map_err(share_not_found)?;
                    Ok(warp::reply::json(&share_view(&detail, state.vault.now_ms()))
                        .into_response())
                };
                respond(result.await)
            },
        );
    let trace = warp::path!("api" / "leaks" / "trace")
        .and(warp::post())
        .and(auth(state))
        .and(warp::body::content_length_limit(TRACE_BODY_LIMIT))
        .and(warp::header::<u64>("content-length"))
        .and(warp::body::stream())
        .and(client())
        .and(with_state(state))
        .then(
            |auth: Authenticated, length: u64, body, client: ClientInfo, state: AppState| async move {
                respond(trace(auth, length, body, client, state).await)
            },
        );
    vec![
        create.boxed(),
        list.boxed(),
        get.boxed(),
        update.boxed(),
        revoke.boxed(),
        revoke_recipient.boxed(),
        trace.boxed(),
    ]
}

/// Reads the watermark of an uploaded suspect file and names the recipient, among this
/// owner's shares only: the one whose payload decodes, and any others whose copies the file
/// also carries (scored against each of the owner's watermarked recipients).
async fn trace<S, B>(
    auth: Authenticated,
    length: u64,
    body: S,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    if length == 0 {
        return Err(ApiError::bad_request(
            "send the suspect audio file as the request body",
        ));
    }
    let analysis = crate::suspect::read(body, &state.watermark_key, state.config.job_limits())
        .await
        .map_err(|e| match e {
            SuspectError::Busy => ApiError {
                retry_after: Some(60),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string())
            },
            SuspectError::Unreadable(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreadable_audio",
                e.to_string(),
            ),
            SuspectError::BodyBroken => ApiError::bad_request(e.to_string()),
            SuspectError::Job(reason) => {
                tracing::error!(error = %reason, "a leak trace could not run");
                ApiError::internal()
            }
        })?;
    let payload = analysis.payload;
    let vault = state.vault.clone();
    let key = state.watermark_key.clone();
    let view = blocking(move || {
        let shares = vault.shares(&auth.scope);
        let (suspects, threshold) = match &analysis.soft_bits {
            Some(soft) => {
                let (named, t) =
                    studiovault_marking::suspects(soft, &key, &shares.watermark_candidates()?);
                (named, Some(t))
            }
            None => (Vec::new(), None),
        };
        let outcome = shares.trace(&TraceQuery { payload, suspects }, &client)?;
        Ok(trace_view(&vault, payload, &outcome, threshold, false))
    })
    .await?;
    Ok(warp::reply::json(&view).into_response())
}

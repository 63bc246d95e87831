//! Legal requests (`/v1/legal`): intake, the list and one request with its timeline, the
//! hold and its release, the gag, the notice, the answer, the hand-over (a tar archive with a
//! hash manifest, `export.rs`) and the yearly transparency report. A request is named by its
//! id or an unambiguous prefix of it.

mod export;

use serde::Deserialize;
use studiovault_api::admin::{
    LegalAccountView, LegalDecision, LegalEventView, LegalGag, LegalGagView, LegalHoldView,
    LegalReason, LegalRequestView, NewLegalRequest,
};
use studiovault_vault::{Delivery, LegalRequestId, LegalRequestRecord, UserId, Vault, VaultError};
use warp::http::StatusCode;
use warp::{Filter, Reply};

use super::{body, json};
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};

/// The shortest id prefix that names a request.
const MIN_PREFIX: usize = 6;

/// A request as the admin sees it: accounts with their e-mail (while they exist) and notice.
pub(crate) fn view(
    vault: &Vault,
    request: &LegalRequestRecord,
) -> Result<LegalRequestView, VaultError> {
    let admin = vault.admin();
    let mail = vault.messages_about(&request.object())?;
    let delivery = |account: UserId| {
        mail.iter()
            .find(|m| m.account == Some(account))
            .map(|m| match &m.state {
                Delivery::Queued => "queued".to_owned(),
                Delivery::Sending => "sending".to_owned(),
                Delivery::Sent { .. } => "sent".to_owned(),
                Delivery::Failed { reason } => format!("failed: {reason}"),
            })
    };
    Ok(LegalRequestView {
        id: request.id.to_string(),
        kind: request.kind,
        authority: request.authority.clone(),
        legal_basis: request.legal_basis.clone(),
        reference: request.reference.clone(),
        received_at: request.received_at_ms,
        deadline: request.deadline_ms,
        accounts: request
            .accounts
            .iter()
            .map(|id| LegalAccountView {
                id: id.to_string(),
                email: admin.find(&id.to_string()).ok().map(|u| u.email),
                notified_at: request.notified_at(*id),
                delivery: delivery(*id),
            })
            .collect(),
        data_types: request.data_types.clone(),
        state: request.state,
        reason: request.reason.clone(),
        decided_at: request.decided_at_ms,
        hold: request.hold.as_ref().map(|h| LegalHoldView {
            placed_at: h.placed_at_ms,
            released_at: h.released_at_ms,
            release_reason: h.release_reason.clone(),
        }),
        gag: request.gag.as_ref().map(|g| LegalGagView {
            until: g.until_ms,
            recorded_at: g.recorded_at_ms,
            note: g.note.clone(),
        }),
        exports: request.exports,
        timeline: request
            .timeline
            .iter()
            .map(|s| LegalEventView {
                at: s.at_ms,
                what: s.what.clone(),
            })
            .collect(),
    })
}

/// The request `who` names: its id, or a prefix of it no other request's id shares.
pub(crate) fn find(vault: &Vault, who: &str) -> Result<LegalRequestId, ApiError> {
    let who = who.trim().to_ascii_lowercase();
    if let Some(id) = LegalRequestId::parse(&who) {
        return Ok(id);
    }
    if who.len() < MIN_PREFIX || !who.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "name a legal request by its id or the first {MIN_PREFIX} or more of its hex digits"
        )));
    }
    let all = vault.legal_requests().map_err(ApiError::from)?;
    let mut matching = all.iter().filter(|r| r.id.to_string().starts_with(&who));
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one.id),
        (None, _) => Err(ApiError::not_found("legal request")),
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "`{who}` starts more than one legal request's id: give more of it"
        ))),
    }
}

/// Runs `change` on the request `who` names, on the blocking pool; answers the request's view.
async fn act(
    state: &AppState,
    who: String,
    change: impl FnOnce(&Vault, LegalRequestId) -> Result<LegalRequestRecord, VaultError>
    + Send
    + 'static,
) -> Result<warp::reply::Response, ApiError> {
    let vault = state.vault.clone();
    let view = tokio::task::spawn_blocking(move || {
        let id = find(&vault, &who)?;
        let request = change(&vault, id).map_err(ApiError::from)?;
        view(&vault, &request).map_err(ApiError::from)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(ApiError::not_found_as("legal request"))?;
    Ok(json(&view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    year: i32,
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let list =
        warp::path!("v1" / "legal")
            .and(warp::get())
            .and(s())
            .then(|state: AppState| async move {
                let vault = state.vault.clone();
                respond(
                    blocking(move || {
                        vault
                            .legal_requests()?
                            .iter()
                            .map(|r| view(&vault, r))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .await
                    .map(|v| json(&v)),
                )
            });
    let create = warp::path!("v1" / "legal")
        .and(warp::post())
        .and(body::<NewLegalRequest>())
        .and(s())
        .then(|new: NewLegalRequest, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let request = vault.record_legal_request(&new)?;
                view(&vault, &request)
            })
            .await
            .map(|v| warp::reply::with_status(json(&v), StatusCode::CREATED).into_response());
            respond(result)
        });
    let report = warp::path!("v1" / "legal" / "report")
        .and(warp::get())
        .and(warp::query::<ReportQuery>())
        .and(s())
        .then(|q: ReportQuery, state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || vault.legal_report(q.year))
                    .await
                    .map(|r| json(&r)),
            )
        });
    let show = warp::path!("v1" / "legal" / String)
        .and(warp::get())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(act(&state, who, |vault, id| vault.legal_request(id)).await)
        });
    let hold = warp::path!("v1" / "legal" / String / "hold")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(act(&state, who, |vault, id| vault.place_legal_hold(id)).await)
        });
    let release = warp::path!("v1" / "legal" / String / "release")
        .and(warp::post())
        .and(body::<LegalReason>())
        .and(s())
        .then(
            |who: String, req: LegalReason, state: AppState| async move {
                respond(
                    act(&state, who, move |vault, id| {
                        vault.release_legal_hold(id, &req.reason)
                    })
                    .await,
                )
            },
        );
    let gag = warp::path!("v1" / "legal" / String / "gag")
        .and(warp::post())
        .and(body::<LegalGag>())
        .and(s())
        .then(|who: String, req: LegalGag, state: AppState| async move {
            respond(
                act(&state, who, move |vault, id| {
                    vault.record_gag(id, req.until, req.note.as_deref())
                })
                .await,
            )
        });
    let notify = warp::path!("v1" / "legal" / String / "notify")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(act(&state, who, |vault, id| vault.notify_legal(id)).await)
        });
    let decide = warp::path!("v1" / "legal" / String / "decision")
        .and(warp::post())
        .and(body::<LegalDecision>())
        .and(s())
        .then(
            |who: String, req: LegalDecision, state: AppState| async move {
                respond(
                    act(&state, who, move |vault, id| {
                        vault.decide_legal(id, req.outcome, &req.reason)
                    })
                    .await,
                )
            },
        );
    let export = warp::path!("v1" / "legal" / String / "export")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(export::hand_over(&state, who).await)
        });
    vec![
        list.boxed(),
        create.boxed(),
        report.boxed(),
        show.boxed(),
        hold.boxed(),
        release.boxed(),
        gag.boxed(),
        notify.boxed(),
        decide.boxed(),
        export.boxed(),
    ]
}

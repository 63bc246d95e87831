//! Breach notices in the web app: `GET /api/notices` lists the signed-in owner's notices not
//! yet dismissed (the same text as the mail), and `POST /api/notices/{id}/dismiss` hides one
//! for good, audited.

use studiovault_api::public::BreachNotice;
use studiovault_vault::{Authenticated, ClientInfo, IncidentId};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{owner_call, owner_state};
use crate::web::{ApiError, AppState, blocking, respond};

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let list = warp::path!("api" / "notices")
        .and(warp::get())
        .and(owner_state(state))
        .then(|auth: Authenticated, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let notices = vault.account(&auth.scope).breach_notices(false)?;
                Ok(notices
                    .into_iter()
                    .map(|n| BreachNotice {
                        id: n.incident.to_string(),
                        sent_at: n.sent_at_ms,
                        what_happened: n.notice.what_happened,
                        data_affected: n.notice.data_affected,
                        containment: n.notice.containment,
                        user_action: n.notice.user_action,
                        contact: n.notice.contact,
                    })
                    .collect::<Vec<_>>())
            })
            .await
            .map(|notices| warp::reply::json(&notices).into_response());
            respond(result)
        });
    let dismiss = warp::path!("api" / "notices" / String / "dismiss")
        .and(warp::post())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client: ClientInfo, state: AppState| async move {
                let result = async {
                    let id = IncidentId::parse(&id).ok_or_else(|| ApiError::not_found("notice"))?;
                    let vault = state.vault.clone();
                    blocking(move || vault.account(&auth.scope).dismiss_notice(id, &client))
                        .await
                        .map_err(ApiError::not_found_as("notice"))?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        );
    vec![list.boxed(), dismiss.boxed()]
}

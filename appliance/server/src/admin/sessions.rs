//! Every owner's sessions (`/v1/sessions`): list and revoke one.

use std::collections::HashMap;

use studiovault_api::admin::AdminSessionView;
use studiovault_vault::UserId;
use studiovault_vault::users::SessionInfo;
use warp::http::StatusCode;
use warp::{Filter, Reply};

use super::json;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};

pub(super) fn session_view(s: SessionInfo, email: String) -> AdminSessionView {
    AdminSessionView {
        id: s.id,
        user_id: s.user.to_string(),
        email,
        created_at: s.created_at_ms,
        last_seen_at: s.last_seen_ms,
        client: s.client,
    }
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let all_sessions = warp::path!("v1" / "sessions")
        .and(warp::get())
        .and(s())
        .then(|state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let admin = vault.admin();
                let emails: HashMap<UserId, String> =
                    admin.list()?.into_iter().map(|u| (u.id, u.email)).collect();
                Ok(admin
                    .sessions(None)?
                    .into_iter()
                    .map(|s| {
                        let email = emails.get(&s.user).cloned().unwrap_or_default();
                        session_view(s, email)
                    })
                    .collect::<Vec<_>>())
            })
            .await;
            respond(result.map(|v| json(&v)))
        });
    let revoke_session = warp::path!("v1" / "sessions" / String)
        .and(warp::delete())
        .and(s())
        .then(|id: String, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || vault.admin().revoke_session(&id))
                .await
                .map_err(ApiError::not_found_as("session"));
            respond(result.map(|()| StatusCode::NO_CONTENT.into_response()))
        });
    vec![all_sessions.boxed(), revoke_session.boxed()]
}

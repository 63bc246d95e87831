//! Sign-in, sign-out and the owner's own sessions.

use studiovault_api::public::{LoginRequest, Me, PendingEmail, SessionView};
use studiovault_vault::{Authenticated, ClientInfo, Vault};

use crate::config::Config;
use warp::filters::BoxedFilter;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{auth, owner_call, owner_state};
use crate::throttle::Subject;
use crate::web::{
    ApiError, AppState, SameSite, blocking, client, json_body, respond, session_cookie_name,
    set_cookie, throttled, with_state,
};

#[derive(Debug, serde::Deserialize)]
struct ActivityQuery {
    before: Option<u64>,
    limit: Option<u32>,
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let login = warp::path!("api" / "session")
        .and(warp::post())
        .and(json_body::<LoginRequest>())
        .and(client())
        .and(with_state(state))
        .then(|req, client, state| async move { respond(login(req, client, state).await) });
    let me = warp::path!("api" / "session")
        .and(warp::get())
        .and(owner_state(state))
        .then(|auth, state: AppState| async move {
            respond(
                me(&state.vault, auth)
                    .await
                    .map(|m| warp::reply::json(&m).into_response()),
            )
        });
    let logout = warp::path!("api" / "session")
        .and(warp::delete())
        .and(owner_call(state))
        .then(|auth: Authenticated, client, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                vault
                    .account(&auth.scope)
                    .revoke_session(&auth.session_id, &client)
            })
            .await;
            respond(
                result
                    .map(|()| clear_cookie(&state.config, StatusCode::NO_CONTENT.into_response())),
            )
        });
    let list = warp::path!("api" / "sessions")
        .and(warp::get())
        .and(owner_state(state))
        .then(|auth: Authenticated, state: AppState| async move {
            let vault = state.vault.clone();
            let current = auth.session_id.clone();
            let result = blocking(move || vault.account(&auth.scope).sessions())
                .await
                .map(|sessions| {
                    let views: Vec<SessionView> = sessions
                        .into_iter()
                        .map(|s| SessionView {
                            current: s.id == current,
                            id: s.id,
                            created_at: s.created_at_ms,
                            last_seen_at: s.last_seen_ms,
                            client: s.client,
                        })
                        .collect();
                    warp::reply::json(&views).into_response()
                });
            respond(result)
        });
    let revoke = warp::path!("api" / "sessions" / String)
        .and(warp::delete())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client, state: AppState| async move {
                let vault = state.vault.clone();
                let result =
                    blocking(move || vault.account(&auth.scope).revoke_session(&id, &client)).await;
                respond(
                    result
                        .map(|()| StatusCode::NO_CONTENT.into_response())
                        .map_err(ApiError::not_found_as("session")),
                )
            },
        );
    let activity = warp::path!("api" / "account" / "activity")
        .and(warp::get())
        .and(auth(state))
        .and(warp::query::<ActivityQuery>())
        .and(with_state(state))
        .then(
            |auth: Authenticated, q: ActivityQuery, state: AppState| async move {
                let vault = state.vault.clone();
                let limit = q.limit.unwrap_or(100).clamp(1, 500);
                let result =
                    blocking(move || vault.account(&auth.scope).activity(q.before, limit)).await;
                respond(result.map(|entries| warp::reply::json(&entries).into_response()))
            },
        );
    vec![
        activity.boxed(),
        login.boxed(),
        me.boxed(),
        logout.boxed(),
        list.boxed(),
        revoke.boxed(),
    ]
}

async fn login(
    req: LoginRequest,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let email = req.email.clone();
    let c = client.clone();
    let (token, auth) = throttled(&state, Subject::Account(&email), &client, move || {
        vault.login(&req.email, &req.password, req.totp.as_deref(), &c)
    })
    .await?;
    let me = me(&state.vault, auth).await?;
    let mut res = warp::reply::with_status(warp::reply::json(&me), StatusCode::OK).into_response();
    let max_age = state.vault.policy().session_absolute_secs;
    let cookie = set_cookie(
        &state.config,
        session_cookie_name(&state.config),
        &token,
        "/",
        max_age,
        SameSite::Strict,
    );
    if let Ok(v) = cookie.parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

pub(super) async fn me(vault: &Vault, auth: Authenticated) -> Result<Me, ApiError> {
    let v = vault.clone();
    let scope = auth.scope.clone();
    let (user, pending) = blocking(move || {
        let account = v.account(&scope);
        Ok((account.me()?, account.pending_email()?))
    })
    .await?;
    Ok(Me {
        user_id: user.id.to_string(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        plan: user.plan,
        quota_bytes: user.quota(&vault.policy().quotas),
        used_bytes: user.used_bytes,
        totp_enabled: user.totp_enabled(),
        analysis: user.analysis_enabled(),
        status: user.status,
        restricted: user.restricted(),
        objections: user.objections,
        pending_email: pending.map(|(email, expires_at)| PendingEmail { email, expires_at }),
        session_id: auth.session_id,
    })
}

pub(super) fn clear_cookie(config: &Config, mut res: Response) -> Response {
    let cookie = set_cookie(
        config,
        session_cookie_name(config),
        "",
        "/",
        0,
        SameSite::Strict,
    );
    if let Ok(v) = cookie.parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

//! `POST /s/{link}/unlock`: a password share's form. A right password sets the unlock cookie
//! for that link's path; guesses are throttled per link and per address.

use serde::Deserialize;
use studiovault_vault::ClientInfo;
use warp::filters::BoxedFilter;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::pages::{gone, password_page};
use super::{open_link, unlock_cookie_name};
use crate::throttle::Subject;
use crate::web::{
    ApiError, AppState, SMALL_BODY_DEADLINE, SameSite, blocking, body_within, client, set,
    set_cookie, throttled, with_state,
};

const FORM_LIMIT: u64 = 4 * 1024;

#[derive(Debug, Deserialize)]
struct UnlockForm {
    password: String,
}

/// The unlock form's body, whole within [`SMALL_BODY_DEADLINE`].
fn unlock_form() -> impl Filter<Extract = (UnlockForm,), Error = warp::Rejection> + Clone {
    body_within(FORM_LIMIT, SMALL_BODY_DEADLINE).and_then(|body: bytes::Bytes| async move {
        serde_urlencoded::from_bytes::<UnlockForm>(&body).map_err(|_| {
            warp::reject::custom(ApiError::bad_request("send the form's password field"))
        })
    })
}

pub(super) fn route(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String / "unlock")
        .and(warp::post())
        .and(unlock_form())
        .and(client())
        .and(with_state(state))
        .then(
            |token: String, form: UnlockForm, client: ClientInfo, state: AppState| async move {
                unlock(token, form, client, state)
                    .await
                    .unwrap_or_else(ApiError::into_response)
            },
        )
        .boxed()
}

async fn unlock(
    token: String,
    form: UnlockForm,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let t = token.clone();
    let Some(grant) = blocking(move || open_link(&vault, &t)).await? else {
        return gone();
    };
    // Guessing is throttled per link and per address, in memory only; failures are audited.
    let recipient = grant.recipient().to_string();
    let (vault, g, c) = (state.vault.clone(), grant.clone(), client.clone());
    let result = throttled(&state, Subject::Link(&recipient), &client, move || {
        g.unlock(&vault, &form.password, &c)
    })
    .await;
    match result {
        Ok(cookie) => {
            tracing::info!(target: "studiovault::security", "a password share was unlocked");
            let mut res = StatusCode::SEE_OTHER.into_response();
            set(&mut res, header::LOCATION, &format!("/s/{token}"));
            let max_age = cookie
                .split_once('.')
                .and_then(|(exp, _)| exp.parse::<i64>().ok())
                .map_or(0, |exp| (exp - state.vault.now_ms() / 1000).max(0));
            set(
                &mut res,
                header::SET_COOKIE,
                &set_cookie(
                    &state.config,
                    unlock_cookie_name(&state),
                    &cookie,
                    &format!("/s/{token}"),
                    max_age,
                    SameSite::Lax,
                ),
            );
            Ok(res)
        }
        Err(ApiError {
            retry_after: Some(wait),
            ..
        }) => {
            let mut res = password_page(
                &token,
                Some(&format!("Too many attempts. Try again in {wait} seconds.")),
            )?;
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            set(&mut res, header::RETRY_AFTER, &wait.to_string());
            Ok(res)
        }
        Err(e) if e.code == "bad_credentials" => {
            password_page(&token, Some("That password is not right."))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => gone(),
        Err(e) => Err(e),
    }
}

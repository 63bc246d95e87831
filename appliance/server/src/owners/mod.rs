//! The owners' HTTP API (`/api`, documented in `docs/API.md`) and their web app.
//!
//! Handlers parse and check the request, then call the store on a blocking thread; tenant
//! isolation is the store's job (the [`OwnerScope`](studiovault_vault::OwnerScope) from
//! [`auth`] is the only way into a library), so no handler compares owner ids itself.

mod account;
mod app;
mod export;
mod leaks;
mod notices;
mod review;
mod session;
mod shares;
mod stems;
mod tracks;
mod upload;
mod uploads;

use std::sync::Arc;

use studiovault_vault::{Account, Authenticated, ClientInfo, VaultError};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::throttle::Subject;
use crate::web::{
    ApiError, AppState, blocking, client, session_cookie_name, throttled, with_state,
};

/// The signed-in owner and the state: what a read takes.
fn owner_state(
    state: &AppState,
) -> impl Filter<Extract = (Authenticated, AppState), Error = Rejection> + Clone + use<> {
    auth(state).and(with_state(state))
}

/// What most owners' routes take once path, method and body are matched: the signed-in owner,
/// the caller's client (for the store to hash) and the state.
fn owner_call(
    state: &AppState,
) -> impl Filter<Extract = (Authenticated, ClientInfo, AppState), Error = Rejection> + Clone + use<>
{
    auth(state).and(client()).and(with_state(state))
}

/// A request made by a signed-in owner: the session cookie (or an `Authorization: Bearer`
/// token) must name a live session. Where the request came from is checked once for the whole
/// site, in [`crate::web::site`].
/// Sent by the web app on requests it makes on its own (polls): they do not keep the session
/// from going idle.
const BACKGROUND_HEADER: &str = "x-background";

fn auth(
    state: &AppState,
) -> impl Filter<Extract = (Authenticated,), Error = Rejection> + Clone + use<> {
    let cookie_name = session_cookie_name(&state.config);
    warp::cookie::optional::<String>(cookie_name)
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>(BACKGROUND_HEADER))
        .and(with_state(state))
        .and_then(
            |cookie: Option<String>,
             authz: Option<String>,
             background: Option<String>,
             state: AppState| async move {
                let bearer = authz.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
                let Some(token) = cookie.or(bearer) else {
                    return Err(warp::reject::custom(ApiError::from(
                        VaultError::SessionInvalid,
                    )));
                };
                let vault = state.vault.clone();
                blocking(move || match background {
                    Some(_) => vault.authenticate_in_background(&token),
                    None => vault.authenticate(&token),
                })
                .await
                .map_err(warp::reject::custom)
            },
        )
}

/// A signed-in owner's password or code re-check (export, password change, two-factor
/// changes, deletion): `check` runs on their account, throttled with the same count as their
/// sign-ins, by their e-mail and the client.
async fn recheck<T, F>(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    check: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&Account<'_>, &ClientInfo) -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let email = blocking(move || vault.account(&scope).me().map(|u| u.email)).await?;
    let (vault, scope, c) = (state.vault.clone(), auth.scope.clone(), client.clone());
    throttled(state, Subject::Account(&email), client, move || {
        check(&vault.account(&scope), &c)
    })
    .await
}

fn health() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "health").and(warp::get()).map(|| {
        warp::reply::json(&studiovault_api::public::Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .into_response()
    })
}

/// The owners' API, in the order the routes are tried. The open resumable uploads and the
/// export links live here, with the one surface that uses them.
pub fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let uploads = Arc::new(uploads::UploadSessions::default());
    let export_links = Arc::new(export::ExportLinks::default());
    let mut all = vec![health().boxed()];
    all.extend(session::routes(state));
    all.extend(account::routes(state));
    all.extend(export::routes(state, &export_links));
    all.push(upload::route(state).boxed());
    all.extend(uploads::routes(state, &uploads));
    all.extend(stems::routes(state));
    all.extend(tracks::routes(state));
    all.extend(shares::routes(state));
    all.extend(review::routes(state));
    all.push(leaks::route(state).boxed());
    all.extend(notices::routes(state));
    all
}

/// The web app's pages and assets (the portal's script and styles among them).
pub fn app_routes() -> Vec<BoxedFilter<(Response,)>> {
    app::routes()
}

//! The certificate (`/v1/tls`): its status, and a renewal now.

use warp::Filter;
use warp::http::StatusCode;

use super::json;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, respond, with_state};

fn tls_off() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "tls_off",
        "TLS is off: set tls.mode to acme, files or self-signed",
    )
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let tls_status = warp::path!("v1" / "tls")
        .and(warp::get())
        .and(s())
        .map(|state: AppState| {
            respond(
                state
                    .tls
                    .as_ref()
                    .map(|tls| json(&tls.status()))
                    .ok_or_else(tls_off),
            )
        });
    let tls_renew = warp::path!("v1" / "tls" / "renew")
        .and(warp::post())
        .and(s())
        .then(|state: AppState| async move {
            let Some(tls) = state.tls.clone() else {
                return respond(Err(tls_off()));
            };
            respond(tls.renew().await.map(|view| json(&view)).map_err(|e| {
                let (status, code) = match e {
                    studiovault_tls::TlsError::CaStillWaiting { .. } => {
                        (StatusCode::TOO_MANY_REQUESTS, "ca_asked_to_wait")
                    }
                    _ => (StatusCode::BAD_GATEWAY, "renewal_failed"),
                };
                ApiError::new(status, code, e.to_string())
            }))
        });
    vec![tls_status.boxed(), tls_renew.boxed()]
}

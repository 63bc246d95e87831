//! The audit log (`/v1/audit`): queries and the verification of the whole chain.

use studiovault_api::admin::AuditQuery;
use warp::Filter;

use super::json;
use crate::listener::Routes;
use crate::web::{AppState, blocking, respond, with_state};

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let audit = warp::path!("v1" / "audit")
        .and(warp::get())
        .and(warp::query::<AuditQuery>())
        .and(s())
        .then(|q: AuditQuery, state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || vault.audit_query(&q))
                    .await
                    .map(|v| json(&v)),
            )
        });
    let verify = warp::path!("v1" / "audit" / "verify")
        .and(warp::post())
        .and(s())
        .then(|state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || vault.audit_verify())
                    .await
                    .map(|r| json(&r)),
            )
        });
    vec![audit.boxed(), verify.boxed()]
}

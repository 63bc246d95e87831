//! `POST /v1/housekeeping`: one housekeeping pass now, rather than at the next hour; and
//! `GET /v1/retention`: the retention table it enforces.

use warp::Filter;

use super::json;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, respond, with_state};
use crate::{housekeeping, retention};

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let run = warp::path!("v1" / "housekeeping")
        .and(warp::post())
        .and(with_state(state))
        .then(|state: AppState| async move {
            respond(
                housekeeping::pass(&state.vault)
                    .await
                    .map(|report| json(&report))
                    .map_err(ApiError::from),
            )
        });
    let retention = warp::path!("v1" / "retention")
        .and(warp::get())
        .and(with_state(state))
        .map(|state: AppState| json(&retention::table(&state.config)));
    vec![run.boxed(), retention.boxed()]
}

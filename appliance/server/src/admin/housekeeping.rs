//! `POST /v1/housekeeping`: one housekeeping pass now, rather than at the next hour.

use warp::Filter;

use super::json;
use crate::housekeeping;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, respond, with_state};

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
    vec![run.boxed()]
}

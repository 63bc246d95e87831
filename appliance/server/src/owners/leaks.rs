//! `POST /api/leaks/trace`: an owner's leak trace, among their own shares only.

use studiovault_vault::{Authenticated, ClientInfo, TraceQuery};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::auth;
use crate::leak_report::trace_view;
use crate::web::{ApiError, AppState, blocking, client, respond, with_state};

/// A suspect file for a trace: a 30-second excerpt is enough; whole songs fit.
const TRACE_BODY_LIMIT: u64 = 512 << 20;

pub(super) fn route(
    state: &AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    warp::path!("api" / "leaks" / "trace")
        .and(warp::post())
        .and(auth(state))
        .and(warp::body::content_length_limit(TRACE_BODY_LIMIT))
        .and(warp::header::<u64>("content-length"))
        .and(warp::body::stream())
        .and(client())
        .and(with_state(state))
        .then(
            |auth: Authenticated, length: u64, body, client: ClientInfo, state: AppState| async move {
                respond(trace(auth, length, body, client, state).await)
            },
        )
}

/// Reads the watermark of an uploaded suspect file and names the recipient, among this
/// owner's shares only: the one whose payload decodes, and any others whose copies the file
/// also carries (scored against each of the owner's watermarked recipients).
async fn trace<S, B>(
    auth: Authenticated,
    length: u64,
    body: S,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    if length == 0 {
        return Err(ApiError::bad_request(
            "send the suspect audio file as the request body",
        ));
    }
    let analysis =
        crate::suspect::read(body, &state.watermark_key, state.config.job_limits()).await?;
    let payload = analysis.payload;
    let vault = state.vault.clone();
    let key = state.watermark_key.clone();
    let view = blocking(move || {
        let shares = vault.shares(&auth.scope);
        let (suspects, threshold) = match &analysis.soft_bits {
            Some(soft) => {
                let (named, t) =
                    studiovault_marking::suspects(soft, &key, &shares.watermark_candidates()?);
                (named, Some(t))
            }
            None => (Vec::new(), None),
        };
        let outcome = shares.trace(&TraceQuery { payload, suspects }, &client)?;
        Ok(trace_view(&vault, payload, &outcome, threshold, false))
    })
    .await?;
    Ok(warp::reply::json(&view).into_response())
}

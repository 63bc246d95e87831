//! `POST /v1/leaks/trace`: the admin's leak trace, across every owner's shares.

use studiovault_api::public::TraceRequest;
use studiovault_vault::TraceQuery;
use warp::Filter;

use super::json;
use crate::leak_report::trace_view;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    // The CLI reads the mark from the suspect file itself and sends what it read.
    let leak = warp::path!("v1" / "leaks" / "trace")
        .and(warp::post())
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::json::<TraceRequest>())
        .and(s())
        .then(|req: TraceRequest, state: AppState| async move {
            let result = async {
                let payload = match req.payload.as_deref() {
                    None => None,
                    Some(hex) => Some(
                        (hex.len() == 16)
                            .then(|| u64::from_str_radix(hex, 16).ok())
                            .flatten()
                            .ok_or_else(|| {
                                ApiError::bad_request(
                                    "the payload is 16 hex digits, as `studiovault watermark detect` prints it",
                                )
                            })?,
                    ),
                };
                let vault = state.vault.clone();
                let key = state.watermark_key.clone();
                let view = blocking(move || {
                    let (suspects, threshold) = match req.soft_bits {
                        Some(bits) => {
                            let soft = studiovault_watermark::SoftBits::from_values(bits);
                            let (named, t) = studiovault_marking::suspects(
                                &soft,
                                &key,
                                &vault.watermark_candidates_any()?,
                            );
                            (named, Some(t))
                        }
                        None => (Vec::new(), None),
                    };
                    let outcome =
                        vault.trace_any(&TraceQuery { payload, suspects }, "admin socket")?;
                    Ok(trace_view(&vault, payload, &outcome, threshold, true))
                })
                .await?;
                Ok(json(&view))
            };
            respond(result.await)
        });
    // The console sends the suspect file itself; the server reads its mark in a child
    // process, as for an owner's trace.
    let file = warp::path!("v1" / "leaks" / "trace-file")
        .and(warp::post())
        .and(warp::body::content_length_limit(TRACE_FILE_LIMIT))
        .and(warp::header::<u64>("content-length"))
        .and(warp::body::stream())
        .and(s())
        .then(|length: u64, body, state: AppState| async move {
            let result = async {
                if length == 0 {
                    return Err(ApiError::bad_request(
                        "send the suspect audio file as the request body",
                    ));
                }
                let analysis =
                    crate::suspect::read(body, &state.watermark_key, state.config.job_limits())
                        .await?;
                let vault = state.vault.clone();
                let key = state.watermark_key.clone();
                let view = blocking(move || {
                    let (suspects, threshold) = match &analysis.soft_bits {
                        Some(soft) => {
                            let (named, t) = studiovault_marking::suspects(
                                soft,
                                &key,
                                &vault.watermark_candidates_any()?,
                            );
                            (named, Some(t))
                        }
                        None => (Vec::new(), None),
                    };
                    let payload = analysis.payload;
                    let outcome = vault.trace_any(&TraceQuery { payload, suspects }, "console")?;
                    Ok(trace_view(&vault, payload, &outcome, threshold, true))
                })
                .await?;
                Ok(json(&view))
            };
            respond(result.await)
        });
    vec![leak.boxed(), file.boxed()]
}

/// A suspect file sent by the console: an excerpt is enough; whole songs fit.
const TRACE_FILE_LIMIT: u64 = 512 << 20;

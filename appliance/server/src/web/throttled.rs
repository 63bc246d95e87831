//! Password and code checks behind the throttle, for sign-ins, owners' re-checks and share
//! passwords alike.

use std::time::Instant;

use studiovault_vault::{ClientInfo, VaultError};
use warp::http::StatusCode;

use super::{ApiError, AppState, blocking};
use crate::throttle::{Outcome, Subject};

/// The key a client is throttled by: its address, hashed by the throttle and never stored.
fn throttle_client(client: &ClientInfo) -> String {
    client.ip.map(|ip| ip.to_string()).unwrap_or_default()
}

fn too_many_attempts(wait: u64) -> ApiError {
    ApiError {
        retry_after: Some(wait),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed attempts; try again in {wait} seconds"),
        )
    }
}

/// How a credential check counts: only a wrong password or code is a failure.
fn outcome<T>(result: &Result<T, VaultError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(VaultError::BadCredentials | VaultError::BadTotp) => Outcome::Failure,
        Err(_) => Outcome::Inconclusive,
    }
}

/// Runs `check`, which verifies a password or code, on a blocking thread after reserving the
/// attempt with the throttle (`429 too_many_attempts` with `Retry-After` when over a limit).
/// The attempt is settled on that thread with the check's outcome, so a request cancelled
/// while bcrypt runs still settles it. Checks wait for a slot (`503 busy` after 10 s), so
/// bcrypt never takes every core.
pub async fn throttled<T, F>(
    state: &AppState,
    subject: Subject<'_>,
    client: &ClientInfo,
    check: F,
) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    let attempt = state
        .throttle
        .begin(subject, &throttle_client(client), Instant::now())
        .map_err(too_many_attempts)?;
    let Some(slot) = state.throttle.check_slot().await else {
        attempt.settle(Outcome::Inconclusive);
        return Err(ApiError {
            retry_after: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins at once; try again in a few seconds",
            )
        });
    };
    blocking(move || {
        let result = check();
        attempt.settle(outcome(&result));
        drop(slot);
        result
    })
    .await
}

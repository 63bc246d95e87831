//! Password and code checks behind the throttle, for sign-ins, owners' re-checks and share
//! passwords alike.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use studiovault_vault::{ClientInfo, VaultError};
use warp::http::StatusCode;

use super::{ApiError, AppState, blocking};
use crate::throttle::{Outcome, Subject};

/// The key a client is throttled by, hashed by the throttle and never stored: its IPv4
/// address, or its IPv6 /64. One IPv6 host holds a whole /64 (SLAAC, privacy addresses), so
/// keyed by its full address it had 2^64 clients' worth of attempts.
fn throttle_client(client: &ClientInfo) -> String {
    match client.ip {
        None => String::new(),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(ip) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        },
        Some(IpAddr::V4(ip)) => ip.to_string(),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(ip: &str) -> String {
        throttle_client(&ClientInfo {
            ip: Some(ip.parse().unwrap()),
            user_agent: None,
        })
    }

    #[test]
    fn an_ipv6_host_is_one_client_across_its_64_and_a_mapped_ipv4_is_its_ipv4() {
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(throttle_client(&ClientInfo::default()), "");
    }
}

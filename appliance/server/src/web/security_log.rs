//! The security log: each refused request as one line under the target
//! `studiovault::security`, with the method, the route with every id and token replaced by
//! `{id}`, the status and the error code. Refused credentials, another tenant's ids, tampered
//! links, cross-origin writes and throttled attempts show at `warn`; refused input at `info`.
//! No address (the audit log keeps only daily-salted hashes of those), no query string (signed
//! URLs carry their signature there), no id or token (a share link's path is its credential).

use warp::http::Method;
use warp::reply::Response;

/// The error code an [`super::ApiError`] answered with, kept on the response for this log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// Path segments this long are ids, tokens or a client's garbage: never logged as sent.
const LONGEST_LOGGED_SEGMENT: usize = 15;

pub fn note(method: &Method, path: &str, res: &Response) {
    let status = res.status().as_u16();
    let code = res.extensions().get::<ErrorCode>().map_or("-", |c| c.0);
    let route = redacted(path);
    match status {
        401 | 403 | 429 => {
            tracing::warn!(target: "studiovault::security", %method, %route, status, code = %code, "request refused");
        }
        400 | 404 | 405 | 409 | 411 | 413 | 415 | 422 => {
            tracing::info!(target: "studiovault::security", %method, %route, status, code = %code, "request refused");
        }
        _ => {}
    }
}

fn redacted(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.len() > LONGEST_LOGGED_SEGMENT {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn ids_and_tokens_never_reach_the_log() {
        assert_eq!(
            redacted("/api/tracks/0123456789abcdef0123456789abcdef/audio"),
            "/api/tracks/{id}/audio"
        );
        assert_eq!(
            redacted("/s/Zm9vYmFyYmF6cXV4LXRva2Vu.x/unlock"),
            "/s/{id}/unlock"
        );
        assert_eq!(redacted("/api/session"), "/api/session");
    }
}

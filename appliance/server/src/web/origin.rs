//! The one origin check of the server: a state-changing request (anything but GET, HEAD and
//! OPTIONS) that a browser sent from another site is refused, on the owners' API and the portal
//! alike.
//!
//! "This site" is `http.public_origin` when configured; otherwise the authority the request was
//! sent to — the HTTP/2 `:authority` pseudo-header or the HTTP/1.1 `Host` header, whichever the
//! connection speaks — under the listener's scheme. Browsers send `Origin` on every non-GET
//! request (fetch and form posts alike) and `Sec-Fetch-Site` beside it; a request with neither
//! comes from a non-browser client (curl, the CLI), which no other site can drive. A form post
//! carries `Origin: null` under the pages' `no-referrer` policy: `Sec-Fetch-Site: same-origin`
//! vouches for it then.

use warp::http::uri::Authority;
use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection};

use super::ApiError;

/// Who may send state-changing requests: this server's own pages only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOrigin {
    /// `http.public_origin`, normalised; `None` to follow the request's authority.
    configured: Option<String>,
    /// The scheme this server's pages are served under.
    scheme: &'static str,
}

impl SiteOrigin {
    pub fn new(configured: Option<&str>, tls: bool) -> Self {
        Self {
            configured: configured.and_then(normalise_origin),
            scheme: if tls { "https" } else { "http" },
        }
    }

    /// `Ok` unless a browser sent this request from another site.
    pub fn check(
        &self,
        method: &Method,
        origin: Option<&str>,
        fetch_site: Option<&str>,
        authority: Option<&Authority>,
    ) -> Result<(), ApiError> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        // `same-site` is a sibling sub-domain: another site as far as sessions are concerned.
        if matches!(fetch_site, Some("cross-site" | "same-site")) {
            return Err(cross_origin());
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        // Under our `Referrer-Policy: no-referrer`, browsers send `Origin: null` with form
        // posts; fetch metadata, which that policy does not touch, still says where they came
        // from.
        if origin == "null" {
            return match fetch_site {
                Some("same-origin") => Ok(()),
                _ => Err(cross_origin()),
            };
        }
        let expected = match &self.configured {
            Some(configured) => Some(configured.clone()),
            None => authority.map(|a| origin_of(self.scheme, a)),
        };
        match (normalise_origin(origin), expected) {
            (Some(got), Some(expected)) if got == expected => Ok(()),
            _ => Err(cross_origin()),
        }
    }
}

fn cross_origin() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "cross-origin requests are refused",
    )
}

/// `scheme://host[:port]` with the host lower-cased and the scheme's default port dropped.
fn origin_of(scheme: &str, authority: &Authority) -> String {
    let host = authority.host().to_ascii_lowercase();
    match authority.port_u16() {
        Some(port) if Some(port) != default_port(scheme) => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// An `Origin` value (or `http.public_origin`) in the form [`origin_of`] gives; `None` for
/// `null`, paths, user info and anything else that is not a plain origin.
pub fn normalise_origin(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    default_port(&scheme)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let authority: Authority = rest.parse().ok()?;
    Some(origin_of(&scheme, &authority))
}

/// Rejects a state-changing request sent from another site (see the module's docs).
pub fn same_origin(site: SiteOrigin) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and(warp::host::optional())
        .and_then(
            move |method: Method,
                  origin: Option<String>,
                  fetch_site: Option<String>,
                  authority: Option<Authority>| {
                let checked = site
                    .check(
                        &method,
                        origin.as_deref(),
                        fetch_site.as_deref(),
                        authority.as_ref(),
                    )
                    .map_err(warp::reject::custom);
                async move { checked }
            },
        )
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(s: &str) -> Authority {
        s.parse()
            .unwrap_or_else(|_| Authority::from_static("invalid"))
    }

    #[test]
    fn http2_requests_are_checked_against_their_authority() {
        let site = SiteOrigin::new(None, true);
        let a = authority("vault.studio.test:8443");
        let post = Method::POST;
        assert!(
            site.check(
                &post,
                Some("https://vault.studio.test:8443"),
                None,
                Some(&a)
            )
            .is_ok()
        );
        assert!(
            site.check(
                &post,
                Some("https://VAULT.studio.test:8443"),
                None,
                Some(&a)
            )
            .is_ok(),
            "host names compare case-insensitively"
        );
        for foreign in [
            "https://evil.test:8443",
            "http://vault.studio.test:8443",
            "https://vault.studio.test",
            "https://vault.studio.test:8443.evil.test",
            "null",
            "https://vault.studio.test:8443/path",
            "https://user@vault.studio.test:8443",
        ] {
            assert!(
                site.check(&post, Some(foreign), None, Some(&a)).is_err(),
                "{foreign} must be refused"
            );
        }
        assert!(
            site.check(&post, Some("https://x.test"), None, None)
                .is_err(),
            "no authority to compare with"
        );
    }

    #[test]
    fn default_ports_are_the_same_origin() {
        let site = SiteOrigin::new(None, true);
        let ok = |origin: &str, auth: &str| {
            site.check(&Method::DELETE, Some(origin), None, Some(&authority(auth)))
                .is_ok()
        };
        assert!(ok("https://vault.test", "vault.test:443"));
        assert!(ok("https://vault.test:443", "vault.test"));
        assert!(!ok("https://vault.test:444", "vault.test"));
        let plain = SiteOrigin::new(None, false);
        assert!(
            plain
                .check(
                    &Method::PUT,
                    Some("http://127.0.0.1:8080"),
                    None,
                    Some(&authority("127.0.0.1:8080"))
                )
                .is_ok()
        );
    }

    #[test]
    fn a_configured_public_origin_is_the_only_one() {
        let site = SiteOrigin::new(Some("https://Vault.Studio.test/"), true);
        assert_eq!(site.configured, None, "a path is not an origin");
        let site = SiteOrigin::new(Some("https://Vault.Studio.test:443"), true);
        let a = authority("10.0.0.5");
        assert!(
            site.check(
                &Method::POST,
                Some("https://vault.studio.test"),
                None,
                Some(&a)
            )
            .is_ok()
        );
        assert!(
            site.check(&Method::POST, Some("https://10.0.0.5"), None, Some(&a))
                .is_err()
        );
    }

    #[test]
    fn safe_methods_and_non_browser_clients_pass_and_fetch_metadata_is_honoured() {
        let site = SiteOrigin::new(None, true);
        let a = authority("vault.test");
        assert!(
            site.check(&Method::GET, Some("https://evil.test"), None, Some(&a))
                .is_ok()
        );
        assert!(site.check(&Method::POST, None, None, Some(&a)).is_ok());
        assert!(
            site.check(&Method::POST, None, Some("cross-site"), Some(&a))
                .is_err()
        );
        assert!(
            site.check(
                &Method::POST,
                Some("https://vault.test"),
                Some("same-site"),
                Some(&a)
            )
            .is_err()
        );
        assert!(
            site.check(
                &Method::POST,
                Some("https://vault.test"),
                Some("same-origin"),
                Some(&a)
            )
            .is_ok()
        );
        // A form post under `no-referrer`: the origin is hidden, fetch metadata is not.
        assert!(
            site.check(&Method::POST, Some("null"), Some("same-origin"), Some(&a))
                .is_ok()
        );
        assert!(
            site.check(&Method::POST, Some("null"), None, Some(&a))
                .is_err()
        );
    }
}

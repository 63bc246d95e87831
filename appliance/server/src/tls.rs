//! The HTTPS side's wiring: port 80 (ACME HTTP-01 answers and a 308 redirect to HTTPS, nothing
//! else), and SIGHUP re-reading certificate files.

use studiovault_tls::Tls;
use tokio::sync::watch;
use warp::Filter;
use warp::http::uri::Authority;
use warp::http::{HeaderValue, StatusCode, Uri, header};
use warp::reply::{Reply, Response};

use crate::listener::{self, Routes};

/// Port 80: `/.well-known/acme-challenge/<token>` while an order waits, a permanent redirect to
/// the same path over HTTPS for everything else: at `public_origin` when configured, else at the
/// name asked for if the certificate covers it, else at the certificate's first name. A `Host`
/// naming some other site is never echoed into the redirect.
pub fn port80_routes(tls: &Tls, public_origin: Option<String>) -> Routes {
    let https_port = tls.config().https_listen.port();
    let names = tls.clone();
    let answers = tls.clone();
    let challenge = warp::path!(".well-known" / "acme-challenge" / String)
        .and(warp::get())
        .map(move |token: String| match answers.http01_answer(&token) {
            Some(key_authorization) => {
                let mut res = Response::new(key_authorization.into());
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                res
            }
            None => plain(StatusCode::NOT_FOUND, "no such challenge\n"),
        });
    let redirect = warp::any()
        .and(warp::header::optional::<String>("host"))
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .map(
            move |host: Option<String>, path: warp::path::FullPath, query: String| {
                let target = match &public_origin {
                    Some(origin) => Some(origin.clone()),
                    None => {
                        let covered = names
                            .status()
                            .certificate
                            .map(|c| c.names)
                            .unwrap_or_default();
                        https_origin(host.as_deref(), &covered, https_port)
                    }
                };
                redirect(target.as_deref(), path.as_str(), &query)
            },
        );
    challenge.or(redirect).unify().boxed()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    warp::reply::with_status(text, status).into_response()
}

/// `https://name[:port]` for the name a client asked for when the certificate covers it, else
/// for the certificate's first name; `None` when the certificate covers no name.
fn https_origin(host: Option<&str>, covered: &[String], https_port: u16) -> Option<String> {
    let asked = host.and_then(|h| h.parse::<Authority>().ok()).map(|a| {
        a.host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    });
    // A wildcard covers one label in its place; it is never a name to send a client to.
    let covers = |name: &str, asked: &str| {
        name.eq_ignore_ascii_case(asked)
            || name.strip_prefix("*.").is_some_and(|parent| {
                asked.split_once('.').is_some_and(|(label, rest)| {
                    !label.is_empty() && rest.eq_ignore_ascii_case(parent)
                })
            })
    };
    let name = asked
        .filter(|asked| covered.iter().any(|n| covers(n, asked)))
        .or_else(|| {
            covered
                .iter()
                .find(|n| !n.starts_with("*."))
                .map(|n| n.to_ascii_lowercase())
        })?;
    let name = if name.contains(':') {
        format!("[{name}]")
    } else {
        name
    };
    Some(if https_port == 443 {
        format!("https://{name}")
    } else {
        format!("https://{name}:{https_port}")
    })
}

fn redirect(origin: Option<&str>, path: &str, query: &str) -> Response {
    let Some(origin) = origin else {
        return plain(
            StatusCode::BAD_REQUEST,
            "this port only redirects to HTTPS, and no certificate names where to\n",
        );
    };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    match format!("{origin}{path}{query}").parse::<Uri>() {
        Ok(uri) => {
            let mut res = plain(StatusCode::PERMANENT_REDIRECT, "");
            if let Ok(value) = HeaderValue::from_str(&uri.to_string()) {
                res.headers_mut().insert(header::LOCATION, value);
            }
            res
        }
        Err(_) => plain(StatusCode::BAD_REQUEST, "bad request target\n"),
    }
}

/// SIGHUP (`hup`, registered when the server starts): re-read the certificate files (files
/// mode) or get a new certificate now.
pub async fn reload_on_sighup(
    tls: Tls,
    mut hup: tokio::signal::unix::Signal,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the certificate");
                if let Err(e) = tls.renew().await {
                    tracing::error!(error = %e, "reloading the certificate failed; the old one stays");
                }
            }
            () = listener::stopped(&mut stop) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(res: &Response) -> &str {
        res.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn redirects_keep_the_path_and_query_and_name_only_covered_hosts() {
        let covered = [
            "vault.studio.example".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let to = |host: Option<&str>, port: u16| https_origin(host, &covered, port);
        let res = redirect(
            to(Some("Vault.Studio.Example:80"), 443).as_deref(),
            "/s/abc",
            "x=1",
        );
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&res), "https://vault.studio.example/s/abc?x=1");
        let res = redirect(to(Some("127.0.0.1:8080"), 8443).as_deref(), "/", "");
        assert_eq!(location(&res), "https://127.0.0.1:8443/");
        let res = redirect(to(Some("[::1]:80"), 8443).as_deref(), "/", "");
        assert_eq!(location(&res), "https://[::1]:8443/");
        // A name the certificate does not cover (or none at all) is not echoed.
        for host in [Some("evil.example"), Some("evil.example/x"), None] {
            let res = redirect(to(host, 443).as_deref(), "/login", "");
            assert_eq!(
                location(&res),
                "https://vault.studio.example/login",
                "{host:?}"
            );
        }
        let res = redirect(
            https_origin(Some("evil.example"), &[], 443).as_deref(),
            "/",
            "",
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = redirect(Some("https://vault.example"), "/a", "b=1");
        assert_eq!(location(&res), "https://vault.example/a?b=1");
    }

    #[test]
    fn a_wildcard_covers_one_label_and_is_never_a_redirect_target() {
        let covered = ["*.studio.example".to_owned(), "studio.example".to_owned()];
        let to = |host: &str| https_origin(Some(host), &covered, 443);
        assert_eq!(
            to("vault.studio.example").as_deref(),
            Some("https://vault.studio.example")
        );
        // Two labels, or none, are not covered: the client goes to a name the certificate has.
        for outside in ["a.b.studio.example", ".studio.example", "evil.example"] {
            assert_eq!(
                to(outside).as_deref(),
                Some("https://studio.example"),
                "{outside}"
            );
        }
        let only_wildcard = ["*.studio.example".to_owned()];
        assert_eq!(
            https_origin(Some("evil.example"), &only_wildcard, 443),
            None
        );
    }
}

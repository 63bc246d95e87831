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
/// the same path over HTTPS for everything else.
pub fn port80_routes(tls: &Tls) -> Routes {
    let https_port = tls.config().https_listen.port();
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
                redirect_to_https(host.as_deref(), path.as_str(), &query, https_port)
            },
        );
    challenge.or(redirect).unify().boxed()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    warp::reply::with_status(text, status).into_response()
}

fn redirect_to_https(host: Option<&str>, path: &str, query: &str, https_port: u16) -> Response {
    let Some(authority) = host.and_then(|h| h.parse::<Authority>().ok()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "this port only redirects to HTTPS, and needs a Host header to know where\n",
        );
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let target = format!("https://{}{port}{path}{query}", authority.host());
    match target.parse::<Uri>() {
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

/// SIGHUP: re-read the certificate files (files mode) or get a new certificate now.
pub async fn reload_on_sighup(tls: Tls, mut stop: watch::Receiver<bool>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
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
    fn redirects_keep_the_path_and_query_and_drop_the_http_port() {
        let res = redirect_to_https(Some("vault.studio.example:80"), "/s/abc", "x=1", 443);
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&res), "https://vault.studio.example/s/abc?x=1");
        let res = redirect_to_https(Some("127.0.0.1:8080"), "/", "", 8443);
        assert_eq!(location(&res), "https://127.0.0.1:8443/");
        let res = redirect_to_https(None, "/", "", 443);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = redirect_to_https(Some("evil.example/x"), "/", "", 443);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

//! The origin check over HTTPS and HTTP/2, as deployed: every family of state-changing routes
//! (the owners' API and the portal) refuses a request sent from another site and serves the
//! same request sent from this one. Over HTTP/2 there is no `Host` header, only `:authority`;
//! a check that read `Host` refused every write a browser made (issue 13).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use reqwest::{Method, Version};
use serde_json::{Value, json};
use studiovault_e2e::{Owner, PASSWORD, Server, client_for, free_port, wav};

/// A request body.
enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>, &'static [(&'static str, &'static str)]),
    Form(&'static [(&'static str, &'static str)]),
    Upload(Vec<u8>),
}

struct Sent {
    status: u16,
    version: Version,
    body: Value,
}

async fn send(
    client: &reqwest::Client,
    server: &Server,
    (method, path): (Method, &str),
    body: &Body,
    origin: Option<&str>,
    fetch_site: Option<&str>,
) -> Sent {
    let mut req = client.request(method, server.url(path));
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    if let Some(site) = fetch_site {
        req = req.header("sec-fetch-site", site);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Bytes(b, headers) => {
            let mut r = req.body(b.clone());
            for (k, v) in *headers {
                r = r.header(*k, *v);
            }
            r
        }
        Body::Form(fields) => req.form(fields),
        Body::Upload(b) => req.multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b.clone()).file_name("take.wav"),
        )),
    };
    let res = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let (status, version) = (res.status().as_u16(), res.version());
    let text = res.text().await.unwrap_or_default();
    Sent {
        status,
        version,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Sends the request from another site (refused, twice: by `Origin` and by fetch metadata),
/// then from this one (served with `expect`); answers the served body.
async fn both_ways(
    client: &reqwest::Client,
    server: &Server,
    route: (Method, &str),
    body: Body,
    expect: u16,
) -> Value {
    let what = format!("{} {}", route.0, route.1);
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("https://127.0.0.1"), None),
        (Some("http://127.0.0.1:1"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let sent = send(client, server, route.clone(), &body, origin, site).await;
        assert_eq!(
            (sent.status, sent.body["error"].as_str()),
            (403, Some("cross_origin")),
            "{what} from {origin:?} / {site:?}: {}",
            sent.body
        );
        assert_eq!(sent.version, Version::HTTP_2, "{what}");
    }
    let sent = send(
        client,
        server,
        route,
        &body,
        Some(&server.origin()),
        Some("same-origin"),
    )
    .await;
    assert_eq!(sent.status, expect, "{what} from this site: {}", sent.body);
    assert_eq!(sent.version, Version::HTTP_2, "{what}");
    sent.body
}

#[tokio::test(flavor = "multi_thread")]
async fn every_write_over_http2_is_served_from_this_site_and_refused_from_others() {
    let server = Server::start_deployed();
    server.add_user("origin@studio.test", "pro");
    let owner = Owner::new(&server);
    let c = &owner.http;
    let s = &server;

    // Sessions: signing in is a write too (a foreign page must not sign a visitor in).
    both_ways(
        c,
        s,
        (Method::POST, "/api/session"),
        Body::Json(json!({"email": "origin@studio.test", "password": PASSWORD})),
        200,
    )
    .await;
    let other = Owner::signed_in(&server, "origin@studio.test").await;
    let (_, me) = other.get_json("/api/session").await;
    let other_session = me["session_id"].as_str().unwrap().to_owned();
    both_ways(
        c,
        s,
        (Method::DELETE, &format!("/api/sessions/{other_session}")),
        Body::None,
        204,
    )
    .await;

    // Tracks: upload, resumable upload, rename.
    let track = both_ways(
        c,
        s,
        (Method::POST, "/api/tracks"),
        Body::Upload(wav(2.0, 1)),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let upload = wav(1.0, 2);
    let size = upload.len();
    let resumable = both_ways(
        c,
        s,
        (Method::POST, "/api/uploads"),
        Body::Json(json!({"filename": "b.wav", "size": size})),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    both_ways(
        c,
        s,
        (Method::PATCH, &format!("/api/uploads/{resumable}")),
        Body::Bytes(upload, &[("upload-offset", "0")]),
        201,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::PATCH, &format!("/api/tracks/{track}")),
        Body::Json(json!({"name": "Renamed"})),
        200,
    )
    .await;

    // Shares, and the portal's writes: the unlock form and signed media URLs.
    let share = both_ways(
        c,
        s,
        (Method::POST, "/api/shares"),
        Body::Json(json!({
            "tracks": [track],
            "recipients": [{"name": "Ana"}, {"name": "Ben"}],
            "password": "listen here",
        })),
        201,
    )
    .await;
    let share_id = share["id"].as_str().unwrap().to_owned();
    let link = share["recipients"][0]["link"].as_str().unwrap().to_owned();
    let ben = share["recipients"][1]["id"].as_str().unwrap().to_owned();
    let visitor = client_for(&server)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    both_ways(
        &visitor,
        s,
        (Method::POST, &format!("{link}/unlock")),
        Body::Form(&[("password", "listen here")]),
        303,
    )
    .await;
    // A browser's form post under the pages' `no-referrer` policy carries `Origin: null`;
    // fetch metadata vouches for it.
    let sent = send(
        &visitor,
        s,
        (Method::POST, &format!("{link}/unlock")),
        &Body::Form(&[("password", "listen here")]),
        Some("null"),
        Some("same-origin"),
    )
    .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let signed = both_ways(
        &visitor,
        s,
        (Method::POST, &format!("{link}/play/{track}")),
        Body::None,
        200,
    )
    .await;
    assert!(signed["url"].as_str().unwrap().starts_with("/m/"));
    both_ways(
        c,
        s,
        (
            Method::DELETE,
            &format!("/api/shares/{share_id}/recipients/{ben}"),
        ),
        Body::None,
        200,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::DELETE, &format!("/api/shares/{share_id}")),
        Body::None,
        200,
    )
    .await;
    let trace = both_ways(
        c,
        s,
        (Method::POST, "/api/leaks/trace"),
        Body::Bytes(wav(3.0, 3), &[]),
        200,
    )
    .await;
    assert_eq!(trace["found"], false, "{trace}");

    // The account: settings, password, two-factor set-up, export link, deletion of a track.
    both_ways(
        c,
        s,
        (Method::PATCH, "/api/account/settings"),
        Body::Json(json!({"analysis": false})),
        200,
    )
    .await;
    // The rights: display name, restriction, objection, an address change and its link.
    for (route, body) in [
        ("/api/account/name", json!({"display_name": "Owner"})),
        ("/api/account/restriction", json!({"restricted": false})),
        ("/api/account/objections/stems", json!({"objected": false})),
    ] {
        both_ways(c, s, (Method::PUT, route), Body::Json(body), 200).await;
    }
    both_ways(
        c,
        s,
        (Method::POST, "/api/account/email"),
        Body::Json(json!({"new_email": "new@studio.test", "password": PASSWORD})),
        202,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::POST, "/api/account/email/confirm"),
        Body::Json(json!({"token": "sve_not_a_token"})),
        404,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::POST, "/api/account/totp/setup"),
        Body::Json(json!({"password": PASSWORD})),
        200,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::POST, "/api/account/export/link"),
        Body::Json(json!({"password": PASSWORD})),
        200,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::DELETE, &format!("/api/tracks/{track}")),
        Body::None,
        204,
    )
    .await;
    both_ways(
        c,
        s,
        (Method::POST, "/api/account/password"),
        Body::Json(json!({"current_password": PASSWORD, "new_password": "an even longer studio passphrase"})),
        204,
    )
    .await;
    // The password change ended every session; sign in again, then sign out.
    let again = Owner::new(&server);
    let res = again
        .login(
            "origin@studio.test",
            "an even longer studio passphrase",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    both_ways(
        &again.http,
        s,
        (Method::DELETE, "/api/session"),
        Body::None,
        204,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cookies_are_host_only_and_secure_over_https_and_port_80_redirects_to_a_covered_name() {
    let (https, http) = (free_port(), free_port());
    let server = Server::start_https(
        https,
        http,
        &[
            ("STUDIOVAULT_TLS__MODE", "self-signed"),
            ("STUDIOVAULT_TLS__SELF_SIGNED__NAMES", "[\"127.0.0.1\"]"),
        ],
    );
    server.add_user("cookie@studio.test", "pro");
    let owner = Owner::new(&server);
    let res = owner.login("cookie@studio.test", PASSWORD, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), Version::HTTP_2);
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.starts_with("__Host-sv_session=")
            && cookie.contains("; Path=/;")
            && cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Domain"),
        "{cookie}"
    );
    assert_eq!(owner.get("/api/tracks").await.status(), 200);

    // Port 80 sends a typed http:// address to HTTPS, at a name the certificate covers: a
    // foreign Host is never echoed into the redirect.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for host in ["127.0.0.1", "evil.example"] {
        let res = plain
            .get(format!("http://127.0.0.1:{http}/login?next=1"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 308, "{host}");
        assert_eq!(
            res.headers()["location"].to_str().unwrap(),
            format!("https://127.0.0.1:{https}/login?next=1"),
            "{host}"
        );
        assert!(res.headers().get("set-cookie").is_none());
    }
}

//! The adversarial tenant-isolation suite, over HTTP against the real server: path tricks in
//! every string field, ID swaps across tenants on every endpoint, listing leakage, guessed IDs,
//! other users' and dead sessions' tokens, oversized and truncated bodies. Each `case` line is
//! one attack; the store's own suite (appliance/vault) attacks the adapter directly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use reqwest::Method;
use serde_json::json;
use studiovault_e2e::{Owner, PASSWORD, Server, wav};
use tokio::io::AsyncWriteExt;

struct Tenants {
    server: Server,
    alice: Owner,
    bob: Owner,
    alice_track: String,
    bob_track: String,
}

async fn tenants_with(env: &[(&str, &str)]) -> Tenants {
    let server = Server::start_with(env);
    // Free plans: no analysis, so the only blobs on disk are the uploads themselves.
    server.add_user("alice@studio.test", "free");
    server.add_user("bob@studio.test", "free");
    let alice = Owner::signed_in(&server, "alice@studio.test").await;
    let bob = Owner::signed_in(&server, "bob@studio.test").await;
    let alice_track = alice.upload_ok("Alice unreleased.wav", wav(0.5, 1)).await;
    let bob_track = bob.upload_ok("Bob demo.wav", wav(0.5, 2)).await;
    Tenants {
        server,
        alice,
        bob,
        alice_track,
        bob_track,
    }
}

async fn tenants() -> Tenants {
    tenants_with(&[]).await
}

fn case(name: &str, got: u16, want: u16) {
    assert_eq!(got, want, "case `{name}`: got HTTP {got}, want {want}");
}

async fn alice_still_has_her_track(t: &Tenants) {
    let (status, track) = t
        .alice
        .get_json(&format!("/api/tracks/{}", t.alice_track))
        .await;
    assert_eq!(
        (status, track["name"].as_str()),
        (200, Some("Alice unreleased")),
        "alice's track changed: {track}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn id_swaps_across_tenants_fail_on_every_endpoint() {
    let t = tenants().await;
    let a = &t.alice_track;
    case(
        "get another's track",
        t.bob
            .get(&format!("/api/tracks/{a}"))
            .await
            .status()
            .as_u16(),
        404,
    );
    case(
        "stream another's track",
        t.bob
            .get(&format!("/api/tracks/{a}/audio"))
            .await
            .status()
            .as_u16(),
        404,
    );
    let ranged = t
        .bob
        .http
        .get(t.bob.url(&format!("/api/tracks/{a}/audio")))
        .header("Range", "bytes=0-10")
        .send()
        .await
        .unwrap();
    case("range-read another's track", ranged.status().as_u16(), 404);
    let probing = t
        .bob
        .http
        .get(t.bob.url(&format!("/api/tracks/{a}/audio")))
        .header("If-None-Match", "*")
        .send()
        .await
        .unwrap();
    case(
        "probe another's track with If-None-Match",
        probing.status().as_u16(),
        404,
    );
    case(
        "download another's track",
        t.bob
            .get(&format!("/api/tracks/{a}/audio?download=1"))
            .await
            .status()
            .as_u16(),
        404,
    );
    case(
        "rename another's track",
        t.bob
            .send(
                Method::PATCH,
                &format!("/api/tracks/{a}"),
                Some(json!({"name": "stolen"})),
            )
            .await
            .0,
        404,
    );
    case(
        "delete another's track",
        t.bob
            .send(Method::DELETE, &format!("/api/tracks/{a}"), None)
            .await
            .0,
        404,
    );
    alice_still_has_her_track(&t).await;

    // Bob's own track works, so the 404s above are isolation, not breakage.
    case(
        "own track",
        t.bob
            .get(&format!("/api/tracks/{}", t.bob_track))
            .await
            .status()
            .as_u16(),
        200,
    );

    let (_, me) = t.alice.get_json("/api/session").await;
    let alice_session = me["session_id"].as_str().unwrap_or_default().to_owned();
    case(
        "revoke another's session",
        t.bob
            .send(
                Method::DELETE,
                &format!("/api/sessions/{alice_session}"),
                None,
            )
            .await
            .0,
        404,
    );
    case(
        "alice's session survives",
        t.alice.get("/api/tracks").await.status().as_u16(),
        200,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_show_only_the_callers_tracks() {
    let t = tenants().await;
    for query in [
        "",
        "?sort=name&order=asc",
        "?sort=size&order=desc",
        "?sort=duration",
        "?sort=created&order=asc&limit=500",
        "?q=alice",
        "?q=unreleased",
        "?offset=0&limit=1",
    ] {
        let (status, page) = t.bob.get_json(&format!("/api/tracks{query}")).await;
        assert_eq!(status, 200, "list {query}");
        let ids: Vec<&str> = page["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t["id"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            !ids.contains(&t.alice_track.as_str()),
            "case `listing {query}` leaked alice's track: {page}"
        );
        assert!(
            page["total"].as_u64().unwrap_or(99) <= 1,
            "case `listing {query}` counts another tenant: {page}"
        );
    }
    let (_, far) = t.bob.get_json("/api/tracks?offset=1000000").await;
    assert_eq!(far["items"], json!([]), "case `paging past the end`");
    case(
        "limit 0",
        t.bob.get("/api/tracks?limit=0").await.status().as_u16(),
        400,
    );
    case(
        "limit too large",
        t.bob
            .get("/api/tracks?limit=100000")
            .await
            .status()
            .as_u16(),
        400,
    );
    case(
        "unknown sort",
        t.bob.get("/api/tracks?sort=owner").await.status().as_u16(),
        400,
    );
    case(
        "negative offset",
        t.bob.get("/api/tracks?offset=-1").await.status().as_u16(),
        400,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guessed_and_malformed_ids_learn_nothing() {
    let t = tenants().await;
    let not_mine = t.bob.get(&format!("/api/tracks/{}", t.alice_track)).await;
    let (status, not_mine_body) = (
        not_mine.status().as_u16(),
        not_mine.text().await.unwrap_or_default(),
    );
    let random = format!("{:032x}", rand::random::<u128>());
    for (name, id) in [
        ("random id", random.as_str()),
        ("all zeros", "00000000000000000000000000000000"),
        ("upper-case copy", &t.alice_track.to_uppercase()),
        ("one digit short", &t.alice_track[1..]),
        ("one digit long", &format!("{}0", t.alice_track)),
        ("encoded traversal", "..%2F..%2F..%2Fetc%2Fpasswd"),
        ("NUL byte", "%00"),
    ] {
        let res = t.bob.get(&format!("/api/tracks/{id}")).await;
        let code = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(code, 404, "case `{name}`");
        assert_eq!(
            (code, body.as_str()),
            (status, not_mine_body.as_str()),
            "case `{name}`: answers differ from another tenant's id"
        );
    }
    case(
        "dot-dot",
        t.bob.get("/api/tracks/..").await.status().as_u16(),
        404,
    );
    case(
        "raw traversal in the path",
        t.bob
            .get("/api/tracks/../../../etc/passwd")
            .await
            .status()
            .as_u16(),
        404,
    );
    case(
        "traversal before /audio",
        t.bob
            .get("/api/tracks/%2e%2e%2f%2e%2e/audio")
            .await
            .status()
            .as_u16(),
        404,
    );
    case(
        "traversal as session id",
        t.bob
            .send(Method::DELETE, "/api/sessions/..%2F..%2Fadmin.sock", None)
            .await
            .0,
        404,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn string_fields_never_become_paths() {
    let t = tenants().await;
    let before = t.server.files_under("blobs").len();
    let id = t
        .alice
        .upload_ok("../../../../etc/cron.d/evil.wav", wav(0.2, 3))
        .await;
    let (_, track) = t.alice.get_json(&format!("/api/tracks/{id}")).await;
    assert_eq!(
        (track["name"].as_str(), track["original_filename"].as_str()),
        (Some("evil"), Some("evil.wav")),
        "case `traversal in filename`"
    );
    let id2 = t
        .alice
        .upload_ok("..\\..\\windows\\win.ini.wav", wav(0.2, 4))
        .await;
    let (_, track2) = t.alice.get_json(&format!("/api/tracks/{id2}")).await;
    assert_eq!(
        track2["original_filename"], "win.ini.wav",
        "case `backslash traversal in filename`"
    );
    let crlf = t.alice.upload("line\r\nbreak.wav", wav(0.2, 5)).await;
    case(
        "CR LF in a multipart file name",
        crlf.status().as_u16(),
        400,
    );
    let id3 = t
        .alice
        .upload_ok("Ünreleased \"final\" mix ☢.wav", wav(0.2, 5))
        .await;
    let res = t
        .alice
        .get(&format!("/api/tracks/{id3}/audio?download=1"))
        .await;
    assert_eq!(res.status(), 200, "case `quotes and non-ASCII in filename`");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let fallback = disposition
        .split("filename=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default();
    assert!(
        fallback.is_ascii() && fallback.ends_with("mix _.wav"),
        "case `header-safe filename`: {disposition}"
    );

    let (status, renamed) = t
        .alice
        .send(
            Method::PATCH,
            &format!("/api/tracks/{id}"),
            Some(json!({"name": "../../../etc/shadow"})),
        )
        .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("../../../etc/shadow")),
        "case `traversal in new name is just text`"
    );

    let form = reqwest::multipart::Form::new()
        .text("name", "../../admin.sock")
        .part(
            "file",
            reqwest::multipart::Part::bytes(wav(0.2, 6)).file_name("x.wav"),
        );
    let res = t
        .alice
        .http
        .post(t.alice.url("/api/tracks"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    case("traversal in the name field", res.status().as_u16(), 201);

    // Every stored file name is a server-generated id.
    let blobs = t.server.files_under("blobs");
    assert_eq!(blobs.len(), before + 4);
    for path in &blobs {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(
            name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()),
            "case `blob names`: {}",
            path.display()
        );
        assert!(path.starts_with(t.server.data_dir().join("blobs")));
    }
    case(
        "traversal in a sign-in e-mail",
        Owner::new(&t.server)
            .login("../../etc/passwd", PASSWORD, None)
            .await
            .status()
            .as_u16(),
        401,
    );
    let shown = t.server.cli(&["user", "show", "../../etc/passwd"], None);
    assert!(
        !shown.status.success() && String::from_utf8_lossy(&shown.stderr).contains("no such user"),
        "case `traversal in an admin lookup`"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_forged_and_dead_tokens_are_refused() {
    let t = tenants().await;
    let anonymous = Owner::new(&t.server);
    for (method, path) in [
        (Method::GET, "/api/tracks".to_owned()),
        (Method::GET, format!("/api/tracks/{}", t.alice_track)),
        (Method::GET, format!("/api/tracks/{}/audio", t.alice_track)),
        (Method::PATCH, format!("/api/tracks/{}", t.alice_track)),
        (Method::DELETE, format!("/api/tracks/{}", t.alice_track)),
        (Method::GET, "/api/session".to_owned()),
        (Method::GET, "/api/sessions".to_owned()),
        (Method::POST, "/api/account/password".to_owned()),
    ] {
        let body = (method != Method::GET)
            .then(|| json!({"name": "x", "current_password": "x", "new_password": "y"}));
        let (status, err) = anonymous.send(method.clone(), &path, body).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("unauthenticated")),
            "case `no session: {method} {path}`"
        );
    }
    let upload = anonymous.upload("x.wav", wav(0.1, 1)).await;
    case("no session: upload", upload.status().as_u16(), 401);

    let with_token = |token: String| {
        let client = reqwest::Client::new();
        let url = t.server.url("/api/tracks");
        async move {
            client
                .get(url)
                .header("Cookie", format!("sv_session={token}"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let (_, me) = t.alice.get_json("/api/session").await;
    let session_id = me["session_id"].as_str().unwrap_or_default().to_owned();
    case(
        "a session id is not a token",
        with_token(session_id.clone()).await,
        401,
    );
    case(
        "token of the right shape, never issued",
        with_token("A".repeat(43)).await,
        401,
    );
    case("token too long", with_token("A".repeat(4096)).await, 401);
    let bearer = reqwest::Client::new()
        .get(t.server.url("/api/tracks"))
        .bearer_auth(&session_id)
        .send()
        .await
        .unwrap();
    case(
        "session id as a bearer token",
        bearer.status().as_u16(),
        401,
    );

    // Signed out: the old cookie is dead.
    let leaving = Owner::signed_in(&t.server, "bob@studio.test").await;
    let stolen = leaving
        .http
        .get(leaving.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 200);
    case(
        "sign out",
        leaving.send(Method::DELETE, "/api/session", None).await.0,
        204,
    );
    case(
        "token after sign-out",
        leaving.get("/api/tracks").await.status().as_u16(),
        401,
    );

    // Revoked by an admin, and suspended accounts.
    t.server
        .cli_ok(&["user", "sessions", "revoke", "bob@studio.test"], None);
    case(
        "token after admin revocation",
        t.bob.get("/api/tracks").await.status().as_u16(),
        401,
    );
    let bob = Owner::signed_in(&t.server, "bob@studio.test").await;
    t.server
        .cli_ok(&["user", "suspend", "bob@studio.test"], None);
    case(
        "token of a suspended account",
        bob.get("/api/tracks").await.status().as_u16(),
        401,
    );
    case(
        "sign-in of a suspended account",
        Owner::new(&t.server)
            .login("bob@studio.test", PASSWORD, None)
            .await
            .status()
            .as_u16(),
        403,
    );
    t.server
        .cli_ok(&["user", "resume", "bob@studio.test"], None);
    case(
        "old token after resume",
        bob.get("/api/tracks").await.status().as_u16(),
        401,
    );

    // Cross-site requests riding on the cookie.
    let cross = t
        .alice
        .http
        .patch(t.alice.url(&format!("/api/tracks/{}", t.alice_track)))
        .header("Origin", "https://evil.example")
        .json(&json!({"name": "pwned"}))
        .send()
        .await
        .unwrap();
    case("cross-origin write", cross.status().as_u16(), 403);
    alice_still_has_her_track(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_accounts_tokens_die_and_their_data_is_purged() {
    let mut t = tenants_with(&[("STUDIOVAULT_ACCOUNTS__DELETION_GRACE_DAYS", "0")]).await;
    let (_, me) = t.bob.get_json("/api/session").await;
    let bob_id = me["user_id"].as_str().unwrap_or_default().to_owned();
    let (status, scheduled) = t
        .bob
        .send(
            Method::POST,
            "/api/account/delete",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 202, "{scheduled}");
    case(
        "token after a deletion request",
        t.bob.get("/api/tracks").await.status().as_u16(),
        401,
    );
    case(
        "sign-in after a deletion request",
        Owner::new(&t.server)
            .login("bob@studio.test", PASSWORD, None)
            .await
            .status()
            .as_u16(),
        403,
    );
    // Housekeeping runs at start-up: with no grace the account is purged.
    t.server.restart();
    case(
        "token of a purged account",
        t.bob.get("/api/tracks").await.status().as_u16(),
        401,
    );
    case(
        "sign-in of a purged account",
        Owner::new(&t.server)
            .login("bob@studio.test", PASSWORD, None)
            .await
            .status()
            .as_u16(),
        401,
    );
    assert!(
        t.server.files_under(&format!("blobs/{bob_id}")).is_empty(),
        "case `purged blobs`"
    );
    let alice = Owner::signed_in(&t.server, "alice@studio.test").await;
    case(
        "other tenants are untouched by a purge",
        alice
            .get(&format!("/api/tracks/{}/audio", t.alice_track))
            .await
            .status()
            .as_u16(),
        200,
    );
    t.alice = alice;
    alice_still_has_her_track(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_truncated_bodies_store_nothing() {
    let t = tenants_with(&[("STUDIOVAULT_HTTP__MAX_UPLOAD_BYTES", "200000")]).await;
    let stored = t.server.files_under("blobs").len();

    let big = reqwest::Client::new()
        .post(t.server.url("/api/session"))
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap();
    case("oversized JSON sign-in", big.status().as_u16(), 413);
    let (status, _) = t
        .alice
        .send(
            Method::PATCH,
            &format!("/api/tracks/{}", t.alice_track),
            Some(json!({"name": "x".repeat(100_000)})),
        )
        .await;
    case("oversized rename", status, 413);
    let (status, err) = t
        .alice
        .send(
            Method::PATCH,
            &format!("/api/tracks/{}", t.alice_track),
            Some(json!({"name": "ok", "owner": "bob"})),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("bad_request")),
        "case `unknown JSON field`"
    );
    let garbled = t
        .alice
        .http
        .patch(t.alice.url(&format!("/api/tracks/{}", t.alice_track)))
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    case("truncated JSON", garbled.status().as_u16(), 400);

    // Too large by its Content-Length: refused before a byte of the body is read, with the
    // reason, while the client still holds the rest.
    let token = t.alice_cookie().await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", t.server.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sv_session={token}\r\nContent-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 600000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut answer)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(
        answer.starts_with("HTTP/1.1 413") && answer.contains("\"too_large\""),
        "case `upload over the size limit`: {answer}"
    );
    drop(stream);

    let raw = t
        .alice
        .http
        .post(t.alice.url("/api/tracks"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("this is not multipart at all")
        .send()
        .await
        .unwrap();
    case("garbage multipart", raw.status().as_u16(), 400);
    let wrong_type = t
        .alice
        .http
        .post(t.alice.url("/api/tracks"))
        .header("content-type", "audio/wav")
        .body(wav(0.1, 1))
        .send()
        .await
        .unwrap();
    case(
        "upload without multipart",
        wrong_type.status().as_u16(),
        415,
    );
    let no_file = t
        .alice
        .http
        .post(t.alice.url("/api/tracks"))
        .multipart(reqwest::multipart::Form::new().text("name", "x"))
        .send()
        .await
        .unwrap();
    case("multipart without a file", no_file.status().as_u16(), 400);

    // A body cut off mid-way: the connection drops after half of what Content-Length promised.
    let (_, me) = t.alice.get_json("/api/session").await;
    assert_eq!(me["email"], "alice@studio.test");
    let token = t.alice_cookie().await;
    let mut body = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.wav\"\r\nContent-Type: audio/wav\r\n\r\n".to_vec();
    body.extend(wav(1.0, 9));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", t.server.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sv_session={token}\r\nContent-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {}\r\n\r\n",
        body.len() + 100
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    // The server notices the cut and clears the upload's temporary file, in its own time.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !t.server.files_under("tmp").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    assert_eq!(
        t.server.files_under("blobs").len(),
        stored,
        "case `nothing stored from refused uploads`"
    );
    assert!(
        t.server.files_under("tmp").is_empty(),
        "case `no temp files left`"
    );
    let (_, page) = t.alice.get_json("/api/tracks").await;
    assert_eq!(page["total"], 1, "case `library unchanged`: {page}");
    case(
        "server still healthy",
        t.alice.get("/api/health").await.status().as_u16(),
        200,
    );
}

impl Tenants {
    /// Alice's raw session token, as a browser would hold it.
    async fn alice_cookie(&self) -> String {
        let owner = Owner::new(&self.server);
        let res = owner.login("alice@studio.test", PASSWORD, None).await;
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        cookie
            .trim_start_matches("sv_session=")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

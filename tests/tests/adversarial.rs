//! The adversarial suite on the owners' API, over HTTP against the real server (issue 18):
//! every route without credentials and with other surfaces' credentials, another owner's ids on
//! every id-bearing route, dead and fixed sessions, hostile strings echoed back, caching,
//! internal errors, cross-site writes over HTTP/1.1 and HTTP/2, oversized bodies, and the
//! admin socket. Each `"name", METHOD, "/path"` is one case (see `adversarial_inventory.rs`);
//! the portal's cases are in `adversarial_portal.rs`, the worker API's in
//! `adversarial_workers.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use studiovault_e2e::attack::{Arena, DELETE, GET, HEAD, PATCH, POST, PUT, atk};
use studiovault_e2e::workers::enrol;
use studiovault_e2e::{Owner, PASSWORD, Server, free_port, wav};

/// Two owners with a track, a share, an open upload, a breach notice and an export link each
/// (alice's), a stem worker's token, and the raw tokens of both sessions.
struct World {
    server: Server,
    arena: Arena,
    alice: Owner,
}

/// Signs in with a fresh client; answers it and the raw session token its cookie holds.
async fn sign_in(server: &Server, email: &str) -> (Owner, String) {
    let owner = Owner::new(server);
    let res = owner.login(email, PASSWORD, None).await;
    assert_eq!(res.status(), 200, "sign-in of {email}");
    let token = studiovault_e2e::session_token_of(&res);
    (owner, token)
}

async fn post_ok(owner: &Owner, path: &str, body: Value, want: u16) -> Value {
    let (status, answer) = owner.send(reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(status, want, "{path}: {answer}");
    answer
}

async fn world_on(server: Server) -> World {
    server.add_user("alice@studio.test", "pro");
    server.add_user("bob@studio.test", "pro");
    let (alice, alice_token) = sign_in(&server, "alice@studio.test").await;
    let (bob, bob_token) = sign_in(&server, "bob@studio.test").await;
    let arena = Arena::new(&server);
    let cookie = if server.is_https() {
        "__Host-sv_session"
    } else {
        "sv_session"
    };
    arena.set("cookie", cookie);
    arena.set("alice_token", alice_token);
    arena.set("bob_token", bob_token);
    let (_, me) = alice.get_json("/api/session").await;
    arena.set("alice_session", me["session_id"].as_str().unwrap());
    arena.set("alice_id", me["user_id"].as_str().unwrap());

    let alice_track = alice.upload_ok("Alice unreleased.wav", wav(0.5, 1)).await;
    let bob_track = bob.upload_ok("Bob demo.wav", wav(0.5, 2)).await;
    arena.set("alice_track", alice_track.clone());
    arena.set("bob_track", bob_track.clone());
    for (owner, track, var_share, var_recipient, var_link) in [
        (
            &alice,
            &alice_track,
            "alice_share",
            "alice_recipient",
            "alice_link",
        ),
        (&bob, &bob_track, "bob_share", "bob_recipient", "bob_link"),
    ] {
        let share = post_ok(
            owner,
            "/api/shares",
            json!({"title": "Preview", "tracks": [track], "recipients": [{"name": "Ana"}],
                   "allow_download": true}),
            201,
        )
        .await;
        arena.set(var_share, share["id"].as_str().unwrap());
        if var_share == "alice_share" {
            arena.set("alice_share_expiry", share["expires_at"].to_string());
        }
        arena.set(
            var_recipient,
            share["recipients"][0]["id"].as_str().unwrap(),
        );
        let link = share["recipients"][0]["link"].as_str().unwrap();
        arena.set(var_link, link.trim_start_matches("/s/"));
    }
    let upload = post_ok(
        &alice,
        "/api/uploads",
        json!({"filename": "half.wav", "size": 1000}),
        201,
    )
    .await;
    arena.set("alice_upload", upload["id"].as_str().unwrap());
    let export = post_ok(
        &alice,
        "/api/account/export/link",
        json!({"password": PASSWORD}),
        200,
    )
    .await;
    let url = export["url"].as_str().unwrap();
    arena.set("alice_export", url.rsplit('/').next().unwrap());
    arena.set("worker_token", enrol(&server, "adversary"));

    // A breach notice sent to alice alone.
    let created: Value =
        serde_json::from_str(&server.cli_ok(&["incident", "new", "Test breach", "--json"], None))
            .unwrap();
    let incident = created["id"].as_str().unwrap().to_owned();
    server.cli_ok(&["incident", "confirm", &incident], None);
    server.cli_ok(
        &[
            "incident",
            "affected",
            &incident,
            "--account",
            "alice@studio.test",
        ],
        None,
    );
    server.cli_ok(
        &[
            "incident",
            "notify",
            &incident,
            "--what-happened",
            "A test.",
            "--data-affected",
            "None.",
            "--containment",
            "None needed.",
            "--user-action",
            "Nothing.",
            "--contact",
            "admin@studio.test",
        ],
        None,
    );
    let (_, notices) = alice.get_json("/api/notices").await;
    arena.set("alice_notice", notices[0]["id"].as_str().unwrap());
    World {
        server,
        arena,
        alice,
    }
}

async fn world() -> World {
    world_on(Server::start()).await
}

/// Alice's things are all as they were: her track, share, recipient, upload and notice.
async fn alice_is_intact(w: &World) {
    let a = &w.arena;
    let (status, track) = w
        .alice
        .get_json(&format!("/api/tracks/{}", a.var("alice_track")))
        .await;
    assert_eq!(
        (status, track["name"].as_str()),
        (200, Some("Alice unreleased")),
        "alice's track changed: {track}"
    );
    let (status, share) = w
        .alice
        .get_json(&format!("/api/shares/{}", a.var("alice_share")))
        .await;
    assert_eq!(status, 200, "{share}");
    assert_eq!(share["status"], "active", "alice's share changed: {share}");
    assert_eq!(
        share["expires_at"],
        a.var("alice_share_expiry").parse::<i64>().unwrap(),
        "alice's share's expiry changed: {share}"
    );
    assert!(
        share["recipients"][0]["revoked_at"].is_null(),
        "alice's recipient was revoked: {share}"
    );
    let (status, upload) = w
        .alice
        .get_json(&format!("/api/uploads/{}", a.var("alice_upload")))
        .await;
    assert_eq!((status, &upload["offset"]), (200, &json!(0)), "{upload}");
    let (_, notices) = w.alice.get_json("/api/notices").await;
    assert_eq!(notices.as_array().map(Vec::len), Some(1), "{notices}");
    assert_eq!(
        w.alice.get("/api/tracks").await.status(),
        200,
        "alice's session died"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_owner_route_refuses_a_caller_without_credentials() {
    let w = world().await;
    let a = &w.arena;
    let u = "unauthenticated";
    atk("session/me: no credentials", GET, "/api/session")
        .is(a, 401, u)
        .await;
    atk("session/logout: no credentials", DELETE, "/api/session")
        .is(a, 401, u)
        .await;
    atk("sessions/list: no credentials", GET, "/api/sessions")
        .is(a, 401, u)
        .await;
    atk(
        "sessions/revoke: no credentials",
        DELETE,
        "/api/sessions/{alice_session}",
    )
    .is(a, 401, u)
    .await;
    atk("activity: no credentials", GET, "/api/account/activity")
        .is(a, 401, u)
        .await;
    atk("accessed: no credentials", GET, "/api/account/accessed")
        .is(a, 401, u)
        .await;
    atk(
        "password change: no credentials",
        POST,
        "/api/account/password",
    )
    .json(json!({"current_password": PASSWORD, "new_password": "another long passphrase"}))
    .is(a, 401, u)
    .await;
    atk(
        "totp setup: no credentials",
        POST,
        "/api/account/totp/setup",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 401, u)
    .await;
    atk(
        "totp enable: no credentials",
        POST,
        "/api/account/totp/enable",
    )
    .json(json!({"code": "123456"}))
    .is(a, 401, u)
    .await;
    atk(
        "totp disable: no credentials",
        POST,
        "/api/account/totp/disable",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 401, u)
    .await;
    atk(
        "account delete: no credentials",
        POST,
        "/api/account/delete",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 401, u)
    .await;
    atk("settings: no credentials", PATCH, "/api/account/settings")
        .json(json!({"analysis": false}))
        .is(a, 401, u)
        .await;
    atk("display name: no credentials", PUT, "/api/account/name")
        .json(json!({"display_name": "x"}))
        .is(a, 401, u)
        .await;
    atk(
        "restriction: no credentials",
        PUT,
        "/api/account/restriction",
    )
    .json(json!({"restricted": true}))
    .is(a, 401, u)
    .await;
    atk(
        "objection: no credentials",
        PUT,
        "/api/account/objections/analysis",
    )
    .json(json!({"objected": true}))
    .is(a, 401, u)
    .await;
    atk("email change: no credentials", POST, "/api/account/email")
        .json(json!({"new_email": "evil@studio.test", "password": PASSWORD}))
        .is(a, 401, u)
        .await;
    atk(
        "email change cancel: no credentials",
        DELETE,
        "/api/account/email",
    )
    .is(a, 401, u)
    .await;
    atk("export: no credentials", POST, "/api/account/export")
        .json(json!({"password": PASSWORD}))
        .is(a, 401, u)
        .await;
    atk(
        "export link: no credentials",
        POST,
        "/api/account/export/link",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 401, u)
    .await;
    atk(
        "export follow: alice's link without her session",
        GET,
        "/api/account/export/{alice_export}",
    )
    .is(a, 401, u)
    .await;
    atk("tracks/upload: no credentials", POST, "/api/tracks")
        .raw(b"--x\r\n".to_vec(), "multipart/form-data; boundary=x")
        .is(a, 401, u)
        .await;
    atk("tracks/list: no credentials", GET, "/api/tracks")
        .is(a, 401, u)
        .await;
    atk(
        "tracks/get: no credentials",
        GET,
        "/api/tracks/{alice_track}",
    )
    .is(a, 401, u)
    .await;
    atk(
        "tracks/rename: no credentials",
        PATCH,
        "/api/tracks/{alice_track}",
    )
    .json(json!({"name": "stolen"}))
    .is(a, 401, u)
    .await;
    atk(
        "tracks/delete: no credentials",
        DELETE,
        "/api/tracks/{alice_track}",
    )
    .is(a, 401, u)
    .await;
    atk(
        "tracks/audio: no credentials",
        GET,
        "/api/tracks/{alice_track}/audio",
    )
    .is(a, 401, u)
    .await;
    atk(
        "tracks/audio head: no credentials",
        HEAD,
        "/api/tracks/{alice_track}/audio",
    )
    .is(a, 401, "")
    .await;
    atk(
        "tracks/peaks: no credentials",
        GET,
        "/api/tracks/{alice_track}/peaks",
    )
    .is(a, 401, u)
    .await;
    atk(
        "tracks/melody: no credentials",
        GET,
        "/api/tracks/{alice_track}/melody.mid",
    )
    .is(a, 401, u)
    .await;
    atk(
        "stems/view: no credentials",
        GET,
        "/api/tracks/{alice_track}/stems",
    )
    .is(a, 401, u)
    .await;
    atk(
        "stems/request: no credentials",
        POST,
        "/api/tracks/{alice_track}/stems",
    )
    .is(a, 401, u)
    .await;
    atk(
        "stems/cancel: no credentials",
        POST,
        "/api/tracks/{alice_track}/stems/cancel",
    )
    .is(a, 401, u)
    .await;
    atk(
        "stems/archive: no credentials",
        GET,
        "/api/tracks/{alice_track}/stems.tar",
    )
    .is(a, 401, u)
    .await;
    atk("uploads/create: no credentials", POST, "/api/uploads")
        .json(json!({"filename": "x.wav", "size": 10}))
        .is(a, 401, u)
        .await;
    atk(
        "uploads/status: no credentials",
        GET,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 401, u)
    .await;
    atk(
        "uploads/head: no credentials",
        HEAD,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 401, "")
    .await;
    atk(
        "uploads/append: no credentials",
        PATCH,
        "/api/uploads/{alice_upload}",
    )
    .header("upload-offset", "0")
    .raw(vec![0; 10], "application/offset+octet-stream")
    .is(a, 401, u)
    .await;
    atk(
        "uploads/abort: no credentials",
        DELETE,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 401, u)
    .await;
    atk("shares/create: no credentials", POST, "/api/shares")
        .json(json!({"tracks": [a.var("alice_track")], "recipients": [{"name": "x"}]}))
        .is(a, 401, u)
        .await;
    atk("shares/list: no credentials", GET, "/api/shares")
        .is(a, 401, u)
        .await;
    atk(
        "shares/get: no credentials",
        GET,
        "/api/shares/{alice_share}",
    )
    .is(a, 401, u)
    .await;
    atk(
        "shares/update: no credentials",
        PATCH,
        "/api/shares/{alice_share}",
    )
    .json(json!({"expires_at": 1}))
    .is(a, 401, u)
    .await;
    atk(
        "shares/revoke: no credentials",
        DELETE,
        "/api/shares/{alice_share}",
    )
    .is(a, 401, u)
    .await;
    atk(
        "shares/revoke recipient: no credentials",
        DELETE,
        "/api/shares/{alice_share}/recipients/{alice_recipient}",
    )
    .is(a, 401, u)
    .await;
    atk("leaks/trace: no credentials", POST, "/api/leaks/trace")
        .raw(wav(0.2, 1), "application/octet-stream")
        .is(a, 401, u)
        .await;
    atk("notices/list: no credentials", GET, "/api/notices")
        .is(a, 401, u)
        .await;
    atk(
        "notices/dismiss: no credentials",
        POST,
        "/api/notices/{alice_notice}/dismiss",
    )
    .is(a, 401, u)
    .await;
    let health = atk(
        "health: a stranger learns the version and nothing else",
        GET,
        "/api/health",
    )
    .is(a, 200, "")
    .await;
    let keys: Vec<&String> = health
        .json
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["status", "version"], "{}", health.text());
    alice_is_intact(&w).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_surfaces_credentials_open_nothing_on_the_owners_api() {
    let w = world().await;
    let a = &w.arena;
    let u = "unauthenticated";
    // A stem worker's token is a bearer token too, of another kind.
    atk("tracks/list: a worker token as bearer", GET, "/api/tracks")
        .bearer("{worker_token}")
        .is(a, 401, u)
        .await;
    atk(
        "tracks/get: a worker token as bearer",
        GET,
        "/api/tracks/{alice_track}",
    )
    .bearer("{worker_token}")
    .is(a, 401, u)
    .await;
    atk(
        "tracks/audio: a worker token as bearer",
        GET,
        "/api/tracks/{alice_track}/audio?download=1",
    )
    .bearer("{worker_token}")
    .is(a, 401, u)
    .await;
    atk(
        "stems/archive: a worker token as bearer",
        GET,
        "/api/tracks/{bob_track}/stems.tar",
    )
    .bearer("{worker_token}")
    .is(a, 401, u)
    .await;
    atk(
        "session/me: a worker token as the session cookie",
        GET,
        "/api/session",
    )
    .cookie("{cookie}", "{worker_token}")
    .is(a, 401, u)
    .await;
    atk("shares/list: a worker token as bearer", GET, "/api/shares")
        .bearer("{worker_token}")
        .is(a, 401, u)
        .await;
    atk(
        "uploads/create: a worker token as bearer",
        POST,
        "/api/uploads",
    )
    .bearer("{worker_token}")
    .json(json!({"filename": "x.wav", "size": 10}))
    .is(a, 401, u)
    .await;
    atk(
        "leaks/trace: a worker token as bearer",
        POST,
        "/api/leaks/trace",
    )
    .bearer("{worker_token}")
    .raw(wav(0.2, 1), "application/octet-stream")
    .is(a, 401, u)
    .await;
    atk(
        "account/accessed: a worker token as bearer",
        GET,
        "/api/account/accessed",
    )
    .bearer("{worker_token}")
    .is(a, 401, u)
    .await;
    atk(
        "export link: a worker token as bearer",
        POST,
        "/api/account/export/link",
    )
    .bearer("{worker_token}")
    .json(json!({"password": PASSWORD}))
    .is(a, 401, u)
    .await;
    // A recipient's share link, and alice's own capabilities, are no session.
    atk(
        "tracks/list: a share link token as the session cookie",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", "{alice_link}")
    .is(a, 401, u)
    .await;
    atk(
        "shares/get: a share link token as bearer",
        GET,
        "/api/shares/{alice_share}",
    )
    .bearer("{alice_link}")
    .is(a, 401, u)
    .await;
    atk(
        "sessions/list: an export link token as bearer",
        GET,
        "/api/sessions",
    )
    .bearer("{alice_export}")
    .is(a, 401, u)
    .await;
    atk(
        "notices/list: a session id as the session cookie",
        GET,
        "/api/notices",
    )
    .cookie("{cookie}", "{alice_session}")
    .is(a, 401, u)
    .await;
    atk(
        "tracks/peaks: a user id as bearer",
        GET,
        "/api/tracks/{alice_track}/peaks",
    )
    .bearer("{alice_id}")
    .is(a, 401, u)
    .await;
    atk(
        "email confirm: a share link token as the address-change token",
        POST,
        "/api/account/email/confirm",
    )
    .json(json!({"token": a.var("alice_link")}))
    .is(a, 404, "link_invalid")
    .await;
    atk(
        "email confirm: a session token as the address-change token",
        POST,
        "/api/account/email/confirm",
    )
    .json(json!({"token": a.var("alice_token")}))
    .is(a, 404, "link_invalid")
    .await;
    atk(
        "email confirm: an empty token",
        POST,
        "/api/account/email/confirm",
    )
    .json(json!({"token": ""}))
    .is(a, 404, "link_invalid")
    .await;
    atk(
        "export follow: a share link token as the export link",
        GET,
        "/api/account/export/{alice_link}",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 403, "forbidden")
    .await;
    atk(
        "export follow: a session token as the export link",
        GET,
        "/api/account/export/{alice_token}",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 403, "forbidden")
    .await;
    // Forged and malformed session tokens.
    atk(
        "tracks/list: a bearer scheme in lower case",
        GET,
        "/api/tracks",
    )
    .header("authorization", "bearer {alice_token}")
    .is(a, 401, u)
    .await;
    atk(
        "tracks/list: basic auth with alice's password",
        GET,
        "/api/tracks",
    )
    .header(
        "authorization",
        "Basic YWxpY2VAc3R1ZGlvLnRlc3Q6YSBsb25nIHN0dWRpbyBwYXNzcGhyYXNl",
    )
    .is(a, 401, u)
    .await;
    atk(
        "tracks/list: alice's token with one character changed",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", &flip_last(&a.var("alice_token")))
    .is(a, 401, u)
    .await;
    atk("tracks/list: alice's token truncated", GET, "/api/tracks")
        .cookie("{cookie}", &a.var("alice_token")[..20])
        .is(a, 401, u)
        .await;
    atk(
        "tracks/list: alice's token with a suffix",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", &format!("{}A", a.var("alice_token")))
    .is(a, 401, u)
    .await;
    atk("tracks/list: an empty session cookie", GET, "/api/tracks")
        .cookie("{cookie}", "")
        .is(a, 401, u)
        .await;
    // A dead cookie is not rescued by a good bearer token, nor the other way round: the cookie
    // is read first, and a dead one is refused outright.
    atk(
        "tracks/list: a forged cookie beside bob's bearer token",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", "forged")
    .bearer("{bob_token}")
    .is(a, 401, u)
    .await;
    let own = atk(
        "tracks/list: bob's bearer token alone lists only bob's",
        GET,
        "/api/tracks?limit=500",
    )
    .bearer("{bob_token}")
    .is(a, 200, "")
    .await;
    assert_eq!(own.json["total"], 1, "{}", own.text());
    assert_eq!(
        own.json["items"][0]["id"].as_str(),
        Some(a.var("bob_track").as_str())
    );
    alice_is_intact(&w).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn flip_last(token: &str) -> String {
    let mut t = token.to_owned();
    let last = t.pop().unwrap_or('A');
    t.push(if last == 'A' { 'B' } else { 'A' });
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn another_owners_ids_reach_nothing_on_any_route() {
    let w = world().await;
    let a = &w.arena;
    let nf = "not_found";
    let bob = |name, method, path| atk(name, method, path).cookie("{cookie}", "{bob_token}");
    bob(
        "idor tracks/get: bob on alice's track",
        GET,
        "/api/tracks/{alice_track}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor tracks/rename: bob on alice's track",
        PATCH,
        "/api/tracks/{alice_track}",
    )
    .json(json!({"name": "stolen"}))
    .is(a, 404, nf)
    .await;
    bob(
        "idor tracks/delete: bob on alice's track",
        DELETE,
        "/api/tracks/{alice_track}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor tracks/audio: bob downloads alice's track",
        GET,
        "/api/tracks/{alice_track}/audio?download=1",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor tracks/audio: bob range-reads alice's track",
        GET,
        "/api/tracks/{alice_track}/audio",
    )
    .header("range", "bytes=0-3")
    .is(a, 404, nf)
    .await;
    bob(
        "idor tracks/audio head: bob on alice's track",
        HEAD,
        "/api/tracks/{alice_track}/audio",
    )
    .is(a, 404, "")
    .await;
    bob(
        "idor tracks/peaks: bob on alice's track",
        GET,
        "/api/tracks/{alice_track}/peaks",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor tracks/melody: bob on alice's track",
        GET,
        "/api/tracks/{alice_track}/melody.mid",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor stems/view: bob on alice's track",
        GET,
        "/api/tracks/{alice_track}/stems",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor stems/request: bob on alice's track",
        POST,
        "/api/tracks/{alice_track}/stems",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor stems/cancel: bob on alice's track",
        POST,
        "/api/tracks/{alice_track}/stems/cancel",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor stems/archive: bob on alice's track",
        GET,
        "/api/tracks/{alice_track}/stems.tar",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor shares/get: bob on alice's share",
        GET,
        "/api/shares/{alice_share}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor shares/update: bob extends alice's share",
        PATCH,
        "/api/shares/{alice_share}",
    )
    .json(json!({"expires_at": now_ms() + 86_400_000}))
    .is(a, 404, nf)
    .await;
    bob(
        "idor shares/revoke: bob on alice's share",
        DELETE,
        "/api/shares/{alice_share}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor shares/revoke recipient: bob on alice's share and recipient",
        DELETE,
        "/api/shares/{alice_share}/recipients/{alice_recipient}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor shares/revoke recipient: alice's recipient under bob's own share",
        DELETE,
        "/api/shares/{bob_share}/recipients/{alice_recipient}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor shares/create: bob shares alice's track",
        POST,
        "/api/shares",
    )
    .json(json!({"tracks": [a.var("alice_track")], "recipients": [{"name": "leak"}]}))
    .is(a, 400, "invalid_input")
    .await;
    bob("idor shares/create: alice's track hidden after bob's own", POST, "/api/shares")
        .json(json!({"tracks": [a.var("bob_track"), a.var("alice_track")], "recipients": [{"name": "leak"}]}))
        .is(a, 400, "invalid_input")
        .await;
    bob(
        "idor uploads/status: bob on alice's upload",
        GET,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor uploads/head: bob on alice's upload",
        HEAD,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 404, "")
    .await;
    bob(
        "idor uploads/append: bob writes into alice's upload",
        PATCH,
        "/api/uploads/{alice_upload}",
    )
    .header("upload-offset", "0")
    .raw(vec![0; 10], "application/offset+octet-stream")
    .is(a, 404, nf)
    .await;
    bob(
        "idor uploads/abort: bob on alice's upload",
        DELETE,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor sessions/revoke: bob ends alice's session",
        DELETE,
        "/api/sessions/{alice_session}",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor notices/dismiss: bob dismisses alice's notice",
        POST,
        "/api/notices/{alice_notice}/dismiss",
    )
    .is(a, 404, nf)
    .await;
    bob(
        "idor export follow: bob follows alice's export link",
        GET,
        "/api/account/export/{alice_export}",
    )
    .is(a, 403, "forbidden")
    .await;
    let notices = bob(
        "idor notices/list: bob sees none of alice's notices",
        GET,
        "/api/notices",
    )
    .is(a, 200, "")
    .await;
    assert_eq!(notices.json, json!([]), "{}", notices.text());
    let sessions = bob(
        "idor sessions/list: bob sees only his own sessions",
        GET,
        "/api/sessions",
    )
    .is(a, 200, "")
    .await;
    assert!(
        !sessions.text().contains(&a.var("alice_session")),
        "{}",
        sessions.text()
    );
    let activity = bob(
        "idor activity: bob's activity names nothing of alice's",
        GET,
        "/api/account/activity?limit=500",
    )
    .is(a, 200, "")
    .await;
    for secret in ["alice_track", "alice_share", "alice_id", "alice_session"] {
        assert!(!activity.text().contains(&a.var(secret)), "{secret} leaked");
    }
    let accessed = bob(
        "idor accessed: bob's access view names nothing of alice's",
        GET,
        "/api/account/accessed",
    )
    .is(a, 200, "")
    .await;
    assert!(!accessed.text().contains(&a.var("alice_track")));
    let trace = bob(
        "idor leaks/trace: bob traces audio from alice's share",
        POST,
        "/api/leaks/trace",
    )
    .raw(wav(0.5, 1), "application/octet-stream")
    .is(a, 200, "")
    .await;
    assert_eq!(trace.json["found"], false, "{}", trace.text());
    bob(
        "idor objection: a purpose that is a path",
        PUT,
        "/api/account/objections/..%2F..%2Fanalysis",
    )
    .json(json!({"objected": true}))
    .is(a, 404, "unknown_purpose")
    .await;
    // Alice still has everything, and her export link still works once.
    alice_is_intact(&w).await;
    // The link is the asking session's: alice's other session (one a thief may hold, without
    // her password) cannot spend it.
    let (_, other) = sign_in(&w.server, "alice@studio.test").await;
    a.set("alice_other_token", other);
    atk(
        "export follow: alice's link from her other session",
        GET,
        "/api/account/export/{alice_export}",
    )
    .cookie("{cookie}", "{alice_other_token}")
    .is(a, 403, "forbidden")
    .await;
    let archive = atk(
        "export follow: alice's own link, after bob tried it",
        GET,
        "/api/account/export/{alice_export}",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 200, "")
    .await;
    assert!(archive.bytes.len() > 1024, "{}", archive.bytes.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_cannot_be_fixed_and_die_when_ended() {
    let w = world().await;
    let a = &w.arena;
    let u = "unauthenticated";
    // Fixation: a cookie the attacker planted before sign-in is never the session.
    let fixed = "attacker-chosen-token-aaaaaaaaaaaaaaaaaaaaaaa";
    let login = atk(
        "session/login: with a planted session cookie",
        POST,
        "/api/session",
    )
    .cookie("{cookie}", fixed)
    .json(json!({"email": "bob@studio.test", "password": PASSWORD}))
    .is(a, 200, "")
    .await;
    let issued = studiovault_e2e::cookie_set_by(&login.headers).unwrap_or_default();
    a.check(
        "session/login: a fresh 256-bit token, not the planted one",
        issued != fixed && issued.len() >= 43,
        format!("issued {issued:?}"),
    );
    let mut tokens = std::collections::HashSet::new();
    for _ in 0..20 {
        tokens.insert(sign_in(&w.server, "bob@studio.test").await.1);
    }
    a.check(
        "session/login: twenty sign-ins, twenty distinct 256-bit tokens",
        tokens.len() == 20
            && tokens.iter().all(|t| {
                t.len() == 43
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }),
        format!("{tokens:?}"),
    );
    atk(
        "session/me: the planted cookie after sign-in",
        GET,
        "/api/session",
    )
    .cookie("{cookie}", fixed)
    .is(a, 401, u)
    .await;
    atk(
        "session/login: a wrong password with bob's live cookie",
        POST,
        "/api/session",
    )
    .cookie("{cookie}", "{bob_token}")
    .json(json!({"email": "alice@studio.test", "password": "not the password"}))
    .is(a, 401, "bad_credentials")
    .await;
    atk(
        "session/login: alice's e-mail in another case",
        POST,
        "/api/session",
    )
    .json(json!({"email": "ALICE@studio.test", "password": "wrong but long"}))
    .is(a, 401, "bad_credentials")
    .await;
    atk(
        "session/login: an extra field in the sign-in",
        POST,
        "/api/session",
    )
    .json(json!({"email": "alice@studio.test", "password": PASSWORD, "admin": true}))
    .is(a, 400, "bad_request")
    .await;

    // Revoked from another session: the token is dead at once.
    let (victim, victim_token) = sign_in(&w.server, "alice@studio.test").await;
    a.set("victim_token", victim_token);
    let (_, me) = victim.get_json("/api/session").await;
    a.set("victim_session", me["session_id"].as_str().unwrap());
    atk(
        "sessions/revoke: alice ends her other session",
        DELETE,
        "/api/sessions/{victim_session}",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 204, "")
    .await;
    atk(
        "tracks/list: a session token after its revocation",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", "{victim_token}")
    .is(a, 401, u)
    .await;
    atk(
        "sessions/revoke: the revoked session revokes alice's",
        DELETE,
        "/api/sessions/{alice_session}",
    )
    .cookie("{cookie}", "{victim_token}")
    .is(a, 401, u)
    .await;
    atk(
        "sessions/revoke: the same session twice",
        DELETE,
        "/api/sessions/{victim_session}",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 404, "not_found")
    .await;
    // Signed out: the token is dead, as a cookie and as a bearer token.
    let (_, leaving) = sign_in(&w.server, "bob@studio.test").await;
    a.set("leaving_token", leaving);
    atk("session/logout: bob signs out", DELETE, "/api/session")
        .cookie("{cookie}", "{leaving_token}")
        .is(a, 204, "")
        .await;
    atk(
        "tracks/get: a signed-out token as bearer",
        GET,
        "/api/tracks/{bob_track}",
    )
    .bearer("{leaving_token}")
    .is(a, 401, u)
    .await;
    atk(
        "session/logout: a signed-out token signs out again",
        DELETE,
        "/api/session",
    )
    .cookie("{cookie}", "{leaving_token}")
    .is(a, 401, u)
    .await;
    // A password change ends every other session.
    let (_, other) = sign_in(&w.server, "bob@studio.test").await;
    a.set("other_token", other);
    atk(
        "password change: a wrong current password",
        POST,
        "/api/account/password",
    )
    .cookie("{cookie}", "{bob_token}")
    .json(json!({"current_password": "not the password", "new_password": "a new long passphrase"}))
    .is(a, 401, "bad_credentials")
    .await;
    // bcrypt's 72 bytes hold the password and a NUL: 72 bytes was a hashing error (a 500).
    atk(
        "password change: 72 bytes, past bcrypt's limit with its NUL",
        POST,
        "/api/account/password",
    )
    .cookie("{cookie}", "{bob_token}")
    .json(json!({"current_password": PASSWORD, "new_password": "p".repeat(72)}))
    .is(a, 400, "invalid_input")
    .await;
    atk("shares/create: a 72-byte share password", POST, "/api/shares")
        .cookie("{cookie}", "{bob_token}")
        .json(json!({"tracks": [a.var("bob_track")], "recipients": [{"name": "x"}], "password": "p".repeat(72)}))
        .is(a, 400, "invalid_input")
        .await;
    atk(
        "password change: bob changes his password",
        POST,
        "/api/account/password",
    )
    .cookie("{cookie}", "{bob_token}")
    .json(json!({"current_password": PASSWORD, "new_password": "x".repeat(71)}))
    .is(a, 204, "")
    .await;
    atk(
        "tracks/list: another session after a password change",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", "{other_token}")
    .is(a, 401, u)
    .await;
    // bcrypt would ignore bytes past its limit: one more byte must not sign in (6.2.8).
    atk(
        "session/login: the longest password plus one byte",
        POST,
        "/api/session",
    )
    .json(json!({"email": "bob@studio.test", "password": "x".repeat(72)}))
    .is(a, 401, "bad_credentials")
    .await;
    atk(
        "session/login: the longest password plus a hundred bytes",
        POST,
        "/api/session",
    )
    .json(json!({"email": "bob@studio.test", "password": "x".repeat(171)}))
    .is(a, 401, "bad_credentials")
    .await;
    atk(
        "session/login: the longest password exactly",
        POST,
        "/api/session",
    )
    .json(json!({"email": "bob@studio.test", "password": "x".repeat(71)}))
    .is(a, 200, "")
    .await;
    atk(
        "session/login: the password less its last byte",
        POST,
        "/api/session",
    )
    .json(json!({"email": "bob@studio.test", "password": "x".repeat(70)}))
    .is(a, 401, "bad_credentials")
    .await;
    // A suspended account's session dies, and stays dead after the account resumes.
    w.server
        .cli_ok(&["user", "suspend", "alice@studio.test"], None);
    atk(
        "tracks/list: a session of a suspended account",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 401, u)
    .await;
    w.server
        .cli_ok(&["user", "resume", "alice@studio.test"], None);
    atk(
        "tracks/list: the suspended session after the account resumed",
        GET,
        "/api/tracks",
    )
    .cookie("{cookie}", "{alice_token}")
    .is(a, 401, u)
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_codes_work_once_and_guesses_are_throttled() {
    use totp_rs::{Algorithm, Secret, TOTP};
    let server = Server::start_with(&[("STUDIOVAULT_LOGIN__MAX_FAILURES_PER_ACCOUNT", "8")]);
    server.add_user("otp@studio.test", "pro");
    let (_, token) = sign_in(&server, "otp@studio.test").await;
    let a = Arena::new(&server);
    a.set("cookie", "sv_session");
    a.set("token", token);
    let setup = atk(
        "totp setup: with the password",
        POST,
        "/api/account/totp/setup",
    )
    .cookie("{cookie}", "{token}")
    .json(json!({"password": PASSWORD}))
    .is(&a, 200, "")
    .await;
    let secret = Secret::Encoded(setup.json["secret"].as_str().unwrap().to_owned())
        .to_bytes()
        .unwrap();
    let code = |steps: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            30,
            secret.clone(),
            None,
            String::new(),
        )
        .generate((now + steps * 30) as u64)
    };
    atk(
        "totp enable: a code from two minutes ago",
        POST,
        "/api/account/totp/enable",
    )
    .cookie("{cookie}", "{token}")
    .json(json!({"code": code(-4)}))
    .is(&a, 401, "bad_totp")
    .await;
    let enabled = atk(
        "totp enable: the previous step's code",
        POST,
        "/api/account/totp/enable",
    )
    .cookie("{cookie}", "{token}")
    .json(json!({"code": code(-1)}))
    .is(&a, 200, "")
    .await;
    let recovery = enabled.json["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    atk(
        "totp enable: enabling twice",
        POST,
        "/api/account/totp/enable",
    )
    .cookie("{cookie}", "{token}")
    .json(json!({"code": code(0)}))
    .is(&a, 400, "invalid_input")
    .await;
    atk(
        "session/login: the password without the code",
        POST,
        "/api/session",
    )
    .json(json!({"email": "otp@studio.test", "password": PASSWORD}))
    .is(&a, 401, "totp_required")
    .await;
    let now = code(0);
    atk("session/login: the current code", POST, "/api/session")
        .json(json!({"email": "otp@studio.test", "password": PASSWORD, "totp": now}))
        .is(&a, 200, "")
        .await;
    atk(
        "session/login: the same code replayed",
        POST,
        "/api/session",
    )
    .json(json!({"email": "otp@studio.test", "password": PASSWORD, "totp": now}))
    .is(&a, 401, "bad_totp")
    .await;
    atk(
        "session/login: the replayed code with spaces",
        POST,
        "/api/session",
    )
    .json(json!({"email": "otp@studio.test", "password": PASSWORD, "totp": format!(" {now} ")}))
    .is(&a, 401, "bad_totp")
    .await;
    atk(
        "session/login: a code three steps ahead",
        POST,
        "/api/session",
    )
    .json(json!({"email": "otp@studio.test", "password": PASSWORD, "totp": code(3)}))
    .is(&a, 401, "bad_totp")
    .await;
    atk(
        "totp disable: the password and a replayed code",
        POST,
        "/api/account/totp/disable",
    )
    .cookie("{cookie}", "{token}")
    .json(json!({"password": PASSWORD, "totp": now}))
    .is(&a, 401, "bad_totp")
    .await;
    // Wrong codes count towards the account's limit; past it even a good recovery code waits.
    let mut refused = 0;
    let throttled = loop {
        let res = Owner::new(&server)
            .login("otp@studio.test", PASSWORD, Some("000000"))
            .await;
        if res.status() == 429 {
            break true;
        }
        refused += 1;
        if refused > 8 {
            break false;
        }
    };
    a.check(
        "session/login: guessed codes are throttled within the limit",
        throttled,
        format!("{refused} wrong codes were all checked"),
    );
    let throttled = atk(
        "session/login: a good recovery code past the limit",
        POST,
        "/api/session",
    )
    .json(json!({"email": "otp@studio.test", "password": PASSWORD, "totp": recovery}))
    .is(&a, 429, "too_many_attempts")
    .await;
    a.check(
        "session/login: the throttle says when to come back",
        throttled
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s > 0),
        throttled.header("retry-after"),
    );
    assert!(a.count() >= 10);
}

/// The names of a tar archive's entries.
fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let header = &tar[at..at + 512];
        let field = |range: std::ops::Range<usize>| {
            String::from_utf8_lossy(&header[range])
                .trim_end_matches('\0')
                .to_owned()
        };
        let (prefix, name) = (field(345..500), field(0..100));
        names.push(if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        });
        let size = u64::from_str_radix(field(124..136).trim(), 8).unwrap_or(0) as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_strings_come_back_as_data_never_as_markup_or_headers() {
    let w = world().await;
    let a = &w.arena;
    let alice = |name, method, path| atk(name, method, path).cookie("{cookie}", "{alice_token}");
    // JSON answers escape quotes and backslashes, and a line separator survives the trip.
    let hostile = "</script><script>alert(\"x\")</script> \\\" \u{2028}\u{2029}";
    let renamed = alice(
        "tracks/rename: quotes, backslashes, U+2028 and a script tag",
        PATCH,
        "/api/tracks/{alice_track}",
    )
    .json(json!({"name": hostile}))
    .is(a, 200, "")
    .await;
    // Names are cleaned of separators and control characters; quotes and markup stay text.
    let cleaned = "</script><script>alert(\"x\")</script> \\\"";
    assert_eq!(renamed.json["name"], cleaned, "{}", renamed.text());
    assert!(
        renamed
            .header("content-type")
            .starts_with("application/json")
    );
    assert!(renamed.text().contains(r#"alert(\"x\")"#) && renamed.text().contains(r#"\\\""#));
    let read = alice(
        "tracks/get: the hostile name read back",
        GET,
        "/api/tracks/{alice_track}",
    )
    .is(a, 200, "")
    .await;
    assert_eq!(read.json["name"], cleaned);
    assert_eq!(read.header("x-content-type-options"), "nosniff");
    let listed = alice(
        "tracks/list: a search for the hostile name",
        GET,
        "/api/tracks?q=%5C%22",
    )
    .is(a, 200, "")
    .await;
    assert_eq!(listed.json["total"], 1, "{}", listed.text());
    let named = alice("display name: markup and quotes", PUT, "/api/account/name")
        .json(json!({"display_name": "<img src=x onerror=alert(1)> \"Al\" \\"}))
        .is(a, 200, "")
        .await;
    assert_eq!(
        named.json["display_name"],
        "<img src=x onerror=alert(1)> \"Al\" \\"
    );
    let separated = alice(
        "display name: a line separator reads back equal",
        PUT,
        "/api/account/name",
    )
    .json(json!({"display_name": "Al\u{2028}ice"}))
    .is(a, 200, "")
    .await;
    assert_eq!(
        separated.json["display_name"],
        "Al\u{2028}ice",
        "{}",
        separated.text()
    );
    alice(
        "display name: a right-to-left override",
        PUT,
        "/api/account/name",
    )
    .json(json!({"display_name": "Al\u{202e}ecila"}))
    .is(a, 400, "invalid_input")
    .await;
    let share = alice(
        "shares/create: markup in the title and a CR LF in a name",
        POST,
        "/api/shares",
    )
    .json(json!({"title": hostile, "tracks": [a.var("alice_track")],
                     "recipients": [{"name": "Ana\r\nSet-Cookie: sv_session=x"}]}))
    .is(a, 201, "")
    .await;
    assert_eq!(share.json["title"], cleaned, "{}", share.text());
    let recipient = share.json["recipients"][0]["name"].as_str().unwrap();
    assert!(!recipient.contains(['\r', '\n']), "{recipient:?}");
    // An unknown field's name is echoed in the refusal, as JSON text.
    let refused = alice(
        "tracks/rename: a script tag as an unknown field",
        PATCH,
        "/api/tracks/{alice_track}",
    )
    .json(json!({"<script>alert(1)</script>": 1}))
    .is(a, 400, "bad_request")
    .await;
    assert!(
        refused
            .header("content-type")
            .starts_with("application/json")
    );
    let objection = alice(
        "objection: a script tag as the purpose",
        PUT,
        "/api/account/objections/%3Cscript%3E",
    )
    .json(json!({"objected": true}))
    .is(a, 404, "unknown_purpose")
    .await;
    assert!(
        objection
            .header("content-type")
            .starts_with("application/json")
    );

    // File names: a parameter smuggled into Content-Disposition stays inside the quotes.
    let smuggled = w
        .alice
        .upload_ok("x\"; filename*=UTF-8''evil.exe; a=\".wav", wav(0.2, 7))
        .await;
    a.set("smuggled", smuggled);
    let download = alice(
        "tracks/audio: a parameter smuggled in the file name",
        GET,
        "/api/tracks/{smuggled}/audio?download=1",
    )
    .is(a, 200, "")
    .await;
    let disposition = download.header("content-disposition");
    assert_eq!(
        disposition.matches("filename*=").count(),
        1,
        "{disposition}"
    );
    assert!(!disposition.contains("evil.exe;"), "{disposition}");
    let encoded = w
        .alice
        .upload_ok("a%0d%0aSet-Cookie: sv_session=x.wav", wav(0.2, 8))
        .await;
    a.set("encoded", encoded);
    let download = alice(
        "tracks/audio: an encoded CR LF in the file name",
        GET,
        "/api/tracks/{encoded}/audio?download=1",
    )
    .is(a, 200, "")
    .await;
    assert!(
        download.headers.get("set-cookie").is_none(),
        "{:?}",
        download.headers
    );
    let crlf = w.alice.upload("a\r\nX-Evil: 1.wav", wav(0.2, 9)).await;
    a.check(
        "tracks/upload: a raw CR LF in the file name is refused",
        crlf.status() == 400,
        crlf.status(),
    );
    // Archive names: a track named like a path stays inside the export's folder.
    alice(
        "tracks/rename: a traversal as the name",
        PATCH,
        "/api/tracks/{smuggled}",
    )
    .json(json!({"name": "../../../../etc/cron.d/evil"}))
    .is(a, 200, "")
    .await;
    alice(
        "tracks/rename: an absolute path as the name",
        PATCH,
        "/api/tracks/{encoded}",
    )
    .json(json!({"name": "/etc/passwd"}))
    .is(a, 200, "")
    .await;
    let archive = alice(
        "export: an archive of tracks named like paths",
        POST,
        "/api/account/export",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 200, "")
    .await;
    let names = tar_names(&archive.bytes);
    assert!(names.len() >= 6, "{names:?}");
    for name in &names {
        assert!(
            name.starts_with("studiovault-export/") && !name.split('/').any(|part| part == ".."),
            "archive entry {name:?} escapes"
        );
        assert!(!name.contains("/../") && !name.contains('\\'), "{name:?}");
    }
    a.check(
        "export: no entry of the archive escapes its folder",
        names.iter().all(|n| !n.contains("..")),
        format!("{names:?}"),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authenticated_answers_are_never_cached_and_errors_reveal_nothing() {
    let w = world().await;
    let a = &w.arena;
    let alice = |name, method, path| atk(name, method, path).cookie("{cookie}", "{alice_token}");
    let no_store = |answer: &studiovault_e2e::attack::Answer, what: &str| {
        assert!(
            answer.header("cache-control").contains("no-store"),
            "{what}: Cache-Control {:?}",
            answer.header("cache-control")
        );
    };
    let login = atk(
        "cache session/login: the sign-in answer",
        POST,
        "/api/session",
    )
    .json(json!({"email": "bob@studio.test", "password": PASSWORD}))
    .is(a, 200, "")
    .await;
    no_store(&login, "sign-in");
    for (answer, what) in [
        (
            alice(
                "cache session/me: the signed-in account",
                GET,
                "/api/session",
            )
            .is(a, 200, "")
            .await,
            "me",
        ),
        (
            alice("cache sessions/list: the sessions", GET, "/api/sessions")
                .is(a, 200, "")
                .await,
            "sessions",
        ),
        (
            alice("cache tracks/list: the library", GET, "/api/tracks")
                .is(a, 200, "")
                .await,
            "tracks",
        ),
        (
            alice(
                "cache tracks/get: a track",
                GET,
                "/api/tracks/{alice_track}",
            )
            .is(a, 200, "")
            .await,
            "track",
        ),
        (
            alice(
                "cache tracks/audio: a track's audio",
                GET,
                "/api/tracks/{alice_track}/audio",
            )
            .is(a, 200, "")
            .await,
            "audio",
        ),
        (
            alice(
                "cache shares/get: a share and its links",
                GET,
                "/api/shares/{alice_share}",
            )
            .is(a, 200, "")
            .await,
            "share",
        ),
        (
            alice(
                "cache notices/list: the breach notices",
                GET,
                "/api/notices",
            )
            .is(a, 200, "")
            .await,
            "notices",
        ),
        (
            alice(
                "cache activity: the audit records",
                GET,
                "/api/account/activity",
            )
            .is(a, 200, "")
            .await,
            "activity",
        ),
        (
            alice(
                "cache uploads/status: an open upload",
                GET,
                "/api/uploads/{alice_upload}",
            )
            .is(a, 200, "")
            .await,
            "upload",
        ),
        (
            atk("cache page: a recipient's playlist", GET, "/s/{alice_link}")
                .is(a, 200, "")
                .await,
            "portal page",
        ),
        (
            atk(
                "cache state: a recipient's copy states",
                GET,
                "/s/{alice_link}/state",
            )
            .is(a, 200, "")
            .await,
            "portal state",
        ),
        (
            atk(
                "cache tracks/get: a refusal",
                GET,
                "/api/tracks/{alice_track}",
            )
            .is(a, 401, "unauthenticated")
            .await,
            "401",
        ),
    ] {
        no_store(&answer, what);
    }
    let export = alice("cache export: the archive", POST, "/api/account/export")
        .json(json!({"password": PASSWORD}))
        .is(a, 200, "")
        .await;
    no_store(&export, "export");

    // A forced internal error: the track's blob is gone from the disk under the server. With
    // analysis off, the upload is the only blob the track adds.
    let (status, _) = w
        .alice
        .send(
            reqwest::Method::PATCH,
            "/api/account/settings",
            Some(json!({"analysis": false})),
        )
        .await;
    assert_eq!(status, 200);
    let before = w.server.files_under("blobs");
    let doomed = w.alice.upload_ok("doomed.wav", wav(0.3, 11)).await;
    a.set("doomed", doomed);
    let added: Vec<_> = w
        .server
        .files_under("blobs")
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    std::fs::remove_file(&added[0]).unwrap();
    let failed = alice(
        "tracks/audio: a blob missing from the disk",
        GET,
        "/api/tracks/{doomed}/audio",
    )
    .is(a, 500, "internal")
    .await;
    let body = failed.text();
    let blob = added[0].file_name().unwrap().to_string_lossy().into_owned();
    for secret in [
        blob.as_str(),
        "/tmp",
        "blobs",
        "No such file",
        "os error",
        &a.var("alice_id"),
        &a.var("doomed"),
    ] {
        assert!(!body.contains(secret), "the 500 names {secret:?}: {body}");
    }
    no_store(&failed, "500");
    assert!(
        w.server.log().contains("error"),
        "the error is not in the log"
    );
    let peaks = alice(
        "tracks/peaks: unknown zoom on alice's track",
        GET,
        "/api/tracks/{alice_track}/peaks?zoom=3",
    )
    .is(a, 400, "")
    .await;
    assert!(!peaks.text().contains("/tmp"), "{}", peaks.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_writes_are_refused_over_http1() {
    let w = world().await;
    let a = &w.arena;
    let port = w.server.port;
    a.set("here", format!("http://127.0.0.1:{port}"));
    a.set("https_here", format!("https://127.0.0.1:{port}"));
    a.set("suffixed", format!("http://127.0.0.1:{port}.evil.example"));
    let co = "cross_origin";
    let alice = |name, method, path| atk(name, method, path).cookie("{cookie}", "{alice_token}");
    atk(
        "csrf session/login: from another site",
        POST,
        "/api/session",
    )
    .header("origin", "https://evil.example")
    .json(json!({"email": "alice@studio.test", "password": PASSWORD}))
    .is(a, 403, co)
    .await;
    atk(
        "csrf session/login: a text/plain form from a sibling site",
        POST,
        "/api/session",
    )
    .header("sec-fetch-site", "same-site")
    .raw(
        br#"{"email":"alice@studio.test","password":"a long studio passphrase"}"#.to_vec(),
        "text/plain",
    )
    .is(a, 403, co)
    .await;
    alice(
        "csrf tracks/rename: from another site",
        PATCH,
        "/api/tracks/{alice_track}",
    )
    .header("origin", "https://evil.example")
    .json(json!({"name": "pwned"}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf tracks/delete: Origin null without fetch metadata",
        DELETE,
        "/api/tracks/{alice_track}",
    )
    .header("origin", "null")
    .is(a, 403, co)
    .await;
    alice(
        "csrf shares/revoke: a sibling site by fetch metadata",
        DELETE,
        "/api/shares/{alice_share}",
    )
    .header("sec-fetch-site", "same-site")
    .is(a, 403, co)
    .await;
    alice(
        "csrf shares/revoke recipient: cross-site by fetch metadata",
        DELETE,
        "/api/shares/{alice_share}/recipients/{alice_recipient}",
    )
    .header("sec-fetch-site", "cross-site")
    .is(a, 403, co)
    .await;
    alice(
        "csrf password change: this host on another port",
        POST,
        "/api/account/password",
    )
    .header("origin", "http://127.0.0.1:1")
    .json(json!({"current_password": PASSWORD, "new_password": "a new long passphrase"}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf display name: this host under https",
        PUT,
        "/api/account/name",
    )
    .header("origin", "{https_here}")
    .json(json!({"display_name": "pwned"}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf uploads/create: this origin as a prefix of another host",
        POST,
        "/api/uploads",
    )
    .header("origin", "{suffixed}")
    .json(json!({"filename": "x.wav", "size": 10}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf uploads/abort: this origin with a path",
        DELETE,
        "/api/uploads/{alice_upload}",
    )
    .header("origin", "{here}/evil")
    .is(a, 403, co)
    .await;
    alice(
        "csrf account delete: from another site",
        POST,
        "/api/account/delete",
    )
    .header("origin", "https://evil.example")
    .json(json!({"password": PASSWORD}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf email change: from another site",
        POST,
        "/api/account/email",
    )
    .header("origin", "https://evil.example")
    .json(json!({"new_email": "evil@studio.test", "password": PASSWORD}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf export: a form post from another site",
        POST,
        "/api/account/export",
    )
    .header("origin", "https://evil.example")
    .form(&[("password", PASSWORD)])
    .is(a, 403, co)
    .await;
    alice(
        "csrf export link: from another site",
        POST,
        "/api/account/export/link",
    )
    .header("origin", "https://evil.example")
    .json(json!({"password": PASSWORD}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf totp setup: from another site",
        POST,
        "/api/account/totp/setup",
    )
    .header("origin", "https://evil.example")
    .json(json!({"password": PASSWORD}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf settings: from another site",
        PATCH,
        "/api/account/settings",
    )
    .header("origin", "https://evil.example")
    .json(json!({"analysis": false}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf restriction: from another site",
        PUT,
        "/api/account/restriction",
    )
    .header("origin", "https://evil.example")
    .json(json!({"restricted": true}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf objection: from another site",
        PUT,
        "/api/account/objections/stems",
    )
    .header("origin", "https://evil.example")
    .json(json!({"objected": true}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf notices/dismiss: from another site",
        POST,
        "/api/notices/{alice_notice}/dismiss",
    )
    .header("origin", "https://evil.example")
    .is(a, 403, co)
    .await;
    alice(
        "csrf stems/request: from another site",
        POST,
        "/api/tracks/{alice_track}/stems",
    )
    .header("origin", "https://evil.example")
    .is(a, 403, co)
    .await;
    alice("csrf shares/create: from another site", POST, "/api/shares")
        .header("origin", "https://evil.example")
        .json(json!({"tracks": [a.var("alice_track")], "recipients": [{"name": "leak"}]}))
        .is(a, 403, co)
        .await;
    alice(
        "csrf shares/update: from another site",
        PATCH,
        "/api/shares/{alice_share}",
    )
    .header("origin", "https://evil.example")
    .json(json!({"expires_at": now_ms() + 86_400_000}))
    .is(a, 403, co)
    .await;
    alice(
        "csrf session/logout: from another site",
        DELETE,
        "/api/session",
    )
    .header("origin", "https://evil.example")
    .is(a, 403, co)
    .await;
    alice(
        "csrf leaks/trace: from another site",
        POST,
        "/api/leaks/trace",
    )
    .header("origin", "https://evil.example")
    .raw(wav(0.2, 1), "application/octet-stream")
    .is(a, 403, co)
    .await;
    atk(
        "csrf email confirm: from another site",
        POST,
        "/api/account/email/confirm",
    )
    .header("origin", "https://evil.example")
    .json(json!({"token": "x"}))
    .is(a, 403, co)
    .await;
    atk(
        "csrf worker lease: a worker call from a web page",
        POST,
        "/api/worker/lease",
    )
    .header("origin", "https://evil.example")
    .bearer("{worker_token}")
    .json(json!({"capabilities": {"backend": "x", "host": "x", "version": "0"}}))
    .is(a, 403, co)
    .await;
    // The same write from this site is served: the refusals above are the origin check's.
    alice(
        "csrf tracks/rename: from this site",
        PATCH,
        "/api/tracks/{bob_track}",
    )
    .header("origin", "{here}")
    .json(json!({"name": "x"}))
    .is(a, 404, "not_found")
    .await;
    alice_is_intact(&w).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_writes_are_refused_over_http2_and_port_80_gives_nothing_away() {
    let http_port = free_port();
    let server = Server::start_https(
        free_port(),
        http_port,
        &[
            ("STUDIOVAULT_TLS__MODE", "self-signed"),
            ("STUDIOVAULT_TLS__SELF_SIGNED__NAMES", "[\"127.0.0.1\"]"),
        ],
    );
    let w = world_on(server).await;
    let a = &w.arena;
    let co = "cross_origin";
    let alice = |name, method, path| {
        atk(name, method, path)
            .cookie("{cookie}", "{alice_token}")
            .header("origin", "https://evil.example")
    };
    let h2 = alice(
        "h2 display name: from another site",
        PUT,
        "/api/account/name",
    )
    .json(json!({"display_name": "pwned"}))
    .is(a, 403, co)
    .await;
    let version = a
        .http
        .get(format!("{}/api/health", a.base))
        .send()
        .await
        .unwrap()
        .version();
    a.check(
        "h2: the attacks above went over HTTP/2",
        version == reqwest::Version::HTTP_2,
        format!("{version:?}"),
    );
    assert!(h2.header("strict-transport-security").contains("max-age"));
    alice(
        "h2 restriction: from another site",
        PUT,
        "/api/account/restriction",
    )
    .json(json!({"restricted": true}))
    .is(a, 403, co)
    .await;
    alice(
        "h2 notices/dismiss: from another site",
        POST,
        "/api/notices/{alice_notice}/dismiss",
    )
    .is(a, 403, co)
    .await;
    alice(
        "h2 stems/request: from another site",
        POST,
        "/api/tracks/{alice_track}/stems",
    )
    .is(a, 403, co)
    .await;
    alice(
        "h2 stems/cancel: from another site",
        POST,
        "/api/tracks/{alice_track}/stems/cancel",
    )
    .is(a, 403, co)
    .await;
    alice(
        "h2 uploads/abort: from another site",
        DELETE,
        "/api/uploads/{alice_upload}",
    )
    .is(a, 403, co)
    .await;
    alice(
        "h2 shares/revoke: from another site",
        DELETE,
        "/api/shares/{alice_share}",
    )
    .is(a, 403, co)
    .await;
    alice(
        "h2 totp setup: from another site",
        POST,
        "/api/account/totp/setup",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 403, co)
    .await;
    alice(
        "h2 account delete: from another site",
        POST,
        "/api/account/delete",
    )
    .json(json!({"password": PASSWORD}))
    .is(a, 403, co)
    .await;
    alice(
        "h2 tracks/delete: from another site",
        DELETE,
        "/api/tracks/{alice_track}",
    )
    .is(a, 403, co)
    .await;
    atk(
        "h2 unlock: from another site",
        POST,
        "/s/{alice_link}/unlock",
    )
    .header("origin", "https://evil.example")
    .form(&[("password", "x")])
    .is(a, 403, co)
    .await;
    // Over TLS the session cookie is `__Host-sv_session`: a cookie a sibling site could plant
    // under the plain name is not read.
    atk(
        "h2 tracks/list: the session under the unprefixed cookie name",
        GET,
        "/api/tracks",
    )
    .cookie("sv_session", "{alice_token}")
    .is(a, 401, "unauthenticated")
    .await;
    alice_is_intact(&w).await;

    // Port 80: ACME challenges answer only tokens being validated; nothing else is read.
    let plain = Arena::at(
        format!("http://127.0.0.1:{http_port}"),
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    );
    plain.set("alice_token", a.var("alice_token"));
    atk(
        "acme: a guessed challenge token",
        GET,
        "/.well-known/acme-challenge/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .is(&plain, 404, "")
    .await;
    atk(
        "acme: a traversal as the challenge token",
        GET,
        "/.well-known/acme-challenge/..%2F..%2Fadmin.sock",
    )
    .is(&plain, 404, "")
    .await;
    let moved = atk(
        "port 80: a redirect asked for another site's host",
        GET,
        "/api/tracks",
    )
    .header("host", "evil.example")
    .is(&plain, 308, "")
    .await;
    assert!(
        !moved.header("location").contains("evil"),
        "{}",
        moved.header("location")
    );
    let moved = atk(
        "port 80: the API is not served in the clear",
        GET,
        "/api/session",
    )
    .header("cookie", "sv_session={alice_token}")
    .is(&plain, 308, "")
    .await;
    assert!(moved.header("location").starts_with("https://"));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_assets_and_the_admin_socket_give_nothing_away() {
    let w = world().await;
    let a = &w.arena;
    let big = || vec![b' '; 20 * 1024];
    let alice = |name, method, path| atk(name, method, path).cookie("{cookie}", "{alice_token}");
    alice(
        "oversized shares/create: a 20 KiB JSON body",
        POST,
        "/api/shares",
    )
    .raw(big(), "application/json")
    .is(a, 413, "too_large")
    .await;
    alice(
        "oversized display name: a 20 KiB JSON body",
        PUT,
        "/api/account/name",
    )
    .raw(big(), "application/json")
    .is(a, 413, "too_large")
    .await;
    alice(
        "oversized uploads/create: a 20 KiB JSON body",
        POST,
        "/api/uploads",
    )
    .raw(big(), "application/json")
    .is(a, 413, "too_large")
    .await;
    alice(
        "oversized export: a 20 KiB form",
        POST,
        "/api/account/export",
    )
    .raw(big(), "application/x-www-form-urlencoded")
    .is(a, 413, "too_large")
    .await;
    atk(
        "oversized email confirm: a 20 KiB body without a session",
        POST,
        "/api/account/email/confirm",
    )
    .raw(big(), "application/json")
    .is(a, 413, "too_large")
    .await;
    // An upload of its own: the refusal below discards it.
    let spare = post_ok(
        &w.alice,
        "/api/uploads",
        json!({"filename": "spare.wav", "size": 1000}),
        201,
    )
    .await;
    a.set("spare_upload", spare["id"].as_str().unwrap());
    alice(
        "oversized uploads/append: more bytes than the upload declared",
        PATCH,
        "/api/uploads/{spare_upload}",
    )
    .header("upload-offset", "0")
    .raw(vec![0; 2000], "application/offset+octet-stream")
    .is(a, 400, "bad_request")
    .await;
    alice(
        "oversized uploads/create: a size past the limit",
        POST,
        "/api/uploads",
    )
    .json(json!({"filename": "huge.wav", "size": 1_u64 << 50}))
    .is(a, 413, "")
    .await;
    alice("oversized shares/create: 51 recipients", POST, "/api/shares")
        .json(json!({"tracks": [a.var("alice_track")],
                     "recipients": (0..51).map(|i| json!({"name": format!("r{i}")})).collect::<Vec<_>>()}))
        .is(a, 400, "invalid_input")
        .await;
    alice(
        "oversized shares/create: a 100-year expiry",
        POST,
        "/api/shares",
    )
    .json(
        json!({"tracks": [a.var("alice_track")], "recipients": [{"name": "x"}],
                     "expires_at": now_ms() + 100 * 365 * 86_400_000}),
    )
    .is(a, 400, "invalid_input")
    .await;
    alice(
        "oversized tracks/list: a page of a million",
        GET,
        "/api/tracks?limit=1000000",
    )
    .is(a, 400, "")
    .await;
    // A leak trace announced at 600 MiB is refused before its body is read.
    let token = a.var("alice_token");
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", w.server.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/leaks/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sv_session={token}\r\nContent-Length: {}\r\n\r\n",
        600_u64 << 20
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    a.check(
        "oversized leaks/trace: 600 MiB announced, refused before the body",
        answer.starts_with("HTTP/1.1 413"),
        &answer,
    );

    // Static assets: only the embedded files.
    atk(
        "assets: a traversal to the admin socket",
        GET,
        "/assets/..%2F..%2Fadmin.sock",
    )
    .is(a, 404, "not_found")
    .await;
    atk(
        "assets: the page under the assets path",
        GET,
        "/assets/index.html",
    )
    .is(a, 404, "not_found")
    .await;
    atk(
        "assets: a NUL byte in the name",
        GET,
        "/assets/app.js%00.map",
    )
    .is(a, 404, "not_found")
    .await;
    atk(
        "assets: a file of the server's source",
        GET,
        "/assets/main.rs",
    )
    .is(a, 404, "not_found")
    .await;

    // The admin API lives on the socket alone: not on the TCP listener (a write to an unknown
    // path answers 405, as the pages take GET only), and the socket is the service's and its
    // group's only.
    atk("admin over tcp: the status", GET, "/v1/status")
        .is(a, 404, "not_found")
        .await;
    atk("admin over tcp: create a user", POST, "/v1/users")
        .json(json!({"email": "evil@studio.test", "plan": "max"}))
        .is(a, 405, "method_not_allowed")
        .await;
    atk("admin over tcp: enrol a worker", POST, "/v1/workers")
        .json(json!({"name": "evil"}))
        .is(a, 405, "method_not_allowed")
        .await;
    atk("admin over tcp: read the audit log", GET, "/v1/audit")
        .is(a, 404, "not_found")
        .await;
    atk(
        "admin over tcp: a password reset",
        POST,
        "/v1/users/alice@studio.test/password",
    )
    .json(json!({}))
    .is(a, 405, "method_not_allowed")
    .await;
    let socket = w.server.data_dir().join("admin.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    let dir_mode = std::fs::metadata(w.server.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    a.check(
        "admin socket: reachable by its owner and group only",
        mode & 0o007 == 0 && (mode == 0o600 || mode == 0o660) && dir_mode & 0o007 == 0,
        format!("socket {mode:o}, data directory {dir_mode:o}"),
    );
    let users: Value =
        serde_json::from_str(&w.server.cli_ok(&["user", "list", "--json"], None)).unwrap();
    assert!(
        !users.to_string().contains("evil@studio.test"),
        "an admin call over TCP created a user: {users}"
    );
    alice_is_intact(&w).await;
}

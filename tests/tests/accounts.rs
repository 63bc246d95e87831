//! Accounts over HTTP and the admin CLI: sign-in and its throttle, TOTP, sessions, passwords,
//! deletion, and the admin's view of all of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};
use studiovault_e2e::{Owner, PASSWORD, Server};
use totp_rs::{Algorithm, Secret, TOTP};

fn code(secret: &str, offset_steps: i64) -> String {
    let secret = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new())
        .generate((now + offset_steps * 30) as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_email_and_wrong_password_look_alike_and_both_are_throttled() {
    let server = Server::start_with(&[("STUDIOVAULT_LOGIN__MAX_FAILURES_PER_ACCOUNT", "3")]);
    server.add_user("real@studio.test", "pro");
    let client = Owner::new(&server);

    let unknown = client.login("ghost@studio.test", PASSWORD, None).await;
    let (s1, b1) = (unknown.status(), unknown.text().await.unwrap_or_default());
    let wrong = client
        .login("real@studio.test", "not the password", None)
        .await;
    let (s2, b2) = (wrong.status(), wrong.text().await.unwrap_or_default());
    assert_eq!((s1.as_u16(), b1.as_str()), (s2.as_u16(), b2.as_str()));
    assert_eq!(s1, 401);

    for _ in 0..2 {
        assert_eq!(
            client
                .login("real@studio.test", "still wrong", None)
                .await
                .status(),
            401
        );
    }
    // Throttled now: even the right password waits, and the answer says how long.
    let res = client.login("real@studio.test", PASSWORD, None).await;
    assert_eq!(res.status(), 429);
    let retry_header: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let body: Value = res.json().await.unwrap_or_default();
    assert_eq!(body["error"], "too_many_attempts");
    assert!(
        retry_header > 0 && body["retry_after"].as_u64() == Some(retry_header),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("try again in")
    );
    // An unknown address is throttled exactly the same way.
    for _ in 0..3 {
        client.login("nobody@studio.test", "x", None).await;
    }
    assert_eq!(
        client.login("nobody@studio.test", "x", None).await.status(),
        429
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_enrolment_sign_in_replay_and_recovery() {
    let server = Server::start();
    server.add_user("otp@studio.test", "pro");
    let owner = Owner::signed_in(&server, "otp@studio.test").await;
    let (status, _) = owner
        .send(
            Method::POST,
            "/api/account/totp/setup",
            Some(json!({"password": "wrong"})),
        )
        .await;
    assert_eq!(status, 401, "setup needs the password");
    let (status, setup) = owner
        .send(
            Method::POST,
            "/api/account/totp/setup",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap_or_default().to_owned();
    assert!(
        setup["otpauth_url"]
            .as_str()
            .unwrap_or_default()
            .starts_with("otpauth://totp/")
    );
    let (status, _) = owner
        .send(
            Method::POST,
            "/api/account/totp/enable",
            Some(json!({"code": "000000x"})),
        )
        .await;
    assert_eq!(status, 401);
    // Enrol with the previous step's code so the current one is still fresh for sign-in.
    let (status, enabled) = owner
        .send(
            Method::POST,
            "/api/account/totp/enable",
            Some(json!({"code": code(&secret, -1)})),
        )
        .await;
    assert_eq!(status, 200, "{enabled}");
    let recovery: Vec<String> =
        serde_json::from_value(enabled["recovery_codes"].clone()).unwrap_or_default();
    assert_eq!(recovery.len(), 10);

    let fresh = Owner::new(&server);
    let res = fresh.login("otp@studio.test", PASSWORD, None).await;
    let body: Value = res.json().await.unwrap_or_default();
    assert_eq!(body["error"], "totp_required");
    let now = code(&secret, 0);
    assert_eq!(
        fresh
            .login("otp@studio.test", PASSWORD, Some(&now))
            .await
            .status(),
        200
    );
    let replay = Owner::new(&server)
        .login("otp@studio.test", PASSWORD, Some(&now))
        .await;
    assert_eq!(replay.status(), 401, "a code works once");
    assert_eq!(
        Owner::new(&server)
            .login("otp@studio.test", PASSWORD, Some(&recovery[0]))
            .await
            .status(),
        200
    );
    assert_eq!(
        Owner::new(&server)
            .login("otp@studio.test", PASSWORD, Some(&recovery[0]))
            .await
            .status(),
        401,
        "a recovery code works once"
    );
    let (_, me) = fresh.get_json("/api/session").await;
    assert_eq!(me["totp_enabled"], true);

    // The admin can take the factor away for a user who lost both.
    server.cli_ok(&["user", "totp-reset", "otp@studio.test"], None);
    assert_eq!(
        Owner::new(&server)
            .login("otp@studio.test", PASSWORD, None)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_revoked_and_ended_by_a_password_change() {
    let server = Server::start();
    server.add_user("multi@studio.test", "pro");
    let laptop = Owner::signed_in(&server, "multi@studio.test").await;
    let phone = Owner::signed_in(&server, "multi@studio.test").await;
    let (_, sessions) = laptop.get_json("/api/sessions").await;
    let sessions = sessions.as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        sessions.iter().all(|s| s["client"]
            .as_str()
            .is_some_and(|c| c.len() == 32 && !c.contains("127.0.0.1"))),
        "clients are hashed"
    );
    let other = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        laptop
            .send(Method::DELETE, &format!("/api/sessions/{other}"), None)
            .await
            .0,
        204
    );
    assert_eq!(phone.get("/api/tracks").await.status(), 401);

    // Who accessed my files: the owner's own audit records, client addresses hashed.
    let id = laptop
        .upload_ok("mix.wav", studiovault_e2e::wav(0.2, 1))
        .await;
    assert_eq!(
        laptop
            .get(&format!("/api/tracks/{id}/audio"))
            .await
            .status(),
        200
    );
    let (status, activity) = laptop.get_json("/api/account/activity").await;
    assert_eq!(status, 200);
    let entries = activity.as_array().cloned().unwrap_or_default();
    let download = entries
        .iter()
        .find(|e| e["action"] == "track.download")
        .unwrap_or_else(|| panic!("{activity}"));
    assert_eq!(download["object"], format!("track/{id}"));
    assert!(download["client"].as_str().is_some_and(|c| c.len() == 32));
    // Newest first; the analysis worker may log `track.analyze` at any moment, so
    // compare the two actions this test made rather than the head of the list.
    let position = |action: &str| entries.iter().position(|e| e["action"] == action);
    assert!(
        position("track.download") < position("track.upload"),
        "newest first: {activity}"
    );
    assert!(position("track.upload").is_some(), "{activity}");
    server.add_user("nosy@studio.test", "pro");
    let nosy = Owner::signed_in(&server, "nosy@studio.test").await;
    let (_, theirs) = nosy.get_json("/api/account/activity").await;
    assert!(
        !theirs.to_string().contains(&id),
        "another owner's activity stays private"
    );

    let tablet = Owner::signed_in(&server, "multi@studio.test").await;
    let (status, _) = laptop
        .send(
            Method::POST,
            "/api/account/password",
            Some(json!({"current_password": "nope", "new_password": "another long passphrase"})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, err) = laptop
        .send(
            Method::POST,
            "/api/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_input")),
        "{err}"
    );
    let (status, _) = laptop
        .send(
            Method::POST,
            "/api/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "another long passphrase"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        laptop.get("/api/tracks").await.status(),
        200,
        "the session that changed it stays"
    );
    assert_eq!(
        tablet.get("/api/tracks").await.status(),
        401,
        "every other session ends"
    );
    assert_eq!(
        Owner::new(&server)
            .login("multi@studio.test", "another long passphrase", None)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_cli_manages_accounts_and_reads_the_audit_log() {
    let server = Server::start();
    let created = server.cli_ok(
        &["user", "add", "new@studio.test", "--plan", "max", "--json"],
        None,
    );
    let created: Value = serde_json::from_str(&created).unwrap_or_default();
    let one_time = created["one_time_password"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(created["user"]["plan"], "max");
    assert_eq!(
        Owner::new(&server)
            .login("new@studio.test", &one_time, None)
            .await
            .status(),
        200
    );

    let dup = server.cli(&["user", "add", "NEW@studio.test"], None);
    assert!(
        !dup.status.success()
            && String::from_utf8_lossy(&dup.stderr).contains("already registered")
    );
    let bad = server.cli(&["user", "add", "not-an-email"], None);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("email"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let sessions: Value =
        serde_json::from_str(&server.cli_ok(&["sessions", "list", "--json"], None))
            .unwrap_or_default();
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    assert_eq!(sessions[0]["email"], "new@studio.test");
    let id = sessions[0]["id"].as_str().unwrap_or_default();
    server.cli_ok(&["sessions", "revoke", id], None);
    let sessions: Value =
        serde_json::from_str(&server.cli_ok(&["sessions", "list", "--json"], None))
            .unwrap_or_default();
    assert_eq!(sessions, json!([]));

    let reset: Value = serde_json::from_str(
        &server.cli_ok(&["user", "password", "new@studio.test", "--json"], None),
    )
    .unwrap_or_default();
    let again = reset["one_time_password"].as_str().unwrap_or_default();
    assert_ne!(again, one_time);
    assert_eq!(
        Owner::new(&server)
            .login("new@studio.test", again, None)
            .await
            .status(),
        200
    );

    let deleting: Value = serde_json::from_str(
        &server.cli_ok(&["user", "delete", "new@studio.test", "--json"], None),
    )
    .unwrap_or_default();
    assert_eq!(deleting["status"]["state"], "pending_deletion");
    let restored: Value = serde_json::from_str(
        &server.cli_ok(&["user", "undelete", "new@studio.test", "--json"], None),
    )
    .unwrap_or_default();
    assert_eq!(restored["status"]["state"], "active");

    let status: Value =
        serde_json::from_str(&server.cli_ok(&["status", "--json"], None)).unwrap_or_default();
    assert_eq!(status["users"], 1);
    assert!(status["disk_free_bytes"].as_u64().unwrap_or(0) > 0);

    let tail = server.cli_ok(&["audit", "tail", "--action", "user", "-n", "50"], None);
    for action in ["user.create", "user.password_reset"] {
        assert!(tail.contains(action), "{action} missing from\n{tail}");
    }
    assert!(
        !tail.contains("session.create"),
        "the filter holds:\n{tail}"
    );
    let missing = server.cli(&["user", "show", "nobody@studio.test"], None);
    assert!(
        !missing.status.success()
            && String::from_utf8_lossy(&missing.stderr).contains("no such user")
    );
}

/// A POST with a JSON body: the status, the `Retry-After` header and the body.
async fn post(owner: &Owner, path: &str, body: Value) -> (u16, Option<u64>, Value) {
    let res = owner
        .http
        .post(owner.url(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry_after, res.json().await.unwrap_or(Value::Null))
}

/// An owner's browser on another loopback address (Linux routes all of 127/8 to `lo`), so the
/// server sees a second client.
fn from_address(server: &Server, last_octet: u8) -> Owner {
    let mut owner = Owner::new(server);
    owner.http = reqwest::Client::builder()
        .cookie_store(true)
        .local_address(std::net::IpAddr::from([127, 0, 0, last_octet]))
        .build()
        .unwrap();
    owner
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_flood_of_wrong_passwords_gets_no_more_than_the_limit_checked() {
    let server = Server::start();
    server.add_user("flood@studio.test", "pro");
    let guesser = Owner::new(&server);
    let statuses: Vec<u16> = futures_util::future::join_all((0..30).map(|i| {
        let guesser = &guesser;
        async move {
            guesser
                .login("flood@studio.test", &format!("wrong guess {i}"), None)
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 25), "{statuses:?}");
    // Even the right password waits at this address...
    assert_eq!(
        guesser
            .login("flood@studio.test", PASSWORD, None)
            .await
            .status(),
        429
    );
    // ...but the guesser has not locked the owner out from another one.
    let owner = from_address(&server, 2);
    let res = owner.login("flood@studio.test", PASSWORD, None).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    // The five checked failures are in the owner's activity, the client only as a hash.
    let (_, activity) = owner.get_json("/api/account/activity").await;
    let failures: Vec<&Value> = activity
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["action"] == "session.login_failed")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(failures.len(), 5, "{activity}");
    assert!(
        failures
            .iter()
            .all(|e| e["actor"] == "anonymous"
                && e["client"].as_str().is_some_and(|c| c.len() == 32)),
        "{activity}"
    );
    assert!(!activity.to_string().contains("127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_and_codes_on_rechecks_end_in_429() {
    let server = Server::start();
    for email in ["pw@studio.test", "otp@studio.test", "exp@studio.test"] {
        server.add_user(email, "pro");
    }

    // Password change.
    let pw = Owner::signed_in(&server, "pw@studio.test").await;
    let change =
        json!({"current_password": "wrong guess!", "new_password": "another long passphrase"});
    for _ in 0..5 {
        let (status, _, body) = post(&pw, "/api/account/password", change.clone()).await;
        assert_eq!(status, 401, "{body}");
    }
    let right = json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
    let (status, retry_after, body) = post(&pw, "/api/account/password", right).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_attempts"))
    );
    assert!(retry_after.is_some_and(|s| s > 0) && body["retry_after"].as_u64() == retry_after);
    // Re-checks and sign-ins share the count.
    assert_eq!(
        pw.login("pw@studio.test", PASSWORD, None).await.status(),
        429
    );

    // Two-factor disable: wrong passwords and wrong codes alike.
    let otp = Owner::signed_in(&server, "otp@studio.test").await;
    let (status, _, setup) = post(
        &otp,
        "/api/account/totp/setup",
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap_or_default().to_owned();
    let (status, _, enabled) = post(
        &otp,
        "/api/account/totp/enable",
        json!({"code": code(&secret, -1)}),
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    for attempt in 0..5 {
        let body = if attempt % 2 == 0 {
            json!({"password": "wrong guess!", "totp": code(&secret, 0)})
        } else {
            json!({"password": PASSWORD, "totp": "aaaa-bbbb"})
        };
        let (status, _, answer) = post(&otp, "/api/account/totp/disable", body).await;
        assert_eq!(status, 401, "{answer}");
    }
    let (status, retry_after, _) = post(
        &otp,
        "/api/account/totp/disable",
        json!({"password": PASSWORD, "totp": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some_and(|s| s > 0));

    // Export, directly and through the link.
    let exp = Owner::signed_in(&server, "exp@studio.test").await;
    for i in 0..5 {
        let path = if i % 2 == 0 {
            "/api/account/export"
        } else {
            "/api/account/export/link"
        };
        let (status, _, body) = post(&exp, path, json!({"password": "wrong guess!"})).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, retry_after, _) =
        post(&exp, "/api/account/export", json!({"password": PASSWORD})).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some_and(|s| s > 0));

    // Each failure is in its owner's activity.
    let (_, activity) = exp.get_json("/api/account/activity").await;
    let failed = activity
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["action"] == "account.reauth_failed")
                .count()
        })
        .unwrap_or_default();
    assert_eq!(failed, 5, "{activity}");
}

/// The bell's poll, as the web app's timer sends it.
async fn background_poll(owner: &Owner) -> u16 {
    owner
        .http
        .get(owner.url("/api/notifications"))
        .header("x-background", "1")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The web app's bell polls every 30 s. Every poll refreshed the session's last activity, so a
/// tab left open on a studio workstation stayed signed in until the 30-day limit. Polls carry
/// `x-background` and no longer count as activity.
#[tokio::test(flavor = "multi_thread")]
async fn an_open_tab_polling_in_the_background_is_still_signed_out_when_idle() {
    let server = Server::start_with(&[("STUDIOVAULT_SESSIONS__IDLE_TIMEOUT_MINUTES", "10")]);
    server.add_user("idle@studio.test", "pro");
    let owner = Owner::signed_in(&server, "idle@studio.test").await;
    for _ in 0..3 {
        server.advance_clock(3 * 60);
        assert_eq!(
            background_poll(&owner).await,
            200,
            "polls are answered while the session lives"
        );
    }
    // Twelve minutes after the owner's last own request, polled all along.
    server.advance_clock(3 * 60);
    assert_eq!(
        background_poll(&owner).await,
        401,
        "the idle session is gone"
    );
    let (status, _) = owner.get_json("/api/session").await;
    assert_eq!(status, 401, "for the owner's own requests too");

    // The owner's own requests do keep it.
    let owner = Owner::signed_in(&server, "idle@studio.test").await;
    server.advance_clock(8 * 60);
    assert_eq!(owner.get_json("/api/tracks").await.0, 200);
    server.advance_clock(8 * 60);
    assert_eq!(
        background_poll(&owner).await,
        200,
        "8 minutes after the owner's last request"
    );
}

/// A child process killed (and reaped) however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `audit tail --follow` that falls behind (suspended, or read slowly) prints every record once
/// it catches up. A poll holds 1 000 records, and a tail that had more to read once jumped to
/// the newest, skipping the rest without a word.
#[tokio::test(flavor = "multi_thread")]
async fn a_followed_audit_tail_that_falls_behind_skips_no_record() {
    use std::time::{Duration, Instant};
    let server = Server::start();
    server.add_user("tail@studio.test", "free");
    let owner = Owner::signed_in(&server, "tail@studio.test").await;
    let track = owner
        .upload_ok("take.wav", studiovault_e2e::wav(1.0, 1))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let printed = dir.path().join("tail.jsonl");
    let tail = Running(
        server
            .cli_command(&["audit", "tail", "--follow", "--json", "-n", "1"])
            .stdout(std::fs::File::create(&printed).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&printed)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines().is_empty() {
        assert!(Instant::now() < deadline, "the tail printed nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signal = |sig: &str| {
        let sent = std::process::Command::new("kill")
            .args([sig, &tail.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    // Suspended while 1 100 records are written (each rename is one).
    signal("-STOP");
    for i in 0..1100 {
        let (status, _) = owner
            .send(
                Method::PATCH,
                &format!("/api/tracks/{track}"),
                Some(json!({"name": format!("take {i}")})),
            )
            .await;
        assert_eq!(status, 200);
    }
    // The newest record (`--json` prints one per line).
    let newest: Value = serde_json::from_str(
        server
            .cli_ok(&["audit", "tail", "-n", "1", "--json"], None)
            .trim(),
    )
    .unwrap();
    let head = newest["seq"].as_u64().unwrap();
    signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    let seqs = loop {
        let seqs: Vec<u64> = lines().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        if seqs.last().is_some_and(|last| *last >= head) {
            break seqs;
        }
        assert!(
            Instant::now() < deadline,
            "the tail never caught up with {head}: {:?}",
            seqs.last()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(tail);
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + seqs.len() as u64).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert!(seqs.len() > 1100, "{} records", seqs.len());
}

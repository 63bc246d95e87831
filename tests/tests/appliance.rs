//! The appliance as an operator meets it: configuration errors, refusing unsafe listeners, file
//! permissions, encryption at rest, one server per data directory, JSON for every error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use studiovault_e2e::{Owner, Server, binary, plain, wav};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

#[test]
fn config_check_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("studiovault.toml");
    std::fs::write(
        &path,
        "[http]\nlisten = \"127.0.0.1:8443\"\nmax_upload_bytes = \"lots\"\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`http.max_upload_bytes`"),
        "{err}"
    );

    std::fs::write(&path, "[sessions]\nidle_timout_minutes = 5\n").unwrap();
    let out = Command::new(binary())
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sessions") && err.contains("unknown field `idle_timout_minutes`"),
        "{err}"
    );

    std::fs::write(
        &path,
        "data_dir = \"/srv/studiovault\"\n[plans.pro]\nquota_gib = 750\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("STUDIOVAULT_HTTP__LISTEN", "[::1]:9000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = Command::new(binary())
        .args(["config", "show", "--config"])
        .arg(&path)
        .env("STUDIOVAULT_HTTP__LISTEN", "[::1]:9000")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("listen = \"[::1]:9000\"") && shown.contains("quota_gib = 750"),
        "{shown}"
    );
}

#[test]
fn plain_http_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["serve", "--listen", "0.0.0.0:18080", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("not a loopback address")
            && err.contains("http.listen"),
        "{err}"
    );
    assert!(
        !dir.path().join("vault.redb").exists(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_sockets_and_data_are_private_and_encrypted() {
    let mut server = Server::start();
    let data = server.data_dir();
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("master.key")), 0o600, "master key");
    assert_eq!(mode(&data.join("admin.sock")), 0o600, "admin socket");
    let key = std::fs::read_to_string(data.join("master.key")).unwrap();
    assert_eq!(key.trim().len(), 64);

    server.add_user("enc@studio.test", "pro");
    let owner = Owner::signed_in(&server, "enc@studio.test").await;
    // A WAV carrying a marker in a metadata chunk: it must not appear in any file on disk.
    let marker = b"UNRELEASED-LYRICS-7f3a9c";
    let mut audio = wav(1.0, 5);
    let mut chunk = b"LIST".to_vec();
    chunk.extend_from_slice(&(marker.len() as u32).to_le_bytes());
    chunk.extend_from_slice(marker);
    audio.splice(36..36, chunk);
    let riff_len = (audio.len() - 8) as u32;
    audio[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let id = owner.upload_ok("secret.wav", audio.clone()).await;
    let back = owner
        .get(&format!("/api/tracks/{id}/audio"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(back.as_ref(), audio.as_slice());
    server.stop();
    for path in server.files_under("") {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "plaintext found in {}",
            path.display()
        );
    }

    // With another master key the vault refuses to start rather than serve errors.
    std::fs::write(data.join("master.key"), format!("{}\n", "00".repeat(32))).unwrap();
    std::fs::set_permissions(
        data.join("master.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not open this vault"),
        "{err}"
    );
    assert!(!err.contains("UNRELEASED"), "no plaintext in the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_server_per_data_directory_and_a_clear_cli_when_none_runs() {
    let mut server = Server::start();
    let second = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && err.contains("another studiovault server"),
        "{err}"
    );
    server.stop();
    let out = server.cli(&["user", "list"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("the server is not running"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_signal_never_stops_the_appliance() {
    // `systemctl reload` sends SIGHUP, whose default action ends a process; with TLS off there
    // is nothing to reload, and the appliance must simply go on.
    let server = Server::start();
    let pid = server.pid().unwrap().to_string();
    for _ in 0..2 {
        let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(sent.success());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let out = server.cli(&["user", "list"], None);
    assert!(
        out.status.success(),
        "the server stopped on SIGHUP:\n{}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains("SIGHUP: TLS is off, nothing to reload"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_is_json_with_hardening_headers() {
    let server = Server::start();
    let client = Owner::new(&server);
    let res = client.get("/api/health").await;
    assert_eq!(res.status(), 200);
    for (header, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(res.headers()[header], value, "{header}");
    }
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    for (method, path, status) in [
        (reqwest::Method::GET, "/nope", 404),
        (reqwest::Method::PUT, "/api/session", 405),
        (reqwest::Method::DELETE, "/api/health", 405),
    ] {
        let res = client
            .http
            .request(method.clone(), client.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        assert!(res.headers()["content-security-policy"].to_str().is_ok());
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{method} {path}: {body}"
        );
    }
}

/// ASVS 16.3.1–16.3.3: refused requests leave a line in the security log (another tenant's id,
/// no session, a cross-origin write, a refused worker token, a wrong share password), with the
/// route but no id, token or address.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_logged_without_ids_tokens_or_addresses() {
    let server = Server::start();
    server.add_user("ana@studio.test", "pro");
    server.add_user("ben@studio.test", "pro");
    let ana = Owner::signed_in(&server, "ana@studio.test").await;
    let ben = Owner::signed_in(&server, "ben@studio.test").await;
    let track = ana.upload_ok("take.wav", wav(1.0, 1)).await;

    let (status, _) = ben.get_json(&format!("/api/tracks/{track}")).await;
    assert_eq!(status, 404);
    let anonymous = reqwest::Client::new();
    let res = anonymous
        .get(server.url("/api/tracks"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = ana
        .http
        .delete(ana.url(&format!("/api/tracks/{track}")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = anonymous
        .post(server.url("/api/worker/lease"))
        .bearer_auth("svw_forged_token_of_no_worker")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let log = plain(&server.log());
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request refused"))
        .collect();
    let has = |status: &str, route: &str| {
        refused
            .iter()
            .any(|l| l.contains(&format!("status={status}")) && l.contains(route))
    };
    assert!(has("404", "route=/api/tracks/{id}"), "{refused:#?}");
    assert!(has("401", "route=/api/tracks"), "{refused:#?}");
    assert!(has("403", "code=cross_origin"), "{refused:#?}");
    assert!(has("401", "route=/api/worker/lease"), "{refused:#?}");
    for line in &refused {
        assert!(!line.contains(&track), "an id in the log: {line}");
        assert!(!line.contains("svw_forged"), "a token in the log: {line}");
        assert!(!line.contains("127.0.0.1"), "an address in the log: {line}");
    }
}

//! Shares end to end: an owner shares two songs with three recipients, each recipient's
//! download carries their own watermark and traces back to them (and no one else) from a
//! re-encoded 30-second excerpt; and every replay trick on the signed media URLs fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use studiovault_e2e::{Owner, Server, ffmpeg, sha256_hex, wav, wesnoth_track};

/// A recipient's browser: no account, its own cookie jar.
fn visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn create_share(owner: &Owner, body: Value) -> Value {
    let (status, share) = owner.send(Method::POST, "/api/shares", Some(body)).await;
    assert_eq!(status, 201, "{share}");
    share
}

/// What the link's page polls: each track's copy state and the limits left.
async fn portal_state(server: &Server, client: &reqwest::Client, link: &str) -> Value {
    client
        .get(server.url(&format!("{link}/state")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the link's copy states until `done` holds for them (in playlist order); answers the
/// portal's state then.
async fn wait_for(
    server: &Server,
    client: &reqwest::Client,
    link: &str,
    done: impl Fn(&[&str]) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let state = portal_state(server, client, link).await;
        let states: Vec<&str> = state["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap())
            .collect();
        if done(&states) {
            return state;
        }
        assert!(Instant::now() < deadline, "copies not ready: {state}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until every track of the link is ready to play; none may fail.
async fn wait_ready(server: &Server, client: &reqwest::Client, link: &str) {
    let state = wait_for(server, client, link, |s| {
        s.iter().all(|t| *t == "ready" || *t == "failed")
    })
    .await;
    assert!(
        !state.to_string().contains("\"failed\""),
        "a copy failed: {state}"
    );
}

/// Asks the portal for a signed URL; answers the status and the URL (or the error body).
async fn signed(
    server: &Server,
    client: &reqwest::Client,
    link: &str,
    kind: &str,
    track: &str,
) -> (u16, Value) {
    let res = client
        .post(server.url(&format!("{link}/{kind}/{track}")))
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn fetch(
    server: &Server,
    client: &reqwest::Client,
    url: &str,
    range: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut req = client.get(server.url(url));
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.bytes().await.unwrap_or_default().to_vec(),
    )
}

/// A one-minute lossless excerpt of a real song, so six renders stay quick.
fn song(name: &str, start: &str) -> Vec<u8> {
    ffmpeg(
        &wesnoth_track(name).unwrap(),
        "ogg",
        &["-ss", start, "-t", "60", "-c:a", "flac"],
        "flac",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_recipients_copy_traces_back_to_that_recipient_alone() {
    let server = Server::start();
    server.add_user("artist@studio.test", "max");
    let owner = Owner::signed_in(&server, "artist@studio.test").await;
    let originals = [song("battle.ogg", "20"), song("elvish-theme.ogg", "10")];
    let mut tracks = Vec::new();
    for (i, bytes) in originals.iter().enumerate() {
        tracks.push(
            owner
                .upload_ok(&format!("take-{i}.flac"), bytes.clone())
                .await,
        );
    }
    let share = create_share(
        &owner,
        json!({
            "title": "Album preview",
            "tracks": tracks,
            "recipients": [
                {"name": "Ana Label", "email": "ana@label.test"},
                {"name": "Ben Mixer"},
                {"name": "Cy Press"}
            ],
            "allow_download": true
        }),
    )
    .await;
    assert_eq!(share["watermark"], true, "max plans watermark");
    let recipients = share["recipients"].as_array().unwrap().clone();
    assert_eq!(recipients.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let mut downloads: Vec<Vec<u8>> = Vec::new();
    for r in &recipients {
        let link = r["link"].as_str().unwrap();
        let client = visitor();
        let page = client.get(server.url(link)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Album preview") && html.contains("watermarked to you"));
        assert!(html.contains(r["name"].as_str().unwrap()));
        // The page's script reports the visit (fetching the page alone counts nothing).
        let opened = client
            .post(server.url(&format!("{link}/open")))
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 204);
        // No unmarked byte: before the copy exists, neither play nor download is signed.
        let (status, body) = signed(&server, &client, link, "play", &tracks[0]).await;
        assert!(
            status == 409 || status == 200,
            "play before the copy is ready: {status} {body}"
        );
        wait_ready(&server, &client, link).await;

        let (status, url) = signed(&server, &client, link, "download", &tracks[0]).await;
        assert_eq!(status, 200, "{url}");
        let url = url["url"].as_str().unwrap().to_owned();
        let (status, copy) = fetch(&server, &client, &url, None).await;
        assert_eq!(status, 200);
        assert_eq!(&copy[..4], b"fLaC", "lossless sources download as FLAC");
        assert_ne!(sha256_hex(&copy), sha256_hex(&originals[0]));
        assert_eq!(
            fetch(&server, &client, &url, None).await.0,
            403,
            "a download URL is single-use"
        );
        // Playback streams the same marked copy, with Range.
        let (_, play) = signed(&server, &client, link, "play", &tracks[1]).await;
        let play = play["url"].as_str().unwrap().to_owned();
        let (status, head) = fetch(&server, &client, &play, Some("bytes=0-3")).await;
        assert_eq!((status, head.as_slice()), (206, b"fLaC".as_slice()));
        // At most 2 MiB an answer, however much is asked for: a player asks again.
        let (status, first) = fetch(&server, &client, &play, Some("bytes=0-")).await;
        assert_eq!((status, first.len()), (206, 2 << 20));
        downloads.push(copy);
    }
    assert_ne!(downloads[0], downloads[1]);
    assert_ne!(downloads[1], downloads[2]);

    // Each copy leaks as a 128 kbps MP3 excerpt of 30 seconds; the trace names its recipient.
    for (i, copy) in downloads.iter().enumerate() {
        let leaked = ffmpeg(
            copy,
            "flac",
            &["-ss", "13.7", "-t", "30", "-b:a", "128k"],
            "mp3",
        )
        .unwrap();
        let trace = owner.trace(leaked.clone()).await;
        assert_eq!(trace["found"], true, "{trace}");
        assert_eq!(trace["recipient"]["id"], recipients[i]["id"], "{trace}");
        assert_eq!(trace["share"]["id"], share["id"]);
        assert!(
            trace.get("owner_email").is_none(),
            "owners see no admin fields"
        );
        assert!(
            trace["copies"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["track"] == tracks[0].as_str()),
            "{trace}"
        );
        if i == 2 {
            // The admin's CLI traces the same file through the admin socket.
            let path = dir.path().join("leak.mp3");
            std::fs::write(&path, &leaked).unwrap();
            let out = server.cli_ok(&["leak", "trace", path.to_str().unwrap(), "--json"], None);
            let cli: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(cli["recipient"]["name"], "Cy Press");
            assert_eq!(cli["owner_email"], "artist@studio.test");
            // No working link: the admin's plays would count as the recipient's.
            assert_eq!(cli["recipient"]["link"], "", "{cli}");
            let text = server.cli_ok(&["leak", "trace", path.to_str().unwrap()], None);
            assert!(
                text.contains("Cy Press") && text.contains("downloaded"),
                "{text}"
            );
        }
    }

    // Two recipients average their copies to hide: the trace still names a colluder, from
    // the payload or from the soft-bit scores, and never the third recipient.
    let (a, b) = (dir.path().join("a.flac"), dir.path().join("b.flac"));
    std::fs::write(&a, &downloads[0]).unwrap();
    std::fs::write(&b, &downloads[1]).unwrap();
    let mixed = dir.path().join("mixed.mp3");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&a)
        .arg("-i")
        .arg(&b)
        .args([
            "-filter_complex",
            "amix=inputs=2:normalize=1",
            "-ss",
            "5",
            "-t",
            "30",
            "-b:a",
            "192k",
        ])
        .arg(&mixed)
        .status()
        .unwrap();
    assert!(status.success());
    let trace = owner.trace(std::fs::read(&mixed).unwrap()).await;
    let mut named: Vec<&Value> = trace["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["recipient"]["id"])
        .collect();
    if !trace["recipient"].is_null() {
        named.push(&trace["recipient"]["id"]);
    }
    assert!(!named.is_empty(), "no colluder named: {trace}");
    assert!(
        named
            .iter()
            .all(|id| **id == recipients[0]["id"] || **id == recipients[1]["id"]),
        "an innocent was named: {trace}"
    );
    let out = server.cli_ok(&["leak", "trace", mixed.to_str().unwrap()], None);
    assert!(
        !out.contains("Cy Press") && (out.contains("Ana Label") || out.contains("Ben Mixer")),
        "{out}"
    );

    // Another owner learns nothing from the same file.
    server.add_user("rival@studio.test", "max");
    let rival = Owner::signed_in(&server, "rival@studio.test").await;
    let leaked = ffmpeg(&downloads[0], "flac", &["-t", "30", "-b:a", "128k"], "mp3").unwrap();
    let trace = rival.trace(leaked).await;
    assert_eq!(trace["found"], false, "{trace}");
    assert!(trace["recipient"].is_null());
    assert!(
        trace["payload"].is_null(),
        "not even that this appliance marked it: {trace}"
    );

    // The owner sees, per recipient, what was opened, played and downloaded.
    let (_, detail) = owner
        .get_json(&format!("/api/shares/{}", share["id"].as_str().unwrap()))
        .await;
    for r in detail["recipients"].as_array().unwrap() {
        let kinds: Vec<&str> = r["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for kind in ["opened", "copy_issued", "played", "downloaded"] {
            assert!(kinds.contains(&kind), "{kind} missing: {r}");
        }
        assert_eq!(r["downloads"], 1);
    }
    // "Who accessed my files" shows the recipients' accesses, by recipient.
    let (_, activity) = owner.get_json("/api/account/activity").await;
    assert!(
        activity
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "share.download"
                && e["actor"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("recipient:"))),
        "{activity}"
    );
    // The audit chain holds every step and still verifies.
    let log = server.cli_ok(&["audit", "tail", "--json", "-n", "200"], None);
    for action in [
        "share.create",
        "share.open",
        "share.render",
        "share.play",
        "share.download",
        "leak.trace",
    ] {
        assert!(log.contains(action), "{action} not audited");
    }
    server.cli_ok(&["audit", "verify"], None);
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_limits_and_every_replay_trick_are_enforced_over_http() {
    let server = Server::start();
    server.add_user("owner@studio.test", "pro");
    let owner = Owner::signed_in(&server, "owner@studio.test").await;
    let a = owner.upload_ok("a.wav", wav(1.0, 1)).await;
    let b = owner.upload_ok("b.wav", wav(1.0, 2)).await;
    let share = create_share(
        &owner,
        json!({
            "title": "Rough mixes",
            "tracks": [a, b],
            "recipients": [{"name": "Dee"}, {"name": "Eli"}],
            "password": "open sesame",
            "allow_download": true
        }),
    )
    .await;
    assert_eq!(share["watermark"], false, "pro plans stream the original");
    let dee = share["recipients"][0]["link"].as_str().unwrap().to_owned();
    let eli = share["recipients"][1]["link"].as_str().unwrap().to_owned();
    let client = visitor();

    // The password page, a wrong password, then the right one.
    let page = client.get(server.url(&dee)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("http"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("type=\"password\"") && !html.contains("Rough mixes"));
    assert_eq!(
        signed(&server, &client, &dee, "play", &a).await.0,
        403,
        "locked"
    );
    let wrong = client
        .post(server.url(&format!("{dee}/unlock")))
        .form(&[("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .post(server.url(&format!("{dee}/unlock")))
        .form(&[("password", "open sesame")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    // Lax, so that opening the link again from a webmail (another site) within the unlock's
    // hours shows the page, not the password form; scoped to this one link.
    let unlock_cookie = right.headers()["set-cookie"].to_str().unwrap();
    assert!(
        unlock_cookie.contains("SameSite=Lax")
            && unlock_cookie.contains("HttpOnly")
            && unlock_cookie.contains(&format!("Path={dee};")),
        "{unlock_cookie}"
    );
    let html = client
        .get(server.url(&dee))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Rough mixes") && html.contains("Download"));

    let (_, play) = signed(&server, &client, &dee, "play", &a).await;
    let play = play["url"].as_str().unwrap().to_owned();
    let (status, body) = fetch(&server, &client, &play, Some("bytes=44-99")).await;
    assert_eq!((status, body.len()), (206, 56));
    let (_, down) = signed(&server, &client, &dee, "download", &b).await;
    let down = down["url"].as_str().unwrap().to_owned();

    // Eli unlocks too, so his grant is a real one to swap in.
    let eli_client = visitor();
    eli_client
        .post(server.url(&format!("{eli}/unlock")))
        .form(&[("password", "open sesame")])
        .send()
        .await
        .unwrap();
    let (_, eli_play) = signed(&server, &eli_client, &eli, "play", &b).await;
    let eli_play = eli_play["url"].as_str().unwrap().to_owned();

    let parts = |url: &str| -> (String, String) {
        let (path, query) = url.split_once('?').unwrap();
        (path.to_owned(), query.to_owned())
    };
    let (play_path, play_query) = parts(&play);
    let (eli_path, eli_query) = parts(&eli_play);
    let segments: Vec<&str> = play_path.split('/').collect(); // "", m, recipient, track, kind
    let eli_segments: Vec<&str> = eli_path.split('/').collect();
    let set_param = |query: &str, key: &str, value: &str| -> String {
        query
            .split('&')
            .map(|kv| {
                if kv.starts_with(&format!("{key}=")) {
                    format!("{key}={value}")
                } else {
                    kv.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let expires: i64 = play_query
        .split('&')
        .find_map(|kv| kv.strip_prefix("e="))
        .unwrap()
        .parse()
        .unwrap();
    let tricks: Vec<(&str, String)> = vec![
        (
            "tampered expiry",
            format!(
                "{play_path}?{}",
                set_param(&play_query, "e", &(expires + 86_400).to_string())
            ),
        ),
        (
            "other track",
            format!("/m/{}/{b}/play?{play_query}", segments[2]),
        ),
        (
            "other recipient's grant",
            format!("/m/{}/{}/play?{play_query}", eli_segments[2], segments[3]),
        ),
        (
            "Eli's signature on Dee's URL",
            format!(
                "{play_path}?{}",
                set_param(
                    &play_query,
                    "s",
                    eli_query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("s="))
                        .unwrap()
                )
            ),
        ),
        (
            "play URL as a download",
            play.replace("/play?", "/download?"),
        ),
        ("no query", play_path.clone()),
        ("garbage ids", "/m/x/y/play?e=1&n=00&s=00".into()),
        (
            "zeroed signature",
            format!(
                "{play_path}?{}",
                set_param(&play_query, "s", &"0".repeat(64))
            ),
        ),
    ];
    for (trick, url) in &tricks {
        let (status, body) = fetch(&server, &client, url, None).await;
        assert_eq!(status, 403, "{trick}: {}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "forbidden", "{trick}");
    }
    let post = client.post(server.url(&play)).send().await.unwrap();
    assert_eq!(post.status(), 403, "the method is signed");

    assert_eq!(fetch(&server, &client, &down, None).await.0, 200);
    assert_eq!(
        fetch(&server, &client, &down, None).await.0,
        403,
        "replayed download"
    );

    // Revoking Dee kills her URLs and her page; Eli keeps his.
    let share_id = share["id"].as_str().unwrap();
    let dee_id = share["recipients"][0]["id"].as_str().unwrap();
    let (status, _) = owner
        .send(
            Method::DELETE,
            &format!("/api/shares/{share_id}/recipients/{dee_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        fetch(&server, &client, &play, Some("bytes=0-9")).await.0,
        403
    );
    let revoked = client.get(server.url(&dee)).send().await.unwrap();
    assert_eq!(revoked.status(), 404);
    let revoked = revoked.text().await.unwrap();
    let unknown = visitor()
        .get(server.url("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.text().await.unwrap(),
        revoked,
        "no hint a link existed"
    );
    assert_eq!(
        fetch(&server, &eli_client, &eli_play, Some("bytes=0-9"))
            .await
            .0,
        206,
        "the other recipient plays on"
    );
    // Playing is not downloading: a play URL answers the byte ranges a player asks for.
    assert_eq!(fetch(&server, &eli_client, &eli_play, None).await.0, 416);

    // A new expiry two seconds out: once past, URLs and pages die.
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 2_000;
    let (status, updated) = owner
        .send(
            Method::PATCH,
            &format!("/api/shares/{share_id}"),
            Some(json!({"expires_at": soon})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        fetch(&server, &eli_client, &eli_play, Some("bytes=0-9"))
            .await
            .0,
        403,
        "expired"
    );
    assert_eq!(
        eli_client
            .get(server.url(&eli))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, listed) = owner.get_json("/api/shares").await;
    assert_eq!(listed[0]["status"], "expired");

    // Stream-only shares never sign a download; limits hold; bad input is named.
    let stream_only = create_share(
        &owner,
        json!({"tracks": [a], "recipients": [{"name": "Flo"}], "play_limit": 1}),
    )
    .await;
    let flo = stream_only["recipients"][0]["link"].as_str().unwrap();
    let flo_client = visitor();
    let html = flo_client
        .get(server.url(flo))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Streaming only") && !html.contains("class=\"download\""));
    let (status, body) = signed(&server, &flo_client, flo, "download", &a).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    assert_eq!(signed(&server, &flo_client, flo, "play", &a).await.0, 200);
    let (status, body) = signed(&server, &flo_client, flo, "play", &a).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("limit_reached"))
    );

    for (bad, field) in [
        (
            json!({"tracks": ["nope"], "recipients": [{"name": "X"}]}),
            "tracks",
        ),
        (json!({"tracks": [a], "recipients": []}), "recipients"),
        (
            json!({"tracks": [a], "recipients": [{"name": "X"}], "expires_at": 1}),
            "expires_at",
        ),
        (
            json!({"tracks": [a], "recipients": [{"name": "X"}], "surprise": true}),
            "surprise",
        ),
    ] {
        let (status, body) = owner.send(Method::POST, "/api/shares", Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    server.add_user("other@studio.test", "pro");
    let other = Owner::signed_in(&server, "other@studio.test").await;
    assert_eq!(
        other.get_json(&format!("/api/shares/{share_id}")).await.0,
        404
    );
    assert_eq!(
        other
            .send(Method::DELETE, &format!("/api/shares/{share_id}"), None)
            .await
            .0,
        404
    );
    let (status, body) = other
        .send(
            Method::POST,
            "/api/shares",
            Some(json!({"tracks": [a], "recipients": [{"name": "X"}]})),
        )
        .await;
    assert_eq!(
        status, 400,
        "another owner's track cannot be shared: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_that_cannot_be_made_fails_alone_and_serves_nothing() {
    // Renders run in limited child processes: here audio longer than the limit.
    let server = Server::start_with(&[("STUDIOVAULT_ANALYSIS__MAX_DURATION_MINUTES", "1")]);
    server.add_user("max@studio.test", "max");
    let owner = Owner::signed_in(&server, "max@studio.test").await;
    let long = owner.upload_ok("long.wav", wav(65.0, 3)).await;
    let short = owner.upload_ok("short.wav", wav(2.0, 4)).await;
    let share = create_share(
        &owner,
        json!({"tracks": [long, short], "recipients": [{"name": "Kit"}], "allow_download": true}),
    )
    .await;
    let link = share["recipients"][0]["link"].as_str().unwrap();
    let client = visitor();
    assert_eq!(
        client.get(server.url(link)).send().await.unwrap().status(),
        200
    );
    let state = wait_for(&server, &client, link, |s| s == ["failed", "ready"]).await;
    let (status, body) = signed(&server, &client, link, "download", &long).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("copy_not_ready")),
        "{state}"
    );
    let (status, url) = signed(&server, &client, link, "download", &short).await;
    assert_eq!(status, 200);
    let (status, copy) = fetch(&server, &client, url["url"].as_str().unwrap(), None).await;
    assert_eq!((status, &copy[..4]), (200, b"fLaC".as_slice()));
    assert!(server.log().contains("rendering a watermarked copy failed"));
    assert_eq!(owner.get("/api/health").await.status(), 200);
}

/// A 21 KB FLAC that claimed 60 s of 8 channels at 655 kHz once took the server from 31 MB to
/// 1.27 GB: suspect files are read in a sandboxed child now, with rate and channel caps.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_suspect_file_is_refused_in_a_sandboxed_child() {
    let server = Server::start();
    server.add_user("tracer@studio.test", "max");
    let owner = Owner::signed_in(&server, "tracer@studio.test").await;
    // Ten channels at 384 kHz: past both caps. (ffmpeg encodes no FLAC faster than 192 kHz,
    // so the review's 655 kHz FLAC is not remade here; the caps refuse it the same way.)
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.wav");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=r=384000:a=0.1",
            "-t",
            "0.25",
        ])
        .args([
            "-af",
            "pan=10 channels|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0|c8=c0|c9=c0",
        ])
        .args(["-c:a", "pcm_s16le"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let bomb = std::fs::read(&path).unwrap();
    let before = server.peak_rss();
    let res = owner
        .http
        .post(owner.url("/api/leaks/trace"))
        .body(bomb)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unreadable_audio")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("10 channels at 384000 Hz"),
        "{body}"
    );
    let after = server.peak_rss();
    assert!(
        after < before + (64 << 20),
        "the server's peak memory grew from {before} to {after} bytes"
    );
    // A real excerpt still traces (it is read the same way).
    let song = ffmpeg(&wav(20.0, 4), "wav", &["-b:a", "128k"], "mp3").unwrap();
    assert_eq!(owner.trace(song).await["found"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_share_password_guesses_get_no_more_than_the_limit_checked() {
    let server = Server::start();
    server.add_user("owner@studio.test", "pro");
    let owner = Owner::signed_in(&server, "owner@studio.test").await;
    let a = owner.upload_ok("a.wav", wav(0.5, 1)).await;
    let share = create_share(
        &owner,
        json!({"tracks": [a], "recipients": [{"name": "Dee"}], "password": "open sesame"}),
    )
    .await;
    let dee = share["recipients"][0]["link"].as_str().unwrap().to_owned();
    let guesser = visitor();
    let answers = futures_util::future::join_all((0..12).map(|i| {
        let (guesser, url) = (&guesser, server.url(&format!("{dee}/unlock")));
        async move {
            let res = guesser
                .post(url)
                .form(&[("password", format!("guess {i}"))])
                .send()
                .await
                .unwrap();
            let retry_after = res.headers().contains_key("retry-after");
            (res.status().as_u16(), retry_after)
        }
    }))
    .await;
    let checked = answers.iter().filter(|a| **a == (401, false)).count();
    let refused = answers.iter().filter(|a| **a == (429, true)).count();
    assert_eq!((checked, refused), (5, 7), "{answers:?}");
    // The right password waits too, at this address.
    let right = guesser
        .post(server.url(&format!("{dee}/unlock")))
        .form(&[("password", "open sesame")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429);
    // The owner sees each checked guess.
    let (_, activity) = owner.get_json("/api/account/activity").await;
    let failed = activity
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["action"] == "share.unlock_failed")
                .count()
        })
        .unwrap_or_default();
    assert_eq!(failed, 5, "{activity}");
}

/// Copies are jobs of the durable job table: a render cut off by a restart (and one by a
/// SIGKILL) is taken up again after it, and finishes without the recipient coming back.
#[tokio::test(flavor = "multi_thread")]
async fn a_render_cut_off_by_a_restart_finishes_after_it_unasked() {
    let mut server = Server::start();
    server.add_user("max@studio.test", "max");
    let owner = Owner::signed_in(&server, "max@studio.test").await;
    // Seven minutes of real music: a copy that takes a while to make.
    let track = owner
        .upload_ok("knolls.ogg", wesnoth_track("knolls.ogg").unwrap())
        .await;
    for stop in ["SIGTERM", "SIGKILL"] {
        let share = create_share(
            &owner,
            json!({"tracks": [track], "recipients": [{"name": format!("Ivy ({stop})")}]}),
        )
        .await;
        let link = share["recipients"][0]["link"].as_str().unwrap().to_owned();
        let client = visitor();
        assert_eq!(
            client.get(server.url(&link)).send().await.unwrap().status(),
            200
        );
        wait_for(&server, &client, &link, |s| s == ["rendering"]).await;
        if stop == "SIGTERM" {
            server.restart();
        } else {
            server.kill9();
            server.start_again();
        }
        // Nobody visits the link: the copy is finished from the job table alone.
        let deadline = Instant::now() + Duration::from_secs(180);
        while !server.log().contains("watermarked copy stored") {
            assert!(
                Instant::now() < deadline,
                "the copy was not finished after the {stop}:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let state = portal_state(&server, &client, &link).await;
        assert_eq!(
            state["tracks"][0]["state"], "ready",
            "after the {stop}: {state}"
        );
    }
}

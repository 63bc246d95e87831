//! Review with clients against the real server, over the API a browser's scripts use:
//! versions and a share that follows them, comments and who sees which thread, what a
//! recipient heard, upload links with their caps and password, notifications, and a link
//! preview that counts nothing. `review_browser.rs` does the same in Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use studiovault_e2e::{Owner, Server, wav};

const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";

/// A recipient's browser: its own cookies, a person's user agent.
fn visitor(server: &Server, agent: &str) -> reqwest::Client {
    studiovault_e2e::client_for(server)
        .cookie_store(true)
        .user_agent(agent)
        .build()
        .unwrap()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let res = client.post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let res = client.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

#[tokio::test(flavor = "multi_thread")]
async fn versions_comments_listening_and_notifications_over_the_api() {
    let server = Server::start();
    server.add_user("mixer@studio.test", "pro");
    let owner = Owner::signed_in(&server, "mixer@studio.test").await;
    let v1 = owner.upload_ok("Night Drive.wav", wav(100.0, 1)).await;
    let v2 = owner
        .upload_version("Night Drive mix 2.wav", wav(100.0, 2), &v1)
        .await;
    assert_eq!(v2["version"]["number"], 2);
    let v2 = v2["id"].as_str().unwrap().to_owned();

    // The library lists the newest version, and knows there are two.
    let (_, page) = owner.get_json("/api/tracks").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["id"], v2.as_str());
    assert_eq!(page["items"][0]["version"]["count"], 2);
    let (_, all) = owner.get_json("/api/tracks?versions=all").await;
    assert_eq!(all["total"], 2);
    let (_, versions) = owner.get_json(&format!("/api/tracks/{v1}/versions")).await;
    let labels: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Mix 1", "Mix 2"]);
    // A version of a track that is not in the library is refused, and nothing is stored.
    let form = Form::new()
        .part("file", Part::bytes(wav(1.0, 3)).file_name("x.wav"))
        .text("version_of", "0123456789abcdef0123456789abcdef");
    let res = owner
        .http
        .post(owner.url("/api/tracks"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (_, page) = owner.get_json("/api/tracks?versions=all").await;
    assert_eq!(page["total"], 2);

    // One share follows the versions (named by the first); another stays on the first.
    let share = |follow: bool| {
        json!({
            "title": "Night Drive for the label",
            "tracks": [v1],
            "recipients": [{"name": "Ana <Label>"}, {"name": "Ben"}],
            "follow_latest": follow,
        })
    };
    let (status, following) = owner
        .send(Method::POST, "/api/shares", Some(share(true)))
        .await;
    assert_eq!(status, 201, "{following}");
    let (_, pinned) = owner
        .send(Method::POST, "/api/shares", Some(share(false)))
        .await;
    let ana = server.url(following["recipients"][0]["link"].as_str().unwrap());
    let ben = server.url(following["recipients"][1]["link"].as_str().unwrap());
    let pinned_ana = server.url(pinned["recipients"][0]["link"].as_str().unwrap());

    // A link preview fetches the page and even posts its open: nothing counts, nothing is spent.
    let bot = visitor(&server, SLACK);
    let page = bot.get(&ana).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Mix 2") && html.contains(&v2),
        "the page offers both versions"
    );
    assert_eq!(
        bot.post(format!("{ana}/open"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (_, detail) = owner
        .get_json(&format!(
            "/api/shares/{}",
            following["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(detail["recipients"][0]["events"], json!([]), "{detail}");
    assert_eq!(detail["recipients"][0]["plays"], 0);
    let (_, news) = owner.get_json("/api/notifications").await;
    assert_eq!(news["notifications"], json!([]), "{news}");

    // Ana opens it in her browser: the owner is told once.
    let ana_browser = visitor(&server, BROWSER);
    for _ in 0..2 {
        let res = ana_browser
            .post(format!("{ana}/open"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    // Nothing of the share played yet: a report of listening is refused.
    let (status, _) = post(
        &ana_browser,
        format!("{ana}/listen/{v2}"),
        json!({"from_secs": 0.0, "to_secs": 5.0}),
    )
    .await;
    assert_eq!(status, 403);
    // She plays the newest version; the pinned share does not reach it.
    let (status, url) = post(&ana_browser, format!("{ana}/play/{v2}"), json!({})).await;
    assert_eq!(status, 200, "{url}");
    let (status, _) = post(&ana_browser, format!("{pinned_ana}/play/{v2}"), json!({})).await;
    assert_eq!(status, 404);
    // The player's Range requests make one listening session, not many.
    let media = server.url(url["url"].as_str().unwrap());
    for range in ["bytes=0-1023", "bytes=1024-", "bytes=500000-"] {
        let res = ana_browser
            .get(&media)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
    }

    // Ana comments at 1:23 on Mix 2 (her text is hostile: it stays text).
    let hostile = "Kick too loud <script>alert(1)</script>";
    let (status, comment) = post(
        &ana_browser,
        format!("{ana}/comments/{v2}"),
        json!({"text": hostile, "at_secs": 83.0}),
    )
    .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(
        comment["author"],
        json!({"kind": "recipient", "name": "Ana <Label>"})
    );
    let thread = comment["id"].as_str().unwrap().to_owned();
    // Bad comments get a clear error.
    for (body, field) in [
        (json!({"text": "", "at_secs": 1.0}), "text"),
        (json!({"text": "x", "at_secs": 500.0}), "at_secs"),
        (
            json!({"text": "x", "at_secs": 5.0, "end_secs": 2.0}),
            "end_secs",
        ),
        (json!({"text": "x"}), "at_secs"),
    ] {
        let (status, err) = post(&ana_browser, format!("{ana}/comments/{v2}"), body).await;
        assert_eq!(status, 400, "{err}");
        assert!(err["message"].as_str().unwrap().contains(field), "{err}");
    }
    // A body that is not the JSON asked for, or too long, says so; it once fell through to the
    // media-URL route and answered 404 "no such action".
    let raw = |body: String| {
        ana_browser
            .post(format!("{ana}/comments/{v2}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let lyrics = format!(r#"{{"text": "{}", "at_secs": 1.0}}"#, "la ".repeat(7000));
    for (body, expect, code) in [
        (
            r#"{"text": 5, "at_secs": 1.0}"#.to_owned(),
            400,
            "bad_request",
        ),
        ("not json at all".to_owned(), 400, "bad_request"),
        (lyrics, 413, "too_large"),
    ] {
        let res = raw(body).await.unwrap();
        let status = res.status().as_u16();
        let err: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (status, err["error"].as_str()),
            (expect, Some(code)),
            "{err}"
        );
    }
    let res = ana_browser
        .post(format!("{ana}/listen/{v2}"))
        .header("content-type", "application/json")
        .body(r#"{"seconds": "a while"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a malformed listening report");

    // The owner sees the thread; Ben does not, until the owner shows it to every recipient.
    let (_, owners_view) = owner.get_json(&format!("/api/tracks/{v2}/comments")).await;
    assert_eq!(owners_view["comments"][0]["text"], hostile);
    assert_eq!(owners_view["comments"][0]["at_secs"], 83.0);
    let ben_browser = visitor(&server, BROWSER);
    let (status, bens) = get(&ben_browser, format!("{ben}/comments/{v2}")).await;
    assert_eq!((status, &bens["comments"]), (200, &json!([])));
    // Ben cannot reply into Ana's thread either.
    let (status, _) = post(
        &ben_browser,
        format!("{ben}/comments/{v2}"),
        json!({"text": "me too", "parent": thread}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, reply) = owner
        .send(
            Method::POST,
            &format!("/api/tracks/{v2}/comments"),
            Some(json!({"text": "Fixed in mix 3", "parent": thread})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["at_secs"], 83.0, "a reply takes its thread's time");
    let (_, anas) = get(&ana_browser, format!("{ana}/comments/{v2}")).await;
    assert_eq!(anas["comments"].as_array().unwrap().len(), 2);
    // An owner without a display name is "the studio" to recipients, never their address.
    assert!(!anas.to_string().contains("@studio.test"), "{anas}");
    assert!(
        anas["comments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["author"] == json!({"kind": "owner", "name": "the studio"})),
        "{anas}"
    );
    let (status, shared) = owner
        .send(
            Method::POST,
            &format!("/api/comments/{thread}"),
            Some(json!({"shared": true, "resolved": true})),
        )
        .await;
    assert_eq!(status, 200, "{shared}");
    assert_eq!(
        (shared["shared"].clone(), shared["resolved"].clone()),
        (json!(true), json!(true))
    );
    let (_, bens) = get(&ben_browser, format!("{ben}/comments/{v2}")).await;
    assert_eq!(bens["comments"].as_array().unwrap().len(), 2);
    // The pinned share's recipient sees nothing of another share's threads.
    let (_, pinned_view) = get(&ana_browser, format!("{pinned_ana}/comments/{v1}")).await;
    assert_eq!(pinned_view["comments"], json!([]));

    // Ana's player reports what it played: 1:20 to 1:30, then a claim of the whole song at
    // once, which is cut to the time that passed.
    for (from, to) in [(80.0, 90.0), (0.0, 100.0)] {
        let res = ana_browser
            .post(format!("{ana}/listen/{v2}"))
            .json(&json!({"from_secs": from, "to_secs": to}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let (_, heard) = owner
        .get_json(&format!(
            "/api/shares/{}/listening",
            following["id"].as_str().unwrap()
        ))
        .await;
    let ana_heard = &heard["recipients"][0];
    assert_eq!(ana_heard["name"], "Ana <Label>");
    let track = &ana_heard["tracks"][0];
    assert_eq!(track["track"], v2.as_str());
    assert_eq!(track["sessions"], 1, "{track}");
    let heat: Vec<f64> = track["heat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_f64().unwrap())
        .collect();
    assert_eq!(heat.len(), 100);
    assert!(heat[85] >= 1.0, "1:25 was heard: {heat:?}");
    assert!(heat[95] == 0.0, "the end was not: {heat:?}");
    let listened = track["listened_secs"].as_f64().unwrap();
    assert!(
        (10.0..25.0).contains(&listened),
        "the whole-song claim is cut: {listened}"
    );
    assert_eq!(track["played_to_end"], false);
    let (_, bens_heard) = owner
        .get_json(&format!(
            "/api/shares/{}/listening",
            following["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(bens_heard["recipients"][1]["tracks"], json!([]));

    // The owner was told: the first visit (once), and the comment with its moment.
    let (_, news) = owner.get_json("/api/notifications").await;
    let kinds: Vec<&str> = news["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["commented", "opened"], "{news}");
    assert!(
        news["notifications"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("Ana <Label> commented at 1:23 on Night Drive mix 2"),
        "{news}"
    );
    assert_eq!(news["unread"], 2);
    let (status, _) = owner
        .send(Method::POST, "/api/notifications/read", Some(json!({})))
        .await;
    assert_eq!(status, 204);
    let (_, news) = owner.get_json("/api/notifications").await;
    assert_eq!(
        (news["unread"].clone(), news["mail"].clone()),
        (json!(0), json!("immediate"))
    );
    let (status, _) = owner
        .send(
            Method::PUT,
            "/api/notifications/mail",
            Some(json!({"mail": "weekly"})),
        )
        .await;
    assert_eq!(status, 400);

    // The audit log has the recipient's comment with the recipient as actor.
    let audit = server.cli_ok(&["audit", "tail", "-n", "500"], None);
    assert!(
        audit.contains("comment.add") && audit.contains("recipient:"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_links_take_audio_within_their_caps_and_password() {
    let server = Server::start();
    server.add_user("studio@studio.test", "pro");
    let owner = Owner::signed_in(&server, "studio@studio.test").await;
    let (status, link) = owner
        .send(
            Method::POST,
            "/api/upload-links",
            Some(json!({"name": "Cleo", "max_files": 2, "password": "stems please"})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    assert_eq!(link["folder"], "From Cleo");
    let url = server.url(link["link"].as_str().unwrap());
    let client = visitor(&server, BROWSER);

    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("upload-password") && html.contains("From Cleo"),
        "{html}"
    );

    let send = |bytes: Vec<u8>, name: &str, password: Option<&str>| {
        let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
        let mut req = client.post(format!("{url}/files")).multipart(form);
        if let Some(p) = password {
            req = req.header("x-link-password", p);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(send(wav(2.0, 1), "vocals.wav", None).await.0, 401);
    assert_eq!(send(wav(2.0, 1), "vocals.wav", Some("wrong")).await.0, 401);
    let (status, err) = send(
        b"not audio at all, just text".to_vec(),
        "notes.wav",
        Some("stems please"),
    )
    .await;
    assert_eq!(status, 415, "{err}");
    for (i, name) in ["vocals.wav", "bass.wav"].iter().enumerate() {
        let (status, got) = send(wav(3.0, i as u32 + 1), name, Some("stems please")).await;
        assert_eq!(status, 201, "{got}");
        assert_eq!(got["files_left"], 1 - i as u64);
    }
    let (status, full) = send(wav(1.0, 9), "drums.wav", Some("stems please")).await;
    assert_eq!(status, 403, "{full}");
    assert_eq!(full["error"], "limit_reached");
    assert_eq!(
        full["message"], "the limit on files is reached",
        "an upload link is not a share"
    );

    // The files are the owner's tracks, in the link's folder, analysed like any upload.
    let (_, page) = owner.get_json("/api/tracks?folder=From%20Cleo").await;
    assert_eq!(page["total"], 2, "{page}");
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"vocals") && names.contains(&"bass"),
        "{names:?}"
    );
    assert!(page["items"][0]["analysis"]["state"] != "off");
    let (_, links) = owner.get_json("/api/upload-links").await;
    assert_eq!(links["links"][0]["status"], "full");
    assert_eq!(links["links"][0]["files_received"], 2);
    let (_, news) = owner.get_json("/api/notifications").await;
    assert_eq!(news["notifications"][0]["kind"], "uploaded");
    let audit = server.cli_ok(&["audit", "tail", "-n", "500"], None);
    assert!(
        audit.contains("upload_link.receive") && audit.contains("upload_link:"),
        "the link is the actor: {audit}"
    );
    assert!(audit.contains("upload_link.unlock_failed"));

    // Revoked, the link is gone for good: the page and the upload both.
    let id = link["id"].as_str().unwrap();
    let (status, _) = owner
        .send(Method::DELETE, &format!("/api/upload-links/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(
        send(wav(1.0, 5), "late.wav", Some("stems please")).await.0,
        404
    );
    // A forged link is the same page.
    let forged = format!("{}x", &url[..url.len() - 1]);
    assert_eq!(client.get(&forged).send().await.unwrap().status(), 404);
}

/// Files sent through an upload link at the same time are admitted beside each other: together
/// they stay within its caps (before, each passed them alone and streamed in full, and only
/// the commits refused the rest), and a file that ends, sent or not, gives its place back.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_link_admits_files_sent_at_once_only_within_its_caps() {
    let server = Server::start();
    server.add_user("studio@studio.test", "pro");
    let owner = Owner::signed_in(&server, "studio@studio.test").await;
    let (status, link) = owner
        .send(
            Method::POST,
            "/api/upload-links",
            Some(json!({"name": "Dee", "max_files": 2, "max_bytes": 1_000_000})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let files_url = format!("{}/files", server.url(link["link"].as_str().unwrap()));
    let client = visitor(&server, BROWSER);
    let send = |bytes: Vec<u8>, name: &str| {
        let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
        let req = client.post(&files_url).multipart(form);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // A 600 kB take starts arriving, slowly: its first 64 KiB, then nothing for now.
    let slow = wav(3.4, 1);
    let (more, queued) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let body = futures_util::stream::unfold(queued, |mut queued| async move {
        queued.recv().await.map(|chunk| (chunk, queued))
    });
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(body), slow.len() as u64)
        .file_name("slow take.wav");
    let slow_upload = tokio::spawn(
        client
            .post(&files_url)
            .multipart(Form::new().part("file", part))
            .send(),
    );
    more.send(Ok(bytes::Bytes::copy_from_slice(&slow[..65_536])))
        .await
        .unwrap();
    let admitted_by = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.files_under("tmp").is_empty() {
        assert!(
            std::time::Instant::now() < admitted_by,
            "the slow take never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Beside it, 400 kB are left: a 512 kB file does not fit, a 282 kB one does.
    let (status, refused) = send(wav(2.9, 2), "too big.wav").await;
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["error"], "too_large", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("while other files are arriving"),
        "{refused}"
    );
    let (status, got) = send(wav(1.6, 3), "fits.wav").await;
    assert_eq!(status, 201, "{got}");
    assert_eq!(got["files_left"], 1);

    // The one file left is the slow take's, still arriving.
    let (status, busy) = send(wav(0.5, 4), "one more.wav").await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(busy["error"], "uploads_in_progress", "{busy}");

    // The slow take breaks off: its place is free again, and nothing of it stays.
    more.send(Err(std::io::Error::other("the client went away")))
        .await
        .unwrap();
    drop(more);
    assert!(slow_upload.await.unwrap().is_err(), "the upload broke off");
    let freed_by = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (status, got) = loop {
        let (status, got) = send(wav(0.5, 4), "one more.wav").await;
        if status != 409 || std::time::Instant::now() > freed_by {
            break (status, got);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status, 201, "{got}");
    assert_eq!(got["files_left"], 0);
    while !server.files_under("tmp").is_empty() {
        assert!(
            std::time::Instant::now() < freed_by,
            "the broken-off take left {:?}",
            server.files_under("tmp")
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, page) = owner.get_json("/api/tracks?folder=From%20Dee").await;
    assert_eq!(page["total"], 2, "{page}");
}

/// On a watermarking share that follows versions, each recipient gets an own marked copy of
/// every version, and a play of any version serves only that copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_watermarking_share_renders_a_marked_copy_of_each_version() {
    let server = Server::start();
    server.add_user("label@studio.test", "max");
    let owner = Owner::signed_in(&server, "label@studio.test").await;
    let v1 = owner.upload_ok("Hook.wav", wav(20.0, 1)).await;
    let v2 = owner.upload_version("Hook v2.wav", wav(20.0, 2), &v1).await;
    let v2 = v2["id"].as_str().unwrap().to_owned();
    let (status, share) = owner
        .send(
            Method::POST,
            "/api/shares",
            Some(json!({"title": "Hook", "tracks": [v1], "recipients": [{"name": "Dee"}]})),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(
        (share["watermark"].clone(), share["follow_latest"].clone()),
        (json!(true), json!(true))
    );
    let link = server.url(share["recipients"][0]["link"].as_str().unwrap());
    let dee = visitor(&server, BROWSER);
    // Before the copies exist nothing unmarked is served.
    let (status, _) = post(&dee, format!("{link}/play/{v1}"), json!({})).await;
    assert_eq!(status, 409);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let (_, state) = get(&dee, format!("{link}/state")).await;
        let ready: Vec<&str> = state["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "ready")
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        if ready.len() == 2 {
            assert!(
                ready.contains(&v1.as_str()) && ready.contains(&v2.as_str()),
                "{state}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "copies not made: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let mut heads = Vec::new();
    for v in [&v1, &v2] {
        let (status, url) = post(&dee, format!("{link}/play/{v}"), json!({})).await;
        assert_eq!(status, 200, "{url}");
        let res = dee
            .get(server.url(url["url"].as_str().unwrap()))
            .header("range", "bytes=0-65535")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        let head = res.bytes().await.unwrap();
        assert_eq!(&head[..4], b"fLaC", "the marked copy, not the WAV original");
        heads.push(head);
    }
    assert_ne!(heads[0], heads[1], "one copy per version");
    let (_, detail) = owner
        .get_json(&format!("/api/shares/{}", share["id"].as_str().unwrap()))
        .await;
    let copies = detail["recipients"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "copy_issued")
        .count();
    assert_eq!(copies, 2, "{detail}");
}

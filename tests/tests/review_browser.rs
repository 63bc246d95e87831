//! Review with clients in a real Chromium over HTTPS and HTTP/2, as studios deploy it: a
//! recipient compares two versions of a mix, comments at 1:23 on the second; the owner sees the
//! marker at 1:23, replies, is mailed through the loopback SMTP relay, and sees on the Shares
//! page the part the recipient played; a client sends two stems through an upload link and
//! they arrive, analysed, in the owner's library; a link preview's fetch spends no play.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use studiovault_e2e::browser::Browser;
use studiovault_e2e::smtp::Smtp;
use studiovault_e2e::{Owner, PASSWORD, Server, ffmpeg, wav, wesnoth_track};

async fn assert_accessible(browser: &Browser, page: &str) {
    let violations = browser.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{page}: axe-core found serious violations: {}",
        serde_json::to_string_pretty(&violations).unwrap()
    );
}

/// Two minutes of a real song as FLAC: long enough for a comment at 1:23.
fn mix(name: &str) -> Vec<u8> {
    ffmpeg(
        &wesnoth_track(name).unwrap(),
        "ogg",
        &["-t", "120", "-c:a", "flac"],
        "flac",
    )
    .unwrap()
}

/// A mail's text with quoted-printable soft line breaks joined.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "")
}

async fn recipient_plays(owner: &Owner, share: &str) -> u64 {
    let (_, detail) = owner.get_json(&format!("/api/shares/{share}")).await;
    detail["recipients"][0]["plays"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_reviews_the_second_mix_and_sends_stems_the_owner_sees_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_trusted(dir.path());
    let env = smtp.server_env(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_deployed_with(&env);
    server.add_user("owner@studio.test", "pro");
    let owner = Owner::signed_in(&server, "owner@studio.test").await;
    let first = owner.upload_ok("Night Drive.flac", mix("battle.ogg")).await;
    let second = owner
        .upload_version("Night Drive v2.flac", mix("knolls.ogg"), &first)
        .await;
    let second = second["id"].as_str().unwrap().to_owned();
    let (status, share) = owner
        .send(
            Method::POST,
            "/api/shares",
            Some(json!({
                "title": "Night Drive, for the label",
                "tracks": [first],
                "recipients": [{"name": "Ana Label", "email": "ana@label.test"}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    let share_id = share["id"].as_str().unwrap().to_owned();
    let link = server.url(share["recipients"][0]["link"].as_str().unwrap());

    // A chat client unfurls the link: its fetch counts nothing and spends no play.
    let preview = studiovault_e2e::client_for(&server)
        .user_agent("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
        .build()
        .unwrap();
    assert_eq!(preview.get(&link).send().await.unwrap().status(), 200);
    assert_eq!(recipient_plays(&owner, &share_id).await, 0);
    let (_, news) = owner.get_json("/api/notifications").await;
    assert_eq!(news["notifications"], json!([]), "a preview is no visit");

    // The recipient compares the two mixes at the same moment, then comments at 1:23 on Mix 2.
    let recipient = Browser::start_for(&server).await;
    // The page's first two polls of its copies' state fail on the way (a proxy's 502, then a
    // 503): it polls on, and the tracks become playable without a reload.
    recipient
        .before_every_page(
            "(() => { window.statePolls = 0; const real = window.fetch; \
               window.fetch = (input, init) => { \
                 if (!String(input).endsWith('/state')) return real(input, init); \
                 window.statePolls += 1; \
                 if (window.statePolls === 1) return Promise.resolve(new Response('<h1>Bad gateway</h1>', { status: 502 })); \
                 if (window.statePolls === 2) return Promise.resolve(new Response('', { status: 503 })); \
                 return real(input, init); }; })()",
        )
        .await;
    recipient.goto(&link).await;
    recipient.wait("#portal").await;
    recipient
        .until(
            "the copies' state polled again after two failures",
            "window.statePolls >= 3 && [...document.querySelectorAll('.playlist li .status')].every(s => s.textContent === 'Ready')",
        )
        .await;
    recipient.click(".playlist li:first-child .pick").await;
    recipient
        .until(
            "Mix 2 playing",
            "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 1",
        )
        .await;
    assert_eq!(
        recipient
            .eval("document.querySelector('#versions button[aria-pressed=true]').textContent")
            .await,
        "Mix 2"
    );
    recipient
        .eval("(() => { document.getElementById('audio').currentTime = 60; return true; })()")
        .await;
    recipient
        .until(
            "at one minute",
            "document.getElementById('audio').currentTime > 60.5",
        )
        .await;
    recipient
        .click(&format!("#versions button[data-id='{first}']"))
        .await;
    let position = recipient
        .until(
            "Mix 1 from the same moment",
            &format!(
                "document.querySelector(\"#versions button[data-id='{first}']\").getAttribute('aria-pressed') === 'true' \
                 && !document.getElementById('audio').paused && document.getElementById('audio').currentTime > 60.5 \
                 && document.getElementById('audio').currentTime"
            ),
        )
        .await;
    assert!(
        position.as_f64().unwrap() < 70.0,
        "A/B kept the position: {position}"
    );
    recipient
        .click(&format!("#versions button[data-id='{second}']"))
        .await;
    recipient
        .eval("(() => { document.getElementById('audio').currentTime = 80; return true; })()")
        .await;
    recipient
        .until(
            "Mix 2 past 1:23",
            &format!(
                "document.querySelector(\"#versions button[data-id='{second}']\").getAttribute('aria-pressed') === 'true' \
                 && document.getElementById('audio').currentTime > 83.2"
            ),
        )
        .await;
    recipient.click("#play").await; // pause: the span played is reported
    recipient
        .eval("(() => { document.getElementById('audio').currentTime = 83.3; return true; })()")
        .await;
    recipient
        .until(
            "the form at 1:23",
            "document.getElementById('comment-at').textContent === 'Comment at 1:23'",
        )
        .await;
    recipient
        .type_into("#comment-text", "Kick is too loud <here>")
        .await;
    recipient.click("#comment-form button[type=submit]").await;
    recipient
        .until(
            "the comment in the thread list",
            "[...document.querySelectorAll('#comment-list li.thread')].some(li => \
             li.querySelector('.at').textContent === '1:23' && li.textContent.includes('Kick is too loud <here>'))",
        )
        .await;
    // Ana starts a reply; meanwhile the owner answers in her thread. The page's 15 s poll
    // redraws the thread with the owner's answer and keeps her half-typed reply, and its focus.
    let thread = recipient
        .eval("document.querySelector('#comment-list li.thread').dataset.comment")
        .await;
    let thread = thread.as_str().unwrap().to_owned();
    recipient
        .type_into(&format!("#reply-{thread}"), "Also the snare around")
        .await;
    let (status, _) = owner
        .send(
            Method::POST,
            &format!("/api/tracks/{second}/comments"),
            Some(json!({"text": "Which bar exactly?", "parent": thread})),
        )
        .await;
    assert_eq!(status, 201);
    recipient
        .until(
            "the owner's answer drawn by the poll",
            "document.querySelector('#comment-list li.thread ol.replies')?.textContent.includes('Which bar exactly?')",
        )
        .await;
    assert_eq!(
        recipient
            .eval(&format!(
                "[document.getElementById('reply-{thread}').value, document.activeElement?.id]"
            ))
            .await,
        json!(["Also the snare around", format!("reply-{thread}")]),
        "the poll's redraw lost the reply being typed"
    );
    // A pause longer than the play URL lives: on play, the player's next request for the audio
    // is refused. (Chromium has the whole file cached by now, so the element is given the
    // expired URL anew, as if its buffer were spent.) The player renews the URL as a resume,
    // which counts no play, and plays on.
    server.advance_clock(16 * 60);
    recipient
        .eval("(() => { const a = document.getElementById('audio'); a.src = a.src + '&again=1'; return true; })()")
        .await;
    recipient.click("#play").await;
    recipient
        .until(
            "playing on a fresh play URL after the refused one",
            "!document.getElementById('audio').src.includes('again=1') && document.getElementById('audio').error === null \
             && !document.getElementById('audio').paused && document.getElementById('audio').currentTime > 1",
        )
        .await;
    recipient.click("#play").await;
    recipient.screenshot("review-01-recipient-comment").await;
    recipient
        .assert_http2("the recipient's page, versions and comment")
        .await;
    assert_accessible(&recipient, "portal with versions and comments").await;
    drop(recipient);
    assert_eq!(
        recipient_plays(&owner, &share_id).await,
        1,
        "comparing the versions and resuming after a long pause is one play"
    );

    // The owner is mailed about the comment through the relay.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mail = loop {
        let found = smtp
            .received()
            .into_iter()
            .map(|m| unfolded(&m))
            .find(|m| m.contains("commented at 1:23"));
        if let Some(m) = found {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no mail about the comment: {:?}",
            smtp.received()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(mail.contains("X-RcptTo: owner@studio.test"), "{mail}");
    assert!(
        mail.contains("Ana Label commented at 1:23 on Night Drive v2"),
        "{mail}"
    );
    assert!(
        !mail.contains("<here>\r\n") || mail.contains("&lt;here&gt;"),
        "the HTML part escapes it"
    );

    // The owner signs in, plays Mix 2, and finds the marker at 1:23; replies from the panel.
    let browser = Browser::start_for(&server).await;
    browser.goto(&server.url("/login")).await;
    browser.type_into("#email", "owner@studio.test").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait("#tracks").await;
    browser
        .click(&format!(
            "#tracks tr[data-id='{second}'] button[aria-label^='Play']"
        ))
        .await;
    browser.click("#comments-toggle").await;
    let at = browser
        .until(
            "the marker at 1:23",
            "(() => { const m = document.querySelector('#markers .marker'); \
             return m && Number(m.dataset.at); })()",
        )
        .await;
    assert!(
        (83.0..84.0).contains(&at.as_f64().unwrap()),
        "marker at {at}"
    );
    browser
        .until(
            "the thread at 1:23",
            "[...document.querySelectorAll('#comments-list li.thread')].some(li => \
             li.querySelector('button.at').textContent.includes('1:23') && li.querySelector('.text').textContent === 'Kick is too loud <here>')",
        )
        .await;
    browser
        .click("#comments-list li.thread button.open-reply")
        .await;
    browser
        .type_into(
            "#comments-list li.thread textarea.reply-text",
            "Pulled it down 2 dB in mix 3",
        )
        .await;
    browser
        .click("#comments-list li.thread form.reply-form button[type=submit]")
        .await;
    browser
        .until(
            "the reply shown",
            "[...document.querySelectorAll('#comments-list li.thread ol.replies li.reply')].some(li => li.textContent.includes('Pulled it down'))",
        )
        .await;
    browser.screenshot("review-02-owner-marker-reply").await;
    assert_accessible(&browser, "library with comments").await;
    let (_, thread) = owner
        .get_json(&format!("/api/tracks/{second}/comments"))
        .await;
    assert_eq!(thread["comments"].as_array().unwrap().len(), 3, "{thread}");

    // Deleting a comment asks first, in the app's own dialog: Escape keeps it, Delete deletes it.
    let comments = || async {
        let (_, thread) = owner
            .get_json(&format!("/api/tracks/{second}/comments"))
            .await;
        thread["comments"].as_array().map_or(0, Vec::len)
    };
    let delete_reply = "#comments-list li.thread ol.replies li.reply button.delete";
    browser.click(delete_reply).await;
    browser.question_naming("Delete this comment").await;
    browser.escape_question().await;
    assert_eq!(comments().await, 3, "Escape deleted the comment");
    browser.click(delete_reply).await;
    browser.wait("dialog[open]").await;
    browser.click("dialog[open] button[value=ok]").await;
    browser
        .until(
            "one of the two replies gone",
            "document.querySelectorAll('#comments-list li.thread ol.replies li.reply').length === 1",
        )
        .await;
    assert_eq!(comments().await, 2);

    // The Shares page shows what Ana played: from 1:20 to 1:23 of Mix 2, and the minute before.
    browser.click("nav a[href='/shares']").await;
    let heard = browser
        .until(
            "Ana's heat map of Mix 2",
            &format!(
                "(() => {{ const c = document.querySelector(\"canvas.heat[data-track='{second}']\"); \
                 return c && c.getAttribute('aria-label'); }})()"
            ),
        )
        .await;
    let heard = heard.as_str().unwrap();
    assert!(
        heard.starts_with("Ana Label heard") && heard.contains("1:2"),
        "{heard}"
    );
    browser.screenshot("review-03-shares-heat-map").await;
    assert_accessible(&browser, "shares with listening").await;

    // Revoking Ana asks first, since it cannot be undone; Escape keeps her link working.
    let revoked_at = || async {
        let (_, detail) = owner.get_json(&format!("/api/shares/{share_id}")).await;
        detail["recipients"][0]["revoked_at"].clone()
    };
    browser
        .click("section.share button[aria-label='Revoke Ana Label']")
        .await;
    browser.question_naming("Ana Label").await;
    assert_accessible(&browser, "the revoke question").await;
    browser.escape_question().await;
    assert_eq!(revoked_at().await, json!(null), "Escape revoked Ana");
    let portal = studiovault_e2e::client_for(&server).build().unwrap();
    assert_eq!(portal.get(&link).send().await.unwrap().status(), 200);
    // Confirmed, but the appliance fails to answer: the owner is told, and nothing changed.
    browser
        .eval(
            "(() => { const real = window.fetch; window.fetch = (input, init) => \
               init?.method === 'DELETE' && String(input).startsWith('/api/shares/') \
                 ? Promise.resolve(new Response(JSON.stringify({ error: 'internal', message: 'Something failed on our side.' }), \
                     { status: 500, headers: { 'content-type': 'application/json' } })) \
                 : real(input, init); return true; })()",
        )
        .await;
    browser
        .click("section.share button[aria-label='Revoke Ana Label']")
        .await;
    browser.click("dialog[open] button[value=ok]").await;
    browser
        .until(
            "the failure told",
            "document.getElementById('toast').textContent === 'Not revoked: Something failed on our side.'",
        )
        .await;
    assert_eq!(revoked_at().await, json!(null));
    assert_eq!(
        browser
            .eval(
                "!!document.querySelector(\"section.share button[aria-label='Revoke Ana Label']\")"
            )
            .await,
        json!(true),
        "Ana's row still offers to revoke her"
    );

    // An upload link made in the app; the client sends two stems through it.
    browser.click("nav a[href='/uploads']").await;
    browser.wait("#upload-link-form").await;
    browser.type_into("#upload-link-name", "Ana Label").await;
    browser
        .type_into("#upload-link-folder", "Stems from Ana")
        .await;
    browser.click("#upload-link-form button[type=submit]").await;
    let upload_link = browser
        .until(
            "the link listed",
            "(() => { const b = document.querySelector('#upload-links button.copy-upload-link'); return b && b.dataset.link; })()",
        )
        .await;
    assert_accessible(&browser, "upload links").await;
    let stems = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, song) in [("vocals.flac", "battle.ogg"), ("bass.flac", "knolls.ogg")] {
        let path = stems.path().join(name);
        let clip = ffmpeg(
            &wesnoth_track(song).unwrap(),
            "ogg",
            &["-t", "20", "-c:a", "flac"],
            "flac",
        )
        .unwrap();
        std::fs::write(&path, clip).unwrap();
        paths.push(path.display().to_string());
    }
    let client = Browser::start_for(&server).await;
    client.goto(upload_link.as_str().unwrap()).await;
    client.wait("#upload-form").await;
    assert_accessible(&client, "upload link page").await;
    let input = client
        .client
        .find(fantoccini::Locator::Css("#upload-files"))
        .await
        .unwrap();
    input.send_keys(&paths.join("\n")).await.unwrap();
    client.click("#upload-send").await;
    client
        .until(
            "both stems received",
            "document.querySelectorAll('#upload-progress li.done').length === 2",
        )
        .await;
    client.screenshot("review-04-upload-link").await;
    client
        .assert_http2("the upload link page and its uploads")
        .await;

    // A link for two files behind a password; the client chooses four and mistypes it.
    let (status, bo) = owner
        .send(
            Method::POST,
            "/api/upload-links",
            // Not ASCII, with spaces: the page sends it in a header, which carries neither as is.
            Some(json!({"name": "Bo Mastering", "max_files": 2, "password": " Bö mastering π7 "})),
        )
        .await;
    assert_eq!(status, 201, "{bo}");
    let takes = tempfile::tempdir().unwrap();
    let paths: Vec<String> = ["one.wav", "two.wav", "three.wav", "four.wav"]
        .iter()
        .zip(1..)
        .map(|(name, seed)| {
            let path = takes.path().join(name);
            std::fs::write(&path, wav(2.0, seed)).unwrap();
            path.display().to_string()
        })
        .collect();
    client.goto(&server.url(bo["link"].as_str().unwrap())).await;
    client.wait("#upload-form").await;
    let input = client
        .client
        .find(fantoccini::Locator::Css("#upload-files"))
        .await
        .unwrap();
    input.send_keys(&paths.join("\n")).await.unwrap();
    client
        .type_into("#upload-password", "not the password")
        .await;
    client.click("#upload-send").await;
    let said = client
        .until(
            "the wrong password said",
            "!document.getElementById('upload-send').disabled && document.getElementById('upload-message').textContent",
        )
        .await;
    assert_eq!(
        client
            .eval("document.getElementById('upload-files').files.length")
            .await,
        json!(4),
        "a wrong password cleared the chosen files"
    );
    assert!(
        said.as_str().unwrap().contains("wrong password")
            && said.as_str().unwrap().contains("still chosen"),
        "{said}"
    );
    // The right password: two arrive, and the page names the two the full link refused, and why.
    client
        .type_into("#upload-password", " Bö mastering π7 ")
        .await;
    client.click("#upload-send").await;
    client
        .until(
            "the batch finished",
            "!document.getElementById('upload-send').disabled \
             && document.getElementById('upload-message').textContent.startsWith('2 of 4 file(s) received.')",
        )
        .await;
    let shown = client
        .eval(
            "[...document.querySelectorAll('#upload-progress li')].map(li => \
               [li.querySelector('.name').textContent, li.className, li.querySelector('.status').textContent])",
        )
        .await;
    let reason = shown[2][2].as_str().unwrap_or_default().to_owned();
    assert!(!reason.is_empty(), "{shown}");
    assert_eq!(
        shown,
        json!([
            ["one.wav", "done", "received"],
            ["two.wav", "done", "received"],
            ["three.wav", "failed", reason],
            ["four.wav", "failed", format!("not sent: {reason}")],
        ])
    );
    assert_eq!(
        client
            .eval("document.getElementById('upload-message').textContent")
            .await,
        json!(format!(
            "2 of 4 file(s) received. Not received: three.wav, four.wav ({reason})."
        ))
    );
    client.screenshot("review-04b-upload-link-full").await;
    drop(client);

    // The stems are in the owner's library, in the link's folder, analysed.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (_, page) = owner
            .get_json("/api/tracks?folder=Stems%20from%20Ana")
            .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 2 && items.iter().all(|t| t["analysis"]["state"] == "done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stems were not analysed: {page}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    browser
        .goto(&server.url("/library?folder=Stems%20from%20Ana"))
        .await;
    browser
        .until(
            "the stems in the library",
            "document.querySelectorAll('#tracks tbody tr').length === 2",
        )
        .await;
    browser.screenshot("review-05-library-folder").await;

    // Revoking Ana's upload link asks first; Escape keeps it taking files.
    browser.click("nav a[href='/uploads']").await;
    let revoke = "#upload-links button[aria-label='Revoke the upload link for Ana Label']";
    browser.wait(revoke).await;
    browser.click(revoke).await;
    browser.question_naming("Ana Label").await;
    browser.escape_question().await;
    let page = studiovault_e2e::client_for(&server).build().unwrap();
    let link_status = || async {
        let res = page.get(upload_link.as_str().unwrap()).send().await;
        res.unwrap().status()
    };
    assert_eq!(link_status().await, 200, "Escape revoked the upload link");
    browser.click(revoke).await;
    browser.click("dialog[open] button[value=ok]").await;
    browser
        .until(
            "the link revoked",
            &format!("!document.querySelector(\"{revoke}\")"),
        )
        .await;
    assert_eq!(link_status().await, 404, "a revoked upload link's page");
    browser.assert_http2("the owner's review pages").await;
}

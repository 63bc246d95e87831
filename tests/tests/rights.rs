//! Data-subject rights through the owners' API over the real server: a display name; an e-mail
//! change confirmed by the link a real SMTP server on loopback received (and the old address
//! told); a restriction that leaves an upload unanalysed, refuses stems and withholds new
//! watermarked copies while keeping the shares; and an admin's leak trace on the owner's share
//! showing in their "who accessed my files".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use studiovault_e2e::browser::Browser;
use studiovault_e2e::smtp::Smtp;
use studiovault_e2e::{Owner, PASSWORD, Server, ffmpeg, wav, wesnoth_track};

/// A recipient's browser: no account, its own cookie jar.
fn visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A relay on loopback, and a server (plain HTTP, or HTTPS as deployed) sending through it.
fn server_with_mail(dir: &std::path::Path, deployed: bool) -> (Smtp, Server) {
    let relay = Smtp::start_trusted(dir);
    let env = relay.server_env(dir);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = if deployed {
        Server::start_deployed_with(&env)
    } else {
        Server::start_with(&env)
    };
    (relay, server)
}

/// Waits for the relay to hold a message to `to` whose subject is `subject`; answers its text.
fn mail_to(relay: &Smtp, to: &str, subject: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = relay.received().into_iter().find(|m| {
            m.contains(&format!("X-RcptTo: {to}")) && m.contains(&format!("Subject: {subject}"))
        });
        if let Some(mail) = found {
            assert!(!mail.contains("{{"), "a slot left unfilled: {mail}");
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no mail `{subject}` to {to}; received: {:?}",
            relay.received()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The first `http…` link in a mail's quoted-printable text.
fn link_in(mail: &str) -> String {
    let text = quoted_printable(mail);
    let start = text.find("http").expect("a link in the mail");
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '<' || c == '"')
        .next()
        .unwrap()
        .to_owned()
}

fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn put(owner: &Owner, path: &str, body: Value) -> (u16, Value) {
    owner.send(Method::PUT, path, Some(body)).await
}

async fn post(owner: &Owner, path: &str, body: Value) -> (u16, Value) {
    owner.send(Method::POST, path, Some(body)).await
}

/// Polls the link's copy states until none is queued or rendering.
async fn settled_copies(server: &Server, client: &reqwest::Client, link: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let state: Value = client
            .get(server.url(&format!("{link}/state")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let states: Vec<String> = state["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap().to_owned())
            .collect();
        if states.iter().all(|s| s != "queued" && s != "rendering") {
            return states;
        }
        assert!(Instant::now() < deadline, "copies never settled: {state}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_rectifies_restricts_and_sees_who_accessed_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, server) = server_with_mail(dir.path(), false);
    server.add_user("ana@studio.test", "max");
    let ana = Owner::signed_in(&server, "ana@studio.test").await;

    // Rectification: the display name, validated and audited.
    let (status, me) = put(
        &ana,
        "/api/account/name",
        json!({"display_name": " Ana Ortega "}),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["display_name"], "Ana Ortega");
    let (status, body) = put(
        &ana,
        "/api/account/name",
        json!({"display_name": "evil\u{202E}txt"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_input"))
    );
    let (_, me) = ana.get_json("/api/session").await;
    assert_eq!(
        me["display_name"], "Ana Ortega",
        "the bad name changed nothing"
    );

    // Rectification: the address, changed through a link sent to the new one.
    let (status, body) = post(
        &ana,
        "/api/account/email",
        json!({"new_email": "ana@label.test", "password": "not the password"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_credentials"))
    );
    // An address another account holds is answered as any other: asking tells no one which
    // addresses have accounts. No link goes there, and the current address is told.
    server.add_user("taken@label.test", "free");
    let (status, body) = post(
        &ana,
        "/api/account/email",
        json!({"new_email": "taken@label.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!((status, &body["email"]), (202, &json!("taken@label.test")));
    let warning = mail_to(
        &relay,
        "ana@studio.test",
        "Your Studio Vault sign-in address is about to change",
    );
    assert!(quoted_printable(&warning).contains("taken@label.test"));
    // Changed her mind: cancelled, nothing is waiting.
    let res = ana.send(Method::DELETE, "/api/account/email", None).await;
    assert_eq!(res.0, 200, "{}", res.1);
    assert_eq!(res.1["pending_email"], Value::Null);
    let (status, body) = ana.send(Method::DELETE, "/api/account/email", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, pending) = post(
        &ana,
        "/api/account/email",
        json!({"new_email": "Ana@Label.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["email"], "ana@label.test");
    let (_, me) = ana.get_json("/api/session").await;
    assert_eq!(
        me["email"], "ana@studio.test",
        "nothing changes before the link"
    );
    assert_eq!(me["pending_email"]["email"], "ana@label.test");

    let mail = mail_to(
        &relay,
        "ana@label.test",
        "Confirm your new Studio Vault sign-in address",
    );
    assert!(
        relay
            .received()
            .iter()
            .all(|m| !m.contains("X-RcptTo: taken@label.test")),
        "no link went to an address another account holds"
    );
    let link = link_in(&mail);
    let (page, token) = link.split_once('#').expect("the token is in the fragment");
    assert_eq!(
        page,
        server.url("/confirm-email"),
        "the link is at the public origin"
    );
    // The link opens the web app's page; a stranger's browser (no session) confirms it.
    let stranger = Owner::new(&server);
    let opened = stranger.get("/confirm-email").await;
    assert_eq!(opened.status(), 200);
    assert!(opened.text().await.unwrap().contains("/assets/app.js"));
    let (status, body) = post(
        &stranger,
        "/api/account/email/confirm",
        json!({"token": token}),
    )
    .await;
    assert_eq!(
        (status, &body["email"]),
        (200, &json!("ana@label.test")),
        "{body}"
    );
    let (status, body) = post(
        &stranger,
        "/api/account/email/confirm",
        json!({"token": token}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("link_invalid")),
        "a link works once"
    );
    let notice = mail_to(
        &relay,
        "ana@studio.test",
        "Your Studio Vault sign-in address was changed",
    );
    assert!(quoted_printable(&notice).contains("ana@label.test"));
    let old = Owner::new(&server);
    assert_eq!(
        old.login("ana@studio.test", PASSWORD, None).await.status(),
        401
    );
    let ana = Owner::signed_in(&server, "ana@label.test").await;
    let (_, me) = ana.get_json("/api/session").await;
    assert_eq!(
        (&me["email"], &me["pending_email"]),
        (&json!("ana@label.test"), &Value::Null)
    );

    // A share with a watermarked copy made for its recipient, then leaked and traced by the
    // admin: the trace shows in Ana's "who accessed my files".
    let song = ffmpeg(
        &wesnoth_track("battle.ogg").unwrap(),
        "ogg",
        &["-ss", "20", "-t", "40", "-c:a", "flac"],
        "flac",
    )
    .unwrap();
    let track = ana.upload_ok("take.flac", song).await;
    let (status, share) = post(
        &ana,
        "/api/shares",
        json!({"title": "Preview", "tracks": [track], "recipients": [{"name": "Ben Label"}],
               "allow_download": true}),
    )
    .await;
    assert_eq!(status, 201, "{share}");
    let link = share["recipients"][0]["link"].as_str().unwrap().to_owned();
    let ben = visitor();
    assert_eq!(
        ben.get(server.url(&link)).send().await.unwrap().status(),
        200
    );
    assert_eq!(settled_copies(&server, &ben, &link).await, ["ready"]);
    let signed: Value = ben
        .post(server.url(&format!("{link}/download/{track}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let copy = ben
        .get(server.url(signed["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let leaked = ffmpeg(
        &copy,
        "flac",
        &["-ss", "5", "-t", "30", "-b:a", "128k"],
        "mp3",
    )
    .unwrap();
    let path = dir.path().join("leak.mp3");
    std::fs::write(&path, leaked).unwrap();
    let out = server.cli_ok(&["leak", "trace", path.to_str().unwrap(), "--json"], None);
    let trace: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trace["recipient"]["name"], "Ben Label", "{trace}");

    let (status, accessed) = ana.get_json("/api/account/accessed").await;
    assert_eq!(status, 200, "{accessed}");
    let accessed = accessed.as_array().unwrap().clone();
    let admin_trace = accessed
        .iter()
        .find(|e| e["action"] == "leak.trace")
        .unwrap_or_else(|| panic!("the admin's trace is missing: {accessed:?}"));
    assert_eq!(admin_trace["actor_kind"], "admin");
    assert_eq!(admin_trace["actor"], "admin");
    let kinds: Vec<&str> = accessed
        .iter()
        .map(|e| e["actor_kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"recipient"),
        "Ben's opens and download: {kinds:?}"
    );
    assert!(
        kinds.contains(&"system"),
        "the analysis and the copy: {kinds:?}"
    );
    assert!(
        accessed
            .iter()
            .all(|e| !e["actor"].as_str().unwrap().starts_with("user:")),
        "Ana's own actions are not others' access: {accessed:?}"
    );
    let (_, older) = ana
        .get_json(&format!(
            "/api/account/accessed?before={}&limit=1",
            accessed[0]["seq"]
        ))
        .await;
    assert_eq!(older.as_array().unwrap().as_slice(), &accessed[1..2]);

    // Restriction: no analysis, no stems, no new copies; the share stays.
    let (status, me) = put(
        &ana,
        "/api/account/restriction",
        json!({"restricted": true}),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["restricted"], true);
    assert_eq!(me["analysis"], false);
    let restricted_track = ana.upload_ok("restricted.wav", wav(3.0, 7)).await;
    let (status, body) = post(
        &ana,
        &format!("/api/tracks/{restricted_track}/stems"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("processing_restricted")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("restricted"));
    let (_, stems) = ana
        .get_json(&format!("/api/tracks/{restricted_track}/stems"))
        .await;
    assert_eq!(stems["available"], false, "{stems}");
    let (status, body) = ana
        .send(
            Method::PATCH,
            "/api/account/settings",
            Some(json!({"analysis": true})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("processing_restricted"))
    );
    let (status, share2) = post(
        &ana,
        "/api/shares",
        json!({"title": "Later", "tracks": [track], "recipients": [{"name": "Cy Press"}]}),
    )
    .await;
    assert_eq!(status, 201, "shares are kept and made: {share2}");
    let cy_link = share2["recipients"][0]["link"].as_str().unwrap().to_owned();
    let cy = visitor();
    assert_eq!(
        cy.get(server.url(&cy_link)).send().await.unwrap().status(),
        200
    );
    assert_eq!(settled_copies(&server, &cy, &cy_link).await, ["withheld"]);
    assert_eq!(
        settled_copies(&server, &ben, &link).await,
        ["ready"],
        "Ben keeps the copy made before"
    );
    // Nothing analyses the upload while the restriction holds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, t) = ana
        .get_json(&format!("/api/tracks/{restricted_track}"))
        .await;
    assert_eq!(t["analysis"]["state"], "off", "{t}");
    let (_, log) = ana.get_json("/api/account/activity?limit=500").await;
    assert!(
        !log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "track.analyze"
                && e["object"] == format!("track/{restricted_track}")),
        "the restricted upload was read for analysis"
    );

    // Objection, one purpose at a time: lifting the restriction but objecting to stems.
    let (status, me) = put(
        &ana,
        "/api/account/restriction",
        json!({"restricted": false}),
    )
    .await;
    assert_eq!((status, &me["objections"]), (200, &json!([])));
    let (status, me) = put(
        &ana,
        "/api/account/objections/stems",
        json!({"objected": true}),
    )
    .await;
    assert_eq!(
        (status, &me["objections"], &me["restricted"]),
        (200, &json!(["stems"]), &json!(false))
    );
    let (status, body) = post(
        &ana,
        &format!("/api/tracks/{restricted_track}/stems"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("processing_objected"))
    );
    let (status, body) = put(
        &ana,
        "/api/account/objections/training",
        json!({"objected": true}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_purpose"))
    );
    // Analysis is allowed again: the upload left unanalysed is analysed now.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, t) = ana
            .get_json(&format!("/api/tracks/{restricted_track}"))
            .await;
        if t["analysis"]["state"] == "done" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never analysed after the restriction: {t}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(settled_copies(&server, &cy, &cy_link).await, ["ready"]);

    // Each step is in Ana's audit log, as hers.
    let (_, log) = ana.get_json("/api/account/activity?limit=500").await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "account.name_change",
        "account.email_change_start",
        "account.email_change",
        "account.restriction",
        "account.objection",
    ] {
        assert!(actions.contains(&action), "{action} missing: {actions:?}");
    }
}

/// The Account page in a real Chromium: the seven rights in one section, the consent statement,
/// the display name and restriction controls working, an address-change link confirmed from
/// the page it opens, and no serious accessibility violation.
#[tokio::test(flavor = "multi_thread")]
async fn the_account_page_presents_every_right_and_its_controls_work() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, server) = server_with_mail(dir.path(), true);
    server.add_user("owner@studio.test", "pro");
    let browser = Browser::start_for(&server).await;
    browser.goto(&server.url("/login")).await;
    browser.type_into("#email", "owner@studio.test").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait("#tracks").await;
    browser.click("nav a[href='/account']").await;
    browser.wait("#rights").await;

    let rights = browser
        .eval("[...document.querySelectorAll('#rights dt')].map(d => d.textContent)")
        .await;
    assert_eq!(
        rights,
        json!([
            "Access",
            "Rectification",
            "Erasure",
            "Portability",
            "Restriction",
            "Objection",
            "Withdrawal of consent"
        ])
    );
    let consent = browser
        .eval("document.querySelector('#rights dd:last-of-type').textContent")
        .await;
    assert!(
        consent.as_str().unwrap().contains("trains no model"),
        "{consent}"
    );
    // Who accessed my files: so far, the admin who made the account.
    let accessed = browser
        .eval("[...document.querySelectorAll('#accessed tbody tr')].map(r => r.dataset.actorKind + ': ' + r.cells[1].textContent + ' ' + r.cells[2].textContent)")
        .await;
    assert_eq!(accessed, json!(["admin: an admin created your account"]));
    browser.screenshot("rights-01-account").await;
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "axe-core: {violations:?}");

    // The display name.
    browser.type_into("#display-name", "Owner Name").await;
    browser.click("#name-form button[type=submit]").await;
    browser
        .until(
            "the summary names the owner",
            "document.getElementById('account-summary').textContent.startsWith('Owner Name')",
        )
        .await;

    // The restriction switch, then the stems objection alone.
    browser.click("#restrict").await;
    browser
        .until(
            "processing restricted",
            "document.getElementById('processing-state').textContent === 'Processing is restricted.'",
        )
        .await;
    assert_eq!(
        browser
            .eval("['analysis','stems','marked_copies'].every(p => document.getElementById('object-' + p).checked)")
            .await,
        true,
        "a restriction is every objection"
    );
    let api = Owner::signed_in(&server, "owner@studio.test").await;
    let (_, me) = api.get_json("/api/session").await;
    assert_eq!(
        (&me["restricted"], &me["display_name"]),
        (&json!(true), &json!("Owner Name"))
    );
    let card = browser
        .eval("document.getElementById('processing').textContent")
        .await;
    assert!(!card.as_str().unwrap().contains("null"), "{card}");
    browser.screenshot("rights-02-restricted").await;
    browser.click("#restrict").await;
    browser
        .until(
            "restriction lifted",
            "document.getElementById('processing-state').textContent === 'Processing is on for every purpose.'",
        )
        .await;
    browser.click("#object-stems").await;
    browser
        .until(
            "stems objected",
            "document.getElementById('processing-state').textContent === 'You object to some processing.'",
        )
        .await;
    let (_, me) = api.get_json("/api/session").await;
    assert_eq!(me["objections"], json!(["stems"]));
    // Focus stays on the switch used: a second Space undoes that, not a restriction.
    assert_eq!(
        browser.eval("document.activeElement.id").await,
        json!("object-stems")
    );

    // The address change: asked for in the page, confirmed from the link's page.
    browser.type_into("#new-email", "owner@label.test").await;
    browser.type_into("#email-password", PASSWORD).await;
    browser.click("#email-form button[type=submit]").await;
    browser
        .until(
            "the pending address shown",
            "document.getElementById('email-pending').textContent.includes('owner@label.test')",
        )
        .await;
    let mail = mail_to(
        &relay,
        "owner@label.test",
        "Confirm your new Studio Vault sign-in address",
    );
    browser.goto(&link_in(&mail)).await;
    browser.wait("#confirm-email-button").await;
    assert_eq!(
        browser.eval("location.hash").await,
        "",
        "the token leaves the address bar"
    );
    browser.click("#confirm-email-button").await;
    browser.wait("#confirm-email-done").await;
    assert!(
        browser
            .eval("document.getElementById('confirm-email-done').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("owner@label.test")
    );
    browser.screenshot("rights-03-email-confirmed").await;
    browser.assert_http2("the rights section").await;
    Owner::signed_in(&server, "owner@label.test").await;
}

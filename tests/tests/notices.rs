//! Breach notices end to end: an admin in the console (tmux) records an incident, confirms
//! it, picks the affected accounts from the audit log and sends the notice; a real SMTP relay
//! on loopback receives one mail per affected account with all five parts and none for the
//! account the incident did not touch; the 72-hour clock shows in the console; each affected
//! owner sees the notice as a banner through the owners' API and dismisses it. The CLI twins
//! and the late notice's reason are checked over the same server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::Duration;

use serde_json::Value;
use studiovault_e2e::smtp::Smtp;
use studiovault_e2e::tmux::Tmux;
use studiovault_e2e::{Owner, Server, wav};

/// The notice's five parts as the admin types them: short, so no mail line is folded.
const PARTS: [&str; 5] = [
    "Our upload log was readable for six hours on Monday.",
    "The names and sizes of files you uploaded; no audio.",
    "We closed the log and rotated every key it named.",
    "Nothing is required; check your recent uploads.",
    "security@studio.test or +44 20 7946 0000",
];

/// The mail as a reader sees it: quoted-printable soft breaks joined and escapes decoded.
fn readable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).filter(|_| !b.is_ascii_lowercase());
        if bytes[i] == b'='
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

fn recipient_of(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.strip_prefix("X-RcptTo: "))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

async fn notices(owner: &Owner) -> Vec<Value> {
    let (status, body) = owner.get_json("/api/notices").await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sends_a_breach_notice_from_the_console_to_the_accounts_the_audit_log_names() {
    let relay_dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_trusted(relay_dir.path());
    let env = smtp.server_env(relay_dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    // Ana and Ben upload (the incident's action); Cleo only signs in.
    server.add_user("ana@studio.test", "pro");
    server.add_user("ben@studio.test", "pro");
    server.add_user("cleo@studio.test", "pro");
    let ana = Owner::signed_in(&server, "ana@studio.test").await;
    let ben = Owner::signed_in(&server, "ben@studio.test").await;
    let cleo = Owner::signed_in(&server, "cleo@studio.test").await;
    ana.upload_ok("demo.wav", wav(0.5, 1)).await;
    ben.upload_ok("take.wav", wav(0.5, 2)).await;

    let tmux = Tmux::start(&server, 120, 40);
    tmux.wait_for("● connected");
    tmux.press(&["6"]);
    tmux.wait_for("No incidents recorded");

    // Record it, then confirm it: the 72-hour clock starts.
    tmux.press(&["n"]);
    tmux.wait_for("Record an incident");
    tmux.type_text("Upload log readable");
    tmux.press(&["Tab"]);
    tmux.type_text("the upload log was served without a session");
    tmux.press(&["Enter"]);
    tmux.wait_for("Recorded Upload log readable as investigating");
    tmux.wait_for_line(&["Upload log readable", "investigating", "not confirmed"]);
    tmux.press(&["c"]);
    tmux.wait_for("Confirm: Upload log readable");
    tmux.press(&["Right"]);
    tmux.press(&["Enter"]);
    tmux.wait_until("the 72-hour clock", |s| {
        s.lines().any(|l| {
            l.contains("Upload log readable")
                && l.contains("confirmed")
                && (l.contains("72h 00m left") || l.contains("71h 59m left"))
        })
    });

    // The affected accounts, from the audit log: those who uploaded.
    tmux.press(&["a"]);
    tmux.wait_for("Affected accounts");
    for _ in 0..4 {
        tmux.press(&["Tab"]);
    }
    tmux.type_text("track.upload");
    tmux.press(&["Enter"]);
    let preview = tmux.wait_until("the two uploaders in the preview", |s| {
        s.contains("Affected accounts (2)")
            && s.contains("ana@studio.test")
            && s.contains("ben@studio.test")
    });
    assert!(!preview.contains("cleo@studio.test"), "{preview}");
    tmux.press(&["Enter"]);
    tmux.wait_for("2 account(s) recorded as affected");

    // The notice: five parts, previewed as mailed, sent after asking.
    tmux.press(&["w"]);
    tmux.wait_for("Breach notice");
    for (i, part) in PARTS.iter().enumerate() {
        if i > 0 {
            tmux.press(&["Tab"]);
        }
        tmux.type_text(part);
    }
    tmux.press(&["Enter"]);
    let shown = tmux.wait_for("Notice preview, as mailed");
    assert!(shown.contains("Subject: Security notice"), "{shown}");
    assert!(shown.contains(PARTS[0]), "{shown}");
    tmux.press(&["s"]);
    tmux.wait_for("Send the notice to 2 account(s) now?");
    tmux.press(&["y"]);
    tmux.wait_for("Sent the notice of Upload log readable to 2 account(s)");
    tmux.wait_for("Recipients (2)");
    // Each recipient's mail is delivered, as the console shows; the clock says how long it took.
    tmux.wait_for_line(&["ana@studio.test", "sent"]);
    tmux.wait_for_line(&["ben@studio.test", "sent"]);
    tmux.wait_for("notified in 0h 0");

    // The relay got one mail per affected account, with every part, and none for Cleo.
    let mails = smtp.wait_for(2, Duration::from_secs(60));
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let mut to: Vec<String> = mails.iter().map(|m| recipient_of(m)).collect();
    to.sort();
    assert_eq!(to, ["ana@studio.test", "ben@studio.test"]);
    for mail in &mails {
        let text = readable(mail);
        assert!(
            text.contains(
                "Subject: Security notice: an incident affecting your Studio Vault account"
            ),
            "{text}"
        );
        for part in PARTS {
            assert!(text.contains(part), "`{part}` missing in:\n{text}");
        }
        for heading in [
            "What happened",
            "What data is affected",
            "What we did to contain it",
            "What you should do",
            "How to reach our security team",
        ] {
            assert!(text.contains(heading), "`{heading}` missing in:\n{text}");
        }
        assert!(!text.contains("{{"), "an unfilled slot in:\n{text}");
    }

    // The banner: the affected owners see the notice until they dismiss it; Cleo sees none.
    let shown = notices(&ana).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["what_happened"], PARTS[0]);
    assert_eq!(shown[0]["contact"], PARTS[4]);
    assert!(notices(&cleo).await.is_empty());
    let id = shown[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = cleo
        .send(
            reqwest::Method::POST,
            &format!("/api/notices/{id}/dismiss"),
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "a notice Cleo was not sent is not hers to dismiss"
    );
    let (status, _) = ana
        .send(
            reqwest::Method::POST,
            &format!("/api/notices/{id}/dismiss"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(notices(&ana).await.is_empty());
    assert_eq!(notices(&ben).await.len(), 1, "Ben has not dismissed his");
    tmux.wait_for_line(&["ana@studio.test", "dismissed"]);

    // The CLI twin shows the same; the audit log has every step.
    let detail: Value =
        serde_json::from_str(&server.cli_ok(&["incident", "show", &id[..8], "--json"], None))
            .unwrap();
    assert_eq!(detail["incident"]["state"], "notified");
    assert_eq!(detail["incident"]["delivery"]["sent"], 2);
    let actions: Vec<String> = server
        .cli_ok(&["audit", "tail", "-n", "200", "--json"], None)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for action in [
        "incident.create",
        "incident.confirm",
        "incident.affected",
        "incident.notify",
        "notice.dismiss",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }

    tmux.press(&["Escape"]);
    tmux.press(&["q"]);
    tmux.wait_for("console exited with status 0");
    assert_eq!(smtp.received().len(), 2, "nothing more was sent");
}

/// The CLI twins, and a notice sent after the 72 hours: refused without its reason, kept with
/// it; an account named in a list gets the mail.
#[test]
fn the_cli_records_and_a_late_notice_must_say_why() {
    let relay_dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_trusted(relay_dir.path());
    let env = smtp.server_env(relay_dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    server.add_user("dana@studio.test", "free");
    server.add_user("eli@studio.test", "free");

    let new: Value = serde_json::from_str(&server.cli_ok(
        &[
            "incident",
            "new",
            "Lost backup disk",
            "--encrypted",
            "yes",
            "--json",
        ],
        None,
    ))
    .unwrap();
    let id = new["id"].as_str().unwrap().to_owned();
    let short = &id[..8];
    let notice = [
        "--what-happened",
        "A backup disk was lost in transit.",
        "--data-affected",
        "Encrypted copies of your tracks.",
        "--containment",
        "The disk's keys were never on it.",
        "--user-action",
        "Nothing.",
        "--contact",
        "security@studio.test",
    ];
    let notify = |extra: &[&str]| {
        let mut args = vec!["incident", "notify", short];
        args.extend_from_slice(&notice);
        args.extend_from_slice(extra);
        server.cli(&args, None)
    };
    // Not before confirmation, and not without affected accounts.
    let early = notify(&[]);
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("confirm the incident first"));
    server.cli_ok(&["incident", "confirm", short], None);
    let nobody = notify(&[]);
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("choose the affected accounts first"));
    let unknown = server.cli(
        &[
            "incident",
            "affected",
            short,
            "--account",
            "ghost@studio.test",
        ],
        None,
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("ghost@studio.test"));
    let preview = server.cli_ok(
        &[
            "incident",
            "affected",
            short,
            "--account",
            "dana@studio.test",
            "--preview",
        ],
        None,
    );
    assert!(
        preview.contains("1 account(s) match (nothing recorded)"),
        "{preview}"
    );
    server.cli_ok(
        &[
            "incident",
            "affected",
            short,
            "--account",
            "dana@studio.test",
        ],
        None,
    );
    let mut preview_args = vec!["incident", "notice-preview", short];
    preview_args.extend_from_slice(&notice);
    let mailed = server.cli_ok(&preview_args, None);
    assert!(mailed.contains("Subject: Security notice"), "{mailed}");
    assert!(
        mailed.contains("A backup disk was lost in transit."),
        "{mailed}"
    );
    let empty_part = server.cli(
        &[
            "incident",
            "notice-preview",
            short,
            "--what-happened",
            " ",
            "--data-affected",
            "x",
            "--containment",
            "x",
            "--user-action",
            "x",
            "--contact",
            "x",
        ],
        None,
    );
    assert!(
        String::from_utf8_lossy(&empty_part.stderr).contains("what_happened must not be empty")
    );

    // 73 hours later the notice is late: refused without a reason, sent with one.
    server.advance_clock(73 * 3600);
    let late = server.cli_ok(&preview_args, None);
    assert!(
        late.contains("Late: more than 72 hours after confirmation"),
        "{late}"
    );
    let refused = notify(&[]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("late_reason is required"), "{why}");
    let sent = notify(&[
        "--late-reason",
        "the courier reported the loss on day four",
        "--json",
    ]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(
        sent["incident"]["late_reason"],
        "the courier reported the loss on day four"
    );
    assert_eq!(sent["incident"]["encrypted"], true);
    let mails = smtp.wait_for(1, Duration::from_secs(60));
    assert_eq!(mails.len(), 1);
    assert_eq!(recipient_of(&mails[0]), "dana@studio.test");
    let again = notify(&["--late-reason", "twice"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already sent"));
    let shown = server.cli_ok(&["incident", "show", short], None);
    assert!(shown.contains("notified in 73h"), "{shown}");
    assert!(shown.contains("courier"), "{shown}");
    server.cli_ok(
        &["incident", "resolve", short, "--note", "disk found"],
        None,
    );
    server.cli_ok(&["incident", "note", short, "insurer told"], None);
    let shown = server.cli_ok(&["incident", "show", short], None);
    assert!(
        shown.contains("resolved") && shown.contains("insurer told"),
        "{shown}"
    );
}

/// The banner in the web app (Chromium over HTTPS): the notice's text as the mail has it,
/// markup in it shown as text, accessible, gone for good once dismissed.
#[tokio::test(flavor = "multi_thread")]
async fn an_owner_reads_the_notice_as_a_banner_and_dismisses_it() {
    use studiovault_e2e::PASSWORD;
    use studiovault_e2e::browser::Browser;

    let server = Server::start_deployed();
    server.add_user("ana@studio.test", "pro");
    let created: Value = serde_json::from_str(&server.cli_ok(
        &["incident", "new", "Session cookies logged", "--json"],
        None,
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    server.cli_ok(&["incident", "confirm", &id], None);
    server.cli_ok(
        &["incident", "affected", &id, "--account", "ana@studio.test"],
        None,
    );
    let hostile = "Cookies were logged <img src=x onerror=\"window.pwned=1\"> by a proxy.";
    server.cli_ok(
        &[
            "incident",
            "notify",
            &id,
            "--what-happened",
            hostile,
            "--data-affected",
            "Your session cookie.",
            "--containment",
            "Every session was ended.",
            "--user-action",
            "Sign in again.",
            "--contact",
            "security@studio.test",
        ],
        None,
    );

    let browser = Browser::start_for(&server).await;
    browser.goto(&server.url("/login")).await;
    browser.type_into("#email", "ana@studio.test").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait(".notice").await;
    browser.screenshot("notice-banner").await;
    let text = browser
        .eval("document.querySelector('.notice').innerText")
        .await;
    let text = text.as_str().unwrap_or_default();
    for expected in [
        hostile,
        "Your session cookie.",
        "Every session was ended.",
        "Sign in again.",
        "security@studio.test",
        "How to reach our security team",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` in the banner:\n{text}"
        );
    }
    assert_eq!(
        browser
            .eval("document.querySelector('.notice img') === null && window.pwned === undefined")
            .await,
        serde_json::json!(true),
        "markup in a notice is text, never HTML"
    );
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "axe-core: {violations:?}");

    // It stays across pages until dismissed, then is gone for good.
    browser.click("nav a[href='/shares']").await;
    browser.wait(".notice").await;
    browser.click(".notice button").await;
    browser
        .until(
            "the banner to go",
            "document.querySelectorAll('.notice').length === 0",
        )
        .await;
    let ana = Owner::signed_in(&server, "ana@studio.test").await;
    assert!(notices(&ana).await.is_empty());
    browser.goto(&server.url("/library")).await;
    browser.wait("#tracks").await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('.notice').length")
            .await,
        serde_json::json!(0)
    );
}

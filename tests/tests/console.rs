//! The admin console end to end: a real server, `studiovault console` in a real terminal
//! (tmux), keys typed with `send-keys`, the screen read with `capture-pane`. Every step waits
//! for what it expects to appear, with a deadline, rather than sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::Duration;

use serde_json::Value;
use studiovault_e2e::tmux::Tmux;
use studiovault_e2e::{Owner, Server};

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_creates_finds_and_suspends_a_user_and_sees_it_audited() {
    let server = Server::start();
    server.add_user("ana@studio.test", "pro");
    let tmux = Tmux::start(&server, 100, 30);
    tmux.wait_for("● connected");
    tmux.wait_for("Services");

    // Create an account; its one-time password is shown once and works.
    tmux.press(&["2"]);
    tmux.wait_for("Users (1)");
    tmux.press(&["n"]);
    tmux.wait_for("New account");
    tmux.type_text("newbie@studio.test");
    tmux.wait_for("newbie@studio.test");
    tmux.press(&["Enter"]);
    let screen = tmux.wait_for("Account created");
    let password = screen
        .lines()
        .find_map(|l| l.split("Password").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    assert!(password.len() >= 12, "no password on screen:\n{screen}");
    let owner = Owner::new(&server);
    let res = owner.login("newbie@studio.test", &password, None).await;
    assert_eq!(res.status(), 200, "the one-time password signs in");
    tmux.press(&["Enter"]);
    tmux.wait_until("the password dialog to close", |s| {
        !s.contains("Account created")
    });

    // Find it and suspend it.
    tmux.press(&["/"]);
    tmux.wait_for("Search:");
    tmux.type_text("newbie");
    tmux.wait_for("1 of 2 match");
    tmux.press(&["Enter"]);
    tmux.press(&["s"]);
    tmux.wait_for("Suspend newbie@studio.test?");
    tmux.press(&["y"]);
    tmux.wait_for_line(&["newbie@studio.test", "suspended"]);
    let shown = server.cli_ok(&["user", "show", "newbie@studio.test", "--json"], None);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"]["state"], "suspended");

    // The audit log has it, and the chain verifies.
    tmux.press(&["3"]);
    tmux.wait_for_line(&["user.suspend", "admin", "newbie@studio.test"]);
    tmux.press(&["v"]);
    tmux.wait_for("The chain is intact");
    tmux.press(&["Escape"]);
    tmux.wait_until("the result to close", |s| !s.contains("chain is intact"));

    tmux.press(&["q"]);
    tmux.wait_for("console exited with status 0");
}

#[test]
fn the_console_waits_for_a_stopped_server_and_reconnects() {
    let mut server = Server::start();
    server.stop();
    let tmux = Tmux::start(&server, 80, 24);
    tmux.wait_for("Not connected");
    tmux.wait_for("The server is not running");
    server.start_again();
    // It retries on its own every few seconds.
    tmux.wait_for("● connected");
    tmux.wait_for("Services");
    tmux.press(&["q"]);
    tmux.wait_for("console exited with status 0");
}

/// What the console added has a twin for scripts: searching users, a time range on the audit
/// tail, one audit record in full, and the services on the status.
#[test]
fn the_cli_twins_of_the_console_views() {
    let server = Server::start();
    server.add_user("ana@studio.test", "pro");
    server.add_user("ben@label.example", "free");

    let found: Value = serde_json::from_str(
        &server.cli_ok(&["user", "list", "--search", "STUDIO", "--json"], None),
    )
    .unwrap();
    let emails: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, ["ana@studio.test"]);

    let tail = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["audit", "tail", "--json"];
        all.extend_from_slice(args);
        server
            .cli_ok(&all, None)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let recent = tail(&["--since", "10m", "--action", "user.create"]);
    assert_eq!(recent.len(), 2);
    assert!(tail(&["--until", "2000-01-01"]).is_empty());
    assert!(tail(&["--since", "1h", "--until", "2000-01-01 00:00"]).is_empty());
    let bad = server.cli(&["audit", "tail", "--since", "yesterday"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a time"));

    let first = &recent[0];
    let seq = first["seq"].as_u64().unwrap().to_string();
    let shown: Value =
        serde_json::from_str(&server.cli_ok(&["audit", "show", &seq, "--json"], None)).unwrap();
    assert_eq!(&shown, first);
    assert!(
        server
            .cli_ok(&["audit", "show", &seq], None)
            .contains("user.create")
    );
    assert!(
        !server
            .cli(&["audit", "show", "999999"], None)
            .status
            .success()
    );

    let status: Value = serde_json::from_str(&server.cli_ok(&["status", "--json"], None)).unwrap();
    let services = status["capabilities"].as_array().unwrap();
    assert!(
        services
            .iter()
            .any(|c| c["name"] == "Backups" && c["state"] == "not_configured")
    );
    assert!(server.cli_ok(&["status"], None).contains("not configured"));
}

/// The token a dialog shows, read off the screen (wide enough to hold it on one line).
fn token_on(screen: &str) -> Option<String> {
    screen.lines().find_map(|line| {
        let start = line.find("svw_")?;
        let token: String = line[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        (token.len() == 80).then_some(token)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_enrols_a_stem_worker_watches_it_work_and_drains_it() {
    use studiovault_e2e::workers::{Worker, stub_separator};
    let server = Server::start_deployed_with(&[("STUDIOVAULT_STEMS__LEASE_SECONDS", "4")]);
    let tmux = Tmux::start(&server, 160, 40);
    tmux.wait_for("● connected");
    tmux.wait_for("Stem workers");
    tmux.press(&["5"]);
    tmux.wait_for("No stem workers enrolled");
    tmux.press(&["e"]);
    tmux.type_text("render-box");
    tmux.press(&["Enter"]);
    let screen = tmux.wait_until("the token", |s| token_on(s).is_some());
    let token = token_on(&screen).unwrap();
    tmux.press(&["Enter"]);

    // The worker runs with the token the console showed.
    let stub = stub_separator().display().to_string();
    let _worker = Worker::start_with_token(
        &server,
        "render-box",
        &token,
        &["--backend", "command", "--command", &stub],
        &[("STUB_MODE", "slow"), ("STUB_SECONDS", "20")],
        None,
    );
    server.add_user("pro@studio.test", "pro");
    let owner = Owner::signed_in(&server, "pro@studio.test").await;
    let track = owner
        .upload_ok("take.wav", studiovault_e2e::wav(2.0, 1))
        .await;
    let (status, _) = owner
        .send(
            reqwest::Method::POST,
            &format!("/api/tracks/{track}/stems"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    tmux.wait_for_line(&["render-box", "active", "command"]);
    tmux.wait_until("the job's progress", |s| {
        s.lines()
            .any(|l| l.contains("render-box") && l.contains('%') && !l.contains(" 0 %"))
    });
    tmux.wait_for_line(&["running"]);

    // Drain: the job goes on, the worker takes nothing new.
    tmux.press(&["d"]);
    tmux.wait_for_line(&["render-box", "draining"]);
    let list: Value =
        serde_json::from_str(&server.cli_ok(&["worker", "list", "--json"], None)).unwrap();
    assert_eq!(list["workers"][0]["state"], "draining");
    assert_eq!(list["workers"][0]["backend"], "command");
}

/// `now + days` as the console reads a date, `2026-07-01 14:30` (UTC).
fn date_in_days(days: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]"
    ))
    .unwrap()
}

#[test]
fn an_admin_records_a_legal_request_holds_it_and_gags_its_notice_in_the_console() {
    let server = Server::start();
    server.add_user("ana@studio.test", "pro");
    let tmux = Tmux::start(&server, 140, 40);
    tmux.wait_for("● connected");
    // The Legal tab, by its number. (Pressing Tab until its table shows raced a slow redraw:
    // a Tab sent before the screen caught up went past it.)
    tmux.press(&["7"]);
    tmux.wait_for("No legal request recorded");
    tmux.press(&["n"]);
    tmux.wait_for("Record a legal request");
    for text in [
        "District Court of Testville",
        "Criminal Procedure Act 100",
        "CR-2026-0042",
        &date_in_days(2),
        "ana@studio.test",
        "account, audio",
    ] {
        tmux.press(&["Tab"]);
        tmux.type_text(text);
    }
    tmux.press(&["Enter"]);
    // Held at once (the form's default), due in two days, nobody told yet.
    tmux.wait_until("the request's line", |s| {
        s.lines().any(|l| {
            ["court_order", "District Court", "received", "held", "0/1"]
                .iter()
                .all(|p| l.contains(p))
                && (l.contains("in 1d 23h") || l.contains("in 2d 0h"))
        })
    });

    tmux.press(&["m"]);
    tmux.wait_for("Record a gag");
    tmux.type_text(&date_in_days(30));
    tmux.press(&["Tab"]);
    tmux.type_text("order of the court, clause 12");
    tmux.press(&["Enter"]);
    tmux.wait_for("in force: order of the court, clause 12");
    // While gagged, N says why and sends nothing.
    tmux.press(&["N"]);
    tmux.wait_for("a gag is in force until");

    let list: Value =
        serde_json::from_str(&server.cli_ok(&["legal", "list", "--json"], None)).unwrap();
    let request = &list[0];
    assert_eq!(request["authority"], "District Court of Testville");
    assert_eq!(
        request["data_types"],
        serde_json::json!(["account", "audio"])
    );
    assert!(request["hold"]["placed_at"].is_i64());
    assert!(request["hold"]["released_at"].is_null());
    assert_eq!(request["gag"]["note"], "order of the court, clause 12");
    assert!(request["accounts"][0]["notified_at"].is_null());
}

/// The Shares tab: every owner's shares and what each recipient did, and a leak traced from
/// the console itself: the suspect file is sent over the admin socket, and the tab selects
/// the recipient it names.
#[tokio::test(flavor = "multi_thread")]
async fn the_shares_tab_shows_recipients_activity_and_traces_a_leak_to_one_of_them() {
    use std::time::Instant;

    let server = Server::start();
    server.add_user("label@studio.test", "max");
    let owner = Owner::signed_in(&server, "label@studio.test").await;
    let excerpt = studiovault_e2e::ffmpeg(
        &studiovault_e2e::wesnoth_track("battle.ogg").unwrap(),
        "ogg",
        &["-ss", "15", "-t", "45", "-c:a", "flac"],
        "flac",
    )
    .unwrap();
    let track = owner.upload_ok("Night Drive.flac", excerpt).await;
    let (status, share) = owner
        .send(
            reqwest::Method::POST,
            "/api/shares",
            Some(serde_json::json!({
                "title": "Night Drive promo",
                "tracks": [track],
                "recipients": [{"name": "Gia Label", "email": "gia@label.test"}, {"name": "Hal Press"}],
                "allow_download": true,
            })),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    let link = share["recipients"][0]["link"].as_str().unwrap().to_owned();

    // Gia opens her link, waits for her marked copy and downloads it.
    let gia = studiovault_e2e::client_for(&server)
        .cookie_store(true)
        .build()
        .unwrap();
    let opened = gia
        .post(server.url(&format!("{link}/open")))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let state: Value = gia
            .get(server.url(&format!("{link}/state")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["tracks"][0]["state"] == "ready" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "her copy was never made: {state}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let signed: Value = gia
        .post(server.url(&format!("{link}/download/{track}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let copy = gia
        .get(server.url(signed["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let leak =
        studiovault_e2e::ffmpeg(&copy, "flac", &["-t", "30", "-b:a", "128k"], "mp3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let suspect = dir.path().join("found-online.mp3");
    std::fs::write(&suspect, leak).unwrap();

    let tmux = Tmux::start(&server, 160, 40);
    tmux.wait_for("● connected");
    tmux.press(&["8"]);
    tmux.wait_for("label@studio.test");
    tmux.wait_for("Night Drive promo");
    tmux.press(&["Tab"]);
    tmux.press(&["Tab"]);
    tmux.wait_for_line(&["Gia Label", "gia@label.test"]);
    tmux.press(&["t"]);
    tmux.type_text(suspect.to_str().unwrap());
    tmux.press(&["Enter"]);
    let screen = tmux.wait_for("Trace of");
    let screen = if screen.contains("Gia Label <gia@label.test>") {
        screen
    } else {
        tmux.wait_for("Gia Label <gia@label.test>")
    };
    assert!(
        !screen.contains("Hal Press <"),
        "only Gia is named:\n{screen}"
    );
    tmux.wait_for_line(&["▶", "Gia Label"]);
    // The trace is audited, with the console as where it came from.
    let audit = server.cli_ok(&["audit", "tail", "--action", "leak.trace"], None);
    assert!(audit.contains("leak.trace"), "{audit}");
    tmux.press(&["q"]);
    tmux.wait_for("console exited with status 0");
}

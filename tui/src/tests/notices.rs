//! The Notices tab: the register with its 72-hour clocks, the forms and previews from an
//! incident to a sent notice, and each screen drawn and compared with its snapshot.

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use serde_json::{Value, json};

use super::*;

const HOUR: i64 = 60 * MINUTE;
/// The incidents of [`incidents`]: confirmed with time left, overdue, notified, investigating.
pub const BUCKET: &str = "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a";
pub const LAPTOP: &str = "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b";
pub const PHISHING: &str = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c";
pub const SIGN_INS: &str = "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d";

fn event(hours_ago: i64, kind: &str, text: &str) -> Value {
    json!({"at": NOW - hours_ago * HOUR, "kind": kind, "text": text})
}

#[allow(clippy::too_many_arguments)]
fn incident(
    id: &str,
    title: &str,
    state: &str,
    created_hours_ago: i64,
    confirmed_hours_ago: Option<i64>,
    notified_hours_ago: Option<i64>,
    affected: u64,
    delivery: (u64, u64, u64),
) -> Value {
    let confirmed = confirmed_hours_ago.map(|h| NOW - h * HOUR);
    let mut timeline = vec![event(created_hours_ago, "recorded", title)];
    if let Some(h) = confirmed_hours_ago {
        timeline.push(event(
            h,
            "confirmed",
            "confirmed as a breach; the notice is due within 72 hours",
        ));
    }
    if affected > 0 {
        timeline.push(event(
            confirmed_hours_ago.unwrap_or(created_hours_ago) - 1,
            "affected",
            &format!("{affected} account(s) chosen as affected"),
        ));
    }
    if let Some(h) = notified_hours_ago {
        timeline.push(event(
            h,
            "notified",
            &format!("notice sent to {affected} account(s)"),
        ));
    }
    json!({
        "id": id, "title": title, "description": "found in the nightly log review",
        "state": state, "created_at": NOW - created_hours_ago * HOUR,
        "confirmed_at": confirmed, "notify_by": confirmed.map(|c| c + 72 * HOUR),
        "notified_at": notified_hours_ago.map(|h| NOW - h * HOUR), "resolved_at": null,
        "encrypted": if state == "investigating" { Value::Null } else { json!(true) },
        "selection": if affected > 0 {
            json!({"kind": "audit_log", "since_ms": NOW - 50 * HOUR, "until_ms": null,
                   "actions": ["track.download"], "object": null})
        } else { Value::Null },
        "affected": affected,
        "notice": null, "late_reason": null,
        "delivery": {"sent": delivery.0, "queued": delivery.1, "failed": delivery.2},
        "timeline": timeline
    })
}

/// Four incidents, newest first: one investigating, one confirmed with 62 hours left, one
/// notified, one overdue.
pub fn incidents() -> Value {
    json!([
        incident(
            SIGN_INS,
            "Odd sign-ins from one client",
            "investigating",
            2,
            None,
            None,
            0,
            (0, 0, 0)
        ),
        incident(
            BUCKET,
            "Replica bucket readable by anyone",
            "confirmed",
            12,
            Some(10),
            None,
            3,
            (0, 0, 0)
        ),
        incident(
            PHISHING,
            "Phished session of ana",
            "notified",
            40,
            Some(30),
            Some(25),
            3,
            (2, 0, 1)
        ),
        incident(
            LAPTOP,
            "Stolen admin laptop",
            "confirmed",
            90,
            Some(80),
            None,
            2,
            (0, 0, 0)
        ),
    ])
}

fn incident_by(id: &str) -> Value {
    incidents()
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .unwrap()
}

/// The notified incident opened: its three recipients.
fn phishing_detail() -> Value {
    json!({
        "incident": incident_by(PHISHING),
        "recipients": [
            {"account": ANA, "email": "ana@studio.test", "notified_at": NOW - 25 * HOUR,
             "delivery": "sent", "attempts": 1, "delivered_at": NOW - 25 * HOUR + MINUTE,
             "error": null, "dismissed_at": NOW - 3 * HOUR},
            {"account": BEN, "email": "ben@studio.test", "notified_at": NOW - 25 * HOUR,
             "delivery": "failed", "attempts": 8, "delivered_at": null,
             "error": "550 mailbox unavailable", "dismissed_at": null},
            {"account": CLEO, "email": "cleo@label.example", "notified_at": NOW - 25 * HOUR,
             "delivery": "sent", "attempts": 2, "delivered_at": NOW - 24 * HOUR,
             "error": null, "dismissed_at": null}
        ]
    })
}

fn notice_preview(late: bool) -> Value {
    json!({
        "subject": "Security notice: an incident affecting your Studio Vault account",
        "text": "We are writing to tell you about a security incident that affects your account.\n\nWhat happened\nA replica bucket was readable by anyone for six hours.\n\nWhat data is affected\nEncrypted audio files; no keys.\n\nWhat we did to contain it\nThe bucket was closed and its keys rotated.\n\nWhat you should do\nNothing; watch for odd sign-ins.\n\nHow to reach our security team\nsecurity@studio.test\n",
        "html": "<p>…</p>",
        "recipients": 3,
        "late": late
    })
}

const PARTS: [&str; 5] = [
    "A replica bucket was readable by anyone for six hours.",
    "Encrypted audio files; no keys.",
    "The bucket was closed and its keys rotated.",
    "Nothing; watch for odd sign-ins.",
    "security@studio.test",
];

impl Harness {
    /// Switches to the Notices tab and answers its load with [`incidents`].
    pub fn on_notices(&mut self) {
        self.key(KeyCode::Char('6'));
        self.answer(Method::Get, "/v1/incidents", incidents());
    }

    /// Selects the incident at `index` of the register (newest first).
    fn select_incident(&mut self, index: usize) {
        self.key(KeyCode::Char('g'));
        for _ in 0..index {
            self.key(KeyCode::Char('j'));
        }
    }

    /// Fills the notice form with [`PARTS`] and asks for its preview.
    fn write_notice(&mut self) {
        self.key(KeyCode::Char('w'));
        for (i, part) in PARTS.iter().enumerate() {
            if i > 0 {
                self.key(KeyCode::Tab);
            }
            self.typed(part);
        }
        self.key(KeyCode::Enter);
    }
}

fn parts_json() -> Value {
    json!({
        "what_happened": PARTS[0], "data_affected": PARTS[1], "containment": PARTS[2],
        "user_action": PARTS[3], "contact": PARTS[4]
    })
}

#[test]
fn the_register_shows_each_incidents_state_and_72_hour_clock() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('6'));
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
    h.answer(Method::Get, "/v1/incidents", incidents());
    let screen = h.screen(120, 30);
    for line in [
        ["Odd sign-ins", "investigating", "not confirmed"],
        ["Replica bucket", "confirmed", "62h 00m left"],
        ["Stolen admin laptop", "confirmed", "OVERDUE by 8h 00m"],
        ["Phished session", "notified", "notified in 5h 00m"],
    ] {
        assert!(
            screen.lines().any(|l| line.iter().all(|p| l.contains(p))),
            "{line:?} in:\n{screen}"
        );
    }
    assert!(screen.contains("2 sent, 1 failed"), "{screen}");
    // The clock moves with the console's clock.
    h.now += 2 * HOUR;
    assert!(h.tick(), "a running clock redraws");
    assert!(h.screen(120, 30).contains("60h 00m left"));
}

#[test]
fn recording_an_incident_posts_the_form_and_selects_it() {
    let mut h = Harness::connected();
    h.on_notices();
    h.key(KeyCode::Char('n'));
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "a title is required");
    assert!(h.screen(80, 24).contains("give the incident a title"));
    h.typed("Open admin port");
    h.key(KeyCode::Tab);
    h.typed("seen in the firewall log");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Right);
    h.key(KeyCode::Enter);
    assert_eq!(h.calls(), ["POST /v1/incidents"]);
    assert_eq!(
        h.body(Method::Post, "/v1/incidents"),
        json!({"title": "Open admin port", "description": "seen in the firewall log", "encrypted": true})
    );
    let mut recorded = incident(
        "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
        "Open admin port",
        "investigating",
        0,
        None,
        None,
        0,
        (0, 0, 0),
    );
    recorded["encrypted"] = json!(true);
    h.answer(Method::Post, "/v1/incidents", recorded);
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("Recorded Open admin port as investigating"),
        "{screen}"
    );
    assert!(
        screen.contains("▶ 5e5e5e5e"),
        "the new incident is selected: {screen}"
    );
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
}

#[test]
fn confirming_starts_the_clock_and_only_an_investigation_can_be_confirmed() {
    let mut h = Harness::connected();
    h.on_notices();
    h.key(KeyCode::Char('c'));
    assert!(h.screen(80, 24).contains("Confirm: Odd sign-ins"));
    h.key(KeyCode::Right);
    h.key(KeyCode::Right);
    h.key(KeyCode::Tab);
    h.typed("the client was not ours");
    h.key(KeyCode::Enter);
    let path = format!("/v1/incidents/{SIGN_INS}/confirm");
    assert_eq!(
        h.body(Method::Post, &path),
        json!({"encrypted": false, "note": "the client was not ours"})
    );
    let mut confirmed = incident_by(SIGN_INS);
    confirmed["state"] = json!("confirmed");
    confirmed["confirmed_at"] = json!(NOW);
    confirmed["notify_by"] = json!(NOW + 72 * HOUR);
    h.answer(Method::Post, &path, confirmed);
    let screen = h.screen(120, 30);
    assert!(
        screen.contains("the 72-hour clock for the notice runs"),
        "{screen}"
    );
    assert!(screen.contains("72h 00m left"), "{screen}");
    h.pending.clear();
    // The notified one is past confirming: said, not sent.
    h.select_incident(2);
    h.key(KeyCode::Char('c'));
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("is already confirmed"));
}

#[test]
fn affected_accounts_from_the_audit_log_are_previewed_then_recorded() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.key(KeyCode::Char('a'));
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "the audit log needs a filter");
    assert!(
        h.screen(100, 30)
            .contains("give a time window, actions or an object")
    );
    // From: audit log; Since 6h; Actions track.download, share.play.
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("6h");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("track.download, share.play");
    h.key(KeyCode::Enter);
    let preview = format!("/v1/incidents/{BUCKET}/affected/preview");
    let selection = json!({"kind": "audit_log", "since_ms": NOW - 6 * HOUR, "until_ms": null,
        "actions": ["track.download", "share.play"], "object": null});
    assert_eq!(h.body(Method::Post, &preview), selection);
    h.answer(
        Method::Post,
        &preview,
        json!({"count": 2, "accounts": [
            {"id": ANA, "email": "ana@studio.test"},
            {"id": CLEO, "email": "cleo@label.example"}
        ]}),
    );
    let screen = h.screen(100, 30);
    assert!(screen.contains("Affected accounts (2)"), "{screen}");
    assert!(screen.contains("ana@studio.test") && screen.contains("cleo@label.example"));
    assert!(screen.contains("from the audit log"), "{screen}");
    // e goes back to the form as it was; Enter previews again; Enter records.
    h.key(KeyCode::Char('e'));
    assert!(h.screen(100, 30).contains("track.download, share.play"));
    h.key(KeyCode::Enter);
    h.answer(
        Method::Post,
        &preview,
        json!({"count": 1, "accounts": [{"id": ANA, "email": "ana@studio.test"}]}),
    );
    h.key(KeyCode::Enter);
    let record = format!("/v1/incidents/{BUCKET}/affected");
    assert_eq!(h.calls(), [format!("POST {record}")]);
    assert_eq!(h.body(Method::Post, &record), selection);
    h.answer(
        Method::Post,
        &record,
        json!({"count": 1, "accounts": [{"id": ANA, "email": "ana@studio.test"}]}),
    );
    assert!(
        h.screen(100, 30)
            .contains("1 account(s) recorded as affected")
    );
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
}

/// The register with the confirmed bucket incident not yet given its affected accounts.
fn incidents_with_bucket_unaffected() -> Value {
    let mut incidents = incidents();
    for incident in incidents.as_array_mut().unwrap() {
        if incident["id"] == BUCKET {
            incident["affected"] = json!(0);
        }
    }
    incidents
}

/// The message after recording says "write the notice with w": `w` works at once, and a
/// refresh sent before the change cannot bring back the count from before it.
#[test]
fn the_notice_can_be_written_as_soon_as_the_affected_accounts_are_recorded() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('6'));
    h.answer(
        Method::Get,
        "/v1/incidents",
        incidents_with_bucket_unaffected(),
    );
    h.select_incident(1);
    h.key(KeyCode::Char('w'));
    assert!(
        h.screen(100, 30)
            .contains("choose the affected accounts first")
    );
    // A periodic refresh goes out; its answer will be from before the change.
    while h.calls().is_empty() {
        h.tick();
    }
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
    // Everyone is affected: previewed, then recorded.
    h.key(KeyCode::Char('a'));
    h.key(KeyCode::Right);
    h.key(KeyCode::Right);
    h.key(KeyCode::Enter);
    let everyone = json!({"count": 2, "accounts": [
        {"id": ANA, "email": "ana@studio.test"},
        {"id": CLEO, "email": "cleo@label.example"}
    ]});
    let preview = format!("/v1/incidents/{BUCKET}/affected/preview");
    assert_eq!(h.body(Method::Post, &preview), json!({"kind": "all"}));
    h.answer(Method::Post, &preview, everyone.clone());
    h.key(KeyCode::Enter);
    h.answer(
        Method::Post,
        &format!("/v1/incidents/{BUCKET}/affected"),
        everyone,
    );
    assert!(
        h.screen(100, 30)
            .contains("2 account(s) recorded as affected")
    );
    assert_eq!(h.calls(), ["GET /v1/incidents", "GET /v1/incidents"]);
    h.key(KeyCode::Char('w'));
    assert!(
        h.screen(100, 30).contains("Breach notice"),
        "before any reload"
    );
    h.key(KeyCode::Esc);
    // The refresh from before the change answers first: it is dropped.
    assert!(!h.answer(
        Method::Get,
        "/v1/incidents",
        incidents_with_bucket_unaffected()
    ));
    h.key(KeyCode::Char('w'));
    assert!(
        h.screen(100, 30).contains("Breach notice"),
        "after the stale reply"
    );
    h.key(KeyCode::Esc);
    h.answer(Method::Get, "/v1/incidents", incidents());
    assert!(h.calls().is_empty());
}

#[test]
fn a_list_or_everyone_can_be_affected_and_the_servers_refusal_shows_in_the_form() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.key(KeyCode::Char('a'));
    h.key(KeyCode::Right);
    h.key(KeyCode::Tab);
    h.typed("ana@studio.test nobody@studio.test");
    h.key(KeyCode::Enter);
    let preview = format!("/v1/incidents/{BUCKET}/affected/preview");
    assert_eq!(
        h.body(Method::Post, &preview),
        json!({"kind": "accounts", "accounts": ["ana@studio.test", "nobody@studio.test"]})
    );
    h.fail(
        Method::Post,
        &preview,
        ApiFailure::Refused {
            status: 400,
            code: "invalid_input".into(),
            message:
                "accounts name `nobody@studio.test`, which is no account's id or e-mail address"
                    .into(),
        },
    );
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("Affected accounts"),
        "the form stays open: {screen}"
    );
    assert!(
        screen.contains("nobody@studio.test`, which is no account"),
        "{screen}"
    );
    h.key(KeyCode::BackTab);
    h.key(KeyCode::Right);
    h.key(KeyCode::Enter);
    assert_eq!(h.body(Method::Post, &preview), json!({"kind": "all"}));
}

#[test]
fn a_notice_is_written_previewed_as_mailed_and_sent_after_asking() {
    let mut h = Harness::connected();
    h.on_notices();
    // Not before confirmation.
    h.key(KeyCode::Char('w'));
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("confirm the incident first"));
    h.select_incident(1);
    h.key(KeyCode::Char('w'));
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "every part is required");
    assert!(h.screen(80, 24).contains("what happened is empty"));
    h.key(KeyCode::Esc);
    h.write_notice();
    let preview = format!("/v1/incidents/{BUCKET}/notice/preview");
    assert_eq!(h.body(Method::Post, &preview), parts_json());
    h.answer(Method::Post, &preview, notice_preview(false));
    let screen = h.screen(100, 40);
    assert!(screen.contains("Notice preview, as mailed"), "{screen}");
    assert!(screen.contains("Subject: Security notice"), "{screen}");
    assert!(
        screen.contains("How to reach our security team"),
        "{screen}"
    );
    // Closed and opened again, the notice comes back as written.
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('w'));
    assert!(h.screen(100, 30).contains("security@studio.test"));
    h.key(KeyCode::Enter);
    h.answer(Method::Post, &preview, notice_preview(false));
    h.key(KeyCode::Char('s'));
    assert!(h.calls().is_empty(), "s asks first");
    assert!(
        h.screen(80, 24)
            .contains("Send the notice to 3 account(s) now?")
    );
    h.key(KeyCode::Char('y'));
    let notify = format!("/v1/incidents/{BUCKET}/notify");
    assert_eq!(
        h.body(Method::Post, &notify),
        json!({"notice": parts_json(), "late_reason": null})
    );
    let mut sent = phishing_detail();
    sent["incident"] = incident_by(BUCKET);
    sent["incident"]["state"] = json!("notified");
    sent["incident"]["notified_at"] = json!(NOW);
    for r in sent["recipients"].as_array_mut().unwrap() {
        r["delivery"] = json!("queued");
        r["attempts"] = json!(0);
        r["delivered_at"] = json!(null);
        r["error"] = json!(null);
        r["dismissed_at"] = json!(null);
        r["notified_at"] = json!(NOW);
    }
    h.answer(Method::Post, &notify, sent);
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("Sent the notice of Replica bucket"),
        "{screen}"
    );
    assert!(
        screen.contains("Recipients (3)"),
        "the incident opens: {screen}"
    );
    assert!(screen.contains("notified in 10h 00m"), "{screen}");
    assert!(h.calls().contains(&format!("GET /v1/incidents/{BUCKET}")));
}

#[test]
fn a_late_notice_asks_why_before_it_is_sent() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(3);
    h.write_notice();
    let preview = format!("/v1/incidents/{LAPTOP}/notice/preview");
    h.answer(Method::Post, &preview, notice_preview(true));
    assert!(
        h.screen(100, 40)
            .contains("Late: the 72 hours from confirmation are past")
    );
    h.key(KeyCode::Char('s'));
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("Late notice: OVERDUE by 8h 00m"),
        "{screen}"
    );
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "a late notice needs its reason");
    assert!(
        h.screen(100, 30)
            .contains("say why it went out after the 72 hours")
    );
    h.typed("the laptop's disk image was analysed first");
    h.key(KeyCode::Enter);
    let notify = format!("/v1/incidents/{LAPTOP}/notify");
    assert_eq!(
        h.body(Method::Post, &notify),
        json!({"notice": parts_json(), "late_reason": "the laptop's disk image was analysed first"})
    );
    h.fail(
        Method::Post,
        &notify,
        ApiFailure::Refused {
            status: 409,
            code: "conflict".into(),
            message: "the notice was already sent".into(),
        },
    );
    assert!(
        h.screen(100, 30).contains("the notice was already sent"),
        "the refusal shows in the form"
    );
}

#[test]
fn an_opened_incident_lists_each_recipients_delivery_and_refreshes() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(2);
    h.key(KeyCode::Enter);
    let path = format!("/v1/incidents/{PHISHING}");
    assert_eq!(
        h.calls(),
        ["GET /v1/incidents".to_owned(), format!("GET {path}")]
    );
    h.answer(Method::Get, &path, phishing_detail());
    h.answer(Method::Get, "/v1/incidents", incidents());
    let screen = h.screen(100, 34);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("ben@studio.test") && l.contains("failed") && l.contains("550")),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("ana@studio.test") && l.contains("dismissed")),
        "{screen}"
    );
    for _ in 0..5 {
        h.tick();
    }
    assert_eq!(
        h.calls(),
        ["GET /v1/incidents".to_owned(), format!("GET {path}")]
    );
    h.key(KeyCode::Esc);
    assert!(h.screen(100, 34).contains("Incidents (4)"));
}

#[test]
fn resolving_and_notes_post_their_text() {
    let mut h = Harness::connected();
    h.on_notices();
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "a note needs text");
    h.typed("the client is a tester's script");
    h.key(KeyCode::Enter);
    let note = format!("/v1/incidents/{SIGN_INS}/note");
    assert_eq!(
        h.body(Method::Post, &note),
        json!({"text": "the client is a tester's script"})
    );
    h.answer(Method::Post, &note, incident_by(SIGN_INS));
    assert!(h.screen(80, 24).contains("Noted on the timeline"));
    h.pending.clear();
    h.key(KeyCode::Char('x'));
    h.key(KeyCode::Enter);
    let resolve = format!("/v1/incidents/{SIGN_INS}/resolve");
    assert_eq!(h.body(Method::Post, &resolve), json!({"text": ""}));
    let mut resolved = incident_by(SIGN_INS);
    resolved["state"] = json!("resolved");
    h.answer(Method::Post, &resolve, resolved);
    let screen = h.screen(120, 30);
    assert!(screen.contains("stays in the register"), "{screen}");
    assert!(
        screen.lines().any(|l| l.contains("Odd sign-ins")
            && l.contains("resolved")
            && l.contains("no notice")),
        "{screen}"
    );
}

#[test]
fn notices_list() {
    let mut h = Harness::connected();
    h.on_notices();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn notices_wide() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(3);
    assert_snapshot!(h.screen(120, 30));
}

#[test]
fn notices_empty() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('6'));
    h.answer(Method::Get, "/v1/incidents", json!([]));
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn notices_affected_form() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.key(KeyCode::Char('a'));
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("2025-05-31 08:00");
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn notices_affected_preview() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.key(KeyCode::Char('a'));
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("6h");
    h.key(KeyCode::Enter);
    h.answer(
        Method::Post,
        &format!("/v1/incidents/{BUCKET}/affected/preview"),
        json!({"count": 3, "accounts": [
            {"id": ANA, "email": "ana@studio.test"},
            {"id": BEN, "email": "ben@studio.test"},
            {"id": CLEO, "email": "cleo@label.example"}
        ]}),
    );
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn notices_notice_form() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.key(KeyCode::Char('w'));
    h.typed(PARTS[0]);
    h.key(KeyCode::Tab);
    h.typed(PARTS[1]);
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn notices_notice_preview() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.write_notice();
    h.answer(
        Method::Post,
        &format!("/v1/incidents/{BUCKET}/notice/preview"),
        notice_preview(false),
    );
    assert_snapshot!(h.screen(100, 36));
}

#[test]
fn notices_late_reason() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(3);
    h.write_notice();
    h.answer(
        Method::Post,
        &format!("/v1/incidents/{LAPTOP}/notice/preview"),
        notice_preview(true),
    );
    h.key(KeyCode::Char('s'));
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn notices_open_incident() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(2);
    h.key(KeyCode::Enter);
    h.answer(
        Method::Get,
        &format!("/v1/incidents/{PHISHING}"),
        phishing_detail(),
    );
    assert_snapshot!(h.screen(100, 34));
}

#[test]
fn search_narrows_the_register_by_title_or_reference() {
    let mut h = Harness::connected();
    h.on_notices();
    h.key(KeyCode::Char('/'));
    assert!(h.screen(80, 24).contains("Enter keep"));
    h.typed("laptop");
    h.key(KeyCode::Enter);
    let screen = h.screen(100, 30);
    assert!(screen.contains("Incidents (1)"), "{screen}");
    assert!(screen.contains("▶ 2b2b2b2b"), "{screen}");
    // Actions apply to the match.
    h.key(KeyCode::Char('x'));
    assert!(h.screen(100, 30).contains("Resolve: Stolen admin laptop"));
    h.key(KeyCode::Esc);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('/'));
    h.typed("3c3c");
    h.key(KeyCode::Enter);
    assert!(h.screen(100, 30).contains("▶ 3c3c3c3c"));
}

#[test]
fn mail_the_relay_gave_up_on_is_queued_again_for_one_incident() {
    let mut h = Harness::connected();
    h.on_notices();
    // Nothing of the investigation was mailed: said, not sent.
    h.key(KeyCode::Char('m'));
    assert!(h.calls().is_empty());
    assert!(h.screen(100, 24).contains("was given up on"));
    // The phished session's notice has one failed mail.
    h.select_incident(2);
    h.key(KeyCode::Char('m'));
    assert_eq!(
        h.body(Method::Post, "/v1/mail/retry"),
        json!({"topic": format!("incident/{PHISHING}")})
    );
    h.answer(Method::Post, "/v1/mail/retry", json!({"queued": 1}));
    assert!(h.screen(100, 24).contains("1 mail(s) queued again"));
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
}

#[test]
fn a_late_notice_preview_does_not_take_over_another_incidents_form() {
    let mut h = Harness::connected();
    h.on_notices();
    h.select_incident(1);
    h.write_notice();
    h.key(KeyCode::Esc);
    // Another incident's note, begun while the first preview was on its way.
    h.select_incident(0);
    h.key(KeyCode::Char('t'));
    h.answer(
        Method::Post,
        &format!("/v1/incidents/{BUCKET}/notice/preview"),
        notice_preview(false),
    );
    h.typed("system logs checked");
    let screen = h.screen(100, 30);
    assert!(screen.contains("system logs checked"), "{screen}");
    assert!(!screen.contains("Send the notice"), "{screen}");
    assert!(
        !h.calls().iter().any(|c| c.ends_with("/notify")),
        "{:?}",
        h.calls()
    );
}

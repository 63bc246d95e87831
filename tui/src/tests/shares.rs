//! The Shares tab: the owners, shares and recipients drawn from `GET /v1/shares`, moving
//! between and within the three lists, and a leak trace from the typed path to the traced
//! recipient selected; each screen drawn and compared with its snapshot.

use std::path::PathBuf;

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use serde_json::{Value, json};

use super::*;

const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The shares of [`shares`]: two of ana's, one of ben's.
const MASTERS: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const ROUGH: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
const DEMO: &str = "7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c";
/// Recipients: Bob and Carla on the masters, Radio desk on the rough mixes, Dana and Eli on
/// the demo.
const BOB: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const DANA: &str = "da4ada4ada4ada4ada4ada4ada4ada4a";
const TRACE_FILE: &str = "/v1/leaks/trace-file";
const LEAK: &str = "/srv/leaks/demo-leak.wav";

#[allow(clippy::too_many_arguments)]
fn recipient(
    id: &str,
    name: &str,
    email: Option<&str>,
    payload: &str,
    revoked: bool,
    (plays, downloads, copies): (u32, u32, u32),
    opened_hours_ago: Option<i64>,
    listened_secs: f64,
) -> Value {
    json!({
        "id": id, "name": name, "email": email, "revoked": revoked, "payload": payload,
        "plays": plays, "downloads": downloads, "copies": copies,
        "first_opened": opened_hours_ago.map(|h| NOW - h * HOUR),
        "last_activity": opened_hours_ago.map(|h| NOW - h * HOUR + 90 * MINUTE),
        "listened_secs": listened_secs
    })
}

fn share(id: &str, title: &str, status: &str, days_ago: i64, recipients: Vec<Value>) -> Value {
    json!({
        "id": id, "title": title, "created_at": NOW - days_ago * DAY,
        "expires_at": NOW - days_ago * DAY + 30 * DAY, "status": status,
        "watermark": true, "follow_latest": false, "allow_download": id != DEMO,
        "tracks": 12, "comments": 4, "recipients": recipients
    })
}

/// ana shares the album masters (Bob, Carla revoked) and older rough mixes (Radio desk, no
/// e-mail, never opened); ben shares a demo EP (Dana, Eli).
fn shares() -> Value {
    json!({"owners": [
        {"owner": ANA, "email": "ana@studio.test", "shares": [
            share(MASTERS, "Album masters", "active", 2, vec![
                recipient(BOB, "Bob Stone", Some("bob@label.example"), "0123456789abcdef",
                          false, (12, 2, 3), Some(47), 3_723.4),
                recipient("ca4aca4aca4aca4aca4aca4aca4aca4a", "Carla Diaz",
                          Some("carla@press.example"), "fedcba9876543210", true, (1, 0, 1),
                          Some(40), 245.9),
            ]),
            share(ROUGH, "Rough mixes", "expired", 40, vec![
                recipient("4ad14ad14ad14ad14ad14ad14ad14ad1", "Radio desk", None,
                          "1111222233334444", false, (0, 0, 0), None, 0.0),
            ]),
        ]},
        {"owner": BEN, "email": "ben@studio.test", "shares": [
            share(DEMO, "Demo EP", "active", 5, vec![
                recipient("e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1", "Eli Park",
                          Some("eli@studio.example"), "aaaabbbbccccdddd", false, (2, 0, 0),
                          Some(100), 61.0),
                recipient(DANA, "Dana Lee", Some("dana@studio.example"), "00ff00ff00ff00ff",
                          false, (4, 1, 2), Some(96), 600.0),
            ]),
        ]},
    ]})
}

fn traced_share(id: &str, title: &str) -> Value {
    json!({"id": id, "title": title, "created_at": NOW - 5 * DAY})
}

fn traced_recipient(id: &str, name: &str, email: &str) -> Value {
    json!({"id": id, "name": name, "email": email, "link": "/s/x", "revoked_at": null,
           "plays": 4, "downloads": 1, "events": []})
}

/// The demo leak: Dana's copy, with Bob's mixed in.
fn dana_trace() -> Value {
    json!({
        "found": true, "payload": "00ff00ff00ff00ff", "owner_email": "ben@studio.test",
        "share": traced_share(DEMO, "Demo EP"),
        "recipient": traced_recipient(DANA, "Dana Lee", "dana@studio.example"),
        "copies": [
            {"track": "t1", "name": "Intro", "issued_at": NOW - 4 * DAY},
            {"track": "t2", "name": "Outro", "issued_at": NOW - 4 * DAY}
        ],
        "suspects": [{
            "share": traced_share(MASTERS, "Album masters"),
            "recipient": traced_recipient(BOB, "Bob Stone", "bob@label.example"),
            "score": 7.31
        }],
        "threshold": 4.75
    })
}

impl Harness {
    /// Switches to the Shares tab (by its title: its digit depends on the tabs before it) and
    /// answers its load with [`shares`].
    fn on_shares(&mut self) {
        let index = tabs::all()
            .iter()
            .position(|t| t.title() == "Shares")
            .unwrap();
        self.key(KeyCode::Char(char::from(
            b'1' + u8::try_from(index).unwrap(),
        )));
        self.answer(Method::Get, "/v1/shares", shares());
    }

    /// Types `path` into the trace form and sends it.
    fn trace(&mut self, path: &str) {
        self.key(KeyCode::Char('t'));
        self.typed(path);
        self.key(KeyCode::Enter);
    }
}

/// The rows of the screen that hold `text`.
fn rows_with<'a>(screen: &'a str, text: &str) -> Vec<&'a str> {
    screen.lines().filter(|l| l.contains(text)).collect()
}

#[test]
fn the_tab_is_the_eighth_and_loads_when_shown_on_r_and_every_ten_seconds() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('8'));
    assert_eq!(h.calls(), ["GET /v1/shares"]);
    assert!(h.screen(80, 24).contains("Loading the shares"));
    h.answer(Method::Get, "/v1/shares", shares());
    for _ in 0..9 {
        h.tick();
    }
    assert!(h.calls().is_empty());
    h.tick();
    assert_eq!(h.calls(), ["GET /v1/shares"]);
    h.key(KeyCode::Char('r'));
    assert_eq!(
        h.calls(),
        ["GET /v1/shares"],
        "a load in flight is not doubled"
    );
    assert!(
        !h.answer(Method::Get, "/v1/shares", shares()),
        "nothing new, nothing to redraw"
    );
    h.key(KeyCode::Char('r'));
    assert_eq!(h.calls(), ["GET /v1/shares"]);
}

#[test]
fn owners_shares_and_recipients_are_drawn_from_the_answer() {
    let mut h = Harness::connected();
    h.on_shares();
    let screen = h.screen(140, 30);
    for text in [
        "Owners (2)",
        "ana@studio.test",
        "ben@studio.test",
        "Shares of ana@studio.test (2)",
        "Album masters",
        "Rough mixes",
        "expired",
        "Recipients of Album masters (2) · watermarked · downloads allowed",
        "bob@label.example",
        "0123456789abcdef",
        // 3,723 seconds listened, first opened 47 hours before now, active 90 minutes later.
        "1:02:03",
        "2025-05-30 13:00",
        "2025-05-30 14:30",
        "revoked",
        "4:05",
    ] {
        assert!(screen.contains(text), "{text} is missing:\n{screen}");
    }
    let bob = rows_with(&screen, "Bob Stone");
    assert_eq!(bob.len(), 1, "{screen}");
    assert!(
        bob[0].contains("▶ Bob Stone"),
        "the first recipient is selected"
    );
    for count in ["12", "2", "3"] {
        assert!(bob[0].contains(&format!(" {count} ")), "{}", bob[0]);
    }
}

#[test]
fn a_narrow_terminal_keeps_the_payload_and_drops_the_times_and_e_mails_first() {
    let mut h = Harness::connected();
    h.on_shares();
    let screen = h.screen(80, 24);
    assert!(screen.contains("0123456789abcdef"), "{screen}");
    assert!(screen.contains("revoked"), "{screen}");
    assert!(!screen.contains("bob@label.example"), "{screen}");
    assert!(!screen.contains("First opened"), "{screen}");
}

#[test]
fn keys_move_within_a_list_and_tab_and_arrows_between_them() {
    let mut h = Harness::connected();
    h.on_shares();
    // j moves the owner: ben's share and its first recipient show.
    h.key(KeyCode::Char('j'));
    let screen = h.screen(120, 30);
    assert!(screen.contains("▶ ben@studio.test"), "{screen}");
    assert!(screen.contains("Shares of ben@studio.test (1)"), "{screen}");
    assert!(screen.contains("▶ Eli Park"), "{screen}");
    assert!(screen.contains("stream only"), "{screen}");
    // Tab goes into ben's shares and → into its recipients, without leaving the screen.
    h.key(KeyCode::Char('k'));
    h.key(KeyCode::Tab);
    h.key(KeyCode::Down);
    assert!(h.calls().is_empty());
    let screen = h.screen(120, 30);
    assert!(screen.contains("▶ ana@studio.test"), "{screen}");
    assert!(screen.contains("▶ Rough mixes"), "{screen}");
    assert!(screen.contains("▶ Radio desk"), "{screen}");
    assert!(screen.contains("never"), "never opened: {screen}");
    h.key(KeyCode::Up);
    h.key(KeyCode::Right);
    h.key(KeyCode::Char('j'));
    let screen = h.screen(120, 30);
    assert!(screen.contains("▶ Album masters"), "{screen}");
    assert!(screen.contains("▶ Carla Diaz"), "{screen}");
    assert!(
        screen.contains("← shares"),
        "the hint says where ← goes: {screen}"
    );
    // ← steps back a list at a time; past the owners it is the previous screen again.
    h.key(KeyCode::Left);
    h.key(KeyCode::Left);
    assert!(h.calls().is_empty());
    h.key(KeyCode::Left);
    assert_eq!(h.calls(), ["GET /v1/legal"]);
}

#[test]
fn past_the_recipients_tab_goes_on_to_the_next_screen() {
    let mut h = Harness::connected();
    h.on_shares();
    h.key(KeyCode::Enter);
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    h.key(KeyCode::Tab);
    assert_eq!(h.calls(), ["GET /v1/status"], "wraps to the dashboard");
}

#[test]
fn the_selection_stays_on_its_recipient_when_the_list_reloads() {
    let mut h = Harness::connected();
    h.on_shares();
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Char('j'));
    // Carla's row moves up: Bob is gone.
    let mut fewer = shares();
    fewer["owners"][0]["shares"][0]["recipients"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    h.key(KeyCode::Char('r'));
    assert!(h.answer(Method::Get, "/v1/shares", fewer));
    let screen = h.screen(120, 30);
    assert!(screen.contains("▶ Carla Diaz"), "{screen}");
    assert!(!screen.contains("Bob Stone"), "{screen}");
}

#[test]
fn t_asks_for_a_path_and_enter_sends_the_file_as_the_body() {
    let mut h = Harness::connected();
    h.on_shares();
    h.key(KeyCode::Char('t'));
    let screen = h.screen(80, 24);
    assert!(screen.contains("Trace a leaked file"), "{screen}");
    // Keys are typed into the form, not acted on.
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "a path is required");
    assert!(
        h.screen(80, 24)
            .contains("type the path of the suspect file")
    );
    h.typed(LEAK);
    h.key(KeyCode::Enter);
    assert_eq!(h.calls(), [format!("POST {TRACE_FILE} < {LEAK}")]);
    assert!(h.screen(80, 24).contains("waiting for the server"));
    // The call is a file upload, not JSON.
    h.answer(
        Method::PostFile(PathBuf::from(LEAK)),
        TRACE_FILE,
        dana_trace(),
    );
}

#[test]
fn a_trace_selects_the_traced_recipient_and_names_who_it_was_made_for() {
    let mut h = Harness::connected();
    h.on_shares();
    h.trace(LEAK);
    assert!(h.answer(
        Method::PostFile(PathBuf::from(LEAK)),
        TRACE_FILE,
        dana_trace()
    ));
    let screen = h.screen(140, 40);
    // ben's demo and Dana, two lists away from where the selection was.
    assert!(screen.contains("▶ ben@studio.test"), "{screen}");
    assert!(screen.contains("▶ Demo EP"), "{screen}");
    assert!(screen.contains("▶ Dana Lee"), "{screen}");
    for text in [
        format!("Trace of {LEAK}"),
        "found: the file carries a recipient's watermark".into(),
        "Payload    00ff00ff00ff00ff".into(),
        "Owner      ben@studio.test".into(),
        "Share      Demo EP · created 2025-05-27 12:00 UTC".into(),
        "Recipient  Dana Lee <dana@studio.example>".into(),
        "Copies     2: Intro (2025-05-28 12:00 UTC), Outro".into(),
        "Suspects   1 above the threshold 4.75".into(),
        "7.31  Bob Stone <bob@label.example> · Album masters".into(),
    ] {
        assert!(screen.contains(&text), "{text} is missing:\n{screen}");
    }
    assert!(screen.contains("Esc close trace"), "{screen}");
    // The recipients' list has the keys: k moves to Eli.
    h.key(KeyCode::Char('k'));
    assert!(h.screen(140, 40).contains("▶ Eli Park"));
    h.key(KeyCode::Esc);
    assert!(!h.screen(140, 40).contains("Trace of"));
}

#[test]
fn a_trace_naming_a_share_not_loaded_yet_reloads_and_selects_it() {
    let mut h = Harness::connected();
    h.on_shares();
    h.trace(LEAK);
    let mut trace = dana_trace();
    trace["share"] = traced_share("8d8d8d8d8d8d8d8d8d8d8d8d8d8d8d8d", "Single");
    h.answer(Method::PostFile(PathBuf::from(LEAK)), TRACE_FILE, trace);
    assert_eq!(h.calls(), ["GET /v1/shares"]);
    let mut newer = shares();
    newer["owners"][1]["shares"].as_array_mut().unwrap().insert(
        0,
        share(
            "8d8d8d8d8d8d8d8d8d8d8d8d8d8d8d8d",
            "Single",
            "active",
            0,
            vec![recipient(
                DANA,
                "Dana Lee",
                Some("dana@studio.example"),
                "00ff00ff00ff00ff",
                false,
                (1, 0, 1),
                Some(1),
                30.0,
            )],
        ),
    );
    h.answer(Method::Get, "/v1/shares", newer);
    let screen = h.screen(140, 40);
    assert!(screen.contains("▶ ben@studio.test"), "{screen}");
    assert!(screen.contains("▶ Single"), "{screen}");
    assert!(screen.contains("▶ Dana Lee"), "{screen}");
}

#[test]
fn a_file_without_a_watermark_says_so() {
    let mut h = Harness::connected();
    h.on_shares();
    h.trace(LEAK);
    h.answer(
        Method::PostFile(PathBuf::from(LEAK)),
        TRACE_FILE,
        json!({"found": false, "payload": null, "share": null, "recipient": null,
               "copies": [], "suspects": [], "threshold": null}),
    );
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("not found: no watermark could be read"),
        "{screen}"
    );
    assert!(screen.contains("Suspects   not scored"), "{screen}");
    assert!(
        screen.contains("▶ ana@studio.test"),
        "the selection stays: {screen}"
    );
}

#[test]
fn a_failed_trace_shows_the_reason_in_the_notice_line_and_keeps_the_path() {
    let mut h = Harness::connected();
    h.on_shares();
    h.trace(LEAK);
    h.fail(
        Method::PostFile(PathBuf::from(LEAK)),
        TRACE_FILE,
        ApiFailure::Broken(format!(
            "cannot read {LEAK}: No such file or directory (os error 2)"
        )),
    );
    let screen = h.screen(100, 24);
    assert!(
        screen.contains(&format!("✗ cannot read {LEAK}: No such file")),
        "{screen}"
    );
    assert!(
        screen.contains(LEAK),
        "the form stays open to fix the path: {screen}"
    );
    // Sent again, refused by the server this time.
    h.key(KeyCode::Enter);
    h.fail(
        Method::PostFile(PathBuf::from(LEAK)),
        TRACE_FILE,
        ApiFailure::Refused {
            status: 422,
            code: "not_audio".into(),
            message: "the file is not audio the appliance can read".into(),
        },
    );
    assert!(
        h.screen(100, 24)
            .contains("✗ the file is not audio the appliance can read")
    );
    h.key(KeyCode::Esc);
    assert!(!h.screen(100, 24).contains("Trace a leaked file"));
}

#[test]
fn a_failed_first_load_stands_in_the_lists_place() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('8'));
    h.fail(
        Method::Get,
        "/v1/shares",
        ApiFailure::Refused {
            status: 500,
            code: "internal".into(),
            message: "the store could not be read".into(),
        },
    );
    assert!(h.screen(80, 24).contains("the store could not be read"));
    h.key(KeyCode::Char('r'));
    h.answer(Method::Get, "/v1/shares", json!({"owners": []}));
    let screen = h.screen(80, 24);
    assert!(screen.contains("No shares yet."), "{screen}");
}

#[test]
fn shares_list() {
    let mut h = Harness::connected();
    h.on_shares();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn shares_wide() {
    let mut h = Harness::connected();
    h.on_shares();
    assert_snapshot!(h.screen(140, 30));
}

#[test]
fn shares_help() {
    let mut h = Harness::connected();
    h.on_shares();
    h.key(KeyCode::Char('?'));
    assert_snapshot!(h.screen(80, 30));
}

#[test]
fn shares_trace_form() {
    let mut h = Harness::connected();
    h.on_shares();
    h.key(KeyCode::Char('t'));
    h.typed(LEAK);
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn shares_traced() {
    let mut h = Harness::connected();
    h.on_shares();
    h.trace(LEAK);
    h.answer(
        Method::PostFile(PathBuf::from(LEAK)),
        TRACE_FILE,
        dana_trace(),
    );
    assert_snapshot!(h.screen(100, 30));
}

//! Every screen drawn to a `TestBackend` and compared with its reviewed snapshot. Colours are
//! off (`NO_COLOR`), so the snapshots show that each screen reads without them. Review a change
//! with `cargo insta review` (or by reading the `.snap.new` file) before accepting it.

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use serde_json::json;

use super::*;

#[test]
fn dashboard() {
    let h = Harness::connected();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn dashboard_wide() {
    let h = Harness::connected();
    assert_snapshot!(h.screen(120, 30));
}

#[test]
fn dashboard_with_a_failing_certificate() {
    let mut h = Harness::connected();
    for _ in 0..5 {
        h.tick();
    }
    let mut s = status();
    s["listen"] = json!("https://0.0.0.0:443");
    s["capabilities"][0] = json!({"name": "TLS certificate", "state": "failing",
        "detail": "3 failure(s) in a row, next try 2025-06-01T12:08:00Z: ACME: creating the order: rate limited"});
    s["tls"] = json!({
        "mode": "acme", "https_listen": "0.0.0.0:443",
        "certificate": {"subject": "CN=vault.studio.example", "issuer": "CN=R11, O=Let's Encrypt, C=US",
            "names": ["vault.studio.example"], "serial": "03:ab", "sha256": "AB:CD",
            "not_before": NOW - 70 * 86_400_000, "not_after": NOW + 20 * 86_400_000},
        "next_attempt": NOW + 8 * MINUTE,
        "last_error": "ACME: creating the order: rate limited",
        "failures": 3,
        "ca_wait_until": NOW + 8 * MINUTE,
        "root_certificate": null
    });
    h.answer(Method::Get, "/v1/status", s);
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn dashboard_retention_table() {
    let mut h = Harness::connected();
    assert!(h.key(KeyCode::Char('t')));
    h.answer(
        Method::Get,
        "/v1/retention",
        json!([
            {"what": "Daily salts of client hashes", "kept": "30 days",
             "config_key": "privacy.salt_retention_days",
             "enforced_by": "housekeeping deletes older salts"},
            {"what": "Server logs", "kept": "90 days", "config_key": null,
             "enforced_by": "journald namespace `studiovault`, MaxRetentionSec=90day"}
        ]),
    );
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn dashboard_retention_table_that_could_not_be_had() {
    let mut h = Harness::connected();
    assert!(h.key(KeyCode::Char('t')));
    h.fail(
        Method::Get,
        "/v1/retention",
        ApiFailure::Unreachable("the server closed the connection".into()),
    );
    // The status poll's next answer does not wipe it out.
    for _ in 0..5 {
        h.tick();
    }
    h.answer(Method::Get, "/v1/status", status());
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn connecting() {
    let h = Harness::starting();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn not_connected() {
    let mut h = Harness::starting();
    h.fail(
        Method::Get,
        "/v1/status",
        ApiFailure::Unreachable(
            "permission denied on /var/lib/studiovault/admin.sock: run this as the user the server runs as, or as root".into(),
        ),
    );
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn too_small() {
    let h = Harness::connected();
    assert_snapshot!(h.screen(50, 12));
}

#[test]
fn help_overlay() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('?'));
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_list() {
    let mut h = Harness::connected();
    h.on_users();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_wide() {
    let mut h = Harness::connected();
    h.on_users();
    assert_snapshot!(h.screen(120, 30));
}

#[test]
fn users_search() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('/'));
    h.typed("studio");
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_help() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('?'));
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_create_form() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("newbie@studio.test");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Right);
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_one_time_password() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("newbie@studio.test");
    h.key(KeyCode::Enter);
    let mut created = user(BEN);
    created["id"] = json!("d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    created["email"] = json!("newbie@studio.test");
    created["status"] = json!({"state": "active"});
    h.answer(
        Method::Post,
        "/v1/users",
        json!({"user": created, "one_time_password": "pk6ha-kcnnp-zkjhw-7nvb3"}),
    );
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_confirm_suspend() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('s'));
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_edit_plan_and_quota() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::Tab);
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_open_account() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Enter);
    let ana_sessions: Vec<_> = sessions().as_array().unwrap()[..2].to_vec();
    h.answer(
        Method::Get,
        &format!("/v1/users/{ANA}/sessions"),
        json!(ana_sessions),
    );
    h.answer(Method::Get, "/v1/users", users());
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn users_open_deleting_account() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('G'));
    h.key(KeyCode::Enter);
    h.answer(
        Method::Get,
        &format!("/v1/users/{CLEO}/sessions"),
        json!([]),
    );
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn audit_list() {
    let mut h = Harness::connected();
    h.on_audit();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn audit_wide() {
    let mut h = Harness::connected();
    h.on_audit();
    assert_snapshot!(h.screen(120, 30));
}

#[test]
fn audit_record() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Enter);
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn audit_filter_form() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('/'));
    h.typed("ana@studio.test");
    h.key(KeyCode::Tab);
    h.typed("track");
    h.key(KeyCode::Tab);
    h.typed("2025-06-01");
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn audit_verified() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('v'));
    h.answer(
        Method::Post,
        "/v1/audit/verify",
        json!({
            "ok": true, "records": 12, "checkpoints": 1, "last_checkpoint_seq": 6,
            "first_problem": null,
            "public_key": "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
        }),
    );
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn audit_broken() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('v'));
    h.answer(
        Method::Post,
        "/v1/audit/verify",
        json!({
            "ok": false, "records": 12, "checkpoints": 1, "last_checkpoint_seq": 6,
            "first_problem": {"seq": 7, "kind": "altered", "message": "record #7 does not hash to its stored hash"},
            "public_key": "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
        }),
    );
    h.answer(
        Method::Get,
        "/v1/audit?before=8&limit=1",
        json!([audit_entries()[5]]),
    );
    assert_snapshot!(h.screen(100, 34));
}

#[test]
fn sessions_list() {
    let mut h = Harness::connected();
    h.on_sessions();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn sessions_confirm_revoke() {
    let mut h = Harness::connected();
    h.on_sessions();
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('x'));
    assert_snapshot!(h.screen(80, 24));
}

/// Under `NO_COLOR` nothing is drawn in colour: every distinction is a word, a mark, bold or
/// reverse video, so the snapshots above show all there is.
#[test]
fn without_colour_no_cell_has_one() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('s'));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| h.app.draw(frame)).unwrap();
    let buffer = terminal.backend().buffer();
    let coloured = buffer
        .content()
        .iter()
        .filter(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset)
        .count();
    assert_eq!(coloured, 0);
    // The selected row is still marked, with a symbol and reverse video.
    assert!(h.screen(80, 24).contains("▶ ana@studio.test"));
}

#[test]
fn workers_list() {
    let mut h = Harness::connected();
    h.on_workers();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn workers_wide() {
    let mut h = Harness::connected();
    h.on_workers();
    assert_snapshot!(h.screen(120, 30));
}

#[test]
fn workers_empty() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('5'));
    h.answer(
        Method::Get,
        "/v1/workers",
        json!({"workers": [], "queue": []}),
    );
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn workers_enrol_form() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('e'));
    h.typed("render-2");
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn workers_token_shown_once() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('e'));
    h.typed("render-2");
    h.key(KeyCode::Enter);
    let mut enrolled = worker(MAC_MINI);
    enrolled["id"] = json!("d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7");
    enrolled["name"] = json!("render-2");
    enrolled["state"] = json!("active");
    enrolled["jobs_last_hour"] = json!(0);
    enrolled["jobs_done"] = json!(0);
    for field in ["host", "backend", "last_seen"] {
        enrolled[field] = json!(null);
    }
    h.answer(
        Method::Post,
        "/v1/workers",
        json!({
            "worker": enrolled,
            "token": "svw_d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7_Qm9vbXRzY2hha2FsYWthQm9vbXRzY2hha2FsYWth12"
        }),
    );
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn workers_confirm_revoke() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('r'));
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn legal_list() {
    let mut h = Harness::connected();
    h.on_legal();
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn legal_wide() {
    let mut h = Harness::connected();
    h.on_legal();
    assert_snapshot!(h.screen(120, 30));
}

#[test]
fn legal_refused_request() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('G'));
    assert_snapshot!(h.screen(100, 30));
}

#[test]
fn legal_empty() {
    let mut h = Harness::connected();
    let index = tabs::all()
        .iter()
        .position(|t| t.title() == "Legal")
        .unwrap();
    h.key(KeyCode::Char(char::from(
        b'1' + u8::try_from(index).unwrap(),
    )));
    h.answer(Method::Get, "/v1/legal", json!([]));
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn legal_record_form() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('n'));
    h.key(KeyCode::Tab);
    h.typed("District Court of Testville");
    assert_snapshot!(h.screen(80, 30));
}

#[test]
fn legal_gag_form() {
    let mut h = Harness::connected();
    let mut requests = legal_requests();
    requests[0]["gag"] = json!(null);
    h.on_legal();
    h.key(KeyCode::Char('R'));
    h.answer(Method::Get, "/v1/legal", requests);
    h.key(KeyCode::Char('m'));
    h.typed("2025-09-01");
    assert_snapshot!(h.screen(80, 24));
}

#[test]
fn legal_confirm_hold() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('H'));
    assert_snapshot!(h.screen(80, 24));
}

//! Keys in, state and calls out: the console's behaviour without a terminal or a server.

use crossterm::event::KeyModifiers;
use crossterm::event::{Event, KeyCode, MouseButton, MouseEvent, MouseEventKind};
use serde_json::json;

use super::*;
use crate::app::Input;

#[test]
fn start_up_checks_the_socket_then_loads_the_first_screen() {
    let mut h = Harness::starting();
    assert_eq!(h.calls(), ["GET /v1/status"]);
    h.answer(Method::Get, "/v1/status", status());
    // The dashboard's own load, now that the server answered.
    assert_eq!(h.calls(), ["GET /v1/status"]);
}

#[test]
fn an_unreachable_server_shows_the_connection_screen_and_retries() {
    let mut h = Harness::starting();
    h.fail(
        Method::Get,
        "/v1/status",
        ApiFailure::Unreachable("the server is not running".into()),
    );
    assert!(h.screen(80, 24).contains("Not connected"));
    // Screen keys do nothing; r retries at once, and every fifth tick retries by itself.
    assert!(!h.key(KeyCode::Char('n')));
    h.key(KeyCode::Char('r'));
    assert_eq!(h.calls(), ["GET /v1/status"]);
    h.fail(
        Method::Get,
        "/v1/status",
        ApiFailure::Unreachable("permission denied".into()),
    );
    for _ in 0..4 {
        h.tick();
    }
    assert!(h.calls().is_empty());
    h.tick();
    assert_eq!(h.calls(), ["GET /v1/status"]);
    h.answer(Method::Get, "/v1/status", status());
    assert!(h.screen(80, 24).contains("● connected"));
    assert_eq!(h.calls(), ["GET /v1/status"], "the dashboard loads");
}

#[test]
fn losing_the_server_mid_session_switches_to_the_connection_screen_without_a_notice() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('2'));
    h.fail(
        Method::Get,
        "/v1/users",
        ApiFailure::Unreachable("the server is not running".into()),
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("Not connected"), "{screen}");
    assert!(!screen.contains("✗ the server"), "{screen}");
}

#[test]
fn tabs_switch_with_digits_tab_and_vim_keys_and_load_when_shown() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('2'));
    assert_eq!(h.calls(), ["GET /v1/users"]);
    h.answer(Method::Get, "/v1/users", users());
    h.key(KeyCode::Tab);
    assert_eq!(h.calls(), ["GET /v1/audit?limit=1", "GET /v1/users"]);
    h.answer(Method::Get, "/v1/users", users());
    h.answer(Method::Get, "/v1/audit?limit=1", json!([]));
    h.key(KeyCode::Char('l'));
    assert_eq!(h.calls(), ["GET /v1/sessions"]);
    h.answer(Method::Get, "/v1/sessions", sessions());
    h.key(KeyCode::Char('l'));
    assert_eq!(h.calls(), ["GET /v1/workers"]);
    h.answer(Method::Get, "/v1/workers", workers());
    h.key(KeyCode::Char('l'));
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
    h.answer(Method::Get, "/v1/incidents", json!([]));
    h.key(KeyCode::Char('l'));
    assert_eq!(h.calls(), ["GET /v1/legal"]);
    h.answer(Method::Get, "/v1/legal", legal_requests());
    h.key(KeyCode::Char('l'));
    assert_eq!(h.calls(), ["GET /v1/shares"]);
    h.answer(Method::Get, "/v1/shares", json!({"owners": []}));
    h.key(KeyCode::Char('l'));
    assert_eq!(h.calls(), ["GET /v1/status"], "wraps to the dashboard");
    h.answer(Method::Get, "/v1/status", status());
    h.key(KeyCode::BackTab);
    assert_eq!(h.calls(), ["GET /v1/shares"]);
    h.answer(Method::Get, "/v1/shares", json!({"owners": []}));
    // The Shares tab's first list lets BackTab through to the previous screen.
    h.key(KeyCode::BackTab);
    assert_eq!(h.calls(), ["GET /v1/legal"]);
    h.answer(Method::Get, "/v1/legal", legal_requests());
    h.key(KeyCode::BackTab);
    assert_eq!(h.calls(), ["GET /v1/incidents"]);
    h.answer(Method::Get, "/v1/incidents", json!([]));
    h.key(KeyCode::BackTab);
    assert_eq!(h.calls(), ["GET /v1/workers"]);
    h.answer(Method::Get, "/v1/workers", workers());
    assert!(!h.key(KeyCode::Char('9')), "no ninth tab");
    assert!(h.calls().is_empty());
    h.key(KeyCode::Char('R'));
    assert_eq!(h.calls(), ["GET /v1/workers"], "R reloads the screen");
}

#[test]
fn a_mouse_click_on_a_tab_switches_to_it() {
    let mut h = Harness::connected();
    h.pending.clear();
    // " Studio Vault " + " " then " 1 Dashboard " then " 2 Users ".
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 30,
        row: 0,
        modifiers: KeyModifiers::NONE,
    };
    assert!(h.input(Input::Terminal(Event::Mouse(click))));
    assert_eq!(h.calls(), ["GET /v1/users"]);
}

#[test]
fn q_quits_unless_it_is_typed_into_a_field_and_ctrl_c_always_quits() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("q?2");
    assert!(!h.app.should_quit());
    assert!(h.screen(80, 24).contains("q?2"));
    h.ctrl('c');
    assert!(h.app.should_quit());

    let mut h = Harness::connected();
    h.key(KeyCode::Char('q'));
    assert!(h.app.should_quit());
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('?'));
    let first = h.screen(80, 24);
    assert!(first.contains("Help: Users"));
    assert!(first.contains("To create one, press n"));
    h.key(KeyCode::Char('j'));
    assert_ne!(h.screen(80, 24), first);
    // Keys do not reach the screen while the help is open.
    assert!(h.key(KeyCode::Char('n')));
    h.key(KeyCode::Esc);
    let after = h.screen(80, 24);
    assert!(!after.contains("Help: Users"));
    assert!(!after.contains("New account"));
}

#[test]
fn nothing_to_redraw_on_a_quiet_tick() {
    let mut h = Harness::connected();
    assert!(!h.tick());
    assert!(h.calls().is_empty());
}

#[test]
fn a_refresh_that_brings_nothing_new_does_not_redraw() {
    let mut h = Harness::connected();
    for _ in 0..5 {
        h.tick();
    }
    assert!(!h.answer(Method::Get, "/v1/status", status()));
    for _ in 0..5 {
        h.tick();
    }
    let mut later = status();
    later["uptime_secs"] = json!(1);
    assert!(h.answer(Method::Get, "/v1/status", later));
    h.on_audit();
    h.tick();
    assert!(!h.answer(Method::Get, "/v1/audit?after=12&limit=1000", json!([])));
    h.key(KeyCode::Char('4'));
    assert!(h.answer(Method::Get, "/v1/sessions", sessions()));
    h.key(KeyCode::Char('R'));
    assert!(!h.answer(Method::Get, "/v1/sessions", sessions()));
}

#[test]
fn the_dashboard_refreshes_every_five_ticks_without_piling_up() {
    let mut h = Harness::connected();
    for _ in 0..4 {
        h.tick();
    }
    assert!(h.calls().is_empty());
    h.tick();
    assert_eq!(h.calls(), ["GET /v1/status"]);
    // The server is slow: the next refresh waits for this one.
    for _ in 0..5 {
        h.tick();
    }
    assert_eq!(h.calls(), ["GET /v1/status"]);
    h.answer(Method::Get, "/v1/status", status());
    for _ in 0..5 {
        h.tick();
    }
    assert_eq!(h.calls(), ["GET /v1/status"]);
}

#[test]
fn notices_fade_after_a_few_seconds() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('r')); // ana is selected (sorted first) and active: the server refuses
    h.fail(
        Method::Post,
        &format!("/v1/users/{ANA}/resume"),
        ApiFailure::Refused {
            status: 400,
            code: "invalid".into(),
            message: "user: not suspended".into(),
        },
    );
    assert!(h.screen(80, 24).contains("✗ user: not suspended"));
    h.now += 9_000;
    assert!(h.tick());
    assert!(!h.screen(80, 24).contains("not suspended"));
}

#[test]
fn creating_a_user_posts_the_form_and_shows_the_password_once() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("newbie@studio.test");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Right); // free → pro
    h.key(KeyCode::Enter);
    assert_eq!(
        h.body(Method::Post, "/v1/users"),
        json!({"email": "newbie@studio.test", "plan": "pro", "password": null})
    );
    let mut created = user(BEN);
    created["id"] = json!("d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    created["email"] = json!("newbie@studio.test");
    created["status"] = json!({"state": "active"});
    h.answer(
        Method::Post,
        "/v1/users",
        json!({"user": created, "one_time_password": "pk6ha-kcnnp-zkjhw-7nvb3"}),
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("pk6ha-kcnnp-zkjhw-7nvb3"), "{screen}");
    assert_eq!(h.calls(), ["GET /v1/users"], "the list reloads");
    h.key(KeyCode::Enter);
    let screen = h.screen(80, 24);
    assert!(!screen.contains("pk6ha"), "shown once: {screen}");
    assert!(
        screen.contains("▶ newbie@studio.test"),
        "the new account is selected: {screen}"
    );
}

#[test]
fn a_typed_password_is_sent_and_a_bad_address_is_refused_before_sending() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("not-an-address");
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("type the e-mail address"));
    h.ctrl('u');
    h.typed("dee@studio.test");
    h.key(KeyCode::BackTab); // to the password, backwards
    h.typed("a long studio passphrase");
    h.key(KeyCode::Enter);
    assert_eq!(
        h.body(Method::Post, "/v1/users"),
        json!({"email": "dee@studio.test", "plan": "free", "password": "a long studio passphrase"})
    );
    // The server refuses: the form stays open with its sentence.
    h.fail(
        Method::Post,
        "/v1/users",
        ApiFailure::Refused {
            status: 409,
            code: "conflict".into(),
            message: "an account with that e-mail already exists".into(),
        },
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("New account"), "{screen}");
    assert!(screen.contains("already exists"), "{screen}");
}

#[test]
fn suspending_asks_first_and_no_means_nothing_is_sent() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('s'));
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("Suspend ana@studio.test?"));
    h.key(KeyCode::Char('n'));
    assert!(h.calls().is_empty());
    h.key(KeyCode::Char('s'));
    h.key(KeyCode::Char('y'));
    let path = format!("/v1/users/{ANA}/suspend");
    assert_eq!(h.calls(), [format!("POST {path}")]);
    let mut suspended = user(ANA);
    suspended["status"] = json!({"state": "suspended", "since": NOW});
    h.answer(Method::Post, &path, suspended);
    let screen = h.screen(80, 24);
    assert!(screen.contains("Suspended ana@studio.test"), "{screen}");
    assert!(screen.contains("suspended"));
}

#[test]
fn every_account_action_calls_its_endpoint() {
    let cases: [(char, bool, Method, &str); 7] = [
        ('s', true, Method::Post, "/suspend"),
        ('r', false, Method::Post, "/resume"),
        ('p', true, Method::Post, "/password"),
        ('t', true, Method::Post, "/totp/reset"),
        ('X', true, Method::Post, "/sessions/revoke"),
        ('d', true, Method::Post, "/deletion"),
        ('u', false, Method::Delete, "/deletion"),
    ];
    for (key, asks, method, rest) in cases {
        let mut h = Harness::connected();
        h.on_users();
        h.key(KeyCode::Char('j')); // ben
        h.key(KeyCode::Char(key));
        if asks {
            assert!(h.calls().is_empty(), "{key} must ask first");
            h.key(KeyCode::Char('y'));
        }
        let path = format!("/v1/users/{BEN}{rest}");
        assert_eq!(
            h.calls(),
            [format!("{} {path}", method_name(&method))],
            "{key}"
        );
    }
}

#[test]
fn a_password_reset_shows_the_new_password() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('p'));
    h.key(KeyCode::Char('y'));
    let path = format!("/v1/users/{ANA}/password");
    assert_eq!(h.body(Method::Post, &path), json!({}));
    h.answer(
        Method::Post,
        &path,
        json!({"user": user(ANA), "one_time_password": "new-one-time-pass"}),
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("Password reset"), "{screen}");
    assert!(screen.contains("new-one-time-pass"));
}

#[test]
fn revoking_all_sessions_reports_how_many_ended() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('X'));
    assert!(
        h.screen(80, 24)
            .contains("Sign ana@studio.test out everywhere?")
    );
    h.key(KeyCode::Char('y'));
    h.answer(
        Method::Post,
        &format!("/v1/users/{ANA}/sessions/revoke"),
        json!({"revoked": 2}),
    );
    assert!(h.screen(80, 24).contains("2 session(s) revoked"));
}

#[test]
fn the_open_accounts_session_selection_follows_its_session() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Enter);
    let path = format!("/v1/users/{ANA}/sessions");
    let ana = sessions().as_array().unwrap()[..2].to_vec();
    h.answer(Method::Get, &path, json!(ana));
    h.answer(Method::Get, "/v1/users", users());
    h.key(KeyCode::Char('j')); // the phone
    for _ in 0..5 {
        h.tick();
    }
    // A new sign-in comes first in the refreshed list: the phone is now the third row.
    let mut fresh = ana.clone();
    fresh.insert(
        0,
        json!({"id": "s-ana-tablet", "user_id": ANA, "email": "ana@studio.test",
               "created_at": NOW, "last_seen_at": NOW, "client": "77aa"}),
    );
    h.answer(Method::Get, &path, json!(fresh));
    h.key(KeyCode::Char('x'));
    h.key(KeyCode::Char('y'));
    assert!(
        h.calls()
            .contains(&"DELETE /v1/sessions/s-ana-phone".to_string()),
        "{:?}",
        h.calls()
    );
}

#[test]
fn an_open_account_lists_its_sessions_and_revokes_one() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Enter);
    let path = format!("/v1/users/{ANA}/sessions");
    assert!(h.calls().contains(&format!("GET {path}")));
    let ana_sessions: Vec<_> = sessions().as_array().unwrap()[..2].to_vec();
    h.answer(Method::Get, &path, json!(ana_sessions));
    h.answer(Method::Get, "/v1/users", users());
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('x'));
    assert!(
        h.screen(80, 24)
            .contains("End this session of ana@studio.test?")
    );
    h.key(KeyCode::Char('y'));
    assert_eq!(h.calls(), ["DELETE /v1/sessions/s-ana-phone"]);
    h.answer(Method::Delete, "/v1/sessions/s-ana-phone", json!(null));
    assert!(
        h.screen(80, 24)
            .contains("Ended one session of ana@studio.test")
    );
    h.key(KeyCode::Esc);
    assert!(h.screen(80, 24).contains("Users (3)"));
}

#[test]
fn plan_and_quota_send_only_what_changed() {
    let mut h = Harness::connected();
    h.on_users();
    let path = format!("/v1/users/{ANA}");
    // ana: pro with a 500 GiB override. Nothing changed: nothing is sent.
    h.key(KeyCode::Char('e'));
    assert!(h.screen(80, 24).contains("500GiB"));
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("nothing changed"));
    // Another plan only.
    h.key(KeyCode::Right);
    h.key(KeyCode::Enter);
    assert_eq!(h.body(Method::Patch, &path), json!({"plan": "max"}));
    h.answer(Method::Patch, &path, user(ANA));
    // Clearing the quota returns to the plan's.
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::Tab);
    h.ctrl('u');
    h.key(KeyCode::Enter);
    assert_eq!(
        h.body(Method::Patch, &path),
        json!({"plan": null, "quota_bytes": null})
    );
    h.answer(Method::Patch, &path, user(ANA));
    // A new quota, checked before sending.
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::Tab);
    h.ctrl('u');
    h.typed("lots");
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("is not a size"));
    h.ctrl('u');
    h.typed("1TiB");
    h.key(KeyCode::Enter);
    assert_eq!(
        h.body(Method::Patch, &path),
        json!({"plan": null, "quota_bytes": 1u64 << 40})
    );
}

#[test]
fn search_narrows_the_list_and_actions_apply_to_the_match() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('/'));
    h.typed("cleo");
    h.key(KeyCode::Enter);
    let screen = h.screen(80, 24);
    assert!(screen.contains("1 of 3 match"), "{screen}");
    assert!(!screen.contains("ana@studio.test"));
    h.key(KeyCode::Char('u'));
    assert_eq!(h.calls(), [format!("DELETE /v1/users/{CLEO}/deletion")]);
    // Esc clears the search.
    h.key(KeyCode::Esc);
    assert!(h.screen(80, 24).contains("Users (3)"));
}

#[test]
fn the_selection_follows_its_account_when_the_list_reloads() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('G')); // cleo, the last
    for _ in 0..5 {
        h.tick();
    }
    let mut fewer = users();
    fewer.as_array_mut().unwrap().retain(|u| u["id"] != ANA);
    h.answer(Method::Get, "/v1/users", fewer);
    assert!(h.screen(80, 24).contains("▶ cleo@label.example"));
}

#[test]
fn the_audit_tail_polls_after_the_newest_record_and_follows_it() {
    let mut h = Harness::connected();
    h.on_audit();
    assert!(h.screen(80, 24).contains("▶     12"));
    h.tick();
    assert_eq!(h.calls(), ["GET /v1/audit?after=12&limit=1000"]);
    // A second tick while the first poll is out does not ask again.
    h.tick();
    assert_eq!(h.calls().len(), 1);
    let mut fresh = audit_entries()[0].clone();
    fresh["seq"] = json!(13);
    fresh["action"] = json!("user.resume");
    h.answer(Method::Get, "/v1/audit?after=12&limit=1000", json!([fresh]));
    assert!(
        h.screen(80, 24).contains("▶     13"),
        "the cursor follows the tail"
    );
    // Away from the top, the selected record stays selected.
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('j'));
    h.tick();
    let mut newer = fresh.clone();
    newer["seq"] = json!(14);
    h.answer(Method::Get, "/v1/audit?after=13&limit=1000", json!([newer]));
    assert!(h.screen(80, 24).contains("▶     11"));
    // Paused: no polling.
    h.key(KeyCode::Char('p'));
    h.tick();
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("paused"));
}

#[test]
fn resumed_after_more_records_than_a_poll_holds_the_tail_starts_over_and_skips_none() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('p'));
    h.tick();
    assert!(h.calls().is_empty(), "paused");
    h.key(KeyCode::Char('p'));
    h.tick();
    // 1 500 arrived meanwhile: the poll gets the newest 1 000, 513 to 1 512.
    let full: Vec<_> = (0..1000u64)
        .map(|i| {
            let mut e = audit_entries()[0].clone();
            e["seq"] = json!(1512 - i);
            e
        })
        .collect();
    h.answer(Method::Get, "/v1/audit?after=12&limit=1000", json!(full));
    // Appending those would hide 13 to 512; the log loads again from the newest instead, and
    // paging back from there reaches every record.
    assert_eq!(h.calls(), ["GET /v1/audit?limit=1", "GET /v1/users"]);
}

#[test]
fn the_audit_pages_back_at_the_end_of_the_list() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('3'));
    h.answer(
        Method::Get,
        "/v1/audit?limit=1",
        json!([audit_entries()[0]]),
    );
    // A full page: there may be older records.
    let page: Vec<_> = (0..200u64)
        .map(|i| {
            let mut e = audit_entries()[0].clone();
            e["seq"] = json!(1000 - i);
            e
        })
        .collect();
    h.answer(Method::Get, "/v1/audit?before=13&limit=200", json!(page));
    h.key(KeyCode::Char('G'));
    assert!(
        h.calls()
            .contains(&"GET /v1/audit?before=801&limit=200".to_owned())
    );
}

#[test]
fn audit_filters_resolve_an_email_and_reload_with_every_filter() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('/'));
    h.typed("ana@studio.test");
    h.key(KeyCode::Tab);
    h.typed("track");
    h.key(KeyCode::Tab);
    h.typed("2h");
    h.key(KeyCode::Enter);
    assert_eq!(h.calls(), ["GET /v1/users/ana%40studio.test"]);
    h.answer(Method::Get, "/v1/users/ana%40studio.test", user(ANA));
    assert_eq!(h.calls(), ["GET /v1/audit?limit=1", "GET /v1/users"]);
    h.answer(
        Method::Get,
        "/v1/audit?limit=1",
        json!([audit_entries()[0]]),
    );
    let since = NOW - 2 * 3_600_000;
    let page = format!("/v1/audit?before=13&limit=200&user={ANA}&action=track&since_ms={since}");
    assert_eq!(
        h.calls(),
        ["GET /v1/users".to_owned(), format!("GET {page}")]
    );
    h.answer(Method::Get, &page, json!(audit_entries()[1..3]));
    let screen = h.screen(80, 24);
    assert!(
        screen.contains("user ana@studio.test, action track, since 2025-06-01 10:00"),
        "{screen}"
    );
    // The live tail keeps the filters.
    h.tick();
    assert!(h.calls().contains(&format!(
        "GET /v1/audit?after=12&limit=1000&user={ANA}&action=track&since_ms={since}"
    )));
    // c clears them.
    h.pending.clear();
    h.key(KeyCode::Char('c'));
    assert_eq!(h.calls(), ["GET /v1/audit?limit=1"]);
}

#[test]
fn audit_filters_are_checked_before_anything_is_sent() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('/'));
    h.typed("someone");
    h.key(KeyCode::Enter);
    assert!(
        h.screen(80, 24)
            .contains("type an e-mail address or a 32-character user id")
    );
    h.ctrl('u');
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("yesterday");
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("is not a time"));
    // An unknown e-mail is named as such.
    h.ctrl('u');
    h.key(KeyCode::BackTab);
    h.key(KeyCode::BackTab);
    h.typed("ghost@studio.test");
    h.key(KeyCode::Enter);
    h.fail(
        Method::Get,
        "/v1/users/ghost%40studio.test",
        ApiFailure::Refused {
            status: 404,
            code: "not_found".into(),
            message: "user not found".into(),
        },
    );
    assert!(
        h.screen(80, 24)
            .contains("no account has that e-mail address")
    );
}

#[test]
fn a_reply_to_a_load_under_old_filters_is_dropped() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('3'));
    h.answer(
        Method::Get,
        "/v1/audit?limit=1",
        json!([audit_entries()[0]]),
    );
    // The admin filters before the first page arrives.
    h.key(KeyCode::Char('/'));
    h.key(KeyCode::Tab);
    h.typed("user");
    h.key(KeyCode::Enter);
    h.answer(
        Method::Get,
        "/v1/audit?before=13&limit=200",
        json!(audit_entries()),
    );
    assert!(h.screen(80, 24).contains("Loading the audit log"));
}

#[test]
fn verifying_a_broken_chain_names_and_shows_the_first_broken_record() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('v'));
    assert_eq!(h.calls(), ["POST /v1/audit/verify"]);
    assert!(h.screen(80, 24).contains("Verifying the audit chain"));
    h.answer(
        Method::Post,
        "/v1/audit/verify",
        json!({
            "ok": false, "records": 12, "checkpoints": 1, "last_checkpoint_seq": 6,
            "first_problem": {"seq": 7, "kind": "altered", "message": "record #7 does not hash to its stored hash"},
            "public_key": "ab".repeat(32)
        }),
    );
    assert_eq!(h.calls(), ["GET /v1/audit?before=8&limit=1"]);
    h.answer(
        Method::Get,
        "/v1/audit?before=8&limit=1",
        json!([audit_entries()[5]]),
    );
    let screen = h.screen(100, 40);
    assert!(screen.contains("broken at record #7"), "{screen}");
    assert!(screen.contains("First broken record, #7"), "{screen}");
    assert!(screen.contains("user.update"), "{screen}");
    h.key(KeyCode::Esc);
    assert!(h.screen(100, 40).contains("chain BROKEN at #7"));
}

#[test]
fn an_unreadable_record_is_said_to_be_damaged_not_gone() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('v'));
    h.answer(
        Method::Post,
        "/v1/audit/verify",
        json!({
            "ok": false, "records": 12, "checkpoints": 1, "last_checkpoint_seq": 6,
            "first_problem": {"seq": 7, "kind": "unreadable", "message": "record #7 cannot be parsed"},
            "public_key": "ab".repeat(32)
        }),
    );
    // The listing skips what it cannot parse: the record before it comes back.
    h.answer(
        Method::Get,
        "/v1/audit?before=8&limit=1",
        json!([audit_entries()[6]]),
    );
    let screen = h.screen(100, 40);
    assert!(
        screen.contains("is there, but too damaged to be read"),
        "{screen}"
    );
    assert!(!screen.contains("it is gone"), "{screen}");
}

#[test]
fn a_record_opens_in_full_and_steps_through_the_log() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Enter);
    assert!(h.screen(80, 24).contains("Record #12"));
    h.key(KeyCode::Char('j'));
    assert!(h.screen(80, 24).contains("Record #11"));
    // Another screen key closes the record and acts.
    h.key(KeyCode::Char('v'));
    assert_eq!(h.calls(), ["POST /v1/audit/verify"]);
}

#[test]
fn sessions_revoke_one_after_asking() {
    let mut h = Harness::connected();
    h.on_sessions();
    let screen = h.screen(80, 24);
    // Newest first.
    assert!(
        screen.find("dev@studio.test") < screen.find("ana@studio.test"),
        "{screen}"
    );
    h.key(KeyCode::Char('x'));
    assert!(
        h.screen(80, 24)
            .contains("End the session of dev@studio.test")
    );
    h.key(KeyCode::Esc);
    assert!(h.calls().is_empty());
    h.key(KeyCode::Char('x'));
    h.key(KeyCode::Char('y'));
    assert_eq!(h.calls(), ["DELETE /v1/sessions/s-dev"]);
    h.answer(Method::Delete, "/v1/sessions/s-dev", json!(null));
    assert_eq!(h.calls(), ["GET /v1/sessions"]);
}

#[test]
fn a_record_about_a_new_account_fetches_its_email() {
    let mut h = Harness::connected();
    h.on_audit();
    h.tick();
    let mut created = audit_entries()[0].clone();
    created["seq"] = json!(13);
    created["owner"] = json!("d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    h.answer(
        Method::Get,
        "/v1/audit?after=12&limit=1000",
        json!([created]),
    );
    assert_eq!(h.calls(), ["GET /v1/users"]);
    let mut all = users();
    let mut newbie = user(BEN);
    newbie["id"] = json!("d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    newbie["email"] = json!("newbie@studio.test");
    all.as_array_mut().unwrap().push(newbie);
    h.answer(Method::Get, "/v1/users", all);
    let screen = h.screen(100, 24);
    assert!(screen.contains("admin → newbie@studio.test"), "{screen}");
}

#[test]
fn enrolling_a_worker_posts_its_name_and_shows_the_token_once() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('e'));
    assert!(h.screen(80, 24).contains("Enrol a stem worker"));
    // An empty name is refused before anything is sent.
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 24).contains("type a name for the worker"));
    // Keys are typed, not acted on: `d`, `r` and `5` are part of the name.
    h.typed("render-5d");
    h.key(KeyCode::Enter);
    assert_eq!(
        h.body(Method::Post, "/v1/workers"),
        json!({"name": "render-5d"})
    );
    let mut enrolled = worker(MAC_MINI);
    enrolled["id"] = json!("d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7");
    enrolled["name"] = json!("render-5d");
    enrolled["state"] = json!("active");
    for field in ["host", "backend", "last_seen"] {
        enrolled[field] = json!(null);
    }
    let token = "svw_d7d7d7d7_Qm9vbXRzY2hha2FsYWth";
    h.answer(
        Method::Post,
        "/v1/workers",
        json!({"worker": enrolled, "token": token}),
    );
    let screen = h.screen(100, 30);
    assert!(screen.contains("Worker enrolled"), "{screen}");
    assert!(screen.contains(token), "{screen}");
    assert!(screen.contains("will not be shown again"), "{screen}");
    assert!(
        screen.contains("studiovault worker run --server https://VAULT --token-file FILE"),
        "{screen}"
    );
    assert_eq!(h.calls(), ["GET /v1/workers"], "the list reloads");
    h.key(KeyCode::Enter);
    let screen = h.screen(100, 30);
    assert!(!screen.contains(token), "shown once: {screen}");
    assert!(
        screen.contains("▶ render-5d"),
        "the new worker is selected: {screen}"
    );
}

#[test]
fn a_refused_enrolment_keeps_the_form_open_with_the_servers_sentence() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('e'));
    h.typed("gpu-box");
    h.key(KeyCode::Enter);
    h.fail(
        Method::Post,
        "/v1/workers",
        ApiFailure::Refused {
            status: 400,
            code: "invalid".into(),
            message: "name: is taken by another worker".into(),
        },
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("Enrol a stem worker"), "{screen}");
    assert!(screen.contains("is taken by another worker"), "{screen}");
    h.key(KeyCode::Esc);
    assert!(!h.screen(80, 24).contains("Enrol a stem worker"));
}

#[test]
fn revoking_a_worker_asks_first_then_posts_the_revoke() {
    let mut h = Harness::connected();
    h.on_workers();
    // gpu-box, sorted first, is selected.
    h.key(KeyCode::Char('r'));
    assert!(h.calls().is_empty(), "r asks first");
    assert!(h.screen(80, 24).contains("Revoke the worker gpu-box?"));
    h.key(KeyCode::Char('n'));
    assert!(h.calls().is_empty());
    h.key(KeyCode::Char('r'));
    h.key(KeyCode::Char('y'));
    let path = format!("/v1/workers/{GPU_BOX}/revoke");
    assert_eq!(h.calls(), [format!("POST {path}")]);
    assert_eq!(h.body(Method::Post, &path), json!({}));
    let mut revoked = worker(GPU_BOX);
    revoked["state"] = json!("revoked");
    revoked["current_job"] = json!(null);
    h.answer(Method::Post, &path, revoked);
    let screen = h.screen(80, 24);
    assert!(screen.contains("Revoked gpu-box"), "{screen}");
    assert!(screen.contains("revoked"), "{screen}");
    assert_eq!(h.calls(), ["GET /v1/workers"], "the list reloads");
    h.answer(Method::Get, "/v1/workers", workers());
    // A revoked worker cannot be drained or resumed: said, not sent.
    let mut all = workers();
    all["workers"][1]["state"] = json!("revoked");
    h.key(KeyCode::Char('R'));
    h.answer(Method::Get, "/v1/workers", all);
    h.key(KeyCode::Char('d'));
    assert!(h.calls().is_empty());
    assert!(
        h.screen(80, 24)
            .contains("gpu-box is revoked and stays revoked")
    );
}

#[test]
fn d_drains_an_active_worker_and_resumes_a_draining_one_without_asking() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('d'));
    let drain = format!("/v1/workers/{GPU_BOX}/drain");
    assert_eq!(h.calls(), [format!("POST {drain}")]);
    let mut draining = worker(GPU_BOX);
    draining["state"] = json!("draining");
    h.answer(Method::Post, &drain, draining);
    assert!(h.screen(80, 24).contains("Draining gpu-box"));
    h.pending.clear();
    // mac-mini is draining: the hint and the key say resume.
    h.key(KeyCode::Char('j'));
    assert!(h.screen(80, 24).contains("d resume"));
    h.key(KeyCode::Down);
    h.key(KeyCode::Char('d'));
    let resume = format!("/v1/workers/{MAC_MINI}/resume");
    assert_eq!(h.calls(), [format!("POST {resume}")]);
    h.answer(Method::Post, &resume, worker(MAC_MINI));
    assert!(h.screen(80, 24).contains("Resumed mac-mini"));
}

#[test]
fn x_and_delete_remove_a_worker_after_asking() {
    for key in [KeyCode::Char('x'), KeyCode::Delete] {
        let mut h = Harness::connected();
        h.on_workers();
        h.key(KeyCode::Char('k'));
        h.key(KeyCode::Char('j'));
        h.key(key);
        assert!(h.calls().is_empty(), "{key:?} asks first");
        assert!(h.screen(80, 24).contains("Delete the worker mac-mini?"));
        h.key(KeyCode::Char('y'));
        let path = format!("/v1/workers/{MAC_MINI}");
        assert_eq!(h.calls(), [format!("DELETE {path}")]);
        h.answer(Method::Delete, &path, worker(MAC_MINI));
        assert!(h.screen(80, 24).contains("Deleted the worker mac-mini"));
        assert_eq!(h.calls(), ["GET /v1/workers"]);
    }
}

#[test]
fn workers_refresh_every_five_ticks_and_show_errors_like_the_other_tabs() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('5'));
    // The first load fails: the error stands in the list's place.
    h.fail(
        Method::Get,
        "/v1/workers",
        ApiFailure::Refused {
            status: 500,
            code: "internal".into(),
            message: "the store could not be read".into(),
        },
    );
    assert!(h.screen(80, 24).contains("the store could not be read"));
    for _ in 0..4 {
        h.tick();
    }
    assert!(h.calls().is_empty());
    h.tick();
    assert_eq!(h.calls(), ["GET /v1/workers"]);
    h.answer(Method::Get, "/v1/workers", workers());
    assert!(h.screen(80, 24).contains("gpu-box"));
    // A refresh that brings nothing new changes nothing; a failed action is a notice.
    for _ in 0..5 {
        h.tick();
    }
    assert!(!h.answer(Method::Get, "/v1/workers", workers()));
    h.key(KeyCode::Char('d'));
    h.fail(
        Method::Post,
        &format!("/v1/workers/{GPU_BOX}/drain"),
        ApiFailure::Refused {
            status: 404,
            code: "not_found".into(),
            message: "worker not found".into(),
        },
    );
    assert!(h.screen(80, 24).contains("✗ worker not found"));
}

#[test]
fn no_workers_says_how_to_enrol_one() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('5'));
    h.answer(
        Method::Get,
        "/v1/workers",
        json!({"workers": [], "queue": []}),
    );
    let screen = h.screen(80, 24);
    assert!(
        screen.contains("No stem workers enrolled. Press e to enrol one."),
        "{screen}"
    );
    // Nothing is selected: the action keys do nothing.
    assert!(!h.key(KeyCode::Char('r')));
    assert!(h.calls().is_empty());
}

#[test]
fn recording_a_legal_request_checks_the_form_then_posts_it() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('n'));
    assert!(h.screen(80, 30).contains("Record a legal request"));
    // The kind is filled in; an empty authority is said, not sent.
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 30).contains("type the authority"));
    for text in [
        "District Court of Testville",
        "Criminal Procedure Act §100",
        "CR-2025-0099",
        "in a week",
    ] {
        h.key(KeyCode::Tab);
        h.typed(text);
    }
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 30).contains("is not a date"));
    // Fix the deadline, where the focus still is: clear it, type a date.
    h.ctrl('u');
    h.typed("2025-06-10 17:00");
    h.key(KeyCode::Tab);
    h.typed("ana@studio.test, ben@studio.test");
    h.key(KeyCode::Tab);
    h.typed("account, video");
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty());
    assert!(h.screen(80, 30).contains("unknown `video`"));
    h.ctrl('u');
    h.typed("account, audio");
    h.key(KeyCode::Enter);
    assert_eq!(h.calls(), ["POST /v1/legal"]);
    assert_eq!(
        h.body(Method::Post, "/v1/legal"),
        json!({
            "kind": "court_order",
            "authority": "District Court of Testville",
            "legal_basis": "Criminal Procedure Act §100",
            "reference": "CR-2025-0099",
            "deadline": NOW + 9 * 86_400_000 + 5 * 3_600_000,
            "accounts": ["ana@studio.test", "ben@studio.test"],
            "data_types": ["account", "audio"],
            "hold": true
        })
    );
    let mut recorded = legal_request(ORDER);
    recorded["id"] = json!("0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e");
    recorded["reference"] = json!("CR-2025-0099");
    recorded["received_at"] = json!(NOW);
    h.answer(Method::Post, "/v1/legal", recorded);
    let screen = h.screen(80, 30);
    assert!(!screen.contains("Record a legal request"), "{screen}");
    assert!(
        screen.contains("Recorded request 0e0e0e0e from District Court"),
        "{screen}"
    );
    assert!(
        screen.contains("▶ 0e0e0e0e"),
        "the new request is selected: {screen}"
    );
    assert_eq!(h.calls(), ["GET /v1/legal"], "the list reloads");
}

#[test]
fn a_refused_legal_request_keeps_the_form_open_with_the_servers_sentence() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('n'));
    for text in [
        "Court",
        "Act",
        "R-1",
        "2025-07-01",
        "nobody@studio.test",
        "account",
    ] {
        h.key(KeyCode::Tab);
        h.typed(text);
    }
    h.key(KeyCode::Enter);
    h.fail(
        Method::Post,
        "/v1/legal",
        ApiFailure::Refused {
            status: 400,
            code: "invalid_input".into(),
            message: "accounts name no account `nobody@studio.test`".into(),
        },
    );
    let screen = h.screen(80, 30);
    assert!(screen.contains("Record a legal request"), "{screen}");
    assert!(screen.contains("name no account"), "{screen}");
}

#[test]
fn h_holds_after_asking_and_releases_with_a_reason() {
    let mut h = Harness::connected();
    h.on_legal();
    // The court order, newest, is selected and held: H asks why the hold ends.
    h.key(KeyCode::Char('H'));
    assert!(h.screen(80, 24).contains("Release the legal hold"));
    h.key(KeyCode::Enter);
    assert!(h.calls().is_empty(), "a release needs its reason");
    h.typed("case closed");
    h.key(KeyCode::Enter);
    let release = format!("/v1/legal/{ORDER}/release");
    assert_eq!(h.calls(), [format!("POST {release}")]);
    assert_eq!(
        h.body(Method::Post, &release),
        json!({"reason": "case closed"})
    );
    let mut released = legal_request(ORDER);
    released["hold"]["released_at"] = json!(NOW);
    released["hold"]["release_reason"] = json!("case closed");
    h.answer(Method::Post, &release, released);
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("Request d1d1d1d1: the hold is released"),
        "{screen}"
    );
    assert!(
        screen.contains("released 2025-06-01 12:00 UTC: case closed"),
        "{screen}"
    );
    h.answer(Method::Get, "/v1/legal", legal_requests());

    // The subpoena holds nothing: H asks first, then holds.
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('H'));
    assert!(h.calls().is_empty(), "H asks first");
    assert!(
        h.screen(80, 24)
            .contains("Hold the 1 account(s) of request a9a9a9a9?")
    );
    h.key(KeyCode::Char('y'));
    let hold = format!("/v1/legal/{SUBPOENA}/hold");
    assert_eq!(h.calls(), [format!("POST {hold}")]);
}

#[test]
fn a_gag_blocks_the_notice_and_comes_too_late_after_one() {
    let mut h = Harness::connected();
    h.on_legal();
    // The court order is gagged: N says why, and sends nothing.
    h.key(KeyCode::Char('N'));
    assert!(h.calls().is_empty());
    assert!(
        h.screen(100, 24)
            .contains("a gag is in force until 2025-06-21 12:00 UTC")
    );
    // The subpoena's notice went out: a gag comes too late, and a second notice is refused.
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('m'));
    assert!(h.calls().is_empty());
    assert!(h.screen(100, 24).contains("a gag comes too late"));
    h.key(KeyCode::Char('N'));
    assert!(
        h.screen(100, 24)
            .contains("every account has been sent its notice")
    );
    assert!(h.calls().is_empty());
}

#[test]
fn a_gag_is_recorded_with_its_end_and_the_notice_sent_after_asking() {
    let mut h = Harness::connected();
    let mut requests = legal_requests();
    requests[0]["gag"] = json!(null);
    h.on_legal();
    h.key(KeyCode::Char('R'));
    h.answer(Method::Get, "/v1/legal", requests.clone());
    h.key(KeyCode::Char('m'));
    assert!(h.screen(80, 24).contains("Record a gag"));
    h.typed("2025-09-01");
    h.key(KeyCode::Tab);
    h.typed("order §12");
    h.key(KeyCode::Enter);
    let gag = format!("/v1/legal/{ORDER}/gag");
    assert_eq!(
        h.body(Method::Post, &gag),
        json!({"until": 1_756_771_200_000i64, "note": "order §12"}),
        "a bare date holds through that day"
    );
    h.answer(Method::Post, &gag, legal_request(ORDER));
    assert!(h.screen(100, 24).contains("gag recorded"));
    h.answer(Method::Get, "/v1/legal", requests);

    h.key(KeyCode::Char('N'));
    assert!(h.calls().is_empty(), "N asks first");
    assert!(
        h.screen(80, 24)
            .contains("Send the notice of request d1d1d1d1 to its 1")
    );
    h.key(KeyCode::Char('y'));
    let notify = format!("/v1/legal/{ORDER}/notify");
    assert_eq!(h.calls(), [format!("POST {notify}")]);
    h.fail(
        Method::Post,
        &notify,
        ApiFailure::Refused {
            status: 409,
            code: "conflict".into(),
            message: "every account the request names has been sent its notice".into(),
        },
    );
    assert!(
        h.screen(100, 24)
            .contains("every account the request names has been sent its notice")
    );
}

#[test]
fn answers_take_a_reason_and_an_answered_request_takes_no_other() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('x'));
    assert!(h.screen(80, 24).contains("Refuse the request"));
    h.typed("no valid legal basis");
    h.key(KeyCode::Enter);
    let decision = format!("/v1/legal/{ORDER}/decision");
    assert_eq!(
        h.body(Method::Post, &decision),
        json!({"reason": "no valid legal basis", "outcome": "refused"})
    );
    let mut refused = legal_request(ORDER);
    refused["state"] = json!("refused");
    refused["reason"] = json!("no valid legal basis");
    h.answer(Method::Post, &decision, refused);
    assert!(h.screen(100, 24).contains("recorded as refused"));
    h.answer(Method::Get, "/v1/legal", legal_requests());

    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('p'));
    h.typed("account only, the audio was not held");
    h.key(KeyCode::Enter);
    let decision = format!("/v1/legal/{SUBPOENA}/decision");
    assert_eq!(
        h.body(Method::Post, &decision)["outcome"],
        json!("partially_complied")
    );
    h.answer(Method::Post, &decision, legal_request(SUBPOENA));
    h.answer(Method::Get, "/v1/legal", legal_requests());

    // The warrant was refused already: c says so and sends nothing.
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('c'));
    assert!(h.calls().is_empty());
    assert!(
        h.screen(100, 24)
            .contains("request 70707070 was answered already")
    );
}

#[test]
fn legal_requests_are_searched_by_authority_reference_and_account() {
    let mut h = Harness::connected();
    h.on_legal();
    h.key(KeyCode::Char('/'));
    h.typed("tax");
    let screen = h.screen(100, 30);
    assert!(screen.contains("a9a9a9a9"), "{screen}");
    assert!(!screen.contains("d1d1d1d1"), "{screen}");
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('/'));
    h.typed("cleo@");
    let screen = h.screen(100, 30);
    assert!(screen.contains("70707070"), "{screen}");
    assert!(!screen.contains("a9a9a9a9"), "{screen}");
}

#[test]
fn pasted_text_goes_into_a_text_field_and_never_acts_as_keys() {
    let mut h = Harness::connected();
    h.on_users();
    // Pasted on the list itself: `s` would ask to suspend and `y` confirm, as keys.
    assert!(!h.input(Input::Terminal(Event::Paste("sylvia@studio.test\n".into()))));
    let screen = h.screen(100, 30);
    assert!(!screen.contains("Suspend"), "{screen}");
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    // Into the search, on one line.
    h.key(KeyCode::Char('/'));
    assert!(h.input(Input::Terminal(Event::Paste("ana@\nstudio".into()))));
    let screen = h.screen(100, 30);
    assert!(screen.contains("Search: ana@studio"), "{screen}");
}

/// Whether `text` shows on the notice line under the screen and in no box (a form) on it.
fn on_the_notice_line_only(screen: &str, text: &str) -> bool {
    let in_a_box = screen
        .lines()
        .any(|line| line.contains('│') && line.contains(text));
    !in_a_box && screen.contains(&format!("✗ {text}"))
}

// An answer belongs to the form that was sent as its request. One that comes after that form
// was closed, while another is open, must neither close that other form nor show in it; a
// one-time password it brings waits until the open form is done.

#[test]
fn a_late_answer_leaves_the_form_opened_since_and_its_password_waits_for_it() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("newbie@studio.test");
    h.key(KeyCode::Enter);
    assert_eq!(h.calls(), ["POST /v1/users"]);
    h.key(KeyCode::Esc); // closed before the answer came
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::Tab);
    h.typed("2TiB");
    let mut created = user(BEN);
    created["id"] = json!("d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    created["email"] = json!("newbie@studio.test");
    h.answer(
        Method::Post,
        "/v1/users",
        json!({"user": created, "one_time_password": "pk6ha-kcnnp-zkjhw-7nvb3"}),
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("Plan and quota of"), "{screen}");
    assert!(screen.contains("2TiB"), "what was typed stays: {screen}");
    assert!(!screen.contains("pk6ha"), "not over the form: {screen}");
    h.key(KeyCode::Esc);
    let screen = h.screen(80, 24);
    assert!(
        screen.contains("pk6ha-kcnnp-zkjhw-7nvb3"),
        "shown once the form is closed: {screen}"
    );
    h.key(KeyCode::Enter);
    assert!(!h.screen(80, 24).contains("pk6ha"));
}

#[test]
fn a_refusal_of_an_earlier_request_does_not_show_in_the_form_opened_since() {
    let mut h = Harness::connected();
    h.on_users();
    h.key(KeyCode::Char('n'));
    h.typed("taken@studio.test");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('n'));
    h.typed("other@studio.test");
    h.fail(
        Method::Post,
        "/v1/users",
        ApiFailure::Refused {
            status: 409,
            code: "conflict".into(),
            message: "an account with that e-mail address exists".into(),
        },
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("other@studio.test"), "{screen}");
    assert!(
        on_the_notice_line_only(&screen, "an account with that"),
        "the new form is not refused: {screen}"
    );
    // The new form can be sent: it is not waiting on the earlier request.
    h.key(KeyCode::Enter);
    assert_eq!(
        h.body(Method::Post, "/v1/users")["email"],
        json!("other@studio.test")
    );
}

#[test]
fn an_answer_to_a_held_request_leaves_a_legal_form_being_typed() {
    let mut h = Harness::connected();
    h.on_legal();
    // Hold the subpoena, then start recording a new request before the hold is answered.
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('H'));
    h.key(KeyCode::Char('y'));
    let hold = format!("/v1/legal/{SUBPOENA}/hold");
    h.key(KeyCode::Char('n'));
    h.key(KeyCode::Tab);
    h.typed("Regional Tribunal");
    h.answer(Method::Post, &hold, legal_request(SUBPOENA));
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("Record a legal request"),
        "still open: {screen}"
    );
    assert!(screen.contains("Regional Tribunal"), "{screen}");

    // A recorded request refused after its form was closed: the one open now is not refused.
    for text in ["Act", "R-1", "2025-07-01", "nobody@studio.test", "account"] {
        h.key(KeyCode::Tab);
        h.typed(text);
    }
    h.key(KeyCode::Enter);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('n'));
    h.key(KeyCode::Tab);
    h.typed("County Court");
    h.fail(
        Method::Post,
        "/v1/legal",
        ApiFailure::Refused {
            status: 400,
            code: "invalid_input".into(),
            message: "accounts name no account `nobody@studio.test`".into(),
        },
    );
    let screen = h.screen(100, 30);
    assert!(screen.contains("County Court"), "{screen}");
    assert!(
        on_the_notice_line_only(&screen, "accounts name no account"),
        "not the open form's refusal: {screen}"
    );
}

#[test]
fn an_email_looked_up_for_a_filter_closed_meanwhile_is_not_applied() {
    let mut h = Harness::connected();
    h.on_audit();
    h.key(KeyCode::Char('/'));
    h.typed("ana@studio.test");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('/'));
    h.key(KeyCode::Tab);
    h.typed("share");
    h.answer(Method::Get, "/v1/users/ana%40studio.test", user(ANA));
    assert!(
        h.calls().iter().all(|c| !c.contains("user=")),
        "no reload under the closed form's filter: {:?}",
        h.calls()
    );
    let screen = h.screen(80, 24);
    assert!(
        screen.contains("share"),
        "the open filter keeps its typing: {screen}"
    );
}

#[test]
fn a_workers_token_that_comes_while_another_enrolment_is_typed_shows_after_it() {
    let mut h = Harness::connected();
    h.on_workers();
    h.key(KeyCode::Char('e'));
    h.typed("render-5d");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('e'));
    h.typed("gpu-2");
    let mut enrolled = worker(MAC_MINI);
    enrolled["id"] = json!("d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7");
    enrolled["name"] = json!("render-5d");
    let token = "svw_d7d7d7d7_Qm9vbXRzY2hha2FsYWth";
    h.answer(
        Method::Post,
        "/v1/workers",
        json!({"worker": enrolled, "token": token}),
    );
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("gpu-2"),
        "the form opened since stays: {screen}"
    );
    assert!(!screen.contains(token), "not over the form: {screen}");
    h.key(KeyCode::Esc);
    let screen = h.screen(100, 30);
    assert!(
        screen.contains(token),
        "shown once the form is closed: {screen}"
    );
}

#[test]
fn paging_far_back_keeps_the_list_bounded_and_g_loads_the_newest_again() {
    let mut h = Harness::connected();
    h.key(KeyCode::Char('3'));
    h.answer(
        Method::Get,
        "/v1/audit?limit=1",
        json!([audit_entries()[0]]),
    );
    let page = |newest: u64| -> Value {
        (0..200u64)
            .map(|i| {
                let mut e = audit_entries()[0].clone();
                e["seq"] = json!(newest - i);
                e
            })
            .collect()
    };
    h.answer(Method::Get, "/v1/audit?before=13&limit=200", page(100_000));
    // 30 pages back: 6 000 records have come, the list holds the oldest 5 000 of them.
    let mut oldest = 100_000 - 199;
    for _ in 0..29 {
        h.key(KeyCode::Char('G'));
        let path = format!("/v1/audit?before={oldest}&limit=200");
        h.answer(Method::Get, &path, page(oldest - 1));
        oldest -= 200;
    }
    let screen = h.screen(100, 24);
    assert!(screen.contains("Audit log (5,000+ shown)"), "{screen}");
    assert!(
        screen.contains("paged back past the newest: g loads them"),
        "{screen}"
    );
    // The tail stops: what it would bring cannot join a list that no longer reaches the top.
    h.pending.clear();
    for _ in 0..5 {
        h.tick();
    }
    assert!(
        h.calls().iter().all(|c| !c.contains("after=")),
        "{:?}",
        h.calls()
    );
    h.key(KeyCode::Char('g'));
    assert!(
        h.calls().contains(&"GET /v1/audit?limit=1".to_owned()),
        "{:?}",
        h.calls()
    );
}

#[test]
fn the_chain_check_is_waited_for_minutes_and_other_calls_for_seconds() {
    let mut h = Harness::connected();
    h.on_audit();
    h.pending.clear();
    h.key(KeyCode::Char('v'));
    let verify = h
        .pending
        .iter()
        .find(|o| o.call.path == "/v1/audit/verify")
        .unwrap();
    // Millions of records take longer than an ordinary call may: the check is not cut off.
    assert_eq!(
        verify.call.time_limit(),
        std::time::Duration::from_secs(300)
    );
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('2'));
    let users = h
        .pending
        .iter()
        .find(|o| o.call.path == "/v1/users")
        .unwrap();
    assert_eq!(users.call.time_limit(), std::time::Duration::from_secs(15));
}

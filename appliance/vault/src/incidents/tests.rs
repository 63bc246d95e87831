//! The register's states and clock, the late reason, the choice of affected accounts from the
//! audit log, banners and their dismissal, and the purge of an account's rows.

use studiovault_api::admin::{AffectedRule, AffectedSelection, ConfirmIncident, NewIncident};

use super::*;
use crate::testutil::TestVault;

fn new_incident(t: &TestVault, title: &str) -> IncidentRecord {
    t.vault
        .record_incident(&NewIncident {
            title: title.into(),
            description: "a replica bucket was readable\nby anyone".into(),
            encrypted: None,
        })
        .unwrap()
}

fn actions(t: &TestVault) -> Vec<String> {
    let mut all: Vec<String> = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("incident".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    all.reverse();
    all
}

#[test]
fn an_incident_moves_through_its_states_and_keeps_its_timeline() {
    let t = TestVault::new();
    let rec = new_incident(&t, "  Open replica bucket\u{7} ");
    assert_eq!(rec.title, "Open replica bucket");
    assert_eq!(rec.description, "a replica bucket was readable\nby anyone");
    assert_eq!(rec.state, IncidentState::Investigating);
    assert_eq!(rec.notify_by_ms(), None, "no clock before confirmation");
    assert!(matches!(
        t.vault.record_incident(&NewIncident::default()),
        Err(VaultError::Invalid { field: "title", .. })
    ));

    t.advance_secs(600);
    let confirmed = t
        .vault
        .confirm_incident(
            rec.id,
            &ConfirmIncident {
                encrypted: Some(true),
                note: Some("the objects are ciphertext".into()),
            },
        )
        .unwrap();
    assert_eq!(confirmed.state, IncidentState::Confirmed);
    assert_eq!(confirmed.confirmed_at_ms, Some(t.vault.now_ms()));
    assert_eq!(
        confirmed.notify_by_ms(),
        Some(t.vault.now_ms() + 72 * 3_600_000)
    );
    assert_eq!(confirmed.encrypted, Some(true));
    assert!(matches!(
        t.vault
            .confirm_incident(rec.id, &ConfirmIncident::default()),
        Err(VaultError::Conflict(_))
    ));
    t.vault.note_incident(rec.id, "keys rotated").unwrap();
    assert!(t.vault.note_incident(rec.id, " \n ").is_err());
    let resolved = t.vault.resolve_incident(rec.id, "bucket closed").unwrap();
    assert_eq!(resolved.state, IncidentState::Resolved);
    assert!(t.vault.resolve_incident(rec.id, "").is_err());
    assert!(
        t.vault
            .confirm_incident(rec.id, &ConfirmIncident::default())
            .is_err()
    );
    let kinds: Vec<TimelineKind> = resolved.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Recorded,
            TimelineKind::Confirmed,
            TimelineKind::Note,
            TimelineKind::Resolved
        ]
    );
    assert!(
        resolved.timeline[1]
            .text
            .contains("the objects are ciphertext")
    );
    assert!(resolved.timeline[3].text.contains("bucket closed"));
    assert_eq!(
        actions(&t),
        [
            "incident.create",
            "incident.confirm",
            "incident.note",
            "incident.resolve"
        ]
    );

    // One that never was a breach is resolved unconfirmed, and stays in the register.
    let false_alarm = new_incident(&t, "Odd sign-ins");
    let closed = t
        .vault
        .resolve_incident(false_alarm.id, "a tester's script")
        .unwrap();
    assert_eq!(closed.confirmed_at_ms, None);
    assert!(
        closed.timeline[1]
            .text
            .starts_with("resolved without being confirmed")
    );
    let register = t.vault.incidents().unwrap();
    assert_eq!(
        register.iter().map(|i| i.id).collect::<Vec<_>>(),
        [false_alarm.id, rec.id],
        "newest first"
    );
    assert!(matches!(
        t.vault.incident(IncidentId::random()),
        Err(VaultError::NotFound)
    ));
}

#[test]
fn affected_accounts_come_from_a_list_everyone_or_the_audit_log() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    let (_, cleo) = t.user("cleo@studio.test");
    // Ana uploads in the window; Ben only signs in (above, before it); Cleo downloads later.
    t.advance_secs(3_600);
    let window_start = t.vault.now_ms();
    let track = t.upload(&ana, b"ana's demo");
    t.advance_secs(60);
    let window_end = t.vault.now_ms();
    t.advance_secs(3_600);
    let cleo_track = t.upload(&cleo, b"cleo's demo");

    let emails = |users: Vec<UserRecord>| users.into_iter().map(|u| u.email).collect::<Vec<_>>();
    let pick = |s: AffectedSelection| emails(t.vault.preview_affected(&s).unwrap());
    assert_eq!(
        pick(AffectedSelection::All),
        ["ana@studio.test", "ben@studio.test", "cleo@studio.test"]
    );
    assert_eq!(
        pick(AffectedSelection::Accounts {
            accounts: vec!["CLEO@studio.test".into(), ben.owner().to_string()]
        }),
        ["ben@studio.test", "cleo@studio.test"]
    );
    assert!(matches!(
        t.vault.preview_affected(&AffectedSelection::Accounts {
            accounts: vec!["nobody@studio.test".into()]
        }),
        Err(VaultError::Invalid { reason, .. }) if reason.contains("nobody@studio.test")
    ));
    let audit = |since_ms, until_ms, actions: &[&str], object: Option<String>| {
        pick(AffectedSelection::AuditLog {
            since_ms,
            until_ms,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            object,
        })
    };
    assert_eq!(
        audit(Some(window_start), Some(window_end), &[], None),
        ["ana@studio.test"],
        "activity in a time window"
    );
    assert_eq!(
        audit(None, None, &["track.upload"], None),
        ["ana@studio.test", "cleo@studio.test"],
        "touched by an action"
    );
    assert_eq!(
        audit(None, None, &["session"], None),
        ["ana@studio.test", "ben@studio.test", "cleo@studio.test"],
        "an action's prefix"
    );
    assert!(
        audit(None, None, &["sess"], None).is_empty(),
        "a prefix ends at a dot"
    );
    assert_eq!(
        audit(None, None, &[], Some(format!("track/{}", cleo_track.id))),
        ["cleo@studio.test"],
        "touched by one object"
    );
    assert_eq!(
        audit(
            Some(window_start),
            None,
            &["track.upload"],
            Some(format!("track/{}", track.id))
        ),
        ["ana@studio.test"],
        "every filter holds"
    );
    for bad in [
        AffectedSelection::AuditLog {
            since_ms: None,
            until_ms: None,
            actions: vec![" ".into()],
            object: None,
        },
        AffectedSelection::AuditLog {
            since_ms: Some(2),
            until_ms: Some(1),
            actions: vec![],
            object: None,
        },
        AffectedSelection::Accounts { accounts: vec![] },
    ] {
        assert!(t.vault.preview_affected(&bad).is_err(), "{bad:?}");
    }

    // Choosing records one row per account and the rule, never the identities, in the register.
    let rec = new_incident(&t, "Leaked upload log");
    let before = t.vault.audit_len().unwrap();
    assert!(
        t.vault
            .choose_affected(
                rec.id,
                &AffectedSelection::AuditLog {
                    since_ms: Some(window_end + 1),
                    until_ms: Some(window_end + 2),
                    actions: vec![],
                    object: None
                }
            )
            .is_err(),
        "no account matched: nothing to notify"
    );
    assert_eq!(
        t.vault.audit_len().unwrap(),
        before,
        "a refused choice records nothing"
    );
    let chosen = t
        .vault
        .choose_affected(
            rec.id,
            &AffectedSelection::AuditLog {
                since_ms: None,
                until_ms: None,
                actions: vec!["track.upload".into()],
                object: None,
            },
        )
        .unwrap();
    assert_eq!(emails(chosen), ["ana@studio.test", "cleo@studio.test"]);
    // Chosen again, the new choice replaces the old.
    t.vault
        .choose_affected(
            rec.id,
            &AffectedSelection::Accounts {
                accounts: vec!["ana@studio.test".into()],
            },
        )
        .unwrap();
    let rows = t.vault.affected_accounts(rec.id).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0.owner, ana.owner());
    let rec = t.vault.incident(rec.id).unwrap();
    assert_eq!(rec.affected, 1);
    assert_eq!(rec.selection, Some(AffectedRule::Accounts { count: 1 }));
    let stored = serde_json::to_string(&rec).unwrap();
    assert!(!stored.contains("ana@studio.test") && !stored.contains(&ana.owner().to_string()));
}

#[test]
fn an_accounts_rows_go_with_its_purge_and_the_register_keeps_its_count() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (_, ana) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    let rec = new_incident(&t, "Stolen laptop");
    t.vault
        .choose_affected(rec.id, &AffectedSelection::All)
        .unwrap();
    t.vault
        .account(&ana)
        .request_deletion(crate::testutil::PASSWORD, None, &ClientInfo::default())
        .unwrap();
    t.advance_secs(86_400 + 1);
    assert_eq!(
        t.vault.admin().purge_due_accounts().unwrap().purged,
        vec![ana.owner()]
    );
    let left = t.vault.affected_accounts(rec.id).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0.owner, ben.owner());
    assert_eq!(t.vault.incident(rec.id).unwrap().affected, 2);
}

fn notice() -> NoticeParts {
    NoticeParts {
        what_happened: "A replica bucket was readable by anyone.".into(),
        data_affected: "Ciphertext of your tracks.".into(),
        containment: "The bucket was closed.".into(),
        user_action: "Nothing.".into(),
        contact: "security@studio.test".into(),
    }
}

/// An incident confirmed now, affecting Ana and Ben but not Cleo.
fn confirmed_for_two(t: &TestVault) -> (IncidentRecord, [UserId; 3]) {
    let users = ["ana@studio.test", "ben@studio.test", "cleo@studio.test"]
        .map(|email| t.user(email).1.owner());
    let rec = new_incident(t, "Open bucket");
    t.vault
        .confirm_incident(rec.id, &ConfirmIncident::default())
        .unwrap();
    t.vault
        .choose_affected(
            rec.id,
            &AffectedSelection::Accounts {
                accounts: vec!["ana@studio.test".into(), "ben@studio.test".into()],
            },
        )
        .unwrap();
    (rec, users)
}

fn notify(t: &TestVault, id: IncidentId, late_reason: Option<&str>) -> Result<IncidentRecord> {
    t.vault.notify_incident(id, &notice(), late_reason)
}

#[test]
fn a_notice_queues_one_mail_per_affected_account_in_its_audited_transaction() {
    let t = TestVault::new();
    let open = new_incident(&t, "Not yet a breach");
    t.user("dan@studio.test");
    t.vault
        .choose_affected(open.id, &AffectedSelection::All)
        .unwrap();
    assert!(
        matches!(notify(&t, open.id, None), Err(VaultError::Conflict(m)) if m.contains("confirm")),
        "an unconfirmed incident is not notified"
    );
    let (rec, [ana, ben, cleo]) = confirmed_for_two(&t);
    let mut empty = notice();
    empty.containment = " \n".into();
    assert!(matches!(
        t.vault.notify_incident(rec.id, &empty, None),
        Err(VaultError::Invalid {
            field: "containment",
            ..
        })
    ));
    assert!(t.vault.messages_about(&rec.topic()).unwrap().is_empty());

    t.advance_secs(5 * 3600);
    let sent = notify(&t, rec.id, Some("ignored: it is on time")).unwrap();
    assert_eq!(sent.state, IncidentState::Notified);
    assert_eq!(sent.notified_at_ms, Some(t.vault.now_ms()));
    assert_eq!(
        sent.late_reason, None,
        "an on-time notice keeps no late reason"
    );
    assert_eq!(sent.notice, Some(notice()));
    let mails = t.vault.messages_about(&rec.topic()).unwrap();
    let mut to: Vec<(Option<UserId>, &str)> =
        mails.iter().map(|m| (m.account, m.to.as_str())).collect();
    to.sort_by_key(|(_, email)| *email);
    assert_eq!(
        to,
        [
            (Some(ana), "ana@studio.test"),
            (Some(ben), "ben@studio.test")
        ]
    );
    for mail in &mails {
        assert_eq!(mail.template, NOTICE_TEMPLATE);
        assert_eq!(mail.values, notice_values(rec.id, &notice()));
    }
    let rows = t.vault.affected_accounts(rec.id).unwrap();
    assert!(
        rows.iter()
            .all(|(row, _)| row.message.is_some() && row.notified_at_ms == Some(t.vault.now_ms()))
    );
    assert!(!rows.iter().any(|(row, _)| row.owner == cleo));
    let record = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("incident.notify".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(record[0].detail.as_deref(), Some("2 account(s)"));
    assert!(
        sent.timeline
            .last()
            .unwrap()
            .text
            .contains("5 hours after confirmation")
    );

    // Once sent: not again, and its accounts stay as they were.
    assert!(matches!(
        notify(&t, rec.id, None),
        Err(VaultError::Conflict(_))
    ));
    assert!(
        t.vault
            .choose_affected(rec.id, &AffectedSelection::All)
            .is_err()
    );
    assert_eq!(t.vault.messages_about(&rec.topic()).unwrap().len(), 2);
}

#[test]
fn a_notice_past_72_hours_is_refused_without_its_reason_and_keeps_it() {
    let t = TestVault::new();
    let (rec, _) = confirmed_for_two(&t);
    t.advance_secs(72 * 3600);
    assert!(
        !t.vault.incident(rec.id).unwrap().late_at(t.vault.now_ms()),
        "72 hours is on time"
    );
    t.advance_secs(1);
    for reason in [None, Some("  ")] {
        assert!(matches!(
            notify(&t, rec.id, reason),
            Err(VaultError::Invalid { field: "late_reason", reason }) if reason.contains("72 hours")
        ));
    }
    assert!(
        t.vault.messages_about(&rec.topic()).unwrap().is_empty(),
        "nothing was queued"
    );
    let sent = notify(&t, rec.id, Some("the logs took four days to read")).unwrap();
    assert_eq!(
        sent.late_reason.as_deref(),
        Some("the logs took four days to read")
    );
    assert!(
        sent.timeline
            .last()
            .unwrap()
            .text
            .contains("late: the logs took four days")
    );
    let record = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("incident.notify".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(
        record[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("late, 72 hours")
    );
}

#[test]
fn the_banner_shows_to_the_notified_until_dismissed_and_goes_with_the_purge() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (rec, [_, _, _]) = confirmed_for_two(&t);
    let scope = |email: &str| {
        t.vault
            .login(
                email,
                crate::testutil::PASSWORD,
                None,
                &ClientInfo::default(),
            )
            .unwrap()
            .1
            .scope
    };
    let (ana, ben, cleo) = (
        scope("ana@studio.test"),
        scope("ben@studio.test"),
        scope("cleo@studio.test"),
    );
    assert!(
        t.vault
            .account(&ana)
            .breach_notices(false)
            .unwrap()
            .is_empty(),
        "no banner before the notice is sent"
    );
    assert!(matches!(
        t.vault
            .account(&ana)
            .dismiss_notice(rec.id, &ClientInfo::default()),
        Err(VaultError::NotFound)
    ));
    notify(&t, rec.id, None).unwrap();
    let banner = t.vault.account(&ana).breach_notices(false).unwrap();
    assert_eq!(banner.len(), 1);
    assert_eq!(banner[0].incident, rec.id);
    assert_eq!(banner[0].notice, notice());
    assert!(
        t.vault
            .account(&cleo)
            .breach_notices(true)
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        t.vault
            .account(&cleo)
            .dismiss_notice(rec.id, &ClientInfo::default()),
        Err(VaultError::NotFound)
    ));

    t.vault
        .account(&ana)
        .dismiss_notice(rec.id, &ClientInfo::default())
        .unwrap();
    let audited = t.vault.audit_len().unwrap();
    t.vault
        .account(&ana)
        .dismiss_notice(rec.id, &ClientInfo::default())
        .unwrap();
    assert_eq!(
        t.vault.audit_len().unwrap(),
        audited,
        "dismissing again changes nothing"
    );
    assert!(
        t.vault
            .account(&ana)
            .breach_notices(false)
            .unwrap()
            .is_empty()
    );
    let kept = t.vault.account(&ana).breach_notices(true).unwrap();
    assert!(kept[0].dismissed_at_ms.is_some(), "the export still has it");
    assert_eq!(
        t.vault.account(&ben).breach_notices(false).unwrap().len(),
        1
    );
    let dismissed = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("notice.dismiss".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(dismissed.len(), 1);
    assert_eq!(dismissed[0].owner, Some(ana.owner().to_string()));

    // Ben's account is purged: his row and his mail go; the register keeps its count.
    t.vault
        .account(&ben)
        .request_deletion(crate::testutil::PASSWORD, None, &ClientInfo::default())
        .unwrap();
    t.advance_secs(86_400 + 1);
    t.vault.admin().purge_due_accounts().unwrap();
    let left = t.vault.affected_accounts(rec.id).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0.owner, ana.owner());
    let mails = t.vault.messages_about(&rec.topic()).unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].account, Some(ana.owner()));
    let rec = t.vault.incident(rec.id).unwrap();
    assert_eq!((rec.affected, rec.state), (2, IncidentState::Notified));
}

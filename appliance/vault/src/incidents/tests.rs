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
        t.vault.admin().purge_due_accounts().unwrap(),
        vec![ana.owner()]
    );
    let left = t.vault.affected_accounts(rec.id).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0.owner, ben.owner());
    assert_eq!(t.vault.incident(rec.id).unwrap().affected, 2);
}

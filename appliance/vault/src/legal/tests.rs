//! Legal requests on a store whose clock the test moves: holds against the purge, gags against
//! the notice, the notice before any hand-over, the hand-over's bounds and the yearly report.

use std::io::Read;

use studiovault_api::admin::{LegalDataType, LegalKind, LegalState, NewLegalRequest};

use super::*;
use crate::ClientInfo;
use crate::testutil::TestVault;

const DAY_SECS: i64 = 86_400;

fn request(accounts: &[&str], data_types: &[LegalDataType], hold: bool) -> NewLegalRequest {
    NewLegalRequest {
        kind: LegalKind::CourtOrder,
        authority: "District Court of Testville".into(),
        legal_basis: "Criminal Procedure Act §100".into(),
        reference: "CR-2026-0042".into(),
        deadline: 1_800_000_000_000,
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        data_types: data_types.to_vec(),
        hold,
    }
}

fn notices_of(t: &TestVault, request: &LegalRequestRecord) -> Vec<crate::outbox::MessageRecord> {
    t.vault.messages_about(&request.object()).unwrap()
}

fn conflict<T: std::fmt::Debug>(result: Result<T>) -> &'static str {
    match result {
        Err(VaultError::Conflict(why)) => why,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn a_hold_keeps_an_account_past_its_grace_until_released() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (_, held) = t.user("held@studio.test");
    let (_, free) = t.user("free@studio.test");
    let track = t.upload(&held, b"evidence");
    let req = t
        .vault
        .record_legal_request(&request(
            &["held@studio.test"],
            &[LegalDataType::Audio],
            true,
        ))
        .unwrap();
    assert!(t.vault.is_on_legal_hold(held.owner()).unwrap());
    assert!(!t.vault.is_on_legal_hold(free.owner()).unwrap());
    assert_eq!(
        t.vault
            .held_accounts()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![held.owner()]
    );

    for owner in [held.owner(), free.owner()] {
        t.vault.admin().schedule_deletion(owner).unwrap();
    }
    t.advance_secs(DAY_SECS + 1);
    assert_eq!(
        t.vault.admin().purge_due_accounts().unwrap().purged,
        vec![free.owner()],
        "the held account is skipped, the other purged"
    );
    assert!(t.vault.library(&held).get(track.id).is_ok());
    assert!(t.vault.blob_path(held.owner(), track.blob).exists());
    t.advance_secs(30 * DAY_SECS);
    assert!(
        t.vault
            .admin()
            .purge_due_accounts()
            .unwrap()
            .purged
            .is_empty()
    );

    assert!(matches!(
        t.vault.release_legal_hold(req.id, "  "),
        Err(VaultError::Invalid {
            field: "reason",
            ..
        })
    ));
    let released = t
        .vault
        .release_legal_hold(req.id, "the court lifted the order")
        .unwrap();
    assert!(!released.on_hold());
    assert_eq!(
        released.hold.as_ref().unwrap().release_reason.as_deref(),
        Some("the court lifted the order")
    );
    conflict(t.vault.release_legal_hold(req.id, "again"));
    assert!(!t.vault.is_on_legal_hold(held.owner()).unwrap());
    assert_eq!(
        t.vault.admin().purge_due_accounts().unwrap().purged,
        vec![held.owner()]
    );
    assert!(!t.vault.blob_path(held.owner(), track.blob).exists());

    let log = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("legal".into()),
            ..Default::default()
        })
        .unwrap();
    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["legal.receive", "legal.release"]);
    assert!(
        log.iter()
            .all(|e| e.actor == "admin" && e.object.as_deref() == Some(req.object().as_str()))
    );
    // The request outlives the account (the report counts it) but no longer names it: a
    // stand-in takes its place, in its accounts, notices and timeline.
    let kept = t.vault.legal_request(req.id).unwrap();
    assert_eq!(kept.accounts.len(), 1);
    assert_ne!(kept.accounts, vec![held.owner()]);
    let stored = String::from_utf8(crate::store::encode(&kept)).unwrap();
    assert!(!stored.contains("held@studio.test"));
    assert!(!stored.contains(&held.owner().to_string()));
    let year = time::OffsetDateTime::from_unix_timestamp(kept.received_at_ms / 1000)
        .unwrap()
        .year();
    assert_eq!(
        t.vault.legal_report(year).unwrap().received,
        1,
        "still counted"
    );
}

#[test]
fn a_gag_holds_the_notice_until_it_ends_then_it_goes_out_by_itself() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    let req = t
        .vault
        .record_legal_request(&request(
            &["ana@studio.test", &ben.owner().to_string()],
            &[LegalDataType::Account],
            false,
        ))
        .unwrap();
    assert_eq!(req.accounts, vec![ana.owner(), ben.owner()]);
    let until = t.vault.now_ms() + 10 * DAY_SECS * 1000;
    assert!(matches!(
        t.vault.record_gag(req.id, t.vault.now_ms() - 1, None),
        Err(VaultError::Invalid { field: "until", .. })
    ));
    t.vault
        .record_gag(req.id, until, Some("order of 2026-05-01, §12"))
        .unwrap();

    conflict(t.vault.notify_legal(req.id));
    assert_eq!(t.vault.send_due_legal_notices().unwrap(), 0);
    t.advance_secs(10 * DAY_SECS - 60);
    assert_eq!(t.vault.send_due_legal_notices().unwrap(), 0);
    assert!(notices_of(&t, &req).is_empty(), "no mail while gagged");

    t.advance_secs(61);
    assert_eq!(t.vault.send_due_legal_notices().unwrap(), 2);
    let mail = notices_of(&t, &req);
    let mut to: Vec<&str> = mail.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["ana@studio.test", "ben@studio.test"]);
    let ana_mail = mail
        .iter()
        .find(|m| m.account == Some(ana.owner()))
        .unwrap();
    assert_eq!(ana_mail.template, NOTICE_TEMPLATE);
    let value = |name: &str| {
        ana_mail
            .values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(value("authority"), "District Court of Testville");
    assert_eq!(value("reference"), "CR-2026-0042");
    assert!(value("data").contains("your account details"));
    assert_eq!(t.vault.send_due_legal_notices().unwrap(), 0, "once only");
    assert_eq!(notices_of(&t, &req).len(), 2);
    conflict(t.vault.notify_legal(req.id));
    conflict(t.vault.record_gag(req.id, until + 1_000_000, None));

    let after = t.vault.legal_request(req.id).unwrap();
    assert!(after.unnotified().is_empty());
    assert!(
        after
            .timeline
            .iter()
            .any(|s| s.what.starts_with("gag until") && s.what.contains("order of 2026-05-01"))
    );
    assert_eq!(
        after
            .timeline
            .iter()
            .filter(|s| s.what.starts_with("gag ended: notice queued"))
            .count(),
        2
    );
}

#[test]
fn nothing_is_handed_over_before_the_notice_and_only_what_was_asked() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let (_, other) = t.user("other@studio.test");
    let song = t.upload(&ana, b"ana's song");
    let others_song = t.upload(&other, b"someone else's song");
    let req = t
        .vault
        .record_legal_request(&request(
            &["ana@studio.test"],
            &[LegalDataType::Account, LegalDataType::Audio],
            false,
        ))
        .unwrap();

    conflict(t.vault.hand_over(req.id));
    conflict(t.vault.hand_over_audio(req.id, ana.owner(), song.id));
    conflict(
        t.vault
            .decide_legal(req.id, LegalState::Complied, "handed over"),
    );

    t.vault.notify_legal(req.id).unwrap();
    let handover = t.vault.hand_over(req.id).unwrap();
    assert_eq!(handover.request.exports, 1);
    let [part] = handover.accounts.as_slice() else {
        panic!("one account asked for, one handed over");
    };
    assert_eq!(part.owner, ana.owner());
    assert_eq!(part.account.as_ref().unwrap()["email"], "ana@studio.test");
    assert!(part.tracks.is_none() && part.shares.is_none() && part.activity.is_none());
    assert_eq!(
        part.audio.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![song.id]
    );
    let mut audio = Vec::new();
    t.vault
        .hand_over_audio(req.id, ana.owner(), song.id)
        .unwrap()
        .read_to_end(&mut audio)
        .unwrap();
    assert_eq!(audio, b"ana's song");
    // Another owner's track, through this request: not found.
    assert!(matches!(
        t.vault
            .hand_over_audio(req.id, other.owner(), others_song.id),
        Err(VaultError::NotFound)
    ));

    // The user sees the notice, the hand-over and the read, by the admin, in their activity.
    let activity = t.vault.account(&ana).activity(None, 50).unwrap();
    let legal: Vec<(&str, &str)> = activity
        .iter()
        .filter(|e| e.action.starts_with("legal."))
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        legal,
        [
            ("legal.audio_read", "admin"),
            ("legal.export", "admin"),
            ("legal.notice", "admin")
        ]
    );
    assert!(
        t.vault
            .account(&other)
            .activity(None, 50)
            .unwrap()
            .iter()
            .all(|e| !e.action.starts_with("legal."))
    );

    conflict(
        t.vault
            .decide_legal(req.id, LegalState::Refused, "no basis"),
    );
    let done = t
        .vault
        .decide_legal(
            req.id,
            LegalState::Complied,
            "account and audio handed over",
        )
        .unwrap();
    assert_eq!(done.state, LegalState::Complied);
    conflict(
        t.vault
            .decide_legal(req.id, LegalState::Refused, "changed our mind"),
    );
}

#[test]
fn an_account_purged_since_the_request_does_not_stop_it_being_answered() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (_, ana) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    t.upload(&ana, b"ana's song");
    let req = t
        .vault
        .record_legal_request(&request(
            &["ana@studio.test", "ben@studio.test"],
            &[LegalDataType::Account],
            false,
        ))
        .unwrap();
    // Ben leaves before anyone was told; no hold keeps him.
    t.vault.admin().schedule_deletion(ben.owner()).unwrap();
    t.advance_secs(DAY_SECS + 1);
    assert_eq!(
        t.vault.admin().purge_due_accounts().unwrap().purged,
        vec![ben.owner()]
    );

    // Ana is told; the purged account has no one to tell.
    let notified = t.vault.notify_legal(req.id).unwrap();
    assert_eq!(notified.notices.len(), 1);
    assert_eq!(notices_of(&t, &notified).len(), 1);
    conflict(t.vault.notify_legal(req.id));
    // What is left is handed over, and the request is answered.
    let handover = t.vault.hand_over(req.id).unwrap();
    let owners: Vec<UserId> = handover.accounts.iter().map(|a| a.owner).collect();
    assert_eq!(owners, [ana.owner()]);
    let answered = t
        .vault
        .decide_legal(req.id, LegalState::Complied, "handed over what was left")
        .unwrap();
    assert_eq!(answered.state, LegalState::Complied);
}

#[test]
fn under_a_gag_the_hand_over_stays_out_of_the_users_view_until_the_notice() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let song = t.upload(&ana, b"ana's song");
    let req = t
        .vault
        .record_legal_request(&request(
            &["ana@studio.test"],
            &[LegalDataType::Audio, LegalDataType::Activity],
            false,
        ))
        .unwrap();
    let until = t.vault.now_ms() + DAY_SECS * 1000;
    t.vault.record_gag(req.id, until, None).unwrap();
    let handover = t.vault.hand_over(req.id).unwrap();
    t.vault
        .hand_over_audio(req.id, ana.owner(), song.id)
        .unwrap();
    assert!(
        handover.accounts[0]
            .activity
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.action == "track.upload")
    );
    // Counted in the owner's activity and in "who accessed my files".
    let legal_seen = |t: &TestVault| {
        let account = t.vault.account(&ana);
        let count = |entries: Vec<AuditEntry>| {
            entries
                .iter()
                .filter(|e| e.action.starts_with("legal."))
                .count()
        };
        (
            count(account.activity(None, 50).unwrap()),
            count(account.accessed(None, 50).unwrap()),
        )
    };
    assert_eq!(
        legal_seen(&t),
        (0, 0),
        "a gag keeps the request out of the user's view"
    );
    assert!(
        t.vault
            .export_account(&ana, &ClientInfo::default())
            .unwrap()
            .activity
            .iter()
            .all(|e| !e.action.starts_with("legal."))
    );

    t.advance_secs(DAY_SECS);
    assert_eq!(t.vault.send_due_legal_notices().unwrap(), 1);
    assert_eq!(
        legal_seen(&t),
        (3, 3),
        "notice, hand-over and read, once told"
    );
    let mail = notices_of(&t, &req);
    let handed = mail[0]
        .values
        .iter()
        .find(|(k, _)| k == "handed_over")
        .unwrap();
    assert!(handed.1.contains("Data was handed over"), "{handed:?}");
    // A gag that has ended no longer covers a hand-over: the notice did.
    assert!(t.vault.hand_over(req.id).is_ok());
}

#[test]
fn intake_checks_its_input() {
    let t = TestVault::new();
    t.user("ana@studio.test");
    let invalid = |new: NewLegalRequest| match t.vault.record_legal_request(&new) {
        Err(VaultError::Invalid { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    };
    let ok = request(&["ana@studio.test"], &[LegalDataType::Account], false);
    assert_eq!(
        invalid(NewLegalRequest {
            authority: " \n".into(),
            ..ok.clone()
        }),
        "authority"
    );
    assert_eq!(
        invalid(NewLegalRequest {
            accounts: vec!["nobody@studio.test".into()],
            ..ok.clone()
        }),
        "accounts"
    );
    assert_eq!(
        invalid(NewLegalRequest {
            accounts: vec![],
            ..ok.clone()
        }),
        "accounts"
    );
    assert_eq!(
        invalid(NewLegalRequest {
            data_types: vec![],
            ..ok.clone()
        }),
        "data_types"
    );
    let req = t.vault.record_legal_request(&ok).unwrap();
    assert!(matches!(
        t.vault.decide_legal(req.id, LegalState::Received, "x"),
        Err(VaultError::Invalid {
            field: "outcome",
            ..
        })
    ));
    assert!(matches!(
        t.vault.legal_request(LegalRequestId::random()),
        Err(VaultError::NotFound)
    ));
}

#[test]
fn the_yearly_report_counts_each_years_requests() {
    let t = TestVault::new();
    t.user("ana@studio.test");
    t.user("ben@studio.test");
    // 2026-11-20 (the test clock's start): three requests.
    let complied = t
        .vault
        .record_legal_request(&request(
            &["ana@studio.test", "ben@studio.test"],
            &[LegalDataType::Account],
            false,
        ))
        .unwrap();
    t.vault.notify_legal(complied.id).unwrap();
    t.vault
        .decide_legal(complied.id, LegalState::Complied, "handed over")
        .unwrap();
    let refused = t
        .vault
        .record_legal_request(&NewLegalRequest {
            kind: LegalKind::Subpoena,
            authority: "Tax Office".into(),
            ..request(&["ana@studio.test"], &[LegalDataType::Activity], false)
        })
        .unwrap();
    t.vault
        .decide_legal(refused.id, LegalState::Refused, "no valid legal basis")
        .unwrap();
    let gagged = t
        .vault
        .record_legal_request(&request(
            &["ben@studio.test"],
            &[LegalDataType::Audio],
            true,
        ))
        .unwrap();
    t.vault
        .record_gag(gagged.id, t.vault.now_ms() + 1000, None)
        .unwrap();
    // Next year: one more, not counted in 2026.
    t.advance_secs(60 * DAY_SECS);
    t.vault
        .record_legal_request(&request(
            &["ana@studio.test"],
            &[LegalDataType::Account],
            false,
        ))
        .unwrap();

    let report = t.vault.legal_report(2026).unwrap();
    assert_eq!(
        (
            report.received,
            report.complied,
            report.partially_complied,
            report.refused,
            report.pending
        ),
        (3, 1, 0, 1, 1)
    );
    assert_eq!(
        (report.accounts, report.users_notified, report.gagged),
        (2, 2, 1)
    );
    let kinds: Vec<(&str, u64, u64, u64)> = report
        .by_kind
        .iter()
        .map(|r| (r.name.as_str(), r.received, r.complied, r.refused))
        .collect();
    assert_eq!(kinds, [("court_order", 2, 1, 0), ("subpoena", 1, 0, 1)]);
    let authorities: Vec<(&str, u64)> = report
        .by_authority
        .iter()
        .map(|r| (r.name.as_str(), r.received))
        .collect();
    assert_eq!(
        authorities,
        [("District Court of Testville", 2), ("Tax Office", 1)]
    );
    assert_eq!(t.vault.legal_report(2027).unwrap().received, 1);
    assert_eq!(t.vault.legal_report(2025).unwrap().received, 0);
}

#[test]
fn a_track_deleted_under_a_hold_is_kept_out_of_sight_until_the_hold_is_released() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    let song = t.upload(&ana, b"ana's song");
    let demo = t.upload(&ana, b"ana's demo");
    let bens = t.upload(&ben, b"ben's song");
    let req = t
        .vault
        .record_legal_request(&request(
            &["ana@studio.test"],
            &[LegalDataType::Tracks, LegalDataType::Audio],
            true,
        ))
        .unwrap();
    let until = t.vault.now_ms() + DAY_SECS * 1000;
    t.vault.record_gag(req.id, until, None).unwrap();
    let client = ClientInfo::default();
    let sound = |t: &TestVault| {
        let check = t.vault.check_store().unwrap();
        assert!(check.problems.is_empty(), "{:?}", check.problems);
    };
    let legal_actions = |t: &TestVault| -> Vec<String> {
        let activity = t.vault.account(&ana).activity(None, 50).unwrap();
        activity
            .into_iter()
            .map(|e| e.action)
            .filter(|a| a.starts_with("legal."))
            .collect()
    };

    t.vault.library(&ana).delete(song.id, &client).unwrap();
    t.vault.library(&ben).delete(bens.id, &client).unwrap();
    // To Ana the track is gone like any other, and its room is hers again.
    assert!(matches!(
        t.vault.library(&ana).get(song.id),
        Err(VaultError::NotFound)
    ));
    let me = t.vault.account(&ana).me().unwrap();
    assert_eq!((me.track_count, me.used_bytes), (1, demo.size_bytes));
    // But the store keeps it, file and all, through the start-up sweep; Ben's goes at once.
    assert!(t.vault.blob_path(ana.owner(), song.blob).exists());
    assert!(!t.vault.blob_path(ben.owner(), bens.blob).exists());
    assert_eq!(crate::library::remove_orphan_blobs(&t.vault).unwrap(), 0);
    assert!(t.vault.blob_path(ana.owner(), song.blob).exists());
    sound(&t);
    // The gag holds: Ana's activity shows her deletion and nothing of the hold.
    let activity = t.vault.account(&ana).activity(None, 50).unwrap();
    assert!(activity.iter().any(|e| e.action == "track.delete"));
    assert!(legal_actions(&t).is_empty(), "{:?}", legal_actions(&t));

    // The hand-over carries it, as deleted, with its audio.
    let handover = t.vault.hand_over(req.id).unwrap();
    let part = &handover.accounts[0];
    let ids = |tracks: &[TrackRecord]| tracks.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(part.tracks.as_deref().unwrap()), vec![demo.id]);
    assert_eq!(part.deleted_under_hold.len(), 1);
    assert_eq!(part.deleted_under_hold[0].track.id, song.id);
    assert_eq!(part.deleted_under_hold[0].request, req.id);
    assert_eq!(ids(&part.audio), vec![demo.id, song.id]);
    let mut audio = Vec::new();
    t.vault
        .hand_over_audio(req.id, ana.owner(), song.id)
        .unwrap()
        .read_to_end(&mut audio)
        .unwrap();
    assert_eq!(audio, b"ana's song");

    // Released: what the hold kept goes, its file too.
    t.vault
        .release_legal_hold(req.id, "the case settled")
        .unwrap();
    assert!(t.vault.held_tracks(ana.owner()).unwrap().is_empty());
    assert!(!t.vault.blob_path(ana.owner(), song.blob).exists());
    assert_eq!(t.vault.discard_released_held_tracks().unwrap(), 0);
    sound(&t);
    // A deletion now is an ordinary one.
    t.vault.library(&ana).delete(demo.id, &client).unwrap();
    assert!(!t.vault.blob_path(ana.owner(), demo.blob).exists());
    assert!(t.vault.held_tracks(ana.owner()).unwrap().is_empty());

    // Once the gag ends and the notice goes out, Ana sees what was kept and when it went.
    t.advance_secs(DAY_SECS);
    assert_eq!(t.vault.send_due_legal_notices().unwrap(), 1);
    let seen = legal_actions(&t);
    for action in ["legal.keep", "legal.discard", "legal.notice"] {
        assert!(seen.iter().any(|a| a == action), "{action} in {seen:?}");
    }
}

#[test]
fn a_hold_keeps_the_stems_that_go_with_a_deleted_track() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let song = t.upload(&ana, b"ana's song");
    t.vault
        .library(&ana)
        .request_stems(song.id, &ClientInfo::default())
        .unwrap();
    let (worker, _) = t.vault.enrol_worker("box").unwrap();
    let lease_for = std::time::Duration::from_secs(60);
    let (lease, _) = t
        .vault
        .lease_stems(&worker, lease_for, None)
        .unwrap()
        .unwrap();
    let mut w = t.vault.begin_stem_blob(&lease).unwrap();
    w.write(b"ana's vocals").unwrap();
    let new = crate::stems::NewStems {
        stems: vec![("vocals".into(), w.finish().unwrap(), Default::default())],
        draft: true,
        backend: "builtin".into(),
        model: "test".into(),
    };
    let crate::stems::StemsOutcome::Stored(stored) =
        t.vault.store_stems(&worker, &lease, new).unwrap()
    else {
        panic!("the stems are stored");
    };
    let stem = &stored[0];
    t.vault
        .record_legal_request(&request(
            &["ana@studio.test"],
            &[LegalDataType::Audio],
            true,
        ))
        .unwrap();
    t.vault
        .library(&ana)
        .delete(song.id, &ClientInfo::default())
        .unwrap();
    let kept: Vec<TrackId> = t
        .vault
        .held_tracks(ana.owner())
        .unwrap()
        .iter()
        .map(|h| h.track.id)
        .collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.contains(&song.id) && kept.contains(&stem.id));
    assert!(t.vault.blob_path(ana.owner(), stem.blob).exists());
    let check = t.vault.check_store().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

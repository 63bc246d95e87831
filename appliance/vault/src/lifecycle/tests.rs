//! The registry held to what the store does: an account with a row in every per-owner table is
//! exported as the registry says and purged down to what the registry keeps.

use std::io::Read;

use studiovault_api::Plan;

use super::*;
use crate::records::{Export, ExportDocument, Purge, Scope, TABLES, TableSpec};
use crate::replication::ReplicaOp;
use crate::shares::{NewRecipient, NewShare, TraceQuery};
use crate::store::WATERMARK_PAYLOADS;
use crate::testutil::{PASSWORD, TestVault};
use crate::{AccountExport, OwnerScope, TrackRecord};

const AUDIO: &[u8] = b"the account's only track";

/// A Max account (its shares watermark) with a session, a track queued for analysis and
/// replication, a share, a recipient's rendered copy, an address change waiting, mail, and a
/// breach notice sent to it.
fn account_with_everything(t: &TestVault, email: &str) -> (OwnerScope, TrackRecord) {
    let (_, scope) = t.user(email);
    t.vault
        .admin()
        .set_plan_and_quota(scope.owner(), Some(Plan::Max), None)
        .unwrap();
    let track = t.upload(&scope, AUDIO);
    let share = t
        .vault
        .shares(&scope)
        .create(
            NewShare {
                title: "Preview".into(),
                tracks: vec![track.id],
                recipients: vec![NewRecipient {
                    name: "Ana".into(),
                    email: None,
                }],
                ..NewShare::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    let grant = t.vault.open_link(&share.recipients[0].1).unwrap();
    grant
        .store_render(
            &t.vault,
            track.id,
            &b"ana's marked copy"[..],
            "audio/flac",
            "copy.flac",
        )
        .unwrap();
    // Review: Ana plays, reports what she heard and comments; an upload link is made.
    grant
        .media_url(
            &t.vault,
            track.id,
            crate::MediaKind::Play,
            &ClientInfo::default(),
        )
        .unwrap();
    grant
        .report_listening(&t.vault, track.id, 0.0, 1.0, false)
        .unwrap();
    grant
        .add_comment(
            &t.vault,
            track.id,
            review::NewCommentInput {
                text: "Love the intro".into(),
                at_secs: Some(0.5),
                ..Default::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    t.vault
        .upload_links(&scope)
        .create(
            review::NewUploadLink {
                name: "Ana".into(),
                ..Default::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    let txn = t.vault.db().begin_write().unwrap();
    outbox::queue_mail(
        &txn,
        outbox::MailDraft {
            to: email.into(),
            account: Some(scope.owner()),
            template: "test".into(),
            values: Vec::new(),
            topic: "test".into(),
        },
        t.vault.now_ms(),
    )
    .unwrap();
    txn.commit().unwrap();
    t.vault
        .account(&scope)
        .start_email_change(
            &format!("new.{email}"),
            PASSWORD,
            None,
            "https://vault.test/confirm-email",
            &ClientInfo::default(),
        )
        .unwrap();
    let incident = t
        .vault
        .record_incident(&studiovault_api::admin::NewIncident {
            title: format!("Incident about {email}"),
            ..Default::default()
        })
        .unwrap();
    t.vault
        .confirm_incident(incident.id, &Default::default())
        .unwrap();
    t.vault
        .choose_affected(
            incident.id,
            &studiovault_api::admin::AffectedSelection::Accounts {
                accounts: vec![email.to_owned()],
            },
        )
        .unwrap();
    let notice = studiovault_api::admin::NoticeParts {
        what_happened: "w".into(),
        data_affected: "d".into(),
        containment: "c".into(),
        user_action: "u".into(),
        contact: "s".into(),
    };
    t.vault.notify_incident(incident.id, &notice, None).unwrap();
    // A legal request naming the account: the purge keeps the request. Its hold kept a track
    // the owner deleted, and was released without what it kept being discarded yet (a release
    // whose clean-up failed, left to housekeeping): the purge takes that too.
    let request = t
        .vault
        .record_legal_request(&studiovault_api::admin::NewLegalRequest {
            kind: studiovault_api::admin::LegalKind::Subpoena,
            authority: "Tax Office".into(),
            legal_basis: "Tax Code §93".into(),
            reference: "TX-1".into(),
            deadline: t.vault.now_ms(),
            accounts: vec![email.into()],
            data_types: vec![studiovault_api::admin::LegalDataType::Account],
            hold: true,
        })
        .unwrap();
    let deleted = t.upload(&scope, b"deleted while held");
    t.vault
        .library(&scope)
        .delete(deleted.id, &ClientInfo::default())
        .unwrap();
    let txn = t.vault.db().begin_write().unwrap();
    {
        let mut table = txn.open_table(LEGAL_REQUESTS).unwrap();
        let mut request = records::get_request(&table, request.id).unwrap().unwrap();
        request.hold.as_mut().unwrap().released_at_ms = Some(t.vault.now_ms());
        records::put_request(&mut table, &request).unwrap();
    }
    txn.commit().unwrap();
    (scope, track)
}

/// The account's rows in every per-owner table, by table.
fn rows_by_table(t: &TestVault, owner: UserId) -> Vec<(&'static TableSpec, u64)> {
    let txn = t.vault.db().begin_write().unwrap();
    let counts = TABLES
        .iter()
        .filter_map(|spec| match &spec.scope {
            Scope::PerOwner { rows, .. } => Some((spec, rows(&txn, owner).unwrap())),
            Scope::Global { .. } => None,
        })
        .collect();
    txn.abort().unwrap();
    counts
}

/// Whether the export holds `document`, with the account's own data in it.
fn export_holds(
    t: &TestVault,
    scope: &OwnerScope,
    export: &AccountExport,
    track: &TrackRecord,
    document: ExportDocument,
) -> bool {
    let owner = scope.owner();
    match document {
        ExportDocument::Account => {
            export.account["id"] == owner.to_string()
                && export.account["breach_notices"]
                    .as_array()
                    .is_some_and(|n| !n.is_empty())
        }
        ExportDocument::Tracks => export.tracks.iter().any(|t| t.id == track.id),
        ExportDocument::Shares => export
            .shares
            .iter()
            .any(|s| s.share.owner == owner && !s.recipients.is_empty()),
        ExportDocument::Activity => {
            !export.activity.is_empty()
                && export
                    .activity
                    .iter()
                    .all(|e| e.owner == Some(owner.to_string()))
        }
        ExportDocument::Review => {
            let r = &export.review;
            !r.comments.is_empty()
                && !r.upload_links.is_empty()
                && !r.listening.is_empty()
                && !r.notifications.is_empty()
        }
        ExportDocument::Audio => {
            let mut audio = Vec::new();
            t.vault
                .export_audio(scope, track.id)
                .unwrap()
                .read_to_end(&mut audio)
                .unwrap();
            audio == AUDIO
        }
    }
}

#[test]
fn every_table_declares_its_owner_its_purge_and_its_export() {
    let mut names: Vec<&str> = TABLES.iter().map(|spec| spec.table.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TABLES.len(), "a table is registered twice");
    for spec in TABLES {
        let name = spec.table.name();
        match &spec.scope {
            Scope::Global { why } => assert!(!why.is_empty(), "`{name}`: why is it global?"),
            Scope::PerOwner { purge, export, .. } => {
                if let Purge::Kept { why } = purge {
                    assert!(!why.is_empty(), "`{name}`: why does the purge keep it?");
                }
                if let Export::Excluded { why } = export {
                    assert!(!why.is_empty(), "`{name}`: why is it not exported?");
                }
            }
        }
    }
}

#[test]
fn an_account_is_exported_and_purged_as_the_registry_declares() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (scope, track) = account_with_everything(&t, "gone@studio.test");
    let (neighbour, _) = account_with_everything(&t, "stays@studio.test");
    let owner = scope.owner();

    // A snapshot refuses a store holding a table the registry does not know.
    t.vault.stage_snapshot().unwrap();
    for (spec, rows) in rows_by_table(&t, owner) {
        assert!(
            rows > 0,
            "the fixture gives the account no row in `{}`: give it one, so the purge and the \
             export of that table are tested",
            spec.table.name()
        );
    }

    let export = t
        .vault
        .export_account(&scope, &ClientInfo::default())
        .unwrap();
    for spec in TABLES {
        if let Scope::PerOwner {
            export: Export::In(document),
            ..
        } = spec.scope
        {
            assert!(
                export_holds(&t, &scope, &export, &track, document),
                "the registry exports `{}` as {document:?}, which the export lacks",
                spec.table.name()
            );
        }
    }

    let neighbours_rows = rows_by_table(&t, neighbour.owner());
    t.vault
        .account(&scope)
        .request_deletion(PASSWORD, None, &ClientInfo::default())
        .unwrap();
    t.advance_secs(86_400 + 1);
    assert_eq!(
        t.vault.admin().purge_due_accounts().unwrap().purged,
        vec![owner]
    );

    for (spec, rows) in rows_by_table(&t, owner) {
        let Scope::PerOwner { purge, .. } = &spec.scope else {
            unreachable!("only per-owner tables are counted")
        };
        match purge {
            Purge::Removed => assert_eq!(
                rows,
                0,
                "the purge left rows of the account in `{}`",
                spec.table.name()
            ),
            Purge::Kept { .. } => assert!(
                rows > 0,
                "the registry says the purge keeps `{}`, but nothing is left",
                spec.table.name()
            ),
        }
    }
    let replicas = t.vault.replication().all().unwrap();
    assert!(
        replicas
            .iter()
            .filter(|task| task.owner == owner)
            .all(|task| task.op == ReplicaOp::Delete),
        "only the deletions of the account's replicas stay queued"
    );
    let untouched: Vec<u64> = rows_by_table(&t, neighbour.owner())
        .into_iter()
        .map(|(_, rows)| rows)
        .collect();
    assert_eq!(
        untouched,
        neighbours_rows
            .into_iter()
            .map(|(_, rows)| rows)
            .collect::<Vec<_>>(),
        "another account keeps every row"
    );

    // The certificate of deletion waits in the outbox, for the address alone.
    let certificates = t.vault.messages_about("deletion").unwrap();
    assert_eq!(certificates.len(), 1);
    let certificate = &certificates[0];
    assert_eq!(
        (
            certificate.to.as_str(),
            certificate.account,
            certificate.template.as_str()
        ),
        ("gone@studio.test", None, "deletion-certificate")
    );
    let value = |name: &str| {
        certificate
            .values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(value("account"), Some(owner.to_string()));
    assert_eq!(value("tracks"), Some("1".into()));
    assert_eq!(value("shares"), Some("1".into()));
    let purge = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("account.purge".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        purge[0].detail,
        Some(format!("certificate {}", value("certificate").unwrap()))
    );
}

#[test]
fn a_purge_that_would_leave_a_row_behind_purges_nothing() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (scope, track) = account_with_everything(&t, "gone@studio.test");
    t.vault.admin().schedule_deletion(scope.owner()).unwrap();
    // A payload whose recipient is gone: no purge step removes it.
    let txn = t.vault.db().begin_write().unwrap();
    txn.open_table(WATERMARK_PAYLOADS)
        .unwrap()
        .insert(7, 42)
        .unwrap();
    txn.commit().unwrap();
    t.advance_secs(86_400 + 1);

    let report = t.vault.admin().purge_due_accounts().unwrap();
    assert!(report.purged.is_empty());
    assert!(
        matches!(
            report.failures.as_slice(),
            [PurgeFailure {
                account: Some(owner),
                error: VaultError::PurgeIncomplete {
                    table: "watermark_payloads",
                    rows: 1
                }
            }] if *owner == scope.owner()
        ),
        "{report:?}"
    );
    assert_eq!(
        t.vault.admin().find("gone@studio.test").unwrap().id,
        scope.owner()
    );
    assert!(t.vault.library(&scope).get(track.id).is_ok());
    assert!(
        t.vault.blob_path(scope.owner(), track.blob).exists(),
        "the files stay with the records"
    );
}

#[test]
fn marked_copies_go_a_retention_after_their_share_ends_and_the_trace_stays() {
    let t = TestVault::new();
    let (scope, track) = account_with_everything(&t, "ends@studio.test");
    let rows = |table: &str| {
        rows_by_table(&t, scope.owner())
            .into_iter()
            .find(|(spec, _)| spec.table.name() == table)
            .map(|(_, n)| n)
            .unwrap()
    };
    assert_eq!(rows("renders"), 1);
    assert_eq!(
        t.vault.expire_ended_share_copies(7).unwrap(),
        0,
        "live share"
    );
    t.advance_secs(14 * 86_400 + 1);
    assert_eq!(
        t.vault.expire_ended_share_copies(7).unwrap(),
        0,
        "ended, but not 7 days ago"
    );
    t.advance_secs(7 * 86_400);
    assert_eq!(t.vault.expire_ended_share_copies(7).unwrap(), 1);
    assert_eq!(rows("renders"), 0);
    assert_eq!(
        rows("blobs"),
        2,
        "the track's audio and the one a hold kept stay; the copy went"
    );
    assert_eq!(
        (rows("recipients"), rows("watermark_payloads")),
        (1, 1),
        "a leak of the copy is still traced"
    );
    let payloads = t.vault.watermark_candidates_any().unwrap();
    let query = TraceQuery {
        payload: payloads.first().copied(),
        suspects: Vec::new(),
    };
    let traced = t.vault.trace_any(&query, "test").unwrap().decoded.unwrap();
    assert_eq!(
        traced
            .copies
            .iter()
            .map(|(track, _, _)| *track)
            .collect::<Vec<_>>(),
        vec![track.id],
        "the trace still lists the copy that was issued"
    );
    let expired = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("share.copies_expire".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].owner, Some(scope.owner().to_string()));
}

/// The pass lists the due accounts, then purges each in its own transaction: a deletion
/// cancelled and requested again in between (a new grace) is not purged on the old one.
#[test]
fn an_account_whose_deletion_was_cancelled_and_requested_again_keeps_its_new_grace() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 30);
    let (scope, track) = account_with_everything(&t, "again@studio.test");
    let admin = t.vault.admin();
    admin.schedule_deletion(scope.owner()).unwrap();
    t.advance_secs(30 * 86_400 + 1);
    // What the pass found due, before the account's admin changed their mind twice.
    admin.cancel_deletion(scope.owner()).unwrap();
    admin.schedule_deletion(scope.owner()).unwrap();
    assert!(
        !purge_account(&t.vault, scope.owner(), Purged::AfterGrace).unwrap(),
        "not due: its new grace has 30 days to run"
    );
    assert!(t.vault.library(&scope).get(track.id).is_ok());
    assert!(t.vault.blob_path(scope.owner(), track.blob).exists());
    assert!(admin.purge_due_accounts().unwrap().purged.is_empty());
    t.advance_secs(30 * 86_400 + 1);
    assert_eq!(
        admin.purge_due_accounts().unwrap().purged,
        vec![scope.owner()]
    );
}

/// One account whose purge fails (a record it cannot read) stops no other account's purge;
/// the failure is reported with its account.
#[test]
fn a_failing_purge_does_not_keep_the_other_due_accounts() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
    let (broken, _) = account_with_everything(&t, "broken@studio.test");
    let (_, gone) = t.user("gone@studio.test");
    let (_, later) = t.user("later@studio.test");
    for owner in [broken.owner(), gone.owner(), later.owner()] {
        t.vault.admin().schedule_deletion(owner).unwrap();
    }
    let txn = t.vault.db().begin_write().unwrap();
    txn.open_table(crate::store::TRACKS)
        .unwrap()
        .insert((broken.owner().raw(), 7), &b"not a track"[..])
        .unwrap();
    txn.commit().unwrap();
    t.advance_secs(86_400 + 1);

    let report = t.vault.admin().purge_due_accounts().unwrap();
    let mut purged = report.purged.clone();
    purged.sort_by_key(|id| id.raw());
    let mut expected = vec![gone.owner(), later.owner()];
    expected.sort_by_key(|id| id.raw());
    assert_eq!(purged, expected, "{report:?}");
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert_eq!(report.failures[0].account, Some(broken.owner()));
    assert!(
        report.failures[0]
            .to_string()
            .contains(&broken.owner().to_string())
    );
    assert!(t.vault.admin().find("broken@studio.test").is_ok());
}

/// Two accounts with audio, and the store's `tenant_keys` emptied (or only `lost`'s key gone):
/// what a restore whose keyring step failed leaves.
fn two_accounts_losing_keys(t: &TestVault, lost: &[usize]) -> Vec<(OwnerScope, TrackRecord)> {
    let accounts: Vec<_> = ["ana@studio.test", "ben@studio.test"]
        .iter()
        .map(|email| {
            let (_, scope) = t.user(email);
            let track = t.upload(&scope, AUDIO);
            (scope, track)
        })
        .collect();
    let txn = t.vault.db().begin_write().unwrap();
    {
        let mut keys = txn.open_table(crate::store::TENANT_KEYS).unwrap();
        for &i in lost {
            keys.remove(accounts[i].0.owner().raw()).unwrap();
        }
    }
    txn.commit().unwrap();
    accounts
}

fn replica_deletions(t: &TestVault) -> usize {
    let txn = t.vault.db().begin_read().unwrap();
    txn.open_table(crate::store::REPLICATION_QUEUE)
        .unwrap()
        .iter()
        .unwrap()
        .filter(|row| {
            let task: records::ReplicaTask =
                crate::store::decode("replication_queue", row.as_ref().unwrap().1.value()).unwrap();
            task.op == ReplicaOp::Delete
        })
        .count()
}

/// A store whose keyring is missing as a whole (a restore whose keyring step failed) is no
/// evidence that anyone was purged: housekeeping keeps every account, its records, files and
/// replicas, and reports the missing keyring once.
#[test]
fn a_store_whose_keyring_is_missing_keeps_every_account() {
    let t = TestVault::new();
    let accounts = two_accounts_losing_keys(&t, &[0, 1]);
    let report = t.vault.admin().purge_due_accounts().unwrap();
    assert!(report.purged.is_empty(), "{report:?}");
    assert!(
        matches!(
            report.failures.as_slice(),
            [PurgeFailure {
                account: None,
                error: VaultError::KeyringMissing { accounts: 2 }
            }]
        ),
        "{report:?}"
    );
    assert_eq!(t.vault.admin().list().unwrap().len(), 2);
    for (scope, track) in &accounts {
        assert!(t.vault.library(scope).get(track.id).is_ok());
        assert!(t.vault.blob_path(scope.owner(), track.blob).exists());
    }
    assert_eq!(
        replica_deletions(&t),
        0,
        "no replica is queued for deletion"
    );
}

/// One account's key missing while the others' are there is no evidence either, without the
/// restore's note that the account was purged after its snapshot: it is kept and reported.
#[test]
fn an_account_missing_only_its_key_is_kept_without_a_restores_note() {
    let t = TestVault::new();
    let accounts = two_accounts_losing_keys(&t, &[0]);
    let report = t.vault.admin().purge_due_accounts().unwrap();
    assert!(report.purged.is_empty(), "{report:?}");
    let (scope, track) = &accounts[0];
    assert!(
        matches!(
            report.failures.as_slice(),
            [PurgeFailure {
                account: Some(id),
                error: VaultError::TenantKeyMissing
            }] if id == &scope.owner()
        ),
        "{report:?}"
    );
    assert!(t.vault.library(scope).get(track.id).is_ok());
    assert!(t.vault.blob_path(scope.owner(), track.blob).exists());
    assert_eq!(replica_deletions(&t), 0);
}

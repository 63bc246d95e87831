//! Where records end, across features: an account's lifecycle (deletion request, grace,
//! purge, crypto-shred of its tenant key) and a track's deletion. Both reach every feature that
//! holds rows about what goes, so they sit above the features, which never call each other
//! for it.
//!
//! The account purge runs [`PURGE_STEPS`], each feature's own `purge_owner`, in one
//! transaction, then checks against the table registry that no table the purge empties still
//! holds a row of the account ([`records::check_purged`]); only then does it commit. The audit
//! records and the deletions of the account's replicas are kept, as the registry declares.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use studiovault_api::AccountStatus;

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::{TrackId, UserId};
use crate::library::{self, Library, TrackBlobs};
use crate::records::{self, UserRecord, edit_user, get_user};
use crate::store::{LEGAL_REQUESTS, SHARES, USERS};
use crate::users::{self, Account, Admin, Recheck, end_access};
use crate::{
    ClientInfo, Vault, fsutil, incidents, jobs, legal, outbox, replication, review, shares,
};

/// One feature's part of an account purge, inside the purge's transaction.
type PurgeStep = fn(&Vault, &WriteTransaction, UserId) -> Result<()>;

/// Every feature's part of an account purge, in one transaction: the features' rows, then the
/// replication queue (once every blob's deletion is queued), the account, and its key.
const PURGE_STEPS: [PurgeStep; 10] = [
    library::purge_owner,
    |_, txn, owner| review::purge_owner(txn, owner),
    shares::purge_owner,
    outbox::purge_owner,
    legal::purge_owner,
    jobs::purge_owner,
    incidents::purge_owner,
    replication::purge_owner,
    users::purge_owner,
    records::shred_tenant_key,
];

impl Account<'_> {
    /// Schedules the purge of this account after the grace period: sign-in is disabled and
    /// every session ends now. Answers the purge time (Unix ms).
    pub fn request_deletion(
        &self,
        password: &str,
        totp: Option<&str>,
        client: &ClientInfo,
    ) -> Result<i64> {
        self.reauthenticate(password, totp, Recheck::Deletion, client)?;
        schedule_deletion(
            self.vault,
            self.owner,
            Actor::User(self.owner),
            Some(client),
        )
    }
}

impl Admin<'_> {
    pub fn schedule_deletion(&self, id: UserId) -> Result<i64> {
        schedule_deletion(self.vault, id, Actor::Admin, None)
    }

    /// Cancels a scheduled deletion: the account is back as it was before, active, or
    /// suspended when the deletion was scheduled for a suspended account.
    pub fn cancel_deletion(&self, id: UserId) -> Result<UserRecord> {
        self.update_user(id, AuditAction::DeletionCancel, None, |rec| {
            match rec.status {
                AccountStatus::PendingDeletion { .. } => {
                    rec.status = match rec.suspended_before_deletion.take() {
                        Some(since) => AccountStatus::Suspended { since },
                        None => AccountStatus::Active,
                    };
                    Ok(())
                }
                _ => Err(VaultError::invalid("user", "no deletion is scheduled")),
            }
        })
    }

    /// Purges every account whose grace period is over: tracks, blobs, shares, sessions,
    /// records and the tenant key.
    /// Also purges again the accounts a restored snapshot brought back after their purge:
    /// those the restore noted, when the keyring it put in no longer held their key. A key
    /// merely missing is no such evidence (a restore whose keyring step failed leaves every
    /// account without one): such an account is kept and reported, and a store with accounts
    /// and no key at all is reported once. An account a legal hold holds is kept until the
    /// hold is released. One account's failure stops no other's purge: each is in the report.
    pub fn purge_due_accounts(&self) -> Result<PurgeReport> {
        let now = self.vault.now_ms();
        let keyless = records::keyless_accounts(self.vault)?;
        let mut report = PurgeReport::default();
        let users = self.list()?;
        if keyless.keyring_missing {
            let error = VaultError::KeyringMissing {
                accounts: users.len() as u64,
            };
            tracing::error!(error = %error, "no account is purged for a missing key");
            report.failures.push(PurgeFailure {
                account: None,
                error,
            });
        }
        let due: Vec<(UserId, Purged)> = users
            .into_iter()
            .filter_map(|u| {
                let after_grace = matches!(u.status, AccountStatus::PendingDeletion { purge_after, .. } if purge_after <= now);
                if keyless.purged_after_snapshot.contains(&u.id) {
                    Some((u.id, Purged::Again))
                } else if after_grace {
                    Some((u.id, Purged::AfterGrace))
                } else {
                    if keyless.unexplained.contains(&u.id) && !keyless.keyring_missing {
                        tracing::error!(user = %u.id, "account without a tenant key kept: nothing says it was purged");
                        report.failures.push(PurgeFailure {
                            account: Some(u.id),
                            error: VaultError::TenantKeyMissing,
                        });
                    }
                    None
                }
            })
            .collect();
        for (id, why) in due {
            match purge_account(self.vault, id, why) {
                Ok(true) => {
                    tracing::info!(user = %id, ?why, "account purged");
                    report.purged.push(id);
                }
                Ok(false) => {
                    tracing::info!(user = %id, ?why, "account no longer due for its purge")
                }
                Err(VaultError::LegalHold) => {
                    tracing::info!(
                        user = %id,
                        ?why,
                        "account due for its purge kept: a legal hold holds it"
                    );
                    report.held.push(id);
                }
                Err(e) => {
                    tracing::error!(user = %id, ?why, error = %e, "account purge failed; the others go on");
                    report.failures.push(PurgeFailure {
                        account: Some(id),
                        error: e,
                    });
                }
            }
        }
        Ok(report)
    }
}

/// What one pass of [`Admin::purge_due_accounts`] did.
#[derive(Debug, Default)]
pub struct PurgeReport {
    pub purged: Vec<UserId>,
    /// Due, and kept by a legal hold.
    pub held: Vec<UserId>,
    /// What could not be purged, and why; every other due account was purged regardless.
    pub failures: Vec<PurgeFailure>,
}

/// A purge that did not happen.
#[derive(Debug)]
pub struct PurgeFailure {
    /// The account, or `None` for what kept the whole store from purging.
    pub account: Option<UserId>,
    pub error: VaultError,
}

impl std::fmt::Display for PurgeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.account {
            Some(id) => write!(f, "purge of account {id}: {}", self.error),
            None => write!(f, "account purges: {}", self.error),
        }
    }
}

/// Disables sign-in and ends every session now, and sets the purge after the grace period;
/// answers the purge time (Unix ms).
fn schedule_deletion(
    vault: &Vault,
    user: UserId,
    actor: Actor,
    client: Option<&ClientInfo>,
) -> Result<i64> {
    vault.audited(client, |txn, now| {
        let purge_after = now + vault.policy().deletion_grace_days * 86_400_000;
        edit_user(txn, user, |rec| {
            rec.suspended_before_deletion = match rec.status {
                AccountStatus::PendingDeletion { .. } => {
                    return Err(VaultError::invalid(
                        "account",
                        "deletion is already scheduled",
                    ));
                }
                // Kept for a cancellation to restore.
                AccountStatus::Suspended { since } => Some(since),
                AccountStatus::Active => None,
            };
            rec.status = AccountStatus::PendingDeletion {
                requested_at: now,
                purge_after,
            };
            Ok(())
        })?;
        end_access(txn, user)?;
        let event = AuditEvent::new(actor, Some(user), AuditAction::DeletionRequest)
            .detail(format!("purge after {purge_after}"));
        Ok((purge_after, event))
    })
}

/// Why an account is purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purged {
    /// Its deletion grace is over.
    AfterGrace,
    /// It was purged before, and a restored snapshot brought its records back without a key.
    Again,
}

/// Deletes an account due for its purge entirely, in one transaction: every feature's rows,
/// then its data key; then its blob files. From the commit on, every copy of its blobs (B2
/// replicas, backups) is unreadable, since its key is gone. Answers `false`, purging nothing,
/// when the account is no longer due (checked again in the purge's transaction).
fn purge_account(vault: &Vault, owner: UserId, why: Purged) -> Result<bool> {
    let purged = vault.audited_if_changed(None, |txn, now| {
        let Some(user) = get_user(&txn.open_table(USERS)?, owner)? else {
            return Ok((false, None));
        };
        // Read again in the purge's transaction: the deletion may have been cancelled, or
        // cancelled and requested again with a new grace, since the account was found due.
        if why == Purged::AfterGrace
            && !matches!(user.status, AccountStatus::PendingDeletion { purge_after, .. } if purge_after <= now)
        {
            return Ok((false, None));
        }
        if records::held(&txn.open_table(LEGAL_REQUESTS)?, owner)? {
            return Err(VaultError::LegalHold);
        }
        let shares = txn
            .open_table(SHARES)?
            .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?
            .count();
        for step in PURGE_STEPS {
            step(vault, txn, owner)?;
        }
        records::check_purged(txn, owner)?;
        let detail = match why {
            Purged::AfterGrace => {
                let certificate = certificate_of_deletion(vault, &user, shares, now);
                let certificate_id = certificate.values[0].1.clone();
                outbox::queue_mail(txn, certificate, now)?;
                format!("certificate {certificate_id}")
            }
            // The certificate went out at the first purge.
            Purged::Again => "again, after a restore: its key was already gone".to_owned(),
        };
        let event = AuditEvent::new(Actor::System, Some(owner), AuditAction::AccountPurge)
            .object(format!("user/{owner}"))
            .detail(detail);
        Ok((true, Some(event)))
    })?;
    if !purged {
        return Ok(false);
    }
    let _backup_copying = vault.blob_removal_gate();
    let dir = vault.blob_root().join(owner.to_string());
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
        fsutil::sync_dir(&vault.blob_root())?;
    }
    Ok(true)
}

/// The certificate of deletion mailed to the purged account's address, queued in the purge's
/// transaction. It is no account's message (the account is gone), so the outbox drops the
/// address once it is sent. The first value is the certificate's id, which the audit record
/// of the purge names.
fn certificate_of_deletion(
    vault: &Vault,
    user: &UserRecord,
    shares: usize,
    now: i64,
) -> outbox::MailDraft {
    let requested_at = match user.status {
        AccountStatus::PendingDeletion { requested_at, .. } => requested_at,
        _ => now,
    };
    let policy = vault.policy();
    let values = [
        ("certificate", format!("{:032x}", rand::random::<u128>())),
        ("account", user.id.to_string()),
        ("requested_at", utc_minute(requested_at)),
        ("purged_at", utc_minute(now)),
        ("tracks", user.track_count.to_string()),
        ("bytes", format!("{:.1} MB", user.used_bytes as f64 / 1e6)),
        ("shares", shares.to_string()),
        (
            "replica_days",
            (policy.replica_delete_delay_secs / 86_400)
                .max(1)
                .to_string(),
        ),
        ("backup_weeks", policy.backup_retention_weeks.to_string()),
    ];
    outbox::MailDraft {
        to: user.email.clone(),
        account: None,
        template: "deletion-certificate".into(),
        values: values.map(|(k, v)| (k.to_owned(), v)).to_vec(),
        topic: "deletion".into(),
    }
}

/// `2026-12-06 07:30 UTC`
fn utc_minute(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

impl Library<'_> {
    /// Deletes the track and the recipients' copies of it: metadata first (so it is gone at
    /// once), then the blob files.
    /// A track's stems go with it.
    /// While a legal hold holds the owner, the track and its stems leave the library alike but
    /// are kept, audio and all, for the hold (`legal/held.rs`).
    pub fn delete(&self, id: TrackId, client: &ClientInfo) -> Result<()> {
        let blobs = self.vault.audited_each(Some(client), |txn, now| {
            let hold = records::holding(&txn.open_table(LEGAL_REQUESTS)?, self.owner)?;
            let fate = match hold {
                Some(_) => TrackBlobs::Keep,
                None => TrackBlobs::Remove,
            };
            let mut removed = Vec::new();
            let mut blobs = Vec::new();
            let rec = library::remove_track_in(self.vault, txn, self.owner, id, fate)?;
            let mut detail = format!("blob {}", rec.blob);
            for stem in rec.stems.clone() {
                let stem_rec = library::remove_track_in(self.vault, txn, self.owner, stem, fate)?;
                detail.push_str(&format!("; stem track/{stem} blob {}", stem_rec.blob));
                removed.push(stem_rec);
            }
            removed.insert(0, rec);
            let mut events = vec![
                AuditEvent::by_owner(self.owner, AuditAction::TrackDelete)
                    .object(format!("track/{id}"))
                    .detail(detail),
            ];
            for rec in removed {
                review::remove_track_in(txn, self.owner, rec.id)?;
                blobs.extend(shares::remove_track_in(self.vault, txn, self.owner, &rec)?);
                match &hold {
                    Some(request) => events.push(legal::keep_in(txn, rec, request, now)?),
                    None => blobs.extend(std::iter::once(rec.blob).chain(rec.peaks_blob())),
                }
            }
            Ok((blobs, events))
        })?;
        let _backup_copying = self.vault.blob_removal_gate();
        for blob in blobs {
            remove_blob_file(&self.vault.blob_path(self.owner, blob));
        }
        Ok(())
    }
}

impl Vault {
    /// Removes the recipients' marked copies of shares (and of recipients) that ended more
    /// than `after_days` ago, one audited transaction per share, then their files. Answers
    /// how many copies went.
    pub fn expire_ended_share_copies(&self, after_days: i64) -> Result<u64> {
        let ended_before = self.now_ms() - after_days * 86_400_000;
        let ended: Vec<shares::ShareRecord> = {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(SHARES)?;
            // Every share: a live one may have recipients revoked long ago.
            let mut found = Vec::new();
            for row in table.iter()? {
                found.push(crate::store::decode("shares", row?.1.value())?);
            }
            found
        };
        let mut removed = 0;
        for share in ended {
            let blobs = self.audited_if_changed(None, |txn, _| {
                let blobs =
                    shares::remove_ended_copies_in(self, txn, share.owner, share.id, ended_before)?;
                let event = (!blobs.is_empty()).then(|| {
                    AuditEvent::new(
                        Actor::System,
                        Some(share.owner),
                        AuditAction::ShareCopiesExpire,
                    )
                    .object(format!("share/{}", share.id))
                    .detail(format!(
                        "{} recipient copies, ended over {after_days} days ago",
                        blobs.len()
                    ))
                });
                Ok((blobs, event))
            })?;
            let _backup_copying = self.blob_removal_gate();
            for blob in &blobs {
                remove_blob_file(&self.blob_path(share.owner, *blob));
            }
            removed += blobs.len() as u64;
        }
        Ok(removed)
    }
}

impl Vault {
    /// Gives up the jobs whose executor stopped as `how` says on their last attempt (see
    /// [`jobs::stopped_spent`]), each in an audited transaction that also records what it means
    /// for the job's subject, as the executor would have on a failure: a track's analysis
    /// fails, a message is failed. A recipient's copy and stems show their job's own failed
    /// state. Answers how many were given up.
    ///
    /// It lives here, above the features, because the job table below them cannot reach their
    /// records; the job table calls it before it leases or releases.
    pub(crate) fn give_up_stopped_jobs(&self, how: jobs::Stopped) -> Result<u64> {
        let mut given_up = 0;
        for id in jobs::stopped_spent(self, how)? {
            let done = self.audited_if_changed(None, |txn, _| {
                let Some(job) = jobs::give_up_stopped_in(txn, id, how)? else {
                    return Ok((None, None));
                };
                let reason = match &job.state {
                    jobs::JobState::Failed { reason } => reason.clone(),
                    _ => String::new(),
                };
                match (job.kind, job.subject) {
                    (jobs::JobKind::Analysis, jobs::JobSubject::Track { track }) => {
                        library::analysis::given_up_in(txn, job.owner, track, &reason)?;
                    }
                    (jobs::JobKind::Mail, jobs::JobSubject::Message { message }) => {
                        outbox::given_up_in(txn, message, &reason)?;
                    }
                    (jobs::JobKind::Analysis | jobs::JobKind::Mail, _)
                    | (jobs::JobKind::Render | jobs::JobKind::Stems, _) => {}
                }
                let owner = (job.owner != UserId::APPLIANCE).then_some(job.owner);
                let event = AuditEvent::new(Actor::System, owner, AuditAction::JobGiveUp)
                    .object(format!("job/{:032x}", job.id))
                    .detail(format!("{}: {reason}", job.subject.key(job.kind)));
                Ok((Some(job), Some(event)))
            })?;
            if let Some(job) = done {
                tracing::warn!(
                    job = %format!("{:032x}", job.id),
                    kind = job.kind.as_str(),
                    attempts = job.attempts,
                    "job given up: its executor stopped without a result on its last attempt"
                );
                given_up += 1;
            }
        }
        Ok(given_up)
    }
}

pub(crate) fn remove_blob_file(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                let _ = fsutil::sync_dir(dir);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // The metadata is gone, so the file is an orphan the next start-up sweep removes.
        Err(e) => tracing::warn!(error = %e, "could not remove a deleted track's blob file"),
    }
}

#[cfg(test)]
mod tests;

//! The tamper-evident audit log (invariant 4).
//!
//! Record `n` stores `hash_n = SHA-256(hash_{n-1} ‖ JSON(body_n))`, with `hash_0 = 0³²`, so
//! editing, dropping or reordering a record breaks every later link. Periodic checkpoints sign
//! `(n, hash_n, time)` with an ed25519 key derived from the master key: a copy of the store
//! without the master key (a B2 replica, a restic snapshot, a stolen disk image without the key
//! file) cannot be rewritten or cut short without the signatures showing it.
//!
//! Records are appended inside the same write transaction as the change they describe, by one
//! primitive: [`Vault::audited`] opens the transaction, runs the change, appends its event and
//! commits, so a state change written through it cannot commit without its record.

use std::collections::{BTreeMap, HashSet};

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use studiovault_api::admin::{
    AuditEntry, AuditProblem, AuditProblemKind, AuditQuery, AuditVerifyReport,
};

use crate::error::Result;
use crate::ids::{RecipientId, UploadLinkId, UserId, WorkerId};
use crate::store::{AUDIT, AUDIT_CHECKPOINTS, JOBS, decode, encode};
use crate::{ClientInfo, Vault};

/// Who performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    /// A share recipient, through their link.
    Recipient(RecipientId),
    Admin,
    System,
    /// An enrolled stem worker, by its token.
    Worker(WorkerId),
    /// Someone not (yet) authenticated: a failed sign-in.
    Anonymous,
    /// A client sending files through an owner's upload link.
    UploadLink(UploadLinkId),
}

impl Actor {
    fn label(self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Recipient(id) => format!("recipient:{id}"),
            Actor::Admin => "admin".into(),
            Actor::Worker(id) => format!("worker:{id}"),
            Actor::System => "system".into(),
            Actor::Anonymous => "anonymous".into(),
            Actor::UploadLink(id) => format!("upload_link:{id}"),
        }
    }
}

/// Every action the log knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    UserCreate,
    UserSuspend,
    UserResume,
    UserUpdate,
    PasswordReset,
    PasswordChange,
    /// A second factor enrolled, not yet confirmed.
    TotpSetup,
    TotpEnable,
    TotpDisable,
    TotpReset,
    SessionCreate,
    SessionRevoke,
    /// A sign-in refused for a wrong password or second-factor code.
    LoginFailed,
    /// A signed-in owner's password or code re-check failed (export, password change, ...).
    ReauthFailed,
    TrackUpload,
    TrackDownload,
    TrackRename,
    TrackDelete,
    TrackAnalyze,
    TrackTranscribe,
    SettingsChange,
    DeletionRequest,
    DeletionCancel,
    AccountPurge,
    ShareCreate,
    ShareUpdate,
    ShareRevoke,
    RecipientRevoke,
    ShareOpen,
    SharePlay,
    ShareDownload,
    ShareRender,
    /// A wrong password at a share link's unlock form.
    ShareUnlockFailed,
    LeakTrace,
    AccountExport,
    /// An owner asked for a track's stems.
    StemsRequest,
    /// An owner cancelled a separation.
    StemsCancel,
    /// A stem worker read a job's source audio.
    StemsSourceRead,
    /// A stem worker's stems were stored in the owner's vault.
    StemsStore,
    WorkerEnrol,
    WorkerDrain,
    WorkerResume,
    WorkerRevoke,
    WorkerDelete,
    /// The relay took a message of the outbox.
    MailSent,
    /// A message was given up on.
    MailFailed,
    /// The admin queued again the messages given up on.
    MailRetry,
    /// Blobs whose replica a check found missing or different were queued for upload again.
    ReplicaRequeue,
    /// A job was given up on: its executor stopped without a result on its last attempt.
    JobGiveUp,
    /// Recipients' copies of a share that ended long enough ago were removed.
    ShareCopiesExpire,
    /// The owner changed their display name.
    NameChange,
    /// An e-mail change started: a confirmation link went to the new address.
    EmailChangeStart,
    /// The owner cancelled an e-mail change waiting for its link.
    EmailChangeCancel,
    /// An e-mail change confirmed through its link.
    EmailChange,
    /// The owner restricted processing of their account, or lifted the restriction.
    Restriction,
    /// The owner objected to one processing purpose, or withdrew the objection.
    Objection,
    IncidentCreate,
    IncidentConfirm,
    /// The accounts an incident affects were chosen.
    IncidentAffected,
    /// A breach notice was sent to the affected accounts.
    IncidentNotify,
    IncidentNote,
    IncidentResolve,
    /// An owner dismissed a breach notice's banner.
    NoticeDismiss,
    /// A legal request recorded, held, released, gagged, noticed, handed over, decided.
    LegalReceive,
    LegalHold,
    LegalRelease,
    LegalGag,
    LegalNotice,
    LegalExport,
    /// The admin read a track's audio to hand it over for a legal request.
    LegalAudioRead,
    /// A track its owner deleted was kept: a legal hold holds the account.
    LegalKeep,
    /// What holds kept went, once no hold held the account.
    LegalDiscard,
    LegalDecide,
    CommentAdd,
    /// A thread resolved or reopened, or shown to every recipient of its share.
    CommentChange,
    CommentDelete,
    UploadLinkCreate,
    UploadLinkRevoke,
    /// A file arrived through an upload link.
    UploadLinkReceive,
    /// A wrong password at an upload link.
    UploadLinkUnlockFailed,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreate => "user.create",
            Self::UserSuspend => "user.suspend",
            Self::UserResume => "user.resume",
            Self::UserUpdate => "user.update",
            Self::PasswordReset => "user.password_reset",
            Self::PasswordChange => "account.password_change",
            Self::TotpSetup => "account.totp_setup",
            Self::TotpEnable => "account.totp_enable",
            Self::TotpDisable => "account.totp_disable",
            Self::TotpReset => "user.totp_reset",
            Self::SessionCreate => "session.create",
            Self::SessionRevoke => "session.revoke",
            Self::LoginFailed => "session.login_failed",
            Self::ReauthFailed => "account.reauth_failed",
            Self::TrackUpload => "track.upload",
            Self::TrackDownload => "track.download",
            Self::TrackRename => "track.rename",
            Self::TrackDelete => "track.delete",
            Self::TrackAnalyze => "track.analyze",
            Self::TrackTranscribe => "track.transcribe",
            Self::SettingsChange => "account.settings",
            Self::DeletionRequest => "account.deletion_request",
            Self::DeletionCancel => "account.deletion_cancel",
            Self::AccountPurge => "account.purge",
            Self::ShareCreate => "share.create",
            Self::ShareUpdate => "share.update",
            Self::ShareRevoke => "share.revoke",
            Self::RecipientRevoke => "share.recipient_revoke",
            Self::ShareOpen => "share.open",
            Self::SharePlay => "share.play",
            Self::ShareDownload => "share.download",
            Self::ShareRender => "share.render",
            Self::ShareUnlockFailed => "share.unlock_failed",
            Self::LeakTrace => "leak.trace",
            Self::AccountExport => "account.export",
            Self::StemsRequest => "stems.request",
            Self::StemsCancel => "stems.cancel",
            Self::StemsSourceRead => "stems.source_read",
            Self::StemsStore => "stems.store",
            Self::WorkerEnrol => "worker.enrol",
            Self::WorkerDrain => "worker.drain",
            Self::WorkerResume => "worker.resume",
            Self::WorkerRevoke => "worker.revoke",
            Self::WorkerDelete => "worker.delete",
            Self::MailSent => "mail.sent",
            Self::MailFailed => "mail.failed",
            Self::MailRetry => "mail.retry",
            Self::ReplicaRequeue => "replica.requeue",
            Self::JobGiveUp => "job.give_up",
            Self::ShareCopiesExpire => "share.copies_expire",
            Self::NameChange => "account.name_change",
            Self::EmailChangeStart => "account.email_change_start",
            Self::EmailChangeCancel => "account.email_change_cancel",
            Self::EmailChange => "account.email_change",
            Self::Restriction => "account.restriction",
            Self::Objection => "account.objection",
            Self::IncidentCreate => "incident.create",
            Self::IncidentConfirm => "incident.confirm",
            Self::IncidentAffected => "incident.affected",
            Self::IncidentNotify => "incident.notify",
            Self::IncidentNote => "incident.note",
            Self::IncidentResolve => "incident.resolve",
            Self::NoticeDismiss => "notice.dismiss",
            Self::LegalReceive => "legal.receive",
            Self::LegalHold => "legal.hold",
            Self::LegalRelease => "legal.release",
            Self::LegalGag => "legal.gag",
            Self::LegalNotice => "legal.notice",
            Self::LegalExport => "legal.export",
            Self::LegalAudioRead => "legal.audio_read",
            Self::LegalKeep => "legal.keep",
            Self::LegalDiscard => "legal.discard",
            Self::LegalDecide => "legal.decide",
            Self::CommentAdd => "comment.add",
            Self::CommentChange => "comment.change",
            Self::CommentDelete => "comment.delete",
            Self::UploadLinkCreate => "upload_link.create",
            Self::UploadLinkRevoke => "upload_link.revoke",
            Self::UploadLinkReceive => "upload_link.receive",
            Self::UploadLinkUnlockFailed => "upload_link.unlock_failed",
        }
    }
}

/// What a change hands [`Vault::audited`]; it adds the client's hash, and the chain adds
/// sequence, time and hashes.
#[derive(Debug, Clone)]
pub(crate) struct AuditEvent {
    pub actor: Actor,
    pub owner: Option<UserId>,
    pub action: AuditAction,
    pub object: Option<String>,
    pub client: Option<String>,
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(actor: Actor, owner: Option<UserId>, action: AuditAction) -> Self {
        Self {
            actor,
            owner,
            action,
            object: None,
            client: None,
            detail: None,
        }
    }

    /// An owner's action on their own data.
    pub fn by_owner(owner: UserId, action: AuditAction) -> Self {
        Self::new(Actor::User(owner), Some(owner), action)
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The hashed part of a record. Field order is the canonical encoding: never reorder.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Body {
    seq: u64,
    at_ms: i64,
    actor: String,
    owner: Option<String>,
    action: String,
    object: Option<String>,
    client: Option<String>,
    detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    body: Body,
    prev: String,
    hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    seq: u64,
    hash: String,
    at_ms: i64,
    signature: String,
}

fn chain_hash(prev: &[u8; 32], body: &Body) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(encode(body));
    h.finalize().into()
}

fn checkpoint_message(seq: u64, hash: &str, at_ms: i64) -> Vec<u8> {
    let mut m = b"studiovault audit checkpoint v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m.extend_from_slice(&at_ms.to_be_bytes());
    m
}

/// Appends `event` in `txn`; answers its sequence number. Called by [`Vault::audited_each`] alone.
fn append(txn: &WriteTransaction, at_ms: i64, event: AuditEvent) -> Result<u64> {
    let mut table = txn.open_table(AUDIT)?;
    let (seq, prev) = match table.last()? {
        None => (1, [0u8; 32]),
        Some((k, v)) => {
            let raw = v.value();
            // A damaged head must not stop the vault from working; verification reports it.
            let prev = serde_json::from_slice::<Stored>(raw)
                .ok()
                .and_then(|s| <[u8; 32]>::try_from(hex::decode(s.hash).ok()?).ok())
                .unwrap_or_else(|| Sha256::digest(raw).into());
            (k.value() + 1, prev)
        }
    };
    let body = Body {
        seq,
        at_ms,
        actor: event.actor.label(),
        owner: event.owner.map(|o| o.to_string()),
        action: event.action.as_str().to_owned(),
        object: event.object,
        client: event.client,
        detail: event.detail,
    };
    let hash = chain_hash(&prev, &body);
    let stored = Stored {
        body,
        prev: hex::encode(prev),
        hash: hex::encode(hash),
    };
    table.insert(seq, encode(&stored).as_slice())?;
    Ok(seq)
}

fn to_entry(s: Stored) -> AuditEntry {
    AuditEntry {
        seq: s.body.seq,
        at_ms: s.body.at_ms,
        actor: s.body.actor,
        owner: s.body.owner,
        action: s.body.action,
        object: s.body.object,
        client: s.body.client,
        detail: s.body.detail,
        hash: s.hash,
    }
}

/// Visits every readable record of `table`, oldest first (verification reports the others).
pub(crate) fn each_entry(
    table: &impl ReadableTable<u64, &'static [u8]>,
    mut visit: impl FnMut(AuditEntry),
) -> Result<()> {
    for row in table.iter()? {
        if let Ok(stored) = serde_json::from_slice::<Stored>(row?.1.value()) {
            visit(to_entry(stored));
        }
    }
    Ok(())
}

fn problem(seq: u64, kind: AuditProblemKind, message: String) -> AuditProblem {
    AuditProblem { seq, kind, message }
}

impl Vault {
    pub fn audit_public_key(&self) -> VerifyingKey {
        self.inner.checkpoint_key.verifying_key()
    }

    /// Signs the chain head if it moved since the last checkpoint; answers the new
    /// checkpoint's sequence number.
    pub fn audit_checkpoint(&self) -> Result<Option<u64>> {
        let txn = self.begin_write()?;
        let head = {
            let audit = txn.open_table(AUDIT)?;
            let mut checkpoints = txn.open_table(AUDIT_CHECKPOINTS)?;
            let head = match audit.last()? {
                Some((k, v)) => (k.value(), decode::<Stored>("audit", v.value())?.hash),
                None => return Ok(None),
            };
            let last = checkpoints.last()?.map(|(k, _)| k.value());
            if last >= Some(head.0) {
                return Ok(None);
            }
            let at_ms = self.now_ms();
            let signature = self
                .inner
                .checkpoint_key
                .sign(&checkpoint_message(head.0, &head.1, at_ms));
            let cp = Checkpoint {
                seq: head.0,
                hash: head.1,
                at_ms,
                signature: hex::encode(signature.to_bytes()),
            };
            checkpoints.insert(head.0, encode(&cp).as_slice())?;
            head.0
        };
        txn.commit()?;
        Ok(Some(head))
    }

    /// Walks the whole chain and every checkpoint; reports the first problem by sequence.
    pub fn audit_verify(&self) -> Result<AuditVerifyReport> {
        let key = self.audit_public_key();
        let txn = self.db().begin_read()?;
        let audit = txn.open_table(AUDIT)?;
        let cps = txn.open_table(AUDIT_CHECKPOINTS)?;

        let mut first: Option<AuditProblem> = None;
        let mut note = |p: AuditProblem| {
            if first.as_ref().is_none_or(|f| p.seq < f.seq) {
                first = Some(p);
            }
        };

        let mut checkpoints = BTreeMap::new();
        for row in cps.iter()? {
            let (k, v) = row?;
            let seq = k.value();
            let Ok(cp) = serde_json::from_slice::<Checkpoint>(v.value()) else {
                note(problem(
                    seq,
                    AuditProblemKind::BadCheckpoint,
                    "unreadable checkpoint".into(),
                ));
                continue;
            };
            let valid = <[u8; 64]>::try_from(hex::decode(&cp.signature).unwrap_or_default())
                .ok()
                .map(|sig| Signature::from_bytes(&sig))
                .is_some_and(|sig| {
                    cp.seq == seq
                        && key
                            .verify_strict(&checkpoint_message(cp.seq, &cp.hash, cp.at_ms), &sig)
                            .is_ok()
                });
            if !valid {
                note(problem(
                    seq,
                    AuditProblemKind::BadCheckpoint,
                    format!("the signature of checkpoint #{seq} does not verify"),
                ));
                continue;
            }
            checkpoints.insert(seq, cp.hash);
        }

        let mut expected = 1u64;
        let mut prev = [0u8; 32];
        let mut records = 0u64;
        let mut last_good_checkpoint = None;
        for row in audit.iter()? {
            let (k, v) = row?;
            let seq = k.value();
            records += 1;
            if seq != expected {
                note(problem(
                    expected,
                    AuditProblemKind::Missing,
                    format!("records #{expected} to #{} are missing", seq - 1),
                ));
            }
            expected = seq + 1;
            let Ok(stored) = serde_json::from_slice::<Stored>(v.value()) else {
                note(problem(
                    seq,
                    AuditProblemKind::Unreadable,
                    format!("record #{seq} cannot be parsed"),
                ));
                prev = Sha256::digest(v.value()).into();
                continue;
            };
            if stored.prev != hex::encode(prev) {
                note(problem(
                    seq,
                    AuditProblemKind::BrokenLink,
                    format!(
                        "record #{seq} does not chain to record #{}",
                        seq.saturating_sub(1)
                    ),
                ));
            }
            let computed = chain_hash(
                &<[u8; 32]>::try_from(hex::decode(&stored.prev).unwrap_or_default())
                    .unwrap_or([0u8; 32]),
                &stored.body,
            );
            if hex::encode(computed) != stored.hash || stored.body.seq != seq {
                note(problem(
                    seq,
                    AuditProblemKind::Altered,
                    format!("record #{seq} was altered: its content does not match its hash"),
                ));
            }
            if let Some(signed) = checkpoints.get(&seq) {
                if *signed == stored.hash {
                    last_good_checkpoint = Some(seq);
                } else {
                    note(problem(
                        seq,
                        AuditProblemKind::BadCheckpoint,
                        format!("record #{seq} differs from what checkpoint #{seq} signed"),
                    ));
                }
            }
            prev = <[u8; 32]>::try_from(hex::decode(&stored.hash).unwrap_or_default())
                .unwrap_or(computed);
        }
        let head = expected - 1;
        if let Some((&signed_seq, _)) = checkpoints.range(head + 1..).next() {
            note(problem(
                head + 1,
                AuditProblemKind::Truncated,
                format!(
                    "a signed checkpoint vouches for record #{signed_seq}, but the log ends at #{head}"
                ),
            ));
        }
        Ok(AuditVerifyReport {
            ok: first.is_none(),
            records,
            checkpoints: checkpoints.len() as u64,
            last_checkpoint_seq: last_good_checkpoint,
            first_problem: first,
            public_key: hex::encode(key.to_bytes()),
        })
    }

    /// Records matching `query`, newest first.
    pub fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let limit = query.limit.unwrap_or(100).clamp(1, 1000) as usize;
        let user = query.user.as_deref();
        let user_label = user.map(|u| format!("user:{u}"));
        let txn = self.db().begin_read()?;
        let table = txn.open_table(AUDIT)?;
        let lower = query.after.map_or(0, |a| a.saturating_add(1));
        let upper = query.before.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for row in table.range(lower..upper)?.rev() {
            let (_, v) = row?;
            let Ok(stored) = serde_json::from_slice::<Stored>(v.value()) else {
                continue;
            };
            let b = &stored.body;
            let matches = user.is_none_or(|u| {
                b.owner.as_deref() == Some(u) || Some(&b.actor) == user_label.as_ref()
            }) && query
                .action
                .as_deref()
                .is_none_or(|a| b.action == a || b.action.starts_with(&format!("{a}.")))
                && query.since_ms.is_none_or(|s| b.at_ms >= s)
                && query.until_ms.is_none_or(|u| b.at_ms <= u);
            if matches {
                out.push(to_entry(stored));
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Records of `owner`'s data and account made by anyone but `owner` (admins, the system,
    /// stem workers, recipients, refused sign-ins), newest first, below sequence `before`,
    /// leaving out those about the `withheld` objects (legal requests not yet told of).
    pub(crate) fn audit_by_others(
        &self,
        owner: UserId,
        before: Option<u64>,
        limit: usize,
        withheld: &HashSet<String>,
    ) -> Result<Vec<AuditEntry>> {
        let (owner, own_label) = (owner.to_string(), Actor::User(owner).label());
        let txn = self.db().begin_read()?;
        let table = txn.open_table(AUDIT)?;
        let mut out = Vec::new();
        for row in table.range(0..before.unwrap_or(u64::MAX))?.rev() {
            let (_, v) = row?;
            let Ok(stored) = serde_json::from_slice::<Stored>(v.value()) else {
                continue;
            };
            if stored.body.owner.as_deref() == Some(owner.as_str())
                && stored.body.actor != own_label
                && stored
                    .body
                    .object
                    .as_ref()
                    .is_none_or(|o| !withheld.contains(o))
            {
                out.push(to_entry(stored));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn audit_len(&self) -> Result<u64> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(AUDIT)?.len()?)
    }
}

impl Vault {
    /// Writes a state change with its audit record (invariant 4). Hashes the client (before the write
    /// transaction opens: it may write the day's salt), opens the transaction, runs `change`
    /// with it and the time, appends the event `change` answers in the same transaction, stamped
    /// with that time and the client's hash, and commits. Work that must wait for the commit
    /// (removing blob files) is done by the caller with what `change` answers.
    pub(crate) fn audited<T>(
        &self,
        client: Option<&ClientInfo>,
        change: impl FnOnce(&WriteTransaction, i64) -> Result<(T, AuditEvent)>,
    ) -> Result<T> {
        self.audited_if_changed(client, |txn, now| {
            let (out, event) = change(txn, now)?;
            Ok((out, Some(event)))
        })
    }

    /// [`Vault::audited`] for a change that may find nothing to change: without an event the
    /// transaction is dropped, so nothing it wrote is kept unaudited.
    pub(crate) fn audited_if_changed<T>(
        &self,
        client: Option<&ClientInfo>,
        change: impl FnOnce(&WriteTransaction, i64) -> Result<(T, Option<AuditEvent>)>,
    ) -> Result<T> {
        self.audited_each(client, |txn, now| {
            let (out, event) = change(txn, now)?;
            Ok((out, event.into_iter().collect()))
        })
    }

    /// [`Vault::audited_if_changed`] for a change that is several events (a deletion that a
    /// legal hold turns into keeping), recorded in its transaction in order.
    pub(crate) fn audited_each<T>(
        &self,
        client: Option<&ClientInfo>,
        change: impl FnOnce(&WriteTransaction, i64) -> Result<(T, Vec<AuditEvent>)>,
    ) -> Result<T> {
        let client = match client {
            Some(client) => self.hash_client(client)?.ip,
            None => None,
        };
        let now = self.now_ms();
        let txn = self.begin_write()?;
        let jobs_before = txn.open_table(JOBS)?.len()?;
        let (out, events) = change(&txn, now)?;
        if events.is_empty() {
            txn.abort()?;
            return Ok(out);
        }
        for event in events {
            append(
                &txn,
                now,
                AuditEvent {
                    client: client.clone(),
                    ..event
                },
            )?;
        }
        let queued = txn.open_table(JOBS)?.len()? > jobs_before;
        txn.commit()?;
        // The change queued work (a mail, an analysis): its runner starts now, not at its next
        // tick.
        if queued {
            self.jobs_queued();
        }
        Ok(out)
    }

    /// Records an event that is the whole change: a read of audio, an export, a trace, a
    /// refused credential.
    pub(crate) fn audit_only(&self, client: Option<&ClientInfo>, event: AuditEvent) -> Result<()> {
        self.audited(client, |_, _| Ok(((), event)))
    }

    /// Records events that together are the whole change, in one transaction: a read that
    /// reached the data of several owners (a leak trace naming shares of each), one record for
    /// each, so every owner's view shows it.
    pub(crate) fn audit_only_each(
        &self,
        client: Option<&ClientInfo>,
        events: Vec<AuditEvent>,
    ) -> Result<()> {
        self.audited_each(client, |_, _| Ok(((), events)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MasterKey, Policy};

    fn vault(dir: &std::path::Path) -> Vault {
        let policy = Policy {
            bcrypt_cost: 4,
            ..Policy::default()
        };
        Vault::open(dir, MasterKey::from_hex(&"42".repeat(32)).unwrap(), policy).unwrap()
    }

    fn fill(v: &Vault, n: usize) {
        for i in 0..n {
            v.audit_only(
                None,
                AuditEvent::new(Actor::System, None, AuditAction::TrackDownload)
                    .object(format!("track/{i}")),
            )
            .unwrap();
        }
    }

    fn rewrite(v: &Vault, seq: u64, edit: impl FnOnce(&mut Stored)) {
        let txn = v.db().begin_write().unwrap();
        {
            let mut t = txn.open_table(AUDIT).unwrap();
            let mut s: Stored = decode("audit", t.get(seq).unwrap().unwrap().value()).unwrap();
            edit(&mut s);
            t.insert(seq, encode(&s).as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn an_intact_chain_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 5);
        assert_eq!(v.audit_checkpoint().unwrap(), Some(5));
        assert_eq!(v.audit_checkpoint().unwrap(), None, "nothing new to sign");
        fill(&v, 2);
        let report = v.audit_verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 7);
        assert_eq!(report.last_checkpoint_seq, Some(5));
    }

    #[test]
    fn an_edited_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 6);
        rewrite(&v, 4, |s| s.body.object = Some("track/other".into()));
        let p = v.audit_verify().unwrap().first_problem.unwrap();
        assert_eq!((p.seq, p.kind), (4, AuditProblemKind::Altered));
    }

    #[test]
    fn a_rehashed_record_breaks_the_next_link() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 6);
        rewrite(&v, 3, |s| {
            s.body.detail = Some("forged".into());
            let prev = <[u8; 32]>::try_from(hex::decode(&s.prev).unwrap()).unwrap();
            s.hash = hex::encode(chain_hash(&prev, &s.body));
        });
        let p = v.audit_verify().unwrap().first_problem.unwrap();
        assert_eq!((p.seq, p.kind), (4, AuditProblemKind::BrokenLink));
    }

    #[test]
    fn a_fully_rewritten_tail_contradicts_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 4);
        v.audit_checkpoint().unwrap();
        // Rewrite record 2 and rehash 2..=4 so every link holds: only the signature catches it.
        let mut prev = {
            let txn = v.db().begin_read().unwrap();
            let t = txn.open_table(AUDIT).unwrap();
            let s: Stored = decode("audit", t.get(1).unwrap().unwrap().value()).unwrap();
            <[u8; 32]>::try_from(hex::decode(s.hash).unwrap()).unwrap()
        };
        for seq in 2..=4 {
            rewrite(&v, seq, |s| {
                if seq == 2 {
                    s.body.actor = "admin".into();
                }
                s.prev = hex::encode(prev);
                prev = chain_hash(&prev, &s.body);
                s.hash = hex::encode(prev);
            });
        }
        let p = v.audit_verify().unwrap().first_problem.unwrap();
        assert_eq!((p.seq, p.kind), (4, AuditProblemKind::BadCheckpoint));
    }

    #[test]
    fn truncation_and_gaps_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 5);
        v.audit_checkpoint().unwrap();
        let drop_record = |seq: u64| {
            let txn = v.db().begin_write().unwrap();
            txn.open_table(AUDIT).unwrap().remove(seq).unwrap();
            txn.commit().unwrap();
        };
        drop_record(5);
        let p = v.audit_verify().unwrap().first_problem.unwrap();
        assert_eq!((p.seq, p.kind), (5, AuditProblemKind::Truncated));
        drop_record(2);
        let p = v.audit_verify().unwrap().first_problem.unwrap();
        assert_eq!((p.seq, p.kind), (2, AuditProblemKind::Missing));
    }

    #[test]
    fn a_forged_checkpoint_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 3);
        let forger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let txn = v.db().begin_write().unwrap();
        {
            let mut t = txn.open_table(AUDIT_CHECKPOINTS).unwrap();
            let sig = forger.sign(&checkpoint_message(9, "00", 1));
            let cp = Checkpoint {
                seq: 9,
                hash: "00".into(),
                at_ms: 1,
                signature: hex::encode(sig.to_bytes()),
            };
            t.insert(9, encode(&cp).as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let p = v.audit_verify().unwrap().first_problem.unwrap();
        assert_eq!((p.seq, p.kind), (9, AuditProblemKind::BadCheckpoint));
    }

    #[test]
    fn queries_filter_and_page_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        fill(&v, 10);
        let page = v
            .audit_query(&AuditQuery {
                limit: Some(3),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![10, 9, 8]
        );
        let older = v
            .audit_query(&AuditQuery {
                before: Some(8),
                limit: Some(2),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![7, 6]);
        let tail = v
            .audit_query(&AuditQuery {
                after: Some(8),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![10, 9]);
        let none = v
            .audit_query(&AuditQuery {
                action: Some("track.upload".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(none.is_empty());
        let by_prefix = v
            .audit_query(&AuditQuery {
                action: Some("track".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(by_prefix.len(), 10);
    }
}

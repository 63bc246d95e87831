//! The metadata store's vocabulary: the redb tables, their JSON encoding, and the schema version.
//!
//! redb commits are durable (fsync) and atomic, so one write transaction is the unit of every
//! state change: a track, its blob record, the owner's quota and the audit record of the upload
//! commit together or not at all.
//!
//! Every table defined here is registered in [`crate::records::TABLES`], which says whose rows
//! it holds and what migrations, snapshots, the account purge and the export do with them.

use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, VaultError};

/// `meta`: `schema_version` and other singletons.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// user id → `UserRecord`
pub(crate) const USERS: TableDefinition<u128, &[u8]> = TableDefinition::new("users");
/// lower-cased e-mail → user id
pub(crate) const USERS_BY_EMAIL: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_email");
/// user id → tenant data key wrapped by the master key
pub(crate) const TENANT_KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("tenant_keys");
/// SHA-256 of the session token → `SessionRecord`
pub(crate) const SESSIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("sessions");
/// (user id, SHA-256 of token) → (): a user's sessions
pub(crate) const SESSIONS_BY_USER: TableDefinition<(u128, [u8; 32]), ()> =
    TableDefinition::new("sessions_by_user");
/// (owner id, track id) → `TrackRecord`: the owner is the key's prefix, so a lookup or
/// listing under another owner cannot reach the row.
pub(crate) const TRACKS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("tracks");
/// blob id → `BlobRecord`
pub(crate) const BLOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("blobs");
/// sequence number → `StoredAuditRecord`
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// sequence number → `Checkpoint`
pub(crate) const AUDIT_CHECKPOINTS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("audit_checkpoints");
/// (owner id, track id) → enqueue time (Unix ms): tracks waiting for analysis, in schema v2 to
/// v4; v5 made them jobs of [`JOBS`] and dropped the table.
pub(crate) const ANALYSIS_QUEUE: TableDefinition<(u128, u128), i64> =
    TableDefinition::new("analysis_queue");
/// blob id → `ReplicaTask`: blobs whose replica must be written or deleted
pub(crate) const REPLICATION_QUEUE: TableDefinition<u128, &[u8]> =
    TableDefinition::new("replication_queue");
/// (owner id, share id) → `ShareRecord`
pub(crate) const SHARES: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("shares");
/// recipient id → `RecipientRecord`. Reached only through a link whose HMAC tag checks, or
/// through the owning share.
pub(crate) const RECIPIENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("recipients");
/// watermark payload → recipient id: how a leaked copy is traced
pub(crate) const WATERMARK_PAYLOADS: TableDefinition<u64, u128> =
    TableDefinition::new("watermark_payloads");
/// (recipient id, track id) → `RenderRecord`: the recipient's watermarked copy
pub(crate) const RENDERS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("renders");
/// nonce of a spent single-use media URL → its expiry (Unix ms), kept until then
pub(crate) const SPENT_NONCES: TableDefinition<[u8; 16], i64> =
    TableDefinition::new("spent_nonces");
/// UTC day (`YYYY-MM-DD`) → that day's client-hash salt
pub(crate) const SALTS: TableDefinition<&str, [u8; 32]> = TableDefinition::new("salts");
/// Background work (`jobs.rs`): job id → `JobRecord`.
pub(crate) const JOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("jobs");
/// One job per kind and subject: `kind/subject ids` → job id.
pub(crate) const JOBS_BY_SUBJECT: TableDefinition<&str, u128> =
    TableDefinition::new("jobs_by_subject");

/// Enrolled stem workers (`workers.rs`): worker id → `WorkerRecord`.
pub(crate) const WORKERS: TableDefinition<u128, &[u8]> = TableDefinition::new("workers");

/// The outbox (`outbox.rs`, schema v7): message id → `MessageRecord`.
pub(crate) const OUTBOX: TableDefinition<u128, &[u8]> = TableDefinition::new("outbox");
/// The incident register (`incidents.rs`, schema v7): incident id → `IncidentRecord`.
pub(crate) const INCIDENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("incidents");
/// (owner id, incident id) → `AffectedRow`: an account an incident affects, its notice and
/// the banner's dismissal.
pub(crate) const INCIDENT_ACCOUNTS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("incident_accounts");
/// Legal requests (`legal.rs`): request id → `LegalRequestRecord`.
pub(crate) const LEGAL_REQUESTS: TableDefinition<u128, &[u8]> =
    TableDefinition::new("legal_requests");

/// `(owner, track)` → JSON `HeldTrack` (`legal/held.rs`): tracks their owner deleted while a
/// legal hold held the account, kept out of the owner's sight until the hold is released.
pub(crate) const HELD_TRACKS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("held_tracks");

/// Address changes waiting for their link (`users/email_change.rs`): user id →
/// `PendingChange` (the new address and the hash of the link's secret).
pub(crate) const EMAIL_CHANGES: TableDefinition<u128, &[u8]> =
    TableDefinition::new("email_changes");

/// `(owner, comment)` → JSON `CommentRecord`: comments on tracks, the owner's and recipients'.
pub(crate) const COMMENTS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("comments");

/// `(owner, link)` → JSON `UploadLinkRecord`.
pub(crate) const UPLOAD_LINKS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("upload_links");

/// `(owner, recipient, track)` → JSON `ListeningRecord`: what a recipient heard of a track.
pub(crate) const LISTENING: TableDefinition<(u128, u128, u128), &[u8]> =
    TableDefinition::new("listening");

/// `(owner, notification)` → JSON `NotificationRecord`.
pub(crate) const NOTIFICATIONS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("notifications");

/// The schema this build writes. Each migration step (`records::migrations`) moves the store up
/// one version.
#[cfg(not(feature = "installer-test-migration"))]
pub const SCHEMA_VERSION: u32 = 7;
/// The installer's test build: one step more than the release (see `records::migrations`).
#[cfg(feature = "installer-test-migration")]
pub const SCHEMA_VERSION: u32 = 8;

pub(crate) fn schema_version<D: ReadableDatabase>(db: &D) -> Result<u32> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let version = match table.get("schema_version")? {
        Some(v) => {
            let bytes: [u8; 4] = v
                .value()
                .try_into()
                .map_err(|_| VaultError::CorruptRecord {
                    table: "meta",
                    reason: "schema_version is not 4 bytes".into(),
                })?;
            u32::from_be_bytes(bytes)
        }
        None => 0,
    };
    Ok(version)
}

pub(crate) fn set_schema_version(txn: &WriteTransaction, version: u32) -> Result<()> {
    txn.open_table(META)?
        .insert("schema_version", version.to_be_bytes().as_slice())?;
    Ok(())
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Records are plain structs of strings and numbers; serialising them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| VaultError::CorruptRecord {
        table,
        reason: e.to_string(),
    })
}

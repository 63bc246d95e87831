//! The metadata store: redb tables, their JSON-encoded records, and schema migrations.
//!
//! redb commits are durable (fsync) and atomic, so one write transaction is the unit of every
//! state change: a track, its blob record, the owner's quota and the audit record of the upload
//! commit together or not at all.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
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
/// (owner id, track id) → enqueue time (Unix ms): tracks waiting for analysis
/// Schema v2 to v4's analysis queue, folded into [`JOBS`] by v5; named only to migrate it.
const ANALYSIS_QUEUE: TableDefinition<(u128, u128), i64> = TableDefinition::new("analysis_queue");
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
/// Background work (`jobs.rs`): job id → `JobRecord`.
pub(crate) const JOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("jobs");
/// One job per kind and subject: `kind/subject ids` → job id.
pub(crate) const JOBS_BY_SUBJECT: TableDefinition<&str, u128> =
    TableDefinition::new("jobs_by_subject");

pub(crate) const SALTS: TableDefinition<&str, [u8; 32]> = TableDefinition::new("salts");

/// The schema this build writes. Each step in [`MIGRATIONS`] moves the store up one version.
pub const SCHEMA_VERSION: u32 = 5;

type Migration = fn(&WriteTransaction) -> Result<()>;

/// `MIGRATIONS[n]` takes a store from version `n` to `n + 1`.
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [
    create_tables_v1,
    analysis_queue_v2,
    replication_queue_v3,
    shares_v4,
    jobs_v5,
];

fn create_tables_v1(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(META)?;
    txn.open_table(USERS)?;
    txn.open_table(USERS_BY_EMAIL)?;
    txn.open_table(TENANT_KEYS)?;
    txn.open_table(SESSIONS)?;
    txn.open_table(SESSIONS_BY_USER)?;
    txn.open_table(TRACKS)?;
    txn.open_table(BLOBS)?;
    txn.open_table(AUDIT)?;
    txn.open_table(AUDIT_CHECKPOINTS)?;
    txn.open_table(SALTS)?;
    Ok(())
}

/// v2: tracks carry an analysis state, and a queue holds those waiting for analysis. Tracks
/// stored before get `pending` (and a queue entry) when their owner's plan analyses, `off`
/// otherwise.
fn analysis_queue_v2(txn: &WriteTransaction) -> Result<()> {
    let mut queue = txn.open_table(ANALYSIS_QUEUE)?;
    let users = txn.open_table(USERS)?;
    let mut tracks = txn.open_table(TRACKS)?;
    let rows: Vec<((u128, u128), Vec<u8>)> = tracks
        .iter()?
        .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (key, raw) in rows {
        let mut track: serde_json::Value = decode("tracks", &raw)?;
        let plan_analyses = match users.get(key.0)? {
            Some(u) => decode::<serde_json::Value>("users", u.value())?["plan"] != "free",
            None => false,
        };
        let state = if plan_analyses { "pending" } else { "off" };
        track["analysis"] = serde_json::json!({ "state": state });
        tracks.insert(key, encode(&track).as_slice())?;
        if plan_analyses {
            queue.insert(key, 0)?;
        }
    }
    Ok(())
}

/// v3: a queue of blobs to replicate; every blob stored before is queued for upload.
fn replication_queue_v3(txn: &WriteTransaction) -> Result<()> {
    let blobs: Vec<(u128, Vec<u8>)> = txn
        .open_table(BLOBS)?
        .iter()?
        .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    txn.open_table(REPLICATION_QUEUE)?;
    for (id, raw) in blobs {
        let record: crate::library::BlobRecord = decode("blobs", &raw)?;
        crate::replication::enqueue_upload(
            txn,
            record.owner,
            crate::BlobId::from_raw(id),
            record.created_at_ms,
        )?;
    }
    Ok(())
}

/// v4: shares, their recipients, watermark payloads, rendered copies and spent media nonces.
fn shares_v4(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(SHARES)?;
    txn.open_table(RECIPIENTS)?;
    txn.open_table(WATERMARK_PAYLOADS)?;
    txn.open_table(RENDERS)?;
    txn.open_table(SPENT_NONCES)?;
    Ok(())
}

/// v5: one durable job table for all background work; the analysis queue's entries become
/// analysis jobs, due when they were queued.
fn jobs_v5(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(JOBS)?;
    txn.open_table(JOBS_BY_SUBJECT)?;
    let queued: Vec<((u128, u128), i64)> = txn
        .open_table(ANALYSIS_QUEUE)?
        .iter()?
        .map(|r| r.map(|(k, v)| (k.value(), v.value())))
        .collect::<Result<_, _>>()?;
    for ((owner, track), at) in queued {
        crate::jobs::enqueue(
            txn,
            crate::jobs::JobKind::Analysis,
            crate::UserId::from_raw(owner),
            crate::jobs::JobSubject::Track {
                track: crate::TrackId::from_raw(track),
            },
            at,
        )?;
    }
    txn.delete_table(ANALYSIS_QUEUE)?;
    Ok(())
}

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

/// Brings the store to [`SCHEMA_VERSION`], one committed transaction per step, and refuses a
/// store written by a newer build rather than misreading it.
pub(crate) fn migrate(db: &Database) -> Result<u32> {
    let found = schema_version(db)?;
    if found > SCHEMA_VERSION {
        return Err(VaultError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let txn = db.begin_write()?;
        step(&txn)?;
        set_schema_version(&txn, from as u32 + 1)?;
        txn.commit()?;
        tracing::info!(version = from + 1, "metadata store migrated");
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tracks_gain_an_analysis_state_and_a_queue_entry() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("v.redb")).unwrap();
        // A version-1 store with a pro and a free user, one track each.
        let txn = db.begin_write().unwrap();
        create_tables_v1(&txn).unwrap();
        set_schema_version(&txn, 1).unwrap();
        {
            let mut users = txn.open_table(USERS).unwrap();
            users.insert(1, br#"{"plan":"pro"}"#.as_slice()).unwrap();
            users.insert(2, br#"{"plan":"free"}"#.as_slice()).unwrap();
            let mut tracks = txn.open_table(TRACKS).unwrap();
            tracks
                .insert((1, 10), br#"{"name":"a"}"#.as_slice())
                .unwrap();
            tracks
                .insert((2, 20), br#"{"name":"b"}"#.as_slice())
                .unwrap();
        }
        txn.commit().unwrap();

        assert_eq!(migrate(&db).unwrap(), 1);
        let txn = db.begin_read().unwrap();
        let tracks = txn.open_table(TRACKS).unwrap();
        let state = |k| {
            decode::<serde_json::Value>("tracks", tracks.get(k).unwrap().unwrap().value()).unwrap()
                ["analysis"]["state"]
                .clone()
        };
        assert_eq!(state((1, 10)), "pending");
        assert_eq!(state((2, 20)), "off");
        // Queued for analysis: since v5 as an analysis job.
        let jobs = txn.open_table(JOBS_BY_SUBJECT).unwrap();
        let queued = |track: u128| {
            jobs.get(format!("analysis/{}", crate::TrackId::from_raw(track)).as_str())
                .unwrap()
                .is_some()
        };
        assert!(queued(10));
        assert!(!queued(20));
        assert!(matches!(
            txn.open_table(ANALYSIS_QUEUE),
            Err(redb::TableError::TableDoesNotExist(_))
        ));
    }

    #[test]
    fn v2_blobs_are_queued_for_replication() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("v.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        create_tables_v1(&txn).unwrap();
        analysis_queue_v2(&txn).unwrap();
        set_schema_version(&txn, 2).unwrap();
        let owner = "0000000000000000000000000000000a";
        txn.open_table(BLOBS)
            .unwrap()
            .insert(
                7,
                format!(
                    r#"{{"owner":"{owner}","plaintext_len":5,"sha256":"00","created_at_ms":42}}"#
                )
                .as_bytes(),
            )
            .unwrap();
        txn.commit().unwrap();

        assert_eq!(migrate(&db).unwrap(), 2);
        let txn = db.begin_read().unwrap();
        let queue = txn.open_table(REPLICATION_QUEUE).unwrap();
        let task: crate::replication::ReplicaTask =
            decode("replication_queue", queue.get(7).unwrap().unwrap().value()).unwrap();
        assert_eq!(task.op, crate::replication::ReplicaOp::Upload);
        assert_eq!(task.queued_at_ms, 42);
        assert_eq!(task.owner.to_string(), owner);
    }

    #[test]
    fn fresh_store_migrates_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("v.redb")).unwrap();
        assert_eq!(migrate(&db).unwrap(), 0);
        assert_eq!(schema_version(&db).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            migrate(&db).unwrap(),
            SCHEMA_VERSION,
            "a second open is a no-op"
        );

        let txn = db.begin_write().unwrap();
        set_schema_version(&txn, SCHEMA_VERSION + 1).unwrap();
        txn.commit().unwrap();
        assert!(matches!(
            migrate(&db),
            Err(VaultError::SchemaTooNew { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }
}

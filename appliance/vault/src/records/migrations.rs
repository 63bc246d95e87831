//! Schema migrations: one step per version, then every registered table opened, so a table
//! that only needs to exist needs no step of its own.

use redb::{Database, ReadableTable, WriteTransaction};

use super::{TABLES, blobs::BlobRecord, replicas};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, TrackId, UserId};
use crate::jobs::{JobKind, JobSubject};
use crate::store::{
    ANALYSIS_QUEUE, BLOBS, SCHEMA_VERSION, TRACKS, USERS, decode, encode, schema_version,
    set_schema_version,
};

type Migration = fn(&WriteTransaction) -> Result<()>;

/// `MIGRATIONS[n]` takes a store from version `n` to `n + 1`.
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [
    tables_only,
    analysis_queue_v2,
    replication_queue_v3,
    tables_only,
    jobs_v5,
    tables_only,
    tables_only,
    #[cfg(feature = "installer-test-migration")]
    rewrite_tracks_v8,
];

/// v1 (accounts, sessions, tracks, blobs, audit, salts), v4 (shares, recipients, payloads,
/// renders, spent nonces), v6 (stem workers) and v7 (the outbox, incidents, legal requests,
/// account rights) only added tables, which [`create_registered_tables`] opens.
fn tables_only(_: &WriteTransaction) -> Result<()> {
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
    for (id, raw) in blobs {
        let record: BlobRecord = decode("blobs", &raw)?;
        replicas::enqueue_upload(
            txn,
            record.owner,
            BlobId::from_raw(id),
            record.created_at_ms,
        )?;
    }
    Ok(())
}

/// v5: one durable job table for all background work; the analysis queue's entries become
/// analysis jobs, due when they were queued, and the queue's table goes.
fn jobs_v5(txn: &WriteTransaction) -> Result<()> {
    let queued: Vec<((u128, u128), i64)> = txn
        .open_table(ANALYSIS_QUEUE)?
        .iter()?
        .map(|r| r.map(|(k, v)| (k.value(), v.value())))
        .collect::<Result<_, _>>()?;
    for ((owner, track), at) in queued {
        crate::jobs::enqueue(
            txn,
            JobKind::Analysis,
            UserId::from_raw(owner),
            JobSubject::Track {
                track: TrackId::from_raw(track),
            },
            at,
        )?;
    }
    txn.delete_table(ANALYSIS_QUEUE)?;
    Ok(())
}

/// v8 exists only in the installer's test build (feature `installer-test-migration`): it stands
/// for a release whose migration reshapes records, reading and writing back every track row, so
/// the upgrade test crosses a migration that touches the owners' data.
#[cfg(feature = "installer-test-migration")]
fn rewrite_tracks_v8(txn: &WriteTransaction) -> Result<()> {
    let mut tracks = txn.open_table(TRACKS)?;
    let rows: Vec<((u128, u128), Vec<u8>)> = tracks
        .iter()?
        .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (key, raw) in rows {
        let track: serde_json::Value = decode("tracks", &raw)?;
        tracks.insert(key, encode(&track).as_slice())?;
    }
    Ok(())
}

/// Opens every table of the registry, creating those the store does not have yet.
fn create_registered_tables(txn: &WriteTransaction) -> Result<()> {
    for spec in TABLES {
        spec.table.create(txn)?;
    }
    Ok(())
}

/// Brings the store to [`SCHEMA_VERSION`], one committed transaction per step, and refuses a
/// store written by a newer build rather than misreading it. Every registered table exists
/// afterwards.
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
    let txn = db.begin_write()?;
    create_registered_tables(&txn)?;
    txn.commit()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;

    use super::*;
    use crate::store::REPLICATION_QUEUE;

    #[test]
    fn v1_tracks_gain_an_analysis_state_and_a_queue_entry() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("v.redb")).unwrap();
        // A version-1 store with a pro and a free user, one track each.
        let txn = db.begin_write().unwrap();
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
        let jobs = txn.open_table(crate::store::JOBS_BY_SUBJECT).unwrap();
        let queued = |track: u128| {
            jobs.get(format!("analysis/{}", TrackId::from_raw(track)).as_str())
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
        let task: replicas::ReplicaTask =
            decode("replication_queue", queue.get(7).unwrap().unwrap().value()).unwrap();
        assert_eq!(task.op, replicas::ReplicaOp::Upload);
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

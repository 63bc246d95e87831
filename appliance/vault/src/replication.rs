//! The replication queue: which blobs must be copied to, or removed from, the off-site replica.
//!
//! A blob is queued in the same transaction that commits it, and its removal in the same
//! transaction that deletes its record (the tasks are shared records: `crate::records`), so a
//! crash can never lose a pending replication: the worker (in the server) resumes from this
//! table after a restart. The store hands the worker the sealed (encrypted) file only; the
//! replica never sees plaintext or keys.

use std::fs::File;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, UserId};
use crate::records::{BlobRecord, enqueue_delete, enqueue_upload, get_blob};
pub use crate::records::{ReplicaOp, ReplicaTask, object_key};
use crate::store::{BLOBS, META, REPLICATION_QUEUE, decode, encode};
use crate::{Vault, blob};

/// An open encrypted blob file for upload.
#[derive(Debug)]
pub struct SealedFile {
    pub file: File,
    pub len: u64,
    /// SHA-256 of the file as committed, hex.
    pub sha256: String,
}

/// A committed blob as the replica should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlobInfo {
    pub blob: BlobId,
    pub owner: UserId,
    pub key: String,
    /// Size of the encrypted file.
    pub sealed_len: u64,
    /// SHA-256 of the encrypted file, hex.
    pub sealed_sha256: String,
}

/// Where the queue stands, for the status API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    pub uploads_pending: u64,
    /// Deletions whose grace has run out.
    pub deletes_due: u64,
    /// Deletions still in their grace.
    pub deletes_waiting: u64,
    /// Tasks whose last attempt failed.
    pub failing: u64,
    /// Queue time of the oldest upload not yet replicated (Unix ms).
    pub oldest_upload_ms: Option<i64>,
    pub last_error: Option<String>,
    /// When the worker last completed a task (Unix ms).
    pub last_success_ms: Option<i64>,
}

/// The store's side of replication.
#[derive(Debug)]
pub struct Replication<'a> {
    vault: &'a Vault,
}

impl Vault {
    pub fn replication(&self) -> Replication<'_> {
        Replication { vault: self }
    }
}

impl Replication<'_> {
    /// Up to `limit` tasks due now, oldest queue time first.
    pub fn due(&self, limit: usize) -> Result<Vec<ReplicaTask>> {
        let now = self.vault.now_ms();
        let mut due = Vec::new();
        for task in self.all()? {
            if task.due_at_ms <= now {
                due.push(task);
            }
        }
        due.sort_by_key(|t| (t.due_at_ms, t.queued_at_ms));
        due.truncate(limit);
        Ok(due)
    }

    /// Every queued task.
    pub fn all(&self) -> Result<Vec<ReplicaTask>> {
        let txn = self.vault.db().begin_read()?;
        let table = txn.open_table(REPLICATION_QUEUE)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(decode("replication_queue", row?.1.value())?);
        }
        Ok(out)
    }

    /// The encrypted file of an upload task. `NotFound` when the blob was deleted meanwhile
    /// (its queue entry then says so).
    pub fn open_sealed(&self, task: &ReplicaTask) -> Result<SealedFile> {
        let record = {
            let txn = self.vault.db().begin_read()?;
            get_blob(&txn.open_table(BLOBS)?, task.blob)?.ok_or(VaultError::NotFound)?
        };
        let path = self.vault.blob_path(task.owner, task.blob);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(VaultError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata()?.len();
        let sha256 = match record.sealed_sha256 {
            Some(h) => h,
            None => hash_file(&path)?,
        };
        Ok(SealedFile { file, len, sha256 })
    }

    /// Removes the task once the replica did it, unless the task changed meanwhile (a deletion
    /// that replaced an upload stays queued).
    pub fn complete(&self, task: &ReplicaTask) -> Result<()> {
        let txn = self.vault.begin_write()?;
        {
            let mut table = txn.open_table(REPLICATION_QUEUE)?;
            if still_queued(&table, task)?.is_some() {
                table.remove(task.blob.raw())?;
            }
            txn.open_table(META)?.insert(
                "replication_last_success_ms",
                self.vault.now_ms().to_be_bytes().as_slice(),
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records a failed attempt; the task is retried after `retry_in_ms`.
    pub fn failed(&self, task: &ReplicaTask, error: &str, retry_in_ms: i64) -> Result<()> {
        let txn = self.vault.begin_write()?;
        {
            let mut table = txn.open_table(REPLICATION_QUEUE)?;
            if let Some(mut current) = still_queued(&table, task)? {
                current.attempts = current.attempts.saturating_add(1);
                current.due_at_ms = self.vault.now_ms() + retry_in_ms;
                current.last_error = Some(error.chars().take(500).collect());
                table.insert(task.blob.raw(), encode(&current).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn stats(&self) -> Result<ReplicationStats> {
        let now = self.vault.now_ms();
        let mut stats = ReplicationStats::default();
        let mut last_error_at = i64::MIN;
        for task in self.all()? {
            match task.op {
                ReplicaOp::Upload => {
                    stats.uploads_pending += 1;
                    stats.oldest_upload_ms = Some(
                        stats
                            .oldest_upload_ms
                            .map_or(task.queued_at_ms, |o| o.min(task.queued_at_ms)),
                    );
                }
                ReplicaOp::Delete if task.due_at_ms <= now || task.attempts > 0 => {
                    stats.deletes_due += 1
                }
                ReplicaOp::Delete => stats.deletes_waiting += 1,
            }
            if task.attempts > 0 {
                stats.failing += 1;
                if task.due_at_ms > last_error_at {
                    last_error_at = task.due_at_ms;
                    stats.last_error = task.last_error.clone();
                }
            }
        }
        let txn = self.vault.db().begin_read()?;
        stats.last_success_ms = txn
            .open_table(META)?
            .get("replication_last_success_ms")?
            .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
            .map(i64::from_be_bytes);
        Ok(stats)
    }

    /// Every committed blob with the size and hash its replica must have. Blobs stored before
    /// their sealed hash was recorded are hashed from their file.
    pub fn sealed_blobs(&self) -> Result<Vec<SealedBlobInfo>> {
        let records: Vec<(BlobId, BlobRecord)> = {
            let txn = self.vault.db().begin_read()?;
            let table = txn.open_table(BLOBS)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (k, v) = row?;
                out.push((BlobId::from_raw(k.value()), decode("blobs", v.value())?));
            }
            out
        };
        let mut out = Vec::with_capacity(records.len());
        for (blob, record) in records {
            let sealed_sha256 = match record.sealed_sha256 {
                Some(h) => h,
                None => hash_file(&self.vault.blob_path(record.owner, blob))?,
            };
            out.push(SealedBlobInfo {
                blob,
                owner: record.owner,
                key: object_key(record.owner, blob),
                sealed_len: blob::ciphertext_len(record.plaintext_len),
                sealed_sha256,
            });
        }
        Ok(out)
    }

    /// Queues again the upload of each blob whose replica a check found missing or different,
    /// unless the blob is gone or already queued meanwhile. One `replica.requeue` record by
    /// `actor` (the admin's `replicate verify --repair`, or the system's own periodic check)
    /// says how many. Answers how many were queued.
    pub fn requeue_uploads(&self, blobs: &[BlobId], actor: Actor) -> Result<u64> {
        self.vault.audited_if_changed(None, |txn, now| {
            let mut queued = 0u64;
            {
                let stored = txn.open_table(BLOBS)?;
                let queue = txn.open_table(REPLICATION_QUEUE)?;
                let mut owners = Vec::new();
                for blob in blobs {
                    if queue.get(blob.raw())?.is_none()
                        && let Some(record) = get_blob(&stored, *blob)?
                    {
                        owners.push((record.owner, *blob));
                    }
                }
                drop(queue);
                for (owner, blob) in owners {
                    enqueue_upload(txn, owner, blob, now)?;
                    queued += 1;
                }
            }
            let event = (queued > 0).then(|| {
                AuditEvent::new(actor, None, AuditAction::ReplicaRequeue).detail(format!(
                    "{queued} blob(s) missing or different in the replica, queued for upload again"
                ))
            });
            Ok((queued, event))
        })
    }
}

/// The replication queue's part of an account purge: the account's replica deletions stay
/// queued (the off-site copies must still go), and an upload still queued for one of its blobs
/// becomes a deletion.
pub(crate) fn purge_owner(vault: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    let uploads: Vec<BlobId> = {
        let queue = txn.open_table(REPLICATION_QUEUE)?;
        let mut out = Vec::new();
        for row in queue.iter()? {
            let task: ReplicaTask = decode("replication_queue", row?.1.value())?;
            if task.owner == owner && task.op == ReplicaOp::Upload {
                out.push(task.blob);
            }
        }
        out
    };
    for blob in uploads {
        enqueue_delete(vault, txn, owner, blob)?;
    }
    Ok(())
}

pub(crate) fn hash_file(path: &std::path::Path) -> Result<String> {
    use sha2::Digest;
    let mut file = File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The queued task for `task`'s blob, if it is still that task (not replaced meanwhile, say by
/// a deletion that followed an upload).
fn still_queued(
    table: &impl ReadableTable<u128, &'static [u8]>,
    task: &ReplicaTask,
) -> Result<Option<ReplicaTask>> {
    let current: Option<ReplicaTask> = table
        .get(task.blob.raw())?
        .map(|v| decode("replication_queue", v.value()))
        .transpose()?;
    Ok(current.filter(|c| c.op == task.op && c.queued_at_ms == task.queued_at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientInfo;
    use crate::testutil::TestVault;

    #[test]
    fn uploads_queue_and_deletions_replace_them_after_their_grace() {
        let t = TestVault::with_policy(|p| p.replica_delete_delay_secs = 60);
        let (_, scope) = t.user("a@example.com");
        let track = t.upload(&scope, b"audio");
        let queue = t.vault.replication();
        let due = queue.due(10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].op, ReplicaOp::Upload);
        let sealed = queue.open_sealed(&due[0]).unwrap();
        assert_eq!(sealed.len, blob::ciphertext_len(5));
        assert_eq!(
            sealed.sha256,
            hash_file(&t.vault.blob_path(track.owner, track.blob)).unwrap()
        );

        // A failure backs off; the task stays and is counted as failing.
        queue.failed(&due[0], "connection refused", 5_000).unwrap();
        assert!(queue.due(10).unwrap().is_empty());
        let stats = queue.stats().unwrap();
        assert_eq!((stats.uploads_pending, stats.failing), (1, 1));
        assert_eq!(stats.last_error.as_deref(), Some("connection refused"));
        t.advance_secs(6);
        let retry = queue.due(10).unwrap();
        assert_eq!(retry[0].attempts, 1);

        // Deleted before its upload finished: the deletion replaces it, and the upload's
        // completion does not drop the deletion.
        t.vault
            .library(&scope)
            .delete(track.id, &ClientInfo::default())
            .unwrap();
        assert!(matches!(
            queue.open_sealed(&retry[0]),
            Err(VaultError::NotFound)
        ));
        queue.complete(&retry[0]).unwrap();
        assert!(
            queue.due(10).unwrap().is_empty(),
            "the deletion waits for its grace"
        );
        assert_eq!(queue.stats().unwrap().deletes_waiting, 1);
        t.advance_secs(61);
        let delete = queue.due(10).unwrap();
        assert_eq!(delete[0].op, ReplicaOp::Delete);
        assert_eq!(delete[0].object_key(), object_key(track.owner, track.blob));
        queue.complete(&delete[0]).unwrap();
        assert!(queue.all().unwrap().is_empty());
        assert!(queue.stats().unwrap().last_success_ms.is_some());
    }

    #[test]
    fn a_replica_found_missing_is_queued_again_once_and_only_for_a_blob_still_kept() {
        let t = TestVault::new();
        let (_, scope) = t.user("a@example.com");
        let kept = t.upload(&scope, b"kept");
        let deleted = t.upload(&scope, b"deleted");
        let queue = t.vault.replication();
        for task in queue.due(10).unwrap() {
            queue.complete(&task).unwrap();
        }
        t.vault
            .library(&scope)
            .delete(deleted.id, &ClientInfo::default())
            .unwrap();
        let requeues = || {
            t.vault
                .audit_query(&studiovault_api::admin::AuditQuery {
                    action: Some("replica.requeue".into()),
                    ..Default::default()
                })
                .unwrap()
        };

        // The deleted blob's replica is due to go, not to come back; an unknown id is no blob.
        let found = [kept.blob, deleted.blob, BlobId::from_raw(7)];
        assert_eq!(queue.requeue_uploads(&found, Actor::System).unwrap(), 1);
        let uploads: Vec<BlobId> = queue
            .all()
            .unwrap()
            .into_iter()
            .filter(|t| t.op == ReplicaOp::Upload)
            .map(|t| t.blob)
            .collect();
        assert_eq!(uploads, [kept.blob]);
        let log = requeues();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].actor, "system");
        assert!(
            log[0]
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with("1 blob(s)")),
            "{:?}",
            log[0].detail
        );

        // Already queued: nothing changes, nothing is recorded.
        assert_eq!(queue.requeue_uploads(&found, Actor::Admin).unwrap(), 0);
        assert_eq!(requeues().len(), 1);
    }
}

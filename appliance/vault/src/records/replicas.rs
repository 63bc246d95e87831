//! Replica tasks: which blobs the off-site replica must write or delete.
//!
//! Every feature that commits or removes a blob queues its replica in the same transaction (see
//! [`super::blobs`]), so a crash can never lose a pending replication. The worker's side of the
//! queue is `crate::replication`.

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

use crate::Vault;
use crate::error::Result;
use crate::ids::{BlobId, UserId};
use crate::store::{REPLICATION_QUEUE, encode};

/// What the replica must do for a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaOp {
    Upload,
    Delete,
}

/// One queued replication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaTask {
    pub blob: BlobId,
    pub owner: UserId,
    pub op: ReplicaOp,
    /// When it was queued (Unix ms): the lag is measured from here.
    pub queued_at_ms: i64,
    /// Not before this time (Unix ms): a retry's backoff, or a deletion's grace.
    pub due_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl ReplicaTask {
    /// The object key: the blob's path under the data directory, all of it server-generated.
    pub fn object_key(&self) -> String {
        object_key(self.owner, self.blob)
    }
}

pub fn object_key(owner: UserId, blob: BlobId) -> String {
    let name = blob.to_string();
    format!("blobs/{owner}/{}/{name}", &name[..2])
}

pub(crate) fn enqueue_upload(
    txn: &WriteTransaction,
    owner: UserId,
    blob: BlobId,
    now: i64,
) -> Result<()> {
    put(
        txn,
        &ReplicaTask {
            blob,
            owner,
            op: ReplicaOp::Upload,
            queued_at_ms: now,
            due_at_ms: now,
            attempts: 0,
            last_error: None,
        },
    )
}

/// Queues the deletion of the blob's replica, due after [`crate::Policy::replica_delete_delay_secs`].
/// Replaces any pending upload of the blob: a deleted blob is never uploaded afterwards.
pub(crate) fn enqueue_delete(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    blob: BlobId,
) -> Result<()> {
    let due_at_ms = vault.now_ms() + vault.policy().replica_delete_delay_secs * 1000;
    put(
        txn,
        &ReplicaTask {
            blob,
            owner,
            op: ReplicaOp::Delete,
            queued_at_ms: due_at_ms,
            due_at_ms,
            attempts: 0,
            last_error: None,
        },
    )
}

fn put(txn: &WriteTransaction, task: &ReplicaTask) -> Result<()> {
    txn.open_table(REPLICATION_QUEUE)?
        .insert(task.blob.raw(), encode(task).as_slice())?;
    Ok(())
}

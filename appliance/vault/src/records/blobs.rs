//! Blob records: every encrypted file the store holds (a track's audio, its peaks, a recipient's
//! copy), committed and removed together with the replica task that follows it off-site.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::replicas;
use crate::Vault;
use crate::error::Result;
use crate::ids::{BlobId, UserId};
use crate::store::{BLOBS, decode, encode};

/// A blob as stored: enough to find, size-check and verify it without its track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlobRecord {
    pub owner: UserId,
    pub plaintext_len: u64,
    pub sha256: String,
    pub created_at_ms: i64,
    /// SHA-256 of the encrypted file, as replicas and backups hold it. Absent for blobs stored
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_sha256: Option<String>,
}

pub(crate) fn get_blob(
    table: &impl ReadableTable<u128, &'static [u8]>,
    blob: BlobId,
) -> Result<Option<BlobRecord>> {
    table
        .get(blob.raw())?
        .map(|v| decode("blobs", v.value()))
        .transpose()
}

/// Records a blob whose file is in place, and queues its replica's upload.
pub(crate) fn put_blob(txn: &WriteTransaction, blob: BlobId, record: &BlobRecord) -> Result<()> {
    txn.open_table(BLOBS)?
        .insert(blob.raw(), encode(record).as_slice())?;
    replicas::enqueue_upload(txn, record.owner, blob, record.created_at_ms)
}

/// Forgets a blob and queues its replica's deletion; its file goes once the transaction commits.
pub(crate) fn remove_blob(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    blob: BlobId,
) -> Result<()> {
    txn.open_table(BLOBS)?.remove(blob.raw())?;
    replicas::enqueue_delete(vault, txn, owner, blob)
}

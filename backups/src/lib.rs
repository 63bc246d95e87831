//! Studio Vault's copies of the data, so that a single failure never loses a take:
//!
//! - [`replica`]: every sealed (encrypted) blob replicated to an S3 store such as Backblaze B2,
//!   from the store's durable queue, with deletions following after their grace; and a check
//!   that lists every replica missing or different.
//! - [`restic`] and [`snapshots`]: tiered snapshots (hourly, daily, weekly) of a consistent copy
//!   of the store, with retention, prune and check.
//! - [`drill`]: the latest snapshot restored into scratch space and proven blob by blob.
//!
//! The store ([`studiovault_vault`]) stays the only code that reads the database or the blob
//! files; this crate works from the copies and handles it gives out.

pub mod drill;
pub mod replica;
pub mod restic;
pub mod snapshots;

pub use restic::{Restic, ResticError, Retention, S3Credentials};

/// Everything this crate can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Restic(#[from] ResticError),
    #[error("store: {0}")]
    Vault(#[from] studiovault_vault::VaultError),
    #[error("S3: {0}")]
    S3(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The repository holds snapshots of another store (another appliance's, or this box's
    /// before it was set up afresh): this store's retention would forget their keyring.
    #[error(
        "the restic repository (backups.repository) holds {snapshots} snapshot(s) of another \
         Studio Vault store, not this one's: nothing was written to it. To bring that store \
         back, restore it (`studiovault backup restore --snapshot latest --to DIR`, then serve \
         from DIR); to keep this store's backups apart, point backups.repository at a new \
         location"
    )]
    ForeignRepository { snapshots: usize },
    #[error("{0}")]
    Other(String),
}

/// Runs blocking store work off the async reactor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Other(format!("background task failed: {e}")))?
}

pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

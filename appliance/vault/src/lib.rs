//! Studio Vault's store: the one place that touches the metadata database and the blob files.
//!
//! - Tenant isolation (invariant 1) lives here, not in the HTTP layer: every read, write, listing
//!   and deletion of a tenant's data goes through [`Library`] or [`Account`], which can only be
//!   had with an [`OwnerScope`], and only [`Vault::authenticate`] builds one.
//! - Durability (invariant 2): blobs are written to a temp file, fsynced, renamed and their
//!   directory fsynced before the metadata transaction commits (see [`blob`] and [`library`]).
//! - Encryption at rest (invariant 3): [`keys`] and [`blob`].
//! - The audit chain (invariant 4): [`audit`]; state changes are written through
//!   `Vault::audited`, which appends the record inside the change's own transaction.
//! - The tables: `records` registers every one (per owner or global, purge, export); the
//!   account lifecycle (`lifecycle`) purges an account through it.
//!
//! All methods block (disk I/O, fsync, bcrypt): async callers run them on a blocking thread.

pub mod audit;
pub mod blob;
mod check;
mod error;
pub mod export;
mod fsutil;
mod ids;
pub mod incidents;
pub mod jobs;
pub mod keys;
pub mod legal;
pub mod library;
mod lifecycle;
pub mod outbox;
mod privacy;
mod records;
pub mod replication;
pub mod review;
mod rights;
mod scope;
pub mod shares;
pub mod snapshot;
pub mod stems;
pub mod store;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_refuses_another_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy {
            bcrypt_cost: 4,
            ..Policy::default()
        };
        drop(
            Vault::open(
                dir.path(),
                MasterKey::from_hex(&"01".repeat(32)).unwrap(),
                policy.clone(),
            )
            .unwrap(),
        );
        let wrong = Vault::open(
            dir.path(),
            MasterKey::from_hex(&"02".repeat(32)).unwrap(),
            policy.clone(),
        );
        assert!(
            matches!(wrong, Err(VaultError::MasterKey(m)) if m.contains("does not open this vault"))
        );
        Vault::open(
            dir.path(),
            MasterKey::from_hex(&"01".repeat(32)).unwrap(),
            policy,
        )
        .unwrap();
    }
}
pub mod users;
pub mod workers;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};

use redb::{Database, ReadableTable};
use studiovault_api::Plan;

pub use audit::{Actor, AuditAction};
pub use blob::{BlobAccess, BlobReader, BlobWriter, SealedBlob};
pub use check::StoreCheck;
pub use error::{Result, VaultError};
pub use export::AccountExport;
pub use ids::{
    BlobId, CommentId, IncidentId, LegalRequestId, MessageId, NotificationId, RecipientId, ShareId,
    TrackId, UploadLinkId, UserId, WorkerId,
};
pub use jobs::{JobKind, JobRecord, JobState, JobSubject, JobView, Lease};
pub use keys::MasterKey;
pub use legal::{HandedOverAccount, HeldTrack, LegalHandover};
pub use library::analysis::{AnalysisJob, AnalysisResult, AnalysisState};
pub use library::{
    AudioUse, Library, Placement, StemOf, TrackInfo, TrackQuery, TrackRecord, TrackSort, VersionOf,
};
pub use lifecycle::{PurgeFailure, PurgeReport};
pub use outbox::{Delivery, MailDraft, MessageRecord, OutboxCounts};
pub use records::{LegalRequestRecord, ReviewMail, UserRecord};
pub use scope::{Authenticated, OwnerScope};
pub use shares::{
    CopyState, MediaKind, MediaSource, MediaUrl, NewRecipient, NewShare, PortalView,
    RecipientEventKind, RecipientGrant, RecipientRecord, RenderRecord, ShareDetail, SharePolicy,
    ShareRecord, Shares, TraceOutcome, TraceQuery, TraceReport,
};
pub use stems::{NewStems, StemsOutcome, StemsStatus};
pub use users::{Account, Admin, Recheck};
pub use workers::{WorkerRecord, WorkerState};

/// Source of the current time, replaceable in tests.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// Storage quota per plan, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanQuotas {
    pub free: u64,
    pub pro: u64,
    pub max: u64,
}

impl PlanQuotas {
    pub fn for_plan(&self, plan: Plan) -> u64 {
        match plan {
            Plan::Free => self.free,
            Plan::Pro => self.pro,
            Plan::Max => self.max,
        }
    }
}

const GIB: u64 = 1 << 30;

impl Default for PlanQuotas {
    fn default() -> Self {
        Self {
            free: 5 * GIB,
            pro: 500 * GIB,
            max: 2048 * GIB,
        }
    }
}

/// The policies the store enforces; set from the server's config.
#[derive(Debug, Clone)]
pub struct Policy {
    pub quotas: PlanQuotas,
    /// A session unused for this long is dead.
    pub session_idle_secs: i64,
    /// A session older than this is dead however busy.
    pub session_absolute_secs: i64,
    /// Days a client-hash salt is kept; older ones are deleted, unlinking old hashes from IPs.
    pub salt_retention_days: i64,
    /// Days the outbox keeps the record of a sent message.
    pub sent_mail_retention_days: i64,
    /// Days recipients' marked copies are kept after their share (or recipient) ended.
    pub ended_share_copies_days: i64,
    /// Days between a deletion request and the purge.
    pub deletion_grace_days: i64,
    /// bcrypt work factor. 12 in production; tests of the store alone may lower it.
    pub bcrypt_cost: u32,
    pub shares: SharePolicy,
    /// Seconds between a blob's deletion here and the deletion of its replica: the grace in
    /// which the replica still holds what was deleted by mistake (ciphertext only).
    pub replica_delete_delay_secs: i64,
    /// Weeks the oldest snapshot is kept (`backups.keep_weekly`): how long a purged account's
    /// ciphertext may still sit in a backup, unreadable.
    pub backup_retention_weeks: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            quotas: PlanQuotas::default(),
            session_idle_secs: 12 * 3600,
            session_absolute_secs: 30 * 24 * 3600,
            salt_retention_days: 30,
            sent_mail_retention_days: 90,
            ended_share_copies_days: 7,
            deletion_grace_days: 30,
            bcrypt_cost: 12,
            shares: SharePolicy::default(),
            replica_delete_delay_secs: 30 * 24 * 3600,
            backup_retention_weeks: 12,
        }
    }
}

/// Who is calling, as far as the privacy rules let the store know: raw values come in, only
/// salted hashes are ever stored.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// Handle to an open store; cheap to clone.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("data_dir", &self.inner.data_dir)
            .finish()
    }
}

struct Inner {
    db: Database,
    master: MasterKey,
    checkpoint_key: ed25519_dalek::SigningKey,
    data_dir: PathBuf,
    policy: Policy,
    clock: Box<dyn Clock>,
    /// Today's client-hash salt, cached to keep the store off the request path.
    salt_cache: Mutex<Option<(String, [u8; 32])>>,
    /// A bcrypt hash to verify against for unknown e-mail addresses, so both cost the same.
    decoy_hash: OnceLock<String>,
    /// Blob files are removed under its read side; a backup snapshot holds the write side
    /// while it links the files its metadata copy names, so none vanishes half-way.
    blob_removal: RwLock<()>,
    /// Called after a transaction that queued jobs commits, so executors start at once.
    jobs_queued: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// The store's schema version before this open migrated it.
    opened_at_schema: u32,
}

impl Vault {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, master: MasterKey, policy: Policy) -> Result<Self> {
        Self::open_with_clock(data_dir, master, policy, Box::new(SystemClock))
    }

    pub fn open_with_clock(
        data_dir: &Path,
        master: MasterKey,
        policy: Policy,
        clock: Box<dyn Clock>,
    ) -> Result<Self> {
        fsutil::create_private_dir(data_dir)?;
        let store = data_dir.join("vault.redb");
        if !store.exists() {
            // A new store would take every file here for an orphan and sweep it away; with the
            // keyring and the master key those files are still the studio's audio.
            let files = check::blob_files_in(&data_dir.join("blobs"))?.len();
            if files > 0 {
                return Err(VaultError::StoreMissing { files });
            }
        }
        let db = Database::create(store)?;
        let opened_at_schema = records::migrate(&db)?;
        let vault = Self {
            inner: Arc::new(Inner {
                db,
                opened_at_schema,
                checkpoint_key: master.audit_signing_key(),
                master,
                data_dir: data_dir.to_owned(),
                policy,
                clock,
                salt_cache: Mutex::new(None),
                decoy_hash: OnceLock::new(),
                blob_removal: RwLock::new(()),
                jobs_queued: OnceLock::new(),
            }),
        };
        vault.check_master_key()?;
        fsutil::create_private_dir(&vault.blob_root())?;
        vault.recover_after_crash()?;
        Ok(vault)
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The schema version the store had before this handle opened it: below
    /// [`store::SCHEMA_VERSION`] when opening it ran migrations, 0 for a new store.
    pub fn opened_at_schema(&self) -> u32 {
        self.inner.opened_at_schema
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }

    /// The master key's fingerprint ([`MasterKey::fingerprint`]): which appliance's store this
    /// is, the same after a restore (which needs the same key).
    pub fn key_fingerprint(&self) -> String {
        self.master().fingerprint()
    }

    pub(crate) fn master(&self) -> &MasterKey {
        &self.inner.master
    }

    /// The store's clock, Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Sets what to call once a transaction that queued jobs has committed (the server wakes
    /// its job runners). Only the first call takes effect.
    pub fn on_jobs_queued(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.inner.jobs_queued.set(Box::new(wake));
    }

    /// Tells the runners that jobs were queued; called after the commit.
    pub(crate) fn jobs_queued(&self) {
        if let Some(wake) = self.inner.jobs_queued.get() {
            wake();
        }
    }

    /// Held while blob files of deleted records are removed (see [`snapshot`]).
    pub(crate) fn blob_removal_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.inner
            .blob_removal
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A write transaction, refused with [`VaultError::DiskFull`] while the data directory's
    /// disk has less than [`free_space_reserve`] left. redb fails every write after one that met
    /// a full disk, until the store is opened again, so no write may start without room to end.
    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction> {
        let disk = rustix::fs::statvfs(&self.inner.data_dir).map_err(std::io::Error::from)?;
        let block = disk.f_frsize;
        let (free, total) = (disk.f_bavail * block, disk.f_blocks * block);
        if free < free_space_reserve(total) {
            return Err(VaultError::DiskFull { free });
        }
        Ok(self.db().begin_write()?)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.inner.data_dir.join("tmp")
    }

    pub(crate) fn blob_root(&self) -> PathBuf {
        self.inner.data_dir.join("blobs")
    }

    /// `blobs/<owner>/<first two hex digits>/<blob id>`: every component server-generated.
    pub(crate) fn blob_path(&self, owner: UserId, blob: BlobId) -> PathBuf {
        let name = blob.to_string();
        self.blob_root()
            .join(owner.to_string())
            .join(&name[..2])
            .join(name)
    }

    /// Refuses to run with a master key other than the one this store was created with.
    fn check_master_key(&self) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut meta = txn.open_table(store::META)?;
            let stored: Option<Vec<u8>> = meta.get("master_key_check")?.map(|v| v.value().to_vec());
            match stored {
                Some(sealed) if self.master().opens_check_value(&sealed) => {}
                Some(_) => {
                    return Err(VaultError::MasterKey(
                        "this master key does not open this vault: restore the key file it was created with".into(),
                    ));
                }
                None => {
                    meta.insert("master_key_check", self.master().check_value()?.as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes what a crash can leave behind: partial uploads in `tmp/`, blob files whose
    /// metadata never committed (neither was ever acknowledged), and a snapshot's staging.
    fn recover_after_crash(&self) -> Result<()> {
        snapshot::remove_staged(self.data_dir())?;
        let tmp = self.tmp_dir();
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        fsutil::create_private_dir(&tmp)?;
        let orphans = library::remove_orphan_blobs(self)?;
        if orphans > 0 {
            tracing::warn!(orphans, "removed blob files left by an interrupted upload");
        }
        Ok(())
    }

    /// The session behind `token`, with the owner scope it grants; the owner's own activity
    /// keeps it from going idle.
    pub fn authenticate(&self, token: &str) -> Result<Authenticated> {
        users::authenticate(self, token, users::Activity::Owner)
    }

    /// [`Vault::authenticate`] for a request the owner's app sent on its own (a poll): it does
    /// not count as activity, so an unattended tab is still signed out when idle.
    pub fn authenticate_in_background(&self, token: &str) -> Result<Authenticated> {
        users::authenticate(self, token, users::Activity::Background)
    }

    /// Checks credentials and opens a session; answers the session token once.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(String, Authenticated)> {
        users::login(self, email, password, totp, client)
    }

    /// Self-service account operations for the scope's owner.
    pub fn account<'a>(&'a self, scope: &'a OwnerScope) -> Account<'a> {
        Account::new(self, scope)
    }

    /// The scope owner's library.
    pub fn library<'a>(&'a self, scope: &'a OwnerScope) -> Library<'a> {
        Library::new(self, scope)
    }

    /// The scope owner's shares.
    pub fn shares<'a>(&'a self, scope: &'a OwnerScope) -> Shares<'a> {
        Shares::new(self, scope)
    }

    /// Operations reserved to the admin socket.
    pub fn admin(&self) -> Admin<'_> {
        Admin::new(self)
    }
}

/// The free space every write leaves on the data directory's disk: 64 MiB, or 5 % of a disk
/// smaller than 1.25 GiB.
fn free_space_reserve(disk_bytes: u64) -> u64 {
    (64 << 20).min(disk_bytes / 20)
}

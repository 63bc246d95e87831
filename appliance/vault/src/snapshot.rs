//! Consistent copies of the store for backups, and the check a restore drill runs on one.
//!
//! [`Vault::stage_snapshot`] copies every table inside one read transaction into a fresh redb
//! file (never a copy of the live file while it is written) and hard-links every blob file that
//! copy names beside it. Blob files are immutable once committed, so a link is as good as a copy
//! and costs no I/O; deletions wait on the store's removal gate while the links are made, so no
//! blob named by the copy can vanish before it is linked.
//!
//! Tenant keys are not in that copy: they are staged apart, as the keyring
//! (`snapshot-keyring/keyring.json`, each key still wrapped by the master key), which the
//! backups keep only at its latest version. A snapshot taken before an account's purge still
//! holds the account's ciphertext but no key for it once the next keyring replaces the old one:
//! from then on no copy anywhere opens it, however old (invariant 3).
//!
//! [`check_copy`] opens such a copy read-only (a restored backup) with a keyring and proves it:
//! every blob it names exists with its recorded size and sealed hash, and a sample decrypts to
//! its recorded plaintext hash. [`install_keyring`] puts a keyring's keys into a restored copy.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable, TableHandle,
    WriteTransaction,
};

use crate::blob::{self, BlobReader};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, UserId};
use crate::keys::MasterKey;
use crate::library::TrackRecord;
use crate::records::{BlobRecord, TABLES, object_key};
use crate::replication::hash_file;
use crate::store::{
    BLOBS, META, SALTS, SCHEMA_VERSION, TENANT_KEYS, TRACKS, USERS, decode, schema_version,
};
use crate::{Vault, fsutil};

/// The staging directory's name under the data directory.
pub const STAGING_DIR: &str = "snapshot";
/// The keyring's staging directory under the data directory, and its one file.
pub const KEYRING_DIR: &str = "snapshot-keyring";
pub const KEYRING_FILE: &str = "keyring.json";

/// Every tenant's data key, wrapped by the master key: what opens a snapshot's blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyring {
    /// Tenant id → hex of the wrapped key.
    pub keys: std::collections::BTreeMap<String, String>,
}

impl Keyring {
    pub fn read(path: &Path) -> Result<Self> {
        decode("keyring", &std::fs::read(path)?)
    }

    fn wrapped(&self, owner: UserId) -> Option<Vec<u8>> {
        self.keys
            .get(&owner.to_string())
            .and_then(|hex_key| hex::decode(hex_key).ok())
    }
}

/// What a staged snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStats {
    pub dir: PathBuf,
    pub tables: usize,
    pub blobs: u64,
    pub sealed_bytes: u64,
    /// The staged keyring's directory, and how many tenants it holds keys for.
    pub keyring_dir: PathBuf,
    pub tenants: u64,
}

/// Copies every table of the registry; refuses a store holding a table the registry does not
/// know, so a table added to the schema but not to the registry fails loudly instead of missing
/// from every backup.
fn copy_all_tables(src: &ReadTransaction, dst: &WriteTransaction) -> Result<usize> {
    let mut found = 0;
    for table in src.list_tables()? {
        if !TABLES.iter().any(|spec| spec.table.name() == table.name()) {
            return Err(VaultError::invalid(
                "snapshot",
                format!("table `{}` is not in the registry", table.name()),
            ));
        }
        found += 1;
    }
    if src.list_multimap_tables()?.next().is_some() {
        return Err(VaultError::invalid(
            "snapshot",
            "multimap tables are not in the registry",
        ));
    }
    for spec in TABLES {
        // The keys are the keyring's, staged apart: a copy of them here would outlive a purge.
        // The daily salts stay out too: a weekly snapshot is kept for months, and with the
        // salts in it every client hash of the 30 days before it could be reversed (IPv4 is
        // small) long after the salts were deleted here. A restored store starts new salts.
        if [TENANT_KEYS.name(), SALTS.name()].contains(&spec.table.name()) {
            spec.table.create(dst)?;
        } else {
            spec.table.copy(src, dst)?;
        }
    }
    Ok(found)
}

/// Removes what a snapshot staged in the data directory: the store's copy and the keyring. One
/// that failed midway, or whose process was killed, left them, and they outlived a later purge
/// (every tenant's key, and hard links keeping the purged account's audio).
pub(crate) fn remove_staged(data_dir: &Path) -> std::io::Result<()> {
    for dir in [STAGING_DIR, KEYRING_DIR] {
        let path = data_dir.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

impl Vault {
    /// Replaces `<data>/snapshot/` with a consistent copy of the store: `vault.redb` copied
    /// inside one read transaction, and `blobs/` holding a hard link to every blob it names.
    /// A backup tool reads that directory; the live store is never read mid-write. A staging
    /// that fails leaves nothing behind.
    pub fn stage_snapshot(&self) -> Result<SnapshotStats> {
        let staged = self.stage();
        if staged.is_err() {
            remove_staged(self.data_dir())?;
        }
        staged
    }

    fn stage(&self) -> Result<SnapshotStats> {
        let dir = self.data_dir().join(STAGING_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        fsutil::create_private_dir(&dir)?;
        // Deleted blobs' files stay until every blob the copy names is linked.
        let _no_removals = self
            .inner
            .blob_removal
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let src = self.db().begin_read()?;
        let copy = Database::create(dir.join("vault.redb"))?;
        let dst = copy.begin_write()?;
        let tables = copy_all_tables(&src, &dst)?;
        dst.commit()?;
        drop(copy);

        let keyring_dir = self.data_dir().join(KEYRING_DIR);
        let tenants = stage_keyring(&src, &keyring_dir)?;
        let mut stats = SnapshotStats {
            dir: dir.clone(),
            tables,
            blobs: 0,
            sealed_bytes: 0,
            keyring_dir,
            tenants,
        };
        let blobs = src.open_table(BLOBS)?;
        for row in blobs.iter()? {
            let (id, raw) = row?;
            let record: BlobRecord = decode("blobs", raw.value())?;
            let blob = BlobId::from_raw(id.value());
            let from = self.blob_path(record.owner, blob);
            let to = staged_blob_path(&dir, record.owner, blob);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // A blob whose file is missing or unreadable fails every snapshot until it is
            // found: say which one.
            std::fs::hard_link(&from, &to).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "blob {blob} of account {} ({}): {e}",
                        record.owner,
                        from.display()
                    ),
                )
            })?;
            stats.blobs += 1;
            stats.sealed_bytes += blob::ciphertext_len(record.plaintext_len);
        }
        Ok(stats)
    }
}

/// Writes every tenant key of `src` into `<dir>/keyring.json` (0600, synced); answers how many.
fn stage_keyring(src: &ReadTransaction, dir: &Path) -> Result<u64> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    fsutil::create_private_dir(dir)?;
    let mut keyring = Keyring::default();
    for row in src.open_table(TENANT_KEYS)?.iter()? {
        let (owner, wrapped) = row?;
        keyring.keys.insert(
            UserId::from_raw(owner.value()).to_string(),
            hex::encode(wrapped.value()),
        );
    }
    fsutil::write_private_file(&dir.join(KEYRING_FILE), &crate::store::encode(&keyring))?;
    Ok(keyring.keys.len() as u64)
}

/// Puts `keyring`'s keys into the restored store copy in `data_dir`, for every account the
/// copy holds. Answers the accounts the keyring has no key for: purged after the snapshot was
/// taken, their audio opens nowhere; the copy notes them in the same transaction, and the
/// server purges their records again at its first housekeeping (that note, not a key merely
/// missing, is what has them purged). A keyring that holds a key for none of the copy's
/// accounts (another appliance's, or the wrong file) is refused and nothing is written:
/// installing it would name every account purged.
pub fn install_keyring(data_dir: &Path, keyring: &Keyring) -> Result<Vec<UserId>> {
    let db = Database::open(data_dir.join("vault.redb"))?;
    let txn = db.begin_write()?;
    let mut keyless = Vec::new();
    {
        let users: Vec<u128> = txn
            .open_table(USERS)?
            .iter()?
            .map(|row| row.map(|(id, _)| id.value()))
            .collect::<std::result::Result<_, _>>()?;
        let mut keys = txn.open_table(TENANT_KEYS)?;
        for &raw in &users {
            let owner = UserId::from_raw(raw);
            match keyring.wrapped(owner) {
                Some(wrapped) => {
                    keys.insert(raw, wrapped.as_slice())?;
                }
                None => keyless.push(owner),
            }
        }
        if !users.is_empty() && keyless.len() == users.len() {
            return Err(VaultError::invalid(
                "keyring",
                format!(
                    "it holds a key for none of the {} account(s) of this copy: it is not this \
                     appliance's keyring; nothing was installed",
                    users.len()
                ),
            ));
        }
    }
    crate::records::note_purged_after_snapshot(&txn, &keyless)?;
    txn.commit()?;
    Ok(keyless)
}

impl Vault {
    /// Checks a copy of this store (a restored backup in `data_dir`) with this store's master
    /// key and `keyring`, without writing to it; see [`CopyCheck`].
    pub fn check_copy(&self, data_dir: &Path, keyring: &Keyring, sample: u64) -> Result<CopyCheck> {
        // Read first, in a transaction of its own: the check may take minutes.
        let live: HashSet<UserId> = {
            let txn = self.db().begin_read()?;
            let users = txn.open_table(USERS)?;
            users
                .iter()?
                .map(|row| row.map(|(id, _)| UserId::from_raw(id.value())))
                .collect::<std::result::Result<_, _>>()?
        };
        check_copy(data_dir, self.master(), keyring, sample, &live)
    }
}

/// Results of backup runs the status API shows, kept in the store so they survive restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyRecord {
    LastSnapshot,
    LastSnapshotError,
    LastDrill,
    /// The replication worker's last check of the whole replica.
    LastReplicaCheck,
    /// The SHA-256 of the restic repository's location that snapshots went into: such a
    /// repository, found missing, is not created anew.
    Repository,
}

impl CopyRecord {
    fn key(self) -> &'static str {
        match self {
            Self::LastSnapshot => "copies.last_snapshot",
            Self::LastSnapshotError => "copies.last_snapshot_error",
            Self::LastDrill => "copies.last_drill",
            Self::LastReplicaCheck => "copies.last_replica_check",
            Self::Repository => "copies.repository",
        }
    }
}

impl Vault {
    /// Stores (or with `None` clears) a record; its content is the caller's (JSON).
    pub fn set_copy_record(&self, record: CopyRecord, value: Option<&str>) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            match value {
                Some(v) => {
                    meta.insert(record.key(), v.as_bytes())?;
                }
                None => {
                    meta.remove(record.key())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn copy_record(&self, record: CopyRecord) -> Result<Option<String>> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let value = meta
            .get(record.key())?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned());
        Ok(value)
    }
}

fn staged_blob_path(root: &Path, owner: UserId, blob: BlobId) -> PathBuf {
    root.join(object_key(owner, blob))
}

/// The result of checking a copy of the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyCheck {
    pub users: u64,
    pub tracks: u64,
    /// Blob records in the copy.
    pub blobs_listed: u64,
    /// Of those, files present with the recorded size and sealed hash.
    pub blobs_verified: u64,
    /// Blobs decrypted in full and matched against their plaintext hash.
    pub blobs_decrypted: u64,
    pub problems: u64,
    pub first_problem: Option<String>,
    pub open_time: Duration,
    pub hash_time: Duration,
    pub decrypt_time: Duration,
}

impl CopyCheck {
    pub fn passed(&self) -> bool {
        self.problems == 0
    }

    fn problem(&mut self, what: String) {
        self.problems += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(what);
        }
    }
}

/// Checks the store copy in `data_dir` without writing to it: the schema is one this build
/// reads, `master` opens it, every account the copy holds has a key in `keyring` that opens
/// with `master` (but for accounts purged since: those not in `live`, the live store's),
/// every track's blob is recorded, every recorded blob's file exists with its size and sealed
/// hash, and about `sample` blobs, spread over the store, decrypt to their recorded plaintext
/// hash.
fn check_copy(
    data_dir: &Path,
    master: &MasterKey,
    keyring: &Keyring,
    sample: u64,
    live: &HashSet<UserId>,
) -> Result<CopyCheck> {
    let mut check = CopyCheck::default();
    let started = Instant::now();
    let db = ReadOnlyDatabase::open(data_dir.join("vault.redb"))?;
    let version = schema_version(&db)?;
    if version > SCHEMA_VERSION {
        return Err(VaultError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let txn = db.begin_read()?;
    let sealed_check = txn
        .open_table(META)?
        .get("master_key_check")?
        .map(|v| v.value().to_vec());
    if !sealed_check.is_some_and(|c| master.opens_check_value(&c)) {
        return Err(VaultError::MasterKey(
            "this master key does not open the restored store".into(),
        ));
    }
    // Every account's key, not only the sampled blobs' owners': a restore with a keyring that
    // lacks one leaves that account's audio and second factor sealed for good.
    for row in txn.open_table(USERS)?.iter()? {
        let owner = UserId::from_raw(row?.0.value());
        check.users += 1;
        match keyring.wrapped(owner) {
            Some(wrapped) => {
                if master.unwrap(owner, &wrapped).is_err() {
                    check.problem(format!(
                        "the keyring's key of account {owner} does not open with this master key"
                    ));
                }
            }
            // Purged after the snapshot was taken: its audio is meant to open nowhere.
            None if !live.contains(&owner) => {}
            None => check.problem(format!(
                "the keyring has no key for account {owner}, which is still here: a restore \
                 could not open its audio"
            )),
        }
    }
    let blobs_table = txn.open_table(BLOBS)?;
    for row in txn.open_table(TRACKS)?.iter()? {
        let track: TrackRecord = decode("tracks", row?.1.value())?;
        check.tracks += 1;
        if blobs_table.get(track.blob.raw())?.is_none() {
            check.problem(format!(
                "track {} names blob {} that has no record",
                track.id, track.blob
            ));
        }
    }
    let mut blobs = Vec::new();
    for row in blobs_table.iter()? {
        let (id, raw) = row?;
        blobs.push((
            BlobId::from_raw(id.value()),
            decode::<BlobRecord>("blobs", raw.value())?,
        ));
    }
    check.blobs_listed = blobs.len() as u64;
    check.open_time = started.elapsed();

    let started = Instant::now();
    let mut intact = vec![false; blobs.len()];
    for (i, (blob, record)) in blobs.iter().enumerate() {
        let path = staged_blob_path(data_dir, record.owner, *blob);
        let expected = blob::ciphertext_len(record.plaintext_len);
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                check.problem(format!("blob {blob} is missing"));
                continue;
            }
            Err(e) => {
                check.problem(format!("blob {blob} cannot be read: {e}"));
                continue;
            }
            Ok(meta) if meta.len() != expected => {
                check.problem(format!(
                    "blob {blob} has {} bytes, its record says {expected}",
                    meta.len()
                ));
                continue;
            }
            Ok(_) => {}
        }
        if let Some(recorded) = &record.sealed_sha256
            && hash_file(&path)? != *recorded
        {
            check.problem(format!("blob {blob} does not match its recorded hash"));
            continue;
        }
        check.blobs_verified += 1;
        intact[i] = true;
    }
    check.hash_time = started.elapsed();

    let started = Instant::now();
    let step = (blobs.len() as u64 / sample.max(1)).max(1) as usize;
    for (i, (blob, record)) in blobs.iter().enumerate() {
        // Blobs without a sealed hash are only proven by decrypting them; a blob already found
        // broken is not counted twice.
        if !intact[i] || (i % step != 0 && record.sealed_sha256.is_some()) {
            continue;
        }
        match decrypt_and_hash(data_dir, keyring, master, *blob, record) {
            Ok(hash) if hash == record.sha256 => check.blobs_decrypted += 1,
            Ok(_) => check.problem(format!(
                "blob {blob} decrypts to other content than recorded"
            )),
            Err(e) => check.problem(format!("blob {blob} does not decrypt: {e}")),
        }
    }
    check.decrypt_time = started.elapsed();
    Ok(check)
}

fn decrypt_and_hash(
    data_dir: &Path,
    keyring: &Keyring,
    master: &MasterKey,
    blob: BlobId,
    record: &BlobRecord,
) -> Result<String> {
    use sha2::Digest;
    let wrapped = keyring
        .wrapped(record.owner)
        .ok_or_else(|| VaultError::CorruptRecord {
            table: "keyring",
            reason: format!("the keyring has no key for tenant {}", record.owner),
        })?;
    let key = master.unwrap(record.owner, &wrapped)?;
    let mut reader = BlobReader::open(
        &staged_blob_path(data_dir, record.owner, blob),
        blob,
        key.blob_cipher(blob),
        record.plaintext_len,
    )?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientInfo;
    use crate::testutil::TestVault;
    use redb::ReadableTableMetadata;

    #[test]
    fn a_staged_snapshot_is_a_complete_store_that_checks_clean() {
        let t = TestVault::new();
        let (_, scope) = t.user("a@example.com");
        let kept = t.upload(&scope, &vec![7u8; 200_000]);
        let gone = t.upload(&scope, b"short");
        let client = ClientInfo {
            ip: Some([203, 0, 113, 9].into()),
            user_agent: Some("Mozilla/5.0".into()),
        };
        t.vault.hash_client(&client).unwrap();
        let live = t
            .vault
            .db()
            .begin_read()
            .unwrap()
            .open_table(SALTS)
            .unwrap()
            .len();
        assert_eq!(live.unwrap(), 1, "today's salt is in the live store");
        t.vault
            .library(&scope)
            .delete(gone.id, &ClientInfo::default())
            .unwrap();
        let stats = t.vault.stage_snapshot().unwrap();
        assert_eq!(stats.blobs, 1);
        assert_eq!(
            stats.tables,
            TABLES.len(),
            "every table of the schema is copied"
        );
        assert!(stats.dir.join(replication_key(&kept)).exists());

        let keyring = Keyring::read(&stats.keyring_dir.join(KEYRING_FILE)).unwrap();
        assert_eq!(stats.tenants, 1);
        let check = t.vault.check_copy(&stats.dir, &keyring, 10).unwrap();
        assert!(check.passed(), "{check:?}");
        assert_eq!((check.users, check.tracks, check.blobs_listed), (1, 1, 1));
        assert_eq!((check.blobs_verified, check.blobs_decrypted), (1, 1));

        // The copy holds no key; with the keyring's it is a store of its own: it opens, and
        // serves the same audio.
        let copy = ReadOnlyDatabase::open(stats.dir.join("vault.redb")).unwrap();
        let keys = copy
            .begin_read()
            .unwrap()
            .open_table(TENANT_KEYS)
            .unwrap()
            .len();
        assert_eq!(keys.unwrap(), 0, "no tenant key in the data snapshot");
        let salts = copy.begin_read().unwrap().open_table(SALTS).unwrap().len();
        assert_eq!(salts.unwrap(), 0, "no daily salt in the data snapshot");
        drop(copy);
        assert!(install_keyring(&stats.dir, &keyring).unwrap().is_empty());
        let copy = TestVault::open_at(&stats.dir, crate::Policy::default(), t.now.clone());
        let mut reader = copy.library(&scope).open_blob(&kept).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut bytes).unwrap();
        assert_eq!(bytes, vec![7u8; 200_000]);
    }

    #[test]
    fn a_table_the_registry_does_not_know_fails_the_snapshot() {
        let t = TestVault::new();
        let stray: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("stray");
        let txn = t.vault.db().begin_write().unwrap();
        txn.open_table(stray).unwrap().insert(1, 1).unwrap();
        txn.commit().unwrap();
        assert!(matches!(
            t.vault.stage_snapshot(),
            Err(VaultError::Invalid { field: "snapshot", reason }) if reason.contains("`stray`")
        ));
    }

    #[test]
    fn a_missing_blob_file_fails_the_snapshot_naming_the_blob() {
        let t = TestVault::new();
        let (_, scope) = t.user("a@example.com");
        t.upload(&scope, b"kept");
        let lost = t.upload(&scope, b"lost");
        std::fs::remove_file(t.vault.blob_path(scope.owner(), lost.blob)).unwrap();
        let err = t.vault.stage_snapshot().unwrap_err().to_string();
        assert!(err.contains(&lost.blob.to_string()), "{err}");
        // Nothing staged is left: no copy of the store, no keyring.
        for dir in [STAGING_DIR, KEYRING_DIR] {
            assert!(!t.vault.data_dir().join(dir).exists(), "{dir} was left");
        }
    }

    fn replication_key(track: &TrackRecord) -> String {
        object_key(track.owner, track.blob)
    }

    #[test]
    fn the_copy_check_finds_a_corrupted_and_a_missing_blob() {
        let t = TestVault::new();
        let (_, scope) = t.user("a@example.com");
        let first = t.upload(&scope, &vec![1u8; 70_000]);
        let second = t.upload(&scope, &vec![2u8; 70_000]);
        let stats = t.vault.stage_snapshot().unwrap();
        let keyring = Keyring::read(&stats.keyring_dir.join(KEYRING_FILE)).unwrap();

        // One byte flipped in a staged link would change the live blob too: copy, then corrupt.
        let path = stats.dir.join(replication_key(&first));
        let mut bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let check = t.vault.check_copy(&stats.dir, &keyring, 10).unwrap();
        assert!(!check.passed());
        assert_eq!(check.blobs_verified, 1);
        assert!(
            check
                .first_problem
                .as_deref()
                .unwrap()
                .contains("recorded hash"),
            "{check:?}"
        );

        std::fs::remove_file(stats.dir.join(replication_key(&second))).unwrap();
        let check = t.vault.check_copy(&stats.dir, &keyring, 10).unwrap();
        assert_eq!(check.problems, 2);
        assert_eq!(check.blobs_verified, 0);

        let other = MasterKey::from_hex(&"01".repeat(32)).unwrap();
        assert!(matches!(
            check_copy(&stats.dir, &other, &keyring, 1, &HashSet::new()),
            Err(VaultError::MasterKey(_))
        ));
    }

    #[test]
    fn the_copy_check_wants_a_working_key_for_every_account_not_only_the_sampled_ones() {
        let t = TestVault::new();
        let (_, uploader) = t.user("uploader@example.com");
        let (_, quiet) = t.user("quiet@example.com");
        t.upload(&uploader, &vec![5u8; 70_000]);
        let stats = t.vault.stage_snapshot().unwrap();
        let keyring = Keyring::read(&stats.keyring_dir.join(KEYRING_FILE)).unwrap();
        assert!(
            t.vault
                .check_copy(&stats.dir, &keyring, 10)
                .unwrap()
                .passed()
        );

        // The quiet account has no audio to sample; a keyring without its key still fails.
        let mut without = keyring.clone();
        without.keys.remove(&quiet.owner().to_string());
        let check = t.vault.check_copy(&stats.dir, &without, 10).unwrap();
        assert_eq!(check.problems, 1, "{check:?}");
        assert!(
            check
                .first_problem
                .as_deref()
                .is_some_and(|p| p.contains(&quiet.owner().to_string()) && p.contains("no key")),
            "{check:?}"
        );

        // A key that the master key does not open is as good as none.
        let mut garbled = keyring.clone();
        garbled
            .keys
            .insert(quiet.owner().to_string(), hex::encode([7u8; 60]));
        let check = t.vault.check_copy(&stats.dir, &garbled, 10).unwrap();
        assert!(
            check
                .first_problem
                .as_deref()
                .is_some_and(|p| p.contains("does not open")),
            "{check:?}"
        );
    }

    #[test]
    fn a_snapshot_taken_before_a_purge_opens_for_everyone_but_the_purged_account() {
        let t = TestVault::with_policy(|p| p.deletion_grace_days = 1);
        let (_, leaving) = t.user("leaving@example.com");
        let (_, staying) = t.user("staying@example.com");
        t.upload(&leaving, &vec![3u8; 90_000]);
        t.upload(&staying, &vec![4u8; 90_000]);
        let before = t.vault.stage_snapshot().unwrap();
        let old_copy = before.dir.with_file_name("before-the-purge");
        std::fs::rename(&before.dir, &old_copy).unwrap();
        let old_keyring = Keyring::read(&before.keyring_dir.join(KEYRING_FILE)).unwrap();
        assert!(
            t.vault
                .check_copy(&old_copy, &old_keyring, 10)
                .unwrap()
                .passed()
        );

        t.vault.admin().schedule_deletion(leaving.owner()).unwrap();
        t.advance_secs(86_400 + 1);
        t.vault.admin().purge_due_accounts().unwrap();
        let after = t.vault.stage_snapshot().unwrap();
        let keyring = Keyring::read(&after.keyring_dir.join(KEYRING_FILE)).unwrap();
        assert_eq!(after.tenants, 1, "the purged key is in no new keyring");

        // The old snapshot still holds the purged account's ciphertext, and nothing opens it.
        let check = t.vault.check_copy(&old_copy, &keyring, 10).unwrap();
        assert_eq!((check.blobs_listed, check.blobs_verified), (2, 2));
        assert_eq!(
            check.blobs_decrypted, 1,
            "the other account's audio still opens"
        );
        assert!(
            check
                .first_problem
                .as_deref()
                .is_some_and(|p| p.contains(&leaving.owner().to_string())),
            "{check:?}"
        );
        assert_eq!(
            install_keyring(&old_copy, &keyring).unwrap(),
            vec![leaving.owner()],
            "a restore of it names the account to purge again"
        );
        let restored = TestVault::open_at(&old_copy, crate::Policy::default(), t.now.clone());
        assert_eq!(
            restored.admin().purge_due_accounts().unwrap().purged,
            vec![leaving.owner()],
            "deleted stays deleted: the restored store purges it again"
        );
        assert_eq!(restored.admin().list().unwrap().len(), 1);
        let report = restored.admin().purge_due_accounts().unwrap();
        assert!(
            report.purged.is_empty() && report.failures.is_empty(),
            "the restore's note went with the purge: {report:?}"
        );
    }

    /// A keyring that holds none of a copy's accounts is not this appliance's (or not the
    /// keyring at all): installing it would name every account purged. It is refused, and the
    /// copy keeps no note that would have housekeeping purge anyone.
    #[test]
    fn a_keyring_holding_none_of_the_accounts_is_refused() {
        let t = TestVault::new();
        let (_, ana) = t.user("ana@example.com");
        t.upload(&ana, &vec![5u8; 90_000]);
        let staged = t.vault.stage_snapshot().unwrap();
        let foreign = Keyring {
            keys: [(UserId::random().to_string(), "00".repeat(40))].into(),
        };
        for keyring in [Keyring::default(), foreign] {
            assert!(matches!(
                install_keyring(&staged.dir, &keyring),
                Err(VaultError::Invalid {
                    field: "keyring",
                    ..
                })
            ));
        }
        let restored = TestVault::open_at(&staged.dir, crate::Policy::default(), t.now.clone());
        let report = restored.admin().purge_due_accounts().unwrap();
        assert!(report.purged.is_empty(), "{report:?}");
        assert!(matches!(
            report.failures.as_slice(),
            [crate::PurgeFailure {
                account: None,
                error: VaultError::KeyringMissing { accounts: 1 }
            }]
        ));
        assert_eq!(restored.admin().list().unwrap().len(), 1);
    }
}

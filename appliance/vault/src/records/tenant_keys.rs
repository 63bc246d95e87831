//! Tenant data keys, wrapped by the master key: written when an account is created, read by
//! every feature that seals or opens a blob, and removed last by the account purge, after
//! which every copy of the tenant's blobs (replicas, backups) is unreadable.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

use crate::Vault;
use crate::error::{Result, VaultError};
use crate::ids::UserId;
use crate::keys::TenantKey;
use crate::store::{META, TENANT_KEYS, USERS, decode, encode};

pub(crate) fn tenant_key(
    vault: &Vault,
    table: &impl ReadableTable<u128, &'static [u8]>,
    owner: UserId,
) -> Result<TenantKey> {
    let wrapped = table
        .get(owner.raw())?
        .ok_or_else(|| VaultError::CorruptRecord {
            table: "tenant_keys",
            reason: format!("tenant {owner} has no data key"),
        })?;
    vault.master().unwrap(owner, wrapped.value())
}

/// The owner's key, read in a transaction of its own.
pub(crate) fn read_tenant_key(vault: &Vault, owner: UserId) -> Result<TenantKey> {
    let txn = vault.db().begin_read()?;
    tenant_key(vault, &txn.open_table(TENANT_KEYS)?, owner)
}

/// Stores a new tenant's key, wrapped by the master key.
pub(crate) fn put_tenant_key(vault: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    let wrapped = vault.master().wrap(owner, &TenantKey::generate())?;
    txn.open_table(TENANT_KEYS)?
        .insert(owner.raw(), wrapped.as_slice())?;
    Ok(())
}

/// Crypto-shreds the owner's data: the last step of an account purge. A restore's note that
/// the account was purged after its snapshot goes with it.
pub(crate) fn shred_tenant_key(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    txn.open_table(TENANT_KEYS)?.remove(owner.raw())?;
    let mut noted = purged_after_snapshot(&txn.open_table(META)?)?;
    if noted.contains(&owner) {
        noted.retain(|id| *id != owner);
        note_purged_after_snapshot(txn, &noted)?;
    }
    Ok(())
}

/// `meta` key of the accounts a restore found purged after its snapshot was taken.
const PURGED_AFTER_SNAPSHOT: &str = "restore.purged_after_snapshot";

/// Records, in a restored store's transaction, the accounts its snapshot holds and the
/// appliance's latest keyring does not: purged after the snapshot was taken. This note, not
/// a key merely missing, is what has an account purged again ([`keyless_accounts`]).
pub(crate) fn note_purged_after_snapshot(
    txn: &WriteTransaction,
    accounts: &[UserId],
) -> Result<()> {
    let mut meta = txn.open_table(META)?;
    if accounts.is_empty() {
        meta.remove(PURGED_AFTER_SNAPSHOT)?;
    } else {
        meta.insert(PURGED_AFTER_SNAPSHOT, encode(&accounts).as_slice())?;
    }
    Ok(())
}

fn purged_after_snapshot(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<UserId>> {
    match meta.get(PURGED_AFTER_SNAPSHOT)? {
        Some(v) => decode("meta", v.value()),
        None => Ok(Vec::new()),
    }
}

/// The accounts without a data key, and what the store says of them.
#[derive(Debug, Default)]
pub(crate) struct KeylessAccounts {
    /// Named by the restore that put the keyring in: purged after the snapshot was taken,
    /// brought back by it, to be purged again.
    pub purged_after_snapshot: Vec<UserId>,
    /// Without a key and without that note: kept. (No purge leaves an account without its key
    /// and its records: both go in one transaction.)
    pub unexplained: Vec<UserId>,
    /// There are accounts and no key at all: the keyring was never put in.
    pub keyring_missing: bool,
}

/// Accounts without a data key: purged before and brought back by a restored snapshot whose
/// keyring no longer held their key, as the restore noted; or lost keys, which are kept.
pub(crate) fn keyless_accounts(vault: &Vault) -> Result<KeylessAccounts> {
    let txn = vault.db().begin_read()?;
    let keys = txn.open_table(TENANT_KEYS)?;
    let noted = purged_after_snapshot(&txn.open_table(META)?)?;
    let (mut accounts, mut found) = (0u64, KeylessAccounts::default());
    for row in txn.open_table(USERS)?.iter()? {
        let owner = row?.0.value();
        accounts += 1;
        if keys.get(owner)?.is_none() {
            let owner = UserId::from_raw(owner);
            if noted.contains(&owner) {
                found.purged_after_snapshot.push(owner);
            } else {
                found.unexplained.push(owner);
            }
        }
    }
    found.keyring_missing = accounts > 0 && keys.is_empty()?;
    Ok(found)
}

//! Tenant data keys, wrapped by the master key: written when an account is created, read by
//! every feature that seals or opens a blob, and removed last by the account purge, after
//! which every copy of the tenant's blobs (replicas, backups) is unreadable.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use crate::Vault;
use crate::error::{Result, VaultError};
use crate::ids::UserId;
use crate::keys::TenantKey;
use crate::store::TENANT_KEYS;

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

/// Crypto-shreds the owner's data: the last step of an account purge.
pub(crate) fn shred_tenant_key(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    txn.open_table(TENANT_KEYS)?.remove(owner.raw())?;
    Ok(())
}

/// Accounts without a data key: purged before, brought back by a restored snapshot whose
/// keyring no longer held their key.
pub(crate) fn keyless_accounts(vault: &Vault) -> Result<Vec<UserId>> {
    let txn = vault.db().begin_read()?;
    let keys = txn.open_table(TENANT_KEYS)?;
    let mut keyless = Vec::new();
    for row in txn.open_table(crate::store::USERS)?.iter()? {
        let owner = row?.0.value();
        if keys.get(owner)?.is_none() {
            keyless.push(UserId::from_raw(owner));
        }
    }
    Ok(keyless)
}

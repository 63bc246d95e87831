//! The records layer, below every feature: the registry of the store's tables, the schema
//! migrations, and the rows more than one feature reads or writes.
//!
//! [`TABLES`] names every table of [`crate::store`]: whether its rows belong to one owner (and
//! if not, why not), how to count an owner's rows, whether an account purge removes them (and
//! if not, why it keeps them) and how the account export carries them (or why it leaves them
//! out). Migrations create every registered table; snapshots copy every registered table and
//! refuse a store holding one the registry does not know; the account purge ends with
//! [`check_purged`], so a per-owner table that no purge step empties fails the purge, and the
//! registry's test, rather than leaving the account's rows behind.
//!
//! The shared rows: accounts ([`UserRecord`]), tenant keys, blob records and replica tasks.
//! Features import these from here, never from each other.

mod blobs;
mod legal;
mod migrations;
mod replicas;
mod tenant_keys;
mod users;

use redb::{
    Key, ReadTransaction, ReadableTable, TableDefinition, TableHandle, Value, WriteTransaction,
};

pub(crate) use blobs::{BlobRecord, get_blob, put_blob, remove_blob};
pub use legal::LegalRequestRecord;
pub(crate) use legal::{
    Gag, LegalHold, Notice, all_requests, get_request, held, holding, put_request, withheld_from,
};
pub(crate) use migrations::migrate;
pub use replicas::{ReplicaOp, ReplicaTask, object_key};
pub(crate) use replicas::{enqueue_delete, enqueue_upload};
pub(crate) use tenant_keys::{
    keyless_accounts, note_purged_after_snapshot, put_tenant_key, read_tenant_key,
    shred_tenant_key, tenant_key,
};
pub use users::{ReviewMail, UserRecord};
pub(crate) use users::{TotpState, edit_user, get_user, owner_allows, put_user};

use crate::error::{Result, VaultError};
use crate::ids::UserId;
use crate::store::{
    AUDIT, AUDIT_CHECKPOINTS, BLOBS, COMMENTS, EMAIL_CHANGES, HELD_TRACKS, INCIDENT_ACCOUNTS,
    INCIDENTS, JOBS, JOBS_BY_SUBJECT, LEGAL_REQUESTS, LISTENING, META, NOTIFICATIONS, OUTBOX,
    RECIPIENTS, RENDERS, REPLICATION_QUEUE, SALTS, SESSIONS, SESSIONS_BY_USER, SHARES,
    SPENT_NONCES, TENANT_KEYS, TRACKS, UPLOAD_LINKS, USERS, USERS_BY_EMAIL, WATERMARK_PAYLOADS,
    WORKERS, decode,
};

/// A table whatever its key and value types: what migrations and snapshots do with every one.
pub(crate) trait StoredTable: Sync {
    /// The registry's tables are statics, so their names are too (errors carry them).
    fn name(&'static self) -> &'static str;
    /// Opens the table in `txn`, creating it if the store has none yet.
    fn create(&self, txn: &WriteTransaction) -> Result<()>;
    /// Copies every row of the table in `src` into the same table in `dst`.
    fn copy(&self, src: &ReadTransaction, dst: &WriteTransaction) -> Result<()>;
}

impl<K, V> StoredTable for TableDefinition<'static, K, V>
where
    K: Key + Sync + 'static,
    V: Value + Sync + 'static,
{
    fn name(&'static self) -> &'static str {
        TableHandle::name(self)
    }

    fn create(&self, txn: &WriteTransaction) -> Result<()> {
        txn.open_table(*self)?;
        Ok(())
    }

    fn copy(&self, src: &ReadTransaction, dst: &WriteTransaction) -> Result<()> {
        let from = match src.open_table(*self) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut to = dst.open_table(*self)?;
        for row in from.iter()? {
            let (k, v) = row?;
            to.insert(k.value(), v.value())?;
        }
        Ok(())
    }
}

/// Counts one owner's rows in a table. Takes the write transaction so the account purge can
/// check its own work before it commits.
pub(crate) type OwnerRows = fn(&WriteTransaction, UserId) -> Result<u64>;

/// One table of the store and what is done with its rows.
pub(crate) struct TableSpec {
    pub table: &'static dyn StoredTable,
    pub scope: Scope,
}

// The reasons and the export are declarations: the registry's test holds every table to them,
// while the store itself acts only on `rows` and `purge`.
pub(crate) enum Scope {
    /// Rows of no one owner.
    Global {
        #[cfg_attr(not(test), expect(dead_code, reason = "read by the registry's test"))]
        why: &'static str,
    },
    PerOwner {
        rows: OwnerRows,
        purge: Purge,
        #[cfg_attr(not(test), expect(dead_code, reason = "read by the registry's test"))]
        export: Export,
    },
}

/// What an account purge does with the account's rows in a table.
pub(crate) enum Purge {
    Removed,
    Kept {
        #[cfg_attr(not(test), expect(dead_code, reason = "read by the registry's test"))]
        why: &'static str,
    },
}

/// How the account export carries the account's rows in a table.
#[cfg_attr(not(test), expect(dead_code, reason = "read by the registry's test"))]
pub(crate) enum Export {
    In(ExportDocument),
    Excluded { why: &'static str },
}

/// The documents of an account export (`crate::AccountExport`; the server writes each as the
/// archive entry named here).
#[cfg_attr(test, derive(Debug, Clone, Copy))]
pub(crate) enum ExportDocument {
    /// `account.json`
    Account,
    /// `tracks.json`
    Tracks,
    /// `shares.json`
    Shares,
    /// `activity.json`
    Activity,
    /// `review.json`
    Review,
    /// `audio/`: the original audio of each track.
    Audio,
}

/// Every table of the store. A table missing here is never created, copied into a snapshot
/// (which then refuses the store), or checked by the purge.
pub(crate) static TABLES: &[TableSpec] = &[
    TableSpec {
        table: &META,
        scope: Scope::Global {
            why: "the schema version, the master-key check and backup results",
        },
    },
    TableSpec {
        table: &USERS,
        scope: Scope::PerOwner {
            rows: |txn, owner| keyed_by_owner(txn, USERS, owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Account),
        },
    },
    TableSpec {
        table: &USERS_BY_EMAIL,
        scope: Scope::PerOwner {
            rows: |txn, owner| {
                let mut n = 0;
                for row in txn.open_table(USERS_BY_EMAIL)?.iter()? {
                    n += u64::from(row?.1.value() == owner.raw());
                }
                Ok(n)
            },
            purge: Purge::Removed,
            // The address is the account's own.
            export: Export::In(ExportDocument::Account),
        },
    },
    TableSpec {
        table: &TENANT_KEYS,
        scope: Scope::PerOwner {
            rows: |txn, owner| keyed_by_owner(txn, TENANT_KEYS, owner),
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "the data key, wrapped by the master key, opens nothing outside this \
                      appliance; the export carries the audio decrypted",
            },
        },
    },
    TableSpec {
        table: &SESSIONS,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &SESSIONS, "user", owner),
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "sign-in credentials (hashes of session tokens) and hashed clients, \
                      not the owner's content",
            },
        },
    },
    TableSpec {
        table: &SESSIONS_BY_USER,
        scope: Scope::PerOwner {
            rows: |txn, owner| {
                let table = txn.open_table(SESSIONS_BY_USER)?;
                count(table.range((owner.raw(), [0u8; 32])..=(owner.raw(), [0xFF; 32]))?)
            },
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "an index of the sessions, which are not exported",
            },
        },
    },
    TableSpec {
        table: &TRACKS,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, TRACKS, owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Tracks),
        },
    },
    TableSpec {
        table: &BLOBS,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &BLOBS, "owner", owner),
            purge: Purge::Removed,
            // Peaks and recipients' copies are made from that audio.
            export: Export::In(ExportDocument::Audio),
        },
    },
    TableSpec {
        table: &AUDIT,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &AUDIT, "owner", owner),
            purge: Purge::Kept {
                why: "the chain is append-only: removing a record breaks every later link; \
                      records hold ids and salted hashes, and the purge is one of them",
            },
            export: Export::In(ExportDocument::Activity),
        },
    },
    TableSpec {
        table: &WORKERS,
        scope: Scope::Global {
            why: "the admin's stem workers: names, token hashes and what they report; a job \
                  they hold is in `jobs`, under its owner",
        },
    },
    TableSpec {
        table: &AUDIT_CHECKPOINTS,
        scope: Scope::Global {
            why: "signatures over the head of the whole chain",
        },
    },
    TableSpec {
        table: &JOBS,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &JOBS, "owner", owner),
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "background work on the owner's tracks and copies; what it found or made \
                      is in the tracks and the audio",
            },
        },
    },
    TableSpec {
        table: &JOBS_BY_SUBJECT,
        scope: Scope::PerOwner {
            rows: |txn, owner| {
                let by_subject = txn.open_table(JOBS_BY_SUBJECT)?;
                let jobs = txn.open_table(JOBS)?;
                let owner = owner.to_string();
                let mut n = 0;
                for row in by_subject.iter()? {
                    // An index entry whose job is gone counts for whoever is asked.
                    n += u64::from(match jobs.get(row?.1.value())? {
                        Some(job) => names("jobs", job.value(), "owner", &owner)?,
                        None => true,
                    });
                }
                Ok(n)
            },
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "an index of the jobs, which are not exported",
            },
        },
    },
    TableSpec {
        table: &REPLICATION_QUEUE,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &REPLICATION_QUEUE, "owner", owner),
            purge: Purge::Kept {
                why: "the deletions of the account's replicas stay queued until the off-site \
                      copies are gone; the purge leaves no upload queued",
            },
            export: Export::Excluded {
                why: "the replica's work queue, naming blobs whose audio the export carries",
            },
        },
    },
    TableSpec {
        table: &SHARES,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, SHARES, owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Shares),
        },
    },
    TableSpec {
        table: &RECIPIENTS,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &RECIPIENTS, "owner", owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Shares),
        },
    },
    TableSpec {
        table: &WATERMARK_PAYLOADS,
        scope: Scope::PerOwner {
            rows: |txn, owner| {
                let payloads = txn.open_table(WATERMARK_PAYLOADS)?;
                of_recipients(
                    txn,
                    payloads.iter()?.map(|r| r.map(|(_, v)| v.value())),
                    owner,
                )
            },
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "the index a leak trace reads a payload back through; each recipient \
                      is in the shares",
            },
        },
    },
    TableSpec {
        table: &RENDERS,
        scope: Scope::PerOwner {
            rows: |txn, owner| {
                let renders = txn.open_table(RENDERS)?;
                of_recipients(
                    txn,
                    renders.iter()?.map(|r| r.map(|(k, _)| k.value().0)),
                    owner,
                )
            },
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "recipients' watermarked copies, made from audio the export carries",
            },
        },
    },
    TableSpec {
        table: &SPENT_NONCES,
        scope: Scope::Global {
            why: "nonces of spent download URLs and their expiry, naming no one",
        },
    },
    TableSpec {
        table: &SALTS,
        scope: Scope::Global {
            why: "one salt a day for every client's hash",
        },
    },
    TableSpec {
        table: &OUTBOX,
        scope: Scope::PerOwner {
            rows: |txn, owner| naming_owner(txn, &OUTBOX, "account", owner),
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "copies of the mail the account was sent, which it holds in its mailbox; \
                      the notices themselves are in the account's documents",
            },
        },
    },
    TableSpec {
        table: &EMAIL_CHANGES,
        scope: Scope::PerOwner {
            rows: |txn, owner| keyed_by_owner(txn, EMAIL_CHANGES, owner),
            purge: Purge::Removed,
            // The address waiting for confirmation; the link's secret is kept only hashed.
            export: Export::In(ExportDocument::Account),
        },
    },
    TableSpec {
        table: &INCIDENTS,
        scope: Scope::Global {
            why: "the incident register, kept for regulators: what happened, its timeline, the \
                  rule that chose the affected accounts and their count, the notice sent; it \
                  names no account (those are `incident_accounts`)",
        },
    },
    TableSpec {
        table: &INCIDENT_ACCOUNTS,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, INCIDENT_ACCOUNTS, owner),
            purge: Purge::Removed,
            // The breach notices the account was sent, with their text.
            export: Export::In(ExportDocument::Account),
        },
    },
    TableSpec {
        table: &HELD_TRACKS,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, HELD_TRACKS, owner),
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "tracks the owner deleted, kept only because a legal hold holds the \
                      account; a hold may be under a gag, and they are handed over only to the \
                      authority that asked",
            },
        },
    },
    TableSpec {
        table: &LEGAL_REQUESTS,
        scope: Scope::PerOwner {
            rows: |txn, owner| legal::naming(&txn.open_table(LEGAL_REQUESTS)?, owner),
            // The request stays (the transparency report counts it), naming a stand-in; a
            // request that holds the account refuses the purge.
            purge: Purge::Removed,
            export: Export::Excluded {
                why: "a request may be under a gag: the user learns of it by its notice, \
                      which carries what the request asked",
            },
        },
    },
    TableSpec {
        table: &COMMENTS,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, COMMENTS, owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Review),
        },
    },
    TableSpec {
        table: &UPLOAD_LINKS,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, UPLOAD_LINKS, owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Review),
        },
    },
    TableSpec {
        table: &LISTENING,
        scope: Scope::PerOwner {
            rows: |txn, owner| {
                let o = owner.raw();
                count(
                    txn.open_table(LISTENING)?
                        .range((o, 0, 0)..=(o, u128::MAX, u128::MAX))?,
                )
            },
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Review),
        },
    },
    TableSpec {
        table: &NOTIFICATIONS,
        scope: Scope::PerOwner {
            rows: |txn, owner| under_owner(txn, NOTIFICATIONS, owner),
            purge: Purge::Removed,
            export: Export::In(ExportDocument::Review),
        },
    },
];

/// Fails with [`VaultError::PurgeIncomplete`] if a table the purge empties still holds a row of
/// `owner`: the account purge's last check, inside its transaction.
pub(crate) fn check_purged(txn: &WriteTransaction, owner: UserId) -> Result<()> {
    for spec in TABLES {
        if let Scope::PerOwner {
            rows,
            purge: Purge::Removed,
            ..
        } = &spec.scope
        {
            let left = rows(txn, owner)?;
            if left > 0 {
                return Err(VaultError::PurgeIncomplete {
                    table: spec.table.name(),
                    rows: left,
                });
            }
        }
    }
    Ok(())
}

fn count<T>(rows: impl Iterator<Item = Result<T, redb::StorageError>>) -> Result<u64> {
    rows.map(|row| row.map(|_| 1))
        .sum::<Result<u64, _>>()
        .map_err(Into::into)
}

/// Rows keyed by the owner's id: none or one.
fn keyed_by_owner<V: Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<u128, V>,
    owner: UserId,
) -> Result<u64> {
    Ok(u64::from(
        txn.open_table(table)?.get(owner.raw())?.is_some(),
    ))
}

/// Rows keyed `(owner id, …)`.
fn under_owner<V: Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<(u128, u128), V>,
    owner: UserId,
) -> Result<u64> {
    count(
        txn.open_table(table)?
            .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?,
    )
}

/// JSON records whose `field` holds the owner's id.
fn naming_owner<K: Key + 'static>(
    txn: &WriteTransaction,
    table: &'static TableDefinition<'static, K, &'static [u8]>,
    field: &str,
    owner: UserId,
) -> Result<u64> {
    let owner = owner.to_string();
    let mut n = 0;
    for row in txn.open_table(*table)?.iter()? {
        n += u64::from(names(
            TableHandle::name(table),
            row?.1.value(),
            field,
            &owner,
        )?);
    }
    Ok(n)
}

/// Whether the JSON record's `field` holds `owner`.
fn names(table: &'static str, record: &[u8], field: &str, owner: &str) -> Result<bool> {
    let record: serde_json::Value = decode(table, record)?;
    Ok(record.get(field).and_then(|v| v.as_str()) == Some(owner))
}

/// Rows of the owner's recipients, given the recipient each row names. A row whose recipient
/// is gone counts for whichever owner is asked: its owner cannot be told any more, and only a
/// purge that missed the row leaves it.
fn of_recipients(
    txn: &WriteTransaction,
    rows: impl Iterator<Item = Result<u128, redb::StorageError>>,
    owner: UserId,
) -> Result<u64> {
    let recipients = txn.open_table(RECIPIENTS)?;
    let owner = owner.to_string();
    let mut n = 0;
    for recipient in rows {
        let owned = match recipients.get(recipient?)? {
            Some(row) => names("recipients", row.value(), "owner", &owner)?,
            None => true,
        };
        n += u64::from(owned);
    }
    Ok(n)
}

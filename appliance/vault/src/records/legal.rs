//! Legal requests as stored: what an authority asked, the hold on its accounts, the gag, the
//! notices sent and the timeline. They sit in the records layer because features below the
//! legal one read them: the account purge (a hold refuses it), the owner's activity (a request
//! stays out of it until its notice) and the pruning of a purged owner's data from snapshots.
//! `crate::legal` writes them.

use std::collections::{BTreeSet, HashSet};

use redb::{ReadableDatabase, ReadableTable, Table};
use serde::{Deserialize, Serialize};
use studiovault_api::admin::{LegalDataType, LegalKind, LegalState};

use crate::Vault;
use crate::error::Result;
use crate::ids::{LegalRequestId, UserId};
use crate::store::{LEGAL_REQUESTS, decode, encode};

/// A legal request as stored. Accounts are named by id only, so a request kept after its
/// account is purged keeps nothing of it but the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalRequestRecord {
    pub id: LegalRequestId,
    pub kind: LegalKind,
    pub authority: String,
    pub legal_basis: String,
    pub reference: String,
    pub received_at_ms: i64,
    pub deadline_ms: i64,
    pub accounts: Vec<UserId>,
    pub data_types: Vec<LegalDataType>,
    pub state: LegalState,
    /// Why it was complied with, in part, or refused.
    pub reason: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub hold: Option<LegalHold>,
    pub gag: Option<Gag>,
    /// The accounts sent their notice, and when it was queued.
    pub notices: Vec<Notice>,
    /// Exports handed over.
    pub exports: u32,
    /// Every step, oldest first.
    pub timeline: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalHold {
    pub placed_at_ms: i64,
    pub released_at_ms: Option<i64>,
    pub release_reason: Option<String>,
}

/// An order not to tell the users, until `until_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gag {
    pub until_ms: i64,
    pub recorded_at_ms: i64,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub account: UserId,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: i64,
    pub what: String,
}

impl LegalRequestRecord {
    /// `legal/<id>`: the object of its audit records and the topic of its notices.
    pub fn object(&self) -> String {
        format!("legal/{}", self.id)
    }

    /// Whether its hold is placed and not released.
    pub fn on_hold(&self) -> bool {
        self.hold
            .as_ref()
            .is_some_and(|h| h.released_at_ms.is_none())
    }

    /// Whether a gag forbids telling the users at `now_ms`.
    pub fn gag_in_force(&self, now_ms: i64) -> bool {
        self.gag.as_ref().is_some_and(|g| g.until_ms > now_ms)
    }

    /// When `account` was sent its notice.
    pub fn notified_at(&self, account: UserId) -> Option<i64> {
        self.notices
            .iter()
            .find(|n| n.account == account)
            .map(|n| n.at_ms)
    }

    /// The accounts not sent their notice yet.
    pub fn unnotified(&self) -> Vec<UserId> {
        self.accounts
            .iter()
            .copied()
            .filter(|a| self.notified_at(*a).is_none())
            .collect()
    }

    pub(crate) fn step(&mut self, at_ms: i64, what: impl Into<String>) {
        self.timeline.push(Step {
            at_ms,
            what: what.into(),
        });
    }
}

pub(crate) fn get_request(
    table: &impl ReadableTable<u128, &'static [u8]>,
    id: LegalRequestId,
) -> Result<Option<LegalRequestRecord>> {
    table
        .get(id.raw())?
        .map(|v| decode("legal_requests", v.value()))
        .transpose()
}

pub(crate) fn put_request(
    table: &mut Table<u128, &'static [u8]>,
    request: &LegalRequestRecord,
) -> Result<()> {
    table.insert(request.id.raw(), encode(request).as_slice())?;
    Ok(())
}

/// Every legal request, in no particular order.
pub(crate) fn all_requests(
    table: &impl ReadableTable<u128, &'static [u8]>,
) -> Result<Vec<LegalRequestRecord>> {
    let mut out = Vec::new();
    for row in table.iter()? {
        out.push(decode("legal_requests", row?.1.value())?);
    }
    Ok(out)
}

/// The requests naming `owner`: the registry's count of the owner's rows.
pub(crate) fn naming(
    table: &impl ReadableTable<u128, &'static [u8]>,
    owner: UserId,
) -> Result<u64> {
    let id = owner.to_string();
    Ok(all_requests(table)?
        .iter()
        .filter(|r| {
            r.accounts.contains(&owner) || encode(r).windows(id.len()).any(|w| w == id.as_bytes())
        })
        .count() as u64)
}

/// Whether a request that is not released holds `owner`.
pub(crate) fn held(table: &impl ReadableTable<u128, &'static [u8]>, owner: UserId) -> Result<bool> {
    Ok(holding(table, owner)?.is_some())
}

/// The request, not released, whose hold holds `owner`, if one does.
pub(crate) fn holding(
    table: &impl ReadableTable<u128, &'static [u8]>,
    owner: UserId,
) -> Result<Option<LegalRequestRecord>> {
    Ok(all_requests(table)?
        .into_iter()
        .find(|r| r.on_hold() && r.accounts.contains(&owner)))
}

/// The objects (`legal/<id>`) of the requests naming `owner` whose notice `owner` has not been
/// sent: their records stay out of the owner's own view of the log until it is.
pub(crate) fn withheld_from(vault: &Vault, owner: UserId) -> Result<HashSet<String>> {
    let txn = vault.db().begin_read()?;
    Ok(all_requests(&txn.open_table(LEGAL_REQUESTS)?)?
        .into_iter()
        .filter(|r| r.accounts.contains(&owner) && r.notified_at(owner).is_none())
        .map(|r| r.object())
        .collect())
}

impl Vault {
    /// Whether a legal hold keeps `owner`'s data: while it does, the account is not purged,
    /// and its data must not be pruned from snapshots.
    pub fn is_on_legal_hold(&self, owner: UserId) -> Result<bool> {
        let txn = self.db().begin_read()?;
        held(&txn.open_table(LEGAL_REQUESTS)?, owner)
    }

    /// Every account a legal hold keeps.
    pub fn held_accounts(&self) -> Result<BTreeSet<UserId>> {
        let txn = self.db().begin_read()?;
        Ok(all_requests(&txn.open_table(LEGAL_REQUESTS)?)?
            .iter()
            .filter(|r| r.on_hold())
            .flat_map(|r| r.accounts.iter().copied())
            .collect())
    }
}

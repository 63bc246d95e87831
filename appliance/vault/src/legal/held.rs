//! Tracks deleted under a legal hold. A hold keeps an account's data as it is, so a track its
//! owner deletes while held leaves the owner's library (the owner sees a deletion like any
//! other, and the room it took is theirs again) but not the store: its record moves to
//! [`HELD_TRACKS`], and its audio and waveform keep their blob records, files and replicas.
//! The admin's hand-over carries it. Keeping it is audited as `legal.keep` under the request's
//! object, which the owner's own view of the log withholds until their notice has gone out,
//! so a gag is not given away. Once no hold holds the owner, what was kept goes
//! ([`Vault::discard_released_held_tracks`]: after a release, and at each housekeeping).

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::Vault;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::Result;
use crate::ids::{BlobId, LegalRequestId, TrackId, UserId};
use crate::library::TrackRecord;
use crate::records::{LegalRequestRecord, held, remove_blob};
use crate::store::{HELD_TRACKS, LEGAL_REQUESTS, decode, encode};

/// A track its owner deleted while a legal hold held the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldTrack {
    pub track: TrackRecord,
    pub deleted_at_ms: i64,
    /// The request whose hold kept it.
    pub request: LegalRequestId,
}

/// Keeps `track`, just taken out of its owner's library with its blobs kept, under `request`'s
/// hold. Answers the event that records it.
pub(crate) fn keep_in(
    txn: &WriteTransaction,
    track: TrackRecord,
    request: &LegalRequestRecord,
    now: i64,
) -> Result<AuditEvent> {
    let event = AuditEvent::new(Actor::System, Some(track.owner), AuditAction::LegalKeep)
        .object(request.object())
        .detail(format!(
            "track/{} deleted by its owner: kept under the hold with blob {}",
            track.id, track.blob
        ));
    let key = (track.owner.raw(), track.id.raw());
    let held = HeldTrack {
        track,
        deleted_at_ms: now,
        request: request.id,
    };
    txn.open_table(HELD_TRACKS)?
        .insert(key, encode(&held).as_slice())?;
    Ok(event)
}

fn held_of(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
) -> Result<Vec<HeldTrack>> {
    let mut kept = Vec::new();
    for row in table.range((owner.raw(), 0)..=(owner.raw(), u128::MAX))? {
        kept.push(decode::<HeldTrack>("held_tracks", row?.1.value())?);
    }
    kept.sort_by_key(|h| (h.deleted_at_ms, h.track.id.raw()));
    Ok(kept)
}

/// Removes every track kept for `owner` and its blob records, queueing their replicas'
/// deletions. Answers, per request whose hold kept them, how many tracks went, and the blobs
/// whose files go once the transaction commits.
fn discard_in(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
) -> Result<(BTreeMap<LegalRequestId, u64>, Vec<BlobId>)> {
    let mut table = txn.open_table(HELD_TRACKS)?;
    let kept = held_of(&table, owner)?;
    let (mut per_request, mut blobs) = (BTreeMap::new(), Vec::new());
    for held in kept {
        table.remove((owner.raw(), held.track.id.raw()))?;
        *per_request.entry(held.request).or_default() += 1;
        for blob in std::iter::once(held.track.blob).chain(held.track.peaks_blob()) {
            remove_blob(vault, txn, owner, blob)?;
            blobs.push(blob);
        }
    }
    Ok((per_request, blobs))
}

/// The held tracks' part of an account purge (which a hold refuses, so these are only what a
/// released hold left for its housekeeping): the files go with the owner's blob directory.
pub(crate) fn purge_owner(vault: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    discard_in(vault, txn, owner).map(drop)
}

impl Vault {
    /// The tracks `owner` deleted while a hold held the account, oldest deletion first.
    pub fn held_tracks(&self, owner: UserId) -> Result<Vec<HeldTrack>> {
        let txn = self.db().begin_read()?;
        held_of(&txn.open_table(HELD_TRACKS)?, owner)
    }

    /// The kept track `track` of `owner`, if a hold kept it.
    pub(crate) fn held_track(&self, owner: UserId, track: TrackId) -> Result<Option<HeldTrack>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(HELD_TRACKS)?;
        let row = table.get((owner.raw(), track.raw()))?;
        row.map(|v| decode("held_tracks", v.value())).transpose()
    }

    /// Discards what holds kept for owners no hold holds any more: their kept tracks, blob
    /// records and files, one audited transaction per owner. Answers how many tracks went.
    pub fn discard_released_held_tracks(&self) -> Result<u64> {
        let owners: Vec<UserId> = {
            let txn = self.db().begin_read()?;
            let mut owners = Vec::new();
            for row in txn.open_table(HELD_TRACKS)?.iter()? {
                let owner = UserId::from_raw(row?.0.value().0);
                if owners.last() != Some(&owner) {
                    owners.push(owner);
                }
            }
            owners
        };
        let mut discarded = 0;
        for owner in owners {
            let (tracks, blobs) = self.audited_each(None, |txn, _| {
                if held(&txn.open_table(LEGAL_REQUESTS)?, owner)? {
                    return Ok(((0, Vec::new()), Vec::new()));
                }
                let (per_request, blobs) = discard_in(self, txn, owner)?;
                // Under each request's object: the owner's view withholds it as it withheld
                // the keeping, until the notice has gone out.
                let events = per_request
                    .iter()
                    .map(|(request, tracks)| {
                        AuditEvent::new(Actor::System, Some(owner), AuditAction::LegalDiscard)
                            .object(format!("legal/{request}"))
                            .detail(format!(
                                "{tracks} track(s) the owner deleted while held removed: no \
                                 hold holds the account any more"
                            ))
                    })
                    .collect();
                Ok(((per_request.values().sum::<u64>(), blobs), events))
            })?;
            let _backup_copying = self.blob_removal_gate();
            for blob in blobs {
                crate::lifecycle::remove_blob_file(&self.blob_path(owner, blob));
            }
            discarded += tracks;
        }
        Ok(discarded)
    }
}

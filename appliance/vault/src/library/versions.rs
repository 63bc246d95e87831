//! Versions of a track: "Mix 1", "Mix 2", … of one piece. Each version is a track of its own
//! (its own audio, analysis, comments and recipients' copies); [`VersionOf`] ties them together
//! by the first version's id. A share that follows the newest version reaches every version of
//! the tracks it names, newest first in the portal.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::{Library, TrackRecord, VersionOf, track_key};
use crate::error::{Result, VaultError};
use crate::ids::{TrackId, UserId};
use crate::store::{TRACKS, decode, encode};

/// The family a track belongs to: its version's family, or itself.
pub(crate) fn family_of(rec: &TrackRecord) -> TrackId {
    rec.version.map_or(rec.id, |v| v.family)
}

/// Every track of `owner` in `family`, oldest version first (a track without versions is a
/// family of one).
pub(crate) fn family_members(
    tracks: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    family: TrackId,
) -> Result<Vec<TrackRecord>> {
    let mut members = Vec::new();
    for row in tracks.range((owner.raw(), 0)..=(owner.raw(), u128::MAX))? {
        let rec: TrackRecord = decode("tracks", row?.1.value())?;
        if rec.stem.is_none() && family_of(&rec) == family {
            members.push(rec);
        }
    }
    members.sort_by_key(|r| (r.version.map_or(1, |v| v.number), r.created_at_ms));
    Ok(members)
}

/// The place of a new version of `parent` in its family, inside the upload's transaction; the
/// parent becomes version 1 if it had no versions yet.
pub(crate) fn next_version(
    txn: &WriteTransaction,
    owner: UserId,
    parent: TrackId,
) -> Result<VersionOf> {
    let mut tracks = txn.open_table(TRACKS)?;
    let raw = tracks
        .get(track_key(owner, parent))?
        .map(|v| v.value().to_vec())
        .ok_or_else(|| VaultError::invalid("version_of", "no such track"))?;
    let mut parent_rec: TrackRecord = decode("tracks", &raw)?;
    if parent_rec.stem.is_some() {
        return Err(VaultError::invalid(
            "version_of",
            "a stem has no versions; upload a new version of its track",
        ));
    }
    let family = family_of(&parent_rec);
    if parent_rec.version.is_none() {
        parent_rec.version = Some(VersionOf { family, number: 1 });
        tracks.insert(track_key(owner, parent), encode(&parent_rec).as_slice())?;
    }
    let newest = family_members(&tracks, owner, family)?
        .iter()
        .filter_map(|r| r.version.map(|v| v.number))
        .max()
        .unwrap_or(1);
    Ok(VersionOf {
        family,
        number: newest + 1,
    })
}

/// Whether `rec` is the newest version of its family among `all` (a listing of one owner).
pub(crate) fn is_newest(rec: &TrackRecord, all: &[TrackRecord]) -> bool {
    let Some(version) = rec.version else {
        return true;
    };
    !all.iter().any(|other| {
        other.version.is_some_and(|v| {
            v.family == version.family
                && (v.number, other.created_at_ms) > (version.number, rec.created_at_ms)
        })
    })
}

impl Library<'_> {
    /// Every version of the track's piece, oldest first.
    pub fn versions(&self, id: TrackId) -> Result<Vec<TrackRecord>> {
        let rec = self.read_track(id)?;
        let txn = self.vault.db().begin_read()?;
        family_members(&txn.open_table(TRACKS)?, self.owner, family_of(&rec))
    }
}

impl Library<'_> {
    /// For each of `recs` (the owner's tracks) with versions: how many versions its family has
    /// and whether it is the newest. One pass over the library.
    pub fn version_places(&self, recs: &[TrackRecord]) -> Result<Vec<Option<(u32, bool)>>> {
        let mut families: std::collections::HashMap<TrackId, (u32, (u32, i64))> =
            std::collections::HashMap::new();
        {
            let txn = self.vault.db().begin_read()?;
            let tracks = txn.open_table(TRACKS)?;
            for row in tracks.range((self.owner.raw(), 0)..=(self.owner.raw(), u128::MAX))? {
                let rec: TrackRecord = decode("tracks", row?.1.value())?;
                if let Some(v) = rec.version {
                    let entry = families.entry(v.family).or_insert((0, (0, i64::MIN)));
                    entry.0 += 1;
                    entry.1 = entry.1.max((v.number, rec.created_at_ms));
                }
            }
        }
        Ok(recs
            .iter()
            .map(|rec| {
                let v = rec.version?;
                let (count, newest) = families.get(&v.family).copied()?;
                Some((count, newest == (v.number, rec.created_at_ms)))
            })
            .collect())
    }
}

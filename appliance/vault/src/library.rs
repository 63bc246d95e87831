//! One owner's tracks. A [`Library`] exists only for an [`OwnerScope`], and every table key it
//! touches starts with that owner's id, so cross-tenant reads, writes and listings fail here,
//! whatever the HTTP layer above does.
//!
//! The owner's analysis setting (`Account::set_analysis`) lives here, as it queues tracks.
//! Deleting a track also drops the recipients' copies of it, which belong to shares, so
//! `Library::delete` lives above both, in `crate::lifecycle`.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use studiovault_api::ProcessingPurpose;

use crate::audit::{AuditAction, AuditEvent};
use crate::blob::{BlobAccess, BlobReader, BlobWriter, SealedBlob};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, TrackId, UserId};
use crate::records::{
    BlobRecord, UserRecord, edit_user, get_blob, get_user, put_blob, put_user, read_tenant_key,
    remove_blob,
};
use crate::scope::OwnerScope;
use crate::store::{BLOBS, TRACKS, USERS, decode, encode};
use crate::users::Account;
use crate::{ClientInfo, Vault};
use analysis::{AnalysisResult, AnalysisState};

const MAX_NAME_CHARS: usize = 200;
const MAX_FILENAME_CHARS: usize = 255;

/// What the upload path learnt about the audio; the store keeps it with the track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub name: String,
    pub original_filename: String,
    pub container: String,
    pub codec: String,
    pub mime_type: String,
    pub duration_secs: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub bits_per_sample: Option<u32>,
}

/// A track as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    pub id: TrackId,
    pub owner: UserId,
    pub blob: BlobId,
    #[serde(flatten)]
    pub info: TrackInfo,
    pub size_bytes: u64,
    pub sha256: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub analysis: AnalysisState,
    /// Set on a stem: what it was separated from and by what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem: Option<StemOf>,
    /// The stems separated from this track, deleted with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stems: Vec<TrackId>,
    /// Set once the track has versions: which one this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionOf>,
    /// The library folder it is in (an upload link's files arrive in the link's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
}

/// A track's place among the versions of one piece ("Mix 1", "Mix 2", …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionOf {
    /// The first version's id, named by every version (it stays the family's name after the
    /// first version is deleted).
    pub family: TrackId,
    /// 1 for the first version.
    pub number: u32,
}

/// What makes a track a stem of another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemOf {
    pub parent: TrackId,
    /// `vocals`, `drums`, `bass` or `other`.
    pub name: String,
    /// A draft split (the built-in DSP split of the accompaniment).
    pub draft: bool,
    pub backend: String,
    pub model: String,
}

impl TrackRecord {
    pub(crate) fn peaks_blob(&self) -> Option<BlobId> {
        analysed(self).and_then(|r| r.peaks)
    }
}

/// Where a new upload goes in the library.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// The track this upload is the next version of.
    pub version_of: Option<TrackId>,
    pub folder: Option<String>,
}

/// Sort orders of the library listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackSort {
    #[default]
    Created,
    Name,
    Size,
    Duration,
    Tempo,
    Key,
}

impl std::str::FromStr for TrackSort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "created" => Ok(Self::Created),
            "name" => Ok(Self::Name),
            "size" => Ok(Self::Size),
            "duration" => Ok(Self::Duration),
            "tempo" => Ok(Self::Tempo),
            "key" => Ok(Self::Key),
            other => Err(format!(
                "unknown sort `{other}` (expected created, name, size, duration, tempo or key)"
            )),
        }
    }
}

/// Why an owner's audio is read (invariant 6: only for the purposes the design names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioUse {
    /// Playback or download by the owner.
    Playback,
    /// Melody to MIDI, on the owner's request.
    Transcription,
}

/// A listing request: sort, filters and the page.
#[derive(Debug, Clone, Default)]
pub struct TrackQuery {
    pub sort: TrackSort,
    pub descending: bool,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Inclusive tempo range in BPM; tracks without a tempo do not match.
    pub tempo: Option<(f64, f64)>,
    /// A key name such as `A minor` (case-insensitive) or a Camelot code such as `8A`.
    pub key: Option<String>,
    /// Inclusive length range in seconds; tracks of unknown length do not match.
    pub duration: Option<(f64, f64)>,
    /// Inclusive range of the time added, Unix ms.
    pub added: Option<(i64, i64)>,
    /// List stems beside the tracks they came from (to pick them for a share, say); otherwise
    /// they are reached through their track (`Library::stems`).
    pub include_stems: bool,
    /// List every version of each track; otherwise only the newest.
    pub all_versions: bool,
    /// Only the tracks in this folder.
    pub folder: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

fn analysed(rec: &TrackRecord) -> Option<&AnalysisResult> {
    match &rec.analysis {
        AnalysisState::Done(r) => Some(r),
        _ => None,
    }
}

impl TrackQuery {
    fn matches(&self, rec: &TrackRecord) -> bool {
        let result = analysed(rec);
        let name_ok = self
            .search
            .as_ref()
            .is_none_or(|n| rec.info.name.to_lowercase().contains(&n.to_lowercase()));
        let tempo_ok = self.tempo.is_none_or(|(lo, hi)| {
            result
                .and_then(|r| r.tempo_bpm)
                .is_some_and(|bpm| bpm >= lo && bpm <= hi)
        });
        let key_ok = self.key.as_ref().is_none_or(|k| {
            result.is_some_and(|r| {
                r.key
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(k))
                    || r.camelot
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(k))
            })
        });
        let duration_ok = self
            .duration
            .is_none_or(|(lo, hi)| rec.info.duration_secs.is_some_and(|d| d >= lo && d <= hi));
        let added_ok = self
            .added
            .is_none_or(|(lo, hi)| rec.created_at_ms >= lo && rec.created_at_ms <= hi);
        let folder_ok = self
            .folder
            .as_ref()
            .is_none_or(|f| rec.folder.as_deref() == Some(f.as_str()));
        (self.include_stems || rec.stem.is_none())
            && folder_ok
            && name_ok
            && tempo_ok
            && key_ok
            && duration_ok
            && added_ok
    }
}

/// Camelot order (1A, 1B, 2A, …), so keys that mix well sort next to each other.
fn camelot_rank(rec: &TrackRecord) -> (u8, u8) {
    analysed(rec)
        .and_then(|r| r.camelot.as_deref())
        .and_then(|c| {
            let (number, letter) = c.split_at(c.len().checked_sub(1)?);
            Some((number.parse().ok()?, letter.as_bytes().first().copied()?))
        })
        .unwrap_or((u8::MAX, u8::MAX))
}

/// Keeps printable characters, trims, and caps the length: names are shown, never used as paths.
pub(crate) fn clean_text(raw: &str, max: usize) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(max)
        .collect()
}

/// The display name and file name for an upload's client-supplied file name.
pub fn names_from_filename(raw: &str) -> (String, String) {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let filename = clean_text(base, MAX_FILENAME_CHARS);
    let stem = match filename.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem,
        _ => filename.as_str(),
    };
    let name = clean_text(stem, MAX_NAME_CHARS);
    (
        if name.is_empty() {
            "Untitled".into()
        } else {
            name
        },
        filename,
    )
}

pub(crate) fn track_key(owner: UserId, id: TrackId) -> (u128, u128) {
    (owner.raw(), id.raw())
}

/// The owner's track `id` as `table` holds it, if it does.
pub(crate) fn find_track(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    id: TrackId,
) -> Result<Option<TrackRecord>> {
    table
        .get(track_key(owner, id))?
        .map(|row| decode("tracks", row.value()))
        .transpose()
}

/// The scope owner's tracks.
#[derive(Debug)]
pub struct Library<'a> {
    pub(crate) vault: &'a Vault,
    pub(crate) owner: UserId,
}

impl<'a> Library<'a> {
    pub(crate) fn new(vault: &'a Vault, scope: &'a OwnerScope) -> Self {
        Self {
            vault,
            owner: scope.owner(),
        }
    }

    fn read_track(&self, id: TrackId) -> Result<TrackRecord> {
        let txn = self.vault.db().begin_read()?;
        let row = txn
            .open_table(TRACKS)?
            .get(track_key(self.owner, id))?
            .map(|v| v.value().to_vec());
        decode("tracks", &row.ok_or(VaultError::NotFound)?)
    }

    pub fn get(&self, id: TrackId) -> Result<TrackRecord> {
        self.read_track(id)
    }

    /// One page of the library; answers the page and the number of matching tracks.
    pub fn list(&self, query: &TrackQuery) -> Result<(Vec<TrackRecord>, u64)> {
        let owned: Vec<TrackRecord> = {
            let txn = self.vault.db().begin_read()?;
            let tracks = txn.open_table(TRACKS)?;
            let mut out = Vec::new();
            for row in tracks.range((self.owner.raw(), 0)..=(self.owner.raw(), u128::MAX))? {
                out.push(decode("tracks", row?.1.value())?);
            }
            out
        };
        let mut all: Vec<TrackRecord> = owned
            .iter()
            .filter(|r| query.matches(r) && (query.all_versions || versions::is_newest(r, &owned)))
            .cloned()
            .collect();
        let tempo = |r: &TrackRecord| analysed(r).and_then(|a| a.tempo_bpm).unwrap_or(f64::MAX);
        all.sort_by(|a, b| {
            let primary = match query.sort {
                TrackSort::Created => a.created_at_ms.cmp(&b.created_at_ms),
                TrackSort::Name => a.info.name.to_lowercase().cmp(&b.info.name.to_lowercase()),
                TrackSort::Size => a.size_bytes.cmp(&b.size_bytes),
                TrackSort::Duration => a
                    .info
                    .duration_secs
                    .unwrap_or(0.0)
                    .total_cmp(&b.info.duration_secs.unwrap_or(0.0)),
                TrackSort::Tempo => tempo(a).total_cmp(&tempo(b)),
                TrackSort::Key => camelot_rank(a).cmp(&camelot_rank(b)),
            };
            primary.then(a.id.cmp(&b.id))
        });
        if query.descending {
            all.reverse();
        }
        let total = all.len() as u64;
        let page = all
            .into_iter()
            .skip(query.offset as usize)
            .take(query.limit as usize)
            .collect();
        Ok((page, total))
    }

    /// Bytes the owner may still store.
    pub fn remaining_quota(&self) -> Result<u64> {
        let txn = self.vault.db().begin_read()?;
        let user = get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
        Ok(user
            .quota(&self.vault.policy().quotas)
            .saturating_sub(user.used_bytes))
    }

    /// An encrypting writer for a new blob of this owner, in the temp directory.
    pub fn begin_upload(&self) -> Result<BlobWriter> {
        let blob = BlobId::random();
        let key = read_tenant_key(self.vault, self.owner)?;
        BlobWriter::create(&self.vault.tmp_dir(), self.owner, blob, key.blob_key(blob))
    }

    /// Makes a sealed upload durable and visible: rename + fsync, then one transaction with
    /// the track, the blob record, the quota and the audit record. On any failure nothing
    /// stays behind.
    pub fn commit_upload(
        &self,
        sealed: SealedBlob,
        info: TrackInfo,
        placement: Placement,
        client: &ClientInfo,
    ) -> Result<TrackRecord> {
        self.commit_new_track(sealed, info, placement, client, |_, rec| {
            Ok(AuditEvent::by_owner(self.owner, AuditAction::TrackUpload)
                .object(format!("track/{}", rec.id))
                .detail(format!(
                    "blob {} {} bytes sha256 {}",
                    rec.blob, rec.size_bytes, rec.sha256
                )))
        })
    }

    /// [`Library::commit_upload`] for whoever sends the file: `audit` runs inside the commit's
    /// transaction, after the track is in place, and answers its audit record (an upload link
    /// counts the file there).
    pub(crate) fn commit_new_track(
        &self,
        sealed: SealedBlob,
        info: TrackInfo,
        placement: Placement,
        client: &ClientInfo,
        audit: impl FnOnce(&WriteTransaction, &TrackRecord) -> Result<AuditEvent>,
    ) -> Result<TrackRecord> {
        if sealed.owner != self.owner {
            return Err(VaultError::NotFound);
        }
        let size = sealed.plaintext_len;
        let sealed_sha256 = hex::encode(sealed.sealed_sha256);
        let remaining = self.remaining_quota()?;
        if size > remaining {
            return Err(self.quota_error(size)?);
        }
        let now = self.vault.now_ms();
        let mut rec = TrackRecord {
            id: TrackId::random(),
            owner: self.owner,
            blob: sealed.blob,
            info: TrackInfo {
                name: clean_text(&info.name, MAX_NAME_CHARS),
                original_filename: clean_text(&info.original_filename, MAX_FILENAME_CHARS),
                ..info
            },
            size_bytes: size,
            sha256: hex::encode(sealed.sha256),
            created_at_ms: now,
            updated_at_ms: now,
            analysis: AnalysisState::Off,
            stem: None,
            stems: Vec::new(),
            version: None,
            folder: placement
                .folder
                .as_deref()
                .map(|f| clean_text(f, MAX_NAME_CHARS))
                .filter(|f| !f.is_empty()),
        };
        let path = self.vault.blob_path(self.owner, rec.blob);
        sealed.persist(&path)?;
        // The records keep the time stamped above, before the file was written.
        let committed = self.vault.audited(Some(client), |txn, _| {
            if let Some(parent) = placement.version_of {
                rec.version = Some(versions::next_version(txn, self.owner, parent)?);
            }
            let user = charge_new_tracks(self.vault, txn, self.owner, size, 1)?;
            if user.analysis_enabled() {
                rec.analysis = AnalysisState::Pending;
                analysis::enqueue(txn, self.owner, rec.id, now)?;
            }
            let blob = BlobRecord {
                owner: self.owner,
                plaintext_len: size,
                sha256: rec.sha256.clone(),
                created_at_ms: now,
                sealed_sha256: Some(sealed_sha256),
            };
            put_blob(txn, rec.blob, &blob)?;
            txn.open_table(TRACKS)?
                .insert(track_key(self.owner, rec.id), encode(&rec).as_slice())?;
            let event = audit(txn, &rec)?;
            Ok(((), event))
        });
        if let Err(e) = committed {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        if rec.analysis == AnalysisState::Pending {
            self.vault.jobs_queued();
        }
        Ok(rec)
    }

    fn quota_error(&self, needed: u64) -> Result<VaultError> {
        let txn = self.vault.db().begin_read()?;
        let user = get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
        Ok(VaultError::QuotaExceeded {
            quota: user.quota(&self.vault.policy().quotas),
            used: user.used_bytes,
            needed,
        })
    }

    pub fn rename(&self, id: TrackId, name: &str, client: &ClientInfo) -> Result<TrackRecord> {
        let name = clean_text(name, MAX_NAME_CHARS);
        if name.is_empty() {
            return Err(VaultError::invalid("name", "must not be empty"));
        }
        self.vault.audited(Some(client), |txn, now| {
            let mut tracks = txn.open_table(TRACKS)?;
            let row = tracks
                .get(track_key(self.owner, id))?
                .map(|v| v.value().to_vec());
            let mut rec: TrackRecord = decode("tracks", &row.ok_or(VaultError::NotFound)?)?;
            rec.info.name = name;
            rec.updated_at_ms = now;
            tracks.insert(track_key(self.owner, id), encode(&rec).as_slice())?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::TrackRename)
                .object(format!("track/{id}"));
            Ok((rec, event))
        })
    }

    /// Opens the track's audio for reading and records the access. `detail` says what is
    /// served (e.g. the byte range).
    pub fn open_audio(
        &self,
        id: TrackId,
        detail: &str,
        client: &ClientInfo,
    ) -> Result<(TrackRecord, BlobReader)> {
        let rec = self.read_track(id)?;
        let reader = self.open_blob(&rec)?;
        self.record_use(id, AudioUse::Playback, detail, client)?;
        Ok((rec, reader))
    }

    /// Access to the track's audio blob for a job process (which decrypts it itself), for
    /// `purpose`; the access is recorded.
    pub fn audio_access_for(
        &self,
        id: TrackId,
        purpose: AudioUse,
        detail: &str,
        client: &ClientInfo,
    ) -> Result<(TrackRecord, BlobAccess)> {
        let rec = self.read_track(id)?;
        let access = self.blob_access(&rec)?;
        self.record_use(id, purpose, detail, client)?;
        Ok((rec, access))
    }

    fn record_use(
        &self,
        id: TrackId,
        purpose: AudioUse,
        detail: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let action = match purpose {
            AudioUse::Playback => AuditAction::TrackDownload,
            AudioUse::Transcription => AuditAction::TrackTranscribe,
        };
        let mut event = AuditEvent::by_owner(self.owner, action).object(format!("track/{id}"));
        if !detail.is_empty() {
            event = event.detail(detail);
        }
        self.vault.audit_only(Some(client), event)
    }

    /// The track's waveform peaks as the analysis stored them; `NotFound` until there are any.
    pub fn peaks(&self, id: TrackId) -> Result<Vec<u8>> {
        let rec = self.read_track(id)?;
        let blob = rec.peaks_blob().ok_or(VaultError::NotFound)?;
        let len = {
            let txn = self.vault.db().begin_read()?;
            get_blob(&txn.open_table(BLOBS)?, blob)?
                .ok_or(VaultError::NotFound)?
                .plaintext_len
        };
        let key = read_tenant_key(self.vault, self.owner)?;
        let mut reader = BlobReader::open(
            &self.vault.blob_path(self.owner, blob),
            blob,
            key.blob_cipher(blob),
            len,
        )?;
        let mut out = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut reader, &mut out)?;
        Ok(out)
    }

    /// The track's audio blob's path and key, for a process that decrypts it itself.
    pub(crate) fn blob_access(&self, rec: &TrackRecord) -> Result<BlobAccess> {
        let key = read_tenant_key(self.vault, self.owner)?;
        Ok(BlobAccess::new(
            self.vault.blob_path(self.owner, rec.blob),
            rec.blob,
            rec.size_bytes,
            key.blob_key(rec.blob),
        ))
    }

    pub(crate) fn open_blob(&self, rec: &TrackRecord) -> Result<BlobReader> {
        let key = read_tenant_key(self.vault, self.owner)?;
        BlobReader::open(
            &self.vault.blob_path(self.owner, rec.blob),
            rec.blob,
            key.blob_cipher(rec.blob),
            rec.size_bytes,
        )
    }
}

impl Account<'_> {
    /// Turns analysis of uploads on or off. Turning it on queues the tracks stored while it
    /// was off.
    /// Refused while the owner objects to analysis: the objection says no analysis.
    pub fn set_analysis(&self, enabled: bool, client: &ClientInfo) -> Result<UserRecord> {
        let rec = self.vault.audited(Some(client), |txn, now| {
            let rec = edit_user(txn, self.owner, |rec| {
                if enabled {
                    rec.allows(ProcessingPurpose::Analysis)?;
                }
                rec.analysis = Some(enabled);
                Ok(())
            })?;
            if enabled {
                queue_unanalysed(txn, self.owner, now)?;
            }
            let event = AuditEvent::by_owner(self.owner, AuditAction::SettingsChange)
                .detail(format!("analysis {}", if enabled { "on" } else { "off" }));
            Ok((rec, event))
        })?;
        if enabled {
            self.vault.jobs_queued();
        }
        Ok(rec)
    }
}

/// Queues every track of `owner` whose analysis is off.
pub(crate) fn queue_unanalysed(txn: &WriteTransaction, owner: UserId, now: i64) -> Result<()> {
    let mut tracks = txn.open_table(TRACKS)?;
    let rows: Vec<((u128, u128), Vec<u8>)> = tracks
        .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?
        .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (key, raw) in rows {
        let mut rec: TrackRecord = decode("tracks", &raw)?;
        if rec.analysis == AnalysisState::Off {
            rec.analysis = AnalysisState::Pending;
            tracks.insert(key, encode(&rec).as_slice())?;
            analysis::enqueue(txn, owner, rec.id, now)?;
        }
    }
    Ok(())
}

/// Counts `tracks` new tracks of `bytes` in all against an active owner's quota, in the
/// transaction that stores them; refuses what does not fit.
pub(crate) fn charge_new_tracks(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    bytes: u64,
    tracks: u64,
) -> Result<UserRecord> {
    edit_user(txn, owner, |user| {
        if !user.is_active() {
            return Err(VaultError::AccountInactive("no longer active"));
        }
        let quota = user.quota(&vault.policy().quotas);
        if user.used_bytes.saturating_add(bytes) > quota {
            return Err(VaultError::QuotaExceeded {
                quota,
                used: user.used_bytes,
                needed: bytes,
            });
        }
        user.used_bytes += bytes;
        user.track_count += tracks;
        Ok(())
    })
}

/// What a track's removal does with its blobs (its audio and its waveform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackBlobs {
    /// Their records go and their replicas' deletions are queued; the caller removes the files
    /// once the transaction commits.
    Remove,
    /// Records, files and replicas stay: a legal hold keeps the track.
    Keep,
}

/// Removes a track from its owner's library, with its jobs, and does with its blobs what
/// `blobs` says; answers the record.
pub(crate) fn remove_track_in(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    id: TrackId,
    blobs: TrackBlobs,
) -> Result<TrackRecord> {
    let removed = txn
        .open_table(TRACKS)?
        .remove(track_key(owner, id))?
        .map(|v| v.value().to_vec());
    let rec: TrackRecord = decode("tracks", &removed.ok_or(VaultError::NotFound)?)?;
    if let Some(stem) = &rec.stem {
        // The parent forgets the stem; in a purge the parent may be gone already.
        let mut tracks = txn.open_table(TRACKS)?;
        let parent = tracks
            .get(track_key(owner, stem.parent))?
            .map(|v| v.value().to_vec());
        if let Some(raw) = parent {
            let mut parent: TrackRecord = decode("tracks", &raw)?;
            parent.stems.retain(|s| *s != id);
            tracks.insert(track_key(owner, parent.id), encode(&parent).as_slice())?;
        }
    }
    if blobs == TrackBlobs::Remove {
        remove_blob(vault, txn, owner, rec.blob)?;
        if let Some(peaks) = rec.peaks_blob() {
            remove_blob(vault, txn, owner, peaks)?;
        }
    }
    crate::jobs::remove_for_track(txn, owner, id)?;
    let mut users = txn.open_table(USERS)?;
    if let Some(mut user) = get_user(&users, owner)? {
        user.used_bytes = user.used_bytes.saturating_sub(rec.size_bytes);
        user.track_count = user.track_count.saturating_sub(1);
        put_user(&mut users, &user)?;
    }
    Ok(rec)
}

/// Deletes every blob file under `blobs/` that no committed blob record names: the trace of a
/// crash between the rename and the metadata commit.
pub(crate) fn remove_orphan_blobs(vault: &Vault) -> Result<usize> {
    let known = {
        let txn = vault.db().begin_read()?;
        let blobs = txn.open_table(BLOBS)?;
        let mut known = std::collections::HashSet::new();
        for row in blobs.iter()? {
            known.insert(row?.0.value());
        }
        known
    };
    let mut removed = 0;
    for path in vault.blob_files()? {
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(BlobId::parse);
        if id.is_none_or(|id| !known.contains(&id.raw())) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The library's part of an account purge: every track, with its blob records (their replicas'
/// deletions queued) and its analysis queue entry. The files go with the owner's blob directory
/// once the purge commits.
pub(crate) fn purge_owner(vault: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    let tracks: Vec<u128> = txn
        .open_table(TRACKS)?
        .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?
        .map(|r| r.map(|(k, _)| k.value().1))
        .collect::<Result<_, _>>()?;
    for id in tracks {
        remove_track_in(vault, txn, owner, TrackId::from_raw(id), TrackBlobs::Remove)?;
    }
    Ok(())
}

pub mod analysis;
pub(crate) mod versions;

#[cfg(test)]
mod tests;

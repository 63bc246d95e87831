//! The store's invariants, checked from its records and its files: what the crash tests assert
//! after every SIGKILL (`tests/tests/crash_matrix.rs`) and what `studiovault store check` tells
//! an admin. It runs on a store no server has open, after [`Vault::open`]'s crash recovery
//! (partial uploads and blob files that no record names are removed there), so what it finds
//! is what recovery cannot repair:
//!
//! - nothing acknowledged lost: every blob record's file is there, decrypts, and has the
//!   recorded length and SHA-256;
//! - no half-visible record: every track, waveform and recipient copy names a blob record of
//!   its owner (a track kept for a legal hold too), every stem its parent, every copy its
//!   recipient and track; the owners' usage counters add up to their tracks;
//! - no orphan: no blob file without a record, no blob record that nothing names;
//! - no job lost or done twice: every job's subject exists and the one-job-per-subject index
//!   agrees with the jobs; a pending analysis or an unsent message has its job, a sent message
//!   has none; no track has two stems of the same name;
//! - the audit chain verifies.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Vault;
use crate::error::Result;
use crate::ids::{BlobId, RecipientId, TrackId, UserId};
use crate::jobs::{JobKind, JobRecord, JobSubject};
use crate::library::TrackRecord;
use crate::library::analysis::AnalysisState;
use crate::outbox::{Delivery, MessageRecord};
use crate::records::{BlobRecord, UserRecord, tenant_key};
use crate::shares::{RecipientRecord, RenderRecord};
use crate::store::{
    BLOBS, HELD_TRACKS, JOBS, JOBS_BY_SUBJECT, OUTBOX, RECIPIENTS, RENDERS, TENANT_KEYS, TRACKS,
    USERS, decode,
};

/// What [`Vault::check_store`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreCheck {
    pub blobs: u64,
    pub blob_bytes: u64,
    pub tracks: u64,
    pub renders: u64,
    pub jobs: u64,
    pub messages: u64,
    pub audit_records: u64,
    /// Each broken invariant, in words; empty when the store is sound.
    pub problems: Vec<String>,
}

impl Vault {
    /// Checks every invariant above, reading every blob whole.
    pub fn check_store(&self) -> Result<StoreCheck> {
        let mut check = StoreCheck::default();
        let txn = self.db().begin_read()?;

        let mut blobs: HashMap<BlobId, BlobRecord> = HashMap::new();
        for row in txn.open_table(BLOBS)?.iter()? {
            let (id, value) = row?;
            blobs.insert(
                BlobId::from_raw(id.value()),
                decode("blobs", value.value())?,
            );
        }
        let mut users: HashMap<UserId, UserRecord> = HashMap::new();
        for row in txn.open_table(USERS)?.iter()? {
            let (_, value) = row?;
            let user: UserRecord = decode("users", value.value())?;
            users.insert(user.id, user);
        }
        let mut tracks = HashMap::new();
        for row in txn.open_table(TRACKS)?.iter()? {
            let (_, value) = row?;
            let track: TrackRecord = decode("tracks", value.value())?;
            tracks.insert((track.owner, track.id), track);
        }
        let mut recipients = HashMap::new();
        for row in txn.open_table(RECIPIENTS)?.iter()? {
            let (_, value) = row?;
            let recipient: RecipientRecord = decode("recipients", value.value())?;
            recipients.insert(recipient.id, recipient);
        }
        let mut messages = HashMap::new();
        for row in txn.open_table(OUTBOX)?.iter()? {
            let (_, value) = row?;
            let message: MessageRecord = decode("outbox", value.value())?;
            messages.insert(message.id, message);
        }
        check.messages = messages.len() as u64;

        // Every blob record's file, read whole under its owner's key.
        let keys = txn.open_table(TENANT_KEYS)?;
        for (id, record) in &blobs {
            check.blobs += 1;
            check.blob_bytes += record.plaintext_len;
            let key = match tenant_key(self, &keys, record.owner) {
                Ok(key) => key,
                Err(e) => {
                    check
                        .problems
                        .push(format!("blob {id}: its owner's key cannot be read: {e}"));
                    continue;
                }
            };
            let path = self.blob_path(record.owner, *id);
            let read = crate::blob::BlobReader::open(
                &path,
                *id,
                key.blob_cipher(*id),
                record.plaintext_len,
            )
            .and_then(|mut reader| {
                let (mut hasher, mut len, mut buf) = (Sha256::new(), 0u64, vec![0u8; 1 << 16]);
                loop {
                    let n = reader.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    len += n as u64;
                }
                Ok((len, hex::encode(hasher.finalize())))
            });
            match read {
                Err(e) => check.problems.push(format!("blob {id}: unreadable: {e}")),
                Ok((len, _)) if len != record.plaintext_len => check.problems.push(format!(
                    "blob {id}: {len} bytes, {} recorded",
                    record.plaintext_len
                )),
                Ok((_, sha)) if sha != record.sha256 => check
                    .problems
                    .push(format!("blob {id}: its content is not what was recorded")),
                Ok(_) => {}
            }
        }
        for path in self.blob_files()? {
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(BlobId::parse);
            if id.is_none_or(|id| !blobs.contains_key(&id)) {
                check
                    .problems
                    .push(format!("blob file {} has no record", path.display()));
            }
        }

        // Records name blobs of their owner; counters add up.
        let mut named: HashSet<BlobId> = HashSet::new();
        let mut blob_of = |problems: &mut Vec<String>, what: &str, blob: BlobId, owner: UserId| {
            named.insert(blob);
            match blobs.get(&blob) {
                None => problems.push(format!("{what}: its blob {blob} has no record")),
                Some(record) if record.owner != owner => {
                    problems.push(format!("{what}: its blob {blob} belongs to another owner"));
                }
                Some(_) => {}
            }
        };
        let mut usage: HashMap<UserId, (u64, u64)> = HashMap::new();
        let mut stem_names: HashSet<(UserId, String, String)> = HashSet::new();
        for ((owner, id), track) in &tracks {
            check.tracks += 1;
            let what = format!("track {id}");
            if !users.contains_key(owner) {
                check.problems.push(format!("{what}: its owner is gone"));
            }
            blob_of(&mut check.problems, &what, track.blob, *owner);
            if let Some(record) = blobs.get(&track.blob)
                && (record.plaintext_len != track.size_bytes || record.sha256 != track.sha256)
            {
                check
                    .problems
                    .push(format!("{what}: its size or hash differs from its blob's"));
            }
            if let Some(peaks) = track.peaks_blob() {
                blob_of(
                    &mut check.problems,
                    &format!("{what}'s waveform"),
                    peaks,
                    *owner,
                );
            }
            if let Some(stem) = &track.stem {
                match tracks.get(&(*owner, stem.parent)) {
                    Some(parent) if parent.stems.contains(id) => {}
                    _ => check
                        .problems
                        .push(format!("{what}: a stem its parent does not list")),
                }
                let name = (*owner, stem.parent.to_string(), stem.name.clone());
                if !stem_names.insert(name) {
                    check.problems.push(format!(
                        "track {}: two `{}` stems (a stem job done twice)",
                        stem.parent, stem.name
                    ));
                }
            }
            for stem in &track.stems {
                if tracks
                    .get(&(*owner, *stem))
                    .and_then(|s| s.stem.as_ref())
                    .map(|s| s.parent)
                    != Some(*id)
                {
                    check
                        .problems
                        .push(format!("{what}: lists stem {stem}, which is not its stem"));
                }
            }
            let used = usage.entry(*owner).or_default();
            used.0 += track.size_bytes;
            used.1 += 1;
        }
        // A track kept for a legal hold counts for no owner's usage, but names its blobs.
        for row in txn.open_table(HELD_TRACKS)?.iter()? {
            let held: crate::legal::HeldTrack = decode("held_tracks", row?.1.value())?;
            let (track, owner) = (&held.track, held.track.owner);
            let what = format!("track {} kept for a legal hold", track.id);
            if !users.contains_key(&owner) {
                check.problems.push(format!("{what}: its owner is gone"));
            }
            blob_of(&mut check.problems, &what, track.blob, owner);
            if let Some(peaks) = track.peaks_blob() {
                blob_of(
                    &mut check.problems,
                    &format!("{what}'s waveform"),
                    peaks,
                    owner,
                );
            }
        }
        for (id, user) in &users {
            let (bytes, count) = usage.get(id).copied().unwrap_or_default();
            if (user.used_bytes, user.track_count) != (bytes, count) {
                check.problems.push(format!(
                    "account {id}: counts {} tracks of {} bytes, holds {count} of {bytes}",
                    user.track_count, user.used_bytes
                ));
            }
        }
        for row in txn.open_table(RENDERS)?.iter()? {
            let (key, value) = row?;
            let (recipient, track) = key.value();
            let render: RenderRecord = decode("renders", value.value())?;
            check.renders += 1;
            let (recipient, track) = (RecipientId::from_raw(recipient), TrackId::from_raw(track));
            let what = format!("the copy of track {track} for recipient {recipient}");
            let Some(owner) = recipients.get(&recipient).map(|r| r.owner) else {
                check
                    .problems
                    .push(format!("{what}: its recipient is gone"));
                continue;
            };
            if !tracks.contains_key(&(owner, track)) {
                check.problems.push(format!("{what}: its track is gone"));
            }
            blob_of(&mut check.problems, &what, render.blob, owner);
        }
        for id in blobs.keys() {
            if !named.contains(id) {
                check.problems.push(format!(
                    "blob {id}: recorded, but no track, waveform or copy names it"
                ));
            }
        }

        // Jobs: one per subject, each with its subject; nothing waiting without its job.
        let by_subject = txn.open_table(JOBS_BY_SUBJECT)?;
        let mut jobs: HashMap<u128, JobRecord> = HashMap::new();
        for row in txn.open_table(JOBS)?.iter()? {
            let (id, value) = row?;
            jobs.insert(id.value(), decode("jobs", value.value())?);
        }
        check.jobs = jobs.len() as u64;
        let mut subjects: HashSet<String> = HashSet::new();
        for (id, job) in &jobs {
            let key = job.subject.key(job.kind);
            let what = format!("job {id:032x} ({key})");
            if by_subject.get(key.as_str())?.map(|v| v.value()) != Some(*id) {
                check
                    .problems
                    .push(format!("{what}: the subject index does not name it"));
            }
            subjects.insert(key);
            let exists = match job.subject {
                JobSubject::Track { track } => tracks.contains_key(&(job.owner, track)),
                JobSubject::RecipientCopy { recipient, track } => {
                    recipients.contains_key(&recipient) && tracks.contains_key(&(job.owner, track))
                }
                JobSubject::Message { message } => messages.contains_key(&message),
            };
            if !exists {
                check.problems.push(format!("{what}: its subject is gone"));
            }
        }
        for row in by_subject.iter()? {
            let (key, id) = row?;
            if !jobs.contains_key(&id.value()) {
                check.problems.push(format!(
                    "the subject index names job {:032x} for {}, which does not exist",
                    id.value(),
                    key.value()
                ));
            }
        }
        for ((_, id), track) in &tracks {
            if matches!(track.analysis, AnalysisState::Pending)
                && !subjects.contains(&JobSubject::Track { track: *id }.key(JobKind::Analysis))
            {
                check
                    .problems
                    .push(format!("track {id}: analysis pending with no job (lost)"));
            }
        }
        for (id, message) in &messages {
            let has_job =
                subjects.contains(&JobSubject::Message { message: *id }.key(JobKind::Mail));
            match message.state {
                Delivery::Queued | Delivery::Sending if !has_job => check
                    .problems
                    .push(format!("message {id}: unsent with no job (lost)")),
                Delivery::Sent { .. } | Delivery::Failed { .. } if has_job => check
                    .problems
                    .push(format!("message {id}: finished, yet its job remains")),
                _ => {}
            }
        }
        drop(txn);

        let audit = self.audit_verify()?;
        check.audit_records = audit.records;
        if let Some(problem) = audit.first_problem {
            check.problems.push(format!("audit chain: {problem:?}"));
        } else if !audit.ok {
            check.problems.push("audit chain does not verify".into());
        }
        Ok(check)
    }

    /// Every file under `blobs/<owner>/<shard>/`.
    pub(crate) fn blob_files(&self) -> Result<Vec<std::path::PathBuf>> {
        blob_files_in(&self.blob_root())
    }
}

/// Every file under a blob root (`blobs/<owner>/<shard>/<blob>`).
pub(crate) fn blob_files_in(root: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    if !root.exists() {
        return Ok(files);
    }
    for owner in std::fs::read_dir(root)? {
        let owner = owner?.path();
        if !owner.is_dir() {
            continue;
        }
        for shard in std::fs::read_dir(&owner)? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&shard)? {
                files.push(file?.path());
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;

    use crate::store::{BLOBS, TRACKS, encode};
    use crate::testutil::TestVault;

    fn problems(t: &TestVault) -> Vec<String> {
        t.vault.check_store().unwrap().problems
    }

    #[test]
    fn a_sound_store_passes_and_every_blob_is_read() {
        let t = TestVault::new();
        let (_, scope) = t.user("ana@studio.test");
        t.upload(&scope, &[7u8; 100_000]);
        t.upload(&scope, b"short take");
        let check = t.vault.check_store().unwrap();
        assert_eq!(check.problems, Vec::<String>::new());
        assert_eq!((check.blobs, check.tracks), (2, 2));
        assert_eq!(check.blob_bytes, 100_010);
        assert!(check.audit_records >= 2);
    }

    #[test]
    fn a_changed_or_missing_blob_file_is_found() {
        let t = TestVault::new();
        let (_, scope) = t.user("ana@studio.test");
        let a = t.upload(&scope, &[1u8; 50_000]);
        let b = t.upload(&scope, &[2u8; 50_000]);
        let path = t.vault.blob_path(a.owner, a.blob);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        std::fs::remove_file(t.vault.blob_path(b.owner, b.blob)).unwrap();
        let found = problems(&t).join("\n");
        assert!(
            found.contains(&format!("blob {}: unreadable", a.blob)),
            "{found}"
        );
        assert!(
            found.contains(&format!("blob {}: unreadable", b.blob)),
            "{found}"
        );
    }

    #[test]
    fn half_written_records_and_orphans_are_found() {
        let t = TestVault::new();
        let (_, scope) = t.user("ana@studio.test");
        let kept = t.upload(&scope, &[3u8; 1000]);
        let gone = t.upload(&scope, &[4u8; 1000]);
        // A track whose blob record never committed, and a blob record nothing names.
        let txn = t.vault.db().begin_write().unwrap();
        txn.open_table(BLOBS)
            .unwrap()
            .remove(gone.blob.raw())
            .unwrap();
        let mut orphan = kept.clone();
        orphan.id = crate::ids::TrackId::random();
        orphan.blob = crate::ids::BlobId::random();
        txn.open_table(TRACKS)
            .unwrap()
            .insert(
                (orphan.owner.raw(), orphan.id.raw()),
                encode(&orphan).as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
        let found = problems(&t).join("\n");
        assert!(
            found.contains(&format!(
                "track {}: its blob {} has no record",
                gone.id, gone.blob
            )),
            "{found}"
        );
        assert!(found.contains("blob file"), "{found}");
        assert!(found.contains("counts 2 tracks"), "{found}");
        let read = t.vault.db().begin_read().unwrap();
        assert!(
            read.open_table(BLOBS)
                .unwrap()
                .get(kept.blob.raw())
                .unwrap()
                .is_some()
        );
    }
}

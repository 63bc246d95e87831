//! Analysis jobs, a part of the library (tracks carry their analysis state): tracks waiting
//! for tempo, key, loudness and peaks, as [`JobKind::Analysis`] jobs of the durable job table,
//! so a restart resumes where it stopped.
//!
//! The executor is no signed-in user, so it gets no [`OwnerScope`] to keep: an [`AnalysisJob`]
//! holds the lease and the scope of the one track it was queued for (queued by an
//! authenticated upload), and exposes only what analysis needs: reading that track's audio and
//! recording the result, once.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use studiovault_api::ProcessingPurpose;

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::blob::{BlobAccess, BlobReader, BlobWriter};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, TrackId, UserId};
use crate::jobs::{JobKind, JobSubject, Lease};
use crate::library::TrackRecord;
use crate::records::{BlobRecord, owner_allows, put_blob, tenant_key};
use crate::scope::OwnerScope;
use crate::store::{TENANT_KEYS, TRACKS, decode, encode};
use crate::{Vault, fsutil};

/// What the analysis found, as stored with the track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    pub tempo_bpm: Option<f64>,
    pub tempo_confidence: Option<f64>,
    /// e.g. `A minor`.
    pub key: Option<String>,
    /// e.g. `8A`.
    pub camelot: Option<String>,
    pub key_confidence: Option<f64>,
    pub integrated_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    /// The encrypted waveform peaks, when any were computed.
    pub peaks: Option<BlobId>,
}

/// Where a track's analysis stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AnalysisState {
    /// Queued.
    Pending,
    Done(AnalysisResult),
    Failed {
        reason: String,
    },
    /// The owner's plan or setting has analysis off, or the owner objected to analysis.
    Off,
}

/// One leased track, with just enough access to analyse it.
#[derive(Debug)]
pub struct AnalysisJob {
    lease: Lease,
    scope: OwnerScope,
    track: TrackId,
}

impl AnalysisJob {
    /// The lease, to renew while the analysis runs.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    pub fn owner(&self) -> UserId {
        self.scope.owner()
    }

    pub fn track(&self) -> TrackId {
        self.track
    }

    /// The track and a decrypting reader over its audio. `NotFound` when the track was
    /// deleted since it was queued.
    pub fn open_audio(&self, vault: &Vault) -> Result<(TrackRecord, BlobReader)> {
        owner_allows(vault, self.scope.owner(), ProcessingPurpose::Analysis)?;
        let rec = vault.library(&self.scope).get(self.track)?;
        let reader = vault.library(&self.scope).open_blob(&rec)?;
        Ok((rec, reader))
    }

    /// The track and access to its audio blob alone, for a worker in another process.
    pub fn audio_access(&self, vault: &Vault) -> Result<(TrackRecord, BlobAccess)> {
        owner_allows(vault, self.scope.owner(), ProcessingPurpose::Analysis)?;
        let library = vault.library(&self.scope);
        let rec = library.get(self.track)?;
        let access = library.blob_access(&rec)?;
        Ok((rec, access))
    }

    /// Stores the result (and the peaks, encrypted as a blob of the owner) and ends the job.
    /// A job no longer held (its track was deleted, or another executor took it after this
    /// lease ran out), or whose commit fails, stores nothing and leaves nothing behind.
    pub fn complete(self, vault: &Vault, mut result: AnalysisResult, peaks: &[u8]) -> Result<()> {
        let owner = self.scope.owner();
        let peaks_blob = if peaks.is_empty() {
            None
        } else {
            let blob = BlobId::random();
            let key = {
                let txn = vault.db().begin_read()?;
                tenant_key(vault, &txn.open_table(TENANT_KEYS)?, owner)?
            };
            let mut writer = BlobWriter::create(&vault.tmp_dir(), owner, blob, key.blob_key(blob))?;
            writer.write(peaks)?;
            let sealed = writer.finish()?;
            let (len, sha256) = (sealed.plaintext_len, hex::encode(sealed.sha256));
            let sealed_sha256 = hex::encode(sealed.sealed_sha256);
            sealed.persist(&vault.blob_path(owner, blob))?;
            Some((blob, len, sha256, sealed_sha256))
        };
        result.peaks = peaks_blob.as_ref().map(|(b, ..)| *b);
        let stored = vault.audited_if_changed(None, |txn, now| {
            match self.lease.finish_in(txn) {
                Ok(()) => {}
                Err(VaultError::LeaseLost) => return Ok((false, None)),
                Err(e) => return Err(e),
            }
            let mut tracks = txn.open_table(TRACKS)?;
            let key = (owner.raw(), self.track.raw());
            let Some(raw) = tracks.get(key)?.map(|v| v.value().to_vec()) else {
                return Ok((false, None));
            };
            let mut rec: TrackRecord = decode("tracks", &raw)?;
            rec.analysis = AnalysisState::Done(result);
            tracks.insert(key, encode(&rec).as_slice())?;
            if let Some((blob, len, sha256, sealed_sha256)) = &peaks_blob {
                let record = BlobRecord {
                    owner,
                    plaintext_len: *len,
                    sha256: sha256.clone(),
                    created_at_ms: now,
                    sealed_sha256: Some(sealed_sha256.clone()),
                };
                put_blob(txn, *blob, &record)?;
            }
            let event = AuditEvent::new(Actor::System, Some(owner), AuditAction::TrackAnalyze)
                .object(format!("track/{}", self.track));
            Ok((true, Some(event)))
        });
        if !matches!(stored, Ok(true))
            && let Some((blob, ..)) = peaks_blob
        {
            // The track went while it was being analysed, the job went to another executor, or
            // the commit failed: no record names the file.
            let path = vault.blob_path(owner, blob);
            let _ = std::fs::remove_file(&path);
            if let Some(dir) = path.parent() {
                let _ = fsutil::sync_dir(dir);
            }
        }
        stored.map(|_| ())
    }

    /// Records why the analysis failed and ends the job: a file the engine cannot read fails
    /// the same way every time.
    pub fn fail(self, vault: &Vault, reason: &str) -> Result<()> {
        let owner = self.scope.owner();
        let key = (owner.raw(), self.track.raw());
        let reason: String = reason.chars().take(300).collect();
        vault.audited(None, |txn, _| {
            self.lease.finish_in(txn)?;
            let mut tracks = txn.open_table(TRACKS)?;
            let row = tracks.get(key)?.map(|v| v.value().to_vec());
            if let Some(raw) = row {
                let mut rec: TrackRecord = decode("tracks", &raw)?;
                rec.analysis = AnalysisState::Failed {
                    reason: reason.clone(),
                };
                tracks.insert(key, encode(&rec).as_slice())?;
            }
            let event = AuditEvent::new(Actor::System, Some(owner), AuditAction::TrackAnalyze)
                .object(format!("track/{}", self.track))
                .detail(format!("failed: {reason}"));
            Ok(((), event))
        })
    }
}

impl AnalysisJob {
    /// The analysis a leased job asks for; `None` for a job of another kind.
    pub fn from_lease(lease: Lease) -> Option<Self> {
        match lease.subject {
            JobSubject::Track { track } if lease.kind == JobKind::Analysis => Some(AnalysisJob {
                scope: OwnerScope::new(lease.owner),
                track,
                lease,
            }),
            _ => None,
        }
    }
}

impl Vault {
    /// Tracks waiting for analysis or being analysed.
    pub fn analysis_queue_len(&self) -> Result<u64> {
        self.pending_jobs(JobKind::Analysis)
    }
}

/// The analysis of `track` was given up on (its job failed without an executor to record
/// why): the owner is shown `reason`, in the caller's transaction.
pub(crate) fn given_up_in(
    txn: &redb::WriteTransaction,
    owner: UserId,
    track: TrackId,
    reason: &str,
) -> Result<()> {
    let mut tracks = txn.open_table(TRACKS)?;
    let key = (owner.raw(), track.raw());
    let Some(raw) = tracks.get(key)?.map(|v| v.value().to_vec()) else {
        return Ok(());
    };
    let mut rec: TrackRecord = decode("tracks", &raw)?;
    if matches!(rec.analysis, AnalysisState::Pending) {
        rec.analysis = AnalysisState::Failed {
            reason: reason.to_owned(),
        };
        tracks.insert(key, encode(&rec).as_slice())?;
    }
    Ok(())
}

/// Queues `track`'s analysis in the caller's transaction.
pub(crate) fn enqueue(
    txn: &redb::WriteTransaction,
    owner: UserId,
    track: TrackId,
    now: i64,
) -> Result<()> {
    crate::jobs::enqueue(
        txn,
        JobKind::Analysis,
        owner,
        JobSubject::Track { track },
        now,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use studiovault_api::Plan;

    use super::*;
    use crate::library::TrackQuery;
    use crate::testutil::{PASSWORD, TestVault};
    use crate::{ClientInfo, TrackSort};

    /// Every ready analysis job, leased.
    fn lease_all(t: &TestVault) -> Vec<AnalysisJob> {
        std::iter::from_fn(|| {
            t.vault
                .lease_job(
                    &[JobKind::Analysis],
                    "test",
                    std::time::Duration::from_secs(60),
                )
                .unwrap()
                .and_then(AnalysisJob::from_lease)
        })
        .collect()
    }

    fn result(bpm: f64, key: &str, camelot: &str) -> AnalysisResult {
        AnalysisResult {
            tempo_bpm: Some(bpm),
            tempo_confidence: Some(0.9),
            key: Some(key.into()),
            camelot: Some(camelot.into()),
            key_confidence: Some(0.8),
            integrated_lufs: Some(-14.0),
            loudness_range_lu: Some(6.0),
            true_peak_dbtp: Some(-1.0),
            peaks: None,
        }
    }

    #[test]
    fn uploads_are_queued_analysed_and_filterable() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let a = t.upload(&scope, b"first take");
        let b = t.upload(&scope, b"second take");
        assert_eq!(a.analysis, AnalysisState::Pending);
        assert_eq!(t.vault.analysis_queue_len().unwrap(), 2);

        for job in lease_all(&t) {
            let (rec, mut reader) = job.open_audio(&t.vault).unwrap();
            let mut audio = Vec::new();
            reader.read_to_end(&mut audio).unwrap();
            let r = if rec.id == a.id {
                result(121.5, "A minor", "8A")
            } else {
                result(90.0, "C major", "8B")
            };
            job.complete(
                &t.vault,
                r,
                format!("peaks of {}", String::from_utf8_lossy(&audio)).as_bytes(),
            )
            .unwrap();
        }
        assert_eq!(t.vault.analysis_queue_len().unwrap(), 0);
        let lib = t.vault.library(&scope);
        assert_eq!(lib.peaks(a.id).unwrap(), b"peaks of first take");
        let find = |q: TrackQuery| {
            lib.list(&TrackQuery { limit: 10, ..q })
                .unwrap()
                .0
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find(TrackQuery {
                key: Some("a MINOR".into()),
                tempo: Some((115.0, 125.0)),
                ..Default::default()
            }),
            vec![a.id]
        );
        assert_eq!(
            find(TrackQuery {
                key: Some("8B".into()),
                ..Default::default()
            }),
            vec![b.id]
        );
        assert_eq!(
            find(TrackQuery {
                sort: TrackSort::Tempo,
                ..Default::default()
            }),
            vec![b.id, a.id]
        );
        assert!(
            find(TrackQuery {
                tempo: Some((50.0, 60.0)),
                ..Default::default()
            })
            .is_empty()
        );

        // Deleting the track removes its peaks too.
        let peaks_path = t
            .vault
            .blob_path(scope.owner(), lib.get(a.id).unwrap().peaks_blob().unwrap());
        assert!(peaks_path.exists());
        lib.delete(a.id, &ClientInfo::default()).unwrap();
        assert!(!peaks_path.exists());
    }

    #[test]
    fn failures_are_recorded_and_deleted_tracks_are_skipped() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let bad = t.upload(&scope, b"x");
        let gone = t.upload(&scope, b"y");
        t.vault
            .library(&scope)
            .delete(gone.id, &ClientInfo::default())
            .unwrap();
        let jobs = lease_all(&t);
        assert_eq!(jobs.len(), 1, "a deleted track leaves the queue with it");
        jobs.into_iter()
            .next()
            .unwrap()
            .fail(&t.vault, "corrupt audio: the stream ends early")
            .unwrap();
        let rec = t.vault.library(&scope).get(bad.id).unwrap();
        assert!(
            matches!(rec.analysis, AnalysisState::Failed { ref reason } if reason.contains("ends early"))
        );
        assert_eq!(t.vault.analysis_queue_len().unwrap(), 0);
    }

    /// Blob files of `scope`'s owner.
    fn blob_files(t: &TestVault, scope: &OwnerScope) -> usize {
        let dir = t.vault.blob_root().join(scope.owner().to_string());
        std::fs::read_dir(&dir)
            .map(|shards| {
                shards
                    .flatten()
                    .map(|s| std::fs::read_dir(s.path()).map(|f| f.count()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }

    #[test]
    fn a_job_finishing_after_its_track_was_deleted_leaves_nothing() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let rec = t.upload(&scope, b"z");
        let job = lease_all(&t).pop().unwrap();
        t.vault
            .library(&scope)
            .delete(rec.id, &ClientInfo::default())
            .unwrap();
        job.complete(&t.vault, result(100.0, "D minor", "7A"), b"peaks")
            .unwrap();
        assert_eq!(blob_files(&t, &scope), 0, "no orphan peaks blob");
    }

    #[test]
    fn a_result_whose_commit_fails_leaves_no_peaks_file() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let rec = t.upload(&scope, b"z");
        let job = lease_all(&t).pop().unwrap();
        // The track's record cannot be read back: the transaction storing the result fails.
        let txn = t.vault.db().begin_write().unwrap();
        txn.open_table(TRACKS)
            .unwrap()
            .insert((scope.owner().raw(), rec.id.raw()), &b"not json"[..])
            .unwrap();
        txn.commit().unwrap();
        let files = blob_files(&t, &scope);
        let stored = job.complete(&t.vault, result(100.0, "D minor", "7A"), b"peaks");
        assert!(
            matches!(stored, Err(VaultError::CorruptRecord { .. })),
            "{stored:?}"
        );
        assert_eq!(blob_files(&t, &scope), files, "no orphan peaks blob");
    }

    #[test]
    fn free_plans_skip_analysis_until_the_owner_turns_it_on() {
        let t = TestVault::new();
        t.vault
            .admin()
            .create_user("free@studio.test", Some(PASSWORD), Plan::Free)
            .unwrap();
        let (_, auth) = t
            .vault
            .login("free@studio.test", PASSWORD, None, &ClientInfo::default())
            .unwrap();
        let rec = t.upload(&auth.scope, b"demo");
        assert_eq!(rec.analysis, AnalysisState::Off);
        assert_eq!(t.vault.analysis_queue_len().unwrap(), 0);
        let me = t
            .vault
            .account(&auth.scope)
            .set_analysis(true, &ClientInfo::default())
            .unwrap();
        assert!(me.analysis_enabled());
        assert_eq!(t.vault.analysis_queue_len().unwrap(), 1);
        assert_eq!(
            t.vault.library(&auth.scope).get(rec.id).unwrap().analysis,
            AnalysisState::Pending
        );
    }
}

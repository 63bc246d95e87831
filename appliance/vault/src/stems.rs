//! Stems: an owner on a Pro or Max plan asks for a track's stems, a stem worker leases the job,
//! reads that job's source (and nothing else), and hands back the stems, which become tracks of
//! the same owner, marked as stems of their parent: played, shared, exported, counted against
//! the quota and purged like any track, and deleted with their parent.
//!
//! A worker reaches a job only through the lease it holds ([`Vault::stem_lease`]); the source
//! it reads and the stems it stores are the leased job's track's, under the job's owner, so a
//! lease opens no other track and no other owner's audio. Storing the stems ends the job in the
//! same transaction, so a result uploaded twice is taken once.

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable};
use studiovault_api::{Plan, ProcessingPurpose};

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::blob::{BlobReader, BlobWriter, SealedBlob};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, TrackId};
use crate::jobs::{self, JobKind, JobRecord, JobSubject, Lease};
use crate::library::analysis::{self, AnalysisState};
use crate::library::{Library, StemOf, TrackInfo, TrackRecord, charge_new_tracks, track_key};
use crate::records::{BlobRecord, get_user, put_blob, read_tenant_key};
use crate::store::{TRACKS, USERS, WORKERS, decode, encode};
use crate::workers::{WorkerRecord, WorkerState, count_finished};
use crate::{ClientInfo, Vault};

/// Where a track's separation stands, for the owner.
#[derive(Debug, Clone, PartialEq)]
pub struct StemsStatus {
    /// The separation job while queued, running or failed; `None` when there is none.
    pub job: Option<JobRecord>,
    pub stems: Vec<TrackRecord>,
}

/// Stems made by a worker, sealed under the job owner's key, ready to store.
#[derive(Debug)]
pub struct NewStems {
    /// In the order of [`studiovault_api::worker::STEM_NAMES`].
    pub stems: Vec<(String, SealedBlob, TrackInfo)>,
    pub draft: bool,
    pub backend: String,
    pub model: String,
}

/// What storing a job's stems did.
#[derive(Debug, Clone, PartialEq)]
pub enum StemsOutcome {
    Stored(Vec<TrackRecord>),
    /// The job's stems were stored by an earlier upload; this one changed nothing.
    AlreadyStored(Vec<TrackId>),
}

/// Why a plan cannot separate stems, if it cannot.
pub fn plan_refusal(plan: Plan) -> Option<&'static str> {
    match plan {
        Plan::Free => Some("stem separation comes with the Pro and Max plans"),
        Plan::Pro | Plan::Max => None,
    }
}

impl Library<'_> {
    /// Queues the separation of track `id` into stems.
    pub fn request_stems(&self, id: TrackId, client: &ClientInfo) -> Result<()> {
        self.vault.audited(Some(client), |txn, now| {
            let user =
                get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
            if let Some(why) = plan_refusal(user.plan) {
                return Err(VaultError::PlanRequired(why));
            }
            user.allows(ProcessingPurpose::Stems)?;
            let rec: TrackRecord = {
                let tracks = txn.open_table(TRACKS)?;
                let raw = tracks
                    .get(track_key(self.owner, id))?
                    .map(|v| v.value().to_vec());
                decode("tracks", &raw.ok_or(VaultError::NotFound)?)?
            };
            if rec.stem.is_some() {
                return Err(VaultError::Conflict("this track is a stem already"));
            }
            if !rec.stems.is_empty() {
                return Err(VaultError::Conflict(
                    "this track has stems already: delete them to separate it again",
                ));
            }
            jobs::enqueue(
                txn,
                JobKind::Stems,
                self.owner,
                JobSubject::Track { track: id },
                now,
            )?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::StemsRequest)
                .object(format!("track/{id}"));
            Ok(((), event))
        })?;
        self.vault.jobs_queued();
        Ok(())
    }

    /// Cancels track `id`'s separation, queued, running or failed; a worker running it loses
    /// its lease at its next call. Answers whether there was one.
    pub fn cancel_stems(&self, id: TrackId, client: &ClientInfo) -> Result<bool> {
        self.get(id)?;
        self.vault.audited_if_changed(Some(client), |txn, _| {
            let subject = JobSubject::Track { track: id };
            if jobs::job_in(txn, JobKind::Stems, subject)?.is_none() {
                return Ok((false, None));
            }
            jobs::remove(txn, JobKind::Stems, subject)?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::StemsCancel)
                .object(format!("track/{id}"));
            Ok((true, Some(event)))
        })
    }

    /// Track `id`'s stems and its separation job.
    pub fn stems(&self, id: TrackId) -> Result<StemsStatus> {
        let rec = self.get(id)?;
        let txn = self.vault.db().begin_read()?;
        let tracks = txn.open_table(TRACKS)?;
        let mut stems = Vec::new();
        for stem in &rec.stems {
            if let Some(v) = tracks.get(track_key(self.owner, *stem))? {
                stems.push(decode::<TrackRecord>("tracks", v.value())?);
            }
        }
        drop(tracks);
        drop(txn);
        let job = self
            .vault
            .job_record(JobKind::Stems, JobSubject::Track { track: id })?;
        Ok(StemsStatus { job, stems })
    }
}

impl Vault {
    /// Leases the next stem job for `worker`, skipping tracks longer than it takes; answers
    /// the lease and the track.
    pub fn lease_stems(
        &self,
        worker: &WorkerRecord,
        lease: Duration,
        max_duration_secs: Option<u64>,
    ) -> Result<Option<(Lease, TrackRecord)>> {
        let fits = |txn: &redb::WriteTransaction, job: &JobRecord| -> Result<bool> {
            // Read in the lease's transaction, not from the record the poll began with: a
            // worker revoked, drained or deleted during its long poll takes nothing.
            let now = txn
                .open_table(WORKERS)?
                .get(worker.id.raw())?
                .map(|v| decode::<WorkerRecord>("workers", v.value()))
                .transpose()?;
            if now.is_none_or(|w| w.state != WorkerState::Active) {
                return Ok(false);
            }
            // A suspended account's, or one awaiting deletion: its audio goes to no worker, and
            // the job waits (it runs if the account is active again; a purge removes it).
            let owner = get_user(&txn.open_table(USERS)?, job.owner)?;
            if !owner.is_some_and(|u| u.is_active()) {
                return Ok(false);
            }
            let Some(max) = max_duration_secs else {
                return Ok(true);
            };
            let Some(track) = job.subject.track() else {
                return Ok(false);
            };
            let key = track_key(job.owner, track);
            let raw = txn
                .open_table(TRACKS)?
                .get(key)?
                .map(|v| v.value().to_vec());
            let Some(raw) = raw else {
                return Ok(true);
            };
            let rec: TrackRecord = decode("tracks", &raw)?;
            Ok(rec.info.duration_secs.is_none_or(|d| d <= max as f64))
        };
        let Some(lease) =
            self.lease_job_where(&[JobKind::Stems], &worker.holder(), lease, &fits)?
        else {
            return Ok(None);
        };
        match self.stem_track(&lease) {
            Ok(rec) => Ok(Some((lease, rec))),
            // The track went between the queue and the lease: the job is moot.
            Err(VaultError::NotFound) => {
                lease.finish(self)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The lease `worker` holds on stem job `job`: `LeaseLost` for any job it does not hold.
    pub fn stem_lease(&self, worker: &WorkerRecord, job: u128) -> Result<Lease> {
        let lease = self.held_lease(job, &worker.holder())?;
        if lease.kind != JobKind::Stems {
            return Err(VaultError::LeaseLost);
        }
        Ok(lease)
    }

    fn stem_track(&self, lease: &Lease) -> Result<TrackRecord> {
        let txn = self.db().begin_read()?;
        let raw = txn
            .open_table(TRACKS)?
            .get(track_key(lease.owner, stem_parent(lease)?))?
            .map(|v| v.value().to_vec())
            .ok_or(VaultError::NotFound)?;
        decode("tracks", &raw)
    }

    /// Opens the leased job's source audio for `worker`, and records the read.
    pub fn open_stem_source(
        &self,
        worker: &WorkerRecord,
        lease: &Lease,
        detail: &str,
    ) -> Result<(TrackRecord, BlobReader)> {
        let txn = self.db().begin_read()?;
        let owner = get_user(&txn.open_table(USERS)?, lease.owner)?.ok_or(VaultError::NotFound)?;
        drop(txn);
        owner.allows(ProcessingPurpose::Stems)?;
        // Suspended or awaiting deletion since the lease: no worker reads the audio now.
        if !owner.is_active() {
            return Err(VaultError::AccountInactive("no longer active"));
        }
        let rec = self.stem_track(lease)?;
        let key = read_tenant_key(self, lease.owner)?;
        let reader = BlobReader::open(
            &self.blob_path(lease.owner, rec.blob),
            rec.blob,
            key.blob_cipher(rec.blob),
            rec.size_bytes,
        )?;
        let event = AuditEvent::new(
            Actor::Worker(worker.id),
            Some(lease.owner),
            AuditAction::StemsSourceRead,
        )
        .object(format!("track/{}", rec.id))
        .detail(format!("worker {}; {detail}", worker.name));
        self.audit_only(None, event)?;
        Ok((rec, reader))
    }

    /// An encrypting writer for one stem of the leased job, under the job owner's key.
    pub fn begin_stem_blob(&self, lease: &Lease) -> Result<BlobWriter> {
        let blob = BlobId::random();
        let key = read_tenant_key(self, lease.owner)?;
        BlobWriter::create(&self.tmp_dir(), lease.owner, blob, key.blob_key(blob))
    }

    /// Stores the leased job's stems as tracks of its owner and ends the job, in one
    /// transaction. An upload for a job whose stems are stored already changes nothing.
    pub fn store_stems(
        &self,
        worker: &WorkerRecord,
        lease: &Lease,
        new: NewStems,
    ) -> Result<StemsOutcome> {
        let owner = lease.owner;
        let parent_id = stem_parent(lease)?;
        if new.stems.iter().any(|(_, sealed, _)| sealed.owner != owner) {
            return Err(VaultError::NotFound);
        }
        let mut records = Vec::new();
        let mut paths = Vec::new();
        let mut blob_rows = Vec::new();
        let now = self.now_ms();
        for (name, sealed, info) in new.stems {
            let size = sealed.plaintext_len;
            let rec = TrackRecord {
                id: TrackId::random(),
                owner,
                blob: sealed.blob,
                info,
                size_bytes: size,
                sha256: hex::encode(sealed.sha256),
                created_at_ms: now,
                updated_at_ms: now,
                analysis: AnalysisState::Off,
                stem: Some(StemOf {
                    parent: parent_id,
                    name,
                    draft: new.draft,
                    backend: new.backend.clone(),
                    model: new.model.clone(),
                }),
                stems: Vec::new(),
                version: None,
                folder: None,
            };
            blob_rows.push((
                rec.blob,
                BlobRecord {
                    owner,
                    plaintext_len: size,
                    sha256: rec.sha256.clone(),
                    created_at_ms: now,
                    sealed_sha256: Some(hex::encode(sealed.sealed_sha256)),
                },
            ));
            let path = self.blob_path(owner, rec.blob);
            paths.push(path.clone());
            if let Err(e) = sealed.persist(&path) {
                remove_files(&paths);
                return Err(e);
            }
            records.push(rec);
        }
        let total: u64 = records.iter().map(|r| r.size_bytes).sum();
        let committed = self.audited(None, |txn, _| {
            lease.finish_in(txn)?;
            let mut parent: TrackRecord = {
                let tracks = txn.open_table(TRACKS)?;
                let raw = tracks
                    .get(track_key(owner, parent_id))?
                    .map(|v| v.value().to_vec());
                decode("tracks", &raw.ok_or(VaultError::NotFound)?)?
            };
            if !parent.stems.is_empty() {
                return Err(VaultError::LeaseLost);
            }
            let user = charge_new_tracks(self, txn, owner, total, records.len() as u64)?;
            for (blob, row) in &blob_rows {
                put_blob(txn, *blob, row)?;
            }
            let mut tracks = txn.open_table(TRACKS)?;
            for rec in &mut records {
                if user.analysis_enabled() {
                    rec.analysis = AnalysisState::Pending;
                    analysis::enqueue(txn, owner, rec.id, now)?;
                }
                tracks.insert(track_key(owner, rec.id), encode(&*rec).as_slice())?;
                parent.stems.push(rec.id);
            }
            tracks.insert(track_key(owner, parent_id), encode(&parent).as_slice())?;
            drop(tracks);
            count_finished(txn, worker.id, now)?;
            let event = AuditEvent::new(
                Actor::Worker(worker.id),
                Some(owner),
                AuditAction::StemsStore,
            )
            .object(format!("track/{parent_id}"))
            .detail(format!(
                "worker {}; {} stems, {total} bytes: {}",
                worker.name,
                records.len(),
                records
                    .iter()
                    .map(|r| format!("track/{} blob {}", r.id, r.blob))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            Ok(((), event))
        });
        match committed {
            Ok(()) => {
                self.jobs_queued();
                Ok(StemsOutcome::Stored(records))
            }
            Err(VaultError::LeaseLost) => {
                remove_files(&paths);
                // Taken once: an earlier upload for this job stored its stems.
                let existing = self.stem_track(lease).map(|p| p.stems).unwrap_or_default();
                if existing.is_empty() {
                    Err(VaultError::LeaseLost)
                } else {
                    Ok(StemsOutcome::AlreadyStored(existing))
                }
            }
            Err(e) => {
                remove_files(&paths);
                Err(e)
            }
        }
    }
}

/// The track a stem lease separates; a lease of any other job has lost its way.
fn stem_parent(lease: &Lease) -> Result<TrackId> {
    lease.subject.track().ok_or(VaultError::LeaseLost)
}

fn remove_files(paths: &[std::path::PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnerScope;
    use crate::testutil::TestVault;
    use crate::workers::WorkerState;

    const LEASE: Duration = Duration::from_secs(60);

    fn stems_for(t: &TestVault, lease: &Lease, fill: u8) -> NewStems {
        let stems = studiovault_api::worker::STEM_NAMES
            .iter()
            .map(|name| {
                let mut w = t.vault.begin_stem_blob(lease).unwrap();
                w.write(&[fill; 100]).unwrap();
                let info = TrackInfo {
                    name: format!("Song ({name})"),
                    ..TrackInfo::default()
                };
                ((*name).to_owned(), w.finish().unwrap(), info)
            })
            .collect();
        NewStems {
            stems,
            draft: true,
            backend: "builtin".into(),
            model: "spleeter-2stems".into(),
        }
    }

    fn used(t: &TestVault, scope: &OwnerScope) -> u64 {
        t.vault.account(scope).me().unwrap().used_bytes
    }

    #[test]
    fn a_worker_stores_stems_once_and_they_go_with_their_track() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let track = t.upload(&scope, b"the mix");
        let lib = t.vault.library(&scope);
        lib.request_stems(track.id, &ClientInfo::default()).unwrap();
        assert!(
            matches!(lib.request_stems(track.id, &ClientInfo::default()), Ok(())),
            "asking again while queued is the same job"
        );
        let (worker, _) = t.vault.enrol_worker("box").unwrap();
        let (lease, rec) = t.vault.lease_stems(&worker, LEASE, None).unwrap().unwrap();
        assert_eq!(rec.id, track.id);
        assert_eq!(t.vault.stem_lease(&worker, lease.id).unwrap().id, lease.id);
        let (_, mut source) = t.vault.open_stem_source(&worker, &lease, "test").unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut source, &mut bytes).unwrap();
        assert_eq!(bytes, b"the mix");

        let before = used(&t, &scope);
        let outcome = t
            .vault
            .store_stems(&worker, &lease, stems_for(&t, &lease, 1))
            .unwrap();
        let StemsOutcome::Stored(stored) = outcome else {
            panic!("the first upload is stored");
        };
        assert_eq!(stored.len(), 4);
        assert_eq!(used(&t, &scope), before + 400);
        // The job is over: the same lease stores nothing more.
        assert!(matches!(
            t.vault.store_stems(&worker, &lease, stems_for(&t, &lease, 2)),
            Ok(StemsOutcome::AlreadyStored(ids)) if ids.len() == 4
        ));
        assert_eq!(used(&t, &scope), before + 400);
        let status = lib.stems(track.id).unwrap();
        assert!(status.job.is_none());
        assert_eq!(status.stems.len(), 4);
        assert_eq!(status.stems[0].stem.as_ref().unwrap().name, "vocals");
        assert_eq!(t.vault.worker(worker.id).unwrap().jobs_done, 1);
        // Stems are not listed beside their track, and cannot be separated again.
        let (listed, total) = lib
            .list(&crate::TrackQuery {
                limit: 50,
                ..Default::default()
            })
            .unwrap();
        assert_eq!((listed.len(), total), (1, 1));
        assert!(matches!(
            lib.request_stems(track.id, &ClientInfo::default()),
            Err(VaultError::Conflict(_))
        ));
        assert!(matches!(
            lib.request_stems(stored[0].id, &ClientInfo::default()),
            Err(VaultError::Conflict(_))
        ));
        // The export carries the stems, marked as such.
        let export = t
            .vault
            .export_account(&scope, &ClientInfo::default())
            .unwrap();
        assert_eq!(export.tracks.len(), 5);
        assert_eq!(export.tracks.iter().filter(|r| r.stem.is_some()).count(), 4);
        // Deleting one stem forgets it; deleting the track takes the rest.
        lib.delete(stored[0].id, &ClientInfo::default()).unwrap();
        assert_eq!(lib.get(track.id).unwrap().stems.len(), 3);
        lib.delete(track.id, &ClientInfo::default()).unwrap();
        for stem in &stored {
            assert!(matches!(lib.get(stem.id), Err(VaultError::NotFound)));
            assert!(!t.vault.blob_path(track.owner, stem.blob).exists());
        }
        assert_eq!(used(&t, &scope), 0);
    }

    #[test]
    fn no_worker_reads_an_account_that_is_suspended_or_awaiting_deletion() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let user = scope.owner();
        let track = t.upload(&scope, b"the mix");
        let lib = t.vault.library(&scope);
        lib.request_stems(track.id, &ClientInfo::default()).unwrap();
        let (worker, _) = t.vault.enrol_worker("box").unwrap();
        // Awaiting deletion: the job waits, and runs if the deletion is cancelled.
        t.vault.admin().schedule_deletion(user).unwrap();
        assert!(t.vault.lease_stems(&worker, LEASE, None).unwrap().is_none());
        t.vault.admin().cancel_deletion(user).unwrap();
        let (lease, _) = t.vault.lease_stems(&worker, LEASE, None).unwrap().unwrap();
        // Suspended after the lease: the source is not opened for the worker.
        t.vault.admin().suspend(user).unwrap();
        assert!(matches!(
            t.vault.open_stem_source(&worker, &lease, "test"),
            Err(VaultError::AccountInactive(_))
        ));
    }

    #[test]
    fn a_lease_reaches_only_its_own_job_and_owner() {
        let t = TestVault::new();
        let (_, alice) = t.user("alice@studio.test");
        let (_, bob) = t.user("bob@studio.test");
        let a = t.upload(&alice, b"alice's mix");
        let b = t.upload(&bob, b"bob's mix");
        t.vault
            .library(&alice)
            .request_stems(a.id, &ClientInfo::default())
            .unwrap();
        t.vault
            .library(&bob)
            .request_stems(b.id, &ClientInfo::default())
            .unwrap();
        let (one, _) = t.vault.enrol_worker("one").unwrap();
        let (two, _) = t.vault.enrol_worker("two").unwrap();
        let (lease_one, rec_one) = t.vault.lease_stems(&one, LEASE, None).unwrap().unwrap();
        let (lease_two, rec_two) = t.vault.lease_stems(&two, LEASE, None).unwrap().unwrap();
        assert_ne!(rec_one.owner, rec_two.owner, "owners take turns");
        // Neither worker reaches the other's job, nor does an unknown job id.
        assert!(matches!(
            t.vault.stem_lease(&one, lease_two.id),
            Err(VaultError::LeaseLost)
        ));
        assert!(matches!(
            t.vault.stem_lease(&two, lease_one.id),
            Err(VaultError::LeaseLost)
        ));
        assert!(matches!(
            t.vault.stem_lease(&one, 42),
            Err(VaultError::LeaseLost)
        ));
        // Stems sealed for one owner's job are refused on the other's.
        let wrong = stems_for(&t, &lease_one, 3);
        assert!(matches!(
            t.vault.store_stems(&two, &lease_two, wrong),
            Err(VaultError::NotFound)
        ));
        // Stems of one owner are not in the other's library.
        t.vault
            .store_stems(&one, &lease_one, stems_for(&t, &lease_one, 4))
            .unwrap();
        let (mine, theirs, parent) = if rec_one.owner == a.owner {
            (&alice, &bob, a.id)
        } else {
            (&bob, &alice, b.id)
        };
        let stems = t.vault.library(mine).stems(parent).unwrap().stems;
        assert_eq!(stems.len(), 4);
        for stem in stems {
            assert!(matches!(
                t.vault.library(theirs).get(stem.id),
                Err(VaultError::NotFound)
            ));
        }
    }

    #[test]
    fn cancel_revoke_and_expiry_take_the_job_from_its_worker() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let track = t.upload(&scope, b"mix");
        let lib = t.vault.library(&scope);
        let (one, _) = t.vault.enrol_worker("one").unwrap();
        let (two, _) = t.vault.enrol_worker("two").unwrap();

        lib.request_stems(track.id, &ClientInfo::default()).unwrap();
        let (lease, _) = t.vault.lease_stems(&one, LEASE, None).unwrap().unwrap();
        assert!(lib.cancel_stems(track.id, &ClientInfo::default()).unwrap());
        assert!(matches!(
            lease.heartbeat(&t.vault, 0.5, LEASE),
            Err(VaultError::LeaseLost)
        ));
        assert!(matches!(
            t.vault.stem_lease(&one, lease.id),
            Err(VaultError::LeaseLost)
        ));
        assert!(!lib.cancel_stems(track.id, &ClientInfo::default()).unwrap());

        // An expired lease goes to the next worker; the first one's results are refused.
        lib.request_stems(track.id, &ClientInfo::default()).unwrap();
        let (first, _) = t.vault.lease_stems(&one, LEASE, None).unwrap().unwrap();
        assert!(t.vault.lease_stems(&two, LEASE, None).unwrap().is_none());
        t.advance_secs(61);
        let (second, _) = t.vault.lease_stems(&two, LEASE, None).unwrap().unwrap();
        assert_eq!(second.attempt, 2);
        assert!(matches!(
            t.vault.store_stems(&one, &first, stems_for(&t, &first, 1)),
            Err(VaultError::LeaseLost)
        ));
        // Revoking the holder puts its job back at once.
        t.vault
            .set_worker_state(two.id, WorkerState::Revoked)
            .unwrap();
        let (third, _) = t.vault.lease_stems(&one, LEASE, None).unwrap().unwrap();
        assert_eq!(third.id, second.id);
    }

    #[test]
    fn a_worker_revoked_drained_or_deleted_while_it_polls_takes_no_job() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let track = t.upload(&scope, b"mix");
        let lib = t.vault.library(&scope);
        lib.request_stems(track.id, &ClientInfo::default()).unwrap();
        for change in [WorkerState::Revoked, WorkerState::Draining] {
            // The poll holds the record its token opened, from before the change.
            let name = format!("polling-{change:?}");
            let (polling, _) = t.vault.enrol_worker(&name).unwrap();
            t.vault.set_worker_state(polling.id, change).unwrap();
            assert!(
                t.vault
                    .lease_stems(&polling, LEASE, None)
                    .unwrap()
                    .is_none(),
                "{change:?}"
            );
        }
        let (deleted, _) = t.vault.enrol_worker("deleted").unwrap();
        t.vault.delete_worker(deleted.id).unwrap();
        assert!(
            t.vault
                .lease_stems(&deleted, LEASE, None)
                .unwrap()
                .is_none()
        );
        let (active, _) = t.vault.enrol_worker("active").unwrap();
        let (lease, _) = t.vault.lease_stems(&active, LEASE, None).unwrap().unwrap();
        assert_eq!(
            lease.attempt, 1,
            "the job waited for a worker that may take it"
        );
    }

    #[test]
    fn a_worker_is_not_given_tracks_longer_than_it_takes() {
        let t = TestVault::new();
        let (_, scope) = t.user("pro@studio.test");
        let lib = t.vault.library(&scope);
        let upload = |secs: f64| {
            let mut w = lib.begin_upload().unwrap();
            w.write(b"audio").unwrap();
            let info = TrackInfo {
                duration_secs: Some(secs),
                ..TrackInfo::default()
            };
            let rec = lib
                .commit_upload(
                    w.finish().unwrap(),
                    info,
                    Default::default(),
                    &ClientInfo::default(),
                )
                .unwrap();
            lib.request_stems(rec.id, &ClientInfo::default()).unwrap();
            rec.id
        };
        let long = upload(3600.0);
        let short = upload(180.0);
        let (small, _) = t.vault.enrol_worker("laptop").unwrap();
        let (big, _) = t.vault.enrol_worker("gpu-box").unwrap();
        let (lease, rec) = t
            .vault
            .lease_stems(&small, LEASE, Some(600))
            .unwrap()
            .unwrap();
        assert_eq!(
            rec.id, short,
            "the hour-long track is left for another worker"
        );
        assert!(
            t.vault
                .lease_stems(&small, LEASE, Some(600))
                .unwrap()
                .is_none()
        );
        let (_, rec) = t.vault.lease_stems(&big, LEASE, None).unwrap().unwrap();
        assert_eq!(rec.id, long);
        assert_eq!(lease.subject.track(), Some(short));
    }

    #[test]
    fn free_plans_are_refused() {
        let t = TestVault::new();
        t.vault
            .admin()
            .create_user(
                "free@studio.test",
                Some(crate::testutil::PASSWORD),
                Plan::Free,
            )
            .unwrap();
        let (_, auth) = t
            .vault
            .login(
                "free@studio.test",
                crate::testutil::PASSWORD,
                None,
                &ClientInfo::default(),
            )
            .unwrap();
        let track = t.upload(&auth.scope, b"mix");
        assert!(matches!(
            t.vault
                .library(&auth.scope)
                .request_stems(track.id, &ClientInfo::default()),
            Err(VaultError::PlanRequired(_))
        ));
        assert!(t.vault.jobs_of(JobKind::Stems).unwrap().is_empty());
    }
}

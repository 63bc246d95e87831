//! The owner's say over processing: objection to one purpose, and restriction (every purpose
//! at once). A purpose objected to is neither queued nor run: uploads are not analysed, stems
//! are refused, recipients get no new watermarked copy; what exists stays (tracks, their
//! analysis, stems, copies already made, and the shares themselves).
//!
//! The objections live on the account (`UserRecord::objections`); each place a purpose is
//! queued reads them in its own transaction (`UserRecord::allows`, `analysis_enabled`), and each
//! place one runs checks them again (`records::owner_allows`). Objecting removes the purpose's
//! jobs of the account in the same transaction, so nothing queued before runs after, and an
//! executor holding one loses its lease and stores nothing. Withdrawing an objection to
//! analysis queues the tracks left unanalysed, when the owner's analysis setting is on.
//!
//! This sits above the features whose jobs it stops (library, shares, stems).

use std::collections::BTreeSet;

use redb::{ReadableTable, WriteTransaction};
use studiovault_api::ProcessingPurpose;

use crate::ClientInfo;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::ids::UserId;
use crate::jobs::{self, JobKind};
use crate::library::analysis::AnalysisState;
use crate::library::{TrackRecord, queue_unanalysed, track_key};
use crate::records::{UserRecord, edit_user};
use crate::store::{TRACKS, decode, encode};
use crate::users::Account;

/// The job kind that does a purpose's processing.
fn job_kind(purpose: ProcessingPurpose) -> JobKind {
    match purpose {
        ProcessingPurpose::Analysis => JobKind::Analysis,
        ProcessingPurpose::Stems => JobKind::Stems,
        ProcessingPurpose::MarkedCopies => JobKind::Render,
    }
}

impl Account<'_> {
    /// Restricts processing of the account (every purpose objected to), or lifts the
    /// restriction (every objection withdrawn). Audited as `account.restriction`.
    pub fn set_restricted(&self, restricted: bool, client: &ClientInfo) -> Result<UserRecord> {
        let change = |objections: &mut BTreeSet<ProcessingPurpose>| {
            *objections = if restricted {
                ProcessingPurpose::ALL.into_iter().collect()
            } else {
                BTreeSet::new()
            };
        };
        self.change_objections(change, client, |stopped| {
            AuditEvent::by_owner(self.owner, AuditAction::Restriction)
                .object(format!("user/{}", self.owner))
                .detail(format!(
                    "processing {}{stopped}",
                    if restricted {
                        "restricted"
                    } else {
                        "restriction lifted"
                    }
                ))
        })
    }

    /// Objects to one processing purpose, or withdraws the objection. Audited as
    /// `account.objection`.
    pub fn set_objection(
        &self,
        purpose: ProcessingPurpose,
        objected: bool,
        client: &ClientInfo,
    ) -> Result<UserRecord> {
        let change = |objections: &mut BTreeSet<ProcessingPurpose>| {
            if objected {
                objections.insert(purpose);
            } else {
                objections.remove(&purpose);
            }
        };
        self.change_objections(change, client, |stopped| {
            AuditEvent::by_owner(self.owner, AuditAction::Objection)
                .object(format!("purpose/{purpose}"))
                .detail(format!(
                    "{}{stopped}",
                    if objected {
                        "objected"
                    } else {
                        "objection withdrawn"
                    }
                ))
        })
    }

    /// Changes the account's objections in one audited transaction: the purposes newly
    /// objected to lose their jobs, analysis newly allowed queues what it left. A change that
    /// changes nothing records nothing. `event` gets a note of the jobs stopped.
    fn change_objections(
        &self,
        change: impl FnOnce(&mut BTreeSet<ProcessingPurpose>),
        client: &ClientInfo,
        event: impl FnOnce(String) -> AuditEvent,
    ) -> Result<UserRecord> {
        let mut queued = false;
        let user = self.vault.audited_if_changed(Some(client), |txn, now| {
            let (mut before, mut wanted) = (BTreeSet::new(), BTreeSet::new());
            let user = edit_user(txn, self.owner, |rec| {
                before = rec.objections.iter().copied().collect();
                wanted = before.clone();
                change(&mut wanted);
                rec.objections = wanted.iter().copied().collect();
                Ok(())
            })?;
            if before == wanted {
                return Ok((user, None));
            }
            let mut stopped = 0;
            for purpose in wanted.difference(&before) {
                stopped += stop(txn, self.owner, *purpose)?;
            }
            if !wanted.contains(&ProcessingPurpose::Analysis)
                && before.contains(&ProcessingPurpose::Analysis)
                && user.analysis_wanted()
            {
                queue_unanalysed(txn, self.owner, now)?;
                queued = true;
            }
            let stopped = match stopped {
                0 => String::new(),
                n => format!("; {n} job(s) stopped"),
            };
            Ok((user, Some(event(stopped))))
        })?;
        if queued {
            self.vault.jobs_queued();
        }
        Ok(user)
    }
}

/// Removes `owner`'s jobs of `purpose`, queued, running or failed; tracks waiting for an
/// analysis that will not come are marked off. Answers how many jobs went.
fn stop(txn: &WriteTransaction, owner: UserId, purpose: ProcessingPurpose) -> Result<usize> {
    let removed = jobs::remove_of_owner(txn, owner, job_kind(purpose))?;
    if purpose == ProcessingPurpose::Analysis {
        let mut tracks = txn.open_table(TRACKS)?;
        for track in removed.iter().filter_map(|job| job.subject.track()) {
            let key = track_key(owner, track);
            let Some(raw) = tracks.get(key)?.map(|v| v.value().to_vec()) else {
                continue;
            };
            let mut rec: TrackRecord = decode("tracks", &raw)?;
            if rec.analysis == AnalysisState::Pending {
                rec.analysis = AnalysisState::Off;
                tracks.insert(key, encode(&rec).as_slice())?;
            }
        }
    }
    Ok(removed.len())
}

#[cfg(test)]
mod tests {
    use studiovault_api::Plan;
    use studiovault_api::admin::AuditQuery;

    use super::*;
    use crate::error::VaultError;
    use crate::jobs::JobRecord;
    use crate::scope::OwnerScope;
    use crate::shares::{CopyState, NewRecipient, NewShare, ShareDetail};
    use crate::testutil::TestVault;
    use crate::{RecipientGrant, Vault};

    struct Studio {
        t: TestVault,
        scope: OwnerScope,
        tracks: Vec<TrackRecord>,
        share: ShareDetail,
    }

    /// A Max account (stems, watermarked shares) with two tracks and a share of both.
    fn studio() -> Studio {
        let t = TestVault::new();
        let (_, scope) = t.user("ana@studio.test");
        t.vault
            .admin()
            .set_plan_and_quota(scope.owner(), Some(Plan::Max), None)
            .unwrap();
        let tracks = vec![t.upload(&scope, b"first"), t.upload(&scope, b"second")];
        let new = NewShare {
            title: "Preview".into(),
            tracks: tracks.iter().map(|t| t.id).collect(),
            recipients: vec![NewRecipient {
                name: "Label".into(),
                email: None,
            }],
            ..NewShare::default()
        };
        let share = t
            .vault
            .shares(&scope)
            .create(new, &ClientInfo::default())
            .unwrap();
        assert!(share.share.watermark, "Max shares are watermarked");
        Studio {
            t,
            scope,
            tracks,
            share,
        }
    }

    impl Studio {
        fn vault(&self) -> &Vault {
            &self.t.vault
        }

        fn account(&self) -> Account<'_> {
            self.vault().account(&self.scope)
        }

        fn jobs(&self, kind: JobKind) -> Vec<JobRecord> {
            self.vault().jobs_of(kind).unwrap()
        }

        fn recipient(&self) -> RecipientGrant {
            self.vault().open_link(&self.share.recipients[0].1).unwrap()
        }

        fn copy_states(&self) -> Vec<CopyState> {
            let grant = self.recipient();
            let view = grant.view(self.vault()).unwrap();
            let states = grant.copy_states(self.vault(), &view).unwrap();
            states.into_iter().map(|(_, s)| s).collect()
        }

        fn request_stems(&self, track: usize) -> Result<()> {
            self.vault()
                .library(&self.scope)
                .request_stems(self.tracks[track].id, &ClientInfo::default())
        }

        fn analysis_of(&self, track: &TrackRecord) -> AnalysisState {
            self.vault()
                .library(&self.scope)
                .get(track.id)
                .unwrap()
                .analysis
        }

        fn audited(&self, action: &str) -> usize {
            let query = AuditQuery {
                action: Some(action.into()),
                ..Default::default()
            };
            self.vault().audit_query(&query).unwrap().len()
        }
    }

    fn stopped(result: Result<impl std::fmt::Debug>) -> (ProcessingPurpose, bool) {
        match result {
            Err(VaultError::ProcessingStopped {
                purpose,
                restricted,
            }) => (purpose, restricted),
            other => panic!("expected ProcessingStopped, got {other:?}"),
        }
    }

    #[test]
    fn a_restriction_stops_every_purpose_and_keeps_what_exists() {
        let s = studio();
        let client = ClientInfo::default();
        s.request_stems(0).unwrap();
        assert_eq!(s.copy_states(), vec![CopyState::Queued, CopyState::Queued]);
        assert_eq!(s.jobs(JobKind::Analysis).len(), 2);
        assert_eq!(s.jobs(JobKind::Stems).len(), 1);
        assert_eq!(s.jobs(JobKind::Render).len(), 2);

        let me = s.account().set_restricted(true, &client).unwrap();
        assert!(me.restricted() && !me.analysis_enabled());
        for kind in [JobKind::Analysis, JobKind::Stems, JobKind::Render] {
            assert!(s.jobs(kind).is_empty(), "{kind:?} jobs were stopped");
        }
        assert_eq!(
            s.analysis_of(&s.tracks[0]),
            AnalysisState::Off,
            "a track waiting for analysis no longer waits"
        );
        // Nothing new is queued, and what the owner asks for is refused, naming the restriction.
        let upload = s.t.upload(&s.scope, b"third");
        assert_eq!(upload.analysis, AnalysisState::Off);
        assert!(s.jobs(JobKind::Analysis).is_empty());
        assert_eq!(
            stopped(s.request_stems(1)),
            (ProcessingPurpose::Stems, true)
        );
        assert_eq!(
            stopped(s.account().set_analysis(true, &client)),
            (ProcessingPurpose::Analysis, true)
        );
        assert_eq!(
            s.copy_states(),
            vec![CopyState::Withheld, CopyState::Withheld]
        );
        assert!(s.jobs(JobKind::Render).is_empty());
        // The share and its tracks stay.
        let shares = s.vault().shares(&s.scope).list().unwrap();
        assert_eq!(shares.len(), 1);
        assert!(s.recipient().view(s.vault()).is_ok());
        assert_eq!(s.audited("account.restriction"), 1);
        s.account().set_restricted(true, &client).unwrap();
        assert_eq!(
            s.audited("account.restriction"),
            1,
            "a no-op records nothing"
        );

        // Lifted: the tracks left unanalysed are queued; stems and copies may be asked for again.
        let me = s.account().set_restricted(false, &client).unwrap();
        assert!(me.objections.is_empty() && me.analysis_enabled());
        assert_eq!(s.jobs(JobKind::Analysis).len(), 3);
        assert_eq!(s.analysis_of(&upload), AnalysisState::Pending);
        s.request_stems(1).unwrap();
        assert_eq!(s.copy_states(), vec![CopyState::Queued, CopyState::Queued]);
        assert_eq!(s.audited("account.restriction"), 2);
    }

    #[test]
    fn an_objection_stops_its_purpose_alone() {
        let client = ClientInfo::default();
        for purpose in ProcessingPurpose::ALL {
            let s = studio();
            let me = s.account().set_objection(purpose, true, &client).unwrap();
            assert_eq!(me.objections, vec![purpose]);
            assert!(!me.restricted());
            let upload = s.t.upload(&s.scope, b"third");
            let analysed = upload.analysis == AnalysisState::Pending;
            let stems = s.request_stems(0);
            let copies = s.copy_states();
            match purpose {
                ProcessingPurpose::Analysis => {
                    assert!(!analysed);
                    assert!(stems.is_ok());
                    assert_eq!(copies, vec![CopyState::Queued, CopyState::Queued]);
                }
                ProcessingPurpose::Stems => {
                    assert!(analysed);
                    assert_eq!(stopped(stems), (ProcessingPurpose::Stems, false));
                    assert_eq!(copies, vec![CopyState::Queued, CopyState::Queued]);
                }
                ProcessingPurpose::MarkedCopies => {
                    assert!(analysed);
                    assert!(stems.is_ok());
                    assert_eq!(copies, vec![CopyState::Withheld, CopyState::Withheld]);
                }
            }
            assert_eq!(s.audited("account.objection"), 1, "{purpose}");
            // All three, one at a time, is the restriction.
            for p in ProcessingPurpose::ALL {
                s.account().set_objection(p, true, &client).unwrap();
            }
            assert!(s.account().me().unwrap().restricted());
        }
    }

    #[test]
    fn work_under_way_when_processing_stops_stores_nothing() {
        let s = studio();
        let client = ClientInfo::default();
        let track = s.tracks[0].id;
        let lease = s
            .vault()
            .lease_job(
                &[JobKind::Analysis],
                "test",
                std::time::Duration::from_secs(60),
            )
            .unwrap()
            .unwrap();
        let job = crate::AnalysisJob::from_lease(lease).unwrap();
        let grant = s.recipient();
        grant.render_access(s.vault(), track).unwrap();
        s.account().set_restricted(true, &client).unwrap();

        // The executors' next reads are refused, and a result they still hand in is dropped.
        assert_eq!(
            stopped(job.audio_access(s.vault())),
            (ProcessingPurpose::Analysis, true)
        );
        let analysed_track = job.track();
        let result = crate::AnalysisResult {
            tempo_bpm: Some(120.0),
            tempo_confidence: None,
            key: None,
            camelot: None,
            key_confidence: None,
            integrated_lufs: None,
            loudness_range_lu: None,
            true_peak_dbtp: None,
            peaks: None,
        };
        job.complete(s.vault(), result, b"").unwrap();
        let rec = s.vault().library(&s.scope).get(analysed_track).unwrap();
        assert_eq!(
            rec.analysis,
            AnalysisState::Off,
            "the result was not stored"
        );
        assert_eq!(
            stopped(grant.render_access(s.vault(), track)),
            (ProcessingPurpose::MarkedCopies, true)
        );
        assert_eq!(
            stopped(grant.store_render(s.vault(), track, &b"marked"[..], "audio/flac", "x.flac")),
            (ProcessingPurpose::MarkedCopies, true)
        );
        assert!(grant.view(s.vault()).unwrap().rendered.is_empty());
    }
}

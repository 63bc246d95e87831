//! Recipients' watermarked copies as [`JobKind::Render`] jobs: a page that finds a copy missing
//! queues it, the portal shows the job's state, and a restart resumes the rendering without the
//! recipient coming back.

use redb::ReadableDatabase;

use super::{PortalView, RecipientGrant, read_recipient};
use crate::Vault;
use crate::error::{Result, VaultError};
use crate::ids::TrackId;
use crate::jobs::{JobKind, JobState, JobSubject, Lease};
use crate::store::RECIPIENTS;

/// Where a recipient's copy of one track stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyState {
    /// Stored, or not needed (the share does not watermark).
    Ready,
    Queued,
    /// Fraction done, 0 to 1.
    Rendering(f32),
    Failed,
}

impl RecipientGrant {
    /// Each track's copy state, in the view's order; queues the copies a watermarking share
    /// still lacks (once: a queued or running copy is left alone).
    pub fn copy_states(
        &self,
        vault: &Vault,
        view: &PortalView,
    ) -> Result<Vec<(TrackId, CopyState)>> {
        let mut queued = false;
        let mut states = Vec::with_capacity(view.tracks.len());
        for track in view.tracks.iter().map(|t| t.id) {
            if !view.share.watermark || view.rendered.contains(&track) {
                states.push((track, CopyState::Ready));
                continue;
            }
            let subject = self.copy_subject(track);
            let state = match vault.job(JobKind::Render, subject)? {
                Some(job) => match job.state {
                    JobState::Queued => CopyState::Queued,
                    JobState::Running { .. } => CopyState::Rendering(job.progress.min(0.99)),
                    JobState::Failed { .. } => CopyState::Failed,
                },
                None => {
                    self.queue_copy(vault, track)?;
                    queued = true;
                    CopyState::Queued
                }
            };
            states.push((track, state));
        }
        if queued {
            vault.jobs_queued();
        }
        Ok(states)
    }

    fn copy_subject(&self, track: TrackId) -> JobSubject {
        JobSubject::RecipientCopy {
            recipient: self.recipient,
            track,
        }
    }

    fn queue_copy(&self, vault: &Vault, track: TrackId) -> Result<()> {
        let now = vault.now_ms();
        let txn = vault.db().begin_write()?;
        crate::jobs::enqueue(
            &txn,
            JobKind::Render,
            self.owner,
            self.copy_subject(track),
            now,
        )?;
        txn.commit()?;
        Ok(())
    }

    /// The grant and track a leased render job is for. `NotFound` when the recipient is gone.
    pub fn for_copy_job(vault: &Vault, lease: &Lease) -> Result<(Self, TrackId)> {
        let JobSubject::RecipientCopy { recipient, track } = lease.subject else {
            return Err(VaultError::invalid("job", "not a recipient's copy"));
        };
        if lease.kind != JobKind::Render {
            return Err(VaultError::invalid("job", "not a render job"));
        }
        let txn = vault.db().begin_read()?;
        let rec = read_recipient(&txn.open_table(RECIPIENTS)?, recipient)?;
        if rec.owner != lease.owner {
            return Err(VaultError::NotFound);
        }
        Ok((
            Self {
                owner: rec.owner,
                share: rec.share,
                recipient,
            },
            track,
        ))
    }
}

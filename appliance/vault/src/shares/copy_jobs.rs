//! Recipients' watermarked copies as [`JobKind::Render`] jobs: a page that finds a copy missing
//! queues it, the portal shows the job's state, and a restart resumes the rendering without the
//! recipient coming back.

use redb::ReadableDatabase;
use studiovault_api::ProcessingPurpose;

use super::{PortalView, RecipientGrant, read_recipient};
use crate::Vault;
use crate::error::{Result, VaultError};
use crate::ids::TrackId;
use crate::jobs::{JobKind, JobState, JobSubject, Lease};
use crate::records::get_user;
use crate::store::{RECIPIENTS, USERS};

/// Where a recipient's copy of one track stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyState {
    /// Stored, or not needed (the share does not watermark).
    Ready,
    Queued,
    /// Fraction done, 0 to 1.
    Rendering(f32),
    Failed,
    /// Missing, and not made: the owner objected to new watermarked copies (or restricted
    /// processing of their account).
    Withheld,
}

impl RecipientGrant {
    /// Each version's copy state, entry by entry; queues the copies a watermarking share
    /// still lacks (once: a queued or running copy is left alone, and a failed one is queued
    /// again only when it failed for passing reasons, [`crate::jobs::JobView::may_retry`]).
    pub fn copy_states(
        &self,
        vault: &Vault,
        view: &PortalView,
    ) -> Result<Vec<(TrackId, CopyState)>> {
        let mut queued = false;
        let mut states = Vec::new();
        for track in view.every_version().map(|t| t.id) {
            if !view.share.watermark || view.rendered.contains(&track) {
                states.push((track, CopyState::Ready));
                continue;
            }
            let subject = self.copy_subject(track);
            let state = match vault.job(JobKind::Render, subject)? {
                // A copy whose attempts failed on the disk or the store, not on its source, is
                // made again once the recipient comes back a while later.
                Some(job) if !job.may_retry(vault.now_ms()) => match job.state {
                    JobState::Queued => CopyState::Queued,
                    JobState::Running { .. } => CopyState::Rendering(job.progress.min(0.99)),
                    JobState::Failed { .. } => CopyState::Failed,
                },
                Some(_) | None => {
                    if self.queue_copy(vault, track)? {
                        queued = true;
                        CopyState::Queued
                    } else {
                        CopyState::Withheld
                    }
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

    /// Queues the copy unless the owner objected to new copies; answers whether it did.
    fn queue_copy(&self, vault: &Vault, track: TrackId) -> Result<bool> {
        let now = vault.now_ms();
        let txn = vault.begin_write()?;
        // Read in the queueing transaction: an objection committed since is seen here.
        let owner = get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
        if owner.objects_to(ProcessingPurpose::MarkedCopies) {
            return Ok(false);
        }
        crate::jobs::enqueue(
            &txn,
            JobKind::Render,
            self.owner,
            self.copy_subject(track),
            now,
        )?;
        txn.commit()?;
        Ok(true)
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

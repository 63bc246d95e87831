//! The durable job table: every piece of background work (a track's analysis, a recipient's
//! watermarked copy, and what comes next) is a row here, so a restart resumes it and an
//! executor that dies loses nothing.
//!
//! A job is enqueued inside the write transaction of the change that calls for it (an upload
//! queues its analysis in the transaction that stores it), at most once per subject. An
//! executor leases it for a while and renews the lease with heartbeats that carry its
//! progress; a lease that runs out puts the job back in the queue, so a crashed executor's work
//! is taken up by the next. Finishing a job removes its row in the transaction that records
//! its result; a failure either retries with backoff or stays as the failed state the owner
//! (or the recipient) is shown.
//!
//! Leases are taken owner by owner in turn (the owner whose oldest ready job waited longest
//! goes first, and one owner's running jobs count against them), so one owner's thousand
//! uploads do not starve another's one.

use std::collections::HashMap;
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::Vault;
use crate::error::{Result, VaultError};
use crate::ids::{MessageId, RecipientId, TrackId, UserId};
use crate::store::{JOBS, JOBS_BY_SUBJECT, decode, encode};

/// What kind of work a job is; each kind has its executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Tempo, key, loudness and peaks of one track.
    Analysis,
    /// One recipient's watermarked copy of one track.
    Render,
    /// A track's stems, made by a stem worker.
    Stems,
    /// One message of the outbox, to one recipient (`outbox.rs`).
    Mail,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Analysis => "analysis",
            JobKind::Render => "render",
            JobKind::Stems => "stems",
            JobKind::Mail => "mail",
        }
    }

    /// Attempts before a job that keeps failing (or whose executor keeps dying) is given up.
    /// A mail relay that is down is waited out for about three days.
    fn max_attempts(self) -> u32 {
        match self {
            JobKind::Mail => MAIL_ATTEMPTS,
            _ => MAX_ATTEMPTS,
        }
    }

    /// The wait before the first retry; each further one waits twice as long.
    fn first_backoff_ms(self) -> i64 {
        match self {
            JobKind::Mail => 30_000,
            _ => RETRY_BACKOFF_MS,
        }
    }

    /// The longest wait between two attempts.
    fn longest_backoff_ms(self) -> i64 {
        match self {
            JobKind::Mail => MAIL_LONGEST_BACKOFF_MS,
            _ => i64::MAX,
        }
    }
}

/// What a job works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobSubject {
    Track {
        track: TrackId,
    },
    RecipientCopy {
        recipient: RecipientId,
        track: TrackId,
    },
    /// A message of the outbox.
    Message {
        message: MessageId,
    },
}

impl JobSubject {
    /// The key that makes a job unique: one job per kind and subject.
    pub(crate) fn key(&self, kind: JobKind) -> String {
        match self {
            JobSubject::Track { track } => format!("{}/{track}", kind.as_str()),
            JobSubject::RecipientCopy { recipient, track } => {
                format!("{}/{recipient}/{track}", kind.as_str())
            }
            JobSubject::Message { message } => format!("{}/{message}", kind.as_str()),
        }
    }

    /// The track the job works on, if it works on one.
    pub fn track(&self) -> Option<TrackId> {
        match self {
            JobSubject::Track { track } | JobSubject::RecipientCopy { track, .. } => Some(*track),
            JobSubject::Message { .. } => None,
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for an executor from `due_at_ms` on.
    Queued,
    /// Leased by `holder` until `lease_until_ms`.
    Running { holder: String, lease_until_ms: i64 },
    /// Given up on; kept so whoever waits for it is told why.
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u128,
    pub kind: JobKind,
    pub owner: UserId,
    pub subject: JobSubject,
    pub state: JobState,
    /// Leases taken so far; each lease's token, so it only grows while the job lives.
    pub attempts: u32,
    /// Of those, the leases given back untried ([`Lease::hand_back`]): they do not count
    /// against the kind's attempts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub handed_back: u32,
    pub due_at_ms: i64,
    /// 0 to 1, as the executor last reported it.
    pub progress: f32,
    pub created_at_ms: i64,
    /// A failed job whose attempts failed for passing reasons (the disk, the store, an
    /// executor that died), not for its input: from this time on, whoever asks for its result
    /// again may queue it afresh (the portal does for a recipient's copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_from_ms: Option<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl JobRecord {
    /// The attempts that count: leases taken, less those given back untried.
    pub fn tries(&self) -> u32 {
        self.attempts.saturating_sub(self.handed_back)
    }

    /// Every attempt its kind allows has been leased.
    fn spent(&self) -> bool {
        self.tries() >= self.kind.max_attempts()
    }

    /// When it became ready: its due time, or when its lease ran out. A job whose executor
    /// died waits its turn behind those that were ready before, rather than first in line.
    fn ready_since(&self) -> i64 {
        match self.state {
            JobState::Running { lease_until_ms, .. } => lease_until_ms.max(self.due_at_ms),
            _ => self.due_at_ms,
        }
    }
}

/// How the executor of a running job stopped without a result.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stopped<'a> {
    /// Its lease ran out by this time (Unix ms): it died, hung, or was killed.
    LeaseRanOut(i64),
    /// Its holder is gone (a process that stopped, a revoked worker).
    Holder(&'a str),
}

impl Stopped<'_> {
    fn matches(self, job: &JobRecord) -> bool {
        match (self, &job.state) {
            (Stopped::LeaseRanOut(now), JobState::Running { lease_until_ms, .. }) => {
                *lease_until_ms <= now
            }
            (Stopped::Holder(holder), JobState::Running { holder: h, .. }) => h == holder,
            _ => false,
        }
    }
}

/// The running jobs whose executor stopped as `how` says on their last attempt: leasing them
/// again would run them past their kind's attempts (an executor that dies on a job each time
/// would retry it for ever). [`give_up_stopped_in`] ends each.
pub(crate) fn stopped_spent(vault: &Vault, how: Stopped) -> Result<Vec<u128>> {
    let txn = vault.db().begin_read()?;
    Ok(all(&txn.open_table(JOBS)?)?
        .into_iter()
        .filter(|j| j.spent() && how.matches(j))
        .map(|j| j.id)
        .collect())
}

/// Gives up job `id` in the caller's transaction if it is still a spent job stopped as `how`
/// says: it stays failed, with the reason whoever waits for it is shown. Answers it as given
/// up, for the caller to record what that means for its subject.
pub(crate) fn give_up_stopped_in(
    txn: &WriteTransaction,
    id: u128,
    how: Stopped,
) -> Result<Option<JobRecord>> {
    let mut jobs = txn.open_table(JOBS)?;
    let mut job: JobRecord = match jobs.get(id)? {
        Some(v) => decode("jobs", v.value())?,
        None => return Ok(None),
    };
    if !(job.spent() && how.matches(&job)) {
        return Ok(None);
    }
    job.state = JobState::Failed {
        reason: format!(
            "given up after {} attempts: each time it stopped without a result \
             (its process was killed, crashed or stopped answering)",
            job.tries()
        ),
    };
    jobs.insert(id, encode(&job).as_slice())?;
    Ok(Some(job))
}

/// Attempts before a job that keeps failing (or whose executor keeps dying) is given up.
pub const MAX_ATTEMPTS: u32 = 3;
/// Attempts at sending one message: 30 s doubling to an hour, then hourly, a little over three
/// days in all. A notice outlives a relay's outage of a weekend: breach notices are due within
/// 72 hours, and one given up after the two hours this once was stayed unsent.
pub const MAIL_ATTEMPTS: u32 = 80;
/// The longest wait between two attempts at a message.
pub const MAIL_LONGEST_BACKOFF_MS: i64 = 3_600_000;
/// The first retry waits this long; each further one twice as long.
const RETRY_BACKOFF_MS: i64 = 5_000;
/// A job whose attempts all failed for passing reasons may be queued again this long after
/// the last, when its result is asked for again.
pub const RETRY_SPENT_AFTER_MS: i64 = 10 * 60_000;

/// Queues `kind` work on `subject` for `owner` in the caller's transaction, unless a job for it
/// is already queued or running; a failed one is queued afresh. Answers the job's id.
pub(crate) fn enqueue(
    txn: &WriteTransaction,
    kind: JobKind,
    owner: UserId,
    subject: JobSubject,
    now: i64,
) -> Result<u128> {
    let key = subject.key(kind);
    let mut by_subject = txn.open_table(JOBS_BY_SUBJECT)?;
    let mut jobs = txn.open_table(JOBS)?;
    let existing = by_subject.get(key.as_str())?.map(|v| v.value());
    let existing = match existing {
        Some(id) => jobs.get(id)?.map(|v| (id, v.value().to_vec())),
        None => None,
    };
    if let Some((id, raw)) = existing {
        let mut job: JobRecord = decode("jobs", &raw)?;
        if matches!(job.state, JobState::Failed { .. }) {
            job.state = JobState::Queued;
            job.attempts = 0;
            job.handed_back = 0;
            job.due_at_ms = now;
            job.progress = 0.0;
            job.retry_from_ms = None;
            jobs.insert(id, encode(&job).as_slice())?;
        }
        return Ok(id);
    }
    let id = rand::random::<u128>();
    let job = JobRecord {
        id,
        kind,
        owner,
        subject,
        state: JobState::Queued,
        attempts: 0,
        handed_back: 0,
        due_at_ms: now,
        progress: 0.0,
        created_at_ms: now,
        retry_from_ms: None,
    };
    jobs.insert(id, encode(&job).as_slice())?;
    by_subject.insert(key.as_str(), id)?;
    Ok(id)
}

/// Removes the job for `subject`, whatever its state (its subject is gone, or it is done).
pub(crate) fn remove(txn: &WriteTransaction, kind: JobKind, subject: JobSubject) -> Result<()> {
    let key = subject.key(kind);
    let id = txn
        .open_table(JOBS_BY_SUBJECT)?
        .remove(key.as_str())?
        .map(|v| v.value());
    if let Some(id) = id {
        txn.open_table(JOBS)?.remove(id)?;
    }
    Ok(())
}

/// The job for `kind` work on `subject`, read in the caller's transaction.
pub(crate) fn job_in(
    txn: &WriteTransaction,
    kind: JobKind,
    subject: JobSubject,
) -> Result<Option<JobRecord>> {
    find(
        &txn.open_table(JOBS_BY_SUBJECT)?,
        &txn.open_table(JOBS)?,
        kind,
        subject,
    )
}

/// The job for `kind` work on `subject`, through the one-per-subject index.
fn find(
    by_subject: &impl ReadableTable<&'static str, u128>,
    jobs: &impl ReadableTable<u128, &'static [u8]>,
    kind: JobKind,
    subject: JobSubject,
) -> Result<Option<JobRecord>> {
    let Some(id) = by_subject
        .get(subject.key(kind).as_str())?
        .map(|v| v.value())
    else {
        return Ok(None);
    };
    match jobs.get(id)? {
        Some(v) => Ok(Some(decode("jobs", v.value())?)),
        None => Ok(None),
    }
}

/// Removes every job on `owner`'s `track` (its analysis, recipients' copies): the track is gone.
pub(crate) fn remove_for_track(
    txn: &WriteTransaction,
    owner: UserId,
    track: TrackId,
) -> Result<()> {
    remove_where(txn, |j| {
        j.owner == owner && j.subject.track() == Some(track)
    })?;
    Ok(())
}

/// Removes every job of `owner`: the jobs' part of an account's purge.
pub(crate) fn purge_owner(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    remove_where(txn, |j| j.owner == owner)?;
    Ok(())
}

/// Removes every `kind` job of `owner`, whatever its state (the owner stopped that processing);
/// an executor holding one loses its lease. Answers the jobs removed.
pub(crate) fn remove_of_owner(
    txn: &WriteTransaction,
    owner: UserId,
    kind: JobKind,
) -> Result<Vec<JobRecord>> {
    remove_where(txn, |j| j.owner == owner && j.kind == kind)
}

fn remove_where(
    txn: &WriteTransaction,
    doomed: impl Fn(&JobRecord) -> bool,
) -> Result<Vec<JobRecord>> {
    let jobs: Vec<JobRecord> = all(&txn.open_table(JOBS)?)?
        .into_iter()
        .filter(|j| doomed(j))
        .collect();
    for job in &jobs {
        remove(txn, job.kind, job.subject)?;
    }
    Ok(jobs)
}

fn all(table: &impl ReadableTable<u128, &'static [u8]>) -> Result<Vec<JobRecord>> {
    table
        .iter()?
        .map(|row| {
            let (_, v) = row?;
            decode("jobs", v.value())
        })
        .collect()
}

/// A job leased by one executor: the right to work on it until the lease runs out.
///
/// A lease is its holder's name and its attempt: every lease of a job counts an attempt, so
/// the attempt tells this lease from a later one of the same holder (every in-process executor
/// of the server leases as one name) after this one ran out.
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: u128,
    pub kind: JobKind,
    pub owner: UserId,
    pub subject: JobSubject,
    /// This lease's attempt, from 1: its token, which the job's must still match.
    pub attempt: u32,
    holder: String,
}

impl Lease {
    /// `holder`'s lease on `job`, whose attempt it is.
    fn of(job: &JobRecord, holder: &str) -> Self {
        Self {
            id: job.id,
            kind: job.kind,
            owner: job.owner,
            subject: job.subject,
            attempt: job.attempts,
            holder: holder.to_owned(),
        }
    }

    /// Renews the lease for `lease` and records `progress`. `LeaseLost` when the job was
    /// cancelled, finished elsewhere, or re-leased after this lease ran out.
    pub fn heartbeat(&self, vault: &Vault, progress: f32, lease: Duration) -> Result<()> {
        let now = vault.now_ms();
        let txn = vault.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut job = self.held(&jobs)?;
            job.state = JobState::Running {
                holder: self.holder.clone(),
                lease_until_ms: now + lease_ms(lease),
            };
            job.progress = progress.clamp(0.0, 1.0);
            jobs.insert(self.id, encode(&job).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Ends the job in the caller's transaction, the one that records its result. `LeaseLost`
    /// when the job is no longer this lease's: the result must not be recorded twice.
    pub(crate) fn finish_in(&self, txn: &WriteTransaction) -> Result<()> {
        self.held(&txn.open_table(JOBS)?)?;
        remove(txn, self.kind, self.subject)
    }

    /// Ends the job on its own, for results recorded elsewhere (idempotently: a copy stored
    /// twice is refused the second time, and this ends the job either way).
    pub fn finish(&self, vault: &Vault) -> Result<()> {
        let txn = vault.begin_write()?;
        self.finish_in(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// The executor could not do the job. `retry` when another attempt may succeed (the
    /// executor died, a resource was busy): the job goes back to the queue after a backoff,
    /// until its kind's attempts are spent ([`MAX_ATTEMPTS`], [`MAIL_ATTEMPTS`]); otherwise, or
    /// after that, it stays failed with `reason`. Spent on passing failures, it may be queued
    /// again [`RETRY_SPENT_AFTER_MS`] later ([`JobRecord::retry_from_ms`]).
    pub fn fail(&self, vault: &Vault, reason: &str, retry: bool) -> Result<JobState> {
        let txn = vault.begin_write()?;
        let state = self.fail_in(&txn, vault.now_ms(), reason, retry)?;
        txn.commit()?;
        Ok(state)
    }

    /// The executor gives the job back untried (it is stopping): queued again at once, and
    /// this lease's attempt is not counted, so stopping workers never wears a job out.
    pub fn hand_back(&self, vault: &Vault) -> Result<()> {
        let txn = vault.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut job = self.held(&jobs)?;
            job.state = JobState::Queued;
            job.handed_back += 1;
            job.due_at_ms = vault.now_ms();
            job.progress = 0.0;
            jobs.insert(self.id, encode(&job).as_slice())?;
        }
        txn.commit()?;
        vault.jobs_queued();
        Ok(())
    }

    /// [`Lease::fail`] in the caller's transaction, the one that records what the failure
    /// means for the job's subject.
    pub(crate) fn fail_in(
        &self,
        txn: &WriteTransaction,
        now: i64,
        reason: &str,
        retry: bool,
    ) -> Result<JobState> {
        let mut jobs = txn.open_table(JOBS)?;
        let mut job = self.held(&jobs)?;
        job.state = if retry && job.tries() < job.kind.max_attempts() {
            job.due_at_ms = now + backoff_ms(job.kind, job.tries());
            JobState::Queued
        } else {
            job.retry_from_ms = retry.then_some(now + RETRY_SPENT_AFTER_MS);
            JobState::Failed {
                reason: reason.chars().take(300).collect(),
            }
        };
        jobs.insert(self.id, encode(&job).as_slice())?;
        Ok(job.state)
    }

    /// `LeaseLost` unless the job is still this lease's, read in the caller's transaction.
    pub(crate) fn check_held_in(&self, txn: &WriteTransaction) -> Result<()> {
        self.held(&txn.open_table(JOBS)?).map(drop)
    }

    /// The job, while it runs under this very lease: its holder's name, and its attempt (a
    /// lease taken again after this one ran out, even by the same holder, counted another).
    fn held(&self, jobs: &impl ReadableTable<u128, &'static [u8]>) -> Result<JobRecord> {
        let job: JobRecord = match jobs.get(self.id)? {
            Some(v) => decode("jobs", v.value())?,
            None => return Err(VaultError::LeaseLost),
        };
        match &job.state {
            JobState::Running { holder, .. }
                if *holder == self.holder && job.attempts == self.attempt =>
            {
                Ok(job)
            }
            _ => Err(VaultError::LeaseLost),
        }
    }
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

fn backoff_ms(kind: JobKind, attempts: u32) -> i64 {
    kind.first_backoff_ms()
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(kind.longest_backoff_ms())
}

/// What a waiting page or console shows of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub state: JobState,
    pub progress: f32,
    pub attempts: u32,
    /// See [`JobRecord::retry_from_ms`].
    pub retry_from_ms: Option<i64>,
}

impl JobView {
    /// Failed for passing reasons long enough ago that asking again may queue it afresh.
    pub fn may_retry(&self, now_ms: i64) -> bool {
        matches!(self.state, JobState::Failed { .. })
            && self.retry_from_ms.is_some_and(|from| from <= now_ms)
    }
}

impl Vault {
    /// Leases the next ready job of one of `kinds` for `holder` (a queued job whose time has
    /// come, or a running one whose lease ran out with attempts left), taking owners in turn.
    /// A job whose lease ran out on its last attempt is given up first, of whatever kind.
    pub fn lease_job(
        &self,
        kinds: &[JobKind],
        holder: &str,
        lease: Duration,
    ) -> Result<Option<Lease>> {
        self.lease_job_where(kinds, holder, lease, &|_, _| Ok(true))
    }

    /// [`Vault::lease_job`] of the jobs `accept` takes (it reads other tables in the lease's
    /// transaction, e.g. a track's length against what a worker takes).
    pub(crate) fn lease_job_where(
        &self,
        kinds: &[JobKind],
        holder: &str,
        lease: Duration,
        accept: &dyn Fn(&WriteTransaction, &JobRecord) -> Result<bool>,
    ) -> Result<Option<Lease>> {
        let now = self.now_ms();
        self.give_up_stopped_jobs(Stopped::LeaseRanOut(now))?;
        let txn = self.begin_write()?;
        let leased = {
            let mut jobs = txn.open_table(JOBS)?;
            let every = all(&jobs)?;
            let mut running: HashMap<UserId, usize> = HashMap::new();
            for job in &every {
                if matches!(job.state, JobState::Running { lease_until_ms, .. } if lease_until_ms > now)
                {
                    *running.entry(job.owner).or_default() += 1;
                }
            }
            let ready = every.into_iter().filter(|j| {
                kinds.contains(&j.kind)
                    && match &j.state {
                        JobState::Queued => j.due_at_ms <= now,
                        // Spent ones are given up above; one that ran out since waits.
                        JobState::Running { lease_until_ms, .. } => {
                            *lease_until_ms <= now && !j.spent()
                        }
                        JobState::Failed { .. } => false,
                    }
                    // A job the filter cannot judge is left for another holder.
                    && accept(&txn, j).unwrap_or(false)
            });
            // Fewest running jobs first, then the longest waiting.
            let next = ready.min_by_key(|j| {
                (
                    running.get(&j.owner).copied().unwrap_or(0),
                    j.ready_since(),
                    j.created_at_ms,
                )
            });
            match next {
                Some(mut job) => {
                    job.attempts += 1;
                    job.state = JobState::Running {
                        holder: holder.to_owned(),
                        lease_until_ms: now + lease_ms(lease),
                    };
                    jobs.insert(job.id, encode(&job).as_slice())?;
                    Some(Lease::of(&job, holder))
                }
                None => None,
            }
        };
        txn.commit()?;
        Ok(leased)
    }

    /// The lease `holder` holds on job `id`, for an executor in another process that names the
    /// job in each call. `LeaseLost` unless the job is running under `holder`.
    pub fn held_lease(&self, id: u128, holder: &str) -> Result<Lease> {
        let txn = self.db().begin_read()?;
        let job: JobRecord = match txn.open_table(JOBS)?.get(id)? {
            Some(v) => decode("jobs", v.value())?,
            None => return Err(VaultError::LeaseLost),
        };
        match &job.state {
            JobState::Running { holder: h, .. } if h == holder => Ok(Lease::of(&job, holder)),
            _ => Err(VaultError::LeaseLost),
        }
    }

    /// Every job of `kind`, queued, running or failed, oldest first.
    pub fn jobs_of(&self, kind: JobKind) -> Result<Vec<JobRecord>> {
        let txn = self.db().begin_read()?;
        let mut jobs: Vec<JobRecord> = all(&txn.open_table(JOBS)?)?
            .into_iter()
            .filter(|j| j.kind == kind)
            .collect();
        jobs.sort_by_key(|j| (j.created_at_ms, j.id));
        Ok(jobs)
    }

    /// Puts back in the queue every job `holder` holds: at start-up, for the executors of a
    /// process that stopped (the lease would run out anyway; this spares the wait). A job held
    /// on its last attempt is given up instead. Answers how many jobs `holder` held.
    pub fn release_leases(&self, holder: &str) -> Result<u64> {
        let mut released = self.give_up_stopped_jobs(Stopped::Holder(holder))?;
        let txn = self.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let held: Vec<JobRecord> = all(&jobs)?
                .into_iter()
                .filter(|j| Stopped::Holder(holder).matches(j) && !j.spent())
                .collect();
            for mut job in held {
                job.state = JobState::Queued;
                jobs.insert(job.id, encode(&job).as_slice())?;
                released += 1;
            }
        }
        txn.commit()?;
        Ok(released)
    }

    /// The whole record of the job for `kind` work on `subject`, if there is one.
    pub fn job_record(&self, kind: JobKind, subject: JobSubject) -> Result<Option<JobRecord>> {
        let txn = self.db().begin_read()?;
        find(
            &txn.open_table(JOBS_BY_SUBJECT)?,
            &txn.open_table(JOBS)?,
            kind,
            subject,
        )
    }

    /// The job for `kind` work on `subject`, if one is queued, running or failed.
    pub fn job(&self, kind: JobKind, subject: JobSubject) -> Result<Option<JobView>> {
        Ok(self.job_record(kind, subject)?.map(|j| JobView {
            attempts: j.tries(),
            state: j.state,
            progress: j.progress,
            retry_from_ms: j.retry_from_ms,
        }))
    }

    /// Jobs of `kind` not yet done or given up (queued or running).
    pub fn pending_jobs(&self, kind: JobKind) -> Result<u64> {
        let txn = self.db().begin_read()?;
        Ok(all(&txn.open_table(JOBS)?)?
            .iter()
            .filter(|j| j.kind == kind && !matches!(j.state, JobState::Failed { .. }))
            .count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestVault;

    const LEASE: Duration = Duration::from_secs(30);

    fn queue(t: &TestVault, owner: UserId, track: TrackId) -> u128 {
        let txn = t.vault.db().begin_write().unwrap();
        let id = enqueue(
            &txn,
            JobKind::Analysis,
            owner,
            JobSubject::Track { track },
            t.vault.now_ms(),
        )
        .unwrap();
        txn.commit().unwrap();
        id
    }

    fn finish(t: &TestVault, lease: &Lease) -> Result<()> {
        let txn = t.vault.db().begin_write().unwrap();
        lease.finish_in(&txn)?;
        txn.commit().unwrap();
        Ok(())
    }

    #[test]
    fn a_subject_has_one_job_and_a_finished_one_is_gone() {
        let t = TestVault::new();
        let (owner, track) = (UserId::random(), TrackId::random());
        let id = queue(&t, owner, track);
        assert_eq!(queue(&t, owner, track), id, "queued twice is queued once");
        let lease = t
            .vault
            .lease_job(&[JobKind::Analysis], "a", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!((lease.id, lease.attempt), (id, 1));
        assert!(
            t.vault
                .lease_job(&[JobKind::Analysis], "b", LEASE)
                .unwrap()
                .is_none(),
            "a running job is not leased twice"
        );
        lease.heartbeat(&t.vault, 0.5, LEASE).unwrap();
        let view = t
            .vault
            .job(JobKind::Analysis, JobSubject::Track { track })
            .unwrap()
            .unwrap();
        assert_eq!(view.progress, 0.5);
        finish(&t, &lease).unwrap();
        assert!(
            t.vault
                .job(JobKind::Analysis, JobSubject::Track { track })
                .unwrap()
                .is_none()
        );
        assert!(
            matches!(finish(&t, &lease), Err(VaultError::LeaseLost)),
            "a result is recorded once"
        );
    }

    #[test]
    fn an_expired_lease_puts_the_job_back_and_the_old_holder_loses_it() {
        let t = TestVault::new();
        let (owner, track) = (UserId::random(), TrackId::random());
        queue(&t, owner, track);
        let first = t
            .vault
            .lease_job(&[JobKind::Analysis], "dead", LEASE)
            .unwrap()
            .unwrap();
        t.advance_secs(31);
        let second = t
            .vault
            .lease_job(&[JobKind::Analysis], "alive", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!((second.id, second.attempt), (first.id, 2));
        assert!(matches!(
            first.heartbeat(&t.vault, 0.9, LEASE),
            Err(VaultError::LeaseLost)
        ));
        assert!(matches!(finish(&t, &first), Err(VaultError::LeaseLost)));
        finish(&t, &second).unwrap();
    }

    /// Every executor of one server leases as one holder name: a lease that ran out and was
    /// taken again by that name is still lost to the first executor, so one job is not run
    /// (nor its result recorded) twice.
    #[test]
    fn an_expired_lease_is_lost_even_when_its_holder_name_leases_the_job_again() {
        let t = TestVault::new();
        let (owner, track) = (UserId::random(), TrackId::random());
        queue(&t, owner, track);
        let first = t
            .vault
            .lease_job(&[JobKind::Analysis], "local", LEASE)
            .unwrap()
            .unwrap();
        t.advance_secs(31);
        let second = t
            .vault
            .lease_job(&[JobKind::Analysis], "local", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!((second.id, second.attempt), (first.id, 2));
        let txn = t.vault.db().begin_write().unwrap();
        assert!(matches!(
            first.check_held_in(&txn),
            Err(VaultError::LeaseLost)
        ));
        drop(txn);
        assert!(matches!(
            first.heartbeat(&t.vault, 0.9, LEASE),
            Err(VaultError::LeaseLost)
        ));
        assert!(matches!(finish(&t, &first), Err(VaultError::LeaseLost)));
        assert!(matches!(
            first.fail(&t.vault, "late", true),
            Err(VaultError::LeaseLost)
        ));
        second.heartbeat(&t.vault, 0.5, LEASE).unwrap();
        finish(&t, &second).unwrap();
    }

    /// An executor that dies on a job each time (killed, crashed) never records a failure:
    /// its lease runs out. After the kind's attempts the job is given up, and the owner is
    /// shown why, rather than leased for ever.
    #[test]
    fn a_job_whose_executor_keeps_dying_is_given_up_after_its_attempts() {
        let t = TestVault::new();
        let (_, scope) = t.user("dies@studio.test");
        let track = t.upload(&scope, b"a track the analyser dies on").id;
        for attempt in 1..=MAX_ATTEMPTS {
            let lease = t
                .vault
                .lease_job(&[JobKind::Analysis], "local", LEASE)
                .unwrap()
                .expect("the job is leased again while attempts are left");
            assert_eq!(
                (lease.subject, lease.attempt),
                (JobSubject::Track { track }, attempt)
            );
            t.advance_secs(31);
        }
        assert!(
            t.vault
                .lease_job(&[JobKind::Analysis], "local", LEASE)
                .unwrap()
                .is_none(),
            "no fourth attempt"
        );
        let job = t
            .vault
            .job(JobKind::Analysis, JobSubject::Track { track })
            .unwrap()
            .unwrap();
        assert!(
            matches!(&job.state, JobState::Failed { reason } if reason.contains("given up after 3 attempts")),
            "{job:?}"
        );
        let library = t.vault.library(&scope);
        assert!(
            matches!(
                library.get(track).unwrap().analysis,
                crate::AnalysisState::Failed { .. }
            ),
            "the owner sees the analysis failed"
        );
        assert!(t.vault.check_store().unwrap().problems.is_empty());
    }

    /// A job whose lease ran out is ready again from then on, not from when it was first
    /// queued: it takes its turn behind the jobs that were waiting before.
    #[test]
    fn a_job_whose_lease_ran_out_waits_its_turn() {
        let t = TestVault::new();
        let owner = UserId::random();
        let (first, second) = (TrackId::random(), TrackId::random());
        queue(&t, owner, first);
        let dying = t
            .vault
            .lease_job(&[JobKind::Analysis], "local", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(dying.subject, JobSubject::Track { track: first });
        t.advance_secs(10);
        queue(&t, owner, second);
        t.advance_secs(21);
        let next = t
            .vault
            .lease_job(&[JobKind::Analysis], "local", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(next.subject, JobSubject::Track { track: second });
    }

    /// A process that stops while it holds a job on its last attempt gives it up at its next
    /// start, rather than queueing a fourth attempt; one with attempts left goes back.
    #[test]
    fn a_released_lease_on_its_last_attempt_gives_the_job_up() {
        let t = TestVault::new();
        let (owner, track) = (UserId::random(), TrackId::random());
        queue(&t, owner, track);
        t.advance_secs(1);
        queue(&t, owner, TrackId::random());
        for attempt in 1..=MAX_ATTEMPTS {
            let lease = t
                .vault
                .lease_job(&[JobKind::Analysis], "local", LEASE)
                .unwrap()
                .unwrap();
            assert_eq!(
                (lease.subject, lease.attempt),
                (JobSubject::Track { track }, attempt)
            );
            assert_eq!(t.vault.release_leases("local").unwrap(), 1);
        }
        let job = t
            .vault
            .job(JobKind::Analysis, JobSubject::Track { track })
            .unwrap()
            .unwrap();
        assert!(matches!(job.state, JobState::Failed { .. }), "{job:?}");
        let next = t
            .vault
            .lease_job(&[JobKind::Analysis], "local", LEASE)
            .unwrap()
            .unwrap();
        assert_ne!(next.subject, JobSubject::Track { track });
    }

    #[test]
    fn failures_retry_with_backoff_then_stay_failed_until_queued_again() {
        let t = TestVault::new();
        let (owner, track) = (UserId::random(), TrackId::random());
        queue(&t, owner, track);
        for attempt in 1..=MAX_ATTEMPTS {
            let lease = t
                .vault
                .lease_job(&[JobKind::Analysis], "x", LEASE)
                .unwrap()
                .unwrap();
            assert_eq!(lease.attempt, attempt);
            let state = lease.fail(&t.vault, "the child died", true).unwrap();
            if attempt < MAX_ATTEMPTS {
                assert_eq!(state, JobState::Queued);
                assert!(
                    t.vault
                        .lease_job(&[JobKind::Analysis], "x", LEASE)
                        .unwrap()
                        .is_none(),
                    "not before its backoff"
                );
                t.advance_secs(backoff_ms(JobKind::Analysis, attempt) / 1000);
            } else {
                assert!(matches!(state, JobState::Failed { .. }));
            }
        }
        assert!(
            t.vault
                .lease_job(&[JobKind::Analysis], "x", LEASE)
                .unwrap()
                .is_none()
        );
        assert_eq!(t.vault.pending_jobs(JobKind::Analysis).unwrap(), 0);
        queue(&t, owner, track);
        assert_eq!(t.vault.pending_jobs(JobKind::Analysis).unwrap(), 1);
        let lease = t
            .vault
            .lease_job(&[JobKind::Analysis], "x", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(lease.attempt, 1, "queued afresh");
    }

    #[test]
    fn a_job_handed_back_untried_is_queued_at_once_without_spending_its_attempt() {
        let t = TestVault::new();
        queue(&t, UserId::random(), TrackId::random());
        let lease = || {
            t.vault
                .lease_job(&[JobKind::Analysis], "w", LEASE)
                .unwrap()
                .unwrap()
        };
        // Two attempts ran out; the third is its last.
        lease();
        t.advance_secs(31);
        lease();
        t.advance_secs(31);
        let last = lease();
        assert_eq!(last.attempt, MAX_ATTEMPTS);
        // Its worker stops: the job goes back for another, its attempts as they were.
        last.hand_back(&t.vault).unwrap();
        let again = lease();
        assert_eq!(again.attempt, MAX_ATTEMPTS + 1, "a new lease, a new token");
        assert!(matches!(
            last.hand_back(&t.vault),
            Err(VaultError::LeaseLost)
        ));
        let job = &t.vault.jobs_of(JobKind::Analysis).unwrap()[0];
        assert_eq!(
            job.tries(),
            MAX_ATTEMPTS,
            "the handed-back attempt is not counted"
        );
        // Failing now, on its last counted attempt, gives it up.
        let state = again.fail(&t.vault, "broken input", true).unwrap();
        assert!(matches!(state, JobState::Failed { .. }), "{state:?}");
    }

    #[test]
    fn owners_take_turns_and_a_restart_releases_its_leases() {
        let t = TestVault::new();
        let (busy, quiet) = (UserId::random(), UserId::random());
        for _ in 0..5 {
            queue(&t, busy, TrackId::random());
        }
        t.advance_secs(1);
        queue(&t, quiet, TrackId::random());
        let first = t
            .vault
            .lease_job(&[JobKind::Analysis], "w", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(first.owner, busy, "the longest waiting goes first");
        let second = t
            .vault
            .lease_job(&[JobKind::Analysis], "w", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(second.owner, quiet, "then the owner with nothing running");
        assert_eq!(t.vault.release_leases("w").unwrap(), 2);
        assert!(
            t.vault
                .lease_job(&[JobKind::Render], "w", LEASE)
                .unwrap()
                .is_none(),
            "kinds are kept apart"
        );
        let again = t
            .vault
            .lease_job(&[JobKind::Analysis], "w", LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(again.attempt, 2);
    }
}

//! The in-process job runner: leases jobs of one kind from the vault's durable job table and
//! hands each to that kind's executor (a sandboxed child process of this binary), a few at a
//! time, renewing the lease with the executor's progress while it works. Stem jobs are leased
//! from the same table by stem workers in other processes, through the worker API
//! (`crate::workers`), under their own holder names.
//!
//! A runner wakes when a transaction that queued jobs commits ([`Vault::on_jobs_queued`]) and
//! every [`TICK`] for retries whose backoff ran out and leases that expired. At start-up, the
//! jobs this process held when it stopped go back to the queue at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use studiovault_vault::{JobKind, Lease, Vault, VaultError};
use tokio::sync::{Notify, Semaphore, watch};

use crate::listener::stopped;

/// The name this process leases under; one server per data directory.
pub const HOLDER: &str = "local";
/// How long a lease lasts without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(60);
/// Heartbeats come this often, well inside the lease.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Retries and expired leases are looked for this often; new jobs wake the runner at once.
const TICK: Duration = Duration::from_secs(30);

/// Progress an executor reports, in millionths, for the next heartbeat to carry.
#[derive(Debug, Default)]
pub struct Progress(AtomicU32);

impl Progress {
    pub fn set(&self, fraction: f64) {
        let millionths = (fraction.clamp(0.0, 1.0) * 1e6) as u32;
        self.0.store(millionths, Ordering::Relaxed);
    }

    fn get(&self) -> f32 {
        self.0.load(Ordering::Relaxed) as f32 / 1e6
    }
}

/// What runs one kind of job. The executor records the job's result (or failure) itself, in
/// the vault, under its lease; the runner keeps the lease alive meanwhile.
pub trait Executor: Send + Sync + 'static {
    fn kind(&self) -> JobKind;
    fn execute(
        self: Arc<Self>,
        vault: Vault,
        lease: Lease,
        progress: Arc<Progress>,
    ) -> impl Future<Output = ()> + Send;
}

/// Runs `executor`'s jobs, `slots` at a time, until `stop`. Dropping the running jobs on stop
/// kills their child processes; their leases are released at the next start.
pub async fn run<E: Executor>(
    vault: Vault,
    executor: Arc<E>,
    slots: usize,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let kind = executor.kind();
    let slots = Arc::new(Semaphore::new(slots.max(1)));
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let v = vault.clone();
        let leased = tokio::task::spawn_blocking(move || v.lease_job(&[kind], HOLDER, LEASE)).await;
        match leased {
            Ok(Ok(Some(lease))) => {
                let (vault, executor) = (vault.clone(), executor.clone());
                running.spawn(async move {
                    keep_leased(vault, lease, executor).await;
                    drop(permit);
                });
                continue;
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::error!(kind = kind.as_str(), error = %e, "leasing a job failed"),
            Err(e) => tracing::error!(kind = kind.as_str(), error = %e, "leasing a job failed"),
        }
        drop(permit);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
            () = stopped(&mut stop) => break,
        }
    }
}

/// Runs the executor while renewing the lease with its progress; a lease lost (the job was
/// cancelled, or taken over after this process stalled) stops the work.
async fn keep_leased<E: Executor>(vault: Vault, lease: Lease, executor: Arc<E>) {
    let progress = Arc::new(Progress::default());
    let work = executor.execute(vault.clone(), lease.clone(), progress.clone());
    let heartbeats = async {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let (v, l, p) = (vault.clone(), lease.clone(), progress.get());
            match tokio::task::spawn_blocking(move || l.heartbeat(&v, p, LEASE)).await {
                Ok(Ok(())) => {}
                Ok(Err(VaultError::LeaseLost)) => return,
                Ok(Err(e)) => tracing::warn!(error = %e, "a job's heartbeat failed"),
                Err(e) => tracing::warn!(error = %e, "a job's heartbeat failed"),
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = heartbeats => tracing::warn!(kind = lease.kind.as_str(), "a job's lease was lost; its work stopped"),
    }
}

/// Puts the jobs this process held when it last stopped back in the queue.
pub async fn release_stale_leases(vault: &Vault) {
    let v = vault.clone();
    match tokio::task::spawn_blocking(move || v.release_leases(HOLDER)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(
            jobs = n,
            "jobs interrupted by the last stop are queued again"
        ),
        Ok(Err(e)) => tracing::error!(error = %e, "releasing the last run's jobs failed"),
        Err(e) => tracing::error!(error = %e, "releasing the last run's jobs failed"),
    }
}

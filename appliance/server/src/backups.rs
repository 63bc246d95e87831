//! The server's side of replication, snapshots and restore drills: the vault's backups (a
//! "copy" elsewhere in the server is a recipient's marked copy). Builds the restic driver and
//! the S3 replicator from the config (secrets read from their files), runs one backup job at a
//! time, and keeps each result in the store for the status API.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use studiovault_api::admin::{
    BackupsView, DrillReport, ReplicaVerifyReport, ReplicationView, SnapshotReport,
    SnapshotRequest, SnapshotView,
};
use studiovault_backups::replica::{ReplicaTarget, Replicator};
use studiovault_backups::{Restic, Retention, S3Credentials};
use studiovault_vault::snapshot::CopyRecord;
use studiovault_vault::{Actor, Clock, Vault, VaultError};

use crate::config::Config;

/// Reads a one-line secret file; the error names the file, never its content.
fn read_secret(path: &Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} from {}", path.display()))?;
    let secret = text.trim().to_owned();
    anyhow::ensure!(!secret.is_empty(), "{} ({what}) is empty", path.display());
    Ok(secret)
}

/// The restic repository of the config, if one is configured.
pub fn restic(config: &Config) -> anyhow::Result<Option<Restic>> {
    let b = &config.backups;
    let (Some(repository), Some(password_file)) = (&b.repository, &b.password_file) else {
        return Ok(None);
    };
    anyhow::ensure!(
        password_file.is_file(),
        "backups.password_file {} is not a readable file",
        password_file.display()
    );
    let s3 = match (&b.s3_access_key_id, &b.s3_secret_access_key_file) {
        (Some(id), Some(file)) => Some(S3Credentials {
            access_key_id: id.clone(),
            secret_access_key: read_secret(file, "backups S3 secret key")?,
        }),
        _ => None,
    };
    Ok(Some(Restic {
        binary: b.restic.clone(),
        repository: repository.clone(),
        password_file: password_file.clone(),
        cache_dir: config.data_dir.join("restic-cache"),
        s3,
        launcher: crate::child::guarded_launcher(&b.restic),
    }))
}

/// The replica target of the config, if replication is configured.
pub fn replicator(config: &Config) -> anyhow::Result<Option<Replicator>> {
    let r = &config.replication;
    let (Some(endpoint), Some(bucket), Some(id), Some(secret)) = (
        &r.endpoint,
        &r.bucket,
        &r.access_key_id,
        &r.secret_access_key_file,
    ) else {
        return Ok(None);
    };
    Ok(Some(Replicator::new(ReplicaTarget {
        endpoint: endpoint.clone(),
        region: r.region.clone(),
        bucket: bucket.clone(),
        prefix: r.prefix.clone(),
        access_key_id: id.clone(),
        secret_access_key: read_secret(secret, "replication secret key")?,
        multipart_threshold: r.multipart_threshold_mib << 20,
        part_size: r.part_size_mib << 20,
        concurrency: r.concurrency as usize,
        attempt_timeout: ReplicaTarget::attempt_timeout_for(
            r.multipart_threshold_mib << 20,
            r.part_size_mib << 20,
        ),
    })))
}

/// Why a backup job or its status could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BackupsError {
    /// The part asked for has no configuration.
    #[error("{what} is not configured: set {key} in the config")]
    NotConfigured {
        what: &'static str,
        key: &'static str,
    },
    /// restic failed; the message says which snapshot and why.
    #[error("{0}")]
    BackupFailed(String),
    /// The replica could not be checked.
    #[error("{0}")]
    ReplicationFailed(String),
    #[error(transparent)]
    Store(#[from] VaultError),
    /// The blocking task that called the store died.
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs store work off the async reactor.
async fn store<T, F>(f: F) -> Result<T, BackupsError>
where
    F: FnOnce() -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    Ok(tokio::task::spawn_blocking(f).await??)
}

/// Backup jobs (snapshots, drills, replica checks) and their status.
#[derive(Debug)]
pub struct Backups {
    restic: Option<Restic>,
    replicator: Option<Replicator>,
    retention: Retention,
    drill_sample: u64,
    scratch: std::path::PathBuf,
    /// One snapshot or drill at a time: restic locks its repository anyway, and the staging
    /// and scratch directories are single.
    running: tokio::sync::Mutex<()>,
}

impl Backups {
    pub fn from_config(config: &Config) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            restic: restic(config)?,
            replicator: replicator(config)?,
            retention: Retention {
                hourly: config.backups.keep_hourly,
                daily: config.backups.keep_daily,
                weekly: config.backups.keep_weekly,
            },
            drill_sample: config.backups.drill_sample,
            scratch: config.drill_scratch_dir(),
            running: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn replicator(&self) -> Option<&Replicator> {
        self.replicator.as_ref()
    }

    fn restic(&self) -> Result<&Restic, BackupsError> {
        self.restic.as_ref().ok_or(BackupsError::NotConfigured {
            what: "Backups",
            key: "backups.repository",
        })
    }

    pub async fn status(&self, vault: &Vault) -> Result<BackupsView, BackupsError> {
        let v = vault.clone();
        let (stats, snapshot, error, drill, check) = store(move || {
            Ok((
                v.replication().stats()?,
                v.copy_record(CopyRecord::LastSnapshot)?,
                v.copy_record(CopyRecord::LastSnapshotError)?,
                v.copy_record(CopyRecord::LastDrill)?,
                v.copy_record(CopyRecord::LastReplicaCheck)?,
            ))
        })
        .await?;
        let now = studiovault_vault::SystemClock.now_ms();
        Ok(BackupsView {
            replication: ReplicationView {
                configured: self.replicator.is_some(),
                uploads_pending: stats.uploads_pending,
                deletes_due: stats.deletes_due,
                deletes_waiting: stats.deletes_waiting,
                failing: stats.failing,
                lag_secs: stats
                    .oldest_upload_ms
                    .map_or(0, |t| ((now - t).max(0) / 1000) as u64),
                last_error: stats.last_error,
                last_success_ms: stats.last_success_ms,
                last_check: check.and_then(|s| serde_json::from_str(&s).ok()),
            },
            snapshots_configured: self.restic.is_some(),
            last_snapshot: snapshot.and_then(|s| serde_json::from_str(&s).ok()),
            last_snapshot_error: error,
            last_drill: drill.and_then(|s| serde_json::from_str(&s).ok()),
        })
    }

    pub async fn snapshot(
        &self,
        vault: &Vault,
        req: SnapshotRequest,
    ) -> Result<SnapshotReport, BackupsError> {
        let restic = self.restic()?;
        let _one_at_a_time = self.running.lock().await;
        let outcome = studiovault_backups::snapshots::take_snapshot(
            vault,
            restic,
            req.tier,
            req.time_ms,
            self.retention,
        )
        .await;
        let v = vault.clone();
        match outcome {
            Ok(report) => {
                let json = serde_json::to_string(&report).unwrap_or_default();
                store(move || {
                    v.set_copy_record(CopyRecord::LastSnapshot, Some(&json))?;
                    v.set_copy_record(CopyRecord::LastSnapshotError, None)
                })
                .await?;
                Ok(report)
            }
            Err(e) => {
                tracing::error!(error = %e, tier = req.tier.as_str(), "snapshot failed");
                let message = format!("{} snapshot failed: {e}", req.tier.as_str());
                let stored = message.clone();
                store(move || v.set_copy_record(CopyRecord::LastSnapshotError, Some(&stored)))
                    .await?;
                Err(BackupsError::BackupFailed(message))
            }
        }
    }

    pub async fn drill(&self, vault: &Vault) -> Result<DrillReport, BackupsError> {
        let restic = self.restic()?;
        let _one_at_a_time = self.running.lock().await;
        let report =
            studiovault_backups::drill::run_drill(restic, &self.scratch, vault, self.drill_sample)
                .await;
        if report.passed {
            tracing::info!(
                snapshot = report.snapshot_id.as_deref().unwrap_or_default(),
                blobs = report.blobs_verified,
                decrypted = report.blobs_decrypted,
                total_ms = report.total_ms,
                "restore drill passed"
            );
        } else {
            tracing::error!(
                snapshot = report.snapshot_id.as_deref().unwrap_or_default(),
                problems = report.problems,
                first_problem = report.first_problem.as_deref().unwrap_or_default(),
                "RESTORE DRILL FAILED: the latest backup did not restore intact"
            );
        }
        let json = serde_json::to_string(&report).unwrap_or_default();
        let v = vault.clone();
        store(move || v.set_copy_record(CopyRecord::LastDrill, Some(&json))).await?;
        Ok(report)
    }

    pub async fn snapshots(&self) -> Result<Vec<SnapshotView>, BackupsError> {
        let list = self
            .restic()?
            .snapshots()
            .await
            .map_err(|e| BackupsError::BackupFailed(e.to_string()))?;
        Ok(list
            .into_iter()
            .map(|s| SnapshotView {
                tags: s.tags().to_vec(),
                id: s.id,
                short_id: s.short_id,
                time: s.time,
            })
            .collect())
    }

    /// Checks every blob's replica; with `repair`, queues again (as the admin) the upload of
    /// each one missing or different.
    pub async fn verify_replicas(
        &self,
        vault: &Vault,
        repair: bool,
    ) -> Result<ReplicaVerifyReport, BackupsError> {
        let replicator = self
            .replicator
            .as_ref()
            .ok_or(BackupsError::NotConfigured {
                what: "Replication",
                key: "replication.endpoint",
            })?;
        studiovault_backups::replica::verify(vault, replicator, repair.then_some(Actor::Admin))
            .await
            .map_err(|e| BackupsError::ReplicationFailed(e.to_string()))
    }
}

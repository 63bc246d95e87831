//! The server's side of replication, snapshots and restore drills: builds the restic driver and
//! the S3 replicator from the config (secrets read from their files), runs one backup job at a
//! time, and keeps each result in the store for the status API.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use studiovault_api::admin::{
    BackupsView, Capability, CapabilityState, DrillReport, ReplicaVerifyReport, ReplicationView,
    SnapshotReport, SnapshotRequest, SnapshotView,
};
use studiovault_backups::replica::{ReplicaTarget, Replicator};
use studiovault_backups::{Restic, Retention, S3Credentials};
use studiovault_vault::snapshot::CopyRecord;
use studiovault_vault::{Clock, Vault};
use warp::http::StatusCode;

use crate::config::Config;
use crate::http::{ApiError, blocking};

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
    })))
}

/// Backup jobs and their status.
#[derive(Debug)]
pub struct Copies {
    restic: Option<Restic>,
    replicator: Option<Replicator>,
    retention: Retention,
    drill_sample: u64,
    scratch: std::path::PathBuf,
    /// One snapshot or drill at a time: restic locks its repository anyway, and the staging
    /// and scratch directories are single.
    running: tokio::sync::Mutex<()>,
}

fn not_configured(what: &str, key: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_configured",
        format!("{what} is not configured: set {key} in the config"),
    )
}

fn failed(code: &'static str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, code, e.to_string())
}

impl Copies {
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

    fn restic(&self) -> Result<&Restic, ApiError> {
        self.restic
            .as_ref()
            .ok_or_else(|| not_configured("Backups", "backups.repository"))
    }

    pub async fn status(&self, vault: &Vault) -> Result<BackupsView, ApiError> {
        let v = vault.clone();
        let (stats, snapshot, error, drill) = blocking(move || {
            Ok((
                v.replication().stats()?,
                v.copy_record(CopyRecord::LastSnapshot)?,
                v.copy_record(CopyRecord::LastSnapshotError)?,
                v.copy_record(CopyRecord::LastDrill)?,
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
    ) -> Result<SnapshotReport, ApiError> {
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
                blocking(move || {
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
                blocking(move || v.set_copy_record(CopyRecord::LastSnapshotError, Some(&stored)))
                    .await?;
                Err(failed("backup_failed", message))
            }
        }
    }

    pub async fn drill(&self, vault: &Vault) -> Result<DrillReport, ApiError> {
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
        blocking(move || v.set_copy_record(CopyRecord::LastDrill, Some(&json))).await?;
        Ok(report)
    }

    pub async fn snapshots(&self) -> Result<Vec<SnapshotView>, ApiError> {
        let list = self
            .restic()?
            .snapshots()
            .await
            .map_err(|e| failed("backup_failed", e))?;
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

    pub async fn verify_replicas(&self, vault: &Vault) -> Result<ReplicaVerifyReport, ApiError> {
        let replicator = self
            .replicator
            .as_ref()
            .ok_or_else(|| not_configured("Replication", "replication.endpoint"))?;
        studiovault_backups::replica::verify(vault, replicator)
            .await
            .map_err(|e| failed("replication_failed", e))
    }
}

fn ago(now_ms: i64, at_ms: i64) -> String {
    let secs = ((now_ms - at_ms) / 1000).max(0);
    match secs {
        0..120 => format!("{secs} s ago"),
        120..7200 => format!("{} min ago", secs / 60),
        7200..172_800 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The status API's entries for replication, backups and drills.
pub fn capabilities(view: &BackupsView) -> Vec<Capability> {
    let now = studiovault_vault::SystemClock.now_ms();
    let r = &view.replication;
    let replication = if !r.configured {
        Capability {
            name: "Replication".into(),
            state: CapabilityState::NotConfigured,
            detail: "No S3/B2 replica is configured ([replication] endpoint, bucket, keys): no copy leaves this machine.".into(),
        }
    } else {
        let failing = r.failing > 0;
        Capability {
            name: "Replication".into(),
            state: if failing {
                CapabilityState::Failing
            } else {
                CapabilityState::Ok
            },
            detail: format!(
                "{} upload(s) pending, lag {} s, {} deletion(s) due, {} in grace{}",
                r.uploads_pending,
                r.lag_secs,
                r.deletes_due,
                r.deletes_waiting,
                match (&r.last_error, failing) {
                    (Some(e), true) => format!("; {} failing: {e}", r.failing),
                    _ => String::new(),
                }
            ),
        }
    };
    let backups = if !view.snapshots_configured {
        Capability {
            name: "Backups".into(),
            state: CapabilityState::NotConfigured,
            detail: "No restic repository is configured ([backups] repository, password_file)."
                .into(),
        }
    } else if let Some(error) = &view.last_snapshot_error {
        Capability {
            name: "Backups".into(),
            state: CapabilityState::Failing,
            detail: error.clone(),
        }
    } else {
        Capability {
            name: "Backups".into(),
            state: CapabilityState::Ok,
            detail: match &view.last_snapshot {
                Some(s) => format!(
                    "last {} snapshot {} {}: {} blobs, {} bytes added, {} kept, check {}",
                    s.tier.as_str(),
                    &s.id[..s.id.len().min(8)],
                    ago(now, s.at_ms),
                    s.blobs,
                    s.bytes_added,
                    s.kept,
                    if s.check_ok { "ok" } else { "FAILED" }
                ),
                None => "configured; no snapshot taken yet".into(),
            },
        }
    };
    let drill = match (&view.last_drill, view.snapshots_configured) {
        (_, false) => Capability {
            name: "Restore drill".into(),
            state: CapabilityState::NotConfigured,
            detail: "Drills need a restic repository.".into(),
        },
        (None, true) => Capability {
            name: "Restore drill".into(),
            state: CapabilityState::Failing,
            detail: "No restore drill has run yet: run `studiovault backup drill`.".into(),
        },
        (Some(d), true) => Capability {
            name: "Restore drill".into(),
            state: if d.passed {
                CapabilityState::Ok
            } else {
                CapabilityState::Failing
            },
            detail: format!(
                "{} {}: {}/{} blobs verified, {} decrypted, {} problem(s){} in {:.1} s",
                if d.passed { "passed" } else { "FAILED" },
                ago(now, d.at_ms),
                d.blobs_verified,
                d.blobs_listed,
                d.blobs_decrypted,
                d.problems,
                d.first_problem
                    .as_deref()
                    .map(|p| format!(" (first: {p})"))
                    .unwrap_or_default(),
                d.total_ms as f64 / 1000.0
            ),
        },
    };
    vec![replication, backups, drill]
}

//! One tiered snapshot: stage a consistent copy, back it up, apply the retention, check.

use std::time::Instant;

use sha2::{Digest, Sha256};
use studiovault_api::admin::{SnapshotReport, SnapshotTier};
use studiovault_vault::Vault;
use studiovault_vault::snapshot::CopyRecord;

use crate::restic::{DATA_TAG, KEYRING_TAG, Restic, Retention};
use crate::{BackupError, blocking, now_ms};

/// Takes a snapshot of `vault` into `restic`'s repository (created on first use), tagged with
/// its tier, at `time_ms` or now; then forgets what the retention no longer keeps, prunes and
/// checks the repository. The staged copy is removed afterwards.
pub async fn take_snapshot(
    vault: &Vault,
    restic: &Restic,
    tier: SnapshotTier,
    time_ms: Option<i64>,
    retention: Retention,
) -> Result<SnapshotReport, BackupError> {
    let started = Instant::now();
    let at_ms = now_ms();
    // A snapshot dated ahead would be "latest" until then: every drill and restore would take
    // it, and the retention would keep it over the real ones.
    if time_ms.is_some_and(|t| t > at_ms + 60_000) {
        return Err(BackupError::Other(
            "a snapshot cannot be dated in the future (--time)".into(),
        ));
    }
    std::fs::create_dir_all(&restic.cache_dir)?;
    // A repository this store took snapshots into is never made anew: its absence is an
    // unmounted disk or a wrong bucket, not a first run.
    let location = hex::encode(Sha256::digest(restic.repository.as_bytes()));
    let v = vault.clone();
    let used = blocking(move || Ok(v.copy_record(CopyRecord::Repository)?)).await?;
    let ours = used.as_deref() == Some(location.as_str());
    let created = restic.init_if_needed(!ours).await?;
    let store = store_tag(vault);
    if !ours && !created {
        refuse_foreign(restic, &store).await?;
    }
    let staging = vault.clone();
    let step = Instant::now();
    let stats = blocking(move || Ok(staging.stage_snapshot()?)).await?;
    let stage_ms = step.elapsed().as_millis() as u64;
    let time = time_ms
        .map(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .map_err(|e| BackupError::Other(format!("snapshot time: {e}")))
        })
        .transpose()?;
    let step = Instant::now();
    let backed_up = restic
        .backup(&stats.dir, &[DATA_TAG, tier.as_str(), &store], time)
        .await;
    let _ = std::fs::remove_dir_all(&stats.dir);
    // The keyring goes after the store's copy: a snapshot is only restorable once a keyring
    // at least as new as it exists, and the retention below forgets every older keyring.
    let keyring = match backed_up {
        // At the real time, whatever time the store's copy is dated: the newest keyring is kept.
        Ok(_) => Some(
            restic
                .backup(&stats.keyring_dir, &[KEYRING_TAG], None)
                .await,
        ),
        Err(_) => None,
    };
    let _ = std::fs::remove_dir_all(&stats.keyring_dir);
    let summary = backed_up?;
    keyring.transpose()?;
    let v = vault.clone();
    blocking(move || Ok(v.set_copy_record(CopyRecord::Repository, Some(&location))?)).await?;
    let backup_ms = step.elapsed().as_millis() as u64;
    tracing::info!(
        snapshot = %summary.snapshot_id,
        tier = tier.as_str(),
        blobs = stats.blobs,
        files_new = summary.files_new,
        files_unmodified = summary.files_unmodified,
        "snapshot taken"
    );
    let step = Instant::now();
    let forgot = restic.forget_and_prune(retention).await?;
    let retention_ms = step.elapsed().as_millis() as u64;
    let step = Instant::now();
    let check_ok = match restic.check().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "restic check failed after prune");
            false
        }
    };
    Ok(SnapshotReport {
        id: summary.snapshot_id,
        tier,
        at_ms,
        blobs: stats.blobs,
        files_new: summary.files_new,
        files_changed: summary.files_changed,
        files_unmodified: summary.files_unmodified,
        bytes_added: summary.data_added,
        kept: forgot.kept,
        forgotten: forgot.removed,
        check_ok,
        stage_ms,
        backup_ms,
        retention_ms,
        check_ms: step.elapsed().as_millis() as u64,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The tag that names this store's snapshots: its master key's fingerprint, which a restore
/// keeps (it needs the same key) and a fresh install does not.
fn store_tag(vault: &Vault) -> String {
    format!("studiovault-store-{}", vault.key_fingerprint())
}

/// A repository this store never took snapshots into may still be new to it, or its own moved
/// elsewhere (its snapshots carry this store's tag); one holding only other stores' snapshots is
/// refused. Taking snapshots into it would forget its keyring (only the newest is kept), and
/// with it every one of its snapshots: after a reinstall on new hardware, the old appliance's
/// backups would be lost to the new box's first snapshot.
async fn refuse_foreign(restic: &Restic, store: &str) -> Result<(), BackupError> {
    let snapshots = restic.snapshots().await?;
    if snapshots.is_empty()
        || snapshots
            .iter()
            .any(|s| s.tags().iter().any(|t| t == store))
    {
        return Ok(());
    }
    Err(BackupError::ForeignRepository {
        snapshots: snapshots.len(),
    })
}

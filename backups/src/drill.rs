//! Restore drills: the latest snapshot restored into scratch space, then proven.

use std::path::Path;
use std::time::Instant;

use studiovault_api::admin::DrillReport;
use studiovault_vault::Vault;
use studiovault_vault::snapshot::{KEYRING_FILE, Keyring};

use crate::restic::Restic;
use crate::{BackupError, blocking, now_ms};

/// Restores the latest snapshot and the latest keyring under `scratch` (emptied first, removed
/// afterwards), opens the restored store read-only and checks every blob it lists, decrypting
/// about `sample` of them with `vault`'s master key and the keyring's tenant keys. A drill that cannot even restore is a failed drill with that as its first problem.
pub async fn run_drill(restic: &Restic, scratch: &Path, vault: &Vault, sample: u64) -> DrillReport {
    let started = Instant::now();
    let mut report = DrillReport {
        passed: false,
        snapshot_id: None,
        at_ms: now_ms(),
        users: 0,
        tracks: 0,
        blobs_listed: 0,
        blobs_verified: 0,
        blobs_decrypted: 0,
        problems: 0,
        first_problem: None,
        restore_ms: 0,
        open_ms: 0,
        hash_ms: 0,
        decrypt_ms: 0,
        total_ms: 0,
    };
    if let Err(e) = drill_steps(restic, scratch, vault, sample, &mut report).await {
        report.problems += 1;
        report.first_problem.get_or_insert(e.to_string());
    }
    let _ = std::fs::remove_dir_all(scratch);
    report.passed = report.problems == 0;
    report.total_ms = started.elapsed().as_millis() as u64;
    report
}

async fn drill_steps(
    restic: &Restic,
    scratch: &Path,
    vault: &Vault,
    sample: u64,
    report: &mut DrillReport,
) -> Result<(), BackupError> {
    let latest =
        restic.snapshots().await?.pop().ok_or_else(|| {
            BackupError::Other("the repository has no snapshot to restore".into())
        })?;
    report.snapshot_id = Some(latest.id.clone());
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)?;
    }
    std::fs::create_dir_all(scratch)?;
    if restic.keyrings().await?.is_empty() {
        return Err(BackupError::Other(
            "the repository has no keyring: its snapshots cannot be opened".into(),
        ));
    }
    let started = Instant::now();
    let store_dir = scratch.join("store");
    let keyring_dir = scratch.join("keyring");
    restic.restore(&latest.id, &store_dir).await?;
    restic.restore_keyring(&keyring_dir).await?;
    report.restore_ms = started.elapsed().as_millis() as u64;
    let vault = vault.clone();
    let check = blocking(move || {
        let keyring = Keyring::read(&keyring_dir.join(KEYRING_FILE))?;
        Ok(vault.check_copy(&store_dir, &keyring, sample)?)
    })
    .await?;
    report.users = check.users;
    report.tracks = check.tracks;
    report.blobs_listed = check.blobs_listed;
    report.blobs_verified = check.blobs_verified;
    report.blobs_decrypted = check.blobs_decrypted;
    report.problems += check.problems;
    if report.first_problem.is_none() {
        report.first_problem = check.first_problem;
    }
    report.open_ms = check.open_time.as_millis() as u64;
    report.hash_ms = check.hash_time.as_millis() as u64;
    report.decrypt_ms = check.decrypt_time.as_millis() as u64;
    Ok(())
}

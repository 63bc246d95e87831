//! Restore drills: the latest snapshot restored into scratch space, then proven.

use std::path::Path;
use std::time::Instant;

use studiovault_api::admin::DrillReport;
use studiovault_vault::Vault;
use studiovault_vault::snapshot::{KEYRING_FILE, Keyring};

use crate::restic::Restic;
use crate::{BackupError, blocking, now_ms};

/// Restores the latest snapshot and the latest keyring under `scratch` (emptied first, removed
/// afterwards, and refused when it holds what no drill put there: [`claim_scratch`]), opens the restored store read-only and checks every blob it lists, decrypting
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
    release_scratch(scratch);
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
    claim_scratch(scratch)?;
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

/// Marks a scratch directory as the drills': only such a directory, or an empty or missing
/// one, is ever emptied.
const SCRATCH_MARK: &str = ".studiovault-drill-scratch";

/// Empties `scratch` for a drill and marks it. A directory that holds anything without the
/// mark is refused, untouched: `backups.scratch_dir` set to the data directory or the
/// repository would otherwise be wiped by the drill.
fn claim_scratch(scratch: &Path) -> Result<(), BackupError> {
    if scratch.exists() {
        let marked = scratch.join(SCRATCH_MARK).is_file();
        if !marked && std::fs::read_dir(scratch)?.next().is_some() {
            return Err(BackupError::Other(format!(
                "the drill's scratch directory {} holds files no drill put there; a drill empties \
                 it before and after, so it must be a directory of its own \
                 (backups.scratch_dir)",
                scratch.display()
            )));
        }
        std::fs::remove_dir_all(scratch)?;
    }
    std::fs::create_dir_all(scratch)?;
    std::fs::write(scratch.join(SCRATCH_MARK), b"")?;
    Ok(())
}

/// Removes a scratch directory a drill claimed, and nothing else: after each drill, and at the
/// server's start for a drill that a crash cut off.
pub fn release_scratch(scratch: &Path) {
    if scratch.join(SCRATCH_MARK).is_file() {
        let _ = std::fs::remove_dir_all(scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_missing_or_drill_made_scratch_directory_is_emptied() {
        let root = tempfile::tempdir().unwrap();
        // A data directory named as scratch: refused, and left whole before and after.
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("vault.redb"), b"the store").unwrap();
        assert!(claim_scratch(&data).is_err());
        release_scratch(&data);
        assert_eq!(
            std::fs::read(data.join("vault.redb")).unwrap(),
            b"the store"
        );

        // Missing: made and marked; what a drill left in it goes the next time.
        let scratch = root.path().join("drill");
        claim_scratch(&scratch).unwrap();
        std::fs::write(scratch.join("restored"), b"x").unwrap();
        claim_scratch(&scratch).unwrap();
        assert!(!scratch.join("restored").exists());
        release_scratch(&scratch);
        assert!(!scratch.exists());

        // Empty: taken.
        std::fs::create_dir(&scratch).unwrap();
        claim_scratch(&scratch).unwrap();
        release_scratch(&scratch);
        assert!(!scratch.exists());
    }
}

//! Housekeeping: what ages out, on a timer and on the admin's demand (`POST /v1/housekeeping`,
//! `studiovault housekeeping`): expired salts, sessions and spent nonces, accounts whose
//! deletion grace is over, the records of mail sent long ago, recipients' copies of shares
//! that ended, address changes whose link expired, and the notices of legal requests whose gag
//! has ended (on the store's clock), the daily digests of review activity, and the tracks
//! owners deleted under a legal hold once no hold holds them. Each step enforces one line of the retention table
//! (`crate::retention`). Audit checkpoints are signed on their own timer beside it.

use std::time::Duration;

use studiovault_api::admin::HousekeepingReport;
use studiovault_vault::{Vault, VaultError};
use tokio::sync::watch;

use crate::listener;

/// How often the pass runs by itself.
const EVERY: Duration = Duration::from_secs(3600);

/// One pass of every housekeeping step, on the blocking pool. A step that fails (or one
/// account whose purge fails) stops nothing else: each failure is a line of the report's
/// `failures`, and logged.
pub async fn pass(vault: &Vault) -> Result<HousekeepingReport, VaultError> {
    let v = vault.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        let mut step = |name: &str, result: Result<u64, VaultError>| {
            result.unwrap_or_else(|e| {
                failures.push(format!("{name}: {e}"));
                0
            })
        };
        let sent_mail_kept_ms = v.policy().sent_mail_retention_days * 86_400_000;
        let salts = step("salts", v.prune_salts().map(|n| n as u64));
        let sessions = step("sessions", v.admin().sweep_expired_sessions());
        let purges = v.admin().purge_due_accounts();
        let nonces = step("spent nonces", v.sweep_spent_nonces());
        let sent_mail = step(
            "mail records",
            v.prune_mail_records(v.now_ms() - sent_mail_kept_ms),
        );
        let share_copies = step(
            "copies of ended shares",
            v.expire_ended_share_copies(v.policy().ended_share_copies_days),
        );
        let email_changes = step("address changes", v.prune_email_changes());
        let legal_notices = step(
            "legal notices",
            v.send_due_legal_notices().map(|n| n as u64),
        );
        let review_digests = step("review digests", v.send_review_digests());
        let held_tracks = step(
            "tracks kept by released holds",
            v.discard_released_held_tracks(),
        );
        let purged = match purges {
            Ok(purges) => {
                failures.extend(purges.failures.iter().map(ToString::to_string));
                purges.purged.iter().map(ToString::to_string).collect()
            }
            Err(e) => {
                failures.push(format!("account purges: {e}"));
                Vec::new()
            }
        };
        HousekeepingReport {
            salts,
            sessions,
            purged,
            nonces,
            sent_mail,
            share_copies,
            email_changes,
            legal_notices,
            review_digests,
            held_tracks,
            failures,
        }
    })
    .await
    .map_err(|e| VaultError::Io(std::io::Error::other(e)))?;
    for failure in &report.failures {
        tracing::error!(failure = %failure, "housekeeping step failed; the others went on");
    }
    if report != HousekeepingReport::default() {
        tracing::info!(
            salts = report.salts,
            sessions = report.sessions,
            purged = report.purged.len(),
            nonces = report.nonces,
            sent_mail = report.sent_mail,
            share_copies = report.share_copies,
            email_changes = report.email_changes,
            legal_notices = report.legal_notices,
            review_digests = report.review_digests,
            held_tracks = report.held_tracks,
            failures = report.failures.len(),
            "housekeeping"
        );
    }
    Ok(report)
}

async fn logged_pass(vault: &Vault) {
    if let Err(e) = pass(vault).await {
        tracing::error!(error = %e, "housekeeping failed");
    }
}

/// Runs a pass now (what a crash or a long stop left due) and then every hour, and signs audit
/// checkpoints every `checkpoint_every`, until `stop`.
pub async fn run(vault: Vault, checkpoint_every: Duration, mut stop: watch::Receiver<bool>) {
    logged_pass(&vault).await;
    let mut checkpoint = tokio::time::interval(checkpoint_every);
    let mut hourly = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    loop {
        tokio::select! {
            _ = checkpoint.tick() => {
                let v = vault.clone();
                match tokio::task::spawn_blocking(move || v.audit_checkpoint()).await {
                    Ok(Ok(Some(seq))) => tracing::debug!(seq, "audit checkpoint signed"),
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "audit checkpoint failed"),
                    Err(e) => tracing::error!(error = %e, "audit checkpoint task failed"),
                }
            }
            _ = hourly.tick() => logged_pass(&vault).await,
            () = listener::stopped(&mut stop) => break,
        }
    }
}

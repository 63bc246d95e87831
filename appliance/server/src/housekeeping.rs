//! Housekeeping: what ages out, on a timer and on the admin's demand (`POST /v1/housekeeping`,
//! `studiovault housekeeping`): expired salts, sessions and spent nonces, accounts whose
//! deletion grace is over, the records of mail sent long ago, recipients' copies of shares
//! that ended, address changes whose link expired, and the notices of legal requests whose gag
//! has ended (on the store's clock), and the daily digests of review activity. Each step enforces one line of the retention table
//! (`crate::retention`). Audit checkpoints are signed on their own timer beside it.

use std::time::Duration;

use studiovault_api::admin::HousekeepingReport;
use studiovault_vault::{Vault, VaultError};
use tokio::sync::watch;

use crate::listener;

/// How often the pass runs by itself.
const EVERY: Duration = Duration::from_secs(3600);

/// One pass of every housekeeping step, on the blocking pool.
pub async fn pass(vault: &Vault) -> Result<HousekeepingReport, VaultError> {
    let v = vault.clone();
    let report = tokio::task::spawn_blocking(move || -> Result<_, VaultError> {
        let sent_mail_kept_ms = v.policy().sent_mail_retention_days * 86_400_000;
        Ok(HousekeepingReport {
            salts: v.prune_salts()? as u64,
            sessions: v.admin().sweep_expired_sessions()?,
            purged: v
                .admin()
                .purge_due_accounts()?
                .iter()
                .map(ToString::to_string)
                .collect(),
            nonces: v.sweep_spent_nonces()?,
            sent_mail: v.prune_mail_records(v.now_ms() - sent_mail_kept_ms)?,
            share_copies: v.expire_ended_share_copies(v.policy().ended_share_copies_days)?,
            email_changes: v.prune_email_changes()?,
            legal_notices: v.send_due_legal_notices()? as u64,
            review_digests: v.send_review_digests()?,
        })
    })
    .await
    .map_err(|e| VaultError::Io(std::io::Error::other(e)))??;
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

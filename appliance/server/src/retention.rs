//! The retention table: how long each kind of personal or sensitive record is kept, from the
//! config, and what enforces it. `GET /v1/retention`, `studiovault retention` and the console
//! show it; [`crate::housekeeping`] enforces the lines the store keeps.

use studiovault_api::admin::RetentionRule;

use crate::config::Config;

fn days(n: u32) -> String {
    match n {
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

fn rule(what: &str, kept: String, config_key: Option<&str>, enforced_by: &str) -> RetentionRule {
    RetentionRule {
        what: what.into(),
        kept,
        config_key: config_key.map(Into::into),
        enforced_by: enforced_by.into(),
    }
}

pub fn table(config: &Config) -> Vec<RetentionRule> {
    let p = &config.privacy;
    let b = &config.backups;
    vec![
        rule(
            "Daily salts of client hashes",
            days(p.salt_retention_days),
            Some("privacy.salt_retention_days"),
            "housekeeping deletes older salts; a hash made under a deleted salt no longer \
             links to any IP address or user agent",
        ),
        rule(
            "IP and user-agent hashes in the audit log",
            format!("linkable {}, then anonymous", days(p.salt_retention_days)),
            Some("privacy.salt_retention_days"),
            "the chain is append-only; its hashes become unlinkable when their day's salt goes",
        ),
        rule(
            "Server logs",
            "90 days".into(),
            None,
            "journald namespace `studiovault` (systemd/journald@studiovault.conf, \
             MaxRetentionSec=90day); no log line holds an address, a token or a file name",
        ),
        rule(
            "Sessions",
            format!(
                "{} idle, {} at most",
                crate::human::duration_secs(config.sessions.idle_timeout_minutes * 60),
                crate::human::duration_secs(config.sessions.absolute_timeout_days * 86_400)
            ),
            Some("sessions.idle_timeout_minutes, sessions.absolute_timeout_days"),
            "refused at once when expired; housekeeping deletes them",
        ),
        rule(
            "Recipients' marked copies after their share ends",
            days(p.ended_share_copies_days),
            Some("privacy.ended_share_copies_days"),
            "housekeeping deletes the copies; the recipient and watermark stay for leak tracing",
        ),
        rule(
            "Spent single-use download nonces",
            "until their URL expires (minutes)".into(),
            None,
            "housekeeping deletes them",
        ),
        rule(
            "Account export links",
            "10 minutes, single use, in memory only".into(),
            None,
            "the server forgets them; a restart drops them all",
        ),
        rule(
            "Stem sources on workers",
            "until the job ends".into(),
            None,
            "the worker removes its private job directory after every job, and a restarted \
             worker those of dead workers",
        ),
        rule(
            "Pending e-mail address changes",
            "24 hours, single use".into(),
            None,
            "the link expires; housekeeping deletes the pending change",
        ),
        rule(
            "Records of mail sent (address, delivery)",
            days(p.sent_mail_days),
            Some("privacy.sent_mail_days"),
            "housekeeping deletes them; a message to a deleted account's address goes once sent",
        ),
        rule(
            "Deleted accounts",
            format!(
                "{} grace, then purged",
                days(config.accounts.deletion_grace_days)
            ),
            Some("accounts.deletion_grace_days"),
            "housekeeping purges every record, blob and the data key; a legal hold defers it",
        ),
        rule(
            "Tracks deleted while a legal hold holds the account",
            "until no hold holds the account".to_owned(),
            None,
            "out of the owner's sight, kept for the hand-over; housekeeping removes them once \
             the hold is released",
        ),
        rule(
            "Off-site replicas of deleted audio",
            crate::human::duration_secs(config.replication.delete_delay_seconds),
            Some("replication.delete_delay_seconds"),
            "the replication queue deletes them; ciphertext only, unreadable once the key is gone",
        ),
        rule(
            "Snapshots (backups)",
            format!(
                "{} hourly, {} daily, {} weekly ({} weeks)",
                b.keep_hourly, b.keep_daily, b.keep_weekly, b.keep_weekly
            ),
            Some("backups.keep_hourly, backups.keep_daily, backups.keep_weekly"),
            "restic forget and prune after every snapshot; tenant keys live in the keyring, of \
             which only the latest is kept, so a purged account's audio opens in no snapshot",
        ),
    ]
}

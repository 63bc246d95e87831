//! `GET /v1/status`: the appliance at a glance, with where each optional part stands.

use studiovault_api::admin::{
    BackupsView, Capability, CapabilityState, Status, TlsStatus, WorkersView,
};
use studiovault_vault::OutboxCounts;
use warp::Filter;

use super::json;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};

/// Where each optional part of the appliance stands, for `GET /v1/status`; the entries not built
/// yet change to report their real state when their issue lands.
fn capabilities(
    analysis_queue: u64,
    config: &crate::config::Config,
    backups: &BackupsView,
    tls: Option<&TlsStatus>,
    stems: &WorkersView,
    outbox: OutboxCounts,
    now_ms: i64,
) -> Vec<Capability> {
    vec![
        tls_capability(tls, now_ms),
        Capability {
            name: "Analysis queue".into(),
            state: CapabilityState::Ok,
            detail: format!(
                "{analysis_queue} track(s) waiting; {} worker(s), each job in its own process limited to {} MiB and {} s",
                config.analysis.workers,
                config.analysis.memory_limit_mib,
                config.analysis.timeout_seconds
            ),
        },
        stem_capability(stems, now_ms),
        mail_capability(&config.mail, outbox),
    ]
    .into_iter()
    .chain(backup_capabilities(backups, now_ms))
    .collect()
}

fn mail_capability(mail: &studiovault_mail::MailConfig, outbox: OutboxCounts) -> Capability {
    let name = "Mail".to_owned();
    let queue = match (outbox.waiting, outbox.failed) {
        (0, 0) => "nothing waiting".to_owned(),
        (waiting, 0) => format!("{waiting} message(s) waiting"),
        (waiting, failed) => format!(
            "{waiting} message(s) waiting, {failed} given up (`studiovault audit tail --action \
             mail.failed`)"
        ),
    };
    if !mail.enabled() {
        return Capability {
            name,
            state: CapabilityState::NotConfigured,
            detail: format!(
                "no relay: set mail.smtp_host and mail.from, then `studiovault mail test \
                 ADDRESS`; {queue}"
            ),
        };
    }
    Capability {
        name,
        state: if outbox.failed > 0 {
            CapabilityState::Failing
        } else {
            CapabilityState::Ok
        },
        detail: format!("through {}; {queue}", mail.relay()),
    }
}

/// A worker that called within this long is online (its lease polls come every 30 s at most).
const ONLINE_MS: i64 = 90_000;

fn stem_capability(view: &WorkersView, now_ms: i64) -> Capability {
    let name = "Stem workers".to_owned();
    let online = view
        .workers
        .iter()
        .filter(|w| w.state != "revoked" && w.last_seen.is_some_and(|t| now_ms - t < ONLINE_MS))
        .count();
    let waiting = view.queue.iter().filter(|j| j.state != "failed").count();
    let failed = view.queue.len() - waiting;
    if view.workers.is_empty() {
        return Capability {
            name,
            state: CapabilityState::NotConfigured,
            detail: "no worker enrolled: `studiovault worker enrol NAME`, then run \
                     `studiovault worker run` with its token"
                .into(),
        };
    }
    let state = if online == 0 && waiting > 0 {
        CapabilityState::Failing
    } else {
        CapabilityState::Ok
    };
    Capability {
        name,
        state,
        detail: format!(
            "{online} of {} worker(s) online; {waiting} separation(s) queued or running, {failed} failed",
            view.workers.len()
        ),
    }
}

/// A certificate this close to its end is failing: every mode renews well before (ACME at two
/// thirds of its life), so only a renewal that keeps failing, or certificate files nobody
/// renews, gets here.
const EXPIRY_WARNING_MS: i64 = 7 * 86_400_000;

fn tls_capability(tls: Option<&TlsStatus>, now_ms: i64) -> Capability {
    let name = "TLS certificate".to_owned();
    let Some(tls) = tls else {
        return Capability {
            name,
            state: CapabilityState::NotConfigured,
            detail: "TLS is off: plain HTTP on loopback only. Set tls.mode to acme, files or \
                     self-signed to serve HTTPS."
                .into(),
        };
    };
    let expiry = tls.certificate.as_ref().map(|c| {
        format!(
            "{} certificate for {} from {}, expires {}",
            tls.mode,
            c.names.join(", "),
            c.issuer,
            crate::human::when(c.not_after)
        )
    });
    match (&tls.last_error, expiry) {
        (Some(error), expiry) => Capability {
            name,
            state: CapabilityState::Failing,
            detail: format!(
                "{} failure(s) in a row, next try {}: {error}{}",
                tls.failures,
                tls.next_attempt
                    .map_or_else(|| "not planned".into(), crate::human::when),
                expiry.map_or_else(String::new, |e| format!(" (still serving the {e})"))
            ),
        },
        (None, Some(expiry))
            if tls
                .certificate
                .as_ref()
                .is_some_and(|c| c.not_after - now_ms < EXPIRY_WARNING_MS) =>
        {
            let expired = tls
                .certificate
                .as_ref()
                .is_some_and(|c| c.not_after <= now_ms);
            Capability {
                name,
                state: CapabilityState::Failing,
                detail: format!(
                    "{expiry}: {}",
                    if expired {
                        "browsers refuse it; install a new certificate"
                    } else {
                        "it ends within a week and has not been renewed"
                    }
                ),
            }
        }
        (None, Some(expiry)) => Capability {
            name,
            state: CapabilityState::Ok,
            detail: format!(
                "{expiry}; next renewal {}",
                tls.next_attempt
                    .map_or_else(|| "not planned".into(), crate::human::when)
            ),
        },
        (None, None) => Capability {
            name,
            state: CapabilityState::Ok,
            detail: format!("{}: the first certificate is being obtained", tls.mode),
        },
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
/// A restore drill older than this is overdue: the timer runs one weekly (`studiovault doctor`
/// judges it by the same limit).
pub(crate) const DRILL_MAX_AGE_DAYS: i64 = 8;
/// A last snapshot older than this is overdue: the timer takes one hourly, so three missed in
/// a row are a stopped timer (or runs killed before they could record an error).
pub(crate) const SNAPSHOT_MAX_AGE_HOURS: i64 = 3;

fn backup_capabilities(view: &BackupsView, now: i64) -> Vec<Capability> {
    let r = &view.replication;
    let replication = if !r.configured {
        Capability {
            name: "Replication".into(),
            state: CapabilityState::NotConfigured,
            detail: "No S3/B2 replica is configured ([replication] endpoint, bucket, keys): no copy leaves this machine.".into(),
        }
    } else {
        let failing = r.failing > 0;
        let check_failed = r.last_check.as_ref().is_some_and(|c| c.error.is_some());
        Capability {
            name: "Replication".into(),
            state: if failing || check_failed {
                CapabilityState::Failing
            } else {
                CapabilityState::Ok
            },
            detail: format!(
                "{} upload(s) pending, lag {} s, {} deletion(s) due, {} in grace{}{}",
                r.uploads_pending,
                r.lag_secs,
                r.deletes_due,
                r.deletes_waiting,
                match (&r.last_error, failing) {
                    (Some(e), true) => format!("; {} failing: {e}", r.failing),
                    _ => String::new(),
                },
                match &r.last_check {
                    None => String::new(),
                    Some(c) => match &c.error {
                        Some(e) =>
                            format!("; the replica's check {} failed: {e}", ago(now, c.at_ms)),
                        None => format!(
                            "; replica checked {}: {} of {} intact{}",
                            ago(now, c.at_ms),
                            c.replicas_ok,
                            c.blobs,
                            match c.requeued {
                                0 => String::new(),
                                n => format!(", {n} missing or different queued again"),
                            }
                        ),
                    },
                }
            ),
        }
    };
    let backups = match (
        view.snapshots_configured,
        &view.last_snapshot_error,
        &view.last_snapshot,
    ) {
        (false, _, _) => Capability {
            name: "Backups".into(),
            state: CapabilityState::NotConfigured,
            detail: "No restic repository is configured ([backups] repository, password_file)."
                .into(),
        },
        (true, Some(error), _) => Capability {
            name: "Backups".into(),
            state: CapabilityState::Failing,
            detail: error.clone(),
        },
        (true, None, None) => Capability {
            name: "Backups".into(),
            state: CapabilityState::Failing,
            detail: "No snapshot has been taken yet: run `studiovault backup run` (the timer \
                     takes one hourly)."
                .into(),
        },
        (true, None, Some(s)) if now - s.at_ms > SNAPSHOT_MAX_AGE_HOURS * 3_600_000 => Capability {
            name: "Backups".into(),
            state: CapabilityState::Failing,
            detail: format!(
                "the last snapshot was taken {}: snapshots run hourly, is \
                     studiovault-backup-hourly.timer active?",
                ago(now, s.at_ms)
            ),
        },
        // A snapshot stored into a repository whose check then failed may not restore.
        (true, None, Some(s)) => Capability {
            name: "Backups".into(),
            state: if s.check_ok {
                CapabilityState::Ok
            } else {
                CapabilityState::Failing
            },
            detail: format!(
                "last {} snapshot {} {}: {} blobs, {} bytes added, {} kept, check {}",
                s.tier.as_str(),
                &s.id[..s.id.len().min(8)],
                ago(now, s.at_ms),
                s.blobs,
                s.bytes_added,
                s.kept,
                if s.check_ok {
                    "ok"
                } else {
                    "FAILED: `restic check` found the repository damaged after it; \
                     the server log says what it found"
                }
            ),
        },
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
        // A drill that passed long ago proves nothing of the backups since: the timer stopped.
        (Some(d), true) if d.passed && now - d.at_ms > DRILL_MAX_AGE_DAYS * 86_400_000 => {
            Capability {
                name: "Restore drill".into(),
                state: CapabilityState::Failing,
                detail: format!(
                    "the last one passed {}: drills run weekly, is studiovault-drill.timer \
                     enabled?",
                    ago(now, d.at_ms)
                ),
            }
        }
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

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let status =
        warp::path!("v1" / "status")
            .and(warp::get())
            .and(s())
            .then(|state: AppState| async move {
                let vault = state.vault.clone();
                let backups = match state.backups.status(&state.vault).await {
                    Ok(view) => view,
                    Err(e) => return ApiError::from(e).into_response(),
                };
                let tls = state.tls.as_ref().map(studiovault_tls::Tls::status);
                let result = blocking(move || {
                    Ok((
                        vault.admin().stats()?,
                        vault.analysis_queue_len()?,
                        super::workers::workers_view(&vault)?,
                        vault.outbox_counts()?,
                        vault.now_ms(),
                    ))
                })
                .await
                .map(|(stats, queue, stems, outbox, now)| {
                    json(&Status {
                        version: env!("CARGO_PKG_VERSION").into(),
                        uptime_secs: state.started.elapsed().as_secs(),
                        users: stats.users,
                        tracks: stats.tracks,
                        stored_bytes: stats.stored_bytes,
                        disk_free_bytes: rustix::fs::statvfs(state.vault.data_dir())
                            .ok()
                            .map(|s| s.f_bavail.saturating_mul(s.f_frsize)),
                        audit_records: stats.audit_records,
                        listen: state.config.public_url(),
                        data_dir: state.vault.data_dir().display().to_string(),
                        store_schema: Some(studiovault_vault::store::SCHEMA_VERSION),
                        capabilities: capabilities(
                            queue,
                            &state.config,
                            &backups,
                            tls.as_ref(),
                            &stems,
                            outbox,
                            now,
                        ),
                        tls,
                    })
                });
                respond(result)
            });
    vec![status.boxed()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use studiovault_api::admin::{SnapshotReport, StemJobView, WorkerView};

    fn worker(last_seen: Option<i64>) -> WorkerView {
        WorkerView {
            id: "w".into(),
            name: "w".into(),
            state: "active".into(),
            enrolled_at: 0,
            host: None,
            backend: None,
            gpu: None,
            vram_mb: None,
            last_seen,
            current_job: None,
            jobs_last_hour: 0,
            jobs_done: 0,
        }
    }

    fn queued() -> StemJobView {
        StemJobView {
            id: "j".into(),
            track: "t".into(),
            state: "queued".into(),
            progress: 0.0,
            attempts: 0,
            worker: None,
            reason: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_certificate_that_expired_or_ends_within_a_week_is_failing() {
        let now = 1_800_000_000_000;
        let status = |not_after: i64| TlsStatus {
            mode: "files".into(),
            certificate: Some(studiovault_api::admin::CertificateView {
                subject: "CN=vault.studio.example".into(),
                issuer: "CN=Company CA".into(),
                names: vec!["vault.studio.example".into()],
                serial: "01".into(),
                sha256: "aa".into(),
                not_before: 0,
                not_after,
            }),
            https_listen: "0.0.0.0:443".into(),
            next_attempt: None,
            last_error: None,
            failures: 0,
            ca_wait_until: None,
            root_certificate: None,
        };
        let day = 86_400_000;
        let state = |not_after| tls_capability(Some(&status(not_after)), now);
        assert_eq!(state(now + 30 * day).state, CapabilityState::Ok);
        let soon = state(now + 2 * day);
        assert_eq!(soon.state, CapabilityState::Failing);
        assert!(soon.detail.contains("within a week"), "{}", soon.detail);
        let gone = state(now - day);
        assert_eq!(gone.state, CapabilityState::Failing);
        assert!(
            gone.detail.contains("browsers refuse it"),
            "{}",
            gone.detail
        );
    }

    #[test]
    fn backups_fail_when_the_repository_check_failed_or_no_recent_snapshot_exists() {
        let hour = 3_600_000;
        let now = 1_800_000_000_000;
        let snapshot = |check_ok, hours_ago: i64| SnapshotReport {
            id: "0123456789abcdef".into(),
            tier: studiovault_api::admin::SnapshotTier::Hourly,
            at_ms: now - hours_ago * hour,
            blobs: 1,
            files_new: 1,
            files_changed: 0,
            files_unmodified: 0,
            bytes_added: 10,
            kept: 1,
            forgotten: 0,
            check_ok,
            stage_ms: 0,
            backup_ms: 0,
            retention_ms: 0,
            check_ms: 0,
            duration_ms: 0,
        };
        let state = |last_snapshot| {
            let view = BackupsView {
                replication: Default::default(),
                snapshots_configured: true,
                last_snapshot,
                last_snapshot_error: None,
                last_drill: None,
            };
            let backups = backup_capabilities(&view, now)
                .into_iter()
                .find(|c| c.name == "Backups")
                .unwrap();
            (backups.state, backups.detail)
        };
        assert_eq!(state(Some(snapshot(true, 1))).0, CapabilityState::Ok);
        let (failing, detail) = state(Some(snapshot(false, 1)));
        assert_eq!(failing, CapabilityState::Failing);
        assert!(detail.contains("check FAILED"), "{detail}");
        // The timer stopped: the last good snapshot grows old with nothing recorded against it.
        let (stale, detail) = state(Some(snapshot(true, 4)));
        assert_eq!(stale, CapabilityState::Failing);
        assert!(detail.contains("hourly.timer"), "{detail}");
        let (never, detail) = state(None);
        assert_eq!(never, CapabilityState::Failing);
        assert!(detail.contains("backup run"), "{detail}");
    }

    #[test]
    fn the_replicas_last_check_shows_in_its_line_and_a_failed_one_fails_it() {
        let now = 1_800_000_000_000;
        let line = |check: studiovault_api::admin::ReplicaCheck| {
            let view = BackupsView {
                replication: studiovault_api::admin::ReplicationView {
                    configured: true,
                    last_check: Some(check),
                    ..Default::default()
                },
                ..Default::default()
            };
            let c = backup_capabilities(&view, now)
                .into_iter()
                .find(|c| c.name == "Replication")
                .unwrap();
            (c.state, c.detail)
        };
        let (state, detail) = line(studiovault_api::admin::ReplicaCheck {
            at_ms: now - 3_600_000,
            blobs: 12,
            replicas_ok: 10,
            requeued: 2,
            error: None,
        });
        assert_eq!(state, CapabilityState::Ok);
        assert!(
            detail.contains("10 of 12 intact, 2 missing or different queued again"),
            "{detail}"
        );
        let (state, detail) = line(studiovault_api::admin::ReplicaCheck {
            at_ms: now - 60_000,
            error: Some("list: connection refused".into()),
            ..Default::default()
        });
        assert_eq!(state, CapabilityState::Failing);
        assert!(detail.contains("connection refused"), "{detail}");
    }

    #[test]
    fn a_drill_that_passed_long_ago_is_overdue() {
        let day = 86_400_000;
        let now = 1_800_000_000_000;
        let drill = |days_ago: i64| {
            let view = BackupsView {
                snapshots_configured: true,
                last_drill: Some(studiovault_api::admin::DrillReport {
                    passed: true,
                    snapshot_id: Some("0123abcd".into()),
                    at_ms: now - days_ago * day,
                    users: 1,
                    tracks: 1,
                    blobs_listed: 1,
                    blobs_verified: 1,
                    blobs_decrypted: 1,
                    problems: 0,
                    first_problem: None,
                    restore_ms: 0,
                    open_ms: 0,
                    hash_ms: 0,
                    decrypt_ms: 0,
                    total_ms: 0,
                }),
                ..Default::default()
            };
            backup_capabilities(&view, now)
                .into_iter()
                .find(|c| c.name == "Restore drill")
                .unwrap()
        };
        assert_eq!(drill(6).state, CapabilityState::Ok);
        let overdue = drill(30);
        assert_eq!(overdue.state, CapabilityState::Failing);
        assert!(overdue.detail.contains("drill.timer"), "{}", overdue.detail);
    }

    #[test]
    fn stem_workers_fail_when_jobs_wait_and_no_worker_is_online() {
        let now = 10_000_000;
        let none = WorkersView {
            workers: vec![],
            queue: vec![],
        };
        assert_eq!(
            stem_capability(&none, now).state,
            CapabilityState::NotConfigured
        );
        let gone = WorkersView {
            workers: vec![worker(Some(now - ONLINE_MS - 1))],
            queue: vec![queued()],
        };
        assert_eq!(stem_capability(&gone, now).state, CapabilityState::Failing);
        let here = WorkersView {
            workers: vec![worker(Some(now - 1_000))],
            queue: vec![queued()],
        };
        let cap = stem_capability(&here, now);
        assert_eq!(cap.state, CapabilityState::Ok);
        assert!(
            cap.detail
                .starts_with("1 of 1 worker(s) online; 1 separation(s)"),
            "{}",
            cap.detail
        );
    }
}

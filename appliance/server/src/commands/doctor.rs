//! `studiovault doctor`: pre-flight and health checks of the appliance on this machine, one
//! verdict a line (ok, skip, warn, fail), exit status 1 when any check fails. The machine's
//! side is in `host`, the files' in `files`; what only the running server knows (backups,
//! drills, the certificate) is asked over the admin socket.

mod files;
pub mod host;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use studiovault_api::admin::{BackupsView, CapabilityState, SnapshotView, Status};
use studiovault_api::client::AdminClient;

use super::{layout, print_json, system};
use crate::cli::DoctorArgs;
use crate::config::Config;

/// A drill older than this means the weekly timer is not running.
use crate::admin::{DRILL_MAX_AGE_DAYS, SNAPSHOT_MAX_AGE_HOURS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Does not apply to this configuration.
    Skip,
    /// Works, but needs a look.
    Warn,
    Fail,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Skip => "skip",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One check's verdict and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl Finding {
    pub fn ok(check: &'static str, detail: String) -> Self {
        Self {
            check,
            verdict: Verdict::Ok,
            detail,
        }
    }
    pub fn skip(check: &'static str, detail: String) -> Self {
        Self {
            check,
            verdict: Verdict::Skip,
            detail,
        }
    }
    pub fn warn(check: &'static str, detail: String) -> Self {
        Self {
            check,
            verdict: Verdict::Warn,
            detail,
        }
    }
    pub fn fail(check: &'static str, detail: String) -> Self {
        Self {
            check,
            verdict: Verdict::Fail,
            detail,
        }
    }
}

/// Prints findings as aligned lines.
pub fn print_findings(findings: &[Finding]) {
    for f in findings {
        println!("  {:<5} {:<18} {}", f.verdict.label(), f.check, f.detail);
    }
}

/// The checks `setup` runs before it changes anything: what would stop the appliance serving.
pub async fn preflight(config: &Config) -> Vec<Finding> {
    vec![
        host::ports(config),
        host::dns(config).await,
        host::clock(),
        host::disk(&config.data_dir),
    ]
}

/// The running service: its unit, and the server answering.
async fn service(client: &AdminClient, config: &Config) -> (Finding, Option<Status>) {
    let unit = system::unit_installed(layout::SERVICE_UNIT)
        .then(|| system::unit_state(layout::SERVICE_UNIT))
        .flatten();
    let unit_text = unit.as_deref().map_or_else(String::new, |state| {
        format!("{} {state}; ", layout::SERVICE_UNIT)
    });
    match super::health::wait_healthy(client, config, std::time::Duration::ZERO).await {
        Ok(status) => (
            Finding::ok(
                "service",
                format!(
                    "{unit_text}Studio Vault {} (store schema {}) serving {}",
                    status.version,
                    status
                        .store_schema
                        .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
                    config.public_url()
                ),
            ),
            Some(status),
        ),
        Err(why) => (
            Finding::fail(
                "service",
                format!(
                    "{unit_text}not healthy: {why} (`journalctl --namespace=studiovault -u \
                     studiovault`)"
                ),
            ),
            None,
        ),
    }
}

/// The certificate, as the running server reports it.
fn certificate(status: &Status) -> Finding {
    let Some(tls) = status
        .capabilities
        .iter()
        .find(|c| c.name == "TLS certificate")
    else {
        return Finding::skip("certificate", "the server reports none".into());
    };
    match tls.state {
        CapabilityState::Ok => Finding::ok("certificate", tls.detail.clone()),
        CapabilityState::NotConfigured => Finding::fail("certificate", tls.detail.clone()),
        _ => Finding::fail("certificate", tls.detail.clone()),
    }
}

/// restic itself, then the repository as the server reaches it (with its sandbox and secrets).
async fn backups(client: &AdminClient, config: &Config) -> Vec<Finding> {
    if config.backups.repository.is_none() {
        return vec![Finding::warn(
            "backups",
            "no restic repository is configured: one failed disk loses everything \
             (`studiovault setup --reconfigure`, or [backups] in the config)"
                .into(),
        )];
    }
    let restic = config.backups.restic.to_string_lossy().into_owned();
    let mut findings = vec![match system::run(&restic, &["version"]) {
        Ok(version) => Finding::ok(
            "restic",
            version
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Err(_) => Finding::fail(
            "restic",
            format!("`{restic}` does not run: `apt install restic`"),
        ),
    }];
    findings.push(
        match client
            .get::<Vec<SnapshotView>>("/v1/backups/snapshots")
            .await
        {
            Ok(list) => Finding::ok(
                "repository",
                match list.last() {
                    Some(latest) => format!(
                        "reachable: {} snapshot(s), the latest {}",
                        list.len(),
                        latest.time
                    ),
                    None => "reachable, no snapshot yet".into(),
                },
            ),
            Err(e) => Finding::fail("repository", format!("not reachable: {e}")),
        },
    );
    findings.push(last_snapshot(client).await);
    findings
}

/// The last snapshot the server took: it failed, or the repository's check after it did, while
/// the repository still lists and the timers run.
async fn last_snapshot(client: &AdminClient) -> Finding {
    let view: BackupsView = match client.get("/v1/backups").await {
        Ok(view) => view,
        Err(e) => return Finding::fail("last snapshot", e.to_string()),
    };
    match (&view.last_snapshot_error, &view.last_snapshot) {
        (Some(error), _) => Finding::fail(
            "last snapshot",
            format!("FAILED: {error} (`studiovault backup status`)"),
        ),
        (None, Some(s)) if !s.check_ok => Finding::fail(
            "last snapshot",
            format!(
                "{}: `restic check` found the repository damaged after it (the journal says what)",
                crate::human::when(s.at_ms)
            ),
        ),
        (None, Some(s)) if now_ms() - s.at_ms > SNAPSHOT_MAX_AGE_HOURS * 3_600_000 => {
            Finding::fail(
                "last snapshot",
                format!(
                    "{}: snapshots run hourly, is studiovault-backup-hourly.timer active?",
                    crate::human::when(s.at_ms)
                ),
            )
        }
        (None, Some(s)) => Finding::ok("last snapshot", crate::human::when(s.at_ms)),
        (None, None) => Finding::warn(
            "last snapshot",
            "none yet: `studiovault backup run` takes one now (the timer runs one hourly)".into(),
        ),
    }
}

/// The last restore drill: recent and passed.
async fn drill(client: &AdminClient, config: &Config) -> Finding {
    if config.backups.repository.is_none() {
        return Finding::skip("restore drill", "no backups to drill".into());
    }
    let view: BackupsView = match client.get("/v1/backups").await {
        Ok(view) => view,
        Err(e) => return Finding::fail("restore drill", e.to_string()),
    };
    let Some(last) = view.last_drill else {
        return Finding::warn(
            "restore drill",
            "none yet: `studiovault backup drill` proves the backups now (the timer runs one \
             weekly)"
                .into(),
        );
    };
    let age_days = (now_ms() - last.at_ms) / 86_400_000;
    let when = crate::human::when(last.at_ms);
    if !last.passed {
        Finding::fail(
            "restore drill",
            format!(
                "the last one, {when}, FAILED: {} (`studiovault backup status`)",
                last.first_problem.as_deref().unwrap_or("see the journal")
            ),
        )
    } else if age_days > DRILL_MAX_AGE_DAYS {
        Finding::fail(
            "restore drill",
            format!("the last one passed {age_days} days ago: is studiovault-drill.timer enabled?"),
        )
    } else {
        Finding::ok(
            "restore drill",
            format!(
                "passed {when}: {}/{} blobs verified",
                last.blobs_verified, last.blobs_listed
            ),
        )
    }
}

/// The snapshot and drill timers, when there are backups to take.
fn timers(config: &Config) -> Finding {
    if config.backups.repository.is_none() {
        return Finding::skip("timers", "no backups to time".into());
    }
    if !system::unit_installed(layout::SERVICE_UNIT) {
        return Finding::skip("timers", "not installed as a systemd service".into());
    }
    let off: Vec<&str> = layout::TIMERS
        .into_iter()
        .filter(|t| !system::unit_enabled(t))
        .collect();
    match off.is_empty() {
        true => Finding::ok(
            "timers",
            "snapshots hourly, daily, weekly; drill weekly".into(),
        ),
        false => Finding::fail(
            "timers",
            format!(
                "not enabled: {} (`systemctl enable --now …`)",
                off.join(", ")
            ),
        ),
    }
}

/// The uid the service runs as: the package's user, or else whoever owns the data directory.
fn service_uid(config: &Config) -> u32 {
    use std::os::unix::fs::MetadataExt;
    system::user(layout::SERVICE_USER)
        .map(|(uid, _)| uid)
        .or_else(|| std::fs::metadata(&config.data_dir).ok().map(|m| m.uid()))
        .unwrap_or(0)
}

pub async fn doctor(
    config: anyhow::Result<Config>,
    config_file: Option<PathBuf>,
    socket: Option<PathBuf>,
    args: DoctorArgs,
) -> anyhow::Result<ExitCode> {
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            let finding = Finding::fail("config", format!("{e:#}"));
            return report(&[finding], args.out.json);
        }
    };
    if !system::is_root() {
        anyhow::bail!(
            "doctor reads the service's files and processes: run it as root (`sudo studiovault \
             doctor`)"
        );
    }
    let client = AdminClient::new(&socket.unwrap_or_else(|| config.admin_socket_path()));
    let uid = service_uid(&config);
    let mut findings = vec![Finding::ok(
        "config",
        config_file.as_deref().map_or_else(
            || "the embedded defaults".to_owned(),
            |f: &Path| format!("{} is valid", f.display()),
        ),
    )];
    let (service, status) = service(&client, &config).await;
    findings.push(service);
    findings.extend(preflight(&config).await);
    findings.extend(files::permissions(&config, config_file.as_deref(), uid));
    findings.push(host::hardening(layout::SERVICE_UNIT));
    let told = args.key_backed_up;
    findings.push(files::key_backup(&config, uid, |key| {
        told || files::ask_backed_up(key)
    }));
    match &status {
        Some(status) => {
            if config.tls.enabled() {
                findings.push(certificate(status));
            }
            findings.extend(backups(&client, &config).await);
            findings.push(drill(&client, &config).await);
        }
        None => findings.push(Finding::skip(
            "backups",
            "not checked: the server is not running".into(),
        )),
    }
    findings.push(timers(&config));
    report(&findings, args.out.json)
}

/// Prints the findings and a summary; exit status 1 when any failed.
fn report(findings: &[Finding], json: bool) -> anyhow::Result<ExitCode> {
    let count = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count();
    let failed = count(Verdict::Fail);
    if json {
        print_json(&findings)?;
    } else {
        print_findings(findings);
        println!(
            "doctor: {} ok, {} warning(s), {failed} failure(s), {} skipped",
            count(Verdict::Ok),
            count(Verdict::Warn),
            count(Verdict::Skip)
        );
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

//! `studiovault backup ...` and `studiovault replicate ...`: snapshots, drills and replica
//! checks run in the server (through the admin socket); `backup restore` runs here alone, as it
//! must on a new machine with no server yet.

use std::process::ExitCode;

use anyhow::{Context, bail};
use studiovault_api::admin::{
    BackupsView, DrillReport, ReplicaProblem, ReplicaVerifyReport, ReplicaVerifyRequest,
    SnapshotReport, SnapshotRequest, SnapshotView,
};
use studiovault_api::client::AdminClient;
use studiovault_vault::snapshot::{KEYRING_FILE, Keyring, install_keyring};

use super::print_json;
use crate::cli::{BackupCommand, ReplicateCommand, WaitForServer};
use crate::config::Config;
use crate::human::{size, when};

fn print_drill(d: &DrillReport) {
    println!(
        "restore drill {} (snapshot {})",
        if d.passed { "PASSED" } else { "FAILED" },
        d.snapshot_id.as_deref().unwrap_or("none")
    );
    println!(
        "  {} users, {} tracks, {} of {} blobs verified, {} decrypted in full, {} problem(s)",
        d.users, d.tracks, d.blobs_verified, d.blobs_listed, d.blobs_decrypted, d.problems
    );
    if let Some(p) = &d.first_problem {
        println!("  first problem: {p}");
    }
    println!(
        "  restore {} ms, open {} ms, hash {} ms, decrypt {} ms, total {} ms",
        d.restore_ms, d.open_ms, d.hash_ms, d.decrypt_ms, d.total_ms
    );
}

fn print_replication(view: &BackupsView) {
    let r = &view.replication;
    if !r.configured {
        println!("replication: not configured");
        return;
    }
    println!(
        "replication: {} upload(s) pending (lag {} s), {} deletion(s) due, {} in grace, {} failing",
        r.uploads_pending, r.lag_secs, r.deletes_due, r.deletes_waiting, r.failing
    );
    if let Some(e) = &r.last_error {
        println!("  last error: {e}");
    }
    if let Some(t) = r.last_success_ms {
        println!("  last replicated: {}", when(t));
    }
    match &r.last_check {
        None => println!("  replica not checked yet"),
        Some(c) => match &c.error {
            Some(e) => println!(
                "  last check of the replica ({}) failed: {e}",
                when(c.at_ms)
            ),
            None => println!(
                "  last check of the replica ({}): {} of {} blob(s) intact, {} queued again",
                when(c.at_ms),
                c.replicas_ok,
                c.blobs,
                c.requeued
            ),
        },
    }
}

async fn wait_for_server(client: &AdminClient, wait: WaitForServer) -> anyhow::Result<()> {
    if wait.wait_for_server > 0 {
        let within = std::time::Duration::from_secs(wait.wait_for_server);
        super::health::wait_for_admin_socket(client, within).await?;
    }
    Ok(())
}

pub async fn backup(
    client: &AdminClient,
    config: &Config,
    cmd: BackupCommand,
) -> anyhow::Result<ExitCode> {
    match cmd {
        BackupCommand::Run {
            tier,
            time,
            wait,
            out,
        } => {
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
            let time_ms = time
                .map(|t| studiovault_tui::parse_time_bound(&t, now_ms))
                .transpose()
                .context("--time")?;
            wait_for_server(client, wait).await?;
            let report: SnapshotReport = client
                .post("/v1/backups/snapshot", &SnapshotRequest { tier, time_ms })
                .await?;
            if out.json {
                print_json(&report)?;
            } else {
                println!(
                    "{} snapshot {}: {} blobs; {} new, {} changed, {} unchanged files; {} added in {:.1} s",
                    tier.as_str(),
                    report.id,
                    report.blobs,
                    report.files_new,
                    report.files_changed,
                    report.files_unmodified,
                    size(report.bytes_added),
                    report.duration_ms as f64 / 1000.0
                );
                println!(
                    "retention: {} kept, {} forgotten; repository check {}",
                    report.kept,
                    report.forgotten,
                    if report.check_ok { "ok" } else { "FAILED" }
                );
            }
            Ok(if report.check_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BackupCommand::Drill { wait, out } => {
            wait_for_server(client, wait).await?;
            let report: DrillReport = client.post("/v1/backups/drill", &()).await?;
            if out.json {
                print_json(&report)?;
            } else {
                print_drill(&report);
            }
            Ok(if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BackupCommand::List(out) => {
            let list: Vec<SnapshotView> = client.get("/v1/backups/snapshots").await?;
            if out.json {
                print_json(&list)?;
            } else {
                for s in &list {
                    println!("{}  {}  {}", s.short_id, s.time, s.tags.join(","));
                }
                println!("{} snapshot(s)", list.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Status(out) => {
            let view: BackupsView = client.get("/v1/backups").await?;
            if out.json {
                print_json(&view)?;
                return Ok(ExitCode::SUCCESS);
            }
            print_replication(&view);
            match (&view.last_snapshot, view.snapshots_configured) {
                (_, false) => println!("snapshots: not configured"),
                (None, true) => println!("snapshots: none taken yet"),
                (Some(s), true) => println!(
                    "last snapshot: {} {} at {} ({} blobs)",
                    s.tier.as_str(),
                    s.id,
                    when(s.at_ms),
                    s.blobs
                ),
            }
            if let Some(e) = &view.last_snapshot_error {
                println!("  last failure: {e}");
            }
            match &view.last_drill {
                Some(d) => {
                    print!("last drill at {}: ", when(d.at_ms));
                    print_drill(d);
                }
                None => println!("no restore drill has run"),
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Restore { snapshot, to } => {
            let restic = crate::backups::restic(config)?.context(
                "no restic repository is configured: set backups.repository and backups.password_file",
            )?;
            if to.exists()
                && std::fs::read_dir(&to)
                    .with_context(|| format!("reading {}", to.display()))?
                    .next()
                    .is_some()
            {
                bail!(
                    "{} is not empty: restore into a new directory",
                    to.display()
                );
            }
            std::fs::create_dir_all(&restic.cache_dir).ok();
            let restic = studiovault_backups::Restic {
                cache_dir: std::env::temp_dir().join("studiovault-restic-cache"),
                ..restic
            };
            restic
                .restore(&snapshot, &to)
                .await
                .context("restoring the snapshot")?;
            let keyring_dir = tempfile::Builder::new()
                .prefix("studiovault-keyring-")
                .tempdir()
                .context("making a private directory for the keyring")?;
            restic
                .restore_keyring(keyring_dir.path())
                .await
                .context("restoring the latest keyring")?;
            let keyring = Keyring::read(&keyring_dir.path().join(KEYRING_FILE))
                .context("reading the restored keyring")?;
            let keyless = install_keyring(&to, &keyring).context("installing the tenant keys")?;
            println!("restored snapshot {snapshot} into {}", to.display());
            if !keyless.is_empty() {
                println!(
                    "{} account(s) in this snapshot were purged after it was taken: their audio \
                     cannot be decrypted, and the server purges their records again when it starts",
                    keyless.len()
                );
            }
            println!(
                "next: put the master key file in place ({}), point data_dir at {}, and start `studiovault serve`",
                to.join("master.key").display(),
                to.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn replicate(client: &AdminClient, cmd: ReplicateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReplicateCommand::Verify { repair, out } => {
            let report: ReplicaVerifyReport = client
                .post("/v1/replication/verify", &ReplicaVerifyRequest { repair })
                .await?;
            let faults = report
                .findings
                .iter()
                .filter(|f| f.problem != ReplicaProblem::Pending)
                .count();
            if out.json {
                print_json(&report)?;
            } else {
                for f in &report.findings {
                    let label = match f.problem {
                        ReplicaProblem::Missing => "MISSING",
                        ReplicaProblem::Differs => "DIFFERS",
                        ReplicaProblem::Pending => "pending",
                        ReplicaProblem::Unchecked => "UNCHECKED",
                    };
                    println!("{label:8} {}  {}", f.key, f.detail);
                }
                let count = |p| report.findings.iter().filter(|f| f.problem == p).count();
                let wrong = count(ReplicaProblem::Missing) + count(ReplicaProblem::Differs);
                println!(
                    "{} blob(s): {} replica(s) intact, {wrong} missing or different, {} unchecked \
                     (the store did not answer), {} pending",
                    report.blobs,
                    report.replicas_ok,
                    count(ReplicaProblem::Unchecked),
                    count(ReplicaProblem::Pending)
                );
                if repair {
                    println!("{} queued for upload again", report.requeued);
                } else if wrong > 0 {
                    println!(
                        "`studiovault replicate verify --repair` queues them for upload again"
                    );
                }
            }
            Ok(if faults == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        ReplicateCommand::Status(out) => {
            let view: BackupsView = client.get("/v1/backups").await?;
            if out.json {
                print_json(&view.replication)?;
            } else {
                print_replication(&view);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `studiovault worker …`: enrol and manage stem workers over the admin socket, and
//! `worker run`, the worker process itself (on this box or any other).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use studiovault_api::admin::{EnrolWorker, WorkerEnrolled, WorkerView, WorkersView};
use studiovault_api::client::{AdminClient, segment};
use studiovault_api::worker::WorkerCapabilities;
use studiovault_worker::{WorkerClient, WorkerOptions};

use super::print_json;
use super::stems::backend_of;
use crate::cli::{WorkerCommand, WorkerRunArgs};
use crate::human::when;

fn print_worker(w: &WorkerView) {
    let gpu = match (&w.gpu, w.vram_mb) {
        (Some(gpu), Some(mb)) => format!("{gpu} ({} GiB)", mb / 1024),
        (Some(gpu), None) => gpu.clone(),
        _ => "no GPU".into(),
    };
    println!(
        "{:<20} {:<9} {:<18} {:<8} {:<28} {:>3}/h  seen {}",
        w.name,
        w.state,
        w.host.as_deref().unwrap_or("-"),
        w.backend.as_deref().unwrap_or("-"),
        gpu,
        w.jobs_last_hour,
        w.last_seen.map_or_else(|| "never".into(), when),
    );
    if let Some(job) = &w.current_job {
        println!("    job {} {:.0} %", job.id, job.progress * 100.0);
    }
}

pub async fn admin(client: &AdminClient, cmd: WorkerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WorkerCommand::Enrol { name, out } => {
            let enrolled: WorkerEnrolled =
                client.post("/v1/workers", &EnrolWorker { name }).await?;
            if out.json {
                print_json(&enrolled)?;
            } else {
                println!(
                    "worker {} enrolled; its token, shown this once:",
                    enrolled.worker.name
                );
                println!("{}", enrolled.token);
                println!(
                    "Put it in a file readable only by the worker's user and run:\n  \
                     studiovault worker run --server https://THIS-APPLIANCE --token-file FILE"
                );
            }
        }
        WorkerCommand::List(out) => {
            let view: WorkersView = client.get("/v1/workers").await?;
            if out.json {
                print_json(&view)?;
                return Ok(ExitCode::SUCCESS);
            }
            if view.workers.is_empty() {
                println!("no worker enrolled (studiovault worker enrol NAME)");
            }
            view.workers.iter().for_each(print_worker);
            println!("stem queue: {} job(s)", view.queue.len());
            for job in &view.queue {
                println!(
                    "  {} {:<8} {:>3.0} %  attempt {}  {}",
                    job.id,
                    job.state,
                    job.progress * 100.0,
                    job.attempts,
                    job.worker
                        .as_deref()
                        .or(job.reason.as_deref())
                        .unwrap_or("")
                );
            }
        }
        WorkerCommand::Drain { worker } => change(client, &worker, "drain").await?,
        WorkerCommand::Resume { worker } => change(client, &worker, "resume").await?,
        WorkerCommand::Revoke { worker } => change(client, &worker, "revoke").await?,
        WorkerCommand::Delete { worker } => {
            let gone: WorkerView = client
                .delete(&format!("/v1/workers/{}", segment(&worker)))
                .await?;
            println!("worker {} deleted", gone.name);
        }
        WorkerCommand::Run(args) => return run(&args).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn change(client: &AdminClient, worker: &str, action: &str) -> anyhow::Result<()> {
    let view: WorkerView = client
        .post(
            &format!("/v1/workers/{}/{action}", segment(worker)),
            &serde_json::json!({}),
        )
        .await?;
    println!("worker {} is {}", view.name, view.state);
    Ok(())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// `studiovault worker run`: until SIGINT/SIGTERM, or the server refuses the token.
pub async fn run(args: &WorkerRunArgs) -> anyhow::Result<ExitCode> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the token file {}", args.token_file.display()))?;
    let client = WorkerClient::new(&args.server, &token, args.ca_file.as_deref())?;
    let backend = backend_of(&args.backend)?;
    let gpu = tokio::task::spawn_blocking(studiovault_worker::gpu::detect).await?;
    let capabilities = WorkerCapabilities {
        backend: backend.name().into(),
        host: host_name(),
        gpu: gpu.as_ref().map(|g| g.0.clone()),
        vram_mb: gpu.map(|g| g.1),
        max_duration_secs: args.max_duration,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    tracing::info!(
        backend = backend.name(),
        gpu = capabilities.gpu.as_deref().unwrap_or("none"),
        "stem worker started"
    );
    let options = WorkerOptions {
        client,
        backend: Arc::from(backend),
        capabilities,
        work_dir: args.work_dir.clone().unwrap_or_else(std::env::temp_dir),
        max_jobs: args.max_jobs,
    };
    match studiovault_worker::run(options, stop_signal()).await {
        Ok(()) => {
            tracing::info!("stem worker stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(studiovault_worker::RunError::Refused(why)) => {
            bail!("the appliance refused this worker: {why}")
        }
        Err(e) => Err(e.into()),
    }
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the worker runs until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    // A moment for the log line; the job's lease runs out for another worker to take it.
    tokio::time::sleep(Duration::from_millis(10)).await;
}

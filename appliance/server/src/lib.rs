//! `studiovault`: the appliance. The binary (`main.rs`) only calls [`main`]; the library exists
//! so that the fuzz targets in `fuzz/` reach the parsers through [`fuzzing`]. `anyhow` lives
//! here, at the edge; the crates below use typed errors.

mod admin;
mod analysis;
mod backups;
mod child;
mod cli;
mod clock;
mod commands;
mod config;
mod documents;
pub mod fuzzing;
mod housekeeping;
mod human;
mod jobs;
mod leak_report;
mod listener;
mod mail;
mod owners;
mod portal;
mod probe;
mod rate;
mod render;
mod retention;
mod review;
mod serve;
mod suspect;
mod throttle;
mod tls;
mod transcribe;
mod web;
mod workers;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ConfigCommand, WorkerCommand};
use crate::config::Config;
use studiovault_api::client::AdminClient;

/// The `studiovault` command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // An analysis job is a bare child process: no runtime, no logging, no config.
    match &cli.command {
        Command::AnalysisJob { parent_pid, .. }
        | Command::RenderJob { parent_pid, .. }
        | Command::TraceJob { parent_pid, .. }
        | Command::TranscribeJob { parent_pid, .. }
        | Command::ProbeJob { parent_pid, .. }
            if !child::die_with_parent(*parent_pid) =>
        {
            return ExitCode::FAILURE;
        }
        Command::AnalysisJob {
            memory_limit_bytes, ..
        } => return analysis::child_main(*memory_limit_bytes),
        Command::RenderJob {
            memory_limit_bytes, ..
        } => return render::child_main(*memory_limit_bytes),
        Command::TraceJob {
            memory_limit_bytes, ..
        } => return suspect::child_main(*memory_limit_bytes),
        Command::TranscribeJob {
            memory_limit_bytes, ..
        } => return transcribe::child_main(*memory_limit_bytes),
        Command::ProbeJob {
            memory_limit_bytes, ..
        } => return probe::child_main(*memory_limit_bytes),
        Command::RunGuarded {
            parent_pid,
            program,
            args,
        } => return child::run_guarded(*parent_pid, program, args),
        _ => {}
    }
    let default_level = if matches!(
        cli.command,
        Command::Serve { .. } | Command::Worker(WorkerCommand::Run(_))
    ) {
        "info"
    } else {
        "warn"
    };
    // Log lines written under the console's full-screen UI would garble it.
    if !matches!(cli.command, Command::Console { .. }) {
        tracing_subscriber::fmt()
            .with_env_filter(
                EnvFilter::try_from_env("STUDIOVAULT_LOG")
                    .unwrap_or_else(|_| EnvFilter::new(default_level)),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, listen: Option<std::net::SocketAddr>) -> anyhow::Result<Config> {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    // Flags outrank the environment: they go last, through the same path.
    if let Some(dir) = &cli.data_dir {
        vars.push((
            "STUDIOVAULT_DATA_DIR".into(),
            format!(
                "\"{}\"",
                dir.display()
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            ),
        ));
    }
    if let Some(addr) = listen {
        vars.push(("STUDIOVAULT_HTTP__LISTEN".into(), addr.to_string()));
    }
    Ok(Config::load(config_file(cli).as_deref(), vars)?)
}

/// `--config` (or `$STUDIOVAULT_CONFIG`), else the packaged appliance's file when there is one.
fn config_file(cli: &Cli) -> Option<std::path::PathBuf> {
    cli.config.clone().or_else(|| {
        let system = std::path::Path::new(config::SYSTEM_CONFIG);
        system.is_file().then(|| system.to_owned())
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    if let Command::Analyze { file, out } = &cli.command {
        return commands::analyze::analyze(file, out.json).await;
    }
    // Stem work runs on any box, with no appliance configuration.
    match &cli.command {
        Command::Stems(cmd) => return commands::stems::stems(cmd).await,
        Command::Worker(WorkerCommand::Run(args)) => return commands::workers::run(args).await,
        _ => {}
    }
    // Setup writes the configuration; the doctor reports one that does not load.
    if let Command::Setup(args) = cli.command {
        return commands::setup::setup(*args).await;
    }
    if matches!(cli.command, Command::Doctor(_)) {
        let (config, file) = (load_config(&cli, None), config_file(&cli));
        if let Command::Doctor(args) = cli.command {
            return commands::doctor::doctor(config, file, cli.socket, args).await;
        }
    }
    let config = load_config(&cli, listen)?;
    let socket = cli
        .socket
        .clone()
        .unwrap_or_else(|| config.admin_socket_path());
    let client = || AdminClient::new(&socket);
    match cli.command {
        Command::Serve { .. } => {
            serve::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check) => {
            println!(
                "configuration OK ({}; data directory {}, listening on {})",
                config_file(&cli).map_or_else(
                    || "embedded defaults".to_owned(),
                    |f| format!("file {}", f.display())
                ),
                config.data_dir.display(),
                config.public_url()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Show) => {
            print!(
                "{}",
                toml::to_string_pretty(&config).context("printing the configuration")?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => commands::users::user(&client(), cmd).await,
        Command::Watermark(cmd) => commands::watermark::watermark(&config, cmd).await,
        Command::Leak(cmd) => commands::watermark::leak(&config, &client(), cmd).await,
        Command::Backup(cmd) => commands::backups::backup(&client(), &config, cmd).await,
        Command::Replicate(cmd) => commands::backups::replicate(&client(), cmd).await,
        Command::Sessions(cmd) => commands::users::sessions(&client(), cmd).await,
        Command::Audit(cmd) => commands::audit::audit(&client(), cmd).await,
        Command::Status(out) => commands::status::status(&client(), out.json).await,
        Command::Housekeeping(out) => commands::status::housekeeping(&client(), out.json).await,
        Command::Retention(out) => commands::status::retention(&client(), out.json).await,
        Command::Tls(cmd) => commands::tls::tls(&client(), cmd).await,
        Command::Worker(cmd) => commands::workers::admin(&client(), cmd).await,
        Command::Mail(cmd) => commands::mail::mail(&config, &client(), cmd).await,
        Command::Incident(cmd) => commands::incidents::incident(&client(), cmd).await,
        Command::Health { wait } => Ok(commands::health::health(&client(), &config, wait).await),
        Command::Migrate => commands::migrate::migrate(&config).await,
        Command::StoreCheck(out) => commands::migrate::store_check(&config, out.json).await,
        Command::Legal(cmd) => commands::legal::legal(&client(), cmd).await,
        // Handled above, before any configuration is read.
        Command::Analyze { .. }
        | Command::Stems(_)
        | Command::Setup(_)
        | Command::Doctor(_)
        | Command::AnalysisJob { .. }
        | Command::RenderJob { .. }
        | Command::TraceJob { .. }
        | Command::TranscribeJob { .. }
        | Command::ProbeJob { .. }
        | Command::RunGuarded { .. } => Ok(ExitCode::FAILURE),
        Command::Console { mouse } => {
            studiovault_tui::run(studiovault_tui::ConsoleOptions {
                socket: socket.clone(),
                mouse,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

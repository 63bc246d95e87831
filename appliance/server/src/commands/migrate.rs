//! Commands on a stopped server's store. `studiovault migrate` opens the store with this
//! build, which migrates it to this build's schema, and closes it again. `serve` does the same at start; upgrades run it as a step of
//! its own, between replacing the binary and starting the service, so a migration that fails is
//! told apart from a server that fails to start. `studiovault store-check` checks the store's
//! invariants (what the crash tests assert after each SIGKILL).

use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;

use anyhow::{Context, bail};
use studiovault_vault::store::SCHEMA_VERSION;
use studiovault_vault::{MasterKey, Vault, VaultError};

use crate::config::Config;

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let from = open_stopped(config, "migrate").await?.opened_at_schema();
    if from < SCHEMA_VERSION {
        println!("store migrated from schema {from} to {SCHEMA_VERSION}");
    } else {
        println!("store at schema {SCHEMA_VERSION}: nothing to migrate");
    }
    Ok(ExitCode::SUCCESS)
}

/// `studiovault store-check`: [`Vault::check_store`] on the stopped server's store.
pub async fn store_check(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let vault = open_stopped(config, "store-check").await?;
    let check = tokio::task::spawn_blocking(move || vault.check_store())
        .await?
        .context("checking the store")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&check)?);
    } else {
        println!(
            "{} blobs ({} bytes) read back, {} tracks, {} copies, {} jobs, {} messages, {} audit records",
            check.blobs,
            check.blob_bytes,
            check.tracks,
            check.renders,
            check.jobs,
            check.messages,
            check.audit_records
        );
        for problem in &check.problems {
            println!("problem: {problem}");
        }
        if check.problems.is_empty() {
            println!("store OK");
        }
    }
    Ok(if check.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Opens the store of a stopped server as the data directory's owner, which migrates it and
/// recovers what a crash left; `command` is the subcommand, for the errors.
pub async fn open_stopped(config: &Config, command: &str) -> anyhow::Result<Vault> {
    let dir = config.data_dir.clone();
    if !dir.join("vault.redb").is_file() {
        bail!("there is no store in {}", dir.display());
    }
    // Files the store writes must stay its own: a root-owned file would lock the service out.
    let owner = std::fs::metadata(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        bail!(
            "{} belongs to uid {owner}: run this as that user, e.g. `runuser -u studiovault -- \
             studiovault {command}`",
            dir.display()
        );
    }
    let master = MasterKey::load(&config.master_key_path()).context("loading the master key")?;
    let policy = config.policy();
    let opened = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || Vault::open(&dir, master, policy)
    })
    .await?;
    match opened {
        Ok(vault) => Ok(vault),
        Err(VaultError::Store(redb::Error::DatabaseAlreadyOpen)) => bail!(
            "a server has the store in {} open: stop it first (`systemctl stop studiovault`)",
            dir.display()
        ),
        Err(e @ VaultError::SchemaTooNew { .. }) => bail!(
            "{e}: a newer build wrote this store, and this build cannot read it (a downgrade \
             needs the store as it was before the upgrade: docs/OPERATIONS.md, Downgrades)"
        ),
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("opening the store in {}", dir.display())))
        }
    }
}

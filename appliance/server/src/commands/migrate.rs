//! `studiovault migrate`: opens the store with this build, which migrates it to this build's
//! schema, and closes it again. `serve` does the same at start; upgrades run it as a step of
//! its own, between replacing the binary and starting the service, so a migration that fails is
//! told apart from a server that fails to start.

use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;

use anyhow::{Context, bail};
use studiovault_vault::store::SCHEMA_VERSION;
use studiovault_vault::{MasterKey, Vault, VaultError};

use crate::config::Config;

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let dir = config.data_dir.clone();
    if !dir.join("vault.redb").is_file() {
        bail!("there is no store in {}: nothing to migrate", dir.display());
    }
    // Files the store writes must stay its own: a root-owned file would lock the service out.
    let owner = std::fs::metadata(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        bail!(
            "{} belongs to uid {owner}: run this as that user, e.g. `runuser -u studiovault -- \
             studiovault migrate`",
            dir.display()
        );
    }
    let master = MasterKey::load(&config.master_key_path()).context("loading the master key")?;
    let policy = config.policy();
    let opened = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || Vault::open(&dir, master, policy).map(|v| v.opened_at_schema())
    })
    .await?;
    match opened {
        Ok(from) if from < SCHEMA_VERSION => {
            println!("store migrated from schema {from} to {SCHEMA_VERSION}");
        }
        Ok(_) => println!("store at schema {SCHEMA_VERSION}: nothing to migrate"),
        Err(VaultError::Store(redb::Error::DatabaseAlreadyOpen)) => bail!(
            "a server has the store in {} open: stop it first (`systemctl stop studiovault`)",
            dir.display()
        ),
        Err(e @ VaultError::SchemaTooNew { .. }) => bail!(
            "{e}: a newer build wrote this store, and this build cannot read it (a downgrade \
             needs the store as it was before the upgrade: docs/OPERATIONS.md, Downgrades)"
        ),
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("migrating the store in {}", dir.display()))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

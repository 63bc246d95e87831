//! The CLI's subcommands, one module per group: each is one or two calls to the admin socket
//! (or, for the watermark and `analyze`, work on a local file), printed for people or, with
//! `--json`, for scripts.

pub mod analyze;
pub mod audit;
pub mod backups;
pub mod doctor;
pub mod health;
pub mod incidents;
mod layout;
pub mod legal;
pub mod mail;
pub mod migrate;
pub mod setup;
pub mod status;
pub mod stems;
mod system;
pub mod tls;
pub mod users;
pub mod watermark;
pub mod workers;

use serde::Serialize;

/// Prints `value` as pretty JSON, for `--json`.
fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

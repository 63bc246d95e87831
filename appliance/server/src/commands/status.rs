//! `studiovault status`: the appliance at a glance.

use std::process::ExitCode;

use studiovault_api::admin::{HousekeepingReport, RetentionRule, Status};
use studiovault_api::client::AdminClient;

use super::print_json;
use crate::human::size;

pub async fn status(client: &AdminClient, json: bool) -> anyhow::Result<ExitCode> {
    let s: Status = client.get("/v1/status").await?;
    if json {
        print_json(&s)?;
    } else {
        println!(
            "Studio Vault {} — up {}s, listening on {}",
            s.version, s.uptime_secs, s.listen
        );
        println!("  data       {}", s.data_dir);
        println!("  accounts   {}", s.users);
        println!("  tracks     {} ({})", s.tracks, size(s.stored_bytes));
        println!(
            "  disk free  {}",
            s.disk_free_bytes
                .map(size)
                .unwrap_or_else(|| "unknown".into())
        );
        println!("  audit log  {} records", s.audit_records);
        for c in &s.capabilities {
            println!("  {:<16} {:<14} {}", c.name, c.state.as_str(), c.detail);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `studiovault housekeeping`: one pass now, and what it removed.
pub async fn housekeeping(client: &AdminClient, json: bool) -> anyhow::Result<ExitCode> {
    let r: HousekeepingReport = client.post("/v1/housekeeping", &()).await?;
    if json {
        print_json(&r)?;
    } else {
        println!(
            "housekeeping: {} salts, {} sessions, {} spent nonces, {} mail records, {} copies of \
             ended shares, {} expired address changes, {} tracks kept by released legal holds \
             removed; {} accounts purged; {} legal notices queued (gags ended)",
            r.salts,
            r.sessions,
            r.nonces,
            r.sent_mail,
            r.share_copies,
            r.email_changes,
            r.held_tracks,
            r.purged.len(),
            r.legal_notices
        );
        for id in &r.purged {
            println!("  purged {id}");
        }
        for failure in &r.failures {
            eprintln!("  FAILED {failure}");
        }
    }
    // The rest of the pass went ahead; a failure still needs the admin.
    Ok(if r.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `studiovault retention`: the retention table.
pub async fn retention(client: &AdminClient, json: bool) -> anyhow::Result<ExitCode> {
    let rules: Vec<RetentionRule> = client.get("/v1/retention").await?;
    if json {
        print_json(&rules)?;
    } else {
        for r in &rules {
            println!("{:<48} {}", r.what, r.kept);
            if let Some(key) = &r.config_key {
                println!("{:<48}   set by {key}", "");
            }
            println!("{:<48}   {}", "", r.enforced_by);
        }
    }
    Ok(ExitCode::SUCCESS)
}

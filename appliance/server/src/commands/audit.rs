//! `studiovault audit …`: verify the chain, show one record, tail (and follow) the log.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use studiovault_api::admin::{AuditEntry, AuditVerifyReport};
use studiovault_api::client::{AdminClient, segment};

use super::print_json;
use crate::cli::AuditCommand;
use crate::human::when;

/// Records one poll of `audit tail --follow` asks for at a time.
const FOLLOW_PAGE: usize = 1000;

fn print_entry(e: &AuditEntry) {
    println!(
        "#{:<6} {}  {:<38} {:<26} {}{}{}",
        e.seq,
        when(e.at_ms),
        e.actor,
        e.action,
        e.object.as_deref().unwrap_or("-"),
        e.client
            .as_deref()
            .map(|c| format!("  client={c}"))
            .unwrap_or_default(),
        e.detail
            .as_deref()
            .map(|d| format!("  ({d})"))
            .unwrap_or_default(),
    );
}

fn print_entry_in_full(e: &AuditEntry) {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("record #{}", e.seq);
    println!("  when     {}", when(e.at_ms));
    println!("  action   {}", e.action);
    println!("  actor    {}", e.actor);
    println!("  account  {}", or_dash(&e.owner));
    println!("  object   {}", or_dash(&e.object));
    println!("  client   {}", or_dash(&e.client));
    println!("  detail   {}", or_dash(&e.detail));
    println!("  hash     {}", e.hash);
}

pub async fn audit(client: &AdminClient, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(out) => {
            let report: AuditVerifyReport = client.post("/v1/audit/verify", &()).await?;
            if out.json {
                print_json(&report)?;
            } else if let Some(p) = &report.first_problem {
                println!(
                    "audit chain BROKEN at record #{} ({:?}): {}",
                    p.seq, p.kind, p.message
                );
            } else {
                println!(
                    "audit chain OK: {} records, {} signed checkpoints{}",
                    report.records,
                    report.checkpoints,
                    report
                        .last_checkpoint_seq
                        .map(|s| format!(" (newest covers #{s})"))
                        .unwrap_or_default()
                );
                println!("checkpoint key: {}", report.public_key);
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AuditCommand::Show { seq, out } => {
            let found: Vec<AuditEntry> = client
                .get(&format!(
                    "/v1/audit?before={}&limit=1",
                    seq.saturating_add(1)
                ))
                .await?;
            let Some(entry) = found.into_iter().find(|e| e.seq == seq) else {
                bail!("there is no audit record #{seq}");
            };
            if out.json {
                print_json(&entry)?;
            } else {
                print_entry_in_full(&entry);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Tail {
            lines,
            follow,
            user,
            action,
            since,
            until,
            out,
        } => {
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
            let bound = |raw: Option<String>, flag: &str| {
                raw.map(|r| studiovault_tui::parse_time_bound(&r, now_ms))
                    .transpose()
                    .with_context(|| format!("--{flag}"))
            };
            let (since_ms, until_ms) = (bound(since, "since")?, bound(until, "until")?);
            let filters = |extra: &str| {
                let mut q = extra.to_owned();
                if let Some(u) = &user {
                    q.push_str(&format!("&user={}", segment(u)));
                }
                if let Some(a) = &action {
                    q.push_str(&format!("&action={}", segment(a)));
                }
                if let Some(ms) = since_ms {
                    q.push_str(&format!("&since_ms={ms}"));
                }
                if let Some(ms) = until_ms {
                    q.push_str(&format!("&until_ms={ms}"));
                }
                q
            };
            let mut entries: Vec<AuditEntry> = client
                .get(&format!("/v1/audit?{}", filters(&format!("limit={lines}"))))
                .await?;
            entries.reverse();
            let mut last = entries.last().map(|e| e.seq);
            let emit = |entries: &[AuditEntry]| -> anyhow::Result<()> {
                for e in entries {
                    if out.json {
                        println!("{}", serde_json::to_string(e)?)
                    } else {
                        print_entry(e)
                    }
                }
                Ok(())
            };
            emit(&entries)?;
            if !follow {
                return Ok(ExitCode::SUCCESS);
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                // Without a filter hit yet, start from the current head.
                let after = match last {
                    Some(seq) => seq,
                    None => {
                        let head: Vec<AuditEntry> = client.get("/v1/audit?limit=1").await?;
                        head.first().map_or(0, |e| e.seq)
                    }
                };
                // A page holds the newest records after `after`; when it is full (the tail was
                // suspended, or its reader slow), the pages below it are read too, down to
                // `after`, so no record is skipped.
                let mut fresh: Vec<AuditEntry> = Vec::new();
                loop {
                    let below = fresh
                        .last()
                        .map(|e: &AuditEntry| format!("&before={}", e.seq))
                        .unwrap_or_default();
                    let page: Vec<AuditEntry> = client
                        .get(&format!(
                            "/v1/audit?{}",
                            filters(&format!("after={after}{below}&limit={FOLLOW_PAGE}"))
                        ))
                        .await?;
                    let full = page.len() == FOLLOW_PAGE;
                    fresh.extend(page);
                    if !full {
                        break;
                    }
                }
                fresh.reverse();
                emit(&fresh)?;
                last = Some(fresh.last().map_or(after, |e| e.seq));
            }
        }
    }
}

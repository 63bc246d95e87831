//! `studiovault legal …`: legal requests over the admin socket, from intake to the answer, the
//! hand-over written to a file here, and the yearly transparency report.

use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use anyhow::Context;
use studiovault_api::admin::{
    LegalDecision, LegalGag, LegalReason, LegalReport, LegalReportRow, LegalRequestView,
    LegalState, NewLegalRequest,
};
use studiovault_api::client::{AdminClient, segment};

use super::print_json;
use crate::cli::{JsonFlag, LegalArg, LegalCommand};
use crate::human::{size, when};

fn path(request: &str, action: &str) -> String {
    format!("/v1/legal/{}{action}", segment(request))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn state_words(state: LegalState) -> &'static str {
    match state {
        LegalState::Received => "received",
        LegalState::Complied => "complied",
        LegalState::PartiallyComplied => "partially complied",
        LegalState::Refused => "refused",
    }
}

/// `due in 3d 4h`, `2d 1h overdue`, or `answered`.
fn due(r: &LegalRequestView, now: i64) -> String {
    if r.state != LegalState::Received {
        return "answered".into();
    }
    let deadline = r.deadline;
    let secs = (deadline - now).unsigned_abs() / 1000;
    let span = match (secs / 86_400, secs / 3_600 % 24) {
        (0, h) => format!("{h}h {}m", secs / 60 % 60),
        (d, h) => format!("{d}d {h}h"),
    };
    if deadline >= now {
        format!("due in {span}")
    } else {
        format!("{span} overdue")
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn hold_text(r: &LegalRequestView) -> String {
    match &r.hold {
        None => "none".into(),
        Some(h) => match (&h.released_at, &h.release_reason) {
            (Some(at), reason) => format!(
                "released {} ({})",
                when(*at),
                reason.as_deref().unwrap_or("")
            ),
            (None, _) => format!(
                "on since {}: the accounts are not purged",
                when(h.placed_at)
            ),
        },
    }
}

fn gag_text(r: &LegalRequestView, now: i64) -> String {
    match &r.gag {
        None => "none".into(),
        Some(g) => {
            let state = if g.until > now { "in force" } else { "ended" };
            let note = g
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("until {}, {state}{note}", when(g.until))
        }
    }
}

fn print_line(r: &LegalRequestView, now: i64) {
    let hold = if r.on_hold() { "held" } else { "-" };
    let gag = match &r.gag {
        Some(g) if g.until > now => "gagged",
        _ => "-",
    };
    let notified = r
        .accounts
        .iter()
        .filter(|a| a.notified_at.is_some())
        .count();
    println!(
        "{}  {:<18} {:<12} {:<30} {:<20} {:<6} {:<6} notified {notified}/{}",
        short(&r.id),
        state_words(r.state),
        r.kind.as_str(),
        r.authority,
        due(r, now),
        hold,
        gag,
        r.accounts.len(),
    );
}

fn print_request(r: &LegalRequestView) {
    let now = now_ms();
    println!("legal request {} ({})", r.id, state_words(r.state));
    println!("  kind        {}", r.kind.as_str());
    println!("  authority   {}", r.authority);
    println!("  basis       {}", r.legal_basis);
    println!("  reference   {}", r.reference);
    println!("  received    {}", when(r.received_at));
    println!("  deadline    {} ({})", when(r.deadline), due(r, now));
    let types: Vec<&str> = r.data_types.iter().map(|t| t.as_str()).collect();
    println!("  asks for    {}", types.join(", "));
    for (i, a) in r.accounts.iter().enumerate() {
        let label = if i == 0 { "accounts" } else { "" };
        let mail = a
            .delivery
            .as_deref()
            .map(|d| format!(", mail {d}"))
            .unwrap_or_default();
        let notice = a.notified_at.map_or_else(
            || "not notified".to_owned(),
            |t| format!("notified {}{mail}", when(t)),
        );
        println!(
            "  {label:<11} {} {}  {notice}",
            a.email.as_deref().unwrap_or("(account gone)"),
            a.id
        );
    }
    println!("  hold        {}", hold_text(r));
    println!("  gag         {}", gag_text(r, now));
    println!("  exports     {}", r.exports);
    if let Some(reason) = &r.reason {
        println!("  answer      {}: {reason}", state_words(r.state));
    }
    println!("  timeline");
    for step in &r.timeline {
        println!("    {}  {}", when(step.at), step.what);
    }
}

fn print_report(report: &LegalReport) {
    println!(
        "Legal requests received in {}: {}",
        report.year, report.received
    );
    println!(
        "  complied {}, partially complied {}, refused {}, not answered yet {}",
        report.complied, report.partially_complied, report.refused, report.pending
    );
    println!(
        "  accounts named {}, users notified {}, requests with a gag {}",
        report.accounts, report.users_notified, report.gagged
    );
    let table = |title: &str, rows: &[LegalReportRow]| {
        println!("{title}");
        if rows.is_empty() {
            println!("  none");
        }
        for row in rows {
            println!(
                "  {:<32} received {:>3}  complied {:>3}  partially {:>3}  refused {:>3}",
                row.name, row.received, row.complied, row.partially_complied, row.refused
            );
        }
    };
    table("By kind", &report.by_kind);
    table("By authority", &report.by_authority);
}

/// Shows the answer for people, or as JSON.
fn show(view: &LegalRequestView, out: &JsonFlag, done: &str) -> anyhow::Result<()> {
    if out.json {
        return print_json(view);
    }
    if !done.is_empty() {
        println!("{done}");
    }
    print_request(view);
    Ok(())
}

async fn post_request(
    client: &AdminClient,
    arg: &LegalArg,
    action: &str,
    done: &str,
) -> anyhow::Result<()> {
    let view: LegalRequestView = client
        .post(&path(&arg.request, action), &serde_json::json!({}))
        .await?;
    show(&view, &arg.out, done)
}

pub async fn legal(client: &AdminClient, cmd: LegalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LegalCommand::New {
            kind,
            authority,
            legal_basis,
            reference,
            deadline,
            accounts,
            data_types,
            hold,
            out,
        } => {
            let new = NewLegalRequest {
                kind,
                authority,
                legal_basis,
                reference,
                deadline: studiovault_tui::parse_date(&deadline).context("--deadline")?,
                accounts,
                data_types,
                hold,
            };
            let view: LegalRequestView = client.post("/v1/legal", &new).await?;
            show(&view, &out, "legal request recorded")?;
        }
        LegalCommand::List(out) => {
            let all: Vec<LegalRequestView> = client.get("/v1/legal").await?;
            if out.json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no legal request recorded (studiovault legal new …)");
            } else {
                let now = now_ms();
                all.iter().for_each(|r| print_line(r, now));
            }
        }
        LegalCommand::Show(arg) => {
            let view: LegalRequestView = client.get(&path(&arg.request, "")).await?;
            show(&view, &arg.out, "")?;
        }
        LegalCommand::Hold(arg) => {
            post_request(client, &arg, "/hold", "the accounts are held").await?;
        }
        LegalCommand::Release {
            request,
            reason,
            out,
        } => {
            let view: LegalRequestView = client
                .post(&path(&request, "/release"), &LegalReason { reason })
                .await?;
            show(&view, &out, "the hold is released")?;
        }
        LegalCommand::Gag {
            request,
            until,
            note,
            out,
        } => {
            let gag = LegalGag {
                until: studiovault_tui::parse_gag_end(&until).context("--until")?,
                note,
            };
            let view: LegalRequestView = client.post(&path(&request, "/gag"), &gag).await?;
            show(
                &view,
                &out,
                "gag recorded: the notice goes out by itself when it ends",
            )?;
        }
        LegalCommand::Notify(arg) => {
            post_request(client, &arg, "/notify", "notices queued").await?;
        }
        LegalCommand::Export { request, file } => export(client, &request, &file).await?,
        LegalCommand::Comply {
            request,
            reason,
            partial,
            out,
        } => {
            let outcome = if partial {
                LegalState::PartiallyComplied
            } else {
                LegalState::Complied
            };
            decide(client, &request, outcome, reason, &out).await?;
        }
        LegalCommand::Refuse {
            request,
            reason,
            out,
        } => decide(client, &request, LegalState::Refused, reason, &out).await?,
        LegalCommand::Report { year, out } => {
            let report: LegalReport = client.get(&format!("/v1/legal/report?year={year}")).await?;
            if out.json {
                print_json(&report)?;
            } else {
                print_report(&report);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide(
    client: &AdminClient,
    request: &str,
    outcome: LegalState,
    reason: String,
    out: &JsonFlag,
) -> anyhow::Result<()> {
    let view: LegalRequestView = client
        .post(
            &path(request, "/decision"),
            &LegalDecision { outcome, reason },
        )
        .await?;
    show(
        &view,
        out,
        &format!("recorded as {}", state_words(view.state)),
    )
}

/// Writes the hand-over to `file` (created, readable by this user only); a failure leaves no
/// partial file behind.
async fn export(client: &AdminClient, request: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let handle = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    let mut out = tokio::fs::File::from_std(handle);
    let written = client
        .post_into(&path(request, "/export"), &serde_json::json!({}), &mut out)
        .await;
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(file);
            return Err(e.into());
        }
    };
    out.sync_all()
        .await
        .with_context(|| format!("writing {}", file.display()))?;
    println!(
        "wrote {} ({}): manifest.json lists the SHA-256 of every entry",
        file.display(),
        size(written)
    );
    Ok(())
}

//! `studiovault incident …`: the incident register and breach notices over the admin socket,
//! the console's Notices tab for scripts.

use std::process::ExitCode;

use anyhow::Context;
use studiovault_api::admin::{
    AffectedAccounts, AffectedSelection, ConfirmIncident, IncidentDetail, IncidentNote,
    IncidentState, IncidentView, NewIncident, NoticeParts, NoticePreview, NotifyIncident,
};
use studiovault_api::client::{AdminClient, segment};

use super::print_json;
use crate::cli::{Encrypted, IncidentArg, IncidentCommand, NoticeArgs};
use crate::human::when;

fn path(incident: &str, rest: &str) -> String {
    format!("/v1/incidents/{}{rest}", segment(incident))
}

fn encrypted(flag: Option<Encrypted>) -> Option<bool> {
    flag.map(|e| e == Encrypted::Yes)
}

fn parts(args: NoticeArgs) -> NoticeParts {
    NoticeParts {
        what_happened: args.what_happened,
        data_affected: args.data_affected,
        containment: args.containment,
        user_action: args.user_action,
        contact: args.contact,
    }
}

/// `71h 59m`.
fn hours(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    format!("{}h {:02}m", minutes / 60, minutes % 60)
}

/// The 72-hour clock: the time left (or how far past it is), then how long the notice took.
fn clock(i: &IncidentView, now_ms: i64) -> String {
    match (i.confirmed_at, i.notify_by, i.notified_at) {
        (Some(confirmed), Some(due), Some(sent)) => {
            let late = if sent > due { ", late" } else { "" };
            format!("notified in {}{late}", hours(sent - confirmed))
        }
        (Some(_), Some(_), None) if i.state == IncidentState::Resolved => "no notice".into(),
        (Some(_), Some(due), None) if now_ms > due => {
            format!("OVERDUE by {}", hours(now_ms - due))
        }
        (Some(_), Some(due), None) => format!("{} left", hours(due - now_ms)),
        _ if i.state == IncidentState::Resolved => "no notice".into(),
        _ => "not confirmed".into(),
    }
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

fn print_incident(i: &IncidentView) {
    println!("incident {}: {}", i.id, i.title);
    println!("  state      {} · {}", i.state.as_str(), clock(i, now_ms()));
    println!("  recorded   {}", when(i.created_at));
    if let Some(at) = i.confirmed_at {
        println!("  confirmed  {}", when(at));
    }
    if let (Some(due), None) = (i.notify_by, i.notified_at) {
        println!("  due        {}", when(due));
    }
    if let Some(at) = i.notified_at {
        println!("  notified   {}", when(at));
    }
    if let Some(reason) = &i.late_reason {
        println!("  late       {reason}");
    }
    if let Some(at) = i.resolved_at {
        println!("  resolved   {}", when(at));
    }
    let encrypted = match i.encrypted {
        Some(true) => "yes, with keys that were not exposed",
        Some(false) => "no (or its keys were exposed)",
        None => "not known",
    };
    println!("  encrypted  {encrypted}");
    println!("  affected   {} account(s)", i.affected);
    println!(
        "  mails      {} sent, {} waiting, {} failed",
        i.delivery.sent, i.delivery.queued, i.delivery.failed
    );
    if i.delivery.failed > 0 {
        println!(
            "             once the relay is mended: studiovault mail retry --topic incident/{}",
            i.id
        );
    }
    if !i.description.is_empty() {
        println!(
            "  about      {}",
            i.description.replace('\n', "\n             ")
        );
    }
    println!("  timeline");
    for e in &i.timeline {
        println!("    {}  {:<9} {}", when(e.at), e.kind, e.text);
    }
}

fn print_detail(d: &IncidentDetail) {
    print_incident(&d.incident);
    if d.recipients.is_empty() {
        println!("  no affected accounts chosen yet (studiovault incident affected …)");
        return;
    }
    println!("  recipients");
    for r in &d.recipients {
        let about = match (&r.error, r.delivered_at) {
            (Some(error), _) => error.clone(),
            (None, Some(at)) => format!("delivered {}", when(at)),
            (None, None) => String::new(),
        };
        let banner = match (r.notified_at, r.dismissed_at) {
            (Some(_), Some(_)) => "banner dismissed",
            (Some(_), None) => "banner shown",
            (None, _) => "",
        };
        println!(
            "    {:<32} {:<9} {:>2} tries  {banner:<16} {about}",
            r.email, r.delivery, r.attempts
        );
    }
}

fn print_accounts(accounts: &AffectedAccounts, verb: &str) {
    println!("{} account(s) {verb}:", accounts.count);
    for a in &accounts.accounts {
        println!("  {}  {}", a.email, a.id);
    }
}

fn output<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T),
) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        human(value);
        Ok(())
    }
}

pub async fn incident(client: &AdminClient, cmd: IncidentCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IncidentCommand::New {
            title,
            description,
            encrypted: flag,
            out,
        } => {
            let body = NewIncident {
                title,
                description,
                encrypted: encrypted(flag),
            };
            let view: IncidentView = client.post("/v1/incidents", &body).await?;
            output(out.json, &view, |v| {
                println!(
                    "incident {} recorded as investigating; confirm it once it is a breach:\n  studiovault incident confirm {}",
                    v.id,
                    &v.id[..8.min(v.id.len())]
                );
            })?;
        }
        IncidentCommand::List(out) => {
            let list: Vec<IncidentView> = client.get("/v1/incidents").await?;
            output(out.json, &list, |list| {
                if list.is_empty() {
                    println!("no incident recorded (studiovault incident new TITLE)");
                }
                let now = now_ms();
                for i in list {
                    println!(
                        "{}  {:<13} {:<24} {:>4} affected  {}",
                        &i.id[..8.min(i.id.len())],
                        i.state.as_str(),
                        clock(i, now),
                        i.affected,
                        i.title
                    );
                }
            })?;
        }
        IncidentCommand::Show(IncidentArg { incident, out }) => {
            let detail: IncidentDetail = client.get(&path(&incident, "")).await?;
            output(out.json, &detail, print_detail)?;
        }
        IncidentCommand::Confirm {
            incident,
            encrypted: flag,
            note,
            out,
        } => {
            let body = ConfirmIncident {
                encrypted: encrypted(flag),
                note,
            };
            let view: IncidentView = client.post(&path(&incident, "/confirm"), &body).await?;
            output(out.json, &view, |v| {
                println!(
                    "incident {} confirmed: the notice is due by {}",
                    v.title,
                    v.notify_by.map_or_else(|| "-".into(), when)
                );
            })?;
        }
        IncidentCommand::Affected {
            incident,
            all,
            account,
            since,
            until,
            action,
            object,
            preview,
            out,
        } => {
            let selection = if all {
                AffectedSelection::All
            } else if !account.is_empty() {
                AffectedSelection::Accounts { accounts: account }
            } else {
                let now = now_ms();
                let bound = |raw: Option<String>, flag: &str| {
                    raw.map(|r| studiovault_tui::parse_time_bound(&r, now))
                        .transpose()
                        .with_context(|| format!("--{flag}"))
                };
                AffectedSelection::AuditLog {
                    since_ms: bound(since, "since")?,
                    until_ms: bound(until, "until")?,
                    actions: action,
                    object,
                }
            };
            let rest = if preview {
                "/affected/preview"
            } else {
                "/affected"
            };
            let accounts: AffectedAccounts =
                client.post(&path(&incident, rest), &selection).await?;
            let verb = if preview {
                "match (nothing recorded)"
            } else {
                "recorded as affected"
            };
            output(out.json, &accounts, |a| print_accounts(a, verb))?;
        }
        IncidentCommand::NoticePreview {
            incident,
            notice,
            out,
        } => {
            let preview: NoticePreview = client
                .post(&path(&incident, "/notice/preview"), &parts(notice))
                .await?;
            output(out.json, &preview, |p| {
                println!("To {} account(s), one mail each.", p.recipients);
                if p.late {
                    println!(
                        "Late: more than 72 hours after confirmation; notify needs --late-reason."
                    );
                }
                println!("Subject: {}\n\n{}", p.subject, p.text);
            })?;
        }
        IncidentCommand::Notify {
            incident,
            notice,
            late_reason,
            out,
        } => {
            let body = NotifyIncident {
                notice: parts(notice),
                late_reason,
            };
            let detail: IncidentDetail = client.post(&path(&incident, "/notify"), &body).await?;
            output(out.json, &detail, |d| {
                println!(
                    "notice sent to {} account(s), {} after confirmation; the mails are queued (studiovault incident show {} follows them)",
                    d.recipients.len(),
                    match (d.incident.confirmed_at, d.incident.notified_at) {
                        (Some(c), Some(n)) => hours(n - c),
                        _ => "-".into(),
                    },
                    &d.incident.id[..8.min(d.incident.id.len())]
                );
            })?;
        }
        IncidentCommand::Resolve {
            incident,
            note,
            out,
        } => {
            let view: IncidentView = client
                .post(&path(&incident, "/resolve"), &IncidentNote { text: note })
                .await?;
            output(out.json, &view, |v| {
                println!("incident {} resolved; it stays in the register", v.title);
            })?;
        }
        IncidentCommand::Note {
            incident,
            text,
            out,
        } => {
            let view: IncidentView = client
                .post(&path(&incident, "/note"), &IncidentNote { text })
                .await?;
            output(out.json, &view, |v| {
                println!("noted on the timeline of {}", v.title);
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use studiovault_api::admin::DeliveryCounts;

    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn the_clock_reads_like_the_consoles() {
        let base = IncidentView {
            id: "0123456789abcdef0123456789abcdef".into(),
            title: "t".into(),
            description: String::new(),
            state: IncidentState::Confirmed,
            created_at: 0,
            confirmed_at: Some(0),
            notify_by: Some(72 * HOUR_MS),
            notified_at: None,
            resolved_at: None,
            encrypted: None,
            selection: None,
            affected: 0,
            notice: None,
            late_reason: None,
            delivery: DeliveryCounts::default(),
            timeline: Vec::new(),
        };
        assert_eq!(clock(&base, HOUR_MS), "71h 00m left");
        assert_eq!(clock(&base, 75 * HOUR_MS), "OVERDUE by 3h 00m");
        let sent = IncidentView {
            notified_at: Some(80 * HOUR_MS),
            state: IncidentState::Notified,
            ..base.clone()
        };
        assert_eq!(clock(&sent, 0), "notified in 80h 00m, late");
        let open = IncidentView {
            confirmed_at: None,
            notify_by: None,
            state: IncidentState::Investigating,
            ..base
        };
        assert_eq!(clock(&open, 0), "not confirmed");
    }
}

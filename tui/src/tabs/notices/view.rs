//! What the screen draws: the register (each incident's state and 72-hour clock), the card of
//! one incident with its timeline, and an opened incident's recipients with the delivery of
//! each one's mail and whether they dismissed the banner.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};
use studiovault_api::admin::{
    AffectedRule, DeliveryCounts, IncidentDetail, IncidentState, IncidentView, NoticeRecipient,
};

use super::clock::NoticeClock;
use crate::format;
use crate::theme::Theme;
use crate::widgets::{Cursor, ListBox, field, panel};

/// Characters of an incident id shown: enough to tell them apart, and what the CLI takes.
const SHORT_ID: usize = 8;
/// Rows of an incident's card, borders included.
const CARD_HEIGHT: u16 = 8;

pub fn short_id(id: &str) -> String {
    id.chars().take(SHORT_ID).collect()
}

fn state_style(state: IncidentState, theme: Theme) -> Style {
    match state {
        IncidentState::Investigating => theme.warn(),
        IncidentState::Confirmed => theme.error(),
        IncidentState::Notified => theme.ok(),
        IncidentState::Resolved => theme.dim(),
    }
}

/// `2 sent, 1 waiting, 1 failed`, or `—` before anything was sent.
pub fn delivery_text(counts: &DeliveryCounts) -> String {
    let parts: Vec<String> = [
        (counts.sent, "sent"),
        (counts.queued, "waiting"),
        (counts.failed, "failed"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

/// How the affected accounts were chosen, in words.
pub fn rule_text(rule: &AffectedRule) -> String {
    match rule {
        AffectedRule::All => "every account".into(),
        AffectedRule::Accounts { count } => format!("a list of {count}"),
        AffectedRule::AuditLog {
            since_ms,
            until_ms,
            actions,
            object,
        } => {
            let mut parts = Vec::new();
            if let Some(since) = since_ms {
                parts.push(format!("from {}", format::minute(*since)));
            }
            if let Some(until) = until_ms {
                parts.push(format!("until {}", format::minute(*until)));
            }
            if !actions.is_empty() {
                parts.push(actions.join(", "));
            }
            if let Some(object) = object {
                parts.push(object.clone());
            }
            format!("audit log: {}", parts.join("; "))
        }
    }
}

fn encrypted_text(encrypted: Option<bool>) -> &'static str {
    match encrypted {
        Some(true) => "yes, with keys that were not exposed",
        Some(false) => "no (or its keys were exposed)",
        None => "not known yet",
    }
}

pub fn draw_list(
    frame: &mut Frame,
    area: Rect,
    incidents: &[&IncidentView],
    cursor: &Cursor,
    now_ms: i64,
    theme: Theme,
) {
    // The mails' delivery gets a column where there is room; the card below has it anyway.
    let with_mails = area.width >= 100;
    let mut widths = vec![
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Length(13),
        Constraint::Length(22),
        Constraint::Length(8),
    ];
    let mut header = vec!["Ref", "Incident", "State", "72-hour clock", "Affected"];
    if with_mails {
        widths.push(Constraint::Length(16));
        header.push("Mails");
    }
    let title_width = usize::from(area.width.saturating_sub(if with_mails { 76 } else { 59 }));
    let rows = incidents
        .iter()
        .map(|i| {
            let clock = NoticeClock::of(i, now_ms);
            let mut cells = vec![
                Cell::from(short_id(&i.id)),
                Cell::from(format::clip(&i.title, title_width.max(8))),
                Cell::from(Span::styled(i.state.as_str(), state_style(i.state, theme))),
                Cell::from(Span::styled(clock.text(), clock.style(theme))),
                Cell::from(Line::from(i.affected.to_string()).right_aligned()),
            ];
            if with_mails {
                cells.push(Cell::from(delivery_text(&i.delivery)));
            }
            Row::new(cells)
        })
        .collect();
    ListBox::new(&format!("Incidents ({})", incidents.len()), theme).draw_rows(
        frame,
        area,
        Row::new(header),
        widths,
        rows,
        cursor,
    );
}

/// An incident's facts, and its timeline below them in the rest of `area`.
pub fn draw_incident(frame: &mut Frame, area: Rect, incident: &IncidentView, now_ms: i64, theme: Theme) {
    let [card, timeline] =
        Layout::vertical([Constraint::Length(CARD_HEIGHT), Constraint::Fill(1)]).areas(area);
    let clock = NoticeClock::of(incident, now_ms);
    // Where the clock started, and where it stands: two dates at most, so the line fits.
    let start = match incident.confirmed_at {
        Some(at) => ("confirmed", at),
        None => ("recorded", incident.created_at),
    };
    let end = [
        ("resolved", incident.resolved_at),
        ("notified", incident.notified_at),
        ("due", incident.notify_by),
    ]
    .into_iter()
    .find_map(|(label, at)| at.map(|at| (label, at)));
    let dates: Vec<String> = std::iter::once(start)
        .chain(end)
        .map(|(label, at)| format!("{label} {}", format::minute(at)))
        .collect();
    let affected = match &incident.selection {
        Some(rule) => format!("{} account(s): {}", incident.affected, rule_text(rule)),
        None => "not chosen yet (a)".into(),
    };
    let mut lines = vec![
        field(
            "State",
            Span::styled(
                format!("{} · {}", incident.state.as_str(), clock.text()),
                clock.style(theme),
            ),
            theme,
        ),
        field("When, UTC", dates.join(" · "), theme),
        field("Encrypted", encrypted_text(incident.encrypted), theme),
        field("Affected", affected, theme),
        field("Mails", delivery_text(&incident.delivery), theme),
    ];
    match &incident.late_reason {
        Some(reason) => lines.push(field(
            "Late",
            Span::styled(reason.clone(), theme.error()),
            theme,
        )),
        None => lines.push(field("About", incident.description.clone(), theme)),
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel(
            &format!("{} · {}", short_id(&incident.id), incident.title),
            theme,
        )),
        card,
    );
    // The newest events that fit, oldest of them first.
    let room = usize::from(timeline.height.saturating_sub(2));
    let skip = incident.timeline.len().saturating_sub(room);
    let events: Vec<Line> = incident
        .timeline
        .iter()
        .skip(skip)
        .map(|e| {
            Line::from(vec![
                Span::styled(format!("{} ", format::minute(e.at)), theme.dim()),
                Span::styled(format!("{:<9} ", e.kind), theme.key()),
                Span::raw(e.text.replace('\n', " ")),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(events).block(panel(
            &format!("Timeline, UTC ({})", incident.timeline.len()),
            theme,
        )),
        timeline,
    );
}

fn delivery_style(delivery: &str, theme: Theme) -> Style {
    match delivery {
        "sent" => theme.ok(),
        "failed" => theme.error(),
        "queued" | "sending" => theme.warn(),
        _ => theme.dim(),
    }
}

fn recipient_row(r: &NoticeRecipient, theme: Theme) -> Row<'static> {
    let about = match (&r.error, r.delivered_at) {
        (Some(error), _) => Span::styled(error.clone(), theme.error()),
        (None, Some(at)) => Span::raw(format::minute(at)),
        (None, None) => Span::styled("—", theme.dim()),
    };
    let banner = match (r.notified_at, r.dismissed_at) {
        (None, _) => Span::styled("—", theme.dim()),
        (Some(_), None) => Span::raw("shown"),
        (Some(_), Some(_)) => Span::styled("dismissed", theme.dim()),
    };
    Row::new([
        Cell::from(r.email.clone()),
        Cell::from(Span::styled(r.delivery.clone(), delivery_style(&r.delivery, theme))),
        Cell::from(Line::from(r.attempts.to_string()).right_aligned()),
        Cell::from(about),
        Cell::from(banner),
    ])
}

/// An opened incident: its card and timeline, then each affected account.
pub fn draw_detail(
    frame: &mut Frame,
    area: Rect,
    detail: &IncidentDetail,
    cursor: &Cursor,
    now_ms: i64,
    theme: Theme,
) {
    let timeline_rows = u16::try_from(detail.incident.timeline.len())
        .unwrap_or(u16::MAX)
        .clamp(1, 6)
        + 2;
    let [top, bottom] = Layout::vertical([
        Constraint::Length(CARD_HEIGHT + timeline_rows),
        Constraint::Fill(1),
    ])
    .areas(area);
    draw_incident(frame, top, &detail.incident, now_ms, theme);
    let list = ListBox::new(
        &format!("Recipients ({})", detail.recipients.len()),
        theme,
    );
    if detail.recipients.is_empty() {
        list.draw_placeholder(
            frame,
            bottom,
            "No affected accounts chosen yet: press a to choose them.",
        );
        return;
    }
    let rows = detail
        .recipients
        .iter()
        .map(|r| recipient_row(r, theme))
        .collect();
    list.draw_rows(
        frame,
        bottom,
        Row::new(["Account", "Mail", "Tries", "Delivered (UTC) or error", "Banner"]),
        [
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Fill(2),
            Constraint::Length(9),
        ],
        rows,
        cursor,
    );
}

//! The two parts of the screen: the requests' table (state, deadline, hold, gag, notices) and,
//! below, the selected request in full with its timeline.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};
use studiovault_api::admin::{LegalRequestView, LegalState};

use super::actions::short_id;
use crate::format;
use crate::theme::Theme;
use crate::widgets::{Cursor, ListBox, field, panel};

const DAY_MS: i64 = 86_400_000;
/// An unanswered request due within this long shows red; within a week, yellow.
const NEAR_MS: i64 = 3 * DAY_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

fn state_words(state: LegalState) -> &'static str {
    match state {
        LegalState::Received => "received",
        LegalState::Complied => "complied",
        LegalState::PartiallyComplied => "partial",
        LegalState::Refused => "refused",
    }
}

/// `in 3d 4h` or `2d 1h late` for an unanswered request, styled by how near it is.
pub fn deadline(request: &LegalRequestView, now_ms: i64, theme: Theme) -> (String, Style) {
    if request.state != LegalState::Received {
        return ("answered".into(), theme.dim());
    }
    let left = request.deadline - now_ms;
    let span = format::duration(left.unsigned_abs() / 1000);
    if left < 0 {
        (format!("{span} late"), theme.error())
    } else if left < NEAR_MS {
        (format!("in {span}"), theme.error())
    } else if left < WEEK_MS {
        (format!("in {span}"), theme.warn())
    } else {
        (format!("in {span}"), theme.text())
    }
}

/// `held`, `off` (released) or `—`.
fn hold(request: &LegalRequestView, theme: Theme) -> Span<'static> {
    match &request.hold {
        Some(h) if h.released_at.is_none() => Span::styled("held", theme.warn()),
        Some(_) => Span::styled("off", theme.dim()),
        None => Span::styled("—", theme.dim()),
    }
}

/// `to 06-20` while in force, `ended`, or `—`.
fn gag(request: &LegalRequestView, now_ms: i64, theme: Theme) -> Span<'static> {
    match &request.gag {
        Some(g) if g.until > now_ms => {
            let day = format::minute(g.until);
            Span::styled(format!("to {}", day.get(5..10).unwrap_or(&day)), theme.warn())
        }
        Some(_) => Span::styled("ended", theme.dim()),
        None => Span::styled("—", theme.dim()),
    }
}

fn notified(request: &LegalRequestView) -> String {
    let told = request
        .accounts
        .iter()
        .filter(|a| a.notified_at.is_some())
        .count();
    format!("{told}/{}", request.accounts.len())
}

pub fn draw_requests(
    frame: &mut Frame,
    area: Rect,
    requests: &[&LegalRequestView],
    cursor: &Cursor,
    now_ms: i64,
    theme: Theme,
) {
    let list = ListBox::new(&format!("Legal requests ({})", requests.len()), theme);
    let rows = requests
        .iter()
        .map(|r| {
            let (due, due_style) = deadline(r, now_ms, theme);
            Row::new([
                Cell::from(short_id(&r.id).to_owned()),
                Cell::from(r.kind.as_str()),
                Cell::from(format::clip(&r.authority, 40)),
                Cell::from(Span::styled(due, due_style)),
                Cell::from(state_words(r.state)),
                Cell::from(hold(r, theme)),
                Cell::from(gag(r, now_ms, theme)),
                Cell::from(notified(r)),
            ])
        })
        .collect();
    list.draw_rows(
        frame,
        area,
        Row::new([
            "Id",
            "Kind",
            "Authority",
            "Deadline",
            "State",
            "Hold",
            "Gag",
            "Told",
        ]),
        [
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Fill(1),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(8),
            Constraint::Length(5),
        ],
        rows,
        cursor,
    );
}

/// The selected request in full: what it asks, of whom, the hold, the gag, the answer, and as
/// much of its timeline as fits, the latest last.
pub fn draw_detail(
    frame: &mut Frame,
    area: Rect,
    request: &LegalRequestView,
    now_ms: i64,
    theme: Theme,
) {
    let (due, due_style) = deadline(request, now_ms, theme);
    let mut lines = vec![
        field(
            "Request",
            format!(
                "{} · {} · ref {}",
                request.id,
                request.kind.as_str(),
                request.reference
            ),
            theme,
        ),
        field("Basis", request.legal_basis.clone(), theme),
        field(
            "Asks for",
            request
                .data_types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            theme,
        ),
        field(
            "Deadline",
            Line::from(vec![
                Span::raw(format!("{} UTC ", format::minute(request.deadline))),
                Span::styled(format!("({due})"), due_style),
            ]),
            theme,
        ),
    ];
    for (i, account) in request.accounts.iter().enumerate() {
        let label = if i == 0 { "Accounts" } else { "" };
        let notice = match (account.notified_at, account.delivery.as_deref()) {
            (Some(at), delivery) => {
                let mail = delivery.map(|d| format!(", mail {d}")).unwrap_or_default();
                let style = if delivery.is_some_and(|d| d.starts_with("failed")) {
                    theme.error()
                } else {
                    theme.ok()
                };
                Span::styled(
                    format!("notified {} UTC{mail}", format::minute(at)),
                    style,
                )
            }
            (None, _) => Span::styled("not notified", theme.warn()),
        };
        lines.push(field(
            label,
            Line::from(vec![
                Span::raw(format!(
                    "{}  ",
                    account.email.as_deref().unwrap_or("(account gone)")
                )),
                notice,
            ]),
            theme,
        ));
    }
    let hold_text = match &request.hold {
        None => Span::styled("none", theme.dim()),
        Some(h) => match (&h.released_at, &h.release_reason) {
            (Some(at), reason) => Span::styled(
                format!(
                    "released {} UTC: {}",
                    format::minute(*at),
                    reason.as_deref().unwrap_or("")
                ),
                theme.dim(),
            ),
            (None, _) => Span::styled(
                format!(
                    "on since {} UTC: the accounts are not purged",
                    format::minute(h.placed_at)
                ),
                theme.warn(),
            ),
        },
    };
    lines.push(field("Hold", hold_text, theme));
    let gag_text = match &request.gag {
        None => Span::styled("none", theme.dim()),
        Some(g) => {
            let (state, style) = if g.until > now_ms {
                ("in force", theme.warn())
            } else {
                ("ended", theme.dim())
            };
            let note = g.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
            Span::styled(
                format!("until {} UTC, {state}{note}", format::minute(g.until)),
                style,
            )
        }
    };
    lines.push(field("Gag", gag_text, theme));
    let answer = match &request.reason {
        Some(reason) => format!("{}: {reason}", state_words(request.state)),
        None => "not yet".into(),
    };
    lines.push(field(
        "Answer",
        format!("{answer} · {} export(s)", request.exports),
        theme,
    ));
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(lines.len());
    let skip = request.timeline.len().saturating_sub(room);
    for (i, step) in request.timeline.iter().skip(skip).enumerate() {
        let label = if i == 0 { "Timeline" } else { "" };
        lines.push(field(
            label,
            Line::from(vec![
                Span::styled(format!("{}  ", format::minute(step.at)), theme.dim()),
                Span::raw(step.what.clone()),
            ]),
            theme,
        ));
    }
    let title = format!("{} · {}", short_id(&request.id), request.authority);
    frame.render_widget(Paragraph::new(lines).block(panel(&title, theme)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_turn_yellow_within_a_week_and_red_within_three_days_or_past() {
        let request: LegalRequestView = serde_json::from_value(serde_json::json!({
            "id": "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1", "kind": "subpoena", "authority": "A",
            "legal_basis": "B", "reference": "R", "received_at": 0, "deadline": 100 * DAY_MS,
            "accounts": [], "data_types": ["account"], "state": "received", "reason": null,
            "decided_at": null, "hold": null, "gag": null, "exports": 0, "timeline": []
        }))
        .unwrap();
        let theme = Theme::COLOUR;
        let at = |days_left: i64| deadline(&request, (100 - days_left) * DAY_MS, theme);
        assert_eq!(at(20), ("in 20d 0h".to_owned(), theme.text()));
        assert_eq!(at(5), ("in 5d 0h".to_owned(), theme.warn()));
        assert_eq!(at(2), ("in 2d 0h".to_owned(), theme.error()));
        assert_eq!(at(-1), ("1d 0h late".to_owned(), theme.error()));
        let answered = LegalRequestView {
            state: LegalState::Refused,
            ..request
        };
        assert_eq!(
            deadline(&answered, 200 * DAY_MS, theme),
            ("answered".to_owned(), theme.dim())
        );
    }
}

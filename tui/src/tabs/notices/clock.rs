//! The 72-hour clock of a breach notice, as the console shows it: from confirmation, the time
//! left (red once it has run out), then how long after confirmation the notice went out.

use ratatui::style::Style;
use studiovault_api::admin::{IncidentState, IncidentView};

use crate::theme::Theme;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Under this much time left the clock turns from plain to a warning.
const WARN_MS: i64 = 12 * HOUR_MS;

/// Where an incident's notice stands against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeClock {
    /// Not confirmed: no clock yet.
    NotStarted,
    Running { left_ms: i64 },
    Overdue { by_ms: i64 },
    /// The notice went out this long after confirmation.
    Notified { after_ms: i64, late: bool },
    /// Resolved without a notice.
    Stopped,
}

impl NoticeClock {
    pub fn of(incident: &IncidentView, now_ms: i64) -> Self {
        let (Some(confirmed), Some(due)) = (incident.confirmed_at, incident.notify_by) else {
            return match incident.state {
                IncidentState::Resolved => Self::Stopped,
                _ => Self::NotStarted,
            };
        };
        if let Some(sent) = incident.notified_at {
            return Self::Notified {
                after_ms: sent - confirmed,
                late: sent > due,
            };
        }
        if incident.state == IncidentState::Resolved {
            return Self::Stopped;
        }
        if now_ms > due {
            Self::Overdue { by_ms: now_ms - due }
        } else {
            Self::Running {
                left_ms: due - now_ms,
            }
        }
    }

    pub fn is_overdue(self) -> bool {
        matches!(self, Self::Overdue { .. })
    }

    pub fn text(self) -> String {
        match self {
            Self::NotStarted => "not confirmed".into(),
            Self::Running { left_ms } => format!("{} left", hours(left_ms)),
            Self::Overdue { by_ms } => format!("OVERDUE by {}", hours(by_ms)),
            Self::Notified {
                after_ms,
                late: false,
            } => format!("notified in {}", hours(after_ms)),
            Self::Notified {
                after_ms,
                late: true,
            } => format!("notified late: {}", hours(after_ms)),
            Self::Stopped => "no notice".into(),
        }
    }

    pub fn style(self, theme: Theme) -> Style {
        match self {
            Self::Running { left_ms } if left_ms < WARN_MS => theme.warn(),
            Self::Overdue { .. } | Self::Notified { late: true, .. } => theme.error(),
            Self::Notified { .. } => theme.ok(),
            Self::NotStarted | Self::Stopped => theme.dim(),
            Self::Running { .. } => theme.text(),
        }
    }
}

/// `71h 59m`: hours and minutes, however many hours (the deadline is counted in hours).
pub fn hours(ms: i64) -> String {
    let minutes = ms.max(0) / MINUTE_MS;
    format!("{}h {:02}m", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use studiovault_api::admin::DeliveryCounts;

    use super::*;

    fn incident(state: IncidentState, confirmed: Option<i64>, notified: Option<i64>) -> IncidentView {
        IncidentView {
            id: "i".into(),
            title: "t".into(),
            description: String::new(),
            state,
            created_at: 0,
            confirmed_at: confirmed,
            notify_by: confirmed.map(|c| c + 72 * HOUR_MS),
            notified_at: notified,
            resolved_at: None,
            encrypted: None,
            selection: None,
            affected: 0,
            notice: None,
            late_reason: None,
            delivery: DeliveryCounts::default(),
            timeline: Vec::new(),
        }
    }

    #[test]
    fn the_clock_runs_from_confirmation_and_turns_red_once_past() {
        let now = 1_000 * HOUR_MS;
        let open = incident(IncidentState::Investigating, None, None);
        assert_eq!(NoticeClock::of(&open, now).text(), "not confirmed");
        let fresh = incident(IncidentState::Confirmed, Some(now - MINUTE_MS), None);
        assert_eq!(NoticeClock::of(&fresh, now).text(), "71h 59m left");
        let close = incident(IncidentState::Confirmed, Some(now - 70 * HOUR_MS), None);
        assert_eq!(
            NoticeClock::of(&close, now).style(Theme::COLOUR),
            Theme::COLOUR.warn()
        );
        let past = incident(IncidentState::Confirmed, Some(now - 75 * HOUR_MS - 5 * MINUTE_MS), None);
        let clock = NoticeClock::of(&past, now);
        assert!(clock.is_overdue());
        assert_eq!(clock.text(), "OVERDUE by 3h 05m");
        assert_eq!(clock.style(Theme::COLOUR), Theme::COLOUR.error());
        let sent = incident(
            IncidentState::Notified,
            Some(now - 10 * HOUR_MS),
            Some(now - 5 * HOUR_MS + 12 * MINUTE_MS),
        );
        assert_eq!(NoticeClock::of(&sent, now).text(), "notified in 5h 12m");
        let late = incident(IncidentState::Resolved, Some(now - 100 * HOUR_MS), Some(now));
        assert_eq!(NoticeClock::of(&late, now).text(), "notified late: 100h 00m");
        let quiet = incident(IncidentState::Resolved, Some(now - HOUR_MS), None);
        assert_eq!(NoticeClock::of(&quiet, now).text(), "no notice");
    }
}

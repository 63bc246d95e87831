//! One account opened with Enter: its details, and its sessions, one of which `x` revokes.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row};
use studiovault_api::AccountStatus;
use studiovault_api::admin::{AdminSessionView, UserView};
use studiovault_api::client::segment;

use super::Pending;
use crate::format;
use crate::request::{ApiCall, Ctx, InFlight, Load};
use crate::theme::Theme;
use crate::widgets::{Cursor, Hint, ListBox, field, panel};

/// The open account's own keys, for the hint line.
pub const HINTS: [Hint; 3] = [("Esc", "back"), ("X", "revoke all"), ("x", "revoke one")];

/// Rows of the details card, borders included.
const CARD_HEIGHT: u16 = 8;

/// What a key did in the open account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailKey {
    /// It moved the selection among the sessions.
    Moved,
    Close,
    /// `x` on this session: revoke it (after asking).
    RevokeSession(String),
    /// Not the open account's own key: an action on the account, or nothing.
    Other,
}

#[derive(Debug)]
pub struct AccountDetail {
    user_id: String,
    /// `None` until they load.
    sessions: Option<Vec<AdminSessionView>>,
    cursor: Cursor,
}

impl AccountDetail {
    pub fn new(user_id: String) -> Self {
        Self {
            user_id,
            sessions: None,
            cursor: Cursor::default(),
        }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn load(&self, requests: &mut InFlight<Pending>, ctx: &mut Ctx, why: Load) {
        let path = format!("/v1/users/{}/sessions", segment(&self.user_id));
        requests.load(
            ctx,
            why,
            ApiCall::get(path),
            Pending::Sessions(self.user_id.clone()),
            |p| matches!(p, Pending::Sessions(id) if *id == self.user_id),
        );
    }

    /// The sessions of `user_id` came: true when that changes what shows.
    pub fn show_sessions(&mut self, user_id: &str, sessions: Vec<AdminSessionView>) -> bool {
        if user_id != self.user_id || self.sessions.as_ref() == Some(&sessions) {
            return false;
        }
        // The selection follows its session, not its row: the server orders sessions by last
        // use, so a refresh moves them, and `x` must end the device the admin chose.
        let selected = self
            .sessions
            .as_ref()
            .and_then(|s| s.get(self.cursor.index))
            .map(|s| s.id.clone());
        if let Some(row) = selected.and_then(|id| sessions.iter().position(|s| s.id == id)) {
            self.cursor.index = row;
        }
        self.cursor.clamp(sessions.len());
        self.sessions = Some(sessions);
        true
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> DetailKey {
        let len = self.sessions.as_ref().map_or(0, Vec::len);
        if self.cursor.handle_key(key, len) {
            return DetailKey::Moved;
        }
        match key.code {
            KeyCode::Esc | KeyCode::Backspace => DetailKey::Close,
            KeyCode::Char('x') => self
                .sessions
                .as_ref()
                .and_then(|s| s.get(self.cursor.index))
                .map_or(DetailKey::Other, |s| DetailKey::RevokeSession(s.id.clone())),
            _ => DetailKey::Other,
        }
    }

    /// `user` is the open account as the list last loaded it.
    pub fn draw(&self, user: &UserView, frame: &mut Frame, area: Rect, theme: Theme) {
        let [card, sessions_area] =
            Layout::vertical([Constraint::Length(CARD_HEIGHT), Constraint::Fill(1)]).areas(area);
        let (status, status_style) = status_sentence(&user.status, theme);
        let lines = vec![
            field("Id", user.id.clone(), theme),
            field(
                "Plan",
                format!(
                    "{}, quota {}{}",
                    user.plan,
                    format::size(user.quota_bytes),
                    if user.quota_override { " (set by an admin)" } else { "" }
                ),
                theme,
            ),
            field(
                "Storage",
                format!(
                    "{} used in {} tracks",
                    format::size(user.used_bytes),
                    format::count(user.tracks)
                ),
                theme,
            ),
            field("Status", Span::styled(status, status_style), theme),
            field("2FA", if user.totp_enabled { "on" } else { "off" }, theme),
            field(
                "Created",
                format!("{} UTC", format::minute(user.created_at)),
                theme,
            ),
        ];
        frame.render_widget(
            Paragraph::new(lines).block(panel(&user.email, theme)),
            card,
        );
        let count = self
            .sessions
            .as_ref()
            .map_or(user.sessions, |s| s.len() as u64);
        let list = ListBox::new(&format!("Sessions ({count})"), theme);
        let sessions = match &self.sessions {
            None => return list.draw_placeholder(frame, sessions_area, "Loading sessions …"),
            Some(s) if s.is_empty() => {
                return list.draw_placeholder(frame, sessions_area, "Not signed in anywhere.");
            }
            Some(s) => s,
        };
        let rows = sessions
            .iter()
            .map(|s| {
                Row::new([
                    s.client.clone().unwrap_or_else(|| "(unknown)".into()),
                    format::minute(s.created_at),
                    format::minute(s.last_seen_at),
                ])
            })
            .collect();
        list.draw_rows(
            frame,
            sessions_area,
            Row::new(["Client (hashed)", "Signed in (UTC)", "Last seen (UTC)"]),
            [
                Constraint::Fill(1),
                Constraint::Length(16),
                Constraint::Length(16),
            ],
            rows,
            &self.cursor,
        );
    }
}

fn status_sentence(status: &AccountStatus, theme: Theme) -> (String, Style) {
    match status {
        AccountStatus::Active => ("active".into(), theme.text()),
        AccountStatus::Suspended { since } => (
            format!("suspended since {} UTC", format::minute(*since)),
            theme.warn(),
        ),
        AccountStatus::PendingDeletion { purge_after, .. } => (
            format!(
                "deletion scheduled: purged after {} UTC (u cancels)",
                format::minute(*purge_after)
            ),
            theme.error(),
        ),
    }
}

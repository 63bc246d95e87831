//! Who is signed in: every session, its account, its client (a keyed hash, never an address),
//! when it began and when it was last used; revoke one.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use serde_json::Value;
use studiovault_api::admin::AdminSessionView;
use studiovault_api::client::segment;

use crate::component::{Component, Help};
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{draw_placeholder, Confirm, ConfirmKey, Cursor, Hint, TextInput};

/// Ticks between refreshes.
const REFRESH_TICKS: u32 = 5;

static HELP: Help = Help {
    summary: "who is signed in, from which client, since when; revoke",
    about: "Sessions lists everyone signed in: the account, the client (a keyed hash of its \
            address that changes daily, never the address itself), when the session began and \
            when it was last used, newest first. To end a session, select it and press x, \
            then y. To sign one person out everywhere, use X on the Users screen.",
    keys: &[
        ("x", "revoke the selected session (asks first)"),
        ("/", "search by e-mail; Enter keeps the filter, Esc clears it"),
    ],
};

#[derive(Debug)]
enum Pending {
    Load,
    Revoke(String),
}

#[derive(Debug, Default)]
pub struct Sessions {
    /// Newest first.
    sessions: Vec<AdminSessionView>,
    loaded: bool,
    error: Option<String>,
    cursor: Cursor,
    search: TextInput,
    searching: bool,
    /// The session to revoke once the admin says yes.
    confirm: Option<(Confirm, String, String)>,
    pending: HashMap<RequestId, Pending>,
    ticks: u32,
}

impl Sessions {
    fn visible(&self) -> Vec<&AdminSessionView> {
        let needle = self.search.trimmed().to_lowercase();
        self.sessions
            .iter()
            .filter(|s| needle.is_empty() || s.email.to_lowercase().contains(&needle))
            .collect()
    }

    fn load(&mut self, ctx: &mut Ctx) {
        if !self.pending.values().any(|p| matches!(p, Pending::Load)) {
            let id = ctx.send(ApiCall::get("/v1/sessions"));
            self.pending.insert(id, Pending::Load);
        }
    }

    fn ask_revoke(&mut self) -> bool {
        let Some(session) = self.visible().get(self.cursor.index).copied() else {
            return false;
        };
        let confirm = Confirm {
            title: "Revoke session",
            question: format!(
                "End the session of {} signed in at {} UTC?",
                session.email,
                format::minute(session.created_at)
            ),
            consequence: "That client is signed out now; they can sign in again with their password.".into(),
            verb: "revoke",
        };
        self.confirm = Some((confirm, session.id.clone(), session.email.clone()));
        true
    }
}

impl Component for Sessions {
    fn title(&self) -> &'static str {
        "Sessions"
    }

    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        if let Some((confirm, ..)) = &self.confirm {
            return confirm.hints();
        }
        if self.searching {
            return vec![("type", "to filter"), ("Enter", "keep"), ("Esc", "clear")];
        }
        vec![("x", "revoke"), ("/", "search"), ("R", "refresh")]
    }

    fn captures_keys(&self) -> bool {
        self.searching || self.confirm.is_some()
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.ticks = 0;
        self.load(ctx);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        self.ticks += 1;
        if self.ticks.is_multiple_of(REFRESH_TICKS) {
            self.load(ctx);
        }
        false
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if let Some((confirm, ..)) = &self.confirm {
            match confirm.handle_key(key) {
                ConfirmKey::Yes => {
                    if let Some((_, session, email)) = self.confirm.take() {
                        let id = ctx.send(ApiCall::delete(format!(
                            "/v1/sessions/{}",
                            segment(&session)
                        )));
                        self.pending.insert(id, Pending::Revoke(email));
                    }
                }
                ConfirmKey::No => self.confirm = None,
                ConfirmKey::Other => return false,
            }
            return true;
        }
        if self.searching {
            match key.code {
                KeyCode::Esc => {
                    self.search.clear();
                    self.searching = false;
                }
                KeyCode::Enter => self.searching = false,
                _ => {
                    if !self.search.handle_key(key) {
                        return false;
                    }
                    self.cursor.index = 0;
                }
            }
            return true;
        }
        if self.cursor.handle_key(key, self.visible().len()) {
            return true;
        }
        match key.code {
            KeyCode::Char('x') => self.ask_revoke(),
            KeyCode::Char('/') => {
                self.searching = true;
                true
            }
            KeyCode::Esc if !self.search.value().is_empty() => {
                self.search.clear();
                true
            }
            _ => false,
        }
    }

    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx) -> bool {
        match self.pending.remove(&id) {
            None => return false,
            Some(Pending::Load) => match decode::<Vec<AdminSessionView>>(result) {
                Ok(mut sessions) => {
                    sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
                    if self.loaded && self.error.is_none() && sessions == self.sessions {
                        return false;
                    }
                    let selected = self
                        .visible()
                        .get(self.cursor.index)
                        .map(|s| s.id.clone());
                    self.sessions = sessions;
                    self.loaded = true;
                    self.error = None;
                    if let Some(index) =
                        selected.and_then(|id| self.visible().iter().position(|s| s.id == id))
                    {
                        self.cursor.index = index;
                    }
                    self.cursor.clamp(self.visible().len());
                }
                Err(e) if !self.loaded => self.error = Some(e.to_string()),
                Err(e) => ctx.error(e.to_string()),
            },
            Some(Pending::Revoke(email)) => {
                match result {
                    Ok(_) => ctx.info(format!("Ended a session of {email}")),
                    Err(e) => ctx.error(e.to_string()),
                }
                self.load(ctx);
            }
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let visible = self.visible();
        let show_search = self.searching || !self.search.value().is_empty();
        let [search_area, table_area] = Layout::vertical([
            Constraint::Length(u16::from(show_search)),
            Constraint::Fill(1),
        ])
        .areas(area);
        if show_search {
            let (field, column) = self.search.render(
                usize::from(search_area.width.saturating_sub(12)),
                false,
                theme,
            );
            frame.render_widget(
                Paragraph::new(Line::from(vec![Span::styled(" Search: ", theme.key()), field])),
                search_area,
            );
            if self.searching {
                frame.set_cursor_position((search_area.x + 9 + column, search_area.y));
            }
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(
                format!(" Signed in ({}) ", visible.len()),
                theme.title(),
            ));
        if visible.is_empty() {
            let text = match (&self.error, self.loaded) {
                (Some(e), _) => e.clone(),
                (None, false) => "Loading sessions …".into(),
                (None, true) if self.sessions.is_empty() => "Nobody is signed in.".into(),
                (None, true) => "No session matches. Esc clears the search.".into(),
            };
            draw_placeholder(frame, table_area, block, &text, theme);
        } else {
            let table = Table::new(
                visible.iter().map(|s| {
                    Row::new([
                        s.email.clone(),
                        // Sixteen digits tell clients apart; the full hash is in the audit log.
                        s.client
                            .as_deref()
                            .map_or_else(|| "(unknown)".into(), |c| format::clip(c, 17)),
                        format::minute(s.created_at),
                        format::minute(s.last_seen_at),
                    ])
                }),
                [
                    Constraint::Fill(1),
                    Constraint::Length(17),
                    Constraint::Length(16),
                    Constraint::Length(16),
                ],
            )
            .header(
                Row::new(["Account", "Client (hashed)", "Signed in (UTC)", "Last seen (UTC)"])
                    .style(theme.dim()),
            )
            .block(block)
            .row_highlight_style(theme.selected())
            .highlight_symbol("▶ ");
            let mut state = self.cursor.table_state(visible.len());
            frame.render_stateful_widget(table, table_area, &mut state);
            self.cursor.remember(&state);
        }
        if let Some((confirm, ..)) = &self.confirm {
            confirm.draw(frame, area, theme);
        }
    }
}

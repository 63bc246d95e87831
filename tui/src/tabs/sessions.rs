//! Who is signed in: every session, its account, its client (a keyed hash, never an address),
//! when it began and when it was last used; revoke one.

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::Row;
use serde_json::Value;
use studiovault_api::admin::AdminSessionView;
use studiovault_api::client::segment;

use crate::component::{Component, Help};
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, Load, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{
    Answer, Confirm, Confirmation, EmptyText, FilteredList, Hint, ListBox, Listed,
};

static HELP: Help = Help {
    title: "Sessions",
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

const EMPTY: EmptyText = EmptyText {
    loading: "Loading sessions …",
    empty: "Nobody is signed in.",
    no_match: "No session matches. Esc clears the search.",
};

#[derive(Debug)]
enum Pending {
    Load,
    Revoke(String),
}

/// The session to end once the admin says yes, and whose it is.
#[derive(Debug, Clone)]
struct Revoke {
    session_id: String,
    email: String,
}

#[derive(Debug, Default)]
pub struct Sessions {
    /// Newest first.
    list: FilteredList<AdminSessionView>,
    confirm: Option<Confirmation<Revoke>>,
    requests: InFlight<Pending>,
    refresh: Refresh,
}

impl Listed for AdminSessionView {
    fn id(&self) -> &str {
        &self.id
    }

    fn matches(&self, needle: &str) -> bool {
        self.email.to_lowercase().contains(needle)
    }

    fn order(&self, other: &Self) -> Ordering {
        other.created_at.cmp(&self.created_at)
    }
}

impl Sessions {
    fn load(&mut self, ctx: &mut Ctx, why: Load) {
        self.requests.load(
            ctx,
            why,
            ApiCall::get("/v1/sessions"),
            Pending::Load,
            |p| matches!(p, Pending::Load),
        );
    }

    fn ask_revoke(&mut self) -> bool {
        let Some(session) = self.list.selected() else {
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
        let revoke = Revoke {
            session_id: session.id.clone(),
            email: session.email.clone(),
        };
        self.confirm = Some(Confirmation::new(confirm, revoke));
        true
    }

    fn revoke(&mut self, revoke: Revoke, ctx: &mut Ctx) {
        let call = ApiCall::delete(format!("/v1/sessions/{}", segment(&revoke.session_id)));
        self.requests.send(ctx, call, Pending::Revoke(revoke.email));
    }
}

impl Component for Sessions {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        if let Some(confirm) = &self.confirm {
            return confirm.hints();
        }
        if self.list.is_searching() {
            return vec![("type", "to filter"), ("Enter", "keep"), ("Esc", "clear")];
        }
        vec![("x", "revoke"), ("/", "search"), ("R", "refresh")]
    }

    fn captures_keys(&self) -> bool {
        self.list.is_searching() || self.confirm.is_some()
    }

    fn paste(&mut self, text: &str) -> bool {
        self.confirm.is_none() && self.list.paste(text)
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.refresh.restart();
        self.load(ctx, Load::Refresh);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        if self.refresh.due() {
            self.load(ctx, Load::Refresh);
        }
        false
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if let Some(confirm) = &self.confirm {
            match confirm.answer(key) {
                Answer::Yes(revoke) => {
                    self.confirm = None;
                    self.revoke(revoke, ctx);
                }
                Answer::No => self.confirm = None,
                Answer::Undecided => return false,
            }
            return true;
        }
        if self.list.is_searching() {
            return self.list.on_key(key);
        }
        self.list.on_key(key) || (key.code == KeyCode::Char('x') && self.ask_revoke())
    }

    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx) -> bool {
        match self.requests.take(id) {
            None => return false,
            Some(Pending::Load) => match decode::<Vec<AdminSessionView>>(result) {
                Ok(sessions) => {
                    let keep = self.list.selected().map(|s| s.id.clone());
                    return self.list.replace(sessions, keep);
                }
                Err(e) => self.list.load_failed(&e, ctx),
            },
            Some(Pending::Revoke(email)) => {
                match result {
                    Ok(_) => ctx.info(format!("Ended a session of {email}")),
                    Err(e) => ctx.error(e.to_string()),
                }
                self.load(ctx, Load::Fresh);
            }
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let table_area = self
            .list
            .search()
            .draw(frame, area, self.confirm.is_none(), theme);
        let visible = self.list.visible();
        let list = ListBox::new(&format!("Signed in ({})", visible.len()), theme);
        if visible.is_empty() {
            list.draw_placeholder(frame, table_area, &self.list.empty_text(&EMPTY));
        } else {
            let rows = visible
                .iter()
                .map(|s| {
                    Row::new([
                        s.email.clone(),
                        // Sixteen digits tell clients apart; the full hash is in the audit log.
                        s.client
                            .as_deref()
                            .map_or_else(|| "(unknown)".into(), |c| format::clip(c, 17)),
                        format::minute(s.created_at),
                        format::minute(s.last_seen_at),
                    ])
                })
                .collect();
            list.draw_rows(
                frame,
                table_area,
                Row::new(["Account", "Client (hashed)", "Signed in (UTC)", "Last seen (UTC)"]),
                [
                    Constraint::Fill(1),
                    Constraint::Length(17),
                    Constraint::Length(16),
                    Constraint::Length(16),
                ],
                rows,
                self.list.cursor(),
            );
        }
        if let Some(confirm) = &self.confirm {
            confirm.draw(frame, area, theme);
        }
    }
}

//! Accounts: search, create, suspend and resume, plan and quota, password and 2FA resets,
//! sessions, deletion. Anything that locks someone out or ends sessions asks first.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Padding, Paragraph, Row, Table};
use serde_json::{Value, json};
use studiovault_api::admin::{
    AdminSessionView, CreateUser, Revoked, UpdateUser, UserCreated, UserView,
};
use studiovault_api::client::segment;
use studiovault_api::{AccountStatus, Plan};

use crate::component::{Component, Help};
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{
    Confirm, ConfirmKey, Cursor, Dialog, Field, Form, FormEvent, Hint, TextInput,
    draw_placeholder,
};

/// Ticks between refreshes of the list (and of an open account's sessions).
const REFRESH_TICKS: u32 = 5;
/// The plans' names, in `Plan::ALL` order.
const PLANS: &[&str] = &["free", "pro", "max"];

// Field positions in the forms.
const EMAIL: usize = 0;
const PLAN: usize = 1;
const PASSWORD: usize = 2;
const QUOTA: usize = 1;

static HELP: Help = Help {
    summary: "create, find, suspend, reset and delete accounts; end their sessions",
    about: "Users lists every account. To create one, press n, type the e-mail address, choose \
            a plan with ←/→, leave the password empty to have a one-time password generated, \
            and press Enter; the password is shown once, so pass it on. To find an account, \
            press / and type part of its address. Select an account with j/k and press one of \
            the keys below; Enter opens it with its sessions. To sign someone out everywhere, \
            select the account, press X and confirm with y. Whatever locks someone out or ends \
            sessions asks first.",
    keys: &[
        ("/", "search by e-mail or id; Enter keeps the filter, Esc clears it"),
        (
            "n",
            "new account: e-mail, plan and password (empty: a one-time password is generated)",
        ),
        ("Enter", "open the selected account: its details and sessions"),
        ("e", "change the plan or the storage quota"),
        ("s", "suspend: sign-in stops and every session ends; data is kept"),
        ("r", "resume a suspended account"),
        ("p", "reset the password: a new one-time password, every session ends"),
        ("t", "reset two-factor authentication (sign-in needs only the password)"),
        ("X", "revoke all of the account's sessions (sign it out everywhere)"),
        ("x", "in an open account: revoke the selected session"),
        ("d", "schedule deletion: sign-in stops now, the purge follows the grace period"),
        ("u", "cancel a scheduled deletion"),
        ("Esc", "close the open account, or clear the search"),
    ],
};

/// Something done to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Suspend,
    Resume,
    ResetPassword,
    ResetTotp,
    RevokeSessions,
    RevokeSession(String),
    ScheduleDeletion,
    CancelDeletion,
}

impl Action {
    fn call(&self, user_id: &str) -> ApiCall {
        let user = |rest: &str| format!("/v1/users/{}{rest}", segment(user_id));
        match self {
            Self::Suspend => ApiCall::post(user("/suspend"), Value::Null),
            Self::Resume => ApiCall::post(user("/resume"), Value::Null),
            Self::ResetPassword => ApiCall::post(user("/password"), json!({})),
            Self::ResetTotp => ApiCall::post(user("/totp/reset"), Value::Null),
            Self::RevokeSessions => ApiCall::post(user("/sessions/revoke"), Value::Null),
            Self::RevokeSession(id) => ApiCall::delete(format!("/v1/sessions/{}", segment(id))),
            Self::ScheduleDeletion => ApiCall::post(user("/deletion"), Value::Null),
            Self::CancelDeletion => ApiCall::delete(user("/deletion")),
        }
    }

    /// The question to ask first, for actions that lock someone out or end sessions.
    fn confirmation(&self, email: &str) -> Option<Confirm> {
        let (title, question, consequence, verb) = match self {
            Self::Resume | Self::CancelDeletion => return None,
            Self::Suspend => (
                "Suspend account",
                format!("Suspend {email}?"),
                "Sign-in stops and every session ends now. Tracks and settings are kept; r resumes the account.",
                "suspend",
            ),
            Self::ResetPassword => (
                "Reset password",
                format!("Reset the password of {email}?"),
                "A new one-time password is generated and shown once. The old password stops working and every session ends.",
                "reset",
            ),
            Self::ResetTotp => (
                "Reset two-factor authentication",
                format!("Remove the second factor of {email}?"),
                "Sign-in will need only the password until they enrol again. Do this only once you are sure who is asking.",
                "reset 2FA",
            ),
            Self::RevokeSessions => (
                "Revoke sessions",
                format!("Sign {email} out everywhere?"),
                "Every session of the account ends now; they can sign in again with their password.",
                "revoke all",
            ),
            Self::RevokeSession(_) => (
                "Revoke session",
                format!("End this session of {email}?"),
                "That device is signed out now; they can sign in again with their password.",
                "revoke",
            ),
            Self::ScheduleDeletion => (
                "Schedule deletion",
                format!("Delete {email}?"),
                "Sign-in stops and every session ends now. The account and all its tracks are purged after the grace period unless you cancel with u.",
                "delete",
            ),
        };
        Some(Confirm {
            title,
            question,
            consequence: consequence.to_owned(),
            verb,
        })
    }

    fn done(&self, email: &str) -> String {
        match self {
            Self::Suspend => format!("Suspended {email}: sign-in stopped, sessions ended"),
            Self::Resume => format!("Resumed {email}"),
            Self::ResetPassword => format!("Reset the password of {email}"),
            Self::ResetTotp => format!("Removed the second factor of {email}"),
            Self::RevokeSessions => format!("Signed {email} out everywhere"),
            Self::RevokeSession(_) => format!("Ended one session of {email}"),
            Self::ScheduleDeletion => format!("Deletion of {email} scheduled"),
            Self::CancelDeletion => format!("Deletion of {email} cancelled"),
        }
    }
}

#[derive(Debug)]
enum Modal {
    Create(Form),
    Edit {
        user: UserView,
        form: Form,
    },
    Confirm {
        confirm: Confirm,
        action: Action,
        user_id: String,
        email: String,
    },
    /// A generated password, shown once.
    Secret {
        title: &'static str,
        email: String,
        password: String,
        note: &'static str,
    },
}

#[derive(Debug)]
enum Pending {
    Load,
    Sessions(String),
    Create,
    Edit,
    Act(Action, String),
}

/// The account opened with Enter.
#[derive(Debug)]
struct Opened {
    user_id: String,
    sessions: Option<Vec<AdminSessionView>>,
    cursor: Cursor,
}

#[derive(Debug, Default)]
pub struct Users {
    users: Vec<UserView>,
    loaded: bool,
    error: Option<String>,
    cursor: Cursor,
    search: TextInput,
    searching: bool,
    opened: Option<Opened>,
    modal: Option<Modal>,
    pending: HashMap<RequestId, Pending>,
    ticks: u32,
}

impl Users {
    fn visible(&self) -> Vec<&UserView> {
        let needle = self.search.trimmed().to_lowercase();
        self.users
            .iter()
            .filter(|u| needle.is_empty() || u.email.to_lowercase().contains(&needle) || u.id.contains(&needle))
            .collect()
    }

    fn selected(&self) -> Option<&UserView> {
        match &self.opened {
            Some(open) => self.users.iter().find(|u| u.id == open.user_id),
            None => self.visible().get(self.cursor.index).copied(),
        }
    }

    fn is_pending(&self, what: impl Fn(&Pending) -> bool) -> bool {
        self.pending.values().any(what)
    }

    fn load(&mut self, ctx: &mut Ctx) {
        if !self.is_pending(|p| matches!(p, Pending::Load)) {
            let id = ctx.send(ApiCall::get("/v1/users"));
            self.pending.insert(id, Pending::Load);
        }
        if let Some(open) = &self.opened {
            let user_id = open.user_id.clone();
            if !self.is_pending(|p| matches!(p, Pending::Sessions(id) if *id == user_id)) {
                let id = ctx.send(ApiCall::get(format!(
                    "/v1/users/{}/sessions",
                    segment(&user_id)
                )));
                self.pending.insert(id, Pending::Sessions(user_id));
            }
        }
    }

    /// Keeps the same account selected when the list changes under the cursor.
    fn select_id(&mut self, user_id: &str) {
        if let Some(index) = self.visible().iter().position(|u| u.id == user_id) {
            self.cursor.index = index;
        }
    }

    fn replace_user(&mut self, user: UserView) {
        match self.users.iter_mut().find(|u| u.id == user.id) {
            Some(slot) => *slot = user,
            None => {
                let id = user.id.clone();
                self.users.push(user);
                self.users.sort_by(|a, b| a.email.cmp(&b.email));
                self.select_id(&id);
            }
        }
    }

    fn start(&mut self, action: Action, ctx: &mut Ctx) {
        let Some(user) = self.selected() else {
            return;
        };
        let (user_id, email) = (user.id.clone(), user.email.clone());
        match action.confirmation(&email) {
            Some(confirm) => {
                self.modal = Some(Modal::Confirm {
                    confirm,
                    action,
                    user_id,
                    email,
                })
            }
            None => self.run(action, &user_id, email, ctx),
        }
    }

    fn run(&mut self, action: Action, user_id: &str, email: String, ctx: &mut Ctx) {
        let id = ctx.send(action.call(user_id));
        self.pending.insert(id, Pending::Act(action, email));
    }

    fn open_create(&mut self) {
        self.modal = Some(Modal::Create(Form::new(
            "New account",
            "create",
            vec![
                Field::text("E-mail", "The address the person signs in with.", ""),
                Field::choice(
                    "Plan",
                    "The plan sets the storage quota; change it later with e.",
                    PLANS,
                    0,
                ),
                Field::secret(
                    "Password",
                    "Leave empty to generate a one-time password (shown once). A typed password must meet the server's length rule.",
                ),
            ],
        )));
    }

    fn open_edit(&mut self) {
        let Some(user) = self.selected().cloned() else {
            return;
        };
        let plan = Plan::ALL.iter().position(|p| *p == user.plan).unwrap_or(0);
        let quota = if user.quota_override {
            format::exact_size(user.quota_bytes)
        } else {
            String::new()
        };
        let form = Form::new(
            format!("Plan and quota of {}", format::clip(&user.email, 36)),
            "save",
            vec![
                Field::choice("Plan", "The plan sets the default storage quota.", PLANS, plan),
                Field::text(
                    "Quota",
                    "A size such as 500GiB or 2TiB overrides the plan's quota; leave empty to use the plan's.",
                    &quota,
                ),
            ],
        );
        self.modal = Some(Modal::Edit { user, form });
    }

    fn submit_create(form: &mut Form, ctx: &mut Ctx) -> Option<RequestId> {
        let email = form.text(EMAIL).to_owned();
        if !email.contains('@') {
            form.error = Some("type the e-mail address the person signs in with".into());
            return None;
        }
        let password = Some(form.text(PASSWORD).to_owned()).filter(|p| !p.is_empty());
        let plan = Plan::ALL.get(form.choice(PLAN)).copied().unwrap_or(Plan::Free);
        let body = serde_json::to_value(CreateUser {
            email,
            plan,
            password,
        })
        .unwrap_or_default();
        form.busy = true;
        Some(ctx.send(ApiCall::post("/v1/users", body)))
    }

    /// `None` when nothing changed or the input is wrong (the form then says why).
    fn submit_edit(user: &UserView, form: &mut Form, ctx: &mut Ctx) -> Option<RequestId> {
        let plan = Plan::ALL.get(form.choice(0)).copied().unwrap_or(user.plan);
        let quota_text = form.text(QUOTA);
        let quota_bytes = if quota_text.is_empty() {
            user.quota_override.then_some(None)
        } else {
            match format::parse_size(quota_text) {
                Ok(bytes) if user.quota_override && bytes == user.quota_bytes => None,
                Ok(bytes) => Some(Some(bytes)),
                Err(e) => {
                    form.error = Some(e.to_string());
                    return None;
                }
            }
        };
        let update = UpdateUser {
            plan: (plan != user.plan).then_some(plan),
            quota_bytes,
        };
        if update.plan.is_none() && update.quota_bytes.is_none() {
            form.error = Some("nothing changed: pick another plan or type a quota".into());
            return None;
        }
        form.busy = true;
        let body = serde_json::to_value(update).unwrap_or_default();
        Some(ctx.send(ApiCall::patch(
            format!("/v1/users/{}", segment(&user.id)),
            body,
        )))
    }

    fn on_modal_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(modal) = self.modal.as_mut() else {
            return false;
        };
        match modal {
            Modal::Create(form) => match form.handle_key(key) {
                FormEvent::Cancel => self.modal = None,
                FormEvent::Submit => {
                    if let Some(id) = Self::submit_create(form, ctx) {
                        self.pending.insert(id, Pending::Create);
                    }
                }
                FormEvent::Changed => {}
                FormEvent::Ignored => return false,
            },
            Modal::Edit { user, form } => match form.handle_key(key) {
                FormEvent::Cancel => self.modal = None,
                FormEvent::Submit => {
                    if let Some(id) = Self::submit_edit(user, form, ctx) {
                        self.pending.insert(id, Pending::Edit);
                    }
                }
                FormEvent::Changed => {}
                FormEvent::Ignored => return false,
            },
            Modal::Confirm { confirm, .. } => match confirm.handle_key(key) {
                ConfirmKey::Yes => {
                    if let Some(Modal::Confirm {
                        action,
                        user_id,
                        email,
                        ..
                    }) = self.modal.take()
                    {
                        self.run(action, &user_id, email, ctx);
                    }
                }
                ConfirmKey::No => self.modal = None,
                ConfirmKey::Other => return false,
            },
            Modal::Secret { .. } => match key.code {
                KeyCode::Enter | KeyCode::Esc => self.modal = None,
                _ => return false,
            },
        }
        true
    }

    fn on_search_key(&mut self, key: &KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc => {
                self.search.clear();
                self.searching = false;
            }
            KeyCode::Enter => self.searching = false,
            KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown => {
                let len = self.visible().len();
                return self.cursor.handle_key(key, len);
            }
            _ => {
                if !self.search.handle_key(key) {
                    return false;
                }
                self.cursor.index = 0;
            }
        }
        true
    }

    fn on_action_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let action = match key.code {
            KeyCode::Char('s') => Action::Suspend,
            KeyCode::Char('r') => Action::Resume,
            KeyCode::Char('p') => Action::ResetPassword,
            KeyCode::Char('t') => Action::ResetTotp,
            KeyCode::Char('X') => Action::RevokeSessions,
            KeyCode::Char('d') => Action::ScheduleDeletion,
            KeyCode::Char('u') => Action::CancelDeletion,
            KeyCode::Char('e') => {
                self.open_edit();
                return self.modal.is_some();
            }
            _ => return false,
        };
        if self.selected().is_none() {
            return false;
        }
        self.start(action, ctx);
        true
    }

    /// Applies a successful reply; true when something visible changed.
    fn on_reply_ok(
        &mut self,
        pending: Pending,
        value: Value,
        ctx: &mut Ctx,
    ) -> Result<bool, ApiFailure> {
        match pending {
            Pending::Load => {
                let mut users: Vec<UserView> = decode(Ok(value))?;
                users.sort_by(|a, b| a.email.cmp(&b.email));
                if self.loaded && self.error.is_none() && users == self.users {
                    return Ok(false);
                }
                let selected = self.selected().map(|u| u.id.clone());
                self.users = users;
                self.loaded = true;
                self.error = None;
                if let Some(id) = selected {
                    self.select_id(&id);
                }
                self.cursor.clamp(self.visible().len());
                if let Some(open) = &self.opened
                    && !self.users.iter().any(|u| u.id == open.user_id)
                {
                    self.opened = None;
                }
            }
            Pending::Sessions(user_id) => {
                let sessions: Vec<AdminSessionView> = decode(Ok(value))?;
                let Some(open) = self.opened.as_mut().filter(|o| o.user_id == user_id) else {
                    return Ok(false);
                };
                if open.sessions.as_ref() == Some(&sessions) {
                    return Ok(false);
                }
                open.cursor.clamp(sessions.len());
                open.sessions = Some(sessions);
            }
            Pending::Create => {
                let created: UserCreated = decode(Ok(value))?;
                let email = created.user.email.clone();
                let plan = created.user.plan;
                self.replace_user(created.user);
                self.modal = match created.one_time_password {
                    Some(password) => Some(Modal::Secret {
                        title: "Account created",
                        email,
                        password,
                        note: "This one-time password is shown only now: pass it on securely.",
                    }),
                    None => {
                        ctx.info(format!("Created {email} ({plan}) with the password you typed"));
                        None
                    }
                };
                self.load(ctx);
            }
            Pending::Edit => {
                let user: UserView = decode(Ok(value))?;
                ctx.info(format!(
                    "{}: plan {}, quota {}",
                    user.email,
                    user.plan,
                    format::size(user.quota_bytes)
                ));
                self.replace_user(user);
                self.modal = None;
            }
            Pending::Act(action, email) => {
                match &action {
                    Action::ResetPassword => {
                        let reset: UserCreated = decode(Ok(value))?;
                        self.replace_user(reset.user);
                        if let Some(password) = reset.one_time_password {
                            self.modal = Some(Modal::Secret {
                                title: "Password reset",
                                email: email.clone(),
                                password,
                                note: "Every session of the account has ended. This one-time password is shown only now: pass it on securely.",
                            });
                        }
                        ctx.info(action.done(&email));
                    }
                    Action::RevokeSessions => {
                        let revoked: Revoked = decode(Ok(value))?;
                        ctx.info(format!(
                            "Signed {email} out everywhere: {} session(s) revoked",
                            revoked.revoked
                        ));
                    }
                    Action::RevokeSession(_) => ctx.info(action.done(&email)),
                    _ => {
                        self.replace_user(decode(Ok(value))?);
                        ctx.info(action.done(&email));
                    }
                }
                self.load(ctx);
            }
        }
        Ok(true)
    }

    fn draw_list(&self, frame: &mut Frame, area: Rect, theme: Theme) {
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
                Paragraph::new(Line::from(vec![
                    Span::styled(" Search: ", theme.key()),
                    field,
                ])),
                search_area,
            );
            if self.searching && self.modal.is_none() {
                frame.set_cursor_position((search_area.x + 9 + column, search_area.y));
            }
        }
        let title = if self.search.trimmed().is_empty() {
            format!(" Users ({}) ", self.users.len())
        } else {
            format!(
                " Users: {} of {} match \"{}\" ",
                visible.len(),
                self.users.len(),
                format::clip(self.search.trimmed(), 20)
            )
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(title, theme.title()));
        if visible.is_empty() {
            let text = match (&self.error, self.loaded, self.users.is_empty()) {
                (Some(error), _, _) => error.clone(),
                (None, false, _) => "Loading accounts …".to_owned(),
                (None, true, true) => "No accounts yet. Press n to create one.".to_owned(),
                (None, true, false) => "No account matches. Esc clears the search.".to_owned(),
            };
            draw_placeholder(frame, table_area, block, &text, theme);
            return;
        }
        // Track counts get a column when there is room for it.
        let wide = table_area.width >= 100;
        let mut header = vec!["E-mail", "Plan", "Storage"];
        let mut widths = vec![
            Constraint::Fill(1),
            Constraint::Length(4),
            Constraint::Length(20),
        ];
        if wide {
            header.push("Tracks");
            widths.push(Constraint::Length(6));
        }
        header.extend(["2FA", "Sessions", "Status"]);
        widths.extend([
            Constraint::Length(3),
            Constraint::Length(8),
            Constraint::Length(9),
        ]);
        let rows = visible.iter().map(|u| {
            let (status, style) = status_word(&u.status, theme);
            let mut cells = vec![
                Cell::from(u.email.clone()),
                Cell::from(u.plan.as_str()),
                Cell::from(format!(
                    "{} / {}",
                    format::size(u.used_bytes),
                    format::size(u.quota_bytes)
                )),
            ];
            if wide {
                cells.push(Cell::from(format!("{:>6}", format::count(u.tracks))));
            }
            cells.extend([
                Cell::from(if u.totp_enabled { "on" } else { "off" }),
                Cell::from(format!("{:>8}", u.sessions)),
                Cell::from(Span::styled(status, style)),
            ]);
            Row::new(cells)
        });
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(theme.dim()))
            .block(block)
            .row_highlight_style(theme.selected())
            .highlight_symbol("▶ ");
        let mut state = self.cursor.table_state(visible.len());
        frame.render_stateful_widget(table, table_area, &mut state);
        self.cursor.remember(&state);
    }

    fn draw_opened(&self, open: &Opened, frame: &mut Frame, area: Rect, theme: Theme) {
        let Some(user) = self.users.iter().find(|u| u.id == open.user_id) else {
            return;
        };
        let [card, sessions_area] =
            Layout::vertical([Constraint::Length(8), Constraint::Fill(1)]).areas(area);
        let label = |text: &'static str| Span::styled(format!("{text:<10} "), theme.dim());
        let (status, status_style) = status_sentence(&user.status, theme);
        let lines = vec![
            Line::from(vec![label("Id"), Span::raw(user.id.clone())]),
            Line::from(vec![
                label("Plan"),
                Span::raw(format!(
                    "{}, quota {}{}",
                    user.plan,
                    format::size(user.quota_bytes),
                    if user.quota_override { " (set by an admin)" } else { "" }
                )),
            ]),
            Line::from(vec![
                label("Storage"),
                Span::raw(format!(
                    "{} used in {} tracks",
                    format::size(user.used_bytes),
                    format::count(user.tracks)
                )),
            ]),
            Line::from(vec![label("Status"), Span::styled(status, status_style)]),
            Line::from(vec![
                label("2FA"),
                Span::raw(if user.totp_enabled { "on" } else { "off" }),
            ]),
            Line::from(vec![
                label("Created"),
                Span::raw(format!("{} UTC", format::minute(user.created_at))),
            ]),
        ];
        frame.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .padding(Padding::horizontal(1))
                    .title(Span::styled(format!(" {} ", user.email), theme.title())),
            ),
            card,
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(
                format!(
                    " Sessions ({}) ",
                    open.sessions.as_ref().map_or(user.sessions, |s| s.len() as u64)
                ),
                theme.title(),
            ));
        let sessions = match &open.sessions {
            None => {
                draw_placeholder(frame, sessions_area, block, "Loading sessions …", theme);
                return;
            }
            Some(s) if s.is_empty() => {
                draw_placeholder(frame, sessions_area, block, "Not signed in anywhere.", theme);
                return;
            }
            Some(s) => s,
        };
        let table = Table::new(
            sessions.iter().map(|s| {
                Row::new([
                    s.client.clone().unwrap_or_else(|| "(unknown)".into()),
                    format::minute(s.created_at),
                    format::minute(s.last_seen_at),
                ])
            }),
            [
                Constraint::Fill(1),
                Constraint::Length(16),
                Constraint::Length(16),
            ],
        )
        .header(Row::new(["Client (hashed)", "Signed in (UTC)", "Last seen (UTC)"]).style(theme.dim()))
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶ ");
        let mut state = open.cursor.table_state(sessions.len());
        frame.render_stateful_widget(table, sessions_area, &mut state);
        open.cursor.remember(&state);
    }
}

/// One word for the list, readable without colour.
fn status_word(status: &AccountStatus, theme: Theme) -> (&'static str, ratatui::style::Style) {
    match status {
        AccountStatus::Active => ("active", theme.text()),
        AccountStatus::Suspended { .. } => ("suspended", theme.warn()),
        AccountStatus::PendingDeletion { .. } => ("deleting", theme.error()),
    }
}

fn status_sentence(status: &AccountStatus, theme: Theme) -> (String, ratatui::style::Style) {
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

impl Component for Users {
    fn title(&self) -> &'static str {
        "Users"
    }

    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.modal {
            Some(Modal::Create(form) | Modal::Edit { form, .. }) => return form.hints(),
            Some(Modal::Confirm { confirm, .. }) => return confirm.hints(),
            Some(Modal::Secret { .. }) => return vec![("Enter", "done")],
            None => {}
        }
        if self.searching {
            return vec![
                ("type", "to filter"),
                ("↑/↓", "move"),
                ("Enter", "keep"),
                ("Esc", "clear"),
            ];
        }
        let actions: [Hint; 7] = [
            ("s", "suspend"),
            ("r", "resume"),
            ("e", "plan"),
            ("p", "password"),
            ("t", "2FA"),
            ("d", "delete"),
            ("u", "undelete"),
        ];
        let mut hints = if self.opened.is_some() {
            vec![("Esc", "back"), ("X", "revoke all"), ("x", "revoke one")]
        } else {
            vec![("n", "new"), ("/", "search"), ("Enter", "open"), ("X", "sign out")]
        };
        hints.extend(actions);
        hints
    }

    fn captures_keys(&self) -> bool {
        self.searching || self.modal.is_some()
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
        if self.modal.is_some() {
            return self.on_modal_key(key, ctx);
        }
        if self.searching {
            return self.on_search_key(key);
        }
        if let Some(open) = self.opened.as_mut() {
            let len = open.sessions.as_ref().map_or(0, Vec::len);
            if open.cursor.handle_key(key, len) {
                return true;
            }
            match key.code {
                KeyCode::Esc | KeyCode::Backspace => {
                    self.opened = None;
                    return true;
                }
                KeyCode::Char('x') => {
                    let session = open
                        .sessions
                        .as_ref()
                        .and_then(|s| s.get(open.cursor.index))
                        .map(|s| s.id.clone());
                    return match session {
                        Some(session) => {
                            self.start(Action::RevokeSession(session), ctx);
                            true
                        }
                        None => false,
                    };
                }
                _ => return self.on_action_key(key, ctx),
            }
        }
        let len = self.visible().len();
        if self.cursor.handle_key(key, len) {
            return true;
        }
        match key.code {
            KeyCode::Char('/') => self.searching = true,
            KeyCode::Char('n') => self.open_create(),
            KeyCode::Esc if !self.search.value().is_empty() => {
                self.search.clear();
            }
            KeyCode::Enter => {
                let Some(user_id) = self.selected().map(|u| u.id.clone()) else {
                    return false;
                };
                self.opened = Some(Opened {
                    user_id,
                    sessions: None,
                    cursor: Cursor::default(),
                });
                self.load(ctx);
            }
            _ => return self.on_action_key(key, ctx),
        }
        true
    }

    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx) -> bool {
        let Some(pending) = self.pending.remove(&id) else {
            return false;
        };
        let failed_form = matches!(pending, Pending::Create | Pending::Edit);
        let is_load = matches!(pending, Pending::Load);
        let error = match result.and_then(|value| self.on_reply_ok(pending, value, ctx)) {
            Ok(changed) => return changed,
            Err(error) => error,
        };
        match (&mut self.modal, failed_form) {
            (Some(Modal::Create(form) | Modal::Edit { form, .. }), true) => {
                form.busy = false;
                form.error = Some(error.to_string());
            }
            _ if is_load && !self.loaded => self.error = Some(error.to_string()),
            _ => ctx.error(error.to_string()),
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        match &self.opened {
            Some(open) => self.draw_opened(open, frame, area, theme),
            None => self.draw_list(frame, area, theme),
        }
        match &self.modal {
            Some(Modal::Create(form) | Modal::Edit { form, .. }) => form.draw(frame, area, theme),
            Some(Modal::Confirm { confirm, .. }) => confirm.draw(frame, area, theme),
            Some(Modal::Secret {
                title,
                email,
                password,
                note,
            }) => Dialog::new(*title, 60)
                .field("Account", email.clone(), theme.text())
                .field("Password", password.clone(), theme.title())
                .blank()
                .text(*note, theme.warn())
                .keys(vec![("Enter", "done")])
                .draw(frame, area, theme),
            None => {}
        }
    }
}

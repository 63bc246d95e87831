//! Accounts: search, create, suspend and resume, plan and quota, password and 2FA resets,
//! sessions, deletion. Anything that locks someone out or ends sessions asks first.
//!
//! The tab routes keys and replies between its parts: `list` (the accounts, their search and
//! selection), `detail` (one account opened with its sessions), `forms` (a new account; plan
//! and quota), `actions` (what can be done to an account, and what is asked first) and
//! `password` (a generated password, shown once).

mod actions;
mod detail;
mod forms;
mod list;
mod password;

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use serde_json::Value;
use studiovault_api::admin::{AdminSessionView, Revoked, UserCreated, UserView};

use crate::component::{Component, Help};
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, Load, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{Answer, Confirmation, FormEvent, Hint};
use actions::{AccountAction, Action};
use detail::{AccountDetail, DetailKey};
use forms::AccountForm;
use list::UserList;
use password::OneTimePassword;

static HELP: Help = Help {
    title: "Users",
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

/// What each call the tab sent was for.
#[derive(Debug)]
enum Pending {
    Load,
    /// The sessions of the account with this id.
    Sessions(String),
    Create,
    Edit,
    /// An action, and the e-mail of the account it was done to.
    Act(Action, String),
}

/// A box over the list or the open account. At most one is open, and it has the keys.
#[derive(Debug)]
enum Overlay {
    Form(AccountForm),
    Confirm(Confirmation<AccountAction>),
    Password(OneTimePassword),
}

#[derive(Debug, Default)]
pub struct Users {
    list: UserList,
    /// The account opened with Enter.
    opened: Option<AccountDetail>,
    overlay: Option<Overlay>,
    /// One-time passwords that came while another box was open (a form half typed): each
    /// shows when the box before it closes, so none is lost and no typing is.
    passwords_waiting: VecDeque<OneTimePassword>,
    requests: InFlight<Pending>,
    refresh: Refresh,
}

impl Users {
    /// The account the keys act on: the open one, else the one selected in the list.
    fn selected(&self) -> Option<&UserView> {
        match &self.opened {
            Some(open) => self.list.find(open.user_id()),
            None => self.list.selected(),
        }
    }

    /// Closes the open box; a one-time password waiting for it shows next.
    fn close_overlay(&mut self) {
        self.overlay = self.passwords_waiting.pop_front().map(Overlay::Password);
    }

    /// Shows a one-time password now, or after the box that is open closes.
    fn show_password(&mut self, password: OneTimePassword) {
        match self.overlay {
            None => self.overlay = Some(Overlay::Password(password)),
            Some(_) => self.passwords_waiting.push_back(password),
        }
    }

    /// Whether the open box is the form that was sent as request `id`.
    fn form_awaits(&self, id: RequestId) -> bool {
        matches!(&self.overlay, Some(Overlay::Form(form)) if form.awaits(id))
    }

    fn load(&mut self, ctx: &mut Ctx, why: Load) {
        self.requests.load(
            ctx,
            why,
            ApiCall::get("/v1/users"),
            Pending::Load,
            |p| matches!(p, Pending::Load),
        );
        if let Some(open) = &self.opened {
            open.load(&mut self.requests, ctx, why);
        }
    }

    /// Sends the action on the selected account, or asks first when it calls for that.
    fn start(&mut self, action: Action, ctx: &mut Ctx) {
        let Some(user) = self.selected() else {
            return;
        };
        let action = AccountAction::new(action, user);
        match action.confirmation() {
            Some(confirm) => {
                self.overlay = Some(Overlay::Confirm(Confirmation::new(confirm, action)));
            }
            None => action.send(&mut self.requests, ctx),
        }
    }

    fn on_action_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if key.code == KeyCode::Char('e') {
            if let Some(user) = self.selected() {
                self.overlay = Some(Overlay::Form(AccountForm::edit(user)));
            }
            return self.overlay.is_some();
        }
        let Some(action) = Action::for_key(key) else {
            return false;
        };
        if self.selected().is_none() {
            return false;
        }
        self.start(action, ctx);
        true
    }

    fn on_overlay_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(overlay) = self.overlay.as_mut() else {
            return false;
        };
        match overlay {
            Overlay::Form(form) => match form.on_key(key, &mut self.requests, ctx) {
                FormEvent::Cancel => self.close_overlay(),
                FormEvent::Submit | FormEvent::Changed => {}
                FormEvent::Ignored => return false,
            },
            Overlay::Confirm(confirm) => match confirm.answer(key) {
                Answer::Yes(action) => {
                    self.close_overlay();
                    action.send(&mut self.requests, ctx);
                }
                Answer::No => self.close_overlay(),
                Answer::Undecided => return false,
            },
            Overlay::Password(password) => {
                if !password.closes_on(key) {
                    return false;
                }
                self.close_overlay();
            }
        }
        true
    }

    /// Applies a successful reply to request `id`; true when something visible changed.
    fn on_reply_ok(
        &mut self,
        id: RequestId,
        pending: Pending,
        value: Value,
        ctx: &mut Ctx,
    ) -> Result<bool, ApiFailure> {
        match pending {
            Pending::Load => {
                let users: Vec<UserView> = decode(Ok(value))?;
                let keep = self.selected().map(|u| u.id.clone());
                if !self.list.replace(users, keep) {
                    return Ok(false);
                }
                if let Some(open) = &self.opened
                    && self.list.find(open.user_id()).is_none()
                {
                    self.opened = None;
                }
            }
            Pending::Sessions(user_id) => {
                let sessions: Vec<AdminSessionView> = decode(Ok(value))?;
                let Some(open) = self.opened.as_mut() else {
                    return Ok(false);
                };
                return Ok(open.show_sessions(&user_id, sessions));
            }
            Pending::Create => {
                let created: UserCreated = decode(Ok(value))?;
                let email = created.user.email.clone();
                let plan = created.user.plan;
                self.list.upsert(created.user);
                if self.form_awaits(id) {
                    self.close_overlay();
                }
                match created.one_time_password {
                    Some(password) => {
                        self.show_password(OneTimePassword::account_created(email, password));
                    }
                    None => {
                        ctx.info(format!("Created {email} ({plan}) with the password you typed"));
                    }
                }
                self.load(ctx, Load::Fresh);
            }
            Pending::Edit => {
                let user: UserView = decode(Ok(value))?;
                ctx.info(format!(
                    "{}: plan {}, quota {}",
                    user.email,
                    user.plan,
                    format::size(user.quota_bytes)
                ));
                self.list.upsert(user);
                if self.form_awaits(id) {
                    self.close_overlay();
                }
            }
            Pending::Act(action, email) => {
                match &action {
                    Action::ResetPassword => {
                        let reset: UserCreated = decode(Ok(value))?;
                        self.list.upsert(reset.user);
                        if let Some(password) = reset.one_time_password {
                            self.show_password(OneTimePassword::password_reset(
                                email.clone(),
                                password,
                            ));
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
                        self.list.upsert(decode(Ok(value))?);
                        ctx.info(action.done(&email));
                    }
                }
                self.load(ctx, Load::Fresh);
            }
        }
        Ok(true)
    }
}

impl Component for Users {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.overlay {
            Some(Overlay::Form(form)) => return form.hints(),
            Some(Overlay::Confirm(confirm)) => return confirm.hints(),
            Some(Overlay::Password(password)) => return password.hints(),
            None => {}
        }
        if self.list.is_searching() {
            return list::SEARCH_HINTS.to_vec();
        }
        let mut hints = if self.opened.is_some() {
            detail::HINTS.to_vec()
        } else {
            list::HINTS.to_vec()
        };
        hints.extend(actions::HINTS);
        hints
    }

    fn captures_keys(&self) -> bool {
        self.list.is_searching() || self.overlay.is_some()
    }

    fn paste(&mut self, text: &str) -> bool {
        match &mut self.overlay {
            Some(Overlay::Form(form)) => form.paste(text),
            Some(_) => false,
            None => self.list.paste(text),
        }
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
        if self.overlay.is_some() {
            return self.on_overlay_key(key, ctx);
        }
        if self.list.is_searching() {
            return self.list.on_key(key);
        }
        if let Some(open) = self.opened.as_mut() {
            return match open.on_key(key) {
                DetailKey::Moved => true,
                DetailKey::Close => {
                    self.opened = None;
                    true
                }
                DetailKey::RevokeSession(session) => {
                    self.start(Action::RevokeSession(session), ctx);
                    true
                }
                DetailKey::Other => self.on_action_key(key, ctx),
            };
        }
        if self.list.on_key(key) {
            return true;
        }
        match key.code {
            KeyCode::Char('n') => self.overlay = Some(Overlay::Form(AccountForm::create())),
            KeyCode::Enter => {
                let Some(user_id) = self.list.selected().map(|u| u.id.clone()) else {
                    return false;
                };
                self.opened = Some(AccountDetail::new(user_id));
                self.load(ctx, Load::Refresh);
            }
            _ => return self.on_action_key(key, ctx),
        }
        true
    }

    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx) -> bool {
        let Some(pending) = self.requests.take(id) else {
            return false;
        };
        let is_load = matches!(pending, Pending::Load);
        let error = match result.and_then(|value| self.on_reply_ok(id, pending, value, ctx)) {
            Ok(changed) => return changed,
            Err(error) => error,
        };
        match &mut self.overlay {
            Some(Overlay::Form(form)) if form.awaits(id) => form.refused(&error),
            _ if is_load => self.list.load_failed(&error, ctx),
            _ => ctx.error(error.to_string()),
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        match &self.opened {
            Some(open) => {
                if let Some(user) = self.list.find(open.user_id()) {
                    open.draw(user, frame, area, theme);
                }
            }
            None => self.list.draw(frame, area, self.overlay.is_none(), theme),
        }
        match &self.overlay {
            Some(Overlay::Form(form)) => form.draw(frame, area, theme),
            Some(Overlay::Confirm(confirm)) => confirm.draw(frame, area, theme),
            Some(Overlay::Password(password)) => password.draw(frame, area, theme),
            None => {}
        }
    }
}

//! The audit log: a live tail (newest first), filters by user, action and time, a record in
//! full, and verification of the hash chain with the first broken record if there is one.
//!
//! The tab routes keys and replies between its parts: `log` (the records, their loading and
//! the table), `accounts` (the e-mails behind user ids), `filter` (the filters and their
//! form), `record` (one record in full) and `verify` (the chain's check and its report).

mod accounts;
mod filter;
mod log;
mod record;
mod verify;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use serde_json::Value;
use studiovault_api::admin::{AuditEntry, AuditVerifyReport, UserView};
use studiovault_api::client::segment;

use crate::component::{Component, Help};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{FormEvent, Hint};
use filter::{Filter, FilterForm, Submitted};
use log::{Load, Log};
use verify::{LastVerify, Verification};

static HELP: Help = Help {
    title: "Audit",
    summary: "every recorded action, live; filters; verify the hash chain",
    about: "Audit shows the log of every storage and admin action, newest first, and follows \
            new records as they are written. To verify the audit chain, press v: the server \
            re-hashes every record and checks the signed checkpoints, and the result names the \
            first broken record if there is one. Press / to filter by user (e-mail or id), \
            action (such as user.suspend, or a prefix such as track) and time range; c clears \
            the filters. Enter shows the selected record in full. Moving past the last record \
            pages older ones in; the list holds 5 000 records, so far back it lets the newest \
            go and stops following, and g loads from the newest again.",
    keys: &[
        ("v", "verify the chain: every record's hash and the signed checkpoints"),
        ("/", "filter by user, action, since and until"),
        ("c", "clear the filters"),
        ("Enter", "show the selected record in full (j/k then step through records)"),
        ("p", "pause or resume following new records"),
        ("g", "back to the newest record (loads them again after paging far back)"),
        ("Esc", "close a record or a verification result"),
    ],
};

/// What each call the tab sent was for.
#[derive(Debug)]
enum Pending {
    /// A load of the log, for the reload (generation) it belongs to.
    Log(Load, u64),
    Emails,
    Verify,
    /// The first broken record, by sequence number.
    Broken(u64),
    /// A filter whose user was typed as an e-mail, waiting for its id.
    ResolveUser(Filter, String),
}

/// A box over the log. At most one is open.
#[derive(Debug)]
enum Overlay {
    /// The selected record in full.
    Record,
    Filter(FilterForm),
    Verification(Verification),
}

#[derive(Debug, Default)]
pub struct Audit {
    log: Log,
    overlay: Option<Overlay>,
    last_verify: Option<LastVerify>,
    requests: InFlight<Pending>,
}

impl Audit {
    fn verify(&mut self, ctx: &mut Ctx) {
        if !self.requests.any(|p| matches!(p, Pending::Verify)) {
            self.requests.send(
                ctx,
                ApiCall::post("/v1/audit/verify", Value::Null).long(),
                Pending::Verify,
            );
        }
        self.overlay = Some(Overlay::Verification(Verification::Running));
    }

    fn apply_filter(&mut self, filter: Filter, ctx: &mut Ctx) {
        self.log.set_filter(filter);
        self.overlay = None;
        self.log.reload(&mut self.requests, ctx);
    }

    fn submit_filter(&mut self, ctx: &mut Ctx) {
        let Some(Overlay::Filter(form)) = self.overlay.as_mut() else {
            return;
        };
        match form.submit(ctx.now_ms()) {
            Some(Submitted::Apply(filter)) => self.apply_filter(filter, ctx),
            Some(Submitted::LookUp(filter, email)) => {
                let call = ApiCall::get(format!("/v1/users/{}", segment(&email)));
                let id = self
                    .requests
                    .send(ctx, call, Pending::ResolveUser(filter, email));
                form.looking_up(id);
            }
            None => {}
        }
    }

    /// Keys on the log with nothing open over it.
    fn on_log_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if self.log.on_key(key, &mut self.requests, ctx) {
            return true;
        }
        match key.code {
            KeyCode::Enter if !self.log.is_empty() => self.overlay = Some(Overlay::Record),
            KeyCode::Char('/') => {
                self.overlay = Some(Overlay::Filter(FilterForm::new(self.log.filter())));
            }
            KeyCode::Char('v') => self.verify(ctx),
            _ => return false,
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
            Pending::Log(load, generation) => {
                let overlay_open = self.overlay.is_some();
                return self
                    .log
                    .on_load(load, generation, value, overlay_open, &mut self.requests, ctx);
            }
            Pending::Emails => {
                let users: Vec<UserView> = decode(Ok(value))?;
                return Ok(self.log.accounts_mut().replace(users));
            }
            Pending::Verify => {
                let report: AuditVerifyReport = decode(Ok(value))?;
                self.last_verify = Some(LastVerify::new(&report, ctx.now_ms()));
                let done = Verification::done(report, &mut self.requests, ctx);
                if matches!(
                    self.overlay,
                    None | Some(Overlay::Verification(Verification::Running))
                ) {
                    self.overlay = Some(Overlay::Verification(done));
                }
            }
            Pending::Broken(seq) => {
                let found: Vec<AuditEntry> = decode(Ok(value))?;
                if let Some(Overlay::Verification(verification)) = self.overlay.as_mut() {
                    verification.show_broken(seq, found);
                }
            }
            Pending::ResolveUser(filter, email) => {
                let user: UserView = decode(Ok(value))?;
                // Only the form that asked: a filter closed meanwhile, or opened since, stays.
                if matches!(&self.overlay, Some(Overlay::Filter(form)) if form.awaits(id)) {
                    self.log.accounts_mut().remember(&user);
                    let filter = Filter {
                        user: Some((email, user.id)),
                        ..filter
                    };
                    self.apply_filter(filter, ctx);
                }
            }
        }
        Ok(true)
    }
}

impl Component for Audit {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.overlay {
            Some(Overlay::Filter(form)) => form.hints(),
            Some(Overlay::Record) => record::KEYS.to_vec(),
            Some(Overlay::Verification(verification)) => verification.hints(),
            None => self.log.hints(),
        }
    }

    fn captures_keys(&self) -> bool {
        matches!(self.overlay, Some(Overlay::Filter(_)))
    }

    fn paste(&mut self, text: &str) -> bool {
        match &mut self.overlay {
            Some(Overlay::Filter(form)) => form.paste(text),
            _ => false,
        }
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.log.reload(&mut self.requests, ctx);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        self.log.poll(&mut self.requests, ctx);
        false
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        match self.overlay.as_mut() {
            None => self.on_log_key(key, ctx),
            Some(Overlay::Filter(form)) => {
                match form.on_key(key) {
                    FormEvent::Cancel => self.overlay = None,
                    FormEvent::Submit => self.submit_filter(ctx),
                    FormEvent::Changed => {}
                    FormEvent::Ignored => return false,
                }
                true
            }
            Some(Overlay::Record) => {
                if record::closes_on(key) {
                    self.overlay = None;
                    return true;
                }
                if self.log.move_cursor(key, &mut self.requests, ctx) {
                    return true;
                }
                // Any other key closes the record and acts on the log, as if it were not open.
                self.overlay = None;
                self.on_log_key(key, ctx);
                true
            }
            Some(Overlay::Verification(_)) => {
                self.overlay = None;
                // Any key closes the report; all but Esc and Enter then act on the log too.
                if !matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                    self.on_log_key(key, ctx);
                }
                true
            }
        }
    }

    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx) -> bool {
        let Some(pending) = self.requests.take(id) else {
            return false;
        };
        let verifying = matches!(pending, Pending::Verify);
        let loading = matches!(pending, Pending::Log(Load::Head | Load::Page, _));
        let error = match result.and_then(|value| self.on_reply_ok(id, pending, value, ctx)) {
            Ok(changed) => return changed,
            Err(error) => error,
        };
        match self.overlay.as_mut() {
            Some(Overlay::Filter(form)) if form.awaits(id) => form.lookup_failed(&error),
            Some(Overlay::Verification(Verification::Running)) if verifying => {
                self.overlay = None;
                ctx.error(format!("Verification failed: {error}"));
            }
            _ if loading => self.log.load_failed(&error),
            _ => ctx.error(error.to_string()),
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let [status, table] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        let mut spans = self.log.status_spans(theme);
        if let Some(last) = self.last_verify {
            spans.push(Span::styled(" · ", theme.dim()));
            spans.push(last.span(theme));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), status);
        self.log.draw(frame, table, theme);
        match &self.overlay {
            None => {}
            Some(Overlay::Filter(form)) => form.draw(frame, area, theme),
            Some(Overlay::Record) => {
                if let Some(entry) = self.log.selected() {
                    record::draw(entry, self.log.accounts(), frame, area, theme);
                }
            }
            Some(Overlay::Verification(verification)) => {
                verification.draw(self.log.accounts(), frame, area, theme);
            }
        }
    }
}

//! Shares: every owner who shares music, their shares, and each share's recipients with what
//! they did (plays, downloads, marked copies, time listened) and the watermark payload their
//! copies carry. A leaked file is traced from here: its path is typed, the file goes to the
//! server, and the panel below names the recipient it was made for, who is then selected.
//!
//! The tab routes keys and replies between its parts: `selection` (the loaded lists, their
//! cursors and which one has the keys), `trace` (the path form and the trace's panel) and
//! `view` (the owners', shares' and recipients' tables).

mod selection;
mod trace;
mod view;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use serde_json::Value;
use studiovault_api::admin::AdminShares;
use studiovault_api::public::TraceView;

use crate::component::{Component, Help};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, Load, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{FormEvent, Hint, ListBox};
use selection::{Focus, Selection};
use trace::{TraceForm, TraceReport};

static HELP: Help = Help {
    title: "Shares",
    summary: "every owner's shares and recipients; trace a leaked file",
    about: "Shares lists the owners who share music and how many shares each has; beside \
            them, the selected owner's shares, newest first: the title, whether it is active, \
            expired or revoked, its recipients, tracks and comments, and the day it expires. \
            Below are the selected share's recipients: how often each played and downloaded, \
            how many marked copies were made for them, how long they listened, when they first \
            opened the share and were last active, whether their link was revoked, and the \
            watermark payload their copies carry. Tab or → moves to the next list and ← back; \
            past the last or first list they switch screens as elsewhere. To find who leaked a \
            file, press t, type the path of the suspect file on this machine and press Enter: \
            the file is sent to the server, which reads its watermark. The panel below then \
            names the owner, the share and the recipient the copy was made for, the copies \
            they were sent, and any other recipients whose copies were combined into the file, \
            and the lists select that recipient. The lists refresh every ten seconds.",
    keys: &[
        (
            "t",
            "trace a leaked file: type its path, Enter; the recipient it names is selected",
        ),
        ("Esc", "close the trace's panel"),
        (
            "Tab, →",
            "next list: owners, shares, recipients; from the recipients, the next screen",
        ),
        (
            "←, S-Tab",
            "previous list; from the owners, the previous screen",
        ),
        (
            "Enter",
            "go to the selected owner's shares, or the share's recipients",
        ),
        ("j/k, ↑/↓", "move in the list; g/G first/last"),
        ("r", "refresh now"),
    ],
};

/// Ticks between reloads: the answer holds every recipient of every share, and its counters
/// change slowly.
const REFRESH_TICKS: u32 = 10;

/// What each call the tab sent was for.
#[derive(Debug)]
enum Pending {
    Load,
    /// A trace of the file at this path, as typed.
    Trace(String),
}

#[derive(Debug, Default)]
pub struct Shares {
    lists: Selection,
    /// The path form; while open it has the keys.
    form: Option<TraceForm>,
    /// The last trace's result, under the lists until Esc.
    report: Option<TraceReport>,
    /// A traced share and recipient the lists did not hold yet: selected once a load brings
    /// them.
    wanted: Option<(String, String)>,
    requests: InFlight<Pending>,
    refresh: Refresh<REFRESH_TICKS>,
}

impl Shares {
    fn load(&mut self, ctx: &mut Ctx, why: Load) {
        self.requests.load(
            ctx,
            why,
            ApiCall::get("/v1/shares"),
            Pending::Load,
            |p| matches!(p, Pending::Load),
        );
    }

    fn on_form_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(form) = self.form.as_mut() else {
            return false;
        };
        match form.on_key(key, &mut self.requests, ctx) {
            FormEvent::Cancel => self.form = None,
            FormEvent::Submit | FormEvent::Changed => {}
            FormEvent::Ignored => return false,
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
                let shares: AdminShares = decode(Ok(value))?;
                let mut changed = self.lists.replace(shares);
                if let Some((share, recipient)) = self.wanted.take() {
                    changed |= self.lists.select_traced(&share, &recipient);
                }
                Ok(changed)
            }
            Pending::Trace(file) => {
                let trace: TraceView = decode(Ok(value))?;
                let report = TraceReport::new(file, trace);
                if let Some((share, recipient)) = report.traced()
                    && !self.lists.select_traced(share, recipient)
                {
                    // A share made since the last load: the next one brings it.
                    self.wanted = Some((share.to_owned(), recipient.to_owned()));
                    self.load(ctx, Load::Fresh);
                }
                self.report = Some(report);
                // The form this was sent from is done; one opened since keeps its typing.
                if self.form.as_ref().is_some_and(|form| form.awaits(id)) {
                    self.form = None;
                }
                Ok(true)
            }
        }
    }
}

impl Component for Shares {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        if let Some(form) = &self.form {
            return form.hints();
        }
        let mut hints = Vec::new();
        if self.report.is_some() {
            hints.push(("Esc", "close trace"));
        }
        hints.push(("t", "trace a leaked file"));
        hints.push(match self.lists.focus() {
            Focus::Owners => ("Tab/→", "shares"),
            Focus::Shares => ("←/→", "owners/recipients"),
            Focus::Recipients => ("←", "shares"),
        });
        hints.push(("j/k", "move"));
        hints.push(("r", "refresh"));
        hints
    }

    fn captures_keys(&self) -> bool {
        self.form.is_some()
    }

    fn paste(&mut self, text: &str) -> bool {
        self.form.as_mut().is_some_and(|form| form.paste(text))
    }

    fn claims_key(&self, key: &KeyEvent) -> bool {
        self.form.is_none() && self.lists.claims(key)
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.refresh.restart();
        self.load(ctx, Load::Refresh);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        if self.refresh.due() {
            self.load(ctx, Load::Refresh);
        }
        // Nothing on screen moves with the clock: every time shown is a date.
        false
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if self.form.is_some() {
            return self.on_form_key(key, ctx);
        }
        if self.lists.on_key(key) {
            return true;
        }
        match key.code {
            KeyCode::Char('t') => {
                self.form = Some(TraceForm::new());
                true
            }
            KeyCode::Char('r') => {
                self.load(ctx, Load::Refresh);
                true
            }
            KeyCode::Esc if self.report.is_some() => {
                self.report = None;
                true
            }
            _ => false,
        }
    }

    fn on_reply(
        &mut self,
        id: RequestId,
        result: Result<Value, ApiFailure>,
        ctx: &mut Ctx,
    ) -> bool {
        let Some(pending) = self.requests.take(id) else {
            return false;
        };
        let is_load = matches!(pending, Pending::Load);
        let error = match result.and_then(|value| self.on_reply_ok(id, pending, value, ctx)) {
            Ok(changed) => return changed,
            Err(error) => error,
        };
        if is_load {
            self.lists.load_failed(&error, ctx);
        } else {
            if let Some(form) = self.form.as_mut().filter(|form| form.awaits(id)) {
                form.failed();
            }
            ctx.error(error.to_string());
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let report_height = self
            .report
            .as_ref()
            .map_or(0, |r| r.height().min(area.height / 2));
        let [lists, report] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(report_height)]).areas(area);
        let owners = self.lists.owners();
        if owners.is_empty() {
            // Loading, failed, or nobody shares anything: one box says which, at full width.
            ListBox::new("Shares", theme).draw_placeholder(frame, lists, self.lists.empty_text());
        } else {
            self.draw_lists(frame, lists, theme);
        }
        if let Some(trace) = &self.report {
            trace.draw(frame, report, theme);
        }
        if let Some(form) = &self.form {
            form.draw(frame, area, theme);
        }
    }
}

impl Shares {
    /// The owners and the selected owner's shares side by side, the share's recipients below.
    fn draw_lists(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        // Owners and shares as tall as they need, leaving the recipients at least a few rows.
        let owners = self.lists.owners();
        let shares = self.lists.owner().map_or(0, |o| o.shares.len());
        let wanted = u16::try_from(owners.len().max(shares).max(1))
            .unwrap_or(u16::MAX)
            .saturating_add(3);
        let top_height = wanted.min(area.height / 2).max(4);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(top_height), Constraint::Fill(1)]).areas(area);
        let [left, right] = Layout::horizontal([
            Constraint::Length(view::owners_width(owners, top)),
            Constraint::Fill(1),
        ])
        .areas(top);
        let focus = self.lists.focus();
        view::draw_owners(
            frame,
            left,
            owners,
            self.lists.cursor(Focus::Owners),
            focus == Focus::Owners,
            theme,
        );
        view::draw_shares(
            frame,
            right,
            self.lists.owner(),
            self.lists.cursor(Focus::Shares),
            focus == Focus::Shares,
            theme,
        );
        view::draw_recipients(
            frame,
            bottom,
            self.lists.share(),
            self.lists.cursor(Focus::Recipients),
            focus == Focus::Recipients,
            theme,
        );
    }
}

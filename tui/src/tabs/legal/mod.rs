//! Legal requests: what authorities asked for, each with its state, its deadline (red when near
//! or past), its hold and gag, and who has been told. Record a request, hold its accounts or
//! release them, record a gag, send the notice, and record the answer.
//!
//! The tab routes keys and replies between its parts: `forms` (recording a request, a gag, a
//! reason), `actions` (what the selected request allows, and what is asked first) and `view`
//! (the requests' table and the selected one in full).

mod actions;
mod forms;
mod view;

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use serde_json::Value;
use studiovault_api::admin::LegalRequestView;

use crate::component::{Component, Help};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, Load, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{
    Answer, Confirmation, EmptyText, FilteredList, FormEvent, Hint, ListBox, Listed,
};
use actions::{Action, LegalAction, short_id};
use forms::LegalForm;

static HELP: Help = Help {
    title: "Legal",
    summary: "legal requests: hold, gag, notice, answer; deadlines",
    about: "Legal lists the requests authorities sent for users' data, newest first: the \
            kind, who asks, the deadline (yellow within a week, red within three days or \
            past), the state, whether a legal hold keeps the accounts, whether a gag is in \
            force, and how many of the accounts were sent their notice. Below is the selected \
            request in full with its timeline. Press n to record a request as it arrives. A \
            hold (H) stops the accounts' purge until you release it with a reason. Users are \
            told by e-mail (N) before anything is handed over; when a court forbids telling \
            them, record the gag and its end (m): the notice then goes out by itself when the \
            gag ends. Record the answer with c (complied), p (partially) or x (refused). The \
            hand-over itself is written by studiovault legal export ID --out FILE, and the \
            yearly summary by studiovault legal report --year Y.",
    keys: &[
        (
            "n",
            "record a request: kind, authority, basis, reference, deadline, accounts, data",
        ),
        (
            "H",
            "hold the selected request's accounts (asks first), or release the hold with a reason",
        ),
        (
            "m",
            "record a gag and its end: no notice before it; then the notice goes out by itself",
        ),
        ("N", "send the notice to the accounts by e-mail (asks first)"),
        ("c", "record that the request was complied with, and how"),
        ("p", "record that it was partially complied with, and why"),
        ("x", "record that it was refused, and why"),
        ("/", "search by id, authority, reference or account"),
    ],
};

const EMPTY: EmptyText = EmptyText {
    loading: "Loading the legal requests …",
    empty: "No legal request recorded. Press n to record one as it arrives.",
    no_match: "No request matches the search (Esc clears it).",
};

/// What each call the tab sent was for.
#[derive(Debug)]
enum Pending {
    Load,
    Record,
    /// An action, and the id of the request it was done to.
    Act(Action, String),
}

/// A box over the screen. At most one is open, and it has the keys.
#[derive(Debug)]
enum Overlay {
    Form(LegalForm),
    Confirm(Confirmation<LegalAction>),
}

#[derive(Debug, Default)]
pub struct Legal {
    /// The newest first.
    list: FilteredList<LegalRequestView>,
    overlay: Option<Overlay>,
    requests: InFlight<Pending>,
    refresh: Refresh,
    /// The event loop's clock at the last event, for the deadlines and gags.
    now_ms: i64,
}

impl Listed for LegalRequestView {
    fn id(&self) -> &str {
        &self.id
    }

    fn matches(&self, needle: &str) -> bool {
        self.id.starts_with(needle)
            || self.authority.to_lowercase().contains(needle)
            || self.reference.to_lowercase().contains(needle)
            || self.accounts.iter().any(|a| {
                a.id.starts_with(needle)
                    || a.email.as_deref().is_some_and(|e| e.contains(needle))
            })
    }

    fn order(&self, other: &Self) -> Ordering {
        other
            .received_at
            .cmp(&self.received_at)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl Legal {
    fn load(&mut self, ctx: &mut Ctx, why: Load) {
        self.requests.load(
            ctx,
            why,
            ApiCall::get("/v1/legal"),
            Pending::Load,
            |p| matches!(p, Pending::Load),
        );
    }

    /// Starts `action` on the selected request: its form, its question, or its refusal.
    fn start(
        &mut self,
        action: impl FnOnce(&LegalRequestView) -> Result<Action, String>,
        ctx: &mut Ctx,
    ) -> bool {
        let Some(request) = self.list.selected() else {
            return false;
        };
        let action = match action(request) {
            Ok(action) => action,
            Err(why) => {
                ctx.error(why);
                return true;
            }
        };
        self.overlay = Some(match action {
            Action::Gag => Overlay::Form(LegalForm::gag(&request.id)),
            Action::Hold | Action::Notify => {
                let Some(confirm) = action.confirmation(request) else {
                    return false;
                };
                Overlay::Confirm(Confirmation::new(
                    confirm,
                    LegalAction {
                        action,
                        request_id: request.id.clone(),
                    },
                ))
            }
            Action::Release | Action::Comply | Action::ComplyInPart | Action::Refuse => {
                Overlay::Form(LegalForm::reason(action, &request.id))
            }
        });
        true
    }

    fn on_overlay_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(overlay) = self.overlay.as_mut() else {
            return false;
        };
        match overlay {
            Overlay::Form(form) => match form.on_key(key, &mut self.requests, ctx) {
                FormEvent::Cancel => self.overlay = None,
                FormEvent::Submit | FormEvent::Changed => {}
                FormEvent::Ignored => return false,
            },
            Overlay::Confirm(confirm) => match confirm.answer(key) {
                Answer::Yes(action) => {
                    self.overlay = None;
                    action.send(&mut self.requests, ctx);
                }
                Answer::No => self.overlay = None,
                Answer::Undecided => return false,
            },
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
                let keep = self.list.selected().map(|r| r.id.clone());
                return Ok(self.list.replace(decode(Ok(value))?, keep));
            }
            Pending::Record => {
                let request: LegalRequestView = decode(Ok(value))?;
                ctx.info(format!(
                    "Recorded request {} from {}",
                    short_id(&request.id),
                    request.authority
                ));
                self.list.upsert(request);
            }
            Pending::Act(action, request_id) => {
                self.list.upsert(decode(Ok(value))?);
                ctx.info(action.done(&request_id));
            }
        }
        // The form this was sent from is done; one opened since stays, with what is typed in it.
        if matches!(&self.overlay, Some(Overlay::Form(form)) if form.awaits(id)) {
            self.overlay = None;
        }
        self.load(ctx, Load::Fresh);
        Ok(true)
    }
}

impl Component for Legal {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.overlay {
            Some(Overlay::Form(form)) => return form.hints(),
            Some(Overlay::Confirm(confirm)) => return confirm.hints(),
            None => {}
        }
        let hold = match self.list.selected() {
            Some(r) if r.on_hold() => ("H", "release"),
            _ => ("H", "hold"),
        };
        vec![
            ("n", "record"),
            hold,
            ("m", "gag"),
            ("N", "notify"),
            ("c/p/x", "answer"),
            ("/", "search"),
        ]
    }

    fn captures_keys(&self) -> bool {
        self.overlay.is_some() || self.list.is_searching()
    }

    fn paste(&mut self, text: &str) -> bool {
        match &mut self.overlay {
            Some(Overlay::Form(form)) => form.paste(text),
            Some(_) => false,
            None => self.list.paste(text),
        }
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.now_ms = ctx.now_ms();
        self.refresh.restart();
        self.load(ctx, Load::Refresh);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        self.now_ms = ctx.now_ms();
        if self.refresh.due() {
            self.load(ctx, Load::Refresh);
        }
        // The deadlines count down with the clock.
        !self.list.items().is_empty()
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        self.now_ms = ctx.now_ms();
        if self.overlay.is_some() {
            return self.on_overlay_key(key, ctx);
        }
        if self.list.on_key(key) {
            return true;
        }
        let now = self.now_ms;
        match key.code {
            KeyCode::Char('n') => {
                self.overlay = Some(Overlay::Form(LegalForm::record()));
                true
            }
            KeyCode::Char('H') => self.start(Action::toggle_hold, ctx),
            KeyCode::Char('m') => self.start(Action::gag, ctx),
            KeyCode::Char('N') => self.start(|r| Action::notify(r, now), ctx),
            KeyCode::Char('c') => self.start(|r| Action::Comply.answer(r), ctx),
            KeyCode::Char('p') => self.start(|r| Action::ComplyInPart.answer(r), ctx),
            KeyCode::Char('x') => self.start(|r| Action::Refuse.answer(r), ctx),
            _ => false,
        }
    }

    fn on_reply(
        &mut self,
        id: RequestId,
        result: Result<Value, ApiFailure>,
        ctx: &mut Ctx,
    ) -> bool {
        self.now_ms = ctx.now_ms();
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
        let area = self
            .list
            .search()
            .draw(frame, area, self.overlay.is_none(), theme);
        let requests = self.list.visible();
        // The table as tall as it needs, leaving the detail room for its facts.
        let wanted = u16::try_from(requests.len().max(1))
            .unwrap_or(u16::MAX)
            .saturating_add(3);
        let height = wanted.min(area.height.saturating_sub(10).max(4));
        let [top, bottom] =
            Layout::vertical([Constraint::Length(height), Constraint::Fill(1)]).areas(area);
        if requests.is_empty() {
            ListBox::new("Legal requests (0)", theme).draw_placeholder(
                frame,
                top,
                &self.list.empty_text(&EMPTY),
            );
        } else {
            view::draw_requests(frame, top, &requests, self.list.cursor(), self.now_ms, theme);
        }
        match self.list.selected() {
            Some(request) => view::draw_detail(frame, bottom, request, self.now_ms, theme),
            None => ListBox::new("Request", theme).draw_placeholder(
                frame,
                bottom,
                "Select a request to see its accounts, hold, gag and timeline.",
            ),
        }
        match &self.overlay {
            Some(Overlay::Form(form)) => form.draw(frame, area, theme),
            Some(Overlay::Confirm(confirm)) => confirm.draw(frame, area, theme),
            None => {}
        }
    }
}

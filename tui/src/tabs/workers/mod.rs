//! Stem workers: the machines that separate tracks into stems for the appliance. Enrol one
//! (its token is shown once), drain and resume it, revoke or delete it; below them, the stem
//! queue with each job's progress, tries and worker, or why it failed.
//!
//! The tab routes keys and replies between its parts: `enrol` (the name form and the token
//! shown once), `actions` (what can be done to a worker, and what is asked first) and `view`
//! (the workers' table and the queue's).

mod actions;
mod enrol;
mod view;

use std::cmp::Ordering;
use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use serde_json::Value;
use studiovault_api::admin::{StemJobView, WorkerEnrolled, WorkerView, WorkersView};

use crate::component::{Component, Help};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, Load, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{
    Answer, Confirmation, EmptyText, FilteredList, FormEvent, Hint, ListBox, Listed,
};
use actions::{Action, WorkerAction};
use enrol::{EnrolForm, EnrolledToken};

static HELP: Help = Help {
    title: "Workers",
    summary: "stem workers: enrol, drain, revoke, delete; the stem queue",
    about: "Workers lists the machines that separate tracks into stems: what each reported \
            (host, backend, GPU and its memory), its state, the job it holds and how far it \
            got, how many jobs it finished in the last hour and when it last called. Below is \
            the stem queue: running, waiting and failed jobs, with their tries and their \
            worker, or why they failed. To add a machine, press e, type a name and press \
            Enter: the token is shown once, so copy it to the machine and start it there with \
            studiovault worker run --server https://VAULT --token-file FILE. Draining lets a \
            worker finish its job and take no new one; revoking or deleting stops its token \
            at once and puts its job back in the queue. The list refreshes every five \
            seconds. The same is at hand for scripts: studiovault worker ….",
    keys: &[
        (
            "e",
            "enrol a worker: type its name, Enter; its token is shown once",
        ),
        (
            "d",
            "drain the selected worker (it finishes its job, takes no new one), or resume it",
        ),
        (
            "r",
            "revoke the worker: its token stops working, its job is queued again (asks first)",
        ),
        (
            "x, Del",
            "delete the worker: removed, its token stops working (asks first)",
        ),
    ],
};

const EMPTY: EmptyText = EmptyText {
    loading: "Loading the stem workers …",
    empty: "No stem workers enrolled. Press e to enrol one.",
    no_match: "No worker matches.",
};

/// What each call the tab sent was for.
#[derive(Debug)]
enum Pending {
    Load,
    Enrol,
    /// An action, and the name of the worker it was done to.
    Act(Action, String),
}

/// A box over the tables. At most one is open, and it has the keys.
#[derive(Debug)]
enum Overlay {
    Enrol(EnrolForm),
    Confirm(Confirmation<WorkerAction>),
    Token(EnrolledToken),
}

#[derive(Debug, Default)]
pub struct Workers {
    /// By name.
    list: FilteredList<WorkerView>,
    /// Running, then queued, then failed; `None` until the first load answers.
    queue: Option<Vec<StemJobView>>,
    overlay: Option<Overlay>,
    /// Enrolment tokens that came while another box was open: each shows when the box before
    /// it closes, so no token, shown only once, is lost.
    tokens_waiting: VecDeque<EnrolledToken>,
    requests: InFlight<Pending>,
    refresh: Refresh,
    /// The event loop's clock at the last event, for the heartbeats' ages.
    now_ms: i64,
}

impl Listed for WorkerView {
    fn id(&self) -> &str {
        &self.id
    }

    fn matches(&self, needle: &str) -> bool {
        self.name.to_lowercase().contains(needle)
    }

    fn order(&self, other: &Self) -> Ordering {
        self.name
            .to_lowercase()
            .cmp(&other.name.to_lowercase())
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl Workers {
    fn load(&mut self, ctx: &mut Ctx, why: Load) {
        self.requests.load(
            ctx,
            why,
            ApiCall::get("/v1/workers"),
            Pending::Load,
            |p| matches!(p, Pending::Load),
        );
    }

    /// Sends the action on the selected worker, or asks first when it calls for that.
    fn start(
        &mut self,
        action: impl FnOnce(&WorkerView) -> Result<Action, String>,
        ctx: &mut Ctx,
    ) -> bool {
        let Some(worker) = self.list.selected() else {
            return false;
        };
        let action = match action(worker) {
            Ok(action) => WorkerAction::new(action, worker),
            Err(why) => {
                ctx.error(why);
                return true;
            }
        };
        match action.confirmation() {
            Some(confirm) => {
                self.overlay = Some(Overlay::Confirm(Confirmation::new(confirm, action)));
            }
            None => action.send(&mut self.requests, ctx),
        }
        true
    }

    /// Closes the open box; a token waiting for it shows next.
    fn close_overlay(&mut self) {
        self.overlay = self.tokens_waiting.pop_front().map(Overlay::Token);
    }

    fn on_overlay_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(overlay) = self.overlay.as_mut() else {
            return false;
        };
        match overlay {
            Overlay::Enrol(form) => match form.on_key(key, &mut self.requests, ctx) {
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
            Overlay::Token(token) => {
                if !token.closes_on(key) {
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
                let view: WorkersView = decode(Ok(value))?;
                let keep = self.list.selected().map(|w| w.id.clone());
                let workers_changed = self.list.replace(view.workers, keep);
                let mut queue = view.queue;
                queue.sort_by(view::queue_order);
                let queue_changed = self.queue.as_ref() != Some(&queue);
                self.queue = Some(queue);
                return Ok(workers_changed || queue_changed);
            }
            Pending::Enrol => {
                let enrolled: WorkerEnrolled = decode(Ok(value))?;
                let name = enrolled.worker.name.clone();
                self.list.upsert(enrolled.worker);
                if matches!(&self.overlay, Some(Overlay::Enrol(form)) if form.awaits(id)) {
                    self.close_overlay();
                }
                let token = EnrolledToken::new(name.clone(), enrolled.token);
                match self.overlay {
                    None => self.overlay = Some(Overlay::Token(token)),
                    Some(_) => self.tokens_waiting.push_back(token),
                }
                ctx.info(format!("Enrolled the worker {name}"));
                self.load(ctx, Load::Fresh);
            }
            Pending::Act(action, name) => {
                // A deleted worker's answer is not needed (older servers answer nothing).
                if action != Action::Delete {
                    self.list.upsert(decode(Ok(value))?);
                }
                ctx.info(action.done(&name));
                self.load(ctx, Load::Fresh);
            }
        }
        Ok(true)
    }
}

impl Component for Workers {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.overlay {
            Some(Overlay::Enrol(form)) => return form.hints(),
            Some(Overlay::Confirm(confirm)) => return confirm.hints(),
            Some(Overlay::Token(token)) => return token.hints(),
            None => {}
        }
        let toggle = match self.list.selected().map(|w| w.state.as_str()) {
            Some("draining") => ("d", "resume"),
            _ => ("d", "drain"),
        };
        vec![
            ("e", "enrol"),
            toggle,
            ("r", "revoke"),
            ("x", "delete"),
            ("R", "refresh"),
        ]
    }

    fn captures_keys(&self) -> bool {
        self.overlay.is_some()
    }

    fn paste(&mut self, text: &str) -> bool {
        match &mut self.overlay {
            Some(Overlay::Enrol(form)) => form.paste(text),
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
        // The heartbeats' ages ("12s ago") move with the clock.
        self.list.items().iter().any(|w| w.last_seen.is_some())
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        self.now_ms = ctx.now_ms();
        if self.overlay.is_some() {
            return self.on_overlay_key(key, ctx);
        }
        if self.list.move_cursor(key) {
            return true;
        }
        match key.code {
            KeyCode::Char('e') => {
                self.overlay = Some(Overlay::Enrol(EnrolForm::new()));
                true
            }
            KeyCode::Char('d') => self.start(Action::toggle, ctx),
            KeyCode::Char('r') => self.start(
                |w| match w.state.as_str() {
                    "revoked" => Err(format!("{} is already revoked", w.name)),
                    _ => Ok(Action::Revoke),
                },
                ctx,
            ),
            KeyCode::Char('x') | KeyCode::Delete => self.start(|_| Ok(Action::Delete), ctx),
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
            Some(Overlay::Enrol(form)) if form.awaits(id) => form.refused(&error),
            _ if is_load => self.list.load_failed(&error, ctx),
            _ => ctx.error(error.to_string()),
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let workers = self.list.visible();
        // The workers first, as tall as they need; the queue keeps at least a few rows.
        let wanted = if workers.is_empty() {
            3
        } else {
            u16::try_from(workers.len())
                .unwrap_or(u16::MAX)
                .saturating_add(3)
        };
        let height = wanted.min(area.height.saturating_sub(6).max(3));
        let [top, bottom] =
            Layout::vertical([Constraint::Length(height), Constraint::Fill(1)]).areas(area);
        if workers.is_empty() {
            ListBox::new("Workers (0)", theme).draw_placeholder(
                frame,
                top,
                &self.list.empty_text(&EMPTY),
            );
        } else {
            view::draw_workers(frame, top, &workers, self.list.cursor(), self.now_ms, theme);
        }
        view::draw_queue(frame, bottom, self.queue.as_deref(), self.now_ms, theme);
        match &self.overlay {
            Some(Overlay::Enrol(form)) => form.draw(frame, area, theme),
            Some(Overlay::Confirm(confirm)) => confirm.draw(frame, area, theme),
            Some(Overlay::Token(token)) => token.draw(frame, area, theme),
            None => {}
        }
    }
}

//! Breach notices: the incident register. Record an incident, confirm it as a breach (the
//! 72-hour clock starts), choose the affected accounts (all, a list, or from the audit log,
//! with the count and the list to preview), write the five-part notice, preview it as it will
//! be mailed, and send it (a late one says why); then follow each recipient's mail.
//!
//! The tab routes keys and replies between its parts: `view` (the register, an incident's
//! card and timeline, an opened incident's recipients), `clock` (the 72-hour clock), `forms`
//! (every form, checked before it is sent) and `preview` (the accounts, and the notice, before
//! they are used).

mod clock;
mod forms;
mod preview;
mod view;

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use serde_json::Value;
use studiovault_api::admin::{
    AffectedAccounts, AffectedSelection, IncidentDetail, IncidentState, IncidentView, MailRetried,
    MailRetry, NoticeParts, NoticePreview,
};
use studiovault_api::client::segment;

use crate::component::{Component, Help};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, Load, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{
    Answer, Confirm, Confirmation, Cursor, EmptyText, FilteredList, FormEvent, Hint, ListBox,
    Listed,
};
use clock::NoticeClock;
use forms::{IncidentForm, notify_call};
use preview::{AffectedPreview, NoticePreviewBox, PreviewKey};

static HELP: Help = Help {
    title: "Notices",
    summary: "the incident register: breach notices within 72 hours, their delivery",
    about: "Notices keeps every incident, also those that turn out not to be a breach. Press n \
            to record one: it starts as investigating. Once it is a breach, press c to confirm \
            it: the 72-hour clock for the notice starts and shows in the list (the time left, \
            red once it has run out; after sending, how long the notice took). Press a to \
            choose the affected accounts: every account, a list, or from the audit log (records \
            in a time window, of some actions, about an object); the count and the list show \
            before you record them. Press w to write the notice: what happened, the data \
            affected, what was done to contain it, what the user should do and how to reach \
            the security team, all required. Enter shows it exactly as it will be mailed; s \
            sends one mail to each affected account and shows it as a banner in their web app. \
            A notice after the 72 hours asks why it is late. Enter on an incident opens it with \
            each recipient's delivery. The same is at hand for scripts: studiovault incident ….",
    keys: &[
        ("n", "record an incident: title, what is known, whether the data was encrypted"),
        ("Enter", "open the incident: its timeline and each recipient's mail and banner"),
        ("c", "confirm it is a breach: the 72-hour clock starts"),
        (
            "a",
            "choose the affected accounts: all, a list, or from the audit log; preview, Enter",
        ),
        ("w", "write the notice, preview it as mailed, s sends it"),
        ("t", "add a note to the timeline"),
        ("x", "resolve the incident (it stays in the register)"),
        (
            "m",
            "mail again what the relay gave up on (tried for three days), once it is mended",
        ),
        ("/", "search the register by title or reference"),
        ("Esc", "close the open incident, or clear the search"),
    ],
};

const EMPTY: EmptyText = EmptyText {
    loading: "Loading the incident register …",
    empty: "No incidents recorded. Press n to record one.",
    no_match: "No incident matches.",
};

const LIST_HINTS: [Hint; 7] = [
    ("n", "new"),
    ("Enter", "open"),
    ("c", "confirm"),
    ("a", "affected"),
    ("w", "notice"),
    ("t", "note"),
    ("x", "resolve"),
];

const SEARCH_HINTS: [Hint; 3] = [("type", "to filter"), ("Enter", "keep"), ("Esc", "clear")];

/// What each call the tab sent was for.
#[derive(Debug)]
pub enum Pending {
    Load,
    /// The opened incident, by id.
    Detail(String),
    Recorded,
    /// A change to an incident, and what to say once it is done.
    Changed(&'static str),
    AffectedPreview(String, AffectedSelection),
    /// The affected accounts of the incident with this id were recorded.
    Affected(String),
    NoticePreview(String, NoticeParts),
    /// The notice of the incident with this id was sent.
    Notified(String),
    /// Its mails given up on were queued again.
    MailRetried,
}

/// A question before the notice goes out: the incident and its notice.
#[derive(Debug, Clone)]
struct SendNotice {
    id: String,
    notice: NoticeParts,
}

/// A box over the screen. At most one is open, and it has the keys.
#[derive(Debug)]
enum Overlay {
    Form(IncidentForm),
    Affected(AffectedPreview),
    Notice(NoticePreviewBox),
    Send(Confirmation<SendNotice>),
}

/// An opened incident: its detail once loaded, and the selection among its recipients.
#[derive(Debug)]
struct Opened {
    id: String,
    detail: Option<IncidentDetail>,
    cursor: Cursor,
}

#[derive(Debug, Default)]
pub struct Notices {
    /// Newest first.
    list: FilteredList<IncidentView>,
    opened: Option<Opened>,
    overlay: Option<Overlay>,
    /// The notice last written for an incident, so `w` comes back to it.
    draft: Option<(String, NoticeParts)>,
    requests: InFlight<Pending>,
    refresh: Refresh,
    /// The event loop's clock at the last event, for the 72-hour clocks.
    now_ms: i64,
}

impl Listed for IncidentView {
    fn id(&self) -> &str {
        &self.id
    }

    fn matches(&self, needle: &str) -> bool {
        self.title.to_lowercase().contains(needle) || self.id.starts_with(needle)
    }

    fn order(&self, other: &Self) -> Ordering {
        other
            .created_at
            .cmp(&self.created_at)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl Notices {
    /// The incident the keys act on: the open one, else the one selected in the list.
    fn selected(&self) -> Option<&IncidentView> {
        match &self.opened {
            Some(open) => self.list.find(&open.id),
            None => self.list.selected(),
        }
    }

    fn load(&mut self, ctx: &mut Ctx, why: Load) {
        self.requests.load(
            ctx,
            why,
            ApiCall::get("/v1/incidents"),
            Pending::Load,
            |p| matches!(p, Pending::Load),
        );
        if let Some(open) = &self.opened {
            let path = format!("/v1/incidents/{}", segment(&open.id));
            let id = open.id.clone();
            self.requests.load(
                ctx,
                why,
                ApiCall::get(path),
                Pending::Detail(id.clone()),
                |p| matches!(p, Pending::Detail(d) if *d == id),
            );
        }
    }

    fn open(&mut self, id: String, ctx: &mut Ctx) {
        self.opened = Some(Opened {
            id,
            detail: None,
            cursor: Cursor::default(),
        });
        self.load(ctx, Load::Refresh);
    }

    /// The form or question a key opens on the selected incident, or why it cannot.
    fn action(&self, key: &KeyEvent) -> Option<Result<Overlay, String>> {
        let incident = self.selected()?;
        let (id, title) = (incident.id.as_str(), incident.title.as_str());
        let state = incident.state;
        let form = |f: IncidentForm| Ok(Overlay::Form(f));
        Some(match key.code {
            KeyCode::Char('c') => match state {
                IncidentState::Investigating => {
                    form(IncidentForm::confirm(id, title, incident.encrypted))
                }
                IncidentState::Resolved => Err(format!("{title} is resolved")),
                _ => Err(format!("{title} is already confirmed")),
            },
            KeyCode::Char('a') => match state {
                IncidentState::Investigating | IncidentState::Confirmed => {
                    form(IncidentForm::affected(id))
                }
                IncidentState::Notified => {
                    Err("the notice was sent: its accounts are kept as they were".into())
                }
                IncidentState::Resolved => Err(format!("{title} is resolved")),
            },
            KeyCode::Char('w') => match state {
                IncidentState::Confirmed if incident.affected == 0 => {
                    Err("choose the affected accounts first (a)".into())
                }
                IncidentState::Confirmed => {
                    let draft = self
                        .draft
                        .as_ref()
                        .filter(|(draft_id, _)| draft_id == id)
                        .map(|(_, parts)| parts);
                    form(IncidentForm::notice(id, draft))
                }
                IncidentState::Investigating => Err(
                    "confirm the incident first (c): a notice is for a confirmed breach".into(),
                ),
                IncidentState::Notified => Err("the notice was already sent".into()),
                IncidentState::Resolved => Err(format!("{title} is resolved")),
            },
            KeyCode::Char('t') => form(IncidentForm::note(id, title)),
            KeyCode::Char('x') => match state {
                IncidentState::Resolved => Err(format!("{title} is already resolved")),
                _ => form(IncidentForm::resolve(id, title)),
            },
            _ => return None,
        })
    }

    fn on_action_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if key.code == KeyCode::Char('m') {
            return self.mail_again(ctx);
        }
        match self.action(key) {
            Some(Ok(overlay)) => self.overlay = Some(overlay),
            Some(Err(why)) => ctx.error(why),
            None => return false,
        }
        true
    }

    /// `m`: the selected incident's mails that the relay gave up on, queued again.
    fn mail_again(&mut self, ctx: &mut Ctx) -> bool {
        let Some(incident) = self.selected() else {
            return false;
        };
        if incident.delivery.failed == 0 {
            ctx.error(format!("no mail of {} was given up on", incident.title));
            return true;
        }
        let body = serde_json::to_value(MailRetry {
            topic: Some(format!("incident/{}", incident.id)),
        })
        .unwrap_or_default();
        self.requests.send(
            ctx,
            ApiCall::post("/v1/mail/retry".to_owned(), body),
            Pending::MailRetried,
        );
        true
    }

    /// `s` in the notice's preview: a late notice asks why, an on-time one asks first.
    fn send(&mut self, preview: NoticePreviewBox) {
        let count = preview.preview.recipients;
        let overdue = self
            .list
            .find(&preview.id)
            .map(|i| NoticeClock::of(i, self.now_ms))
            .filter(|c| c.is_overdue() || preview.preview.late)
            .map(NoticeClock::text);
        self.overlay = Some(match overdue {
            Some(overdue) => Overlay::Form(IncidentForm::late(&preview.id, preview.notice, &overdue)),
            None => Overlay::Send(Confirmation::new(
                Confirm {
                    title: "Send the notice",
                    question: format!("Send the notice to {count} account(s) now?"),
                    consequence: "One mail goes to each affected account, and the notice shows \
                                  as a banner in their web app until they dismiss it. It cannot \
                                  be taken back."
                        .into(),
                    verb: "send",
                },
                SendNotice {
                    id: preview.id,
                    notice: preview.notice,
                },
            )),
        });
    }

    fn on_overlay_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(overlay) = self.overlay.take() else {
            return false;
        };
        let (next, handled) = match overlay {
            Overlay::Form(mut form) => {
                match form.on_key(key, &mut self.requests, ctx) {
                    FormEvent::Cancel => (None, true),
                    FormEvent::Submit | FormEvent::Changed => (Some(Overlay::Form(form)), true),
                    FormEvent::Ignored => (Some(Overlay::Form(form)), false),
                }
            }
            Overlay::Affected(mut preview) => match preview.on_key(key) {
                PreviewKey::Accept => {
                    let path = format!("/v1/incidents/{}/affected", segment(&preview.id));
                    let body = serde_json::to_value(&preview.selection).unwrap_or_default();
                    self.requests
                        .send(
                            ctx,
                            ApiCall::post(path, body),
                            Pending::Affected(preview.id.clone()),
                        );
                    (None, true)
                }
                PreviewKey::Edit => (Some(Overlay::Form(preview.form)), true),
                PreviewKey::Close => (None, true),
                PreviewKey::Scrolled => (Some(Overlay::Affected(preview)), true),
                PreviewKey::Ignored => (Some(Overlay::Affected(preview)), false),
            },
            Overlay::Notice(mut preview) => match preview.on_key(key) {
                PreviewKey::Accept => {
                    self.send(preview);
                    return true;
                }
                PreviewKey::Edit => (Some(Overlay::Form(preview.form)), true),
                PreviewKey::Close => (None, true),
                PreviewKey::Scrolled => (Some(Overlay::Notice(preview)), true),
                PreviewKey::Ignored => (Some(Overlay::Notice(preview)), false),
            },
            Overlay::Send(confirm) => match confirm.answer(key) {
                Answer::Yes(send) => {
                    let (call, pending) = notify_call(&send.id, send.notice, None);
                    self.requests.send(ctx, call, pending);
                    (None, true)
                }
                Answer::No => (None, true),
                Answer::Undecided => (Some(Overlay::Send(confirm)), false),
            },
        };
        self.overlay = next;
        handled
    }

    /// Takes the form that was sent as request `request` out of the overlay, if it is still
    /// open. A late answer to a form closed meanwhile takes over no other (another incident's
    /// notice must never come up ready to send).
    fn take_form(&mut self, request: RequestId) -> Option<IncidentForm> {
        match self.overlay.take() {
            Some(Overlay::Form(mut form)) if form.awaits(request) => {
                form.answered();
                Some(form)
            }
            other => {
                self.overlay = other;
                None
            }
        }
    }

    /// Closes the form that was sent as request `request`, if it is the one open: a form
    /// opened since stays, with what is typed in it.
    fn close_form_awaiting(&mut self, request: RequestId) {
        if matches!(&self.overlay, Some(Overlay::Form(form)) if form.awaits(request)) {
            self.overlay = None;
        }
    }

    /// Applies a successful reply to `request`; true when something visible changed.
    fn on_reply_ok(
        &mut self,
        request: RequestId,
        pending: Pending,
        value: Value,
        ctx: &mut Ctx,
    ) -> Result<bool, ApiFailure> {
        match pending {
            Pending::Load => {
                let incidents: Vec<IncidentView> = decode(Ok(value))?;
                let keep = self.selected().map(|i| i.id.clone());
                return Ok(self.list.replace(incidents, keep));
            }
            Pending::Detail(id) => {
                let detail: IncidentDetail = decode(Ok(value))?;
                let Some(open) = self.opened.as_mut().filter(|o| o.id == id) else {
                    return Ok(false);
                };
                if open.detail.as_ref() == Some(&detail) {
                    return Ok(false);
                }
                open.cursor.clamp(detail.recipients.len());
                self.list.upsert(detail.incident.clone());
                open.detail = Some(detail);
            }
            Pending::Recorded => {
                let incident: IncidentView = decode(Ok(value))?;
                ctx.info(format!(
                    "Recorded {} as investigating: confirm it (c) once it is a breach",
                    incident.title
                ));
                self.list.upsert(incident);
                self.close_form_awaiting(request);
                self.load(ctx, Load::Fresh);
            }
            Pending::MailRetried => {
                let retried: MailRetried = decode(Ok(value))?;
                ctx.info(format!(
                    "{} mail(s) queued again: the delivery shows as they go",
                    retried.queued
                ));
                self.load(ctx, Load::Fresh);
            }
            Pending::Changed(done) => {
                let incident: IncidentView = decode(Ok(value))?;
                ctx.info(format!("{}: {done}", incident.title));
                self.list.upsert(incident);
                self.close_form_awaiting(request);
                self.load(ctx, Load::Fresh);
            }
            Pending::AffectedPreview(id, selection) => {
                let accounts: AffectedAccounts = decode(Ok(value))?;
                let Some(form) = self.take_form(request) else {
                    return Ok(false);
                };
                self.overlay = Some(Overlay::Affected(AffectedPreview::new(
                    id, selection, accounts, form,
                )));
            }
            Pending::Affected(id) => {
                let accounts: AffectedAccounts = decode(Ok(value))?;
                // The message invites `w` at once: the register must already know the count,
                // not only after the reload below answers.
                if let Some(incident) = self.list.find(&id) {
                    let mut incident = incident.clone();
                    incident.affected = accounts.count;
                    self.list.upsert(incident);
                }
                ctx.info(format!(
                    "{} account(s) recorded as affected; write the notice with w",
                    accounts.count
                ));
                self.load(ctx, Load::Fresh);
            }
            Pending::NoticePreview(id, notice) => {
                let preview: NoticePreview = decode(Ok(value))?;
                let Some(form) = self.take_form(request) else {
                    return Ok(false);
                };
                self.draft = Some((id.clone(), notice.clone()));
                self.overlay = Some(Overlay::Notice(NoticePreviewBox::new(
                    id, notice, preview, form,
                )));
            }
            Pending::Notified(id) => {
                let detail: IncidentDetail = decode(Ok(value))?;
                ctx.info(format!(
                    "Sent the notice of {} to {} account(s): the mails are queued",
                    detail.incident.title,
                    detail.recipients.len()
                ));
                self.draft = None;
                self.close_form_awaiting(request);
                self.list.upsert(detail.incident.clone());
                self.opened = Some(Opened {
                    id,
                    detail: Some(detail),
                    cursor: Cursor::default(),
                });
                self.load(ctx, Load::Fresh);
            }
        }
        Ok(true)
    }
}

impl Component for Notices {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.overlay {
            Some(Overlay::Form(form)) => return form.hints(),
            Some(Overlay::Affected(preview)) => return preview.hints(),
            Some(Overlay::Notice(preview)) => return preview.hints(),
            Some(Overlay::Send(confirm)) => return confirm.hints(),
            None => {}
        }
        if self.list.is_searching() {
            return SEARCH_HINTS.to_vec();
        }
        let mut hints = LIST_HINTS.to_vec();
        if self.opened.is_some() {
            hints[1] = ("Esc", "back");
        }
        hints.push(("R", "refresh"));
        hints
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
        // The clocks of confirmed incidents move.
        self.list.items().iter().any(|i| {
            matches!(
                NoticeClock::of(i, self.now_ms),
                NoticeClock::Running { .. } | NoticeClock::Overdue { .. }
            )
        })
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        self.now_ms = ctx.now_ms();
        if self.overlay.is_some() {
            return self.on_overlay_key(key, ctx);
        }
        if self.list.is_searching() {
            return self.list.on_key(key);
        }
        if let Some(open) = self.opened.as_mut() {
            let len = open.detail.as_ref().map_or(0, |d| d.recipients.len());
            if open.cursor.handle_key(key, len) {
                return true;
            }
            if matches!(key.code, KeyCode::Esc | KeyCode::Backspace) {
                self.opened = None;
                return true;
            }
            return self.on_action_key(key, ctx);
        }
        if self.list.on_key(key) {
            return true;
        }
        match key.code {
            KeyCode::Char('n') => {
                self.overlay = Some(Overlay::Form(IncidentForm::record()));
                true
            }
            KeyCode::Enter => match self.list.selected().map(|i| i.id.clone()) {
                Some(id) => {
                    self.open(id, ctx);
                    true
                }
                None => false,
            },
            _ => self.on_action_key(key, ctx),
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
        match &self.opened {
            Some(Opened {
                detail: Some(detail),
                cursor,
                ..
            }) => view::draw_detail(frame, area, detail, cursor, self.now_ms, theme),
            Some(Opened { detail: None, .. }) => ListBox::new("Incident", theme).draw_placeholder(
                frame,
                area,
                "Loading the incident …",
            ),
            None => self.draw_register(frame, area, theme),
        }
        match &self.overlay {
            Some(Overlay::Form(form)) => form.draw(frame, area, theme),
            Some(Overlay::Affected(preview)) => preview.draw(frame, area, theme),
            Some(Overlay::Notice(preview)) => preview.draw(frame, area, theme),
            Some(Overlay::Send(confirm)) => confirm.draw(frame, area, theme),
            None => {}
        }
    }
}

impl Notices {
    /// The register above, the selected incident's card and timeline below.
    fn draw_register(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let area = self
            .list
            .search()
            .draw(frame, area, self.overlay.is_none(), theme);
        let incidents = self.list.visible();
        if incidents.is_empty() {
            ListBox::new("Incidents (0)", theme).draw_placeholder(
                frame,
                area,
                &self.list.empty_text(&EMPTY),
            );
            return;
        }
        let wanted = u16::try_from(incidents.len())
            .unwrap_or(u16::MAX)
            .saturating_add(3);
        let height = wanted.min(area.height.saturating_sub(12).max(4));
        let [top, bottom] =
            Layout::vertical([Constraint::Length(height), Constraint::Fill(1)]).areas(area);
        view::draw_list(frame, top, &incidents, self.list.cursor(), self.now_ms, theme);
        if let Some(incident) = self.list.selected() {
            view::draw_incident(frame, bottom, incident, self.now_ms, theme);
        }
    }
}

//! The forms of the Legal tab: recording a request as received, recording a gag, and the reason
//! a release or an answer needs. Each checks what it can before sending, and shows the server's
//! sentence when it refuses.

use std::str::FromStr;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use serde_json::json;
use studiovault_api::admin::{LegalDataType, LegalGag, LegalKind, LegalReason, NewLegalRequest};

use super::Pending;
use super::actions::Action;
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, RequestId};
use crate::theme::Theme;
use crate::widgets::{Field, Form, FormEvent, Hint};

/// A form on screen, and what it sends.
#[derive(Debug)]
pub struct LegalForm {
    form: Form,
    purpose: Purpose,
}

#[derive(Debug, Clone)]
enum Purpose {
    Record,
    Gag(String),
    /// A release or an answer, with its reason.
    Reason(Action, String),
}

mod record {
    pub const KIND: usize = 0;
    pub const AUTHORITY: usize = 1;
    pub const BASIS: usize = 2;
    pub const REFERENCE: usize = 3;
    pub const DEADLINE: usize = 4;
    pub const ACCOUNTS: usize = 5;
    pub const DATA: usize = 6;
    pub const HOLD: usize = 7;
}

const NOTE: usize = 1;

impl LegalForm {
    /// Pasted text, into the focused field.
    pub fn paste(&mut self, text: &str) -> bool {
        self.form.paste(text)
    }

    /// Recording a request as received.
    pub fn record() -> Self {
        let form = Form::new(
            "Record a legal request",
            "record",
            vec![
                Field::text(
                    "Kind",
                    "court_order, subpoena, warrant, preservation, emergency or other.",
                    "court_order",
                ),
                Field::text("Authority", "Who asks: the court, police force or regulator.", ""),
                Field::text("Basis", "The law or order the request relies on.", ""),
                Field::text("Reference", "The authority's own reference for it.", ""),
                Field::text(
                    "Deadline",
                    "When the answer is due: 2025-07-01 or 2025-07-01 14:30 (UTC).",
                    "",
                ),
                Field::text(
                    "Accounts",
                    "The accounts it names, by e-mail or id, separated by commas.",
                    "",
                ),
                Field::text(
                    "Data",
                    "What it asks for, separated by commas: account, tracks, audio, shares, activity.",
                    "",
                ),
                Field::choice(
                    "Hold",
                    "Hold the accounts at once: none is purged until the hold is released.",
                    &["no", "yes"],
                    1,
                ),
            ],
        );
        Self {
            form,
            purpose: Purpose::Record,
        }
    }

    pub fn gag(request_id: &str) -> Self {
        let form = Form::new(
            "Record a gag",
            "record",
            vec![
                Field::text(
                    "Until",
                    "When the gag ends: 2025-07-01 (it holds through that day) or 2025-07-01 14:30 (UTC). No notice goes out before; then it goes out by itself.",
                    "",
                ),
                Field::text("Note", "Where the gag comes from: the order and its clause.", ""),
            ],
        );
        Self {
            form,
            purpose: Purpose::Gag(request_id.to_owned()),
        }
    }

    pub fn reason(action: Action, request_id: &str) -> Self {
        let (title, help) = action.reason_prompt();
        Self {
            form: Form::new(title, "save", vec![Field::text("Reason", help, "")]),
            purpose: Purpose::Reason(action, request_id.to_owned()),
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        self.form.hints()
    }

    /// Enter checks the form and sends it; `Cancel` is for the tab to close the form.
    pub fn on_key(
        &mut self,
        key: &KeyEvent,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> FormEvent {
        let event = self.form.handle_key(key);
        if event == FormEvent::Submit {
            match self.call() {
                Ok((call, pending)) => self.form.wait_for(requests.send(ctx, call, pending)),
                Err(why) => self.form.error = Some(why),
            }
        }
        event
    }

    fn call(&self) -> Result<(ApiCall, Pending), String> {
        let text = |i| self.form.text(i).to_owned();
        match &self.purpose {
            Purpose::Record => {
                let kind = LegalKind::from_str(&text(record::KIND))?;
                for (field, name) in [
                    (record::AUTHORITY, "the authority"),
                    (record::BASIS, "the legal basis"),
                    (record::REFERENCE, "the reference"),
                ] {
                    if text(field).is_empty() {
                        return Err(format!("type {name}"));
                    }
                }
                let deadline =
                    format::parse_date(&text(record::DEADLINE)).map_err(|e| e.to_string())?;
                let accounts = list(&text(record::ACCOUNTS));
                if accounts.is_empty() {
                    return Err("name at least one account".into());
                }
                let data_types = list(&text(record::DATA))
                    .iter()
                    .map(|t| LegalDataType::from_str(t))
                    .collect::<Result<Vec<_>, _>>()?;
                if data_types.is_empty() {
                    return Err("name what the request asks for".into());
                }
                let new = NewLegalRequest {
                    kind,
                    authority: text(record::AUTHORITY),
                    legal_basis: text(record::BASIS),
                    reference: text(record::REFERENCE),
                    deadline,
                    accounts,
                    data_types,
                    hold: self.form.choice(record::HOLD) == 1,
                };
                let body = serde_json::to_value(new).unwrap_or_default();
                Ok((ApiCall::post("/v1/legal", body), Pending::Record))
            }
            Purpose::Gag(id) => {
                let until = format::parse_gag_end(&text(0)).map_err(|e| e.to_string())?;
                let note = Some(text(NOTE)).filter(|n| !n.is_empty());
                let body = serde_json::to_value(LegalGag { until, note }).unwrap_or_default();
                Ok((
                    Action::Gag.call(id, body),
                    Pending::Act(Action::Gag, id.clone()),
                ))
            }
            Purpose::Reason(action, id) => {
                let reason = text(0);
                if reason.is_empty() {
                    return Err("type the reason: it is kept in the request's timeline".into());
                }
                let body = serde_json::to_value(LegalReason { reason }).unwrap_or(json!({}));
                Ok((action.call(id, body), Pending::Act(*action, id.clone())))
            }
        }
    }

    /// The server said no: the form says why and can be sent again.
    pub fn refused(&mut self, error: &ApiFailure) {
        self.form.refused(error.to_string());
    }

    /// Whether request `id` is the one this form was sent as and waits for.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.form.awaits(id)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        self.form.draw(frame, area, theme);
    }
}

/// `a, b ,c` → `[a, b, c]`.
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

//! The forms over the register: record an incident, confirm it, note or resolve it, choose
//! the affected accounts, write the five-part notice, and the reason a late notice must give.
//! Each is checked before it is sent; what the server refuses shows in the form, which stays
//! open.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use studiovault_api::admin::{
    AffectedSelection, ConfirmIncident, IncidentNote, NewIncident, NoticeParts, NotifyIncident,
};
use studiovault_api::client::segment;

use super::Pending;
use crate::format::{self, InputError};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, RequestId};
use crate::theme::Theme;
use crate::widgets::{Field, Form, FormEvent, Hint};

/// Whether the affected data was encrypted with keys that were not exposed.
const ENCRYPTED: &[&str] = &["unknown", "yes", "no"];
/// How the affected accounts are chosen, in the form's order.
const WHO: &[&str] = &["audit log", "list", "all"];

// Field positions.
const TITLE: usize = 0;
const DESCRIPTION: usize = 1;
const RECORD_ENCRYPTED: usize = 2;
const CONFIRM_ENCRYPTED: usize = 0;
const CONFIRM_NOTE: usize = 1;
const TEXT: usize = 0;
const WHO_FIELD: usize = 0;
const ACCOUNTS: usize = 1;
const SINCE: usize = 2;
const UNTIL: usize = 3;
const ACTIONS: usize = 4;
const OBJECT: usize = 5;
const HAPPENED: usize = 0;
const DATA: usize = 1;
const CONTAINED: usize = 2;
const USER_ACTION: usize = 3;
const CONTACT: usize = 4;

/// Why a form is not sent; the form shows it under its fields.
#[derive(Debug, thiserror::Error)]
enum Invalid {
    #[error("give the incident a title")]
    Title,
    #[error("type the note")]
    Note,
    #[error("name the accounts: e-mail addresses or ids, separated by commas or spaces")]
    Accounts,
    #[error("give a time window, actions or an object to find the accounts in the audit log")]
    AuditFilter,
    #[error("`since` is after `until`")]
    Window,
    #[error(transparent)]
    Time(#[from] InputError),
    #[error("every part is required: {0} is empty")]
    Part(&'static str),
    #[error("the notice is late: say why it went out after the 72 hours")]
    LateReason,
}

fn json<T: serde::Serialize>(body: &T) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// `unknown`, `yes`, `no` as the API's `None`, `Some(true)`, `Some(false)`.
fn encrypted(choice: usize) -> Option<bool> {
    match choice {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

fn encrypted_field(current: Option<bool>) -> Field {
    let selected = match current {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    };
    Field::choice(
        "Encrypted",
        "Was the affected data encrypted with keys that were not exposed? Regulators ask.",
        ENCRYPTED,
        selected,
    )
}

/// Names, ids or actions typed with commas or spaces between them.
fn words(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn incident_path(id: &str, rest: &str) -> String {
    format!("/v1/incidents/{}{rest}", segment(id))
}

/// One form, and the incident it is about.
#[derive(Debug, Clone)]
pub enum IncidentForm {
    Record(Form),
    Confirm { id: String, form: Form },
    Note { id: String, form: Form },
    Resolve { id: String, form: Form },
    Affected { id: String, form: Form },
    Notice { id: String, form: Form },
    /// The reason a late notice gives, asked before it is sent.
    Late { id: String, notice: NoticeParts, form: Form },
}

impl IncidentForm {
    pub fn record() -> Self {
        Self::Record(Form::new(
            "Record an incident",
            "record",
            vec![
                Field::text(
                    "Title",
                    "A short name for the incident, such as: replica bucket readable by anyone.",
                    "",
                ),
                Field::text(
                    "What",
                    "What is known so far. The incident starts as investigating; confirm it (c) once it is a breach.",
                    "",
                ),
                encrypted_field(None),
            ],
        ))
    }

    pub fn confirm(id: &str, title: &str, current: Option<bool>) -> Self {
        Self::Confirm {
            id: id.to_owned(),
            form: Form::new(
                format!("Confirm: {}", format::clip(title, 40)),
                "confirm",
                vec![
                    encrypted_field(current),
                    Field::text(
                        "Note",
                        "Optional: why it is a breach. Confirming starts the 72-hour clock for the notice.",
                        "",
                    ),
                ],
            ),
        }
    }

    pub fn note(id: &str, title: &str) -> Self {
        Self::Note {
            id: id.to_owned(),
            form: Form::new(
                format!("Note on: {}", format::clip(title, 40)),
                "add",
                vec![Field::text(
                    "Note",
                    "What was found or done; it goes on the incident's timeline, with the time.",
                    "",
                )],
            ),
        }
    }

    pub fn resolve(id: &str, title: &str) -> Self {
        Self::Resolve {
            id: id.to_owned(),
            form: Form::new(
                format!("Resolve: {}", format::clip(title, 40)),
                "resolve",
                vec![Field::text(
                    "Note",
                    "Optional: how it ended. A resolved incident stays in the register.",
                    "",
                )],
            ),
        }
    }

    pub fn affected(id: &str) -> Self {
        Self::Affected {
            id: id.to_owned(),
            form: Form::new(
                "Affected accounts",
                "preview",
                vec![
                    Field::choice(
                        "From",
                        "The audit log (accounts with records in a time window, of actions, about an object), a list, or every account.",
                        WHO,
                        0,
                    ),
                    Field::text(
                        "Accounts",
                        "For a list: e-mail addresses or ids, separated by commas or spaces.",
                        "",
                    ),
                    Field::text(
                        "Since",
                        "Audit log: records from then on: 2025-06-01, 2025-06-01 14:30 (UTC), or an age such as 2h or 7d.",
                        "",
                    ),
                    Field::text(
                        "Until",
                        "Audit log: records up to then, in the same forms as Since.",
                        "",
                    ),
                    Field::text(
                        "Actions",
                        "Audit log: actions or their prefix, such as track.download or share, separated by commas.",
                        "",
                    ),
                    Field::text(
                        "Object",
                        "Audit log: an object or key, such as track/… or a blob id, or its beginning.",
                        "",
                    ),
                ],
            ),
        }
    }

    pub fn notice(id: &str, draft: Option<&NoticeParts>) -> Self {
        let draft = draft.cloned().unwrap_or_default();
        Self::Notice {
            id: id.to_owned(),
            form: Form::new(
                "Breach notice",
                "preview",
                vec![
                    Field::text(
                        "Happened",
                        "What happened, in plain words, and when.",
                        &draft.what_happened,
                    ),
                    Field::text(
                        "Data",
                        "Which of the user's data is affected.",
                        &draft.data_affected,
                    ),
                    Field::text(
                        "Contained",
                        "What was done to contain it.",
                        &draft.containment,
                    ),
                    Field::text(
                        "User does",
                        "What the user should do now.",
                        &draft.user_action,
                    ),
                    Field::text(
                        "Contact",
                        "How to reach the security team: an address, a phone number.",
                        &draft.contact,
                    ),
                ],
            ),
        }
    }

    pub fn late(id: &str, notice: NoticeParts, overdue: &str) -> Self {
        Self::Late {
            id: id.to_owned(),
            notice,
            form: Form::new(
                format!("Late notice: {overdue}"),
                "send",
                vec![Field::text(
                    "Reason",
                    "The 72 hours from confirmation are past: say why the notice is late. The reason is kept in the register.",
                    "",
                )],
            ),
        }
    }

    fn form(&self) -> &Form {
        match self {
            Self::Record(form)
            | Self::Confirm { form, .. }
            | Self::Note { form, .. }
            | Self::Resolve { form, .. }
            | Self::Affected { form, .. }
            | Self::Notice { form, .. }
            | Self::Late { form, .. } => form,
        }
    }

    fn form_mut(&mut self) -> &mut Form {
        match self {
            Self::Record(form)
            | Self::Confirm { form, .. }
            | Self::Note { form, .. }
            | Self::Resolve { form, .. }
            | Self::Affected { form, .. }
            | Self::Notice { form, .. }
            | Self::Late { form, .. } => form,
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        self.form().hints()
    }

    /// Enter checks the form and sends it; `Cancel` is for the tab to close it.
    pub fn on_key(
        &mut self,
        key: &KeyEvent,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> FormEvent {
        let event = self.form_mut().handle_key(key);
        if event == FormEvent::Submit {
            match self.call(ctx.now_ms()) {
                Ok((call, pending)) => {
                    let id = requests.send(ctx, call, pending);
                    self.form_mut().wait_for(id);
                }
                Err(invalid) => self.form_mut().error = Some(invalid.to_string()),
            }
        }
        event
    }

    /// The call the form makes, once its fields check.
    fn call(&self, now_ms: i64) -> Result<(ApiCall, Pending), Invalid> {
        Ok(match self {
            Self::Record(form) => {
                let title = form.text(TITLE).to_owned();
                if title.is_empty() {
                    return Err(Invalid::Title);
                }
                let body = NewIncident {
                    title,
                    description: form.text(DESCRIPTION).to_owned(),
                    encrypted: encrypted(form.choice(RECORD_ENCRYPTED)),
                };
                (ApiCall::post("/v1/incidents", json(&body)), Pending::Recorded)
            }
            Self::Confirm { id, form } => {
                let body = ConfirmIncident {
                    encrypted: encrypted(form.choice(CONFIRM_ENCRYPTED)),
                    note: Some(form.text(CONFIRM_NOTE).to_owned()).filter(|n| !n.is_empty()),
                };
                (
                    ApiCall::post(incident_path(id, "/confirm"), json(&body)),
                    Pending::Changed("Confirmed: the 72-hour clock for the notice runs"),
                )
            }
            Self::Note { id, form } => {
                let text = form.text(TEXT).to_owned();
                if text.is_empty() {
                    return Err(Invalid::Note);
                }
                (
                    ApiCall::post(incident_path(id, "/note"), json(&IncidentNote { text })),
                    Pending::Changed("Noted on the timeline"),
                )
            }
            Self::Resolve { id, form } => {
                let text = form.text(TEXT).to_owned();
                (
                    ApiCall::post(incident_path(id, "/resolve"), json(&IncidentNote { text })),
                    Pending::Changed("Resolved; the incident stays in the register"),
                )
            }
            Self::Affected { id, form } => {
                let selection = selection(form, now_ms)?;
                (
                    ApiCall::post(incident_path(id, "/affected/preview"), json(&selection)),
                    Pending::AffectedPreview(id.clone(), selection),
                )
            }
            Self::Notice { id, form } => {
                let notice = parts(form)?;
                (
                    ApiCall::post(incident_path(id, "/notice/preview"), json(&notice)),
                    Pending::NoticePreview(id.clone(), notice),
                )
            }
            Self::Late { id, notice, form } => {
                let reason = form.text(TEXT).to_owned();
                if reason.is_empty() {
                    return Err(Invalid::LateReason);
                }
                notify_call(id, notice.clone(), Some(reason))
            }
        })
    }

    /// The server said no: the form says why and can be sent again.
    pub fn refused(&mut self, error: &ApiFailure) {
        self.form_mut().refused(error.to_string());
    }

    /// Whether request `id` is the one this form was sent as and waits for. A form closed
    /// meanwhile is gone; one opened since was sent as another request, or not yet.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.form().awaits(id)
    }

    /// Pasted text, into the focused field.
    pub fn paste(&mut self, text: &str) -> bool {
        self.form_mut().paste(text)
    }

    /// The answer came: the form can be sent again (it is kept behind a preview).
    pub fn answered(&mut self) {
        self.form_mut().answered();
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        self.form().draw(frame, area, theme);
    }
}

/// `POST /v1/incidents/{id}/notify`.
pub fn notify_call(
    id: &str,
    notice: NoticeParts,
    late_reason: Option<String>,
) -> (ApiCall, Pending) {
    let body = NotifyIncident {
        notice,
        late_reason,
    };
    (
        ApiCall::post(incident_path(id, "/notify"), json(&body)),
        Pending::Notified(id.to_owned()),
    )
}

/// What the affected-accounts form asks for.
fn selection(form: &Form, now_ms: i64) -> Result<AffectedSelection, Invalid> {
    match WHO.get(form.choice(WHO_FIELD)).copied() {
        Some("all") => Ok(AffectedSelection::All),
        Some("list") => {
            let accounts = words(form.text(ACCOUNTS));
            if accounts.is_empty() {
                return Err(Invalid::Accounts);
            }
            Ok(AffectedSelection::Accounts { accounts })
        }
        _ => {
            let bound = |index| {
                let text = form.text(index);
                (!text.is_empty())
                    .then(|| format::parse_time_bound(text, now_ms))
                    .transpose()
            };
            let (since_ms, until_ms) = (bound(SINCE)?, bound(UNTIL)?);
            if let (Some(since), Some(until)) = (since_ms, until_ms)
                && since > until
            {
                return Err(Invalid::Window);
            }
            let actions = words(form.text(ACTIONS));
            let object = Some(form.text(OBJECT).to_owned()).filter(|o| !o.is_empty());
            if since_ms.is_none() && until_ms.is_none() && actions.is_empty() && object.is_none() {
                return Err(Invalid::AuditFilter);
            }
            Ok(AffectedSelection::AuditLog {
                since_ms,
                until_ms,
                actions,
                object,
            })
        }
    }
}

/// The notice's five parts, none empty.
fn parts(form: &Form) -> Result<NoticeParts, Invalid> {
    let part = |index, name| {
        let text = form.text(index);
        if text.is_empty() {
            Err(Invalid::Part(name))
        } else {
            Ok(text.to_owned())
        }
    };
    Ok(NoticeParts {
        what_happened: part(HAPPENED, "what happened")?,
        data_affected: part(DATA, "the data affected")?,
        containment: part(CONTAINED, "what was done to contain it")?,
        user_action: part(USER_ACTION, "what the user should do")?,
        contact: part(CONTACT, "how to reach the security team")?,
    })
}

//! The forms over the list: a new account, and the plan and quota of one. Each is checked
//! before it is sent; what the server refuses shows in the form, which stays open.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use serde_json::Value;
use studiovault_api::Plan;
use studiovault_api::admin::{CreateUser, UpdateUser, UserView};
use studiovault_api::client::segment;

use super::Pending;
use crate::format::{self, InputError};
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, RequestId};
use crate::theme::Theme;
use crate::widgets::{Field, Form, FormEvent, Hint};

/// The plans' names, in `Plan::ALL` order.
const PLANS: &[&str] = &["free", "pro", "max"];

// Field positions in the new-account form.
const NEW_EMAIL: usize = 0;
const NEW_PLAN: usize = 1;
const NEW_PASSWORD: usize = 2;
// Field positions in the plan-and-quota form.
const EDIT_PLAN: usize = 0;
const EDIT_QUOTA: usize = 1;

/// Why a form is not sent; the form shows it under its fields.
#[derive(Debug, thiserror::Error)]
enum Invalid {
    #[error("type the e-mail address the person signs in with")]
    Email,
    #[error(transparent)]
    Quota(#[from] InputError),
    #[error("nothing changed: pick another plan or type a quota")]
    Unchanged,
}

#[derive(Debug)]
pub enum AccountForm {
    Create(Form),
    Edit { user: UserView, form: Form },
}

impl AccountForm {
    /// Pasted text, into the focused field.
    pub fn paste(&mut self, text: &str) -> bool {
        self.form_mut().paste(text)
    }

    pub fn create() -> Self {
        Self::Create(Form::new(
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
        ))
    }

    pub fn edit(user: &UserView) -> Self {
        let plan = Plan::ALL.iter().position(|p| *p == user.plan).unwrap_or(0);
        // An empty quota means the plan's: only an admin's override is shown to edit.
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
        Self::Edit {
            user: user.clone(),
            form,
        }
    }

    fn form(&self) -> &Form {
        match self {
            Self::Create(form) | Self::Edit { form, .. } => form,
        }
    }

    fn form_mut(&mut self) -> &mut Form {
        match self {
            Self::Create(form) | Self::Edit { form, .. } => form,
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
            self.submit(requests, ctx);
        }
        event
    }

    fn submit(&mut self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let checked = match self {
            Self::Create(form) => {
                new_account(form).map(|body| (ApiCall::post("/v1/users", body), Pending::Create))
            }
            Self::Edit { user, form } => changes(user, form).map(|body| {
                let path = format!("/v1/users/{}", segment(&user.id));
                (ApiCall::patch(path, body), Pending::Edit)
            }),
        };
        let form = self.form_mut();
        match checked {
            Ok((call, pending)) => form.wait_for(requests.send(ctx, call, pending)),
            Err(invalid) => form.error = Some(invalid.to_string()),
        }
    }

    /// The server said no: the form says why and can be sent again.
    pub fn refused(&mut self, error: &ApiFailure) {
        self.form_mut().refused(error.to_string());
    }

    /// Whether request `id` is the one this form was sent as and waits for.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.form().awaits(id)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        self.form().draw(frame, area, theme);
    }
}

/// The body of `POST /v1/users`.
fn new_account(form: &Form) -> Result<Value, Invalid> {
    let email = form.text(NEW_EMAIL).to_owned();
    if !email.contains('@') {
        return Err(Invalid::Email);
    }
    let password = Some(form.text(NEW_PASSWORD).to_owned()).filter(|p| !p.is_empty());
    let plan = Plan::ALL
        .get(form.choice(NEW_PLAN))
        .copied()
        .unwrap_or(Plan::Free);
    Ok(serde_json::to_value(CreateUser {
        email,
        plan,
        password,
    })
    .unwrap_or_default())
}

/// The body of `PATCH /v1/users/{id}`: only what changed.
fn changes(user: &UserView, form: &Form) -> Result<Value, Invalid> {
    let plan = Plan::ALL
        .get(form.choice(EDIT_PLAN))
        .copied()
        .unwrap_or(user.plan);
    let quota_text = form.text(EDIT_QUOTA);
    let quota_bytes = if quota_text.is_empty() {
        // Emptied: back to the plan's quota, which is a change only if there was an override.
        user.quota_override.then_some(None)
    } else {
        match format::parse_size(quota_text)? {
            bytes if user.quota_override && bytes == user.quota_bytes => None,
            bytes => Some(Some(bytes)),
        }
    };
    let update = UpdateUser {
        plan: (plan != user.plan).then_some(plan),
        quota_bytes,
    };
    if update.plan.is_none() && update.quota_bytes.is_none() {
        return Err(Invalid::Unchanged);
    }
    Ok(serde_json::to_value(update).unwrap_or_default())
}

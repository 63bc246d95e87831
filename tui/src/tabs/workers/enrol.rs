//! Enrolling a worker: the form asking its name, and the token the server answers, shown once
//! with how to start the worker with it.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use studiovault_api::admin::EnrolWorker;

use super::Pending;
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, RequestId};
use crate::theme::Theme;
use crate::widgets::{Dialog, Field, Form, FormEvent, Hint};

const NAME: usize = 0;

/// The form: one field, the worker's name.
#[derive(Debug)]
pub struct EnrolForm {
    form: Form,
}

impl EnrolForm {
    /// Pasted text, into the focused field.
    pub fn paste(&mut self, text: &str) -> bool {
        self.form.paste(text)
    }

    pub fn new() -> Self {
        Self {
            form: Form::new(
                "Enrol a stem worker",
                "enrol",
                vec![Field::text(
                    "Name",
                    "A name to tell the machine by, such as gpu-box; unique among the workers. Its token is shown once, next.",
                    "",
                )],
            ),
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        self.form.hints()
    }

    /// Enter checks the name and sends it; `Cancel` is for the tab to close the form.
    pub fn on_key(
        &mut self,
        key: &KeyEvent,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> FormEvent {
        let event = self.form.handle_key(key);
        if event == FormEvent::Submit {
            let name = self.form.text(NAME).to_owned();
            if name.is_empty() {
                self.form.error = Some("type a name for the worker".into());
            } else {
                let body = serde_json::to_value(EnrolWorker { name }).unwrap_or_default();
                let id = requests.send(ctx, ApiCall::post("/v1/workers", body), Pending::Enrol);
                self.form.wait_for(id);
            }
        }
        event
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

const KEYS: [Hint; 1] = [("Enter", "done")];

/// The new worker's token, in a box that Enter closes: the server keeps only its hash.
#[derive(Debug)]
pub struct EnrolledToken {
    name: String,
    token: String,
}

impl EnrolledToken {
    pub fn new(name: String, token: String) -> Self {
        Self { name, token }
    }

    pub fn hints(&self) -> Vec<Hint> {
        KEYS.to_vec()
    }

    pub fn closes_on(&self, key: &KeyEvent) -> bool {
        matches!(key.code, KeyCode::Enter | KeyCode::Esc)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        // As wide as the terminal allows: the token reads best on one line, to copy it whole.
        Dialog::new("Worker enrolled", 96)
            .field("Worker", self.name.clone(), theme.text())
            .field("Token", "", theme.text())
            .text(self.token.clone(), theme.title())
            .blank()
            .text(
                "This token is shown only now and will not be shown again: copy it to the worker machine.",
                theme.warn(),
            )
            .blank()
            .text(
                "There, save it in a file only the worker's user can read (FILE) and run:",
                theme.text(),
            )
            .text(
                "studiovault worker run --server https://VAULT --token-file FILE",
                theme.title(),
            )
            .text(
                "where VAULT is this appliance's HTTPS address.",
                theme.dim(),
            )
            .keys(self.hints())
            .draw(frame, area, theme);
    }
}

//! The filters: which records the log asks for, and the form that sets them.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use studiovault_api::client::segment;

use crate::format::{self, InputError};
use crate::request::{ApiFailure, RequestId};
use crate::theme::Theme;
use crate::widgets::{Field, Form, FormEvent, Hint};

// Field positions in the filter form.
const USER: usize = 0;
const ACTION: usize = 1;
const SINCE: usize = 2;
const UNTIL: usize = 3;

/// The filters in force; times are resolved to instants when applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// As typed (an e-mail or an id), and the user id it names.
    pub user: Option<(String, String)>,
    pub action: Option<String>,
    /// As typed, and the instant it named when applied.
    pub since: Option<(String, i64)>,
    pub until: Option<(String, i64)>,
}

impl Filter {
    /// The filters as query parameters, each after a `&`.
    pub fn query(&self) -> String {
        let mut q = String::new();
        if let Some((_, id)) = &self.user {
            q.push_str(&format!("&user={}", segment(id)));
        }
        if let Some(action) = &self.action {
            q.push_str(&format!("&action={}", segment(action)));
        }
        if let Some((_, ms)) = self.since {
            q.push_str(&format!("&since_ms={ms}"));
        }
        if let Some((_, ms)) = self.until {
            q.push_str(&format!("&until_ms={ms}"));
        }
        q
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((label, _)) = &self.user {
            parts.push(format!("user {label}"));
        }
        if let Some(action) = &self.action {
            parts.push(format!("action {action}"));
        }
        if let Some((_, ms)) = self.since {
            parts.push(format!("since {}", format::minute(ms)));
        }
        if let Some((_, ms)) = self.until {
            parts.push(format!("until {}", format::minute(ms)));
        }
        if parts.is_empty() {
            "all records".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Why the filters cannot be applied; the form shows it under its fields.
#[derive(Debug, thiserror::Error)]
enum Invalid {
    #[error(transparent)]
    Time(#[from] InputError),
    #[error("Since is after Until")]
    Backwards,
    #[error("type an e-mail address or a 32-character user id")]
    User,
    #[error("no account has that e-mail address")]
    UnknownEmail,
}

/// What the form asks for once it reads well.
#[derive(Debug)]
pub enum Submitted {
    Apply(Filter),
    /// The user was typed as an e-mail: its id must be looked up first.
    LookUp(Filter, String),
}

#[derive(Debug)]
pub struct FilterForm {
    form: Form,
}

impl FilterForm {
    /// Pasted text, into the focused field.
    pub fn paste(&mut self, text: &str) -> bool {
        self.form.paste(text)
    }

    /// The form, filled in with the filters in force.
    pub fn new(filter: &Filter) -> Self {
        let user = filter.user.as_ref().map_or("", |(label, _)| label);
        let action = filter.action.as_deref().unwrap_or("");
        let since = filter.since.as_ref().map_or("", |(text, _)| text);
        let until = filter.until.as_ref().map_or("", |(text, _)| text);
        let form = Form::new(
            "Filter the audit log",
            "apply",
            vec![
                Field::text(
                    "User",
                    "An e-mail address or a user id: records by or about that account. Empty: everyone.",
                    user,
                ),
                Field::text(
                    "Action",
                    "An action such as user.suspend, or a prefix such as user, account, session or track. Empty: every action.",
                    action,
                ),
                Field::text(
                    "Since",
                    "2025-06-01, 2025-06-01 14:30 (UTC), or an age such as 15m, 2h or 7d. Empty: from the first record.",
                    since,
                ),
                Field::text(
                    "Until",
                    "Same forms as Since. Empty: up to now, following new records.",
                    until,
                ),
            ],
        );
        Self { form }
    }

    pub fn hints(&self) -> Vec<Hint> {
        self.form.hints()
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> FormEvent {
        self.form.handle_key(key)
    }

    /// `None` while the form is wrong (it says why); an e-mail makes the form wait for its id.
    pub fn submit(&mut self, now_ms: i64) -> Option<Submitted> {
        let invalid = match self.read(now_ms) {
            Err(invalid) => invalid,
            Ok((filter, None)) => return Some(Submitted::Apply(filter)),
            Ok((filter, Some(user))) if is_user_id(&user) => {
                let id = user.to_ascii_lowercase();
                let filter = Filter {
                    user: Some((user, id)),
                    ..filter
                };
                return Some(Submitted::Apply(filter));
            }
            Ok((filter, Some(user))) if user.contains('@') => {
                return Some(Submitted::LookUp(filter, user));
            }
            Ok(_) => Invalid::User,
        };
        self.form.error = Some(invalid.to_string());
        None
    }

    /// The e-mail is being looked up as request `id`.
    pub fn looking_up(&mut self, id: RequestId) {
        self.form.wait_for(id);
    }

    /// Whether request `id` is the look-up this form waits for.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.form.awaits(id)
    }

    /// The e-mail could not be looked up.
    pub fn lookup_failed(&mut self, error: &ApiFailure) {
        self.form.refused(if error.is_not_found() {
            Invalid::UnknownEmail.to_string()
        } else {
            error.to_string()
        });
    }

    /// The filters but the user, which comes back apart, as typed.
    fn read(&self, now_ms: i64) -> Result<(Filter, Option<String>), Invalid> {
        let bound = |index: usize| -> Result<Option<(String, i64)>, Invalid> {
            let text = self.form.text(index);
            if text.is_empty() {
                return Ok(None);
            }
            let ms = format::parse_time_bound(text, now_ms)?;
            Ok(Some((text.to_owned(), ms)))
        };
        let since = bound(SINCE)?;
        let until = bound(UNTIL)?;
        if let (Some((_, s)), Some((_, u))) = (&since, &until)
            && s > u
        {
            return Err(Invalid::Backwards);
        }
        let filter = Filter {
            user: None,
            action: Some(self.form.text(ACTION).to_owned()).filter(|a| !a.is_empty()),
            since,
            until,
        };
        let user = Some(self.form.text(USER).to_owned()).filter(|u| !u.is_empty());
        Ok((filter, user))
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        self.form.draw(frame, area, theme);
    }
}

fn is_user_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

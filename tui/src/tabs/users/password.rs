//! A one-time password the server generated, for a new account or a reset: shown once, in a box
//! that Enter closes.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::theme::Theme;
use crate::widgets::{Dialog, Hint};

const KEYS: [Hint; 1] = [("Enter", "done")];

#[derive(Debug)]
pub struct OneTimePassword {
    title: &'static str,
    email: String,
    password: String,
    note: &'static str,
}

impl OneTimePassword {
    pub fn account_created(email: String, password: String) -> Self {
        Self {
            title: "Account created",
            email,
            password,
            note: "This one-time password is shown only now: pass it on securely.",
        }
    }

    pub fn password_reset(email: String, password: String) -> Self {
        Self {
            title: "Password reset",
            email,
            password,
            note: "Every session of the account has ended. This one-time password is shown only now: pass it on securely.",
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        KEYS.to_vec()
    }

    pub fn closes_on(&self, key: &KeyEvent) -> bool {
        matches!(key.code, KeyCode::Enter | KeyCode::Esc)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        Dialog::new(self.title, 60)
            .field("Account", self.email.clone(), theme.text())
            .field("Password", self.password.clone(), theme.title())
            .blank()
            .text(self.note, theme.warn())
            .keys(self.hints())
            .draw(frame, area, theme);
    }
}

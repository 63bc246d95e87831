//! A yes/no question before something that cannot simply be undone.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Dialog, Hint};
use crate::theme::Theme;

/// The question's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub title: &'static str,
    pub question: String,
    /// What happens, in one or two sentences.
    pub consequence: String,
    /// The `y` key's label: `suspend`, `revoke`.
    pub verb: &'static str,
}

/// A question on screen, holding what to do once the admin says yes.
#[derive(Debug)]
pub struct Confirmation<T> {
    confirm: Confirm,
    on_yes: T,
}

/// What a key did to a [`Confirmation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// Do it: here is what.
    Yes(T),
    /// Close the question; nothing is done.
    No,
    /// Not an answer: the question stays open.
    Undecided,
}

impl<T: Clone> Confirmation<T> {
    pub fn new(confirm: Confirm, on_yes: T) -> Self {
        Self { confirm, on_yes }
    }

    pub fn answer(&self, key: &KeyEvent) -> Answer<T> {
        match key.code {
            KeyCode::Char('y' | 'Y') => Answer::Yes(self.on_yes.clone()),
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => Answer::No,
            _ => Answer::Undecided,
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        vec![("y", self.confirm.verb), ("n/Esc", "cancel")]
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        Dialog::new(self.confirm.title, 60)
            .text(self.confirm.question.clone(), theme.title())
            .blank()
            .text(self.confirm.consequence.clone(), theme.text())
            .keys(self.hints())
            .draw(frame, area, theme);
    }
}

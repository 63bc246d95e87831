//! A small form in a box: text fields, masked fields and choices; Tab between them, Enter
//! submits, Esc cancels.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};

use super::dialog::draw_box;
use super::{Hint, TextInput, wrap};
use crate::request::RequestId;
use crate::theme::Theme;

const LABEL_WIDTH: usize = 10;

#[derive(Debug, Clone)]
pub enum Field {
    Text {
        label: &'static str,
        help: &'static str,
        input: TextInput,
    },
    /// Shown as `•`.
    Secret {
        label: &'static str,
        help: &'static str,
        input: TextInput,
    },
    Choice {
        label: &'static str,
        help: &'static str,
        options: &'static [&'static str],
        selected: usize,
    },
}

impl Field {
    pub fn text(label: &'static str, help: &'static str, value: &str) -> Self {
        Self::Text {
            label,
            help,
            input: TextInput::new(value),
        }
    }

    pub fn secret(label: &'static str, help: &'static str) -> Self {
        Self::Secret {
            label,
            help,
            input: TextInput::default(),
        }
    }

    pub fn choice(
        label: &'static str,
        help: &'static str,
        options: &'static [&'static str],
        selected: usize,
    ) -> Self {
        Self::Choice {
            label,
            help,
            options,
            selected: selected.min(options.len().saturating_sub(1)),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Text { label, .. } | Self::Secret { label, .. } | Self::Choice { label, .. } => {
                label
            }
        }
    }

    fn help(&self) -> &'static str {
        match self {
            Self::Text { help, .. } | Self::Secret { help, .. } | Self::Choice { help, .. } => help,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormEvent {
    /// Nothing to redraw.
    Ignored,
    Changed,
    Submit,
    Cancel,
}

#[derive(Debug, Clone)]
pub struct Form {
    title: String,
    fields: Vec<Field>,
    focus: usize,
    submit: &'static str,
    /// Set by the screen when the server or a check refuses the input.
    pub error: Option<String>,
    /// The request the form was sent as, until its answer comes: Enter does nothing then, and
    /// only that request's answer closes the form or shows in it. An answer to a form closed
    /// meanwhile must not close, or show in, one opened since.
    waiting_for: Option<RequestId>,
}

impl Form {
    pub fn new(title: impl Into<String>, submit: &'static str, fields: Vec<Field>) -> Self {
        Self {
            title: title.into(),
            fields,
            focus: 0,
            submit,
            error: None,
            waiting_for: None,
        }
    }

    /// The form was sent as request `id`.
    pub fn wait_for(&mut self, id: RequestId) {
        self.waiting_for = Some(id);
    }

    /// Sent, and its answer not come yet.
    pub fn is_waiting(&self) -> bool {
        self.waiting_for.is_some()
    }

    /// Whether request `id` is the one this form was sent as and waits for.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.waiting_for == Some(id)
    }

    /// Its answer came: the form can be sent again.
    pub fn answered(&mut self) {
        self.waiting_for = None;
    }

    /// The server (or a check) said no: the form says why and can be sent again.
    pub fn refused(&mut self, why: impl Into<String>) {
        self.waiting_for = None;
        self.error = Some(why.into());
    }

    /// The text of field `index` (trimmed), or "" for a choice.
    pub fn text(&self, index: usize) -> &str {
        match self.fields.get(index) {
            Some(Field::Text { input, .. }) => input.trimmed(),
            // A password is taken as typed: spaces may be part of it.
            Some(Field::Secret { input, .. }) => input.value(),
            _ => "",
        }
    }

    /// The chosen option of field `index`, or 0 for a text field.
    pub fn choice(&self, index: usize) -> usize {
        match self.fields.get(index) {
            Some(Field::Choice { selected, .. }) => *selected,
            _ => 0,
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        let mut hints = vec![("Enter", self.submit), ("Tab", "next field")];
        if matches!(self.fields.get(self.focus), Some(Field::Choice { .. })) {
            hints.push(("←/→", "choose"));
        }
        hints.push(("Esc", "cancel"));
        hints
    }

    /// Pasted text goes into the focused field if it takes text; true when it did.
    pub fn paste(&mut self, text: &str) -> bool {
        let pasted = match self.fields.get_mut(self.focus) {
            Some(Field::Text { input, .. } | Field::Secret { input, .. }) => input.insert_str(text),
            _ => false,
        };
        if pasted {
            self.error = None;
        }
        pasted
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> FormEvent {
        let count = self.fields.len().max(1);
        match key.code {
            KeyCode::Esc => return FormEvent::Cancel,
            KeyCode::Enter if self.is_waiting() => return FormEvent::Ignored,
            KeyCode::Enter => return FormEvent::Submit,
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % count,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + count - 1) % count,
            _ => {
                let handled = match self.fields.get_mut(self.focus) {
                    Some(Field::Text { input, .. } | Field::Secret { input, .. }) => {
                        input.handle_key(key)
                    }
                    Some(Field::Choice {
                        options, selected, ..
                    }) => cycle(key, options.len(), selected),
                    None => false,
                };
                if !handled {
                    return FormEvent::Ignored;
                }
            }
        }
        self.error = None;
        FormEvent::Changed
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = 66.min(area.width.saturating_sub(2));
        let inner = usize::from(width.saturating_sub(6));
        let input_width = inner.saturating_sub(LABEL_WIDTH + 2);
        let mut lines = Vec::new();
        let mut cursor = None;
        for (i, field) in self.fields.iter().enumerate() {
            let focused = i == self.focus;
            let marker = if focused { "›" } else { " " };
            let label_style = if focused { theme.title() } else { theme.dim() };
            let mut spans = vec![
                Span::styled(marker, theme.key()),
                Span::styled(format!("{:<LABEL_WIDTH$} ", field.label()), label_style),
            ];
            match field {
                Field::Text { input, .. } | Field::Secret { input, .. } => {
                    let masked = matches!(field, Field::Secret { .. });
                    let (span, column) = input.render(input_width, masked, theme);
                    spans.push(span);
                    if focused {
                        cursor = Some((LABEL_WIDTH as u16 + 2 + column, lines.len() as u16));
                    }
                }
                Field::Choice {
                    options, selected, ..
                } => {
                    for (j, option) in options.iter().enumerate() {
                        if j == *selected {
                            spans.push(Span::styled(format!("[{option}]"), theme.selected()));
                        } else {
                            spans.push(Span::styled(format!(" {option} "), theme.dim()));
                        }
                        spans.push(Span::raw(" "));
                    }
                }
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::default());
        // As many lines as the longest help, so the box does not jump while tabbing.
        let help_height = self
            .fields
            .iter()
            .map(|f| wrap(f.help(), inner).len())
            .max()
            .unwrap_or(0);
        let help = self
            .fields
            .get(self.focus)
            .map(|f| wrap(f.help(), inner))
            .unwrap_or_default();
        for i in 0..help_height {
            let text = help.get(i).cloned().unwrap_or_default();
            lines.push(Line::styled(text, theme.dim()));
        }
        if let Some(error) = &self.error {
            lines.extend(
                wrap(&format!("✗ {error}"), inner)
                    .into_iter()
                    .map(|l| Line::styled(l, theme.error())),
            );
        }
        if self.is_waiting() {
            lines.push(Line::styled("… waiting for the server", theme.dim()));
        }
        let rect = draw_box(frame, area, &self.title, width, lines, &self.hints(), theme);
        if let Some((x, y)) = cursor {
            let position = Position::new(rect.x + 3 + x, rect.y + 2 + y);
            if rect.contains(position) {
                frame.set_cursor_position(position);
            }
        }
    }
}

/// ←/→, h/l and Space move through a choice's options.
fn cycle(key: &KeyEvent, len: usize, selected: &mut usize) -> bool {
    if len == 0 || key.modifiers.contains(KeyModifiers::CONTROL) {
        return false;
    }
    match key.code {
        KeyCode::Right | KeyCode::Char('l' | ' ') => *selected = (*selected + 1) % len,
        KeyCode::Left | KeyCode::Char('h') => *selected = (*selected + len - 1) % len,
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn tab_moves_between_fields_and_keys_go_to_the_focused_one() {
        let mut form = Form::new(
            "t",
            "save",
            vec![
                Field::text("Name", "", ""),
                Field::choice("Plan", "", &["a", "b", "c"], 0),
            ],
        );
        assert_eq!(
            form.handle_key(&key(KeyCode::Char('x'))),
            FormEvent::Changed
        );
        assert_eq!(form.text(0), "x");
        form.handle_key(&key(KeyCode::Tab));
        form.handle_key(&key(KeyCode::Left));
        assert_eq!(form.choice(1), 2);
        assert_eq!(
            form.handle_key(&key(KeyCode::Char('z'))),
            FormEvent::Ignored
        );
        form.handle_key(&key(KeyCode::Tab));
        assert_eq!(form.handle_key(&key(KeyCode::Enter)), FormEvent::Submit);
        form.wait_for(7);
        assert_eq!(form.handle_key(&key(KeyCode::Enter)), FormEvent::Ignored);
        assert!(form.awaits(7) && !form.awaits(8));
        form.refused("no");
        assert_eq!(form.handle_key(&key(KeyCode::Enter)), FormEvent::Submit);
        form.wait_for(9);
        assert_eq!(form.handle_key(&key(KeyCode::Esc)), FormEvent::Cancel);
    }
}

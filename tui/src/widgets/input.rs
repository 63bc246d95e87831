//! A one-line text field: typing, Backspace/Delete, ←/→, Home/End, Ctrl-u to clear.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::Span;

use crate::theme::Theme;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    value: String,
    /// In characters, 0..=len.
    cursor: usize,
}

impl TextInput {
    pub fn new(value: &str) -> Self {
        Self {
            value: value.to_owned(),
            cursor: value.chars().count(),
        }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn trimmed(&self) -> &str {
        self.value.trim()
    }

    pub fn clear(&mut self) {
        self.value.clear();
        self.cursor = 0;
    }

    /// Inserts pasted text at the cursor, its line breaks and other control characters
    /// left out (a field is one line); true when anything went in.
    pub fn insert_str(&mut self, text: &str) -> bool {
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        if clean.is_empty() {
            return false;
        }
        let at = self.byte_at(self.cursor);
        self.value.insert_str(at, &clean);
        self.cursor += clean.chars().count();
        true
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.value
            .char_indices()
            .nth(chars)
            .map_or(self.value.len(), |(i, _)| i)
    }

    /// True when the key edited the text or moved the cursor.
    pub fn handle_key(&mut self, key: &KeyEvent) -> bool {
        let len = self.value.chars().count();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => self.clear(),
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                let at = self.byte_at(self.cursor);
                self.value.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            _ => return false,
        }
        true
    }

    /// The field as `width` columns (masked with `•` for secrets), scrolled so the cursor shows,
    /// and the cursor's column within it.
    pub fn render(&self, width: usize, masked: bool, theme: Theme) -> (Span<'static>, u16) {
        let shown: Vec<char> = if masked {
            std::iter::repeat_n('•', self.value.chars().count()).collect()
        } else {
            self.value.chars().collect()
        };
        let width = width.max(1);
        let start = (self.cursor + 1).saturating_sub(width);
        let mut visible: String = shown.iter().skip(start).take(width).collect();
        let pad = width.saturating_sub(visible.chars().count());
        visible.extend(std::iter::repeat_n(' ', pad));
        let column = u16::try_from(self.cursor - start).unwrap_or(0);
        (Span::styled(visible, theme.input()), column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn edits_where_the_cursor_is() {
        let mut input = TextInput::new("ac");
        input.handle_key(&key(KeyCode::Left));
        input.handle_key(&key(KeyCode::Char('b')));
        assert_eq!(input.value(), "abc");
        input.handle_key(&key(KeyCode::Home));
        input.handle_key(&key(KeyCode::Delete));
        assert_eq!(input.value(), "bc");
        input.handle_key(&key(KeyCode::End));
        input.handle_key(&key(KeyCode::Backspace));
        assert_eq!(input.value(), "b");
        input.handle_key(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(input.value(), "");
        assert!(!input.handle_key(&key(KeyCode::Backspace)));
    }

    #[test]
    fn renders_masked_and_scrolled() {
        let input = TextInput::new("sécret");
        let (span, column) = input.render(4, true, Theme::PLAIN);
        assert_eq!(span.content, "••• ");
        assert_eq!(column, 3);
        let (span, _) = TextInput::new("ab").render(4, false, Theme::PLAIN);
        assert_eq!(span.content, "ab  ");
    }
}

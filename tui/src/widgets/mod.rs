//! Pieces every screen uses: list cursors, text fields, forms, dialogs, word wrapping.

mod dialog;
mod form;
mod input;

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Padding, Paragraph, TableState};

use crate::theme::Theme;

pub use dialog::{Confirm, ConfirmKey, Dialog, hint_line};
pub use form::{Field, Form, FormEvent};
pub use input::TextInput;

/// One key and what it does, for the hint line and the help.
pub type Hint = (&'static str, &'static str);

/// Rows a page key moves.
const PAGE: usize = 10;

/// A selection in a list that may grow or shrink under it, moved with vim or arrow keys.
#[derive(Debug, Default)]
pub struct Cursor {
    pub index: usize,
    /// The first visible row, kept between frames so the view scrolls rather than jumps.
    offset: Cell<usize>,
}

impl Cursor {
    /// Moves for j/k, arrows, g/G, Home/End, PgUp/PgDn and Ctrl-d/Ctrl-u; true when it handled
    /// the key (even at an edge, so the key does not fall through to something else).
    pub fn handle_key(&mut self, key: &KeyEvent, len: usize) -> bool {
        let last = len.saturating_sub(1);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        self.index = match key.code {
            KeyCode::Down | KeyCode::Char('j') if !ctrl => (self.index + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') if !ctrl => self.index.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') if !ctrl => 0,
            KeyCode::End | KeyCode::Char('G') if !ctrl => last,
            KeyCode::PageDown => (self.index + PAGE).min(last),
            KeyCode::Char('d') if ctrl => (self.index + PAGE).min(last),
            KeyCode::PageUp => self.index.saturating_sub(PAGE),
            KeyCode::Char('u') if ctrl => self.index.saturating_sub(PAGE),
            _ => return false,
        };
        true
    }

    pub fn clamp(&mut self, len: usize) {
        self.index = self.index.min(len.saturating_sub(1));
    }

    pub fn table_state(&self, len: usize) -> TableState {
        let state = TableState::default().with_offset(self.offset.get());
        if len == 0 {
            state
        } else {
            state.with_selected(Some(self.index.min(len - 1)))
        }
    }

    pub fn remember(&self, state: &TableState) {
        self.offset.set(state.offset());
    }
}

/// A bordered list's stand-in while it has nothing to show: loading, empty, or why not.
pub fn draw_placeholder(frame: &mut Frame, area: Rect, block: Block, text: &str, theme: Theme) {
    frame.render_widget(
        Paragraph::new(Line::styled(text.to_owned(), theme.dim()))
            .block(block.padding(Padding::horizontal(1))),
        area,
    );
}

/// A centred rectangle of at most `width` × `height` inside `area`.
pub fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// Greedy word wrap to `width` columns; words longer than a line are cut. Paragraph breaks
/// (`\n`) are kept.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_len = 0;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let mut word: Vec<char> = word.chars().collect();
            while word.len() > width {
                if line_len > 0 {
                    lines.push(std::mem::take(&mut line));
                    line_len = 0;
                }
                lines.push(word.drain(..width).collect());
            }
            let needed = if line_len == 0 {
                word.len()
            } else {
                line_len + 1 + word.len()
            };
            if needed > width {
                lines.push(std::mem::take(&mut line));
                line_len = 0;
            }
            if line_len > 0 {
                line.push(' ');
                line_len += 1;
            }
            line.extend(word.iter());
            line_len += word.len();
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn the_cursor_stays_inside_the_list() {
        let mut c = Cursor::default();
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert!(c.handle_key(&key(KeyCode::Char('k')), 3));
        assert_eq!(c.index, 0);
        c.handle_key(&key(KeyCode::Char('G')), 3);
        assert_eq!(c.index, 2);
        c.handle_key(&key(KeyCode::Down), 3);
        assert_eq!(c.index, 2);
        c.handle_key(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL), 3);
        assert_eq!(c.index, 0);
        assert!(!c.handle_key(&key(KeyCode::Char('x')), 3));
        c.index = 7;
        c.clamp(2);
        assert_eq!(c.index, 1);
    }
}

//! Pieces every screen uses: lists and their cursors, searches, panels, text fields, forms,
//! dialogs and confirmations, word wrapping.

mod confirm;
mod dialog;
mod form;
mod input;
mod list;
mod panel;
mod search;

use ratatui::layout::Rect;

pub use confirm::{Answer, Confirm, Confirmation};
pub use dialog::{Dialog, draw_box, hint_line};
pub use form::{Field, Form, FormEvent};
pub use input::TextInput;
pub use list::{Cursor, EmptyText, ListBox};
pub use panel::{draw_placeholder, field, panel};
pub use search::{FilteredList, Listed};

/// One key and what it does, for the hint line and the help.
pub type Hint = (&'static str, &'static str);

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
}

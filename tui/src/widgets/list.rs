//! Lists: the selection, moved with vim or arrow keys, and the titled box a list is drawn in.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, BorderType, Row, Table, TableState};

use super::panel::{draw_placeholder, titled_block};
use crate::theme::Theme;

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

    fn table_state(&self, len: usize) -> TableState {
        let state = TableState::default().with_offset(self.offset.get());
        if len == 0 {
            state
        } else {
            state.with_selected(Some(self.index.min(len - 1)))
        }
    }

    fn remember(&self, state: &TableState) {
        self.offset.set(state.offset());
    }
}

/// What an empty list says instead of its rows.
#[derive(Debug)]
pub struct EmptyText {
    pub loading: &'static str,
    /// There is nothing at all.
    pub empty: &'static str,
    /// A search or filter hides everything: says how to clear it.
    pub no_match: &'static str,
}

impl EmptyText {
    /// The first load's error comes first: it says why there is nothing.
    pub fn pick(&self, error: Option<&str>, loaded: bool, narrowed: bool) -> String {
        match (error, loaded) {
            (Some(error), _) => error.to_owned(),
            (None, false) => self.loading.to_owned(),
            (None, true) if narrowed => self.no_match.to_owned(),
            (None, true) => self.empty.to_owned(),
        }
    }
}

/// A list in a titled box: its rows under a header with the cursor's row selected, or a line
/// saying why there are none.
#[derive(Debug)]
pub struct ListBox {
    block: Block<'static>,
    theme: Theme,
}

impl ListBox {
    pub fn new(title: &str, theme: Theme) -> Self {
        Self {
            block: titled_block(title, theme),
            theme,
        }
    }

    /// Marks the list that has the keys among several on one screen, with a heavy border that
    /// reads without colours too.
    pub fn focused(mut self, focused: bool) -> Self {
        if focused {
            self.block = self
                .block
                .border_type(BorderType::Thick)
                .border_style(self.theme.dialog_border());
        }
        self
    }

    pub fn draw_placeholder(self, frame: &mut Frame, area: Rect, text: &str) {
        draw_placeholder(frame, area, self.block, text, self.theme);
    }

    /// The view scrolls to keep the selected row in sight, from where it was last drawn.
    pub fn draw_rows<'a>(
        self,
        frame: &mut Frame,
        area: Rect,
        header: Row<'a>,
        widths: impl IntoIterator<Item = Constraint>,
        rows: Vec<Row<'a>>,
        cursor: &Cursor,
    ) {
        let len = rows.len();
        let table = Table::new(rows, widths)
            .header(header.style(self.theme.dim()))
            .block(self.block)
            .row_highlight_style(self.theme.selected())
            .highlight_symbol("▶ ");
        let mut state = cursor.table_state(len);
        frame.render_stateful_widget(table, area, &mut state);
        cursor.remember(&state);
    }

    /// Rows that are only read, never selected: drawn from the top, without a cursor.
    pub fn draw_table<'a>(
        self,
        frame: &mut Frame,
        area: Rect,
        header: Row<'a>,
        widths: impl IntoIterator<Item = Constraint>,
        rows: Vec<Row<'a>>,
    ) {
        let table = Table::new(rows, widths)
            .header(header.style(self.theme.dim()))
            .block(self.block);
        frame.render_widget(table, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

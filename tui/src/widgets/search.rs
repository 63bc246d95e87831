//! Narrowing a list by typing: the search line above it, and the list it narrows, whose
//! selection stays on its item when the list reloads.

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Cursor, EmptyText, TextInput};
use crate::request::{ApiFailure, Ctx};
use crate::theme::Theme;

/// Columns the search line's label takes: ` Search: `.
const LABEL_WIDTH: u16 = 9;

/// The search line: `/` opens it, typing narrows the list, Enter keeps the search, Esc clears it.
#[derive(Debug, Default)]
pub struct SearchBar {
    input: TextInput,
    typing: bool,
}

/// What a key did to the search line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchKey {
    Edited,
    Closed,
    Ignored,
}

impl SearchBar {
    pub fn is_typing(&self) -> bool {
        self.typing
    }

    /// The search as typed, trimmed.
    pub fn text(&self) -> &str {
        self.input.trimmed()
    }

    /// Pasted text, while the search is being typed.
    fn paste(&mut self, text: &str) -> bool {
        self.typing && self.input.insert_str(text)
    }

    fn needle(&self) -> String {
        self.input.trimmed().to_lowercase()
    }

    fn handle_key(&mut self, key: &KeyEvent) -> SearchKey {
        match key.code {
            KeyCode::Esc => {
                self.input.clear();
                self.typing = false;
                SearchKey::Closed
            }
            KeyCode::Enter => {
                self.typing = false;
                SearchKey::Closed
            }
            _ if self.input.handle_key(key) => SearchKey::Edited,
            _ => SearchKey::Ignored,
        }
    }

    /// Takes the top row of `area` while there is a search to show and returns the rest. The
    /// terminal's cursor goes in the field while typing, if `caret` (no box over the screen
    /// has the keys).
    pub fn draw(&self, frame: &mut Frame, area: Rect, caret: bool, theme: Theme) -> Rect {
        let shown = self.typing || !self.input.value().is_empty();
        let [line, rest] =
            Layout::vertical([Constraint::Length(u16::from(shown)), Constraint::Fill(1)])
                .areas(area);
        if shown {
            let (field, column) =
                self.input
                    .render(usize::from(line.width.saturating_sub(12)), false, theme);
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled(" Search: ", theme.key()),
                    field,
                ])),
                line,
            );
            if self.typing && caret {
                frame.set_cursor_position((line.x + LABEL_WIDTH + column, line.y));
            }
        }
        rest
    }
}

/// What a [`FilteredList`] needs of its items.
pub trait Listed: PartialEq {
    /// Stays the same across reloads, so the selection can follow its item.
    fn id(&self) -> &str;
    /// True when the item matches `needle`, a lowercase search that is never empty.
    fn matches(&self, needle: &str) -> bool;
    /// The list's order.
    fn order(&self, other: &Self) -> Ordering;
}

/// Items loaded from the server, narrowed by a search, with a selection.
#[derive(Debug)]
pub struct FilteredList<T> {
    items: Vec<T>,
    loaded: bool,
    /// Why the first load failed: shown in place of the list until a load succeeds.
    error: Option<String>,
    cursor: Cursor,
    search: SearchBar,
}

impl<T> Default for FilteredList<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            loaded: false,
            error: None,
            cursor: Cursor::default(),
            search: SearchBar::default(),
        }
    }
}

impl<T: Listed> FilteredList<T> {
    pub fn items(&self) -> &[T] {
        &self.items
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    pub fn search(&self) -> &SearchBar {
        &self.search
    }

    pub fn is_searching(&self) -> bool {
        self.search.is_typing()
    }

    /// The items the search lets through, in order.
    pub fn visible(&self) -> Vec<&T> {
        let needle = self.search.needle();
        self.items
            .iter()
            .filter(|item| needle.is_empty() || item.matches(&needle))
            .collect()
    }

    pub fn selected(&self) -> Option<&T> {
        self.visible().get(self.cursor.index).copied()
    }

    pub fn find(&self, id: &str) -> Option<&T> {
        self.items.iter().find(|item| item.id() == id)
    }

    /// Selects the item `id` if the search shows it.
    fn select(&mut self, id: &str) {
        if let Some(index) = self.visible().iter().position(|item| item.id() == id) {
            self.cursor.index = index;
        }
    }

    /// Moves the selection; true when the key is a move.
    pub fn move_cursor(&mut self, key: &KeyEvent) -> bool {
        let len = self.visible().len();
        self.cursor.handle_key(key, len)
    }

    /// While searching, keys edit the search; otherwise they move the selection, `/` starts a
    /// search and Esc clears the one kept. True when the key was handled.
    /// Pasted text goes into the search while it is being typed; true when it did.
    pub fn paste(&mut self, text: &str) -> bool {
        let pasted = self.search.paste(text);
        if pasted {
            self.cursor.index = 0;
        }
        pasted
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        if self.search.is_typing() {
            return match self.search.handle_key(key) {
                SearchKey::Edited => {
                    self.cursor.index = 0;
                    true
                }
                SearchKey::Closed => true,
                SearchKey::Ignored => false,
            };
        }
        if self.move_cursor(key) {
            return true;
        }
        match key.code {
            KeyCode::Char('/') => self.search.typing = true,
            KeyCode::Esc if !self.search.input.value().is_empty() => self.search.input.clear(),
            _ => return false,
        }
        true
    }

    /// Takes a fresh load and selects `keep` again; false when the load brings nothing new.
    pub fn replace(&mut self, mut items: Vec<T>, keep: Option<String>) -> bool {
        items.sort_by(T::order);
        if self.loaded && self.error.is_none() && items == self.items {
            return false;
        }
        self.items = items;
        self.loaded = true;
        self.error = None;
        if let Some(id) = keep {
            self.select(&id);
        }
        self.cursor.clamp(self.visible().len());
        true
    }

    /// Until the list has loaded, the error stands in its place; after, it is a notice.
    pub fn load_failed(&mut self, error: &ApiFailure, ctx: &mut Ctx) {
        if self.loaded {
            ctx.error(error.to_string());
        } else {
            self.error = Some(error.to_string());
        }
    }

    /// Puts a changed item in its place, or adds a new one and selects it.
    pub fn upsert(&mut self, item: T) {
        match self.items.iter_mut().find(|slot| slot.id() == item.id()) {
            Some(slot) => *slot = item,
            None => {
                let id = item.id().to_owned();
                self.items.push(item);
                self.items.sort_by(T::order);
                self.select(&id);
            }
        }
    }

    /// Why no item shows.
    pub fn empty_text(&self, texts: &EmptyText) -> String {
        texts.pick(self.error.as_deref(), self.loaded, !self.items.is_empty())
    }
}

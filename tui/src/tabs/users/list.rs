//! Every account in a table: the search that narrows it, the selection the keys act on, and
//! what the list says while it has nothing to show.

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use studiovault_api::AccountStatus;
use studiovault_api::admin::UserView;

use crate::format;
use crate::request::{ApiFailure, Ctx};
use crate::theme::Theme;
use crate::widgets::{EmptyText, FilteredList, Hint, ListBox, Listed};

/// The list's own keys, for the hint line.
pub const HINTS: [Hint; 4] = [
    ("n", "new"),
    ("/", "search"),
    ("Enter", "open"),
    ("X", "sign out"),
];

/// The keys while typing a search.
pub const SEARCH_HINTS: [Hint; 4] = [
    ("type", "to filter"),
    ("↑/↓", "move"),
    ("Enter", "keep"),
    ("Esc", "clear"),
];

const EMPTY: EmptyText = EmptyText {
    loading: "Loading accounts …",
    empty: "No accounts yet. Press n to create one.",
    no_match: "No account matches. Esc clears the search.",
};

/// Below this width the track counts are left out.
const WIDE: u16 = 100;

impl Listed for UserView {
    fn id(&self) -> &str {
        &self.id
    }

    fn matches(&self, needle: &str) -> bool {
        self.email.to_lowercase().contains(needle) || self.id.contains(needle)
    }

    fn order(&self, other: &Self) -> Ordering {
        self.email.cmp(&other.email)
    }
}

/// The accounts, by e-mail address.
#[derive(Debug, Default)]
pub struct UserList {
    accounts: FilteredList<UserView>,
}

impl UserList {
    pub fn paste(&mut self, text: &str) -> bool {
        self.accounts.paste(text)
    }

    pub fn is_searching(&self) -> bool {
        self.accounts.is_searching()
    }

    pub fn selected(&self) -> Option<&UserView> {
        self.accounts.selected()
    }

    pub fn find(&self, user_id: &str) -> Option<&UserView> {
        self.accounts.find(user_id)
    }

    /// A fresh load; `keep` stays selected. False when it brings nothing new.
    pub fn replace(&mut self, users: Vec<UserView>, keep: Option<String>) -> bool {
        self.accounts.replace(users, keep)
    }

    /// An account the server just sent back: changed, or new (and then selected).
    pub fn upsert(&mut self, user: UserView) {
        self.accounts.upsert(user);
    }

    pub fn load_failed(&mut self, error: &ApiFailure, ctx: &mut Ctx) {
        self.accounts.load_failed(error, ctx);
    }

    /// Moves, search (`/`, and typing while it is open) and Esc to clear the search.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        // The arrows still move while typing, so a match can be picked without leaving the search.
        if self.accounts.is_searching()
            && matches!(
                key.code,
                KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown
            )
        {
            return self.accounts.move_cursor(key);
        }
        self.accounts.on_key(key)
    }

    /// `caret`: nothing is open over the list, so the search field may show the cursor.
    pub fn draw(&self, frame: &mut Frame, area: Rect, caret: bool, theme: Theme) {
        let table_area = self.accounts.search().draw(frame, area, caret, theme);
        let visible = self.accounts.visible();
        let total = self.accounts.items().len();
        let search = self.accounts.search().text();
        let title = if search.is_empty() {
            format!("Users ({total})")
        } else {
            format!(
                "Users: {} of {total} match \"{}\"",
                visible.len(),
                format::clip(search, 20)
            )
        };
        let list = ListBox::new(&title, theme);
        if visible.is_empty() {
            list.draw_placeholder(frame, table_area, &self.accounts.empty_text(&EMPTY));
            return;
        }
        let wide = table_area.width >= WIDE;
        let mut header = vec!["E-mail", "Plan", "Storage"];
        let mut widths = vec![
            Constraint::Fill(1),
            Constraint::Length(4),
            Constraint::Length(20),
        ];
        if wide {
            header.push("Tracks");
            widths.push(Constraint::Length(6));
        }
        header.extend(["2FA", "Sessions", "Status"]);
        widths.extend([
            Constraint::Length(3),
            Constraint::Length(8),
            Constraint::Length(9),
        ]);
        let rows = visible.iter().map(|u| row(u, wide, theme)).collect();
        list.draw_rows(
            frame,
            table_area,
            Row::new(header),
            widths,
            rows,
            self.accounts.cursor(),
        );
    }
}

fn row(u: &UserView, wide: bool, theme: Theme) -> Row<'static> {
    let (status, style) = status_word(&u.status, theme);
    let mut cells = vec![
        Cell::from(u.email.clone()),
        Cell::from(u.plan.as_str()),
        Cell::from(format!(
            "{} / {}",
            format::size(u.used_bytes),
            format::size(u.quota_bytes)
        )),
    ];
    if wide {
        cells.push(Cell::from(format!("{:>6}", format::count(u.tracks))));
    }
    cells.extend([
        Cell::from(if u.totp_enabled { "on" } else { "off" }),
        Cell::from(format!("{:>8}", u.sessions)),
        Cell::from(Span::styled(status, style)),
    ]);
    Row::new(cells)
}

/// One word for the list, readable without colour.
fn status_word(status: &AccountStatus, theme: Theme) -> (&'static str, Style) {
    match status {
        AccountStatus::Active => ("active", theme.text()),
        AccountStatus::Suspended { .. } => ("suspended", theme.warn()),
        AccountStatus::PendingDeletion { .. } => ("deleting", theme.error()),
    }
}

//! One record in full, over the log: every field, accounts by e-mail and id. j/k step through
//! the log underneath, so the record shown is always the selected one.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use studiovault_api::admin::AuditEntry;

use super::accounts::Accounts;
use crate::format;
use crate::theme::Theme;
use crate::widgets::{Dialog, Hint};

pub const KEYS: [Hint; 2] = [("j/k", "older/newer"), ("Esc", "close")];

/// Esc or Enter close the record; other keys go on to the log.
pub fn closes_on(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Esc | KeyCode::Enter)
}

pub fn draw(entry: &AuditEntry, accounts: &Accounts, frame: &mut Frame, area: Rect, theme: Theme) {
    fields(format!("Record #{}", entry.seq), entry, accounts, theme)
        .keys(KEYS.to_vec())
        .draw(frame, area, theme);
}

/// The record's fields in a dialog titled `title`; a verification shows them too.
pub fn fields(title: String, e: &AuditEntry, accounts: &Accounts, theme: Theme) -> Dialog {
    let owner = e
        .owner
        .as_ref()
        .map_or_else(|| "–".to_owned(), |id| format!("{} ({id})", accounts.name(id)));
    let text = theme.text();
    Dialog::new(title, 76)
        .field("When", format!("{} UTC", format::timestamp(e.at_ms)), text)
        .field("Action", e.action.clone(), theme.title())
        .field(
            "By",
            match e.actor.strip_prefix("user:") {
                Some(id) => format!("{} ({id})", accounts.name(id)),
                None => e.actor.clone(),
            },
            text,
        )
        .field("Account", owner, text)
        .field("Object", e.object.clone().unwrap_or_else(|| "–".into()), text)
        .field(
            "Client",
            e.client
                .clone()
                .map_or_else(|| "–".into(), |c| format!("{c} (keyed hash)")),
            text,
        )
        .field("Detail", e.detail.clone().unwrap_or_else(|| "–".into()), text)
        .field("Hash", e.hash.clone(), theme.dim())
}

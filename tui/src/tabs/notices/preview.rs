//! The two previews before anything reaches a user: the accounts a choice matches (the count,
//! and the list to scroll through), and the notice exactly as it will be mailed. Each keeps
//! the form it came from, so `e` goes back to it as it was.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use studiovault_api::admin::{AffectedAccounts, AffectedSelection, NoticeParts, NoticePreview};

use super::forms::IncidentForm;
use super::view::short_id;
use crate::format;
use crate::theme::Theme;
use crate::widgets::{Hint, draw_box, wrap};

/// Rows a box keeps for its border, padding, and the line of keys under its text.
const CHROME_ROWS: u16 = 8;

/// What a key did in a preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewKey {
    Scrolled,
    /// Go on: record the accounts, or send the notice.
    Accept,
    /// Back to the form, as it was.
    Edit,
    Close,
    Ignored,
}

/// Text in a box that scrolls when it is taller than the screen.
#[derive(Debug, Default)]
struct Scroll {
    offset: usize,
    /// How far it could scroll when last drawn.
    max: Cell<usize>,
}

impl Scroll {
    fn on_key(&mut self, key: &KeyEvent) -> bool {
        let max = self.max.get();
        self.offset = match key.code {
            KeyCode::Down | KeyCode::Char('j') => (self.offset + 1).min(max),
            KeyCode::Up | KeyCode::Char('k') => self.offset.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => (self.offset + 10).min(max),
            KeyCode::PageUp => self.offset.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => max,
            _ => return false,
        };
        true
    }

    /// Draws the window of `lines` that fits, with a line saying where it is when they do not
    /// all fit.
    fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        title: &str,
        lines: Vec<Line<'static>>,
        keys: &[Hint],
        theme: Theme,
    ) {
        let room = usize::from(area.height.saturating_sub(CHROME_ROWS)).max(1);
        let max = lines.len().saturating_sub(room);
        self.max.set(max);
        let offset = self.offset.min(max);
        let total = lines.len();
        let mut shown: Vec<Line<'static>> = lines.into_iter().skip(offset).take(room).collect();
        if max > 0 {
            shown.push(Line::styled(
                format!(
                    "lines {}-{} of {total} · j/k scroll",
                    offset + 1,
                    (offset + room).min(total)
                ),
                theme.dim(),
            ));
        }
        draw_box(frame, area, title, box_width(area), shown, keys, theme);
    }
}

fn text_lines(text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    wrap(text, width)
        .into_iter()
        .map(|l| Line::styled(l, style))
        .collect()
}

fn box_width(area: Rect) -> u16 {
    90.min(area.width.saturating_sub(2))
}

/// The accounts a choice matches, before they are recorded as affected.
#[derive(Debug)]
pub struct AffectedPreview {
    pub id: String,
    pub selection: AffectedSelection,
    pub accounts: AffectedAccounts,
    pub form: IncidentForm,
    scroll: Scroll,
}

const AFFECTED_KEYS: [Hint; 3] = [("Enter", "use these"), ("e", "edit"), ("Esc", "cancel")];

impl AffectedPreview {
    pub fn new(
        id: String,
        selection: AffectedSelection,
        accounts: AffectedAccounts,
        form: IncidentForm,
    ) -> Self {
        Self {
            id,
            selection,
            accounts,
            form,
            scroll: Scroll::default(),
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        AFFECTED_KEYS.to_vec()
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> PreviewKey {
        if self.scroll.on_key(key) {
            return PreviewKey::Scrolled;
        }
        match key.code {
            KeyCode::Enter | KeyCode::Char('y') => PreviewKey::Accept,
            KeyCode::Char('e') => PreviewKey::Edit,
            KeyCode::Esc | KeyCode::Char('n' | 'q') => PreviewKey::Close,
            _ => PreviewKey::Ignored,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = box_width(area);
        let inner = usize::from(width.saturating_sub(6));
        let count = self.accounts.count;
        let mut lines = text_lines(
            &format!(
                "{count} account(s): {}. Enter records them as the accounts this incident affects; the notice goes to each of them.",
                describe(&self.selection)
            ),
            inner,
            theme.title(),
        );
        lines.push(Line::default());
        let email_width = self
            .accounts
            .accounts
            .iter()
            .map(|a| a.email.chars().count())
            .max()
            .unwrap_or(0)
            .min(inner.saturating_sub(10));
        for account in &self.accounts.accounts {
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "{:<email_width$}  ",
                    format::clip(&account.email, email_width)
                )),
                Span::styled(short_id(&account.id), theme.dim()),
            ]));
        }
        self.scroll.draw(
            frame,
            area,
            &format!("Affected accounts ({count})"),
            lines,
            &AFFECTED_KEYS,
            theme,
        );
    }
}

/// The choice in words.
fn describe(selection: &AffectedSelection) -> String {
    match selection {
        AffectedSelection::All => "every account".into(),
        AffectedSelection::Accounts { accounts } => {
            format!("the {} named in the list", accounts.len())
        }
        AffectedSelection::AuditLog {
            since_ms,
            until_ms,
            actions,
            object,
        } => {
            let mut parts = Vec::new();
            if let Some(since) = since_ms {
                parts.push(format!("from {} UTC", format::minute(*since)));
            }
            if let Some(until) = until_ms {
                parts.push(format!("until {} UTC", format::minute(*until)));
            }
            if !actions.is_empty() {
                parts.push(format!("actions {}", actions.join(", ")));
            }
            if let Some(object) = object {
                parts.push(format!("object {object}"));
            }
            format!("from the audit log, {}", parts.join("; "))
        }
    }
}

/// The notice as it will be mailed, before it is sent.
#[derive(Debug)]
pub struct NoticePreviewBox {
    pub id: String,
    pub notice: NoticeParts,
    pub preview: NoticePreview,
    pub form: IncidentForm,
    scroll: Scroll,
}

const NOTICE_KEYS: [Hint; 3] = [("s", "send"), ("e", "edit"), ("Esc", "close")];

impl NoticePreviewBox {
    pub fn new(id: String, notice: NoticeParts, preview: NoticePreview, form: IncidentForm) -> Self {
        Self {
            id,
            notice,
            preview,
            form,
            scroll: Scroll::default(),
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        NOTICE_KEYS.to_vec()
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> PreviewKey {
        if self.scroll.on_key(key) {
            return PreviewKey::Scrolled;
        }
        match key.code {
            KeyCode::Char('s') => PreviewKey::Accept,
            KeyCode::Char('e') => PreviewKey::Edit,
            KeyCode::Esc | KeyCode::Char('q') => PreviewKey::Close,
            _ => PreviewKey::Ignored,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = box_width(area);
        let inner = usize::from(width.saturating_sub(6));
        let mut lines = text_lines(
            &format!(
                "To {} account(s), one mail each, and as a banner in their web app until they dismiss it.",
                self.preview.recipients
            ),
            inner,
            theme.dim(),
        );
        if self.preview.late {
            lines.extend(text_lines(
                "Late: the 72 hours from confirmation are past; sending asks for the reason.",
                inner,
                theme.error(),
            ));
        }
        lines.push(Line::default());
        lines.extend(text_lines(
            &format!("Subject: {}", self.preview.subject),
            inner,
            theme.title(),
        ));
        lines.push(Line::default());
        lines.extend(text_lines(&self.preview.text, inner, theme.text()));
        self.scroll.draw(
            frame,
            area,
            "Notice preview, as mailed",
            lines,
            &NOTICE_KEYS,
            theme,
        );
    }
}

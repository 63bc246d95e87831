//! Boxes drawn over a screen: one-time secrets, record details, results, and the frame that
//! confirmations and forms are drawn in.

use ratatui::Frame;
use ratatui::layout::{Alignment, Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Padding, Paragraph};

use super::{Hint, centred, wrap};
use crate::theme::Theme;

/// Width of the label column of [`Dialog::field`].
const LABEL_WIDTH: usize = 11;

#[derive(Debug)]
enum Item {
    Text(String, Style),
    Field(&'static str, String, Style),
    Blank,
}

/// A titled box with wrapped text and a line of keys, sized to its content.
#[derive(Debug)]
pub struct Dialog {
    title: String,
    width: u16,
    items: Vec<Item>,
    keys: Vec<Hint>,
}

impl Dialog {
    pub fn new(title: impl Into<String>, width: u16) -> Self {
        Self {
            title: title.into(),
            width,
            items: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// A paragraph, wrapped to the box.
    pub fn text(mut self, text: impl Into<String>, style: Style) -> Self {
        self.items.push(Item::Text(text.into(), style));
        self
    }

    /// `Label      value`, the value wrapped under itself.
    pub fn field(mut self, label: &'static str, value: impl Into<String>, style: Style) -> Self {
        self.items.push(Item::Field(label, value.into(), style));
        self
    }

    /// The other dialog's text, below this one's.
    pub fn append(mut self, other: Dialog) -> Self {
        self.items.extend(other.items);
        self
    }

    pub fn blank(mut self) -> Self {
        self.items.push(Item::Blank);
        self
    }

    pub fn keys(mut self, keys: Vec<Hint>) -> Self {
        self.keys = keys;
        self
    }

    fn lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for item in &self.items {
            match item {
                Item::Text(text, style) => {
                    lines.extend(
                        wrap(text, width)
                            .into_iter()
                            .map(|l| Line::styled(l, *style)),
                    );
                }
                Item::Field(label, value, style) => {
                    let value_width = width.saturating_sub(LABEL_WIDTH + 1);
                    for (i, part) in wrap(value, value_width).into_iter().enumerate() {
                        let label = if i == 0 { *label } else { "" };
                        lines.push(Line::from(vec![
                            Span::styled(format!("{label:<LABEL_WIDTH$} "), theme.dim()),
                            Span::styled(part, *style),
                        ]));
                    }
                }
                Item::Blank => lines.push(Line::default()),
            }
        }
        lines
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        // Two columns of border and two of padding on each side.
        let width = self.width.min(area.width.saturating_sub(2));
        let lines = self.lines(usize::from(width.saturating_sub(6)), theme);
        draw_box(frame, area, &self.title, width, lines, &self.keys, theme);
    }
}

/// Draws `lines` and a line of `keys` in a titled box `width` columns wide and as tall as they
/// need, centred over `area`; returns where the box went.
pub fn draw_box(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    width: u16,
    mut lines: Vec<Line<'static>>,
    keys: &[Hint],
    theme: Theme,
) -> Rect {
    if !keys.is_empty() {
        lines.push(Line::default());
        lines.push(hint_line(keys, theme).alignment(Alignment::Center));
    }
    let height = u16::try_from(lines.len() + 4).unwrap_or(u16::MAX);
    let rect = centred(area, width, height);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dialog_border())
        .title(Span::styled(format!(" {title} "), theme.title()))
        .padding(Padding::new(2, 2, 1, 1));
    // Blank a column either side too, so no stray text of the screen behind touches the border.
    frame.render_widget(Clear, rect.outer(Margin::new(1, 0)).intersection(area));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
    rect
}

/// `key action · key action`, keys in the key style.
pub fn hint_line(keys: &[Hint], theme: Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (key, action)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("   ", theme.dim()));
        }
        spans.push(Span::styled(*key, theme.key()));
        spans.push(Span::raw(format!(" {action}")));
    }
    Line::from(spans)
}

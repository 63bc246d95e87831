//! Titled boxes for the parts of a screen, and the label-and-value lines of a detail pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Padding, Paragraph};

use crate::theme::Theme;

/// Width of the label column of a [`field`].
const LABEL_WIDTH: usize = 10;

/// A bordered box with its title in the title style.
pub fn titled_block(title: &str, theme: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(format!(" {title} "), theme.title()))
}

/// A titled box for lines of text, which keep a column away from each border.
pub fn panel(title: &str, theme: Theme) -> Block<'static> {
    titled_block(title, theme).padding(Padding::horizontal(1))
}

/// `Label      value`: one fact in a panel; the value is text, a span or a line of spans.
pub fn field(label: &str, value: impl Into<Line<'static>>, theme: Theme) -> Line<'static> {
    let mut line = value.into();
    line.spans.insert(
        0,
        Span::styled(format!("{label:<LABEL_WIDTH$} "), theme.dim()),
    );
    line
}

/// A box's stand-in while it has nothing to show: loading, empty, or why not.
pub fn draw_placeholder(frame: &mut Frame, area: Rect, block: Block, text: &str, theme: Theme) {
    frame.render_widget(
        Paragraph::new(Line::styled(text.to_owned(), theme.dim()))
            .block(block.padding(Padding::horizontal(1))),
        area,
    );
}

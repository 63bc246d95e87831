//! Colours, or none. With `NO_COLOR` set (https://no-color.org) every distinction the console
//! draws with colour is also drawn with a word, a symbol or bold/reverse, so nothing is lost.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    colour: bool,
}

impl Theme {
    pub const COLOUR: Theme = Theme { colour: true };
    pub const PLAIN: Theme = Theme { colour: false };

    /// Colour unless `NO_COLOR` is set to anything but the empty string.
    pub fn from_env() -> Self {
        match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => Self::PLAIN,
            _ => Self::COLOUR,
        }
    }

    fn pick(self, coloured: Style, plain: Style) -> Style {
        if self.colour { coloured } else { plain }
    }

    pub fn text(self) -> Style {
        Style::default()
    }

    pub fn title(self) -> Style {
        self.pick(
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::BOLD),
        )
    }

    pub fn border(self) -> Style {
        self.pick(Style::default().fg(Color::DarkGray), Style::default())
    }

    /// A dialog's frame: stands out from the screen behind it.
    pub fn dialog_border(self) -> Style {
        self.pick(Style::default().fg(Color::Cyan), Style::default())
    }

    /// Labels and secondary text.
    pub fn dim(self) -> Style {
        self.pick(Style::default().fg(Color::Gray), Style::default())
    }

    /// The selected row of a list.
    pub fn selected(self) -> Style {
        self.pick(
            Style::default()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::REVERSED),
        )
    }

    /// The active tab.
    pub fn tab_active(self) -> Style {
        self.pick(
            Style::default()
                .bg(Color::Cyan)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }

    /// A key in a hint or the help.
    pub fn key(self) -> Style {
        self.pick(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::BOLD),
        )
    }

    pub fn ok(self) -> Style {
        self.pick(Style::default().fg(Color::Green), Style::default())
    }

    pub fn warn(self) -> Style {
        self.pick(
            Style::default().fg(Color::Yellow),
            Style::default().add_modifier(Modifier::BOLD),
        )
    }

    pub fn error(self) -> Style {
        self.pick(
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::BOLD),
        )
    }

    /// A text field being typed in.
    pub fn input(self) -> Style {
        self.pick(
            Style::default().bg(Color::DarkGray).fg(Color::White),
            Style::default().add_modifier(Modifier::UNDERLINED),
        )
    }
}

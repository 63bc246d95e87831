//! The app: tabs, the keys that work everywhere, the connection to the server, the help overlay
//! and the frame around the active screen. A pure state machine: events go in through
//! [`App::handle`], calls to run come out of [`App::take_outbox`], and nothing here does I/O.

use std::cell::Cell;

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Padding, Paragraph};

use crate::component::Component;
use crate::request::{ApiCall, ApiFailure, Ctx, Origin, Outgoing, Reply, RequestId, Shared};
use crate::theme::Theme;
use crate::widgets::{Dialog, Hint, centred, hint_line, wrap};

/// Ticks (about a second each) between connection attempts while the server is away.
const RETRY_TICKS: u64 = 5;
/// How long a notice stays under the screen.
const NOTICE_MS: i64 = 8_000;
/// Below this the console asks for a bigger terminal instead of drawing a mess.
const MIN_WIDTH: u16 = 60;
const MIN_HEIGHT: u16 = 15;
const BRAND: &str = " Studio Vault ";
/// Room the connection state takes at the right of the tab bar (`✗ not connected `).
const LINK_WIDTH: usize = 16;

/// Everything the event loop feeds the app.
#[derive(Debug)]
pub enum Input {
    Terminal(Event),
    Reply(Reply),
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Connecting,
    Up,
    /// Why the socket cannot be reached, as the client put it.
    Down(String),
}

/// Keys that work on every screen (unless a form or dialog is open), for the help overlay.
const GLOBAL_KEYS: &[Hint] = &[
    ("Tab, h/l", "next / previous screen (also ←/→ and 1-9)"),
    (
        "j/k, ↑/↓",
        "move in a list; g/G first/last; PgUp/PgDn or Ctrl-u/Ctrl-d by a page",
    ),
    ("Enter", "open the selected item; Esc goes back or closes"),
    ("R", "reload this screen from the server"),
    ("?", "this help (j/k scroll it, Esc closes it)"),
    ("q", "quit; Ctrl-c quits from anywhere, even a form"),
];

/// The first things a new admin needs, on every help page, so none of them needs the manual.
const COMMON_TASKS: &[Hint] = &[
    (
        "2, n",
        "create an account: type the e-mail, choose a plan with ←/→, Enter; pass on the one-time password shown",
    ),
    (
        "2, X, y",
        "sign an account out everywhere: select it first (j/k, or / to search)",
    ),
    ("2, s, y", "suspend the selected account; r resumes it"),
    (
        "3, v",
        "verify the audit chain; the result names the first broken record",
    ),
    ("4, x, y", "end one session"),
    (
        "5, e",
        "enrol a stem worker: type its name, Enter; copy the token shown once to the machine",
    ),
    (
        "6, n",
        "record an incident; c confirms a breach (the 72-hour clock starts), a picks the accounts, w writes and sends the notice",
    ),
    (
        "7, n",
        "record a legal request as it arrives; H holds its accounts, N notifies the users",
    ),
    (
        "8, t",
        "trace a leaked file: type its path, Enter; the recipient it was made for is selected",
    ),
];

pub struct App {
    tabs: Vec<Box<dyn Component>>,
    active: usize,
    shared: Shared,
    theme: Theme,
    socket: String,
    link: Link,
    probe: Option<RequestId>,
    /// The help overlay's scroll offset while it is open.
    help: Option<usize>,
    /// How far the help can scroll at the size it was last drawn.
    help_max_scroll: Cell<usize>,
    /// The width the tab bar was last drawn at, to find the tab under a click.
    bar_width: Cell<u16>,
    quit: bool,
    ticks: u64,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("active", &self.active)
            .field("link", &self.link)
            .field("help", &self.help)
            .finish_non_exhaustive()
    }
}

impl App {
    pub fn new(tabs: Vec<Box<dyn Component>>, theme: Theme, socket: String) -> Self {
        Self {
            tabs,
            active: 0,
            shared: Shared::default(),
            theme,
            socket,
            link: Link::Connecting,
            probe: None,
            help: None,
            help_max_scroll: Cell::new(0),
            bar_width: Cell::new(u16::MAX),
            quit: false,
            ticks: 0,
        }
    }

    /// Checks the connection; the first screen loads once the server answers.
    pub fn start(&mut self, now_ms: i64) {
        self.shared.now_ms = now_ms;
        self.check_connection();
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        self.shared.take_outbox()
    }

    /// Handles one event; true when the screen must be redrawn.
    pub fn handle(&mut self, input: Input, now_ms: i64) -> bool {
        self.shared.now_ms = now_ms;
        match input {
            Input::Terminal(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                self.on_key(key)
            }
            Input::Terminal(Event::Mouse(mouse)) => self.on_mouse(mouse),
            Input::Terminal(Event::Paste(text)) => {
                self.help.is_none() && self.tabs[self.active].paste(&text)
            }
            Input::Terminal(Event::Resize(..)) => true,
            Input::Terminal(_) => false,
            Input::Reply(reply) => self.on_reply(reply),
            Input::Tick => self.on_tick(),
        }
    }

    fn check_connection(&mut self) {
        if self.probe.is_none() {
            self.probe = Some(self.shared.send(Origin::App, ApiCall::get("/v1/status")));
        }
    }

    fn activate(&mut self, index: usize) {
        if index >= self.tabs.len() {
            return;
        }
        self.active = index;
        if self.link == Link::Up {
            let mut ctx = Ctx::new(&mut self.shared, Origin::Tab(index));
            self.tabs[index].activate(&mut ctx);
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            self.quit = true;
            return true;
        }
        if let Some(scroll) = self.help {
            self.help = match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?' | 'q') => None,
                KeyCode::Down | KeyCode::Char('j') => Some(scroll + 1),
                KeyCode::Up | KeyCode::Char('k') => Some(scroll.saturating_sub(1)),
                KeyCode::PageDown | KeyCode::Char(' ') => Some(scroll + 10),
                KeyCode::PageUp => Some(scroll.saturating_sub(10)),
                KeyCode::Home | KeyCode::Char('g') => Some(0),
                KeyCode::End | KeyCode::Char('G') => Some(usize::MAX),
                _ => Some(scroll),
            }
            .map(|s| s.min(self.help_max_scroll.get()));
            return true;
        }
        let captured = self.link == Link::Up && {
            let tab = &self.tabs[self.active];
            tab.captures_keys() || tab.claims_key(&key)
        };
        if !captured && !ctrl {
            match key.code {
                KeyCode::Char('q') => {
                    self.quit = true;
                    return true;
                }
                KeyCode::Char('?') => {
                    self.help = Some(0);
                    return true;
                }
                KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => {
                    self.activate((self.active + 1) % self.tabs.len().max(1));
                    return true;
                }
                KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => {
                    let count = self.tabs.len().max(1);
                    self.activate((self.active + count - 1) % count);
                    return true;
                }
                KeyCode::Char(digit @ '1'..='9') => {
                    let index = usize::from(digit as u8 - b'1');
                    self.activate(index);
                    return index < self.tabs.len();
                }
                KeyCode::Char('r') if self.link != Link::Up => {
                    self.check_connection();
                    return true;
                }
                KeyCode::Char('R') | KeyCode::F(5) => {
                    self.activate(self.active);
                    return true;
                }
                _ => {}
            }
        }
        if self.link != Link::Up {
            return false;
        }
        let mut ctx = Ctx::new(&mut self.shared, Origin::Tab(self.active));
        self.tabs[self.active].on_key(&key, &mut ctx)
    }

    fn on_mouse(&mut self, mouse: MouseEvent) -> bool {
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        match mouse.kind {
            MouseEventKind::ScrollDown => self.on_key(key(KeyCode::Down)),
            MouseEventKind::ScrollUp => self.on_key(key(KeyCode::Up)),
            MouseEventKind::Down(MouseButton::Left) if mouse.row == 0 && self.help.is_none() => {
                let hit =
                    self.tab_spans(self.bar_width.get())
                        .into_iter()
                        .position(|(start, width)| {
                            (start..start + width).contains(&usize::from(mouse.column))
                        });
                match hit {
                    Some(index)
                        if self.link != Link::Up || !self.tabs[self.active].captures_keys() =>
                    {
                        self.activate(index);
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn on_reply(&mut self, reply: Reply) -> bool {
        let unreachable = match &reply.result {
            Err(ApiFailure::Unreachable(why)) => Some(why.clone()),
            _ => None,
        };
        let link_before = self.link.clone();
        let notice_before = self.shared.notice.clone();
        let mut screen_changed = false;
        match reply.origin {
            Origin::App => {
                if self.probe != Some(reply.id) {
                    return false;
                }
                self.probe = None;
                match unreachable {
                    Some(why) => self.link = Link::Down(why),
                    None if self.link != Link::Up => {
                        self.link = Link::Up;
                        self.activate(self.active);
                    }
                    None => {}
                }
            }
            Origin::Tab(index) => {
                if let Some(why) = unreachable {
                    self.link = Link::Down(why);
                }
                if let Some(tab) = self.tabs.get_mut(index) {
                    let mut ctx = Ctx::new(&mut self.shared, Origin::Tab(index));
                    screen_changed = tab.on_reply(reply.id, reply.result, &mut ctx);
                }
                if self.link != Link::Up {
                    // The connection screen says what is wrong; the screen's notice would repeat it.
                    self.shared.notice = notice_before.clone();
                }
            }
        }
        screen_changed || self.link != link_before || self.shared.notice != notice_before
    }

    fn on_tick(&mut self) -> bool {
        self.ticks += 1;
        let mut changed = false;
        if let Some(notice) = &self.shared.notice
            && self.shared.now_ms - notice.at_ms >= NOTICE_MS
        {
            self.shared.notice = None;
            changed = true;
        }
        match self.link {
            Link::Up => {
                let mut ctx = Ctx::new(&mut self.shared, Origin::Tab(self.active));
                changed |= self.tabs[self.active].tick(&mut ctx);
            }
            Link::Down(_) if self.ticks.is_multiple_of(RETRY_TICKS) => self.check_connection(),
            _ => {}
        }
        changed
    }

    /// Start column and width of each tab's label in the tab bar, at `width` columns.
    fn tab_spans(&self, width: u16) -> Vec<(usize, usize)> {
        let labels = self.tab_labels(width);
        let mut x = BRAND.chars().count() + 1;
        labels
            .iter()
            .map(|label| {
                let span = (x, label.chars().count());
                x += span.1;
                span
            })
            .collect()
    }

    /// ` 1 Dashboard `; only the active tab keeps its name when they do not all fit.
    fn tab_labels(&self, width: u16) -> Vec<String> {
        let full: Vec<String> = self
            .tabs
            .iter()
            .enumerate()
            .map(|(i, tab)| format!(" {} {} ", i + 1, tab.title()))
            .collect();
        let needed = BRAND.chars().count()
            + 1
            + full.iter().map(|l| l.chars().count()).sum::<usize>()
            + LINK_WIDTH;
        if needed <= usize::from(width) {
            return full;
        }
        full.into_iter()
            .enumerate()
            .map(|(i, label)| {
                if i == self.active {
                    label
                } else {
                    format!(" {} ", i + 1)
                }
            })
            .collect()
    }

    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        let theme = self.theme;
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let text = format!(
                "The console needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. Make it bigger, or press q to quit.",
                area.width, area.height
            );
            let lines: Vec<Line> = wrap(&text, usize::from(area.width.max(1)))
                .into_iter()
                .map(Line::raw)
                .collect();
            frame.render_widget(Paragraph::new(lines), area);
            return;
        }
        let [bar, body, notice, hints] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_tab_bar(frame, bar);
        match &self.link {
            Link::Up => self.tabs[self.active].draw(frame, body, theme),
            Link::Connecting => {
                let text = format!("Connecting to the admin socket at {} …", self.socket);
                frame.render_widget(
                    Paragraph::new(Line::styled(text, theme.dim())).alignment(Alignment::Center),
                    centred(body, body.width, 1),
                );
            }
            Link::Down(why) => Dialog::new("Not connected", 64)
                .text(capitalised(why), theme.error())
                .blank()
                .text(
                    format!("The console tries again every {RETRY_TICKS} seconds."),
                    theme.text(),
                )
                .keys(vec![("r", "retry now"), ("q", "quit")])
                .draw(frame, body, theme),
        }
        if let Some(n) = &self.shared.notice {
            let (mark, style) = if n.is_error {
                ("✗ ", theme.error())
            } else {
                ("✓ ", theme.ok())
            };
            frame.render_widget(
                Paragraph::new(Line::styled(format!(" {mark}{}", n.text), style)),
                notice,
            );
        }
        frame.render_widget(Paragraph::new(self.hint_bar(hints.width)), hints);
        if let Some(scroll) = self.help {
            self.draw_help(frame, body, scroll);
        }
    }

    fn draw_tab_bar(&self, frame: &mut Frame, area: Rect) {
        let theme = self.theme;
        self.bar_width.set(area.width);
        let mut spans = vec![Span::styled(BRAND, theme.title()), Span::raw(" ")];
        for (i, label) in self.tab_labels(area.width).into_iter().enumerate() {
            let style = if i == self.active {
                theme.tab_active()
            } else {
                theme.text()
            };
            spans.push(Span::styled(label, style));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        let (link, style) = match self.link {
            Link::Up => ("● connected ", theme.ok()),
            Link::Connecting => ("… connecting ", theme.dim()),
            Link::Down(_) => ("✗ not connected ", theme.error()),
        };
        frame.render_widget(
            Paragraph::new(Line::styled(link, style)).alignment(Alignment::Right),
            area,
        );
    }

    /// The keys that work now, as many as fit, always ending with help and quit.
    fn hint_bar(&self, width: u16) -> Line<'static> {
        let (hints, tail): (Vec<Hint>, Vec<Hint>) = if self.help.is_some() {
            (vec![("j/k", "scroll")], vec![("Esc", "close help")])
        } else if self.link != Link::Up {
            (vec![("r", "retry")], vec![("?", "help"), ("q", "quit")])
        } else {
            let tab = &self.tabs[self.active];
            if tab.captures_keys() {
                (tab.hints(), vec![])
            } else {
                (tab.hints(), vec![("?", "help"), ("q", "quit")])
            }
        };
        let cost = |(key, action): &Hint| key.chars().count() + action.chars().count() + 4;
        let mut room = usize::from(width).saturating_sub(1 + tail.iter().map(cost).sum::<usize>());
        let mut shown = Vec::new();
        for hint in hints {
            if cost(&hint) > room {
                break;
            }
            room -= cost(&hint);
            shown.push(hint);
        }
        shown.extend(tail);
        let mut line = hint_line(&shown, self.theme);
        line.spans.insert(0, Span::raw(" "));
        line
    }

    fn help_lines(&self, width: usize) -> Vec<Line<'static>> {
        let theme = self.theme;
        let tab = &self.tabs[self.active];
        let help = tab.help();
        let heading = |text: &str| {
            Line::styled(
                text.to_owned(),
                theme.title().add_modifier(Modifier::UNDERLINED),
            )
        };
        let mut lines = Vec::new();
        lines.extend(wrap(help.about, width).into_iter().map(Line::raw));
        lines.push(Line::default());
        lines.push(heading("Keys on this screen"));
        key_lines(&mut lines, help.keys, width, theme);
        lines.push(Line::default());
        lines.push(heading("Common tasks"));
        key_lines(&mut lines, COMMON_TASKS, width, theme);
        lines.push(Line::default());
        lines.push(heading("Screens"));
        for (i, tab) in self.tabs.iter().enumerate() {
            let text = format!("{}: {}", tab.title(), tab.help().summary);
            push_key_line(&mut lines, &(i + 1).to_string(), &text, width, theme);
        }
        lines.push(Line::default());
        lines.push(heading("Everywhere"));
        key_lines(&mut lines, GLOBAL_KEYS, width, theme);
        lines.push(Line::default());
        lines.extend(
            wrap(
                "Every action here has a command-line twin for scripts, with --json: studiovault user …, studiovault sessions …, studiovault audit …, studiovault worker …, studiovault incident …, studiovault status.",
                width,
            )
            .into_iter()
            .map(|l| Line::styled(l, theme.dim())),
        );
        lines
    }

    fn draw_help(&self, frame: &mut Frame, area: Rect, scroll: usize) {
        let theme = self.theme;
        // It covers the whole screen below the tab bar: nothing behind it competes.
        let rect = area;
        let inner_width = usize::from(rect.width.saturating_sub(4));
        let lines = self.help_lines(inner_width);
        let visible = usize::from(rect.height.saturating_sub(2));
        let max_scroll = lines.len().saturating_sub(visible);
        self.help_max_scroll.set(max_scroll);
        let scroll = scroll.min(max_scroll);
        let position = if max_scroll == 0 {
            " Esc close ".to_owned()
        } else {
            format!(
                " {}-{} of {} · j/k scroll · Esc close ",
                scroll + 1,
                (scroll + visible).min(lines.len()),
                lines.len()
            )
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.dialog_border())
            .title(Span::styled(
                format!(" Help: {} ", self.tabs[self.active].title()),
                theme.title(),
            ))
            .title_bottom(Line::styled(position, theme.dim()).alignment(Alignment::Right))
            .padding(Padding::horizontal(1));
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(lines.into_iter().skip(scroll).collect::<Vec<_>>()).block(block),
            rect,
        );
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Width of the key column in the help.
const KEY_WIDTH: usize = 12;

fn key_lines(lines: &mut Vec<Line<'static>>, keys: &[Hint], width: usize, theme: Theme) {
    for (key, what) in keys {
        push_key_line(lines, key, what, width, theme);
    }
}

fn push_key_line(
    lines: &mut Vec<Line<'static>>,
    key: &str,
    what: &str,
    width: usize,
    theme: Theme,
) {
    for (i, part) in wrap(what, width.saturating_sub(KEY_WIDTH))
        .into_iter()
        .enumerate()
    {
        let key = if i == 0 { key } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format!("{key:<KEY_WIDTH$}"), theme.key()),
            Span::raw(part),
        ]));
    }
}

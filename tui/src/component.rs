//! The contract between the app and a screen (a tab). Each screen owns its state, handles its
//! own keys and replies, and draws itself; the app owns the event loop, the tab bar, the hint
//! line, the help overlay and the connection. A new tab is a module implementing this trait plus
//! one entry in `tabs::all`; a screen with several jobs splits them into parts of its own (see
//! `tabs/users/`), which the tab's `Component` composes and routes events to.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use serde_json::Value;

use crate::request::{ApiFailure, Ctx, RequestId};
use crate::theme::Theme;
use crate::widgets::Hint;

/// A screen's name, and its entry in the `?` overlay.
#[derive(Debug)]
pub struct Help {
    /// The tab's name.
    pub title: &'static str,
    /// What the screen is for, in a few words, for the list of screens.
    pub summary: &'static str,
    /// What the screen is for and how to do its main tasks, in a few sentences.
    pub about: &'static str,
    /// Every key of the screen and what it does.
    pub keys: &'static [Hint],
}

pub trait Component {
    /// The tab's name and the `?` overlay's text for this screen.
    fn help(&self) -> &'static Help;

    fn title(&self) -> &'static str {
        self.help().title
    }

    /// The keys that work right now, most useful first, for the one-line hint bar.
    fn hints(&self) -> Vec<Hint>;

    /// True while a text field or dialog is open: every key then goes to the screen, so `q`,
    /// `?` or a digit are typed rather than acted on.
    fn captures_keys(&self) -> bool;

    /// True for a key the app switches screens with (Tab, ←/→) that the screen wants right now,
    /// such as to move between lists of its own. It should let the key through at its ends, so
    /// every screen stays in reach.
    fn claims_key(&self, _key: &KeyEvent) -> bool {
        false
    }

    /// The tab was shown, or the admin asked for a refresh, or the server came back: load.
    fn activate(&mut self, ctx: &mut Ctx);

    /// About once a second while the tab is shown. True when something visible changed.
    fn tick(&mut self, ctx: &mut Ctx) -> bool;

    /// Text pasted in the terminal: it goes into the text field being typed in, if there is
    /// one, and is dropped otherwise (never read as keys: pasted letters must not act as
    /// shortcuts or answer a question). True when it went in.
    fn paste(&mut self, _text: &str) -> bool {
        false
    }

    /// A key the app did not take. True when it was handled (and the screen should redraw).
    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool;

    /// The answer to a call this screen sent. True when something visible changed: a refresh
    /// that brings nothing new does not redraw the screen.
    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx)
    -> bool;

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme);
}

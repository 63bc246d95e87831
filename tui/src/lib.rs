//! The Studio Vault admin console: `studiovault console`, a terminal UI over the admin socket.
//!
//! It depends on the wire types and the socket client of `studiovault-api` only, never on the
//! server or the store: everything it shows or does goes through the same `/v1` API as the CLI.
//!
//! - `console`: the terminal and the one event loop (keys, replies, ticks).
//! - `app`: the state machine around the screens: tabs, global keys, help, connection.
//! - `component`: the trait a screen implements; `tabs/` holds one module per screen: a file,
//!   or a folder of parts (list, forms, detail, ...) for the larger ones.
//! - `request`: calls the screens queue and the replies they get back.
//! - `widgets`, `theme`, `format`: shared drawing and text.

mod app;
mod component;
mod console;
mod format;
mod request;
mod tabs;
mod theme;
mod widgets;

#[cfg(test)]
mod tests;

pub use console::{ConsoleError, ConsoleOptions, run};
pub use format::{InputError, parse_date, parse_gag_end, parse_time_bound};

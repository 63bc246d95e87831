//! The terminal and the event loop: one loop merges key and mouse input, replies from the
//! socket and a one-second tick, feeds them to the [`App`], runs the calls it queues as tasks,
//! and redraws only when something changed.

use std::io::{self, IsTerminal, Stdout};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    EventStream,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use studiovault_api::client::AdminClient;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::app::{App, Input};
use crate::request::{ApiFailure, Outgoing, Reply};
use crate::tabs;
use crate::theme::Theme;

const TICK: Duration = Duration::from_secs(1);

/// How `studiovault console` was asked to run.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// The admin socket of the running server.
    pub socket: PathBuf,
    /// Capture the mouse: click a tab, scroll a list. Off by default so the terminal's own text
    /// selection keeps working.
    pub mouse: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the console needs an interactive terminal (run it in one, not through a pipe)")]
    NotATerminal,
    #[error("the terminal failed: {0}")]
    Terminal(#[from] io::Error),
}

/// Runs the console until the admin quits. The terminal is restored on every way out: a normal
/// return, an error, or a panic.
pub async fn run(options: ConsoleOptions) -> Result<(), ConsoleError> {
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return Err(ConsoleError::NotATerminal);
    }
    let mut app = App::new(
        tabs::all(),
        Theme::from_env(),
        options.socket.display().to_string(),
    );
    let mut session = TerminalSession::enter(options.mouse)?;
    let result = event_loop(
        &mut session.terminal,
        &mut app,
        AdminClient::new(&options.socket),
    )
    .await;
    drop(session);
    Ok(result?)
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    client: AdminClient,
) -> io::Result<()> {
    let (replies_tx, mut replies) = mpsc::unbounded_channel();
    let mut events = EventStream::new();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    app.start(now_ms());
    let mut dirty = true;
    loop {
        for outgoing in app.take_outbox() {
            dispatch(&client, &replies_tx, outgoing);
        }
        if app.should_quit() {
            return Ok(());
        }
        if dirty {
            terminal.draw(|frame| app.draw(frame))?;
        }
        let input = tokio::select! {
            event = events.next() => match event {
                Some(event) => Input::Terminal(event?),
                // The terminal is gone: nobody is left to show anything to.
                None => return Ok(()),
            },
            Some(reply) = replies.recv() => Input::Reply(reply),
            _ = ticks.tick() => Input::Tick,
        };
        dirty = app.handle(input, now_ms());
    }
}

/// Runs one call as a task; its reply comes back over the channel.
fn dispatch(client: &AdminClient, replies: &mpsc::UnboundedSender<Reply>, outgoing: Outgoing) {
    let client = client.clone();
    let replies = replies.clone();
    tokio::spawn(async move {
        let limit = outgoing.call.time_limit();
        let result = tokio::time::timeout(limit, outgoing.call.run(&client))
            .await
            .unwrap_or_else(|_| {
                Err(ApiFailure::Broken(format!(
                    "the server did not answer within {} seconds",
                    limit.as_secs()
                )))
            });
        // The loop only drops the receiver when it exits, and then nobody wants the answer.
        let _ = replies.send(Reply {
            id: outgoing.id,
            origin: outgoing.origin,
            result,
        });
    });
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Raw mode and the alternate screen for as long as it lives.
struct TerminalSession {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    mouse: bool,
}

impl TerminalSession {
    fn enter(mouse: bool) -> io::Result<Self> {
        // A panic message printed inside the alternate screen in raw mode would be lost and
        // leave the shell unusable: put the terminal back first.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal(mouse);
            previous(info);
        }));
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            let mut stdout = io::stdout();
            // A paste arrives as one event, not as keys: pasted letters must not act as
            // shortcuts (`s` suspends, `y` confirms).
            execute!(stdout, EnterAlternateScreen, EnableBracketedPaste)?;
            if mouse {
                execute!(stdout, EnableMouseCapture)?;
            }
            Terminal::new(CrosstermBackend::new(stdout))
        };
        match setup() {
            Ok(terminal) => Ok(Self { terminal, mouse }),
            Err(e) => {
                restore_terminal(mouse);
                Err(e)
            }
        }
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        restore_terminal(self.mouse);
    }
}

/// Undoes [`TerminalSession::enter`]; safe to call twice. Errors are ignored: this runs on the
/// way out, when there is nothing better to do.
fn restore_terminal(mouse: bool) {
    let _ = disable_raw_mode();
    let mut stdout = io::stdout();
    if mouse {
        let _ = execute!(stdout, DisableMouseCapture);
    }
    let _ = execute!(
        stdout,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

//! The admin console in a real terminal: `studiovault console` in a tmux of its own, keys
//! typed with `send-keys`, the screen read with `capture-pane`. Every step waits for what it
//! expects to appear, with a deadline, rather than sleeping.

use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{Server, binary};

/// How long one step may take on a slow, busy CI machine.
const STEP: Duration = Duration::from_secs(30);
const SESSION: &str = "console";

/// A tmux server of our own (`-L`), so tests never meet each other or a user's tmux, with the
/// console running in its only pane. Dropping it kills that tmux server.
#[derive(Debug)]
pub struct Tmux {
    socket: String,
    /// The socket file tmux made for `socket`; it outlives the server unless removed.
    socket_path: Option<String>,
}

impl Tmux {
    pub fn start(server: &Server, width: u16, height: u16) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut tmux = Self {
            socket: format!("sv-console-{}-{nanos}", std::process::id()),
            socket_path: None,
        };
        // After the console exits, the pane says how, and stays readable.
        let command = format!(
            "'{}' console --data-dir '{}'; echo \"console exited with status $?\"; sleep 600",
            binary().display(),
            server.data_dir().display()
        );
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = tmux
            .run(&["display-message", "-p", "#{socket_path}"])
            .stdout;
        tmux.socket_path = Some(String::from_utf8_lossy(&path).trim().to_owned());
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux is missing: install Debian's tmux (scripts/test does): {e}")
            })
    }

    /// Presses keys by tmux's names: `Enter`, `Escape`, `s`.
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success(), "send-keys {keys:?}");
    }

    /// Types text literally, character by character.
    pub fn type_text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", SESSION, "-l", text])
                .status
                .success(),
            "send-keys -l {text}"
        );
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    /// Waits until the screen satisfies `ready`, drawn in full; answers that screen. A capture
    /// can catch the console half-way through a redraw (a box's title drawn, its lines not
    /// yet), so a screen counts only when a second capture a moment later shows the same.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                std::thread::sleep(Duration::from_millis(60));
                if self.screen() == screen {
                    return screen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP:?} for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("`{text}`"), |s| s.contains(text))
    }

    /// Waits for a line that holds every one of `parts`.
    pub fn wait_for_line(&self, parts: &[&str]) -> String {
        self.wait_until(&format!("a line with {parts:?}"), |s| {
            s.lines().any(|l| parts.iter().all(|p| l.contains(p)))
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = self.socket_path.as_ref().filter(|p| !p.is_empty()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

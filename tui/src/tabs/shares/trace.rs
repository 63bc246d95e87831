//! Tracing a leak: the form asking for the suspect file's path, and the panel with what the
//! server read from the file and whom it names.

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use studiovault_api::public::{RecipientView, TraceView};

use super::Pending;
use crate::format;
use crate::request::{ApiCall, Ctx, InFlight, RequestId};
use crate::theme::Theme;
use crate::widgets::{Field, Form, FormEvent, Hint, field, panel};

/// Where the suspect file goes, as the request's body.
const TRACE_FILE: &str = "/v1/leaks/trace-file";
/// Suspects listed one a line; the rest are counted.
const MAX_SUSPECTS: usize = 5;

/// The form: one field, the suspect file's path.
#[derive(Debug)]
pub struct TraceForm {
    form: Form,
}

impl TraceForm {
    /// Pasted text, into the focused field.
    pub fn paste(&mut self, text: &str) -> bool {
        self.form.paste(text)
    }

    pub fn new() -> Self {
        Self {
            form: Form::new(
                "Trace a leaked file",
                "trace",
                vec![Field::text(
                    "File",
                    "The path of the suspect audio file on this machine, such as ~/leak.wav. It is sent to the server, which reads the watermark in it and names the recipient the copy was made for.",
                    "",
                )],
            ),
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        self.form.hints()
    }

    /// Enter sends the file; `Cancel` is for the tab to close the form.
    pub fn on_key(
        &mut self,
        key: &KeyEvent,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> FormEvent {
        let event = self.form.handle_key(key);
        if event == FormEvent::Submit {
            let typed = self.form.text(0).to_owned();
            if typed.is_empty() {
                self.form.error = Some("type the path of the suspect file".into());
            } else {
                let call = ApiCall::post_file(TRACE_FILE, expand_home(&typed));
                self.form.wait_for(requests.send(ctx, call, Pending::Trace(typed)));
            }
        }
        event
    }

    /// The trace failed (the notice line says why): the path can be corrected and sent again.
    pub fn failed(&mut self) {
        self.form.answered();
    }

    /// Whether request `id` is the one this form was sent as and waits for.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.form.awaits(id)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        self.form.draw(frame, area, theme);
    }
}

/// `~/leak.wav` as the shell would read it: the console's user types paths as in a shell.
fn expand_home(typed: &str) -> PathBuf {
    match (typed.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(typed),
    }
}

/// What a trace found, shown under the lists until Esc.
#[derive(Debug)]
pub struct TraceReport {
    /// The path as typed.
    file: String,
    trace: TraceView,
}

impl TraceReport {
    pub fn new(file: String, trace: TraceView) -> Self {
        Self { file, trace }
    }

    /// The share and the recipient the file was made for, when the trace names one.
    pub fn traced(&self) -> Option<(&str, &str)> {
        let share = self.trace.share.as_ref()?;
        let recipient = self.trace.recipient.as_ref()?;
        Some((&share.id, &recipient.id))
    }

    /// Rows the panel needs, borders included.
    pub fn height(&self) -> u16 {
        let lines = self.lines(0, Theme::PLAIN).len();
        u16::try_from(lines + 2).unwrap_or(u16::MAX)
    }

    /// The facts, one a line, clipped to `width` columns of value.
    fn lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let trace = &self.trace;
        let clip = |text: String| format::clip(&text, width);
        let (result, style) = match (trace.found, &trace.payload) {
            (true, _) => (
                "found: the file carries a recipient's watermark",
                theme.ok(),
            ),
            (false, Some(_)) => (
                "not found: the payload read matches no recipient here",
                theme.warn(),
            ),
            (false, None) => ("not found: no watermark could be read", theme.warn()),
        };
        let mut lines = vec![
            field("Result", Span::styled(clip(result.into()), style), theme),
            field(
                "Payload",
                trace.payload.clone().unwrap_or_else(|| "—".into()),
                theme,
            ),
        ];
        if let Some(share) = &trace.share {
            lines.push(field(
                "Owner",
                trace.owner_email.clone().unwrap_or_else(|| "—".into()),
                theme,
            ));
            lines.push(field(
                "Share",
                clip(format!(
                    "{} · created {} UTC",
                    share.title,
                    format::minute(share.created_at)
                )),
                theme,
            ));
        }
        if let Some(recipient) = &trace.recipient {
            let mut value = vec![Span::styled(clip(who(recipient)), theme.title())];
            if let Some(at) = recipient.revoked_at {
                value.push(Span::styled(
                    format!(" · revoked {} UTC", format::minute(at)),
                    theme.error(),
                ));
            }
            lines.push(field("Recipient", Line::from(value), theme));
            let copies: Vec<String> = trace
                .copies
                .iter()
                .map(|c| format!("{} ({} UTC)", c.name, format::minute(c.issued_at)))
                .collect();
            let copies = match copies.len() {
                0 => "none issued".to_owned(),
                n => format!("{n}: {}", copies.join(", ")),
            };
            lines.push(field("Copies", clip(copies), theme));
        }
        self.suspect_lines(&mut lines, width, theme);
        lines
    }

    /// Other recipients whose copies were combined into the file, strongest first.
    fn suspect_lines(&self, lines: &mut Vec<Line<'static>>, width: usize, theme: Theme) {
        let trace = &self.trace;
        let Some(threshold) = trace.threshold else {
            lines.push(field(
                "Suspects",
                Span::styled("not scored", theme.dim()),
                theme,
            ));
            return;
        };
        if trace.suspects.is_empty() {
            lines.push(field(
                "Suspects",
                format!("none above the threshold {threshold:.2}"),
                theme,
            ));
            return;
        }
        lines.push(field(
            "Suspects",
            Span::styled(
                format::clip(
                    &format!(
                        "{} above the threshold {threshold:.2}: copies may have been combined",
                        trace.suspects.len()
                    ),
                    width,
                ),
                theme.warn(),
            ),
            theme,
        ));
        for suspect in trace.suspects.iter().take(MAX_SUSPECTS) {
            let text = format!(
                "{:>6.2}  {} · {}",
                suspect.score,
                who(&suspect.recipient),
                suspect.share.title
            );
            lines.push(field("", format::clip(&text, width), theme));
        }
        if trace.suspects.len() > MAX_SUSPECTS {
            let more = trace.suspects.len() - MAX_SUSPECTS;
            lines.push(field("", format!("… and {more} more"), theme));
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        // The label column, the padding and the borders.
        let width = usize::from(area.width.saturating_sub(4 + 11));
        frame.render_widget(
            Paragraph::new(self.lines(width, theme))
                .block(panel(&format!("Trace of {}", self.file), theme)),
            area,
        );
    }
}

/// `Dana Lee <dana@studio.example>`, or the name alone.
fn who(recipient: &RecipientView) -> String {
    match &recipient.email {
        Some(email) => format!("{} <{email}>", recipient.name),
        None => recipient.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_from_home_is_read_as_the_shell_would() {
        assert_eq!(expand_home("/srv/leak.wav"), PathBuf::from("/srv/leak.wav"));
        assert_eq!(expand_home("leaks/~/a.wav"), PathBuf::from("leaks/~/a.wav"));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                expand_home("~/leak.wav"),
                PathBuf::from(home).join("leak.wav")
            );
        }
    }
}

//! The server at a glance: version, uptime, counts, storage, and where each optional part of
//! the appliance (TLS, queues, replication, backups, drills) stands.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use serde_json::Value;
use studiovault_api::admin::{CapabilityState, RetentionRule, Status, TlsStatus};

use crate::component::{Component, Help};
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, Refresh, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{Hint, draw_placeholder, field, panel, wrap};

static HELP: Help = Help {
    title: "Dashboard",
    summary: "the server's health, storage and services",
    about: "The Dashboard shows the server's version, uptime, accounts, tracks, storage used and \
            free, and where each optional service stands (TLS certificate, analysis queue, \
            replication, backups, restore drills). \"not built\" means this version of Studio \
            Vault does not have that service yet; \"not configured\" means it is switched off. \
            The figures refresh every five seconds. T swaps the services for the retention \
            table: how long each kind of record is kept, what sets it in the config, and what \
            enforces it.",
    keys: &[("R", "refresh now"), ("T", "services / retention table")],
};

#[derive(Debug, Default)]
pub struct Dashboard {
    status: Option<Status>,
    error: Option<String>,
    in_flight: Option<RequestId>,
    refresh: Refresh,
    /// The retention table, shown instead of the services while `show_retention`.
    retention: Option<Vec<RetentionRule>>,
    /// Why the retention table could not be had; T (twice) asks again.
    retention_error: Option<String>,
    retention_in_flight: Option<RequestId>,
    show_retention: bool,
}

impl Dashboard {
    fn load(&mut self, ctx: &mut Ctx) {
        if self.in_flight.is_none() {
            self.in_flight = Some(ctx.send(ApiCall::get("/v1/status")));
        }
    }

    fn server_lines(&self, status: &Status, theme: Theme) -> Vec<Line<'static>> {
        vec![
            field("Version", status.version.clone(), theme),
            field("Uptime", format::duration(status.uptime_secs), theme),
            field(
                "Listening",
                if status.listen.contains("://") {
                    status.listen.clone()
                } else {
                    format!("http://{}", status.listen)
                },
                theme,
            ),
            field("Data", status.data_dir.clone(), theme),
            field(
                "Audit log",
                format!("{} records", format::count(status.audit_records)),
                theme,
            ),
        ]
    }

    fn library_lines(&self, status: &Status, theme: Theme) -> Vec<Line<'static>> {
        vec![
            field("Accounts", format::count(status.users), theme),
            field("Tracks", format::count(status.tracks), theme),
            field("Stored", format::size(status.stored_bytes), theme),
            field(
                "Disk free",
                status
                    .disk_free_bytes
                    .map_or_else(|| "unknown".to_owned(), format::size),
                theme,
            ),
        ]
    }

    /// The HTTPS certificate: what is served, until when, the next renewal, the last error.
    fn certificate_lines(&self, tls: &TlsStatus, theme: Theme) -> Vec<Line<'static>> {
        let mut lines = vec![field(
            "Mode",
            format!("{}, HTTPS on {}", tls.mode, tls.https_listen),
            theme,
        )];
        match &tls.certificate {
            Some(c) => {
                lines.push(field("Subject", c.subject.clone(), theme));
                lines.push(field("Issuer", c.issuer.clone(), theme));
                lines.push(field("Expires", format::timestamp(c.not_after), theme));
            }
            None => lines.push(Line::styled("No certificate yet.", theme.warn())),
        }
        lines.push(field(
            "Renewal",
            tls.next_attempt
                .map_or_else(|| "not planned".to_owned(), format::timestamp),
            theme,
        ));
        if let Some(error) = &tls.last_error {
            lines.push(field(
                "Last error",
                Span::styled(
                    format!("{error} ({} in a row)", tls.failures),
                    theme.error(),
                ),
                theme,
            ));
        }
        if let Some(until) = tls.ca_wait_until {
            lines.push(field(
                "CA wait",
                format!("the CA asked for quiet until {}", format::timestamp(until)),
                theme,
            ));
        }
        lines
    }

    /// One rule a few lines: what, for how long, and (dim) what sets and enforces it.
    fn retention_lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let Some(rules) = &self.retention else {
            return match &self.retention_error {
                Some(e) => vec![
                    Line::styled(format!("The retention table could not be had: {e}"), theme.error()),
                    Line::styled("Press T twice to ask again.", theme.dim()),
                ],
                None => vec![Line::styled("Loading the retention table …", theme.dim())],
            };
        };
        let what_width = rules
            .iter()
            .map(|r| r.what.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let rest = width.saturating_sub(what_width).max(20);
        let mut lines = Vec::new();
        for r in rules {
            lines.push(Line::from(vec![
                Span::styled(format!("{:<what_width$}", r.what), theme.title()),
                Span::raw(r.kept.clone()),
            ]));
            let how = match &r.config_key {
                Some(key) => format!("{key}: {}", r.enforced_by),
                None => r.enforced_by.clone(),
            };
            for part in wrap(&how, rest) {
                lines.push(Line::from(vec![
                    Span::raw(" ".repeat(what_width)),
                    Span::styled(part, theme.dim()),
                ]));
            }
        }
        lines
    }

    /// One row per service: name, state, and the detail wrapped in the last column.
    fn capability_lines(&self, status: &Status, width: usize, theme: Theme) -> Vec<Line<'static>> {
        if status.capabilities.is_empty() {
            return vec![Line::styled(
                "This server does not report its services.",
                theme.dim(),
            )];
        }
        let name_width = status
            .capabilities
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let state_width = status
            .capabilities
            .iter()
            .map(|c| c.state.as_str().len())
            .max()
            .unwrap_or(0)
            + 4;
        let detail_width = width.saturating_sub(name_width + state_width).max(20);
        let mut lines = Vec::new();
        for c in &status.capabilities {
            let (mark, style) = match c.state {
                CapabilityState::Ok => ("✓", theme.ok()),
                CapabilityState::Failing => ("✗", theme.error()),
                CapabilityState::NotConfigured => ("○", theme.warn()),
                CapabilityState::NotBuilt => ("·", theme.dim()),
            };
            for (i, part) in wrap(&c.detail, detail_width).into_iter().enumerate() {
                let (name, state) = if i == 0 {
                    (c.name.as_str(), format!("{mark} {}", c.state.as_str()))
                } else {
                    ("", String::new())
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{name:<name_width$}"), theme.title()),
                    Span::styled(format!("{state:<state_width$}"), style),
                    Span::styled(part, theme.dim()),
                ]));
            }
        }
        lines
    }
}

impl Component for Dashboard {
    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        vec![
            ("2", "users"),
            ("3", "audit"),
            ("4", "sessions"),
            ("5", "workers"),
            ("T", "retention"),
            ("R", "refresh"),
        ]
    }

    fn captures_keys(&self) -> bool {
        false
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.refresh.restart();
        self.load(ctx);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        if self.refresh.due() {
            self.load(ctx);
        }
        false
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if !matches!(key.code, KeyCode::Char('t' | 'T')) {
            return false;
        }
        self.show_retention = !self.show_retention;
        if self.show_retention && self.retention.is_none() && self.retention_in_flight.is_none() {
            self.retention_error = None;
            self.retention_in_flight = Some(ctx.send(ApiCall::get("/v1/retention")));
        }
        true
    }

    fn on_reply(
        &mut self,
        id: RequestId,
        result: Result<Value, ApiFailure>,
        _ctx: &mut Ctx,
    ) -> bool {
        if self.retention_in_flight == Some(id) {
            self.retention_in_flight = None;
            match decode::<Vec<RetentionRule>>(result) {
                Ok(rules) => self.retention = Some(rules),
                Err(e) => self.retention_error = Some(e.to_string()),
            }
            return true;
        }
        if self.in_flight != Some(id) {
            return false;
        }
        self.in_flight = None;
        let (status, error) = match decode::<Status>(result) {
            Ok(status) => (Some(status), None),
            Err(e) => (self.status.clone(), Some(e.to_string())),
        };
        let changed = status != self.status || error != self.error;
        self.status = status;
        self.error = error;
        changed
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let Some(status) = &self.status else {
            let text = self
                .error
                .as_deref()
                .unwrap_or("Loading the server's status …");
            draw_placeholder(frame, area, panel("Server", theme), text, theme);
            return;
        };
        let certificate_lines = status
            .tls
            .as_ref()
            .map(|tls| self.certificate_lines(tls, theme));
        let certificate_height = certificate_lines
            .as_ref()
            .map_or(0, |lines| lines.len() as u16 + 2);
        let [top, certificate, services] = Layout::vertical([
            Constraint::Length(7),
            Constraint::Length(certificate_height),
            Constraint::Fill(1),
        ])
        .areas(area);
        if let Some(lines) = certificate_lines {
            frame.render_widget(
                Paragraph::new(lines).block(panel("TLS certificate", theme)),
                certificate,
            );
        }
        let [server, library] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(top);
        frame.render_widget(
            Paragraph::new(self.server_lines(status, theme)).block(panel("Server", theme)),
            server,
        );
        frame.render_widget(
            Paragraph::new(self.library_lines(status, theme)).block(panel("Library", theme)),
            library,
        );
        let width = usize::from(services.width.saturating_sub(4));
        let (title, mut lines) = if self.show_retention {
            ("Retention", self.retention_lines(width, theme))
        } else {
            ("Services", self.capability_lines(status, width, theme))
        };
        if let Some(error) = &self.error {
            lines.insert(0, Line::styled(format!("✗ refresh failed: {error}"), theme.error()));
        }
        frame.render_widget(Paragraph::new(lines).block(panel(title, theme)), services);
    }
}

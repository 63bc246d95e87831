//! The audit log: a live tail (newest first), filters by user, action and time, a record in
//! full, and verification of the hash chain with the first broken record if there is one.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use serde_json::Value;
use studiovault_api::admin::{AuditEntry, AuditProblemKind, AuditVerifyReport, UserView};
use studiovault_api::client::segment;

use crate::component::{Component, Help};
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, RequestId, decode};
use crate::theme::Theme;
use crate::widgets::{draw_placeholder, Cursor, Dialog, Field, Form, FormEvent, Hint};

/// Records per page when loading and paging back.
const PAGE: usize = 200;
/// The live tail keeps at most this many records in memory; older ones are paged in again.
const KEEP: usize = 5_000;

// Field positions in the filter form.
const USER: usize = 0;
const ACTION: usize = 1;
const SINCE: usize = 2;
const UNTIL: usize = 3;

static HELP: Help = Help {
    summary: "every recorded action, live; filters; verify the hash chain",
    about: "Audit shows the log of every storage and admin action, newest first, and follows \
            new records as they are written. To verify the audit chain, press v: the server \
            re-hashes every record and checks the signed checkpoints, and the result names the \
            first broken record if there is one. Press / to filter by user (e-mail or id), \
            action (such as user.suspend, or a prefix such as track) and time range; c clears \
            the filters. Enter shows the selected record in full.",
    keys: &[
        ("v", "verify the chain: every record's hash and the signed checkpoints"),
        ("/", "filter by user, action, since and until"),
        ("c", "clear the filters"),
        ("Enter", "show the selected record in full (j/k then step through records)"),
        ("p", "pause or resume following new records"),
        ("Esc", "close a record or a verification result"),
    ],
};

/// The filters in force; times are resolved to instants when applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    /// As typed (an e-mail or an id), and the user id it names.
    user: Option<(String, String)>,
    action: Option<String>,
    /// As typed, and the instant it named when applied.
    since: Option<(String, i64)>,
    until: Option<(String, i64)>,
}

impl Filter {
    fn query(&self) -> String {
        let mut q = String::new();
        if let Some((_, id)) = &self.user {
            q.push_str(&format!("&user={}", segment(id)));
        }
        if let Some(action) = &self.action {
            q.push_str(&format!("&action={}", segment(action)));
        }
        if let Some((_, ms)) = self.since {
            q.push_str(&format!("&since_ms={ms}"));
        }
        if let Some((_, ms)) = self.until {
            q.push_str(&format!("&until_ms={ms}"));
        }
        q
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((label, _)) = &self.user {
            parts.push(format!("user {label}"));
        }
        if let Some(action) = &self.action {
            parts.push(format!("action {action}"));
        }
        if let Some((_, ms)) = self.since {
            parts.push(format!("since {}", format::minute(ms)));
        }
        if let Some((_, ms)) = self.until {
            parts.push(format!("until {}", format::minute(ms)));
        }
        if parts.is_empty() {
            "all records".into()
        } else {
            parts.join(", ")
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum BrokenRecord {
    Loading,
    Found(AuditEntry),
    /// The record is gone (a missing or truncated chain).
    Absent,
}

#[derive(Debug)]
enum Modal {
    Record,
    Filter(Form),
    Verifying,
    Verified {
        report: AuditVerifyReport,
        broken: Option<BrokenRecord>,
    },
}

#[derive(Debug)]
enum Pending {
    /// The newest record of the whole log, for a load of this generation.
    Head(u64),
    Page(u64),
    Poll(u64),
    Older(u64),
    Emails,
    Verify,
    Broken(u64),
    /// A filter whose user was typed as an e-mail, waiting for its id.
    ResolveUser(Filter, String),
}

/// What the last verification found, for the status line.
#[derive(Debug, Clone, Copy)]
struct LastVerify {
    at_ms: i64,
    broken_at: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Audit {
    /// Newest first.
    entries: Vec<AuditEntry>,
    cursor: Cursor,
    filter: Filter,
    paused: bool,
    /// The sequence number polls ask for records after.
    head: Option<u64>,
    loaded: bool,
    /// No older record matches: paging back stops.
    exhausted: bool,
    /// Bumped by each reload, so replies to a load under old filters are dropped.
    generation: u64,
    pending: HashMap<RequestId, Pending>,
    emails: HashMap<String, String>,
    modal: Option<Modal>,
    last_verify: Option<LastVerify>,
    error: Option<String>,
}

fn query_path(extra: &str, filter: &Filter) -> String {
    format!("/v1/audit?{extra}{}", filter.query())
}

impl Audit {
    fn in_flight(&self, what: impl Fn(&Pending) -> bool) -> bool {
        self.pending.values().any(what)
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        self.generation += 1;
        self.entries.clear();
        self.cursor = Cursor::default();
        self.head = None;
        self.loaded = false;
        self.exhausted = false;
        self.error = None;
        let id = ctx.send(ApiCall::get("/v1/audit?limit=1"));
        self.pending.insert(id, Pending::Head(self.generation));
        self.load_emails(ctx);
    }

    /// Loads the e-mail behind each user id, to show people rather than ids.
    fn load_emails(&mut self, ctx: &mut Ctx) {
        if !self.in_flight(|p| matches!(p, Pending::Emails)) {
            let id = ctx.send(ApiCall::get("/v1/users"));
            self.pending.insert(id, Pending::Emails);
        }
    }

    fn poll(&mut self, ctx: &mut Ctx) {
        let generation = self.generation;
        let Some(head) = self.head else {
            return;
        };
        if self.paused
            || !self.loaded
            || self.in_flight(|p| matches!(p, Pending::Poll(g) if *g == generation))
        {
            return;
        }
        let path = query_path(&format!("after={head}&limit=1000"), &self.filter);
        let id = ctx.send(ApiCall::get(path));
        self.pending.insert(id, Pending::Poll(generation));
    }

    /// Asks for older records once the cursor reaches the last one loaded.
    fn page_back_if_at_end(&mut self, ctx: &mut Ctx) {
        let generation = self.generation;
        let at_end = self.cursor.index + 1 >= self.entries.len();
        if !at_end
            || self.exhausted
            || !self.loaded
            || self.in_flight(|p| matches!(p, Pending::Older(g) if *g == generation))
        {
            return;
        }
        let Some(oldest) = self.entries.last().map(|e| e.seq) else {
            return;
        };
        let path = query_path(&format!("before={oldest}&limit={PAGE}"), &self.filter);
        let id = ctx.send(ApiCall::get(path));
        self.pending.insert(id, Pending::Older(generation));
    }

    fn verify(&mut self, ctx: &mut Ctx) {
        if !self.in_flight(|p| matches!(p, Pending::Verify)) {
            let id = ctx.send(ApiCall::post("/v1/audit/verify", Value::Null));
            self.pending.insert(id, Pending::Verify);
        }
        self.modal = Some(Modal::Verifying);
    }

    fn open_filter(&mut self) {
        let user = self.filter.user.as_ref().map_or("", |(label, _)| label);
        let action = self.filter.action.as_deref().unwrap_or("");
        let since = self.filter.since.as_ref().map_or("", |(text, _)| text);
        let until = self.filter.until.as_ref().map_or("", |(text, _)| text);
        self.modal = Some(Modal::Filter(Form::new(
            "Filter the audit log",
            "apply",
            vec![
                Field::text(
                    "User",
                    "An e-mail address or a user id: records by or about that account. Empty: everyone.",
                    user,
                ),
                Field::text(
                    "Action",
                    "An action such as user.suspend, or a prefix such as user, account, session or track. Empty: every action.",
                    action,
                ),
                Field::text(
                    "Since",
                    "2025-06-01, 2025-06-01 14:30 (UTC), or an age such as 15m, 2h or 7d. Empty: from the first record.",
                    since,
                ),
                Field::text(
                    "Until",
                    "Same forms as Since. Empty: up to now, following new records.",
                    until,
                ),
            ],
        )));
    }

    /// Reads the filter form. The user comes back apart, as typed: an e-mail must be looked up.
    fn read_filter(form: &Form, now_ms: i64) -> Result<(Filter, Option<String>), String> {
        let bound = |index: usize| -> Result<Option<(String, i64)>, String> {
            let text = form.text(index);
            if text.is_empty() {
                return Ok(None);
            }
            format::parse_time_bound(text, now_ms)
                .map(|ms| Some((text.to_owned(), ms)))
                .map_err(|e| e.to_string())
        };
        let since = bound(SINCE)?;
        let until = bound(UNTIL)?;
        if let (Some((_, s)), Some((_, u))) = (&since, &until)
            && s > u
        {
            return Err("Since is after Until".into());
        }
        let filter = Filter {
            user: None,
            action: Some(form.text(ACTION).to_owned()).filter(|a| !a.is_empty()),
            since,
            until,
        };
        let user = Some(form.text(USER).to_owned()).filter(|u| !u.is_empty());
        Ok((filter, user))
    }

    fn apply_filter(&mut self, filter: Filter, ctx: &mut Ctx) {
        self.filter = filter;
        self.modal = None;
        self.reload(ctx);
    }

    fn submit_filter(&mut self, ctx: &mut Ctx) {
        let Some(Modal::Filter(form)) = self.modal.as_mut() else {
            return;
        };
        match Self::read_filter(form, ctx.now_ms()) {
            Err(e) => form.error = Some(e),
            Ok((filter, None)) => self.apply_filter(filter, ctx),
            Ok((filter, Some(user))) if is_user_id(&user) => {
                let id = user.to_ascii_lowercase();
                let filter = Filter {
                    user: Some((user, id)),
                    ..filter
                };
                self.apply_filter(filter, ctx);
            }
            Ok((filter, Some(user))) if user.contains('@') => {
                form.busy = true;
                let id = ctx.send(ApiCall::get(format!("/v1/users/{}", segment(&user))));
                self.pending.insert(id, Pending::ResolveUser(filter, user));
            }
            Ok(_) => form.error = Some("type an e-mail address or a 32-character user id".into()),
        }
    }

    fn who(&self, actor: &str) -> String {
        match actor.strip_prefix("user:") {
            Some(id) => self.account(id),
            None => actor.to_owned(),
        }
    }

    fn account(&self, id: &str) -> String {
        self.emails
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("user {}", format::clip(id, 9)))
    }

    fn on_key_list(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        if self.cursor.handle_key(key, self.entries.len()) {
            self.page_back_if_at_end(ctx);
            return true;
        }
        match key.code {
            KeyCode::Enter if !self.entries.is_empty() => self.modal = Some(Modal::Record),
            KeyCode::Char('/') => self.open_filter(),
            KeyCode::Char('c') if self.filter != Filter::default() => {
                self.filter = Filter::default();
                self.reload(ctx);
            }
            KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('v') => self.verify(ctx),
            _ => return false,
        }
        true
    }

    /// Applies a successful reply; true when something visible changed.
    fn on_reply_ok(
        &mut self,
        pending: Pending,
        value: Value,
        ctx: &mut Ctx,
    ) -> Result<bool, ApiFailure> {
        let current = |g: u64| g == self.generation;
        match pending {
            Pending::Head(g) if current(g) => {
                let newest: Vec<AuditEntry> = decode(Ok(value))?;
                match newest.first() {
                    Some(e) => {
                        self.head = Some(e.seq);
                        let path = query_path(&format!("before={}&limit={PAGE}", e.seq + 1), &self.filter);
                        let id = ctx.send(ApiCall::get(path));
                        self.pending.insert(id, Pending::Page(g));
                    }
                    None => {
                        self.head = Some(0);
                        self.loaded = true;
                        self.exhausted = true;
                    }
                }
            }
            Pending::Page(g) if current(g) => {
                self.entries = decode(Ok(value))?;
                self.loaded = true;
                self.exhausted = self.entries.len() < PAGE;
            }
            Pending::Poll(g) if current(g) => {
                let fresh: Vec<AuditEntry> = decode(Ok(value))?;
                let newest = self.entries.first().map_or(0, |e| e.seq);
                let fresh: Vec<AuditEntry> = fresh.into_iter().filter(|e| e.seq > newest).collect();
                if fresh.is_empty() {
                    return Ok(false);
                }
                if let Some(e) = fresh.first() {
                    self.head = Some(self.head.unwrap_or(0).max(e.seq));
                }
                // A record about an account created since the last load names it by id only.
                if fresh
                    .iter()
                    .any(|e| e.owner.as_ref().is_some_and(|o| !self.emails.contains_key(o)))
                {
                    self.load_emails(ctx);
                }
                // Keep the selected record under the cursor, unless it sits on the newest one:
                // then it follows the tail.
                if self.cursor.index > 0 || self.modal.is_some() {
                    self.cursor.index += fresh.len();
                }
                self.entries.splice(0..0, fresh);
                if self.entries.len() > KEEP {
                    self.entries.truncate(KEEP);
                    self.exhausted = false;
                }
                self.cursor.clamp(self.entries.len());
            }
            Pending::Older(g) if current(g) => {
                let older: Vec<AuditEntry> = decode(Ok(value))?;
                self.exhausted = older.len() < PAGE;
                self.entries.extend(older);
            }
            Pending::Head(_) | Pending::Page(_) | Pending::Poll(_) | Pending::Older(_) => {
                return Ok(false);
            }
            Pending::Emails => {
                let users: Vec<UserView> = decode(Ok(value))?;
                let emails: HashMap<String, String> =
                    users.into_iter().map(|u| (u.id, u.email)).collect();
                if emails == self.emails {
                    return Ok(false);
                }
                self.emails = emails;
            }
            Pending::Verify => {
                let report: AuditVerifyReport = decode(Ok(value))?;
                let broken_at = report.first_problem.as_ref().map(|p| p.seq);
                self.last_verify = Some(LastVerify {
                    at_ms: ctx.now_ms(),
                    broken_at,
                });
                let broken = broken_at.map(|seq| {
                    let id = ctx.send(ApiCall::get(format!("/v1/audit?before={}&limit=1", seq + 1)));
                    self.pending.insert(id, Pending::Broken(seq));
                    BrokenRecord::Loading
                });
                if matches!(self.modal, None | Some(Modal::Verifying)) {
                    self.modal = Some(Modal::Verified { report, broken });
                }
            }
            Pending::Broken(seq) => {
                let found: Vec<AuditEntry> = decode(Ok(value))?;
                if let Some(Modal::Verified { broken, .. }) = self.modal.as_mut() {
                    *broken = Some(match found.into_iter().next() {
                        Some(e) if e.seq == seq => BrokenRecord::Found(e),
                        _ => BrokenRecord::Absent,
                    });
                }
            }
            Pending::ResolveUser(filter, email) => {
                let user: UserView = decode(Ok(value))?;
                if matches!(self.modal, Some(Modal::Filter(_))) {
                    self.emails.insert(user.id.clone(), user.email.clone());
                    let filter = Filter {
                        user: Some((email, user.id)),
                        ..filter
                    };
                    self.apply_filter(filter, ctx);
                }
            }
        }
        Ok(true)
    }

    fn status_line(&self, theme: Theme) -> Line<'static> {
        let mut spans = vec![if self.paused {
            Span::styled(" ❚❚ paused", theme.warn())
        } else {
            Span::styled(" ● live", theme.ok())
        }];
        spans.push(Span::styled(" · ", theme.dim()));
        spans.push(Span::raw(self.filter.describe()));
        if let Some(v) = self.last_verify {
            spans.push(Span::styled(" · ", theme.dim()));
            spans.push(match v.broken_at {
                None => Span::styled(
                    format!("chain OK at {} UTC", format::clock(v.at_ms)),
                    theme.ok(),
                ),
                Some(seq) => Span::styled(format!("chain BROKEN at #{seq}"), theme.error()),
            });
        }
        Line::from(spans)
    }

    fn draw_table(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let title = format!(
            " Audit log ({}{} shown) ",
            format::count(self.entries.len() as u64),
            if self.exhausted { "" } else { "+" }
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(title, theme.title()));
        if self.entries.is_empty() {
            let text = match (&self.error, self.loaded) {
                (Some(e), _) => e.clone(),
                (None, false) => "Loading the audit log …".into(),
                (None, true) if self.filter == Filter::default() => "The log is empty.".into(),
                (None, true) => "No record matches the filters. c clears them.".into(),
            };
            draw_placeholder(frame, area, block, &text, theme);
            return;
        }
        // Below this width "By" and "About" share one column, or neither would be readable.
        let wide = area.width >= 110;
        let rows = self.entries.iter().map(|e| {
            let about = match (&e.owner, &e.object) {
                (Some(owner), _) if e.actor != format!("user:{owner}") => self.account(owner),
                (_, Some(object)) => object.clone(),
                _ => String::new(),
            };
            let mut cells = vec![
                Cell::from(format!("{:>6}", e.seq)),
                Cell::from(format::timestamp(e.at_ms)),
                Cell::from(e.action.clone()),
            ];
            if wide {
                cells.push(Cell::from(self.who(&e.actor)));
                cells.push(Cell::from(about));
            } else if about.is_empty() {
                cells.push(Cell::from(self.who(&e.actor)));
            } else {
                cells.push(Cell::from(format!("{} → {about}", self.who(&e.actor))));
            }
            Row::new(cells)
        });
        let mut widths = vec![
            Constraint::Length(6),
            Constraint::Length(19),
            Constraint::Length(24),
            Constraint::Fill(1),
        ];
        let mut header = vec!["     #", "When (UTC)", "Action"];
        if wide {
            widths.push(Constraint::Fill(1));
            header.extend(["By", "About"]);
        } else {
            header.push("By → about");
        }
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(theme.dim()))
            .block(block)
            .row_highlight_style(theme.selected())
            .highlight_symbol("▶ ");
        let mut state = self.cursor.table_state(self.entries.len());
        frame.render_stateful_widget(table, area, &mut state);
        self.cursor.remember(&state);
    }

    fn record_dialog(&self, title: String, e: &AuditEntry, theme: Theme) -> Dialog {
        let owner = e
            .owner
            .as_ref()
            .map_or_else(|| "–".to_owned(), |id| format!("{} ({id})", self.account(id)));
        let text = theme.text();
        Dialog::new(title, 76)
            .field("When", format!("{} UTC", format::timestamp(e.at_ms)), text)
            .field("Action", e.action.clone(), theme.title())
            .field(
                "By",
                match e.actor.strip_prefix("user:") {
                    Some(id) => format!("{} ({id})", self.account(id)),
                    None => e.actor.clone(),
                },
                text,
            )
            .field("Account", owner, text)
            .field("Object", e.object.clone().unwrap_or_else(|| "–".into()), text)
            .field(
                "Client",
                e.client
                    .clone()
                    .map_or_else(|| "–".into(), |c| format!("{c} (keyed hash)")),
                text,
            )
            .field("Detail", e.detail.clone().unwrap_or_else(|| "–".into()), text)
            .field("Hash", e.hash.clone(), theme.dim())
    }

    fn verify_dialog(&self, report: &AuditVerifyReport, broken: Option<&BrokenRecord>, theme: Theme) -> Dialog {
        let checkpoints = match report.last_checkpoint_seq {
            Some(seq) => format!(
                "{} (the newest covers record #{seq})",
                format::count(report.checkpoints)
            ),
            None => format::count(report.checkpoints),
        };
        let Some(problem) = &report.first_problem else {
            return Dialog::new("Audit chain verified", 72)
                .text("✓ The chain is intact: every record hashes to its stored hash, links to the one before, and the signed checkpoints verify.", theme.ok())
                .blank()
                .field("Records", format::count(report.records), theme.text())
                .field("Checkpoints", checkpoints, theme.text())
                .field("Signing key", report.public_key.clone(), theme.dim())
                .keys(vec![("Esc", "close"), ("v", "verify again")]);
        };
        let mut dialog = Dialog::new("Audit chain BROKEN", 76)
            .text(format!("✗ The chain is broken at record #{}.", problem.seq), theme.error())
            .blank()
            .field("Problem", format!("{}: {}", kind_text(problem.kind), problem.message), theme.text())
            .field("Records", format::count(report.records), theme.text())
            .field("Checkpoints", checkpoints, theme.text())
            .blank();
        dialog = match broken {
            Some(BrokenRecord::Found(e)) => {
                let record = self.record_dialog(String::new(), e, theme);
                dialog
                    .text(format!("First broken record, #{}:", e.seq), theme.title())
                    .append(record)
            }
            Some(BrokenRecord::Absent) => dialog.text(
                format!("Record #{} cannot be read back: it is gone.", problem.seq),
                theme.warn(),
            ),
            Some(BrokenRecord::Loading) | None => {
                dialog.text(format!("Loading record #{} …", problem.seq), theme.dim())
            }
        };
        dialog.keys(vec![("Esc", "close"), ("v", "verify again")])
    }
}

fn is_user_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn kind_text(kind: AuditProblemKind) -> &'static str {
    match kind {
        AuditProblemKind::Altered => "altered",
        AuditProblemKind::BrokenLink => "broken link",
        AuditProblemKind::Missing => "missing record",
        AuditProblemKind::Truncated => "truncated",
        AuditProblemKind::BadCheckpoint => "bad checkpoint",
        AuditProblemKind::Unreadable => "unreadable",
    }
}

impl Component for Audit {
    fn title(&self) -> &'static str {
        "Audit"
    }

    fn help(&self) -> &'static Help {
        &HELP
    }

    fn hints(&self) -> Vec<Hint> {
        match &self.modal {
            Some(Modal::Filter(form)) => form.hints(),
            Some(Modal::Record) => vec![("j/k", "older/newer"), ("Esc", "close")],
            Some(Modal::Verifying) => vec![("Esc", "close (the check goes on)")],
            Some(Modal::Verified { .. }) => vec![("Esc", "close"), ("v", "verify again")],
            None => vec![
                ("v", "verify chain"),
                ("/", "filter"),
                ("c", "clear filter"),
                ("Enter", "record"),
                ("p", if self.paused { "resume" } else { "pause" }),
            ],
        }
    }

    fn captures_keys(&self) -> bool {
        matches!(self.modal, Some(Modal::Filter(_)))
    }

    fn activate(&mut self, ctx: &mut Ctx) {
        self.reload(ctx);
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        self.poll(ctx);
        false
    }

    fn on_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) -> bool {
        match self.modal.as_mut() {
            None => self.on_key_list(key, ctx),
            Some(Modal::Filter(form)) => {
                match form.handle_key(key) {
                    FormEvent::Cancel => self.modal = None,
                    FormEvent::Submit => self.submit_filter(ctx),
                    FormEvent::Changed => {}
                    FormEvent::Ignored => return false,
                }
                true
            }
            Some(Modal::Record) => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                    self.modal = None;
                    return true;
                }
                if self.cursor.handle_key(key, self.entries.len()) {
                    self.page_back_if_at_end(ctx);
                    return true;
                }
                // Any other key closes the record and acts on the list, as if it were not open.
                self.modal = None;
                self.on_key_list(key, ctx);
                true
            }
            Some(Modal::Verifying | Modal::Verified { .. }) => {
                self.modal = None;
                if !matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                    self.on_key_list(key, ctx);
                }
                true
            }
        }
    }

    fn on_reply(&mut self, id: RequestId, result: Result<Value, ApiFailure>, ctx: &mut Ctx) -> bool {
        let Some(pending) = self.pending.remove(&id) else {
            return false;
        };
        let resolving = matches!(pending, Pending::ResolveUser(..));
        let verifying = matches!(pending, Pending::Verify);
        let loading = matches!(pending, Pending::Head(_) | Pending::Page(_));
        let error = match result.and_then(|value| self.on_reply_ok(pending, value, ctx)) {
            Ok(changed) => return changed,
            Err(error) => error,
        };
        match self.modal.as_mut() {
            Some(Modal::Filter(form)) if resolving => {
                form.busy = false;
                form.error = Some(if error.is_not_found() {
                    "no account has that e-mail address".into()
                } else {
                    error.to_string()
                });
            }
            Some(Modal::Verifying) if verifying => {
                self.modal = None;
                ctx.error(format!("Verification failed: {error}"));
            }
            _ if loading => self.error = Some(error.to_string()),
            _ => ctx.error(error.to_string()),
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let [status, table] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        frame.render_widget(Paragraph::new(self.status_line(theme)), status);
        self.draw_table(frame, table, theme);
        match &self.modal {
            None => {}
            Some(Modal::Filter(form)) => form.draw(frame, area, theme),
            Some(Modal::Record) => {
                if let Some(e) = self.entries.get(self.cursor.index) {
                    self.record_dialog(format!("Record #{}", e.seq), e, theme)
                        .keys(vec![("j/k", "older/newer"), ("Esc", "close")])
                        .draw(frame, area, theme);
                }
            }
            Some(Modal::Verifying) => Dialog::new("Verifying the audit chain", 60)
                .text(
                    "The server is re-hashing every record and checking the signed checkpoints. A long log takes a while; the console stays usable.",
                    theme.text(),
                )
                .keys(vec![("Esc", "close")])
                .draw(frame, area, theme),
            Some(Modal::Verified { report, broken }) => self
                .verify_dialog(report, broken.as_ref(), theme)
                .draw(frame, area, theme),
        }
    }
}

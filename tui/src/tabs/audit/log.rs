//! The log itself: a live tail, newest first, under the filters in force. It loads a page,
//! polls for newer records, pages older ones in at the end of the list, and draws the status
//! line and the table.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use serde_json::Value;
use studiovault_api::admin::AuditEntry;

use super::Pending;
use super::accounts::Accounts;
use super::filter::Filter;
use crate::format;
use crate::request::{ApiCall, ApiFailure, Ctx, InFlight, decode};
use crate::theme::Theme;
use crate::widgets::{Cursor, EmptyText, Hint, ListBox};

/// Records per page when loading and paging back.
const PAGE: usize = 200;
/// Records a poll asks for; the server answers the newest of those after the head.
const POLL: usize = 1_000;
/// The list holds at most this many records: the live tail lets the oldest go (paged in
/// again at the end), paging back lets the newest go (loaded again from the top with `g`).
const KEEP: usize = 5_000;
/// Below this width "By" and "About" share one column, or neither would be readable.
const WIDE: u16 = 110;

const EMPTY: EmptyText = EmptyText {
    loading: "Loading the audit log …",
    empty: "The log is empty.",
    no_match: "No record matches the filters. c clears them.",
};

/// One of the log's calls to `/v1/audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// The newest record of the whole log, where a load starts.
    Head,
    /// The first page, newest first.
    Page,
    /// Records newer than the head.
    Poll,
    /// Records older than the last one loaded.
    Older,
}

#[derive(Debug, Default)]
pub struct Log {
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
    /// Paging back let the newest records go: the list no longer reaches the head, so the
    /// tail stops until `g` loads from the newest again.
    newer_dropped: bool,
    /// Bumped by each reload, so replies to a load under old filters are dropped.
    generation: u64,
    /// Why the last load failed.
    error: Option<String>,
    accounts: Accounts,
}

impl Log {
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    pub fn accounts_mut(&mut self) -> &mut Accounts {
        &mut self.accounts
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn selected(&self) -> Option<&AuditEntry> {
        self.entries.get(self.cursor.index)
    }

    pub fn hints(&self) -> Vec<Hint> {
        vec![
            ("v", "verify chain"),
            ("/", "filter"),
            ("c", "clear filter"),
            ("Enter", "record"),
            ("p", if self.paused { "resume" } else { "pause" }),
        ]
    }

    /// Starts over under the filters in force: the newest record first, then a page before it.
    pub fn reload(&mut self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        self.generation += 1;
        self.entries.clear();
        self.cursor = Cursor::default();
        self.head = None;
        self.loaded = false;
        self.exhausted = false;
        self.newer_dropped = false;
        self.error = None;
        requests.send(
            ctx,
            ApiCall::get("/v1/audit?limit=1"),
            Pending::Log(Load::Head, self.generation),
        );
        Accounts::load(requests, ctx);
    }

    /// Asks for records after the head, unless paused or a poll is already out.
    pub fn poll(&mut self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let Some(head) = self.head else {
            return;
        };
        if self.paused || self.newer_dropped || !self.loaded || self.in_flight(Load::Poll, requests)
        {
            return;
        }
        self.fetch(Load::Poll, &format!("after={head}&limit={POLL}"), requests, ctx);
    }

    /// Asks for older records once the cursor reaches the last one loaded.
    fn page_back_if_at_end(&mut self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let at_end = self.cursor.index + 1 >= self.entries.len();
        if !at_end || self.exhausted || !self.loaded || self.in_flight(Load::Older, requests) {
            return;
        }
        let Some(oldest) = self.entries.last().map(|e| e.seq) else {
            return;
        };
        self.fetch(Load::Older, &format!("before={oldest}&limit={PAGE}"), requests, ctx);
    }

    fn in_flight(&self, load: Load, requests: &InFlight<Pending>) -> bool {
        let generation = self.generation;
        requests.any(|p| matches!(p, Pending::Log(l, g) if *l == load && *g == generation))
    }

    /// Asks for the records in `range` that match the filters.
    fn fetch(&self, load: Load, range: &str, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let path = format!("/v1/audit?{range}{}", self.filter.query());
        requests.send(ctx, ApiCall::get(path), Pending::Log(load, self.generation));
    }

    /// Moves the selection, paging older records in at the end; true when the key is a move.
    pub fn move_cursor(
        &mut self,
        key: &KeyEvent,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> bool {
        if !self.cursor.handle_key(key, self.entries.len()) {
            return false;
        }
        // Back at the top of a list that lost its newest records: load from the newest.
        if self.newer_dropped && self.cursor.index == 0 {
            self.reload(requests, ctx);
            return true;
        }
        self.page_back_if_at_end(requests, ctx);
        true
    }

    /// Moves, `c` to clear the filters and `p` to pause; true when the key was handled.
    pub fn on_key(
        &mut self,
        key: &KeyEvent,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> bool {
        if self.move_cursor(key, requests, ctx) {
            return true;
        }
        match key.code {
            KeyCode::Char('c') if self.filter != Filter::default() => {
                self.filter = Filter::default();
                self.reload(requests, ctx);
            }
            KeyCode::Char('p') => self.paused = !self.paused,
            _ => return false,
        }
        true
    }

    /// A reply to one of the log's loads of `generation`; true when something visible changed.
    /// `overlay_open`: a box over the log keeps the selected record selected.
    pub fn on_load(
        &mut self,
        load: Load,
        generation: u64,
        value: Value,
        overlay_open: bool,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> Result<bool, ApiFailure> {
        if generation != self.generation {
            return Ok(false);
        }
        match load {
            Load::Head => {
                let newest: Vec<AuditEntry> = decode(Ok(value))?;
                match newest.first() {
                    Some(e) => {
                        self.head = Some(e.seq);
                        let range = format!("before={}&limit={PAGE}", e.seq + 1);
                        self.fetch(Load::Page, &range, requests, ctx);
                    }
                    None => {
                        self.head = Some(0);
                        self.loaded = true;
                        self.exhausted = true;
                    }
                }
            }
            Load::Page => {
                self.entries = decode(Ok(value))?;
                self.loaded = true;
                self.exhausted = self.entries.len() < PAGE;
            }
            Load::Poll => return self.on_poll(decode(Ok(value))?, overlay_open, requests, ctx),
            Load::Older => {
                let older: Vec<AuditEntry> = decode(Ok(value))?;
                self.exhausted = older.len() < PAGE;
                self.entries.extend(older);
                // However far back the admin pages, the list stays bounded: the newest go.
                if self.entries.len() > KEEP {
                    let dropped = self.entries.len() - KEEP;
                    self.entries.drain(..dropped);
                    self.cursor.index = self.cursor.index.saturating_sub(dropped).max(1);
                    self.newer_dropped = true;
                }
            }
        }
        Ok(true)
    }

    fn on_poll(
        &mut self,
        fresh: Vec<AuditEntry>,
        overlay_open: bool,
        requests: &mut InFlight<Pending>,
        ctx: &mut Ctx,
    ) -> Result<bool, ApiFailure> {
        // A full answer is the newest of what arrived (after a long pause): older ones may lie
        // between it and the list. Start over from the newest, so paging back shows them all.
        if fresh.len() >= POLL {
            self.reload(requests, ctx);
            return Ok(true);
        }
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
            .any(|e| e.owner.as_ref().is_some_and(|o| !self.accounts.knows(o)))
        {
            Accounts::load(requests, ctx);
        }
        // Keep the selected record under the cursor, unless it sits on the newest one:
        // then it follows the tail.
        if self.cursor.index > 0 || overlay_open {
            self.cursor.index += fresh.len();
        }
        self.entries.splice(0..0, fresh);
        if self.entries.len() > KEEP {
            self.entries.truncate(KEEP);
            self.exhausted = false;
        }
        self.cursor.clamp(self.entries.len());
        Ok(true)
    }

    pub fn load_failed(&mut self, error: &ApiFailure) {
        self.error = Some(error.to_string());
    }

    /// Live or paused, and the filters in force.
    pub fn status_spans(&self, theme: Theme) -> Vec<Span<'static>> {
        vec![
            if self.newer_dropped {
                Span::styled(" ↑ paged back past the newest: g loads them", theme.warn())
            } else if self.paused {
                Span::styled(" ❚❚ paused", theme.warn())
            } else {
                Span::styled(" ● live", theme.ok())
            },
            Span::styled(" · ", theme.dim()),
            Span::raw(self.filter.describe()),
        ]
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let title = format!(
            "Audit log ({}{} shown)",
            format::count(self.entries.len() as u64),
            if self.exhausted { "" } else { "+" }
        );
        let list = ListBox::new(&title, theme);
        if self.entries.is_empty() {
            let narrowed = self.filter != Filter::default();
            let text = EMPTY.pick(self.error.as_deref(), self.loaded, narrowed);
            list.draw_placeholder(frame, area, &text);
            return;
        }
        let wide = area.width >= WIDE;
        let rows = self.entries.iter().map(|e| self.row(e, wide)).collect();
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
        list.draw_rows(frame, area, Row::new(header), widths, rows, &self.cursor);
    }

    fn row(&self, e: &AuditEntry, wide: bool) -> Row<'static> {
        let who = self.accounts.who(&e.actor);
        let about = match (&e.owner, &e.object) {
            (Some(owner), _) if e.actor != format!("user:{owner}") => self.accounts.name(owner),
            (_, Some(object)) => object.clone(),
            _ => String::new(),
        };
        let mut cells = vec![
            Cell::from(format!("{:>6}", e.seq)),
            Cell::from(format::timestamp(e.at_ms)),
            Cell::from(e.action.clone()),
        ];
        if wide {
            cells.push(Cell::from(who));
            cells.push(Cell::from(about));
        } else if about.is_empty() {
            cells.push(Cell::from(who));
        } else {
            cells.push(Cell::from(format!("{who} → {about}")));
        }
        Row::new(cells)
    }
}

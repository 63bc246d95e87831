//! The console without a terminal: a [`Harness`] drives the real [`App`] with keys and plays
//! the server's part by answering the calls it queues. `events.rs` checks what keys do and
//! which calls they make; `render.rs` draws each screen to a `TestBackend` and compares it with
//! the reviewed snapshots in `snapshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod events;
mod notices;
mod render;
mod shares;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

use crate::app::{App, Input};
use crate::request::{ApiFailure, Method, Outgoing, Reply};
use crate::tabs;
use crate::theme::Theme;

/// 2025-06-01 12:00:00 UTC, the harness's "now".
pub const NOW: i64 = 1_748_779_200_000;
const MINUTE: i64 = 60_000;

pub const ANA: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
pub const BEN: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
pub const CLEO: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
/// The stem workers of [`workers`]: one running a job, one draining.
pub const GPU_BOX: &str = "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5";
pub const MAC_MINI: &str = "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6";

pub struct Harness {
    pub app: App,
    /// Calls the app queued that nobody answered yet.
    pub pending: Vec<Outgoing>,
    pub now: i64,
}

impl Harness {
    /// A console whose server answered its first status check.
    pub fn connected() -> Self {
        let mut h = Self::starting();
        h.answer(Method::Get, "/v1/status", status());
        h.answer(Method::Get, "/v1/status", status());
        h
    }

    /// A console that has just sent its first status check.
    pub fn starting() -> Self {
        let mut app = App::new(
            tabs::all(),
            Theme::PLAIN,
            "/var/lib/studiovault/admin.sock".into(),
        );
        app.start(NOW);
        let mut h = Self {
            app,
            pending: Vec::new(),
            now: NOW,
        };
        h.collect();
        h
    }

    fn collect(&mut self) {
        self.pending.extend(self.app.take_outbox());
    }

    pub fn input(&mut self, input: Input) -> bool {
        let redraw = self.app.handle(input, self.now);
        self.collect();
        redraw
    }

    pub fn key(&mut self, code: KeyCode) -> bool {
        self.input(Input::Terminal(Event::Key(KeyEvent::new(
            code,
            KeyModifiers::NONE,
        ))))
    }

    pub fn ctrl(&mut self, c: char) -> bool {
        self.input(Input::Terminal(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::CONTROL,
        ))))
    }

    /// Presses each character's key in turn.
    pub fn typed(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    pub fn tick(&mut self) -> bool {
        self.input(Input::Tick)
    }

    /// The calls waiting for an answer, as `METHOD path` (`POST path < file` for a file sent
    /// as the body).
    pub fn calls(&self) -> Vec<String> {
        self.pending
            .iter()
            .map(|o| match &o.call.method {
                Method::PostFile(file) => format!("POST {} < {}", o.call.path, file.display()),
                method => format!("{} {}", method_name(method), o.call.path),
            })
            .collect()
    }

    fn take(&mut self, method: Method, path: &str) -> Outgoing {
        let Some(index) = self
            .pending
            .iter()
            .position(|o| o.call.method == method && o.call.path == path)
        else {
            panic!("no pending {method:?} {path}; pending: {:?}", self.calls());
        };
        self.pending.remove(index)
    }

    /// The body of the pending call, without answering it.
    pub fn body(&self, method: Method, path: &str) -> Value {
        self.pending
            .iter()
            .find(|o| o.call.method == method && o.call.path == path)
            .map(|o| o.call.body.clone())
            .unwrap_or_else(|| panic!("no pending {method:?} {path}; pending: {:?}", self.calls()))
    }

    /// Answers the oldest pending call of `method` to `path` with `value`; true when the
    /// screen must be redrawn.
    pub fn answer(&mut self, method: Method, path: &str, value: Value) -> bool {
        self.reply(method, path, Ok(value))
    }

    pub fn fail(&mut self, method: Method, path: &str, failure: ApiFailure) {
        self.reply(method, path, Err(failure));
    }

    fn reply(&mut self, method: Method, path: &str, result: Result<Value, ApiFailure>) -> bool {
        let call = self.take(method, path);
        self.input(Input::Reply(Reply {
            id: call.id,
            origin: call.origin,
            result,
        }))
    }

    /// Switches to the Users tab and answers its load.
    pub fn on_users(&mut self) {
        self.key(KeyCode::Char('2'));
        self.answer(Method::Get, "/v1/users", users());
    }

    /// Switches to the Audit tab and answers its load with [`audit_entries`].
    pub fn on_audit(&mut self) {
        self.key(KeyCode::Char('3'));
        self.answer(Method::Get, "/v1/users", users());
        self.answer(
            Method::Get,
            "/v1/audit?limit=1",
            json!([audit_entries()[0]]),
        );
        self.answer(
            Method::Get,
            "/v1/audit?before=13&limit=200",
            json!(audit_entries()),
        );
    }

    pub fn on_sessions(&mut self) {
        self.key(KeyCode::Char('4'));
        self.answer(Method::Get, "/v1/sessions", sessions());
    }

    /// Switches to the Workers tab and answers its load with [`workers`].
    pub fn on_workers(&mut self) {
        self.key(KeyCode::Char('5'));
        self.answer(Method::Get, "/v1/workers", workers());
    }

    /// Switches to the Legal tab (by its title: its digit depends on the tabs before it) and
    /// answers its load with [`legal_requests`].
    pub fn on_legal(&mut self) {
        let index = tabs::all()
            .iter()
            .position(|t| t.title() == "Legal")
            .unwrap();
        self.key(KeyCode::Char(char::from(
            b'1' + u8::try_from(index).unwrap(),
        )));
        self.answer(Method::Get, "/v1/legal", legal_requests());
    }

    /// The screen at `width` × `height`, as text.
    pub fn screen(&self, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| self.app.draw(frame)).unwrap();
        terminal.backend().to_string()
    }
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post | Method::PostFile(_) => "POST",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

pub fn status() -> Value {
    json!({
        "version": "0.1.0",
        "uptime_secs": 3 * 86_400 + 4 * 3_600 + 120,
        "users": 3,
        "tracks": 41,
        "stored_bytes": 12_884_901_888u64,
        "disk_free_bytes": 1_717_986_918_400u64,
        "audit_records": 12,
        "listen": "127.0.0.1:8080",
        "data_dir": "/var/lib/studiovault",
        "capabilities": [
            {"name": "TLS certificate", "state": "not_built", "detail": "Automatic TLS (ACME) is not built yet: plain HTTP on loopback only, no certificate to expire."},
            {"name": "Analysis queue", "state": "ok", "detail": "2 track(s) waiting; 1 worker(s), each job in its own process limited to 1024 MiB and 600 s"},
            {"name": "Replication", "state": "not_configured", "detail": "No B2 bucket is configured."},
            {"name": "Backups", "state": "ok", "detail": "Last backup 2025-06-01 03:00 UTC, 41 tracks."},
            {"name": "Restore drill", "state": "failing", "detail": "The last drill (2025-05-31) could not read snapshot 7."}
        ]
    })
}

pub fn users() -> Value {
    json!([
        {
            "id": BEN, "email": "ben@studio.test", "plan": "free", "quota_bytes": 5u64 << 30,
            "quota_override": false, "used_bytes": 1_288_490_188u64, "tracks": 9,
            "totp_enabled": false, "status": {"state": "suspended", "since": NOW - 90 * MINUTE},
            "sessions": 0, "created_at": NOW - 30 * 86_400_000
        },
        {
            "id": ANA, "email": "ana@studio.test", "plan": "pro", "quota_bytes": 500u64 << 30,
            "quota_override": true, "used_bytes": 11_596_411_699u64, "tracks": 32,
            "totp_enabled": true, "status": {"state": "active"}, "sessions": 2,
            "created_at": NOW - 60 * 86_400_000
        },
        {
            "id": CLEO, "email": "cleo@label.example", "plan": "max", "quota_bytes": 2u64 << 40,
            "quota_override": false, "used_bytes": 0, "tracks": 0, "totp_enabled": false,
            "status": {"state": "pending_deletion", "requested_at": NOW - 86_400_000,
                       "purge_after": NOW + 29 * 86_400_000},
            "sessions": 0, "created_at": NOW - 10 * 86_400_000
        }
    ])
}

pub fn user(id: &str) -> Value {
    users()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id)
        .cloned()
        .unwrap()
}

pub fn sessions() -> Value {
    json!([
        {"id": "s-ana-laptop", "user_id": ANA, "email": "ana@studio.test",
         "created_at": NOW - 3 * 3_600_000, "last_seen_at": NOW - 2 * MINUTE,
         "client": "4f1c9e2ab07d53e18c6a2f90d4b7e315"},
        {"id": "s-ana-phone", "user_id": ANA, "email": "ana@studio.test",
         "created_at": NOW - 26 * 3_600_000, "last_seen_at": NOW - 5 * 3_600_000,
         "client": "9d02b7c4e1f8a6350b2c7e9d1a4f6083"},
        {"id": "s-dev", "user_id": CLEO, "email": "dev@studio.test",
         "created_at": NOW - 10 * MINUTE, "last_seen_at": NOW - MINUTE, "client": null}
    ])
}

/// A stem job of [`workers`]' queue.
fn stem_job(
    id: &str,
    state: &str,
    progress: f32,
    attempts: u32,
    worker: Option<&str>,
    reason: Option<&str>,
    minutes_ago: i64,
) -> Value {
    json!({
        "id": id, "track": "7e2d4c0a9b1f4e3d8c2a6b5f0e1d3c4b", "state": state,
        "progress": progress, "attempts": attempts, "worker": worker, "reason": reason,
        "created_at": NOW - minutes_ago * MINUTE
    })
}

/// gpu-box runs a job at 40 %; mac-mini is draining; the queue has that job, one waiting and
/// one that failed.
pub fn workers() -> Value {
    let running = stem_job(
        "9c41d7e2a0b35f68c41d7e2a0b35f68c",
        "running",
        0.4,
        1,
        Some("gpu-box"),
        None,
        6,
    );
    json!({
        "workers": [
            {
                "id": MAC_MINI, "name": "mac-mini", "state": "draining",
                "enrolled_at": NOW - 20 * 86_400_000, "host": "mac-mini.lan", "backend": "builtin",
                "gpu": null, "vram_mb": null, "last_seen": NOW - 3 * MINUTE - 4_000,
                "current_job": null, "jobs_last_hour": 2, "jobs_done": 48
            },
            {
                "id": GPU_BOX, "name": "gpu-box", "state": "active",
                "enrolled_at": NOW - 7 * 86_400_000, "host": "gpu-box.lan", "backend": "command",
                "gpu": "NVIDIA GeForce RTX 4090", "vram_mb": 24_564, "last_seen": NOW - 12_000,
                "current_job": running, "jobs_last_hour": 11, "jobs_done": 312
            }
        ],
        "queue": [
            stem_job("3b8e0f5a1c2d4e6f3b8e0f5a1c2d4e6f", "failed", 0.15, 3, None,
                     Some("the stems do not sum back to the mix"), 95),
            running,
            stem_job("a07c2e9d4b1f3a5ca07c2e9d4b1f3a5c", "queued", 0.0, 0, None, None, 2)
        ]
    })
}

/// A worker of [`workers`], by id.
pub fn worker(id: &str) -> Value {
    workers()["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .cloned()
        .unwrap()
}

fn entry(
    seq: u64,
    minutes_ago: i64,
    actor: &str,
    owner: Option<&str>,
    action: &str,
    object: Option<&str>,
) -> Value {
    json!({
        "seq": seq, "at_ms": NOW - minutes_ago * MINUTE, "actor": actor, "owner": owner,
        "action": action, "object": object,
        "client": if actor.starts_with("user:") { Some("4f1c9e2ab07d53e18c6a2f90d4b7e315") } else { None },
        "detail": if action == "track.download" { Some("bytes 0-65535") } else { None },
        "hash": format!("{:064x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    })
}

/// Twelve records, newest first.
pub fn audit_entries() -> Vec<Value> {
    let ana = format!("user:{ANA}");
    vec![
        entry(
            12,
            1,
            "admin",
            Some(BEN),
            "user.suspend",
            Some(&format!("user/{BEN}")),
        ),
        entry(
            11,
            3,
            &ana,
            Some(ANA),
            "track.download",
            Some("track/7e2d4c"),
        ),
        entry(10, 4, &ana, Some(ANA), "track.upload", Some("track/7e2d4c")),
        entry(
            9,
            6,
            &ana,
            Some(ANA),
            "session.create",
            Some("session/s-ana-laptop"),
        ),
        entry(8, 30, "admin", Some(CLEO), "account.deletion_request", None),
        entry(
            7,
            45,
            "admin",
            Some(ANA),
            "user.update",
            Some(&format!("user/{ANA}")),
        ),
        entry(
            6,
            50,
            "system",
            None,
            "account.purge",
            Some("user/d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"),
        ),
        entry(
            5,
            55,
            "admin",
            Some(CLEO),
            "user.create",
            Some(&format!("user/{CLEO}")),
        ),
        entry(
            4,
            58,
            "admin",
            Some(BEN),
            "user.create",
            Some(&format!("user/{BEN}")),
        ),
        entry(3, 59, &ana, Some(ANA), "account.totp_enable", None),
        entry(
            2,
            60,
            &ana,
            Some(ANA),
            "session.create",
            Some("session/s-ana-phone"),
        ),
        entry(
            1,
            61,
            "admin",
            Some(ANA),
            "user.create",
            Some(&format!("user/{ANA}")),
        ),
    ]
}

/// The legal requests of [`legal_requests`]: a gagged court order on hold, due in two days; a
/// subpoena whose notice went out; a refused warrant whose hold was released.
pub const ORDER: &str = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";
pub const SUBPOENA: &str = "a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9";
pub const WARRANT: &str = "7070707070707070707070707070707a";
const DAY: i64 = 86_400_000;

/// Three requests, the newest first.
pub fn legal_requests() -> Value {
    json!([
        {
            "id": ORDER, "kind": "court_order", "authority": "District Court of Testville",
            "legal_basis": "Criminal Procedure Act §100", "reference": "CR-2025-0042",
            "received_at": NOW - DAY, "deadline": NOW + 2 * DAY,
            "accounts": [{"id": ANA, "email": "ana@studio.test", "notified_at": null}],
            "data_types": ["account", "audio"], "state": "received", "reason": null,
            "decided_at": null,
            "hold": {"placed_at": NOW - DAY, "released_at": null, "release_reason": null},
            "gag": {"until": NOW + 20 * DAY, "recorded_at": NOW - DAY + 5 * MINUTE,
                    "note": "order of 2025-05-30, §12"},
            "exports": 0,
            "timeline": [
                {"at": NOW - DAY, "what": "received: court_order from District Court of Testville"},
                {"at": NOW - DAY, "what": "legal hold placed on 1 account(s)"},
                {"at": NOW - DAY + 5 * MINUTE, "what": "gag until 2025-06-21 12:00 UTC; no notice before then"}
            ]
        },
        {
            "id": SUBPOENA, "kind": "subpoena", "authority": "Tax Office",
            "legal_basis": "Tax Code §93", "reference": "TX-881",
            "received_at": NOW - 3 * DAY, "deadline": NOW + 20 * DAY,
            "accounts": [{"id": BEN, "email": "ben@studio.test", "notified_at": NOW - 2 * 60 * MINUTE,
                          "delivery": "sent"}],
            "data_types": ["account"], "state": "received", "reason": null,
            "decided_at": null, "hold": null, "gag": null, "exports": 0,
            "timeline": [
                {"at": NOW - 3 * DAY, "what": "received: subpoena from Tax Office"},
                {"at": NOW - 2 * 60 * MINUTE, "what": format!("notice queued for account {BEN}")}
            ]
        },
        {
            "id": WARRANT, "kind": "warrant", "authority": "Federal Police",
            "legal_basis": "Police Act §20", "reference": "FP-12",
            "received_at": NOW - 30 * DAY, "deadline": NOW - 5 * DAY,
            "accounts": [{"id": CLEO, "email": "cleo@label.example", "notified_at": null}],
            "data_types": ["activity"], "state": "refused", "reason": "no valid legal basis",
            "decided_at": NOW - 20 * DAY,
            "hold": {"placed_at": NOW - 30 * DAY, "released_at": NOW - 20 * DAY,
                     "release_reason": "request refused"},
            "gag": null, "exports": 0,
            "timeline": [
                {"at": NOW - 30 * DAY, "what": "received: warrant from Federal Police"},
                {"at": NOW - 20 * DAY, "what": "refused: no valid legal basis"}
            ]
        }
    ])
}

/// A request of [`legal_requests`], by id.
pub fn legal_request(id: &str) -> Value {
    legal_requests()
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap()
}

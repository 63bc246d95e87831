//! What the screens ask of the admin socket and what comes back.
//!
//! A screen never touches the socket: it queues an [`ApiCall`] on its [`Ctx`] and gets a
//! [`Reply`] with the same [`RequestId`] later, so the UI never waits on the server. The event
//! loop (`console.rs`) runs each call as a task; tests play the server's part by hand.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use studiovault_api::client::{AdminClient, ClientError};

/// A call that takes longer than this is reported as failed; the UI never waits on it anyway.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// A file goes to the server whole before it answers, and a trace reads all of it: a long
/// recording takes minutes, not seconds. Calls that walk the whole store (the audit chain's
/// check) get as long.
const LONG_CALL_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
    /// POST with this file's bytes as the body (`application/octet-stream`), not JSON.
    PostFile(PathBuf),
}

/// One request to the admin API under `/v1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: Method,
    pub path: String,
    pub body: Value,
    /// Whether the answer may take minutes rather than seconds.
    long: bool,
}

impl ApiCall {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            path: path.into(),
            body: Value::Null,
            long: false,
        }
    }

    pub fn post(path: impl Into<String>, body: Value) -> Self {
        Self {
            method: Method::Post,
            path: path.into(),
            body,
            long: false,
        }
    }

    pub fn patch(path: impl Into<String>, body: Value) -> Self {
        Self {
            method: Method::Patch,
            path: path.into(),
            body,
            long: false,
        }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            method: Method::Delete,
            path: path.into(),
            body: Value::Null,
            long: false,
        }
    }

    /// Sends the file at `file` as the body, streamed from disk by the client.
    pub fn post_file(path: impl Into<String>, file: impl Into<PathBuf>) -> Self {
        Self {
            method: Method::PostFile(file.into()),
            path: path.into(),
            body: Value::Null,
            long: true,
        }
    }

    /// The call walks the whole store (a chain of millions of audit records): its answer may
    /// take minutes, and it is waited for that long.
    pub fn long(self) -> Self {
        Self { long: true, ..self }
    }

    /// How long the event loop waits for the answer before it reports the call as failed.
    pub fn time_limit(&self) -> Duration {
        if self.long {
            LONG_CALL_TIMEOUT
        } else {
            CALL_TIMEOUT
        }
    }

    /// Runs the call; the answer stays JSON until the screen that asked decodes it.
    pub async fn run(self, client: &AdminClient) -> Result<Value, ApiFailure> {
        let result = match self.method {
            Method::Get => client.get(&self.path).await,
            Method::Post => client.post(&self.path, &self.body).await,
            Method::Patch => client.patch(&self.path, &self.body).await,
            Method::Delete => client.delete(&self.path).await,
            Method::PostFile(file) => client.post_file(&self.path, &file).await,
        };
        result.map_err(ApiFailure::from)
    }
}

pub type RequestId = u64;

/// Who asked, so the reply goes back there: a tab (by position) or the app's connection check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    App,
    Tab(usize),
}

/// A call waiting to be run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub id: RequestId,
    pub origin: Origin,
    pub call: ApiCall,
}

/// The answer to an [`Outgoing`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub id: RequestId,
    pub origin: Origin,
    pub result: Result<Value, ApiFailure>,
}

/// Why a call failed, sorted by what the console does about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiFailure {
    /// The socket cannot be opened: the console shows its connection screen until it can.
    #[error("{0}")]
    Unreachable(String),
    /// The server said no: its machine code and its sentence.
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The exchange broke off, timed out, or answered something unexpected; or the file to
    /// send could not be read.
    #[error("{0}")]
    Broken(String),
}

impl ApiFailure {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Refused { status: 404, .. })
    }
}

impl From<ClientError> for ApiFailure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotRunning(_)
            | ClientError::PermissionDenied(_)
            | ClientError::Connect { .. } => Self::Unreachable(e.to_string()),
            ClientError::Api {
                status,
                code,
                message,
            } => Self::Refused {
                status: status.as_u16(),
                code,
                message,
            },
            ClientError::Protocol(_) | ClientError::Write(_) | ClientError::ReadFile { .. } => {
                Self::Broken(e.to_string())
            }
        }
    }
}

/// Decodes a reply into the type the screen expects.
pub fn decode<T: DeserializeOwned>(result: Result<Value, ApiFailure>) -> Result<T, ApiFailure> {
    serde_json::from_value(result?)
        .map_err(|e| ApiFailure::Broken(format!("the server answered something unexpected: {e}")))
}

/// A one-line message under the screen: what just happened, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    pub at_ms: i64,
}

/// What the app shares with the screens while they handle an event.
#[derive(Debug, Default)]
pub struct Shared {
    pub now_ms: i64,
    next_id: RequestId,
    outbox: Vec<Outgoing>,
    pub notice: Option<Notice>,
}

impl Shared {
    pub fn send(&mut self, origin: Origin, call: ApiCall) -> RequestId {
        self.next_id += 1;
        self.outbox.push(Outgoing {
            id: self.next_id,
            origin,
            call,
        });
        self.next_id
    }

    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }

    pub fn notify(&mut self, text: String, is_error: bool) {
        self.notice = Some(Notice {
            text,
            is_error,
            at_ms: self.now_ms,
        });
    }
}

/// A screen's handle on the app while it handles one event.
#[derive(Debug)]
pub struct Ctx<'a> {
    shared: &'a mut Shared,
    origin: Origin,
}

impl<'a> Ctx<'a> {
    pub fn new(shared: &'a mut Shared, origin: Origin) -> Self {
        Self { shared, origin }
    }

    /// Queues a call; its reply comes back to this screen with the id answered here.
    pub fn send(&mut self, call: ApiCall) -> RequestId {
        self.shared.send(self.origin, call)
    }

    /// Unix milliseconds now (the event loop's clock; tests set it).
    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.shared.notify(text.into(), false);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.shared.notify(text.into(), true);
    }
}

/// The calls a screen is waiting on and what each was for, so that a reply finds its purpose.
#[derive(Debug)]
pub struct InFlight<P> {
    calls: HashMap<RequestId, P>,
}

impl<P> Default for InFlight<P> {
    fn default() -> Self {
        Self {
            calls: HashMap::new(),
        }
    }
}

impl<P> InFlight<P> {
    /// Sends `call`; answers its id, which a form keeps to know its own answer.
    pub fn send(&mut self, ctx: &mut Ctx, call: ApiCall, purpose: P) -> RequestId {
        let id = ctx.send(call);
        self.calls.insert(id, purpose);
        id
    }

    /// True while a call for such a purpose is out: a second one would only pile up.
    pub fn any(&self, purpose: impl Fn(&P) -> bool) -> bool {
        self.calls.values().any(purpose)
    }

    /// What the call answered by `id` was for; `None` when this screen did not send it.
    pub fn take(&mut self, id: RequestId) -> Option<P> {
        self.calls.remove(&id)
    }

    /// Sends a load whose purpose `same` recognises, as `why` calls for.
    pub fn load(
        &mut self,
        ctx: &mut Ctx,
        why: Load,
        call: ApiCall,
        purpose: P,
        same: impl Fn(&P) -> bool,
    ) {
        match why {
            Load::Refresh if self.any(&same) => return,
            Load::Refresh => {}
            // Forgotten calls' answers are dropped when they come (`take` knows them no more).
            Load::Fresh => self.calls.retain(|_, p| !same(p)),
        }
        self.send(ctx, call, purpose);
    }
}

/// Why a screen loads what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// On showing it, on its periodic refresh or when asked: a load already out will do.
    Refresh,
    /// After a change it made, or to show something new it was told of: loads sent before would
    /// answer with the state from before, over what the change's own answer showed.
    Fresh,
}

/// Ticks (about a second each) between a screen's refreshes while it is shown.
const REFRESH_TICKS: u32 = 5;

/// Counts a shown screen's ticks to reload it every `EVERY` ticks (every few seconds).
#[derive(Debug, Default)]
pub struct Refresh<const EVERY: u32 = REFRESH_TICKS> {
    ticks: u32,
}

impl<const EVERY: u32> Refresh<EVERY> {
    /// Counts from zero again: the screen has just loaded.
    pub fn restart(&mut self) {
        self.ticks = 0;
    }

    /// Counts a tick; true when it is time to reload.
    pub fn due(&mut self) -> bool {
        self.ticks += 1;
        self.ticks.is_multiple_of(EVERY)
    }
}

//! What can be done to a legal request: which actions the selected request allows (and why
//! not, when it does not), the call each makes, the question asked before holding or notifying,
//! and the notice once it is done.

use serde_json::{Value, json};
use studiovault_api::admin::{LegalRequestView, LegalState};
use studiovault_api::client::segment;

use super::Pending;
use crate::format;
use crate::request::{ApiCall, Ctx, InFlight};
use crate::widgets::Confirm;

/// Something done to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Hold,
    Release,
    Gag,
    Notify,
    Comply,
    ComplyInPart,
    Refuse,
}

/// The first eight hex digits: enough to tell requests apart on screen.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl Action {
    /// `H`: hold the accounts, or release a hold.
    pub fn toggle_hold(request: &LegalRequestView) -> Result<Self, String> {
        Ok(if request.on_hold() {
            Self::Release
        } else {
            Self::Hold
        })
    }

    /// `m`: a gag is recorded only before any notice.
    pub fn gag(request: &LegalRequestView) -> Result<Self, String> {
        if request.accounts.iter().any(|a| a.notified_at.is_some()) {
            return Err("notices have gone out already: a gag comes too late".into());
        }
        Ok(Self::Gag)
    }

    /// `N`: not while a gag is in force, nor twice.
    pub fn notify(request: &LegalRequestView, now_ms: i64) -> Result<Self, String> {
        if let Some(gag) = request.gag.as_ref().filter(|g| g.until > now_ms) {
            return Err(format!(
                "a gag is in force until {} UTC: the notice goes out by itself then",
                format::minute(gag.until)
            ));
        }
        if request.all_notified() {
            return Err("every account has been sent its notice".into());
        }
        Ok(Self::Notify)
    }

    /// `c`, `p`, `x`: a request is answered once.
    pub fn answer(self, request: &LegalRequestView) -> Result<Self, String> {
        if request.state != LegalState::Received {
            return Err(format!(
                "request {} was answered already",
                short_id(&request.id)
            ));
        }
        Ok(self)
    }

    /// The body the call sends: `reason` for those that ask one, the gag's fields for a gag.
    pub fn call(self, request_id: &str, body: Value) -> ApiCall {
        let path = |rest: &str| format!("/v1/legal/{}/{rest}", segment(request_id));
        match self {
            Self::Hold => ApiCall::post(path("hold"), json!({})),
            Self::Release => ApiCall::post(path("release"), body),
            Self::Gag => ApiCall::post(path("gag"), body),
            Self::Notify => ApiCall::post(path("notify"), json!({})),
            Self::Comply | Self::ComplyInPart | Self::Refuse => {
                let outcome = match self {
                    Self::Comply => LegalState::Complied,
                    Self::ComplyInPart => LegalState::PartiallyComplied,
                    _ => LegalState::Refused,
                };
                let mut body = body;
                body["outcome"] = json!(outcome);
                ApiCall::post(path("decision"), body)
            }
        }
    }

    /// The question to ask first, for the actions that take no form.
    pub fn confirmation(self, request: &LegalRequestView) -> Option<Confirm> {
        let id = short_id(&request.id);
        let accounts = request.accounts.len();
        match self {
            Self::Hold => Some(Confirm {
                title: "Legal hold",
                question: format!("Hold the {accounts} account(s) of request {id}?"),
                consequence: "None of them is purged, even past its deletion grace, until the hold is released with a reason.".into(),
                verb: "hold",
            }),
            Self::Notify => Some(Confirm {
                title: "Notify the users",
                question: format!("Send the notice of request {id} to its {accounts} account(s)?"),
                consequence: "Each gets an e-mail naming the authority, the legal basis, the reference and the data asked for. Only then can anything be handed over.".into(),
                verb: "send",
            }),
            _ => None,
        }
    }

    /// The reason form's title and what its field asks.
    pub fn reason_prompt(self) -> (&'static str, &'static str) {
        match self {
            Self::Release => (
                "Release the legal hold",
                "Why the hold ends, e.g. the case was closed. Due purges go ahead at the next housekeeping.",
            ),
            Self::ComplyInPart => (
                "Partially complied",
                "What was handed over and what was not, and why.",
            ),
            Self::Refuse => (
                "Refuse the request",
                "Why nothing is handed over, e.g. no valid legal basis.",
            ),
            _ => (
                "Complied",
                "What was handed over, and how (the export's file and its manifest).",
            ),
        }
    }

    pub fn done(self, id: &str) -> String {
        let id = short_id(id);
        match self {
            Self::Hold => format!("Request {id}: its accounts are held"),
            Self::Release => format!("Request {id}: the hold is released"),
            Self::Gag => format!("Request {id}: gag recorded; the notice goes out when it ends"),
            Self::Notify => format!("Request {id}: notices queued"),
            Self::Comply => format!("Request {id}: recorded as complied"),
            Self::ComplyInPart => format!("Request {id}: recorded as partially complied"),
            Self::Refuse => format!("Request {id}: recorded as refused"),
        }
    }
}

/// An action on one request, to send once the admin says yes.
#[derive(Debug, Clone)]
pub struct LegalAction {
    pub action: Action,
    pub request_id: String,
}

impl LegalAction {
    pub fn send(self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let call = self.action.call(&self.request_id, json!({}));
        requests.send(ctx, call, Pending::Act(self.action, self.request_id));
    }
}

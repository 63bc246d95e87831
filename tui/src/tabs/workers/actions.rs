//! What can be done to one worker: the call for it, the question asked first when it cuts the
//! worker off, and the notice once it is done.

use serde_json::json;
use studiovault_api::admin::WorkerView;
use studiovault_api::client::segment;

use super::Pending;
use crate::request::{ApiCall, Ctx, InFlight};
use crate::widgets::Confirm;

/// Something done to one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Drain,
    Resume,
    Revoke,
    Delete,
}

impl Action {
    /// `d`: drain an active worker, resume a draining one. A revoked worker stays revoked, so
    /// `d` does nothing to it: the error says why.
    pub fn toggle(worker: &WorkerView) -> Result<Self, String> {
        match worker.state.as_str() {
            "draining" => Ok(Self::Resume),
            "revoked" => Err(format!(
                "{} is revoked and stays revoked: delete it, or enrol it again for a new token",
                worker.name
            )),
            _ => Ok(Self::Drain),
        }
    }

    fn call(self, worker_id: &str) -> ApiCall {
        let worker = |rest: &str| format!("/v1/workers/{}{rest}", segment(worker_id));
        match self {
            Self::Drain => ApiCall::post(worker("/drain"), json!({})),
            Self::Resume => ApiCall::post(worker("/resume"), json!({})),
            Self::Revoke => ApiCall::post(worker("/revoke"), json!({})),
            Self::Delete => ApiCall::delete(worker("")),
        }
    }

    /// The question to ask first, for what cuts the worker off.
    fn confirmation(self, name: &str) -> Option<Confirm> {
        let (title, question, consequence, verb) = match self {
            Self::Drain | Self::Resume => return None,
            Self::Revoke => (
                "Revoke worker",
                format!("Revoke the worker {name}?"),
                "Its token stops working now and the job it holds goes back in the queue. A revoked worker stays revoked: to use the machine again, enrol it again for a new token.",
                "revoke",
            ),
            Self::Delete => (
                "Delete worker",
                format!("Delete the worker {name}?"),
                "It is removed from the list, its token stops working and the job it holds goes back in the queue. Its name can be enrolled again.",
                "delete",
            ),
        };
        Some(Confirm {
            title,
            question,
            consequence: consequence.to_owned(),
            verb,
        })
    }

    pub fn done(self, name: &str) -> String {
        match self {
            Self::Drain => format!("Draining {name}: it finishes its job and takes no new one"),
            Self::Resume => format!("Resumed {name}: it takes jobs again"),
            Self::Revoke => format!("Revoked {name}: its token no longer works"),
            Self::Delete => format!("Deleted the worker {name}"),
        }
    }
}

/// An action on one worker, to send now or once the admin says yes.
#[derive(Debug, Clone)]
pub struct WorkerAction {
    pub action: Action,
    worker_id: String,
    name: String,
}

impl WorkerAction {
    pub fn new(action: Action, worker: &WorkerView) -> Self {
        Self {
            action,
            worker_id: worker.id.clone(),
            name: worker.name.clone(),
        }
    }

    /// `None` when the action is sent without asking.
    pub fn confirmation(&self) -> Option<Confirm> {
        self.action.confirmation(&self.name)
    }

    pub fn send(self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let call = self.action.call(&self.worker_id);
        requests.send(ctx, call, Pending::Act(self.action, self.name));
    }
}

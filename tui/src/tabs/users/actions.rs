//! What can be done to one account: the call for it, the question asked first when it locks
//! someone out or ends sessions, and the notice once it is done.

use crossterm::event::{KeyCode, KeyEvent};
use serde_json::{Value, json};
use studiovault_api::admin::UserView;
use studiovault_api::client::segment;

use super::Pending;
use crate::request::{ApiCall, Ctx, InFlight};
use crate::widgets::{Confirm, Hint};

/// The action keys, for the hint line; they work in the list and in an open account.
pub const HINTS: [Hint; 7] = [
    ("s", "suspend"),
    ("r", "resume"),
    ("e", "plan"),
    ("p", "password"),
    ("t", "2FA"),
    ("d", "delete"),
    ("u", "undelete"),
];

/// Something done to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Suspend,
    Resume,
    ResetPassword,
    ResetTotp,
    RevokeSessions,
    RevokeSession(String),
    ScheduleDeletion,
    CancelDeletion,
}

impl Action {
    /// The action a key stands for (`x`, one session, is the open account's own key).
    pub fn for_key(key: &KeyEvent) -> Option<Self> {
        Some(match key.code {
            KeyCode::Char('s') => Self::Suspend,
            KeyCode::Char('r') => Self::Resume,
            KeyCode::Char('p') => Self::ResetPassword,
            KeyCode::Char('t') => Self::ResetTotp,
            KeyCode::Char('X') => Self::RevokeSessions,
            KeyCode::Char('d') => Self::ScheduleDeletion,
            KeyCode::Char('u') => Self::CancelDeletion,
            _ => return None,
        })
    }

    fn call(&self, user_id: &str) -> ApiCall {
        let user = |rest: &str| format!("/v1/users/{}{rest}", segment(user_id));
        match self {
            Self::Suspend => ApiCall::post(user("/suspend"), Value::Null),
            Self::Resume => ApiCall::post(user("/resume"), Value::Null),
            Self::ResetPassword => ApiCall::post(user("/password"), json!({})),
            Self::ResetTotp => ApiCall::post(user("/totp/reset"), Value::Null),
            Self::RevokeSessions => ApiCall::post(user("/sessions/revoke"), Value::Null),
            Self::RevokeSession(id) => ApiCall::delete(format!("/v1/sessions/{}", segment(id))),
            Self::ScheduleDeletion => ApiCall::post(user("/deletion"), Value::Null),
            Self::CancelDeletion => ApiCall::delete(user("/deletion")),
        }
    }

    /// The question to ask first, for actions that lock someone out or end sessions.
    fn confirmation(&self, email: &str) -> Option<Confirm> {
        let (title, question, consequence, verb) = match self {
            Self::Resume | Self::CancelDeletion => return None,
            Self::Suspend => (
                "Suspend account",
                format!("Suspend {email}?"),
                "Sign-in stops and every session ends now. Tracks and settings are kept; r resumes the account.",
                "suspend",
            ),
            Self::ResetPassword => (
                "Reset password",
                format!("Reset the password of {email}?"),
                "A new one-time password is generated and shown once. The old password stops working and every session ends.",
                "reset",
            ),
            Self::ResetTotp => (
                "Reset two-factor authentication",
                format!("Remove the second factor of {email}?"),
                "Sign-in will need only the password until they enrol again. Do this only once you are sure who is asking.",
                "reset 2FA",
            ),
            Self::RevokeSessions => (
                "Revoke sessions",
                format!("Sign {email} out everywhere?"),
                "Every session of the account ends now; they can sign in again with their password.",
                "revoke all",
            ),
            Self::RevokeSession(_) => (
                "Revoke session",
                format!("End this session of {email}?"),
                "That device is signed out now; they can sign in again with their password.",
                "revoke",
            ),
            Self::ScheduleDeletion => (
                "Schedule deletion",
                format!("Delete {email}?"),
                "Sign-in stops and every session ends now. The account and all its tracks are purged after the grace period unless you cancel with u.",
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

    pub fn done(&self, email: &str) -> String {
        match self {
            Self::Suspend => format!("Suspended {email}: sign-in stopped, sessions ended"),
            Self::Resume => format!("Resumed {email}"),
            Self::ResetPassword => format!("Reset the password of {email}"),
            Self::ResetTotp => format!("Removed the second factor of {email}"),
            Self::RevokeSessions => format!("Signed {email} out everywhere"),
            Self::RevokeSession(_) => format!("Ended one session of {email}"),
            Self::ScheduleDeletion => format!("Deletion of {email} scheduled"),
            Self::CancelDeletion => format!("Deletion of {email} cancelled"),
        }
    }
}

/// An action on one account, to send now or once the admin says yes.
#[derive(Debug, Clone)]
pub struct AccountAction {
    action: Action,
    user_id: String,
    email: String,
}

impl AccountAction {
    pub fn new(action: Action, user: &UserView) -> Self {
        Self {
            action,
            user_id: user.id.clone(),
            email: user.email.clone(),
        }
    }

    /// `None` when the action is sent without asking.
    pub fn confirmation(&self) -> Option<Confirm> {
        self.action.confirmation(&self.email)
    }

    pub fn send(self, requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        let call = self.action.call(&self.user_id);
        requests.send(ctx, call, Pending::Act(self.action, self.email));
    }
}

//! Whom the log's user ids name: every account's e-mail, to show people rather than ids.

use std::collections::HashMap;

use studiovault_api::admin::UserView;

use super::Pending;
use crate::format;
use crate::request::{ApiCall, Ctx, InFlight};

#[derive(Debug, Default)]
pub struct Accounts {
    /// User id to e-mail.
    emails: HashMap<String, String>,
}

impl Accounts {
    /// Asks for every account, unless that is already under way.
    pub fn load(requests: &mut InFlight<Pending>, ctx: &mut Ctx) {
        if !requests.any(|p| matches!(p, Pending::Emails)) {
            requests.send(ctx, ApiCall::get("/v1/users"), Pending::Emails);
        }
    }

    /// Every account, as loaded; false when nothing changed.
    pub fn replace(&mut self, users: Vec<UserView>) -> bool {
        let emails: HashMap<String, String> =
            users.into_iter().map(|u| (u.id, u.email)).collect();
        if emails == self.emails {
            return false;
        }
        self.emails = emails;
        true
    }

    /// One account looked up on its own.
    pub fn remember(&mut self, user: &UserView) {
        self.emails.insert(user.id.clone(), user.email.clone());
    }

    pub fn knows(&self, user_id: &str) -> bool {
        self.emails.contains_key(user_id)
    }

    /// A record's actor: `user:<id>` as the account's e-mail, anyone else as recorded.
    pub fn who(&self, actor: &str) -> String {
        match actor.strip_prefix("user:") {
            Some(id) => self.name(id),
            None => actor.to_owned(),
        }
    }

    /// The account's e-mail, or a short form of its id while that is unknown.
    pub fn name(&self, user_id: &str) -> String {
        self.emails
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| format!("user {}", format::clip(user_id, 9)))
    }
}

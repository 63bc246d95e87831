//! Changing the sign-in address: the owner asks (password re-checked), a link goes to the new
//! address, and the change happens when that link is used, so an address nobody can read is
//! never set. The old address is told.
//!
//! One change waits per account (a new request replaces it). Its token, `sve_<user id>_<secret>`,
//! is in the link alone: the store keeps the SHA-256 of the secret, compares it in constant
//! time, and removes the row when the link is used, so a link works once, and until
//! [`EMAIL_CHANGE_TTL_MS`] after it was sent. An address another account holds is refused
//! when asked and again when confirmed (another account may have taken it in between).

use super::*;
use crate::outbox::{MailDraft, queue_mail};
use crate::store::EMAIL_CHANGES;

/// How long a confirmation link works.
pub const EMAIL_CHANGE_TTL_MS: i64 = 24 * 3600 * 1000;
const TOKEN_PREFIX: &str = "sve_";

/// An address change waiting for its link, as stored (keyed by the account).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingChange {
    new_email: String,
    /// Hex SHA-256 of the token's secret.
    secret_sha256: String,
    created_at_ms: i64,
    expires_at_ms: i64,
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The mails' topic: how this account's address-change mails are listed.
fn topic(owner: UserId) -> String {
    format!("email-change/{owner}")
}

fn read_pending(
    table: &impl ReadableTable<u128, &'static [u8]>,
    owner: UserId,
) -> Result<Option<PendingChange>> {
    table
        .get(owner.raw())?
        .map(|v| decode("email_changes", v.value()))
        .transpose()
}

impl Account<'_> {
    /// Starts changing the sign-in address to `new_email`, after re-checking the password (and
    /// code): queues the mail with the link (`confirm_url#token`) to the new address, and tells
    /// the current address at once, so that a change its owner did not ask for is seen, and
    /// cancelled, before its link is used. Answers the address and when the link stops
    /// working.
    ///
    /// An address another account holds is answered like any other, so that asking cannot
    /// tell which addresses have accounts here (sign-in tells no one either); no link goes to
    /// it, and a change to it could not complete anyway.
    pub fn start_email_change(
        &self,
        new_email: &str,
        password: &str,
        totp: Option<&str>,
        confirm_url: &str,
        client: &ClientInfo,
    ) -> Result<(String, i64)> {
        self.reauthenticate(password, totp, Recheck::EmailChange, client)?;
        let new_email = validate_email(new_email)?;
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let token = format!("{TOKEN_PREFIX}{}_{secret}", self.owner);
        let pending = self.vault.audited(Some(client), |txn, now| {
            let me = get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
            if me.email == new_email {
                return Err(VaultError::invalid("new_email", "is already your address"));
            }
            let taken = txn
                .open_table(USERS_BY_EMAIL)?
                .get(new_email.as_str())?
                .is_some();
            let pending = PendingChange {
                new_email: new_email.clone(),
                secret_sha256: secret_hash(&secret),
                created_at_ms: now,
                expires_at_ms: now + EMAIL_CHANGE_TTL_MS,
            };
            // A newer request replaces the one waiting: its link stops working.
            txn.open_table(EMAIL_CHANGES)?
                .insert(self.owner.raw(), encode(&pending).as_slice())?;
            let name = me.display_name.clone().unwrap_or_else(|| me.email.clone());
            let hours = (EMAIL_CHANGE_TTL_MS / 3_600_000).to_string();
            let mail = |to: &str, template: &str, link: Option<String>| {
                let mut values = vec![
                    ("name".into(), name.clone()),
                    ("new_email".into(), new_email.clone()),
                    ("hours".into(), hours.clone()),
                ];
                values.extend(link.map(|link| ("link".into(), link)));
                let draft = MailDraft {
                    to: to.to_owned(),
                    account: Some(self.owner),
                    template: template.into(),
                    values,
                    topic: topic(self.owner),
                };
                queue_mail(txn, draft, now)
            };
            if !taken {
                mail(
                    &new_email,
                    "email-change",
                    Some(format!("{confirm_url}#{token}")),
                )?;
            }
            mail(&me.email, "email-change-started", None)?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::EmailChangeStart)
                .object(format!("user/{}", self.owner));
            Ok(((new_email.clone(), pending.expires_at_ms), event))
        })?;
        self.vault.jobs_queued();
        Ok(pending)
    }

    /// Cancels the address change waiting for its link: the link stops working. `NotFound`
    /// when none is waiting.
    pub fn cancel_email_change(&self, client: &ClientInfo) -> Result<()> {
        self.vault.audited(Some(client), |txn, now| {
            let mut changes = txn.open_table(EMAIL_CHANGES)?;
            let waiting = read_pending(&changes, self.owner)?
                .is_some_and(|pending| pending.expires_at_ms > now);
            if !waiting {
                return Err(VaultError::NotFound);
            }
            changes.remove(self.owner.raw())?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::EmailChangeCancel)
                .object(format!("user/{}", self.owner));
            Ok(((), event))
        })
    }

    /// The address change waiting for its link, if one is and its link still works: the new
    /// address and when the link stops working.
    pub fn pending_email(&self) -> Result<Option<(String, i64)>> {
        let txn = self.vault.db().begin_read()?;
        let pending = read_pending(&txn.open_table(EMAIL_CHANGES)?, self.owner)?;
        let now = self.vault.now_ms();
        Ok(pending
            .filter(|p| p.expires_at_ms > now)
            .map(|p| (p.new_email, p.expires_at_ms)))
    }
}

impl Vault {
    /// Uses an address-change link: the account's address becomes the new one, the link stops
    /// working, and the old address is told. Needs no session: the token proves the new
    /// address is read by whoever asked for it. `EmailLinkInvalid` for a token that is
    /// malformed, used, replaced or wrong; `EmailLinkExpired`; `EmailTaken` when another
    /// account took the address since.
    pub fn confirm_email_change(&self, token: &str, client: &ClientInfo) -> Result<UserRecord> {
        let (owner, secret) = token
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(id, secret)| Some((UserId::parse(id)?, secret)))
            .ok_or(VaultError::EmailLinkInvalid)?;
        let user = self.audited(Some(client), |txn, now| {
            let mut changes = txn.open_table(EMAIL_CHANGES)?;
            let pending = read_pending(&changes, owner)?.ok_or(VaultError::EmailLinkInvalid)?;
            let matches: bool = secret_hash(secret)
                .as_bytes()
                .ct_eq(pending.secret_sha256.as_bytes())
                .into();
            if !matches {
                return Err(VaultError::EmailLinkInvalid);
            }
            if pending.expires_at_ms <= now {
                return Err(VaultError::EmailLinkExpired);
            }
            let mut users = txn.open_table(USERS)?;
            let mut user = get_user(&users, owner)?.ok_or(VaultError::EmailLinkInvalid)?;
            if !user.is_active() {
                return Err(VaultError::AccountInactive("not active"));
            }
            let mut by_email = txn.open_table(USERS_BY_EMAIL)?;
            if by_email.get(pending.new_email.as_str())?.is_some() {
                return Err(VaultError::EmailTaken);
            }
            let old_email = std::mem::replace(&mut user.email, pending.new_email.clone());
            by_email.remove(old_email.as_str())?;
            by_email.insert(user.email.as_str(), owner.raw())?;
            put_user(&mut users, &user)?;
            changes.remove(owner.raw())?;
            let notice = MailDraft {
                to: old_email,
                account: Some(owner),
                template: "email-changed".into(),
                values: vec![("new_email".into(), user.email.clone())],
                topic: topic(owner),
            };
            queue_mail(txn, notice, now)?;
            let event = AuditEvent::by_owner(owner, AuditAction::EmailChange)
                .object(format!("user/{owner}"));
            Ok((user, event))
        })?;
        self.jobs_queued();
        Ok(user)
    }

    /// Removes the address changes whose links stopped working: housekeeping.
    pub fn prune_email_changes(&self) -> Result<u64> {
        let now = self.now_ms();
        let txn = self.begin_write()?;
        let expired = {
            let mut changes = txn.open_table(EMAIL_CHANGES)?;
            let mut expired = Vec::new();
            for row in changes.iter()? {
                let (owner, raw) = row?;
                let pending: PendingChange = decode("email_changes", raw.value())?;
                if pending.expires_at_ms <= now {
                    expired.push(owner.value());
                }
            }
            for owner in &expired {
                changes.remove(*owner)?;
            }
            expired.len() as u64
        };
        txn.commit()?;
        Ok(expired)
    }
}

/// The address change waiting for `owner`, removed: the accounts' part of a purge.
pub(crate) fn purge_owner(txn: &WriteTransaction, owner: UserId) -> Result<()> {
    txn.open_table(EMAIL_CHANGES)?.remove(owner.raw())?;
    Ok(())
}

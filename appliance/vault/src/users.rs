//! Accounts, sessions and second factors.
//!
//! - Passwords: bcrypt (cost from [`Policy`](crate::Policy), 12 in production). An unknown
//!   e-mail is checked against a decoy hash so both failures cost the same and answer the same.
//! - Sessions: 256-bit random tokens, stored only as their SHA-256; idle and absolute timeouts.
//!   A sign-in is checked in two steps (`verify_login`, then `open_session`), and the session
//!   is created only if the account still has the password hash that bcrypt verified.
//! - Failures: a wrong password or code at sign-in, at a signed-in owner's re-check or at a
//!   share's unlock form appends an audit record (`session.login_failed`,
//!   `account.reauth_failed`, `share.unlock_failed`) with the client's salted hash only.
//! - TOTP (RFC 6238, SHA-1, 6 digits, 30 s, ±1 step): each time step is accepted once; ten
//!   one-time recovery codes, stored hashed; the secret is sealed with the tenant's key.
//!
//! The account row itself is a shared record (`crate::records`). Two operations on the
//! handles here live with what they reach: the analysis setting (it queues tracks) in
//! `crate::library`, deletion and purge in `crate::lifecycle`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use studiovault_api::{AccountStatus, Plan};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::UserId;
use crate::records::{
    TotpState, UserRecord, edit_user, get_user, put_tenant_key, put_user, tenant_key,
};
use crate::scope::{Authenticated, OwnerScope};
use crate::store::{
    SESSIONS, SESSIONS_BY_USER, TENANT_KEYS, USERS, USERS_BY_EMAIL, decode, encode,
};
use crate::{ClientInfo, Vault};

const MIN_PASSWORD_CHARS: usize = 10;
const MAX_DISPLAY_NAME_CHARS: usize = 80;
/// bcrypt reads at most 72 bytes, and the password's terminating NUL is one of them: longer
/// passwords are refused rather than silently cut (a 72-byte one made `non_truncating_hash`
/// fail, answered as a 500).
pub(crate) const MAX_PASSWORD_BYTES: usize = 71;
const TOKEN_BYTES: usize = 32;
const TOTP_STEP_SECS: u64 = 30;
const RECOVERY_CODES: usize = 10;
/// Sessions record activity at most this often, to keep reads from turning into writes.
const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;
const TOTP_SECRET_PURPOSE: &[u8] = b"totp-secret";

pub(crate) fn validate_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_ascii_lowercase();
    let bad = |why: &str| Err(VaultError::invalid("email", why));
    if email.len() < 3 || email.len() > 254 {
        return bad("must be 3 to 254 characters");
    }
    if !email.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("may hold only printable ASCII characters without spaces");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(email)
        }
        _ => bad("must look like name@example.com"),
    }
}

/// A display name, trimmed: at most [`MAX_DISPLAY_NAME_CHARS`] characters, no control or
/// bidirectional-override characters (which would make it read as something else). Empty
/// clears it.
pub(crate) fn validate_display_name(raw: &str) -> Result<Option<String>> {
    let name = raw.trim();
    let bad = |why: String| Err(VaultError::invalid("display_name", why));
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return bad(format!(
            "must be at most {MAX_DISPLAY_NAME_CHARS} characters"
        ));
    }
    let hidden =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if name.chars().any(hidden) {
        return bad("may not hold control or text-direction characters".into());
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

pub(crate) fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(VaultError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(VaultError::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.trim().is_empty() {
        return Err(VaultError::invalid("password", "must not be only spaces"));
    }
    Ok(())
}

/// 20 random characters from an alphabet without look-alikes, in groups of five.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

pub(crate) fn hash_password(vault: &Vault, password: &str) -> Result<String> {
    bcrypt::non_truncating_hash(password, vault.policy().bcrypt_cost)
        .map_err(|e| VaultError::Hashing(e.to_string()))
}

/// The hash of a link's optional password (a share's, an upload link's), checked for length.
pub(crate) fn link_password_hash(vault: &Vault, password: Option<&str>) -> Result<Option<String>> {
    match password {
        Some(p) if p.is_empty() || p.len() > MAX_PASSWORD_BYTES => Err(VaultError::invalid(
            "password",
            format!("must be 1 to {MAX_PASSWORD_BYTES} bytes"),
        )),
        Some(p) => Ok(Some(hash_password(vault, p)?)),
        None => Ok(None),
    }
}

pub(crate) fn password_matches(password: &str, hash: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES && bcrypt::verify(password, hash).unwrap_or(false)
}

impl Vault {
    fn decoy_hash(&self) -> &str {
        self.inner.decoy_hash.get_or_init(|| {
            let mut pw = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut pw);
            hash_password(self, &hex::encode(pw)).unwrap_or_default()
        })
    }

    /// Computes the decoy hash now, so the first unknown-e-mail login is not slower.
    pub fn warm_up(&self) {
        let _ = self.decoy_hash();
    }
}

fn read_user(vault: &Vault, id: UserId) -> Result<UserRecord> {
    let txn = vault.db().begin_read()?;
    get_user(&txn.open_table(USERS)?, id)?.ok_or(VaultError::NotFound)
}

fn user_by_email(vault: &Vault, email: &str) -> Result<Option<UserRecord>> {
    let txn = vault.db().begin_read()?;
    let Some(id) = txn
        .open_table(USERS_BY_EMAIL)?
        .get(email)?
        .map(|v| v.value())
    else {
        return Ok(None);
    };
    get_user(&txn.open_table(USERS)?, UserId::from_raw(id))
}

/// An admin's action on an account.
fn admin_event(user: UserId, action: AuditAction) -> AuditEvent {
    AuditEvent::new(Actor::Admin, Some(user), action).object(format!("user/{user}"))
}

/// A sign-in that passed its password check, and the hash it was checked against.
#[derive(Debug)]
pub(crate) struct VerifiedLogin {
    user: UserId,
    password_hash: String,
}

/// Appends the record of a refused credential check in a transaction of its own. A failure to
/// write it is logged, never turned into another answer: the caller's refusal (and the
/// throttle's count of it) must not change because the disk is full.
pub(crate) fn audit_failure(vault: &Vault, client: &ClientInfo, event: AuditEvent) {
    if let Err(e) = vault.audit_only(Some(client), event) {
        tracing::error!(error = %e, "could not audit a refused credential check");
    }
}

/// Ends what the account's credentials have opened: every session, and an address change
/// waiting for its link (whoever asked for it held them). Wherever the password changes, an
/// admin ends the sessions, or the account stops being active, so that a change of address
/// asked for with stolen credentials cannot complete after the owner took them back. Answers
/// how many sessions there were.
pub(crate) fn end_access(txn: &WriteTransaction, owner: UserId) -> Result<u64> {
    email_change::purge_owner(txn, owner)?;
    revoke_all_in(txn, owner)
}

/// The accounts' part of an account purge: its sessions, a pending address change, its row
/// and its e-mail's index entry.
pub(crate) fn purge_owner(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    end_access(txn, owner)?;
    let removed = txn
        .open_table(USERS)?
        .remove(owner.raw())?
        .map(|v| v.value().to_vec());
    if let Some(raw) = removed {
        let user: UserRecord = decode("users", &raw)?;
        txn.open_table(USERS_BY_EMAIL)?
            .remove(user.email.as_str())?;
    }
    Ok(())
}

mod account;
mod admin;
mod email_change;
mod second_factor;
mod sessions;

use second_factor::*;
use sessions::*;

pub use account::{Account, Recheck};
pub use admin::{Admin, VaultStats};
pub use email_change::EMAIL_CHANGE_TTL_MS;
pub use sessions::{Activity, SessionInfo};
pub(crate) use sessions::{authenticate, login};

#[cfg(test)]
mod tests;

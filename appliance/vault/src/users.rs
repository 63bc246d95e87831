//! Accounts, sessions and second factors.
//!
//! - Passwords: bcrypt (cost from [`Policy`](crate::Policy), 12 in production). An unknown
//!   e-mail is checked against a decoy hash so both failures cost the same and answer the same.
//! - Sessions: 256-bit random tokens, stored only as their SHA-256; idle and absolute timeouts.
//!   A sign-in is checked in two steps ([`verify_login`], then [`open_session`]), and the session
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
/// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut.
const MAX_PASSWORD_BYTES: usize = 72;
const TOKEN_BYTES: usize = 32;
const TOTP_STEP_SECS: u64 = 30;
const RECOVERY_CODES: usize = 10;
/// Sessions record activity at most this often, to keep reads from turning into writes.
const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;
const TOTP_SECRET_PURPOSE: &[u8] = b"totp-secret";

/// A session as stored, keyed by the hash of its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user: UserId,
    created_at_ms: i64,
    last_seen_ms: i64,
    client: Option<String>,
    agent: Option<String>,
}

/// A session as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub user: UserId,
    pub created_at_ms: i64,
    pub last_seen_ms: i64,
    pub client: Option<String>,
}

fn session_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..16])
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

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

/// Removes every session of `user`; answers how many there were.
pub(crate) fn revoke_all_in(txn: &WriteTransaction, user: UserId) -> Result<u64> {
    let mut index = txn.open_table(SESSIONS_BY_USER)?;
    let mut sessions = txn.open_table(SESSIONS)?;
    let hashes: Vec<[u8; 32]> = index
        .range((user.raw(), [0u8; 32])..=(user.raw(), [0xFF; 32]))?
        .map(|r| r.map(|(k, _)| k.value().1))
        .collect::<Result<_, _>>()?;
    for h in &hashes {
        sessions.remove(h)?;
        index.remove((user.raw(), *h))?;
    }
    Ok(hashes.len() as u64)
}

fn remove_session_in(txn: &WriteTransaction, hash: &[u8; 32]) -> Result<Option<UserId>> {
    let removed = txn
        .open_table(SESSIONS)?
        .remove(hash)?
        .map(|v| v.value().to_vec());
    let Some(raw) = removed else { return Ok(None) };
    let rec: SessionRecord = decode("sessions", &raw)?;
    txn.open_table(SESSIONS_BY_USER)?
        .remove((rec.user.raw(), *hash))?;
    Ok(Some(rec.user))
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

fn login_failed(vault: &Vault, user: Option<UserId>, client: &ClientInfo, why: &str) {
    let mut event = AuditEvent::new(Actor::Anonymous, user, AuditAction::LoginFailed);
    if let Some(user) = user {
        event = event.object(format!("user/{user}"));
    }
    audit_failure(vault, client, event.detail(why));
}

/// Step one of a sign-in: the password, against the account's hash or, for an unknown e-mail,
/// the decoy. Both failures cost one bcrypt and one audit record (without an owner for the
/// unknown e-mail), so neither the answer nor its timing says whether the account exists.
pub(crate) fn verify_login(
    vault: &Vault,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<VerifiedLogin> {
    let email = email.trim().to_ascii_lowercase();
    let Some(user) = user_by_email(vault, &email)? else {
        let _ = password_matches(password, vault.decoy_hash());
        login_failed(vault, None, client, "no such account");
        return Err(VaultError::BadCredentials);
    };
    if !password_matches(password, &user.password_hash) {
        login_failed(vault, Some(user.id), client, "wrong password");
        return Err(VaultError::BadCredentials);
    }
    Ok(VerifiedLogin {
        user: user.id,
        password_hash: user.password_hash,
    })
}

/// Step two of a sign-in: in one write transaction, re-reads the account, refuses the sign-in
/// if its password hash is no longer the one verified (a password change or reset that ran
/// while bcrypt did has revoked every session, and must revoke this one too), checks its
/// status and second factor, and creates the session.
pub(crate) fn open_session(
    vault: &Vault,
    verified: &VerifiedLogin,
    totp: Option<&str>,
    client: &ClientInfo,
) -> Result<(String, Authenticated)> {
    let user = verified.user;
    let mut raw = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = token_hash(&token);
    // The session keeps the agent's hash too; the audit record only the address's.
    let hashes = vault.hash_client(client)?;
    let opened = vault.audited(Some(client), |txn, now| {
        {
            let mut users = txn.open_table(USERS)?;
            let mut rec = match get_user(&users, user)? {
                Some(rec) if rec.password_hash == verified.password_hash => rec,
                _ => return Err(VaultError::BadCredentials),
            };
            match rec.status {
                AccountStatus::Active => {}
                AccountStatus::Suspended { .. } => {
                    return Err(VaultError::AccountInactive("suspended"));
                }
                AccountStatus::PendingDeletion { .. } => {
                    return Err(VaultError::AccountInactive("scheduled for deletion"));
                }
            }
            if rec.totp_enabled() {
                let code = totp
                    .filter(|c| !c.trim().is_empty())
                    .ok_or(VaultError::TotpRequired)?;
                if !second_factor_accepted(vault, txn, &mut rec, code)? {
                    return Err(VaultError::BadTotp);
                }
                put_user(&mut users, &rec)?;
            }
        }
        let rec = SessionRecord {
            user,
            created_at_ms: now,
            last_seen_ms: now,
            client: hashes.ip,
            agent: hashes.agent,
        };
        txn.open_table(SESSIONS)?
            .insert(&hash, encode(&rec).as_slice())?;
        txn.open_table(SESSIONS_BY_USER)?
            .insert((user.raw(), hash), ())?;
        let event = AuditEvent::by_owner(user, AuditAction::SessionCreate)
            .object(format!("session/{}", session_id(&hash)));
        Ok(((), event))
    });
    // Refused after the password checked: the account changed, or the second factor is wrong.
    let refused = match &opened {
        Err(VaultError::BadCredentials) => Some("the password changed during the sign-in"),
        Err(VaultError::BadTotp) => Some("wrong second-factor code"),
        _ => None,
    };
    if let Some(why) = refused {
        login_failed(vault, Some(user), client, why);
    }
    opened?;
    Ok((
        token,
        Authenticated {
            scope: OwnerScope::new(user),
            session_id: session_id(&hash),
        },
    ))
}

pub(crate) fn login(
    vault: &Vault,
    email: &str,
    password: &str,
    totp: Option<&str>,
    client: &ClientInfo,
) -> Result<(String, Authenticated)> {
    let verified = verify_login(vault, email, password, client)?;
    open_session(vault, &verified, totp, client)
}

pub(crate) fn authenticate(vault: &Vault, token: &str) -> Result<Authenticated> {
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(VaultError::SessionInvalid);
    }
    let hash = token_hash(token);
    let (rec, user) = {
        let txn = vault.db().begin_read()?;
        let Some(rec) = txn
            .open_table(SESSIONS)?
            .get(&hash)?
            .map(|v| v.value().to_vec())
        else {
            return Err(VaultError::SessionInvalid);
        };
        let rec: SessionRecord = decode("sessions", &rec)?;
        let user = get_user(&txn.open_table(USERS)?, rec.user)?;
        (rec, user)
    };
    let now = vault.now_ms();
    let policy = vault.policy();
    let expired = now - rec.last_seen_ms > policy.session_idle_secs * 1000
        || now - rec.created_at_ms > policy.session_absolute_secs * 1000;
    if expired || !user.as_ref().is_some_and(UserRecord::is_active) {
        let txn = vault.db().begin_write()?;
        remove_session_in(&txn, &hash)?;
        txn.commit()?;
        return Err(VaultError::SessionInvalid);
    }
    if now - rec.last_seen_ms >= LAST_SEEN_RESOLUTION_MS {
        let txn = vault.db().begin_write()?;
        {
            let mut sessions = txn.open_table(SESSIONS)?;
            // Re-read: the session may have been revoked since.
            let current = sessions.get(&hash)?.map(|v| v.value().to_vec());
            if let Some(current) = current {
                let mut rec: SessionRecord = decode("sessions", &current)?;
                rec.last_seen_ms = now;
                sessions.insert(&hash, encode(&rec).as_slice())?;
            }
        }
        txn.commit()?;
    }
    Ok(Authenticated {
        scope: OwnerScope::new(rec.user),
        session_id: session_id(&hash),
    })
}

fn totp_for(secret: Vec<u8>, email: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        TOTP_STEP_SECS,
        secret,
        Some("Studio Vault".into()),
        email.to_owned(),
    )
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn recovery_hash(code: &str) -> String {
    hex::encode(Sha256::digest(normalize_recovery(code).as_bytes()))
}

/// Whether `code` is a fresh TOTP code (or an unused recovery code) of `rec`; if so, burns it
/// in `rec`, which the caller stores in the same transaction.
fn second_factor_accepted(
    vault: &Vault,
    txn: &WriteTransaction,
    rec: &mut UserRecord,
    code: &str,
) -> Result<bool> {
    let code = code.trim();
    let key = tenant_key(vault, &txn.open_table(TENANT_KEYS)?, rec.id)?;
    let email = rec.email.clone();
    let Some(state) = rec.totp.as_mut() else {
        return Ok(false);
    };
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let secret = hex::decode(&state.sealed_secret)
            .ok()
            .and_then(|s| key.open_secret(TOTP_SECRET_PURPOSE, &s))
            .ok_or_else(|| VaultError::CorruptRecord {
                table: "users",
                reason: "the TOTP secret does not open".into(),
            })?;
        let totp = totp_for(secret.to_vec(), &email);
        let now_step = (vault.now_ms() / 1000).max(0) as u64 / TOTP_STEP_SECS;
        let matched = [now_step.saturating_sub(1), now_step, now_step + 1]
            .into_iter()
            .filter(|step| *step > state.last_step)
            .find(|step| {
                bool::from(
                    totp.generate(step * TOTP_STEP_SECS)
                        .as_bytes()
                        .ct_eq(code.as_bytes()),
                )
            });
        Ok(match matched {
            Some(step) => {
                state.last_step = step;
                true
            }
            None => false,
        })
    } else {
        let hash = recovery_hash(code);
        let before = state.recovery.len();
        state
            .recovery
            .retain(|h| !bool::from(h.as_bytes().ct_eq(hash.as_bytes())));
        Ok(state.recovery.len() < before)
    }
}

/// Checks a TOTP code (or a recovery code) and burns it, atomically.
fn consume_second_factor(vault: &Vault, user: UserId, code: &str) -> Result<()> {
    let txn = vault.db().begin_write()?;
    edit_user(&txn, user, |rec| {
        if second_factor_accepted(vault, &txn, rec, code)? {
            Ok(())
        } else {
            Err(VaultError::BadTotp)
        }
    })?;
    txn.commit()?;
    Ok(())
}

/// What a signed-in owner's password (or code) re-check guards; named in the audit record of
/// a failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    Export,
    PasswordChange,
    TotpSetup,
    TotpEnable,
    TotpDisable,
    Deletion,
}

impl Recheck {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::PasswordChange => "password change",
            Self::TotpSetup => "two-factor setup",
            Self::TotpEnable => "two-factor enable",
            Self::TotpDisable => "two-factor disable",
            Self::Deletion => "account deletion",
        }
    }
}

/// Self-service operations on the scope owner's own account.
#[derive(Debug)]
pub struct Account<'a> {
    pub(crate) vault: &'a Vault,
    pub(crate) owner: UserId,
}

impl<'a> Account<'a> {
    pub(crate) fn new(vault: &'a Vault, scope: &'a OwnerScope) -> Self {
        Self {
            vault,
            owner: scope.owner(),
        }
    }

    pub fn me(&self) -> Result<UserRecord> {
        read_user(self.vault, self.owner)
    }

    pub fn sessions(&self) -> Result<Vec<SessionInfo>> {
        list_sessions(self.vault, Some(self.owner))
    }

    /// Audit records of this account's data and settings, newest first: who signed in,
    /// uploaded, downloaded, renamed and deleted, from which hashed client.
    pub fn activity(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<studiovault_api::admin::AuditEntry>> {
        let query = studiovault_api::admin::AuditQuery {
            before,
            limit: Some(limit),
            user: Some(self.owner.to_string()),
            ..Default::default()
        };
        let owner = self.owner.to_string();
        // The query also matches records this user made about others; keep only their own data.
        Ok(self
            .vault
            .audit_query(&query)?
            .into_iter()
            .filter(|e| e.owner.as_deref() == Some(owner.as_str()))
            .collect())
    }

    /// Revokes one of the owner's sessions; another user's session id is simply not found.
    pub fn revoke_session(&self, id: &str, client: &ClientInfo) -> Result<()> {
        let hash = self
            .sessions_hashes()?
            .into_iter()
            .find(|h| session_id(h) == id)
            .ok_or(VaultError::NotFound)?;
        self.vault.audited(Some(client), |txn, _| {
            remove_session_in(txn, &hash)?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::SessionRevoke)
                .object(format!("session/{id}"));
            Ok(((), event))
        })
    }

    fn sessions_hashes(&self) -> Result<Vec<[u8; 32]>> {
        let txn = self.vault.db().begin_read()?;
        let index = txn.open_table(SESSIONS_BY_USER)?;
        let hashes = index
            .range((self.owner.raw(), [0u8; 32])..=(self.owner.raw(), [0xFF; 32]))?
            .map(|r| r.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        Ok(hashes)
    }

    /// Password, plus a second factor when 2FA is on: required before sensitive changes. A
    /// wrong password or code is audited (`account.reauth_failed`, naming `purpose`).
    pub fn reauthenticate(
        &self,
        password: &str,
        totp: Option<&str>,
        purpose: Recheck,
        client: &ClientInfo,
    ) -> Result<()> {
        let me = self.me()?;
        let result = self.verify(&me, password, totp);
        if let Err(e) = &result {
            self.recheck_failed(purpose, client, e);
        }
        result
    }

    fn verify(&self, me: &UserRecord, password: &str, totp: Option<&str>) -> Result<()> {
        if !password_matches(password, &me.password_hash) {
            return Err(VaultError::BadCredentials);
        }
        if me.totp_enabled() {
            let code = totp
                .filter(|c| !c.trim().is_empty())
                .ok_or(VaultError::TotpRequired)?;
            consume_second_factor(self.vault, self.owner, code)?;
        }
        Ok(())
    }

    /// Audits a re-check refused for a wrong password or code; other errors are not failures.
    fn recheck_failed(&self, purpose: Recheck, client: &ClientInfo, error: &VaultError) {
        let why = match error {
            VaultError::BadCredentials => "wrong password",
            VaultError::BadTotp => "wrong second-factor code",
            _ => return,
        };
        audit_failure(
            self.vault,
            client,
            AuditEvent::by_owner(self.owner, AuditAction::ReauthFailed)
                .object(format!("user/{}", self.owner))
                .detail(format!("{}: {why}", purpose.as_str())),
        );
    }

    /// Changes the owner's own account record, audited as `action`.
    fn update_me(
        &self,
        client: &ClientInfo,
        action: AuditAction,
        edit: impl FnOnce(&mut UserRecord),
    ) -> Result<()> {
        self.vault.audited(Some(client), |txn, _| {
            edit_user(txn, self.owner, |rec| {
                edit(rec);
                Ok(())
            })?;
            Ok(((), AuditEvent::by_owner(self.owner, action)))
        })
    }

    /// Changes the password and ends every other session.
    pub fn change_password(
        &self,
        current: &str,
        new: &str,
        keep_session: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        validate_password(new)?;
        let me = self.me()?;
        if !password_matches(current, &me.password_hash) {
            let e = VaultError::BadCredentials;
            self.recheck_failed(Recheck::PasswordChange, client, &e);
            return Err(e);
        }
        let hash = hash_password(self.vault, new)?;
        let keep = self
            .sessions_hashes()?
            .into_iter()
            .find(|h| session_id(h) == keep_session);
        self.vault.audited(Some(client), |txn, _| {
            {
                let mut users = txn.open_table(USERS)?;
                let mut rec = get_user(&users, self.owner)?.ok_or(VaultError::NotFound)?;
                // Another change committed while bcrypt ran: `current` is no longer the password.
                if rec.password_hash != me.password_hash {
                    return Err(VaultError::BadCredentials);
                }
                rec.password_hash = hash;
                put_user(&mut users, &rec)?;
            }
            let kept = match keep {
                Some(h) => txn
                    .open_table(SESSIONS)?
                    .get(&h)?
                    .map(|v| v.value().to_vec()),
                None => None,
            };
            revoke_all_in(txn, self.owner)?;
            if let (Some(h), Some(raw)) = (keep, kept) {
                txn.open_table(SESSIONS)?.insert(&h, raw.as_slice())?;
                txn.open_table(SESSIONS_BY_USER)?
                    .insert((self.owner.raw(), h), ())?;
            }
            Ok((
                (),
                AuditEvent::by_owner(self.owner, AuditAction::PasswordChange),
            ))
        })
    }

    /// Starts TOTP enrolment after re-authentication: a fresh secret, not yet enforced.
    /// Answers the base32 secret and its `otpauth://` URL.
    pub fn totp_setup(
        &self,
        password: &str,
        totp: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(String, String)> {
        self.reauthenticate(password, totp, Recheck::TotpSetup, client)?;
        let mut secret = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let txn = self.vault.db().begin_write()?;
        let totp = {
            let key = tenant_key(self.vault, &txn.open_table(TENANT_KEYS)?, self.owner)?;
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_user(&users, self.owner)?.ok_or(VaultError::NotFound)?;
            let sealed = key.seal_secret(TOTP_SECRET_PURPOSE, &secret)?;
            let (last_step, recovery) = match rec.totp.take() {
                // Re-enrolling while enabled keeps the old factor until the new one is confirmed.
                Some(old) if old.enabled => {
                    return Err(VaultError::invalid(
                        "totp",
                        "two-factor sign-in is already on; turn it off first",
                    ));
                }
                _ => (0, Vec::new()),
            };
            rec.totp = Some(TotpState {
                sealed_secret: hex::encode(sealed),
                enabled: false,
                last_step,
                recovery,
            });
            put_user(&mut users, &rec)?;
            totp_for(secret, &rec.email)
        };
        txn.commit()?;
        Ok((totp.get_secret_base32(), totp.get_url()))
    }

    /// Confirms enrolment with a first code; answers the recovery codes, shown this once.
    pub fn totp_enable(&self, code: &str, client: &ClientInfo) -> Result<Vec<String>> {
        let me = self.me()?;
        match &me.totp {
            Some(t) if !t.enabled => {}
            Some(_) => {
                return Err(VaultError::invalid(
                    "totp",
                    "two-factor sign-in is already on",
                ));
            }
            None => {
                return Err(VaultError::invalid(
                    "totp",
                    "start with /api/account/totp/setup",
                ));
            }
        }
        let checked = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            consume_second_factor(self.vault, self.owner, code)
        } else {
            Err(VaultError::BadTotp)
        };
        if let Err(e) = checked {
            self.recheck_failed(Recheck::TotpEnable, client, &e);
            return Err(e);
        }
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| {
                let mut raw = [0u8; 8];
                rand::rngs::OsRng.fill_bytes(&mut raw);
                let h = hex::encode(raw);
                format!("{}-{}-{}-{}", &h[..4], &h[4..8], &h[8..12], &h[12..])
            })
            .collect();
        let recovery = codes.iter().map(|c| recovery_hash(c)).collect();
        self.update_me(client, AuditAction::TotpEnable, |rec| {
            if let Some(t) = rec.totp.as_mut() {
                t.enabled = true;
                t.recovery = recovery;
            }
        })?;
        Ok(codes)
    }

    /// Turns 2FA off; needs the password and a current code.
    pub fn totp_disable(
        &self,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<()> {
        if !self.me()?.totp_enabled() {
            return Err(VaultError::invalid("totp", "two-factor sign-in is not on"));
        }
        self.reauthenticate(password, code, Recheck::TotpDisable, client)?;
        self.update_me(client, AuditAction::TotpDisable, |rec| rec.totp = None)
    }
}

fn list_sessions(vault: &Vault, user: Option<UserId>) -> Result<Vec<SessionInfo>> {
    let txn = vault.db().begin_read()?;
    let sessions = txn.open_table(SESSIONS)?;
    let mut out = Vec::new();
    let mut push = |hash: [u8; 32], raw: &[u8]| -> Result<()> {
        let rec: SessionRecord = decode("sessions", raw)?;
        out.push(SessionInfo {
            id: session_id(&hash),
            user: rec.user,
            created_at_ms: rec.created_at_ms,
            last_seen_ms: rec.last_seen_ms,
            client: rec.client,
        });
        Ok(())
    };
    match user {
        Some(user) => {
            let index = txn.open_table(SESSIONS_BY_USER)?;
            for row in index.range((user.raw(), [0u8; 32])..=(user.raw(), [0xFF; 32]))? {
                let hash = row?.0.value().1;
                if let Some(v) = sessions.get(&hash)? {
                    push(hash, v.value())?;
                }
            }
        }
        None => {
            for row in sessions.iter()? {
                let (k, v) = row?;
                push(k.value(), v.value())?;
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.last_seen_ms));
    Ok(out)
}

/// Store-wide counts for the admin status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultStats {
    pub users: u64,
    pub tracks: u64,
    pub stored_bytes: u64,
    pub audit_records: u64,
}

/// Operations for the admin socket only.
#[derive(Debug)]
pub struct Admin<'a> {
    pub(crate) vault: &'a Vault,
}

impl<'a> Admin<'a> {
    pub(crate) fn new(vault: &'a Vault) -> Self {
        Self { vault }
    }

    /// Creates an account with its own data key. Without a password one is generated and
    /// answered once.
    pub fn create_user(
        &self,
        email: &str,
        password: Option<&str>,
        plan: Plan,
    ) -> Result<(UserRecord, Option<String>)> {
        let email = validate_email(email)?;
        let generated = password.is_none().then(generate_password);
        let password = password.or(generated.as_deref()).unwrap_or_default();
        validate_password(password)?;
        let password_hash = hash_password(self.vault, password)?;
        let id = UserId::random();
        let now = self.vault.now_ms();
        let user = UserRecord {
            id,
            email: email.clone(),
            password_hash,
            plan,
            quota_override: None,
            used_bytes: 0,
            track_count: 0,
            status: AccountStatus::Active,
            totp: None,
            created_at_ms: now,
            analysis: None,
        };
        self.vault.audited(None, |txn, _| {
            let mut by_email = txn.open_table(USERS_BY_EMAIL)?;
            if by_email.get(email.as_str())?.is_some() {
                return Err(VaultError::EmailTaken);
            }
            by_email.insert(email.as_str(), id.raw())?;
            put_user(&mut txn.open_table(USERS)?, &user)?;
            put_tenant_key(self.vault, txn, id)?;
            let event = admin_event(id, AuditAction::UserCreate).detail(format!("plan {plan}"));
            Ok(((), event))
        })?;
        Ok((user, generated))
    }

    /// Finds an account by id or e-mail.
    pub fn find(&self, who: &str) -> Result<UserRecord> {
        if let Some(id) = UserId::parse(who) {
            return read_user(self.vault, id);
        }
        user_by_email(self.vault, &who.trim().to_ascii_lowercase())?.ok_or(VaultError::NotFound)
    }

    pub fn list(&self) -> Result<Vec<UserRecord>> {
        let txn = self.vault.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let mut out: Vec<UserRecord> = users
            .iter()?
            .map(|r| {
                r.map_err(VaultError::from)
                    .and_then(|(_, v)| decode("users", v.value()))
            })
            .collect::<Result<_>>()?;
        out.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(out)
    }

    pub(crate) fn update_user(
        &self,
        id: UserId,
        action: AuditAction,
        detail: Option<String>,
        edit: impl FnOnce(&mut UserRecord) -> Result<()>,
    ) -> Result<UserRecord> {
        self.vault.audited(None, |txn, _| {
            let rec = edit_user(txn, id, edit)?;
            if !rec.is_active() {
                revoke_all_in(txn, id)?;
            }
            let mut event = admin_event(id, action);
            event.detail = detail;
            Ok((rec, event))
        })
    }

    /// Disables sign-in and ends every session; data is kept.
    pub fn suspend(&self, id: UserId) -> Result<UserRecord> {
        let now = self.vault.now_ms();
        self.update_user(id, AuditAction::UserSuspend, None, |rec| match rec.status {
            AccountStatus::Active => {
                rec.status = AccountStatus::Suspended { since: now };
                Ok(())
            }
            AccountStatus::Suspended { .. } => {
                Err(VaultError::invalid("user", "already suspended"))
            }
            AccountStatus::PendingDeletion { .. } => Err(VaultError::invalid(
                "user",
                "scheduled for deletion; cancel the deletion instead",
            )),
        })
    }

    pub fn resume(&self, id: UserId) -> Result<UserRecord> {
        self.update_user(id, AuditAction::UserResume, None, |rec| match rec.status {
            AccountStatus::Suspended { .. } => {
                rec.status = AccountStatus::Active;
                Ok(())
            }
            _ => Err(VaultError::invalid("user", "not suspended")),
        })
    }

    /// Changes the plan and/or the quota override (`Some(None)` clears the override).
    pub fn set_plan_and_quota(
        &self,
        id: UserId,
        plan: Option<Plan>,
        quota: Option<Option<u64>>,
    ) -> Result<UserRecord> {
        let detail = format!(
            "{}{}",
            plan.map(|p| format!("plan {p} ")).unwrap_or_default(),
            match quota {
                Some(Some(q)) => format!("quota {q}"),
                Some(None) => "quota from plan".into(),
                None => String::new(),
            }
        );
        self.update_user(
            id,
            AuditAction::UserUpdate,
            Some(detail.trim().to_owned()),
            |rec| {
                if let Some(plan) = plan {
                    rec.plan = plan;
                }
                if let Some(quota) = quota {
                    rec.quota_override = quota;
                }
                Ok(())
            },
        )
    }

    /// Sets a new password (generated when `None`, and answered once) and ends every session.
    pub fn reset_password(
        &self,
        id: UserId,
        password: Option<&str>,
    ) -> Result<(UserRecord, Option<String>)> {
        let generated = password.is_none().then(generate_password);
        let password = password.or(generated.as_deref()).unwrap_or_default();
        validate_password(password)?;
        let hash = hash_password(self.vault, password)?;
        let rec = self.vault.audited(None, |txn, _| {
            let rec = edit_user(txn, id, |rec| {
                rec.password_hash = hash;
                Ok(())
            })?;
            revoke_all_in(txn, id)?;
            Ok((rec, admin_event(id, AuditAction::PasswordReset)))
        })?;
        Ok((rec, generated))
    }

    /// Removes the second factor (a user who lost their phone and recovery codes).
    pub fn reset_totp(&self, id: UserId) -> Result<UserRecord> {
        self.update_user(id, AuditAction::TotpReset, None, |rec| {
            rec.totp = None;
            Ok(())
        })
    }

    pub fn sessions(&self, user: Option<UserId>) -> Result<Vec<SessionInfo>> {
        list_sessions(self.vault, user)
    }

    /// Ends every session of `user`; answers how many.
    pub fn revoke_sessions(&self, user: UserId) -> Result<u64> {
        read_user(self.vault, user)?;
        self.vault.audited(None, |txn, _| {
            let n = revoke_all_in(txn, user)?;
            let event =
                admin_event(user, AuditAction::SessionRevoke).detail(format!("{n} sessions"));
            Ok((n, event))
        })
    }

    /// Ends one session by its public id.
    pub fn revoke_session(&self, id: &str) -> Result<()> {
        let target = list_sessions(self.vault, None)?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(VaultError::NotFound)?;
        let hash = {
            let txn = self.vault.db().begin_read()?;
            let index = txn.open_table(SESSIONS_BY_USER)?;
            let found = index
                .range((target.user.raw(), [0u8; 32])..=(target.user.raw(), [0xFF; 32]))?
                .map(|r| r.map(|(k, _)| k.value().1))
                .find(|h| h.as_ref().is_ok_and(|h| session_id(h) == id));
            found.transpose()?.ok_or(VaultError::NotFound)?
        };
        self.vault.audited(None, |txn, _| {
            remove_session_in(txn, &hash)?;
            let event =
                AuditEvent::new(Actor::Admin, Some(target.user), AuditAction::SessionRevoke)
                    .object(format!("session/{id}"));
            Ok(((), event))
        })
    }

    /// Ends sessions past their idle or absolute limit; answers how many.
    pub fn sweep_expired_sessions(&self) -> Result<u64> {
        let now = self.vault.now_ms();
        let policy = self.vault.policy();
        let expired: Vec<[u8; 32]> = {
            let txn = self.vault.db().begin_read()?;
            let sessions = txn.open_table(SESSIONS)?;
            let mut out = Vec::new();
            for row in sessions.iter()? {
                let (k, v) = row?;
                let rec: SessionRecord = decode("sessions", v.value())?;
                if now - rec.last_seen_ms > policy.session_idle_secs * 1000
                    || now - rec.created_at_ms > policy.session_absolute_secs * 1000
                {
                    out.push(k.value());
                }
            }
            out
        };
        if expired.is_empty() {
            return Ok(0);
        }
        let txn = self.vault.db().begin_write()?;
        for h in &expired {
            remove_session_in(&txn, h)?;
        }
        txn.commit()?;
        Ok(expired.len() as u64)
    }

    pub fn stats(&self) -> Result<VaultStats> {
        let txn = self.vault.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let mut tracks = 0;
        let mut stored_bytes = 0;
        for row in users.iter()? {
            let (_, v) = row?;
            let u: UserRecord = decode("users", v.value())?;
            tracks += u.track_count;
            stored_bytes += u.used_bytes;
        }
        Ok(VaultStats {
            users: users.len()?,
            tracks,
            stored_bytes,
            audit_records: txn.open_table(crate::store::AUDIT)?.len()?,
        })
    }
}

/// The accounts' part of an account purge: its sessions, its row and its e-mail's index entry.
pub(crate) fn purge_owner(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    revoke_all_in(txn, owner)?;
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

#[cfg(test)]
mod tests;

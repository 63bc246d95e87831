//! Sessions: sign-in in two steps (verify, then open a session bound to the verified password
//! hash), authentication of a token, listing and revocation.

use super::*;

/// A session as stored, keyed by the hash of its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SessionRecord {
    user: UserId,
    pub(super) created_at_ms: i64,
    pub(super) last_seen_ms: i64,
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

pub(super) fn session_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..16])
}

pub(super) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Removes every session of `user`; answers how many there were.
pub(super) fn revoke_all_in(txn: &WriteTransaction, user: UserId) -> Result<u64> {
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

pub(super) fn remove_session_in(txn: &WriteTransaction, hash: &[u8; 32]) -> Result<Option<UserId>> {
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

pub(super) fn login_failed(vault: &Vault, user: Option<UserId>, client: &ClientInfo, why: &str) {
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

/// Who sent a request: the owner, or their open app on its own (a poll). Only the owner's
/// requests keep a session from going idle, or a tab left open would never be signed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Owner,
    Background,
}

pub(crate) fn authenticate(
    vault: &Vault,
    token: &str,
    activity: Activity,
) -> Result<Authenticated> {
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
        let txn = vault.begin_write()?;
        remove_session_in(&txn, &hash)?;
        txn.commit()?;
        return Err(VaultError::SessionInvalid);
    }
    if activity == Activity::Owner && now - rec.last_seen_ms >= LAST_SEEN_RESOLUTION_MS {
        let txn = vault.begin_write()?;
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

pub(super) fn list_sessions(vault: &Vault, user: Option<UserId>) -> Result<Vec<SessionInfo>> {
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

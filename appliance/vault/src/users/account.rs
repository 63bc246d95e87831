//! The owner's own account: `Account`, the handle a signed-in owner gets, and re-checks.

use super::*;

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
    EmailChange,
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
            Self::EmailChange => "e-mail change",
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
        let owner = self.owner.to_string();
        // A legal request's records reach the owner with its notice, not before (a gag).
        let withheld = crate::records::withheld_from(self.vault, self.owner)?;
        // What the log answers at most per query.
        let page_size = limit.clamp(1, 1000);
        let mut out = Vec::new();
        let mut before = before;
        // Pages until `limit` records are kept, as some of each page may be left out.
        loop {
            let query = studiovault_api::admin::AuditQuery {
                before,
                limit: Some(page_size),
                user: Some(owner.clone()),
                ..Default::default()
            };
            let page = self.vault.audit_query(&query)?;
            let exhausted = page.len() < page_size as usize;
            before = page.last().map(|e| e.seq);
            // The query also matches records this user made about others; keep only their
            // own data.
            out.extend(
                page.into_iter()
                    .filter(|e| e.owner.as_deref() == Some(owner.as_str()))
                    .filter(|e| e.object.as_ref().is_none_or(|o| !withheld.contains(o))),
            );
            if exhausted || out.len() >= page_size as usize {
                out.truncate(page_size as usize);
                return Ok(out);
            }
        }
    }

    /// What others did with this account's data, newest first, below sequence `before`: the
    /// audit records of the account whose actor is not the owner (admins, the system, stem
    /// workers, share recipients, refused sign-ins).
    pub fn accessed(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<studiovault_api::admin::AuditEntry>> {
        // A legal request's records reach the owner with its notice, not before (a gag).
        let withheld = crate::records::withheld_from(self.vault, self.owner)?;
        self.vault
            .audit_by_others(self.owner, before, limit.clamp(1, 1000) as usize, &withheld)
    }

    /// Sets (or, empty, clears) the name the owner is shown by. Audited.
    pub fn set_display_name(&self, raw: &str, client: &ClientInfo) -> Result<UserRecord> {
        let name = validate_display_name(raw)?;
        self.vault.audited(Some(client), |txn, _| {
            let user = edit_user(txn, self.owner, |rec| {
                rec.display_name = name;
                Ok(())
            })?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::NameChange)
                .object(format!("user/{}", self.owner));
            Ok((user, event))
        })
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

    /// Changes the password, after re-checking the current one and, when 2FA is on, a code:
    /// the change ends every other session and a pending address change, which the password
    /// alone must not be enough to do.
    pub fn change_password(
        &self,
        current: &str,
        totp: Option<&str>,
        new: &str,
        keep_session: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        validate_password(new)?;
        let me = self.me()?;
        if let Err(e) = self.verify(&me, current, totp) {
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
            end_access(txn, self.owner)?;
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
        let totp = self.vault.audited(Some(client), |txn, _| {
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
            let event = AuditEvent::by_owner(self.owner, AuditAction::TotpSetup);
            Ok((totp_for(secret, &rec.email), event))
        })?;
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

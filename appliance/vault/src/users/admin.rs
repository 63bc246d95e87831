//! The admin's handle on every account (`Admin`, reached through the admin socket only).

use super::*;

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
            display_name: None,
            objections: Vec::new(),
            review_mail: Default::default(),
            review_digest_at_ms: None,
            review_mails_at_ms: Vec::new(),
            suspended_before_deletion: None,
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
                end_access(txn, id)?;
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
            end_access(txn, id)?;
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
            let n = end_access(txn, user)?;
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
        let txn = self.vault.begin_write()?;
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

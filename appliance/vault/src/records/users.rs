//! Accounts as stored: read by every feature (status, plan, quota), written by the account
//! operations (`crate::users`), the library (usage) and the account lifecycle.

use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};
use studiovault_api::{AccountStatus, Plan, ProcessingPurpose};

use crate::error::{Result, VaultError};
use crate::ids::UserId;
use crate::store::{USERS, decode, encode};
use crate::{PlanQuotas, Vault};

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub(crate) password_hash: String,
    pub plan: Plan,
    pub quota_override: Option<u64>,
    pub used_bytes: u64,
    pub track_count: u64,
    pub status: AccountStatus,
    pub(crate) totp: Option<TotpState>,
    pub created_at_ms: i64,
    /// The owner's choice on analysing uploads; `None` follows the plan (on for pro and max).
    #[serde(default)]
    pub analysis: Option<bool>,
    /// The name the owner chose to be shown by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The processing purposes the owner objected to, sorted; all of them is a restriction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objections: Vec<ProcessingPurpose>,
    /// How the owner hears of review activity (recipients' visits, plays, comments) by e-mail.
    #[serde(default)]
    pub review_mail: ReviewMail,
    /// When the last daily digest of review activity was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_digest_at_ms: Option<i64>,
    /// When the review mails sent at once in the last hour were queued (see
    /// `review::notify`: a few an hour at most).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review_mails_at_ms: Vec<i64>,
    /// While a deletion is scheduled: when the suspension it replaced began, if the account
    /// was suspended, so cancelling the deletion suspends it again rather than freeing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) suspended_before_deletion: Option<i64>,
}

/// How an owner is told of review activity by e-mail; the web app shows it all regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewMail {
    /// A mail for each notification, a few an hour at most: past that, the next mail the
    /// hour allows tells all that waited.
    #[default]
    Immediate,
    /// One mail a day with what happened since the last.
    Digest,
    Off,
}

impl ReviewMail {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Digest => "digest",
            Self::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "immediate" => Some(Self::Immediate),
            "digest" => Some(Self::Digest),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// A second factor: the sealed TOTP secret and the codes already spent.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct TotpState {
    /// Hex of the secret sealed under the tenant key.
    pub(crate) sealed_secret: String,
    /// False between setup and the first confirmed code.
    pub(crate) enabled: bool,
    /// The newest time step accepted; older and equal steps are refused.
    pub(crate) last_step: u64,
    /// Hex SHA-256 of each unused recovery code.
    pub(crate) recovery: Vec<String>,
}

impl std::fmt::Debug for TotpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpState")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    pub fn totp_enabled(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.enabled)
    }

    pub fn quota(&self, quotas: &PlanQuotas) -> u64 {
        self.quota_override
            .unwrap_or_else(|| quotas.for_plan(self.plan))
    }

    pub fn is_active(&self) -> bool {
        self.status == AccountStatus::Active
    }

    /// Whether uploads are analysed: the owner's setting (or the plan's default), unless they
    /// objected to analysis.
    pub fn analysis_enabled(&self) -> bool {
        self.analysis_wanted() && !self.objects_to(ProcessingPurpose::Analysis)
    }

    /// The analysis setting alone, or the plan's default (on for pro and max).
    pub(crate) fn analysis_wanted(&self) -> bool {
        self.analysis.unwrap_or(self.plan != Plan::Free)
    }

    pub fn objects_to(&self, purpose: ProcessingPurpose) -> bool {
        self.objections.contains(&purpose)
    }

    /// Processing is restricted: the owner objected to every purpose.
    pub fn restricted(&self) -> bool {
        ProcessingPurpose::ALL.iter().all(|p| self.objects_to(*p))
    }

    /// `ProcessingStopped` when the owner objected to `purpose` (or restricted processing).
    pub(crate) fn allows(&self, purpose: ProcessingPurpose) -> Result<()> {
        if self.objects_to(purpose) {
            return Err(VaultError::ProcessingStopped {
                purpose,
                restricted: self.restricted(),
            });
        }
        Ok(())
    }
}

pub(crate) fn get_user(
    table: &impl ReadableTable<u128, &'static [u8]>,
    id: UserId,
) -> Result<Option<UserRecord>> {
    table
        .get(id.raw())?
        .map(|v| decode("users", v.value()))
        .transpose()
}

pub(crate) fn put_user(table: &mut Table<u128, &'static [u8]>, user: &UserRecord) -> Result<()> {
    table.insert(user.id.raw(), encode(user).as_slice())?;
    Ok(())
}

/// `ProcessingStopped` when `owner` objected to `purpose` (or restricted processing): the
/// check where a job of that purpose starts to run.
pub(crate) fn owner_allows(vault: &Vault, owner: UserId, purpose: ProcessingPurpose) -> Result<()> {
    let txn = vault.db().begin_read()?;
    get_user(&txn.open_table(USERS)?, owner)?
        .ok_or(VaultError::NotFound)?
        .allows(purpose)
}

/// Reads an account, lets `edit` check and change it, and writes it back, inside `txn`; answers
/// the account as written. Nothing is written when `edit` fails.
pub(crate) fn edit_user(
    txn: &WriteTransaction,
    id: UserId,
    edit: impl FnOnce(&mut UserRecord) -> Result<()>,
) -> Result<UserRecord> {
    let mut users = txn.open_table(USERS)?;
    let mut user = get_user(&users, id)?.ok_or(VaultError::NotFound)?;
    edit(&mut user)?;
    put_user(&mut users, &user)?;
    Ok(user)
}

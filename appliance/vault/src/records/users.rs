//! Accounts as stored: read by every feature (status, plan, quota), written by the account
//! operations (`crate::users`), the library (usage) and the account lifecycle.

use redb::{ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};
use studiovault_api::{AccountStatus, Plan};

use crate::PlanQuotas;
use crate::error::{Result, VaultError};
use crate::ids::UserId;
use crate::store::{USERS, decode, encode};

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

    pub fn analysis_enabled(&self) -> bool {
        self.analysis.unwrap_or(self.plan != Plan::Free)
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

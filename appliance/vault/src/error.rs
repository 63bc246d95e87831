/// Everything the vault can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The object does not exist in the caller's scope. Deliberately the same answer whether it
    /// exists for another tenant or not at all.
    #[error("not found")]
    NotFound,
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("that e-mail address is already registered")]
    EmailTaken,
    /// Unknown e-mail or wrong password: one answer for both.
    #[error("wrong e-mail or password")]
    BadCredentials,
    #[error("a two-factor code is required")]
    TotpRequired,
    #[error("the two-factor code is wrong or already used")]
    BadTotp,
    #[error("this account is {0}")]
    AccountInactive(&'static str),
    /// Refused by a share's rules or a media URL's checks.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A share's or an upload link's limit on this is reached.
    #[error("the limit on {0} is reached")]
    LimitReached(&'static str),
    /// The recipient's watermarked copy is still being made.
    #[error("the copy is still being prepared")]
    NotReady,
    /// A job's lease ran out and another executor took it, or the job was cancelled or
    /// finished elsewhere: this executor's result must not be recorded.
    #[error("the job is no longer held by this executor")]
    LeaseLost,
    /// An address-change link that is malformed, used already, replaced by a newer one, or
    /// wrong: one answer for all.
    #[error(
        "this link does not work: it was used already, replaced by a newer request, or cut short"
    )]
    EmailLinkInvalid,
    #[error("this link has expired: ask for the change again from your account page")]
    EmailLinkExpired,
    #[error("the session is unknown, revoked or expired")]
    SessionInvalid,
    /// The request conflicts with the object's state (e.g. stems that already exist).
    #[error("{0}")]
    Conflict(&'static str),
    /// The owner's plan does not include this.
    #[error("{0}")]
    PlanRequired(&'static str),
    /// The owner objected to this processing purpose, or restricted all processing.
    #[error("{}", processing_stopped(*purpose, *restricted))]
    ProcessingStopped {
        purpose: studiovault_api::ProcessingPurpose,
        restricted: bool,
    },
    /// A stem worker's token is unknown, or its worker was deleted.
    #[error("the worker token is unknown")]
    WorkerUnknown,
    /// The admin revoked this worker.
    #[error("this worker was revoked")]
    WorkerRevoked,
    #[error("the data directory's disk is full ({free} bytes free): nothing was written")]
    DiskFull { free: u64 },
    #[error("quota exceeded: {used} of {quota} bytes used, {needed} more needed")]
    QuotaExceeded { quota: u64, used: u64, needed: u64 },
    #[error(
        "the metadata store uses schema version {found}; this build supports up to {supported}"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("master key: {0}")]
    MasterKey(String),
    /// The data directory holds blob files and no metadata store: a new, empty store would
    /// take every file for an orphan and remove it.
    #[error(
        "the data directory holds {files} encrypted file(s) but no metadata store (vault.redb): \
         it was moved or lost. Put it back, or restore a snapshot into a new directory \
         (`studiovault backup restore`); nothing was changed"
    )]
    StoreMissing { files: usize },
    #[error("blob {blob} failed its integrity check: {reason}")]
    Integrity { blob: String, reason: String },
    #[error("corrupt record in `{table}`: {reason}")]
    CorruptRecord { table: &'static str, reason: String },
    /// An account purge left rows of the account in a table it must empty; nothing was purged.
    #[error("the purge left {rows} row(s) of the account in `{table}`")]
    PurgeIncomplete { table: &'static str, rows: u64 },
    /// A legal request holds the account: it is not purged until the hold is released.
    #[error("the account is under a legal hold")]
    LegalHold,
    /// The store holds accounts and not one tenant key: its keyring was never put in (a
    /// restore whose keyring step failed). No account is purged for a missing key until it is.
    #[error(
        "the store holds {accounts} account(s) and no tenant key: its keyring is missing (after \
         a restore, install the latest keyring); no account is purged for its missing key"
    )]
    KeyringMissing { accounts: u64 },
    /// The account has no tenant key, and no restore named it purged after its snapshot: it is
    /// kept, not purged again.
    #[error("the account has no tenant key and no restore named it purged: kept, not purged again")]
    TenantKeyMissing,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("metadata store: {0}")]
    Store(#[from] redb::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

fn processing_stopped(purpose: studiovault_api::ProcessingPurpose, restricted: bool) -> String {
    if restricted {
        format!(
            "processing of this account is restricted at the owner's request: {} is off until \
             the restriction is lifted (Account, Your rights)",
            purpose.describe()
        )
    } else {
        format!(
            "the owner objected to {}: it is off until the objection is withdrawn (Account, \
             Your rights)",
            purpose.describe()
        )
    }
}

impl VaultError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for VaultError {
            fn from(e: $t) -> Self {
                Self::Store(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type Result<T, E = VaultError> = std::result::Result<T, E>;

//! Account export: everything the store holds about one owner, in plain formats, for the owner
//! to take away — the account with the breach notices it was sent, the tracks with their
//! analysis, the shares with each recipient's activity, the owner's audit records, and the
//! original audio.

use serde_json::{Value, json};

use studiovault_api::admin::AuditEntry;

use crate::audit::{AuditAction, AuditEvent};
use crate::blob::BlobReader;
use crate::error::Result;
use crate::ids::TrackId;
use crate::library::{Library, TrackQuery, TrackRecord};
use crate::scope::OwnerScope;
use crate::shares::{ShareDetail, Shares};
use crate::users::Account;
use crate::{ClientInfo, Vault};

/// Audit records are read this many at a time.
const ACTIVITY_PAGE: u32 = 500;

/// An export's documents, and the tracks whose audio follows them.
#[derive(Debug)]
pub struct AccountExport {
    pub account: Value,
    pub tracks: Vec<TrackRecord>,
    pub shares: Vec<ShareDetail>,
    pub activity: Vec<AuditEntry>,
    /// Comments, upload links, what recipients heard, notifications.
    pub review: crate::review::ReviewExport,
}

impl Vault {
    /// Records the export in the audit log and gathers everything but the audio, which
    /// [`Vault::export_audio`] opens one track at a time as the archive is written. Callers
    /// check the owner's password first ([`crate::Account::reauthenticate`]).
    pub fn export_account(&self, scope: &OwnerScope, client: &ClientInfo) -> Result<AccountExport> {
        let account = self.account(scope);
        let tracks = every_track(&self.library(scope))?;
        let shares = share_details(&self.shares(scope))?;
        let activity = activity_of(&account)?;
        let bytes: u64 = tracks.iter().map(|t| t.size_bytes).sum();
        self.audit_only(
            Some(client),
            AuditEvent::by_owner(scope.owner(), AuditAction::AccountExport)
                .object(format!("user/{}", scope.owner()))
                .detail(format!("{} track(s), {bytes} bytes", tracks.len())),
        )?;
        Ok(AccountExport {
            account: account_document(self, &account)?,
            tracks,
            shares,
            activity,
            review: self.review_export(scope.owner())?,
        })
    }

    /// The original audio of one of the owner's tracks, for the export being written.
    pub fn export_audio(&self, scope: &OwnerScope, track: TrackId) -> Result<BlobReader> {
        let library = self.library(scope);
        library.open_blob(&library.get(track)?)
    }
}

/// `account.json`: the account as its owner reads it.
pub(crate) fn account_document(vault: &Vault, account: &Account) -> Result<Value> {
    let me = account.me()?;
    let pending_email = account.pending_email()?;
    let breach_notices: Vec<Value> = account
        .breach_notices(true)?
        .into_iter()
        .map(|n| {
            json!({
                "incident": n.incident,
                "sent_at": n.sent_at_ms,
                "dismissed_at": n.dismissed_at_ms,
                "notice": n.notice,
            })
        })
        .collect();
    Ok(json!({
        "id": me.id,
        "email": me.email,
        "display_name": me.display_name,
        "plan": me.plan,
        "quota_bytes": me.quota(&vault.policy().quotas),
        "used_bytes": me.used_bytes,
        "track_count": me.track_count,
        "status": me.status,
        "created_at": me.created_at_ms,
        "two_factor": me.totp_enabled(),
        "analysis": me.analysis_enabled(),
        "objections": me.objections,
        "pending_email": pending_email.map(|(email, expires_at)| json!({
            "email": email,
            "expires_at": expires_at,
        })),
        "restricted": me.restricted(),
        "breach_notices": breach_notices,
        "exported_at": vault.now_ms(),
    }))
}

/// Every track of the library, stems and every version included: they are tracks of the
/// account like any other.
pub(crate) fn every_track(library: &Library) -> Result<Vec<TrackRecord>> {
    let query = TrackQuery {
        limit: u64::MAX,
        include_stems: true,
        all_versions: true,
        ..TrackQuery::default()
    };
    Ok(library.list(&query)?.0)
}

/// Every share with its recipients.
pub(crate) fn share_details(shares: &Shares) -> Result<Vec<ShareDetail>> {
    shares
        .list()?
        .into_iter()
        .map(|s| shares.get(s.id))
        .collect()
}

/// The account's whole activity, newest first.
pub(crate) fn activity_of(account: &Account) -> Result<Vec<AuditEntry>> {
    let mut activity = Vec::new();
    let mut before = None;
    loop {
        let page = account.activity(before, ACTIVITY_PAGE)?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        activity.extend(page);
    }
    Ok(activity)
}

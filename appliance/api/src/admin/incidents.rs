//! The incident register and breach notices (`/v1/incidents`): every incident recorded, its
//! states and timeline, the accounts it affects, and the five-part notice mailed to them.
//! Times are Unix milliseconds.

use serde::{Deserialize, Serialize};

/// Where an incident stands. Investigating → confirmed → notified → resolved; an incident
/// may be resolved from any state (one that was never a breach is resolved unconfirmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Investigating,
    /// A breach: the 72-hour clock for the notice runs from here.
    Confirmed,
    Notified,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Confirmed => "confirmed",
            Self::Notified => "notified",
            Self::Resolved => "resolved",
        }
    }
}

/// `POST /v1/incidents`: record an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    pub title: String,
    /// What is known so far.
    #[serde(default)]
    pub description: String,
    /// Whether the affected data was encrypted with keys that were not exposed; `None` while
    /// unknown.
    #[serde(default)]
    pub encrypted: Option<bool>,
}

/// `POST /v1/incidents/{id}/confirm`: the incident is a breach; the 72-hour clock starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmIncident {
    /// Settles whether the data was encrypted with keys that were not exposed.
    #[serde(default)]
    pub encrypted: Option<bool>,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/incidents/{id}/note` (a note on the timeline) and
/// `POST /v1/incidents/{id}/resolve` (an optional closing note).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentNote {
    #[serde(default)]
    pub text: String,
}

/// Who an incident affects. `POST /v1/incidents/{id}/affected/preview` answers the accounts
/// without recording anything; `POST /v1/incidents/{id}/affected` records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AffectedSelection {
    /// Every account.
    All,
    /// These accounts, by id or e-mail address.
    Accounts { accounts: Vec<String> },
    /// Accounts the audit log shows: with a record in the time window, of one of the actions
    /// (or a prefix such as `track`), about the object or key (or a prefix of it). Every
    /// filter given must hold; at least one must be given.
    AuditLog {
        #[serde(default)]
        since_ms: Option<i64>,
        #[serde(default)]
        until_ms: Option<i64>,
        #[serde(default)]
        actions: Vec<String>,
        #[serde(default)]
        object: Option<String>,
    },
}

/// How the affected accounts were chosen, as the register keeps it: the rule, never the
/// accounts' identities (those are per-account rows, purged with each account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AffectedRule {
    All,
    /// A list of this many accounts.
    Accounts {
        count: u64,
    },
    AuditLog {
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        actions: Vec<String>,
        object: Option<String>,
    },
}

/// One affected account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedAccount {
    pub id: String,
    pub email: String,
}

/// The answer to choosing affected accounts: how many, and which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedAccounts {
    pub count: u64,
    pub accounts: Vec<AffectedAccount>,
}

/// The five parts every breach notice has; none may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeParts {
    pub what_happened: String,
    pub data_affected: String,
    /// What was done to contain it.
    pub containment: String,
    /// What the user should do.
    pub user_action: String,
    /// How to reach the security team.
    pub contact: String,
}

/// `POST /v1/incidents/{id}/notice/preview`: the notice as it will be mailed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticePreview {
    pub subject: String,
    /// The plain-text body, exactly as mailed.
    pub text: String,
    pub html: String,
    /// Accounts it would go to.
    pub recipients: u64,
    /// Sent now, it would be late: more than 72 hours after confirmation.
    pub late: bool,
}

/// `POST /v1/incidents/{id}/notify`: send the notice to every affected account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyIncident {
    pub notice: NoticeParts,
    /// Required when the notice is late (more than 72 hours after confirmation).
    #[serde(default)]
    pub late_reason: Option<String>,
}

/// One event on an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: i64,
    /// `recorded`, `confirmed`, `affected`, `notified`, `resolved`, `note` or `updated`.
    pub kind: String,
    pub text: String,
}

/// How the notice's mails stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Waiting or being sent (retries included).
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
}

/// An incident in the register (`GET /v1/incidents`, newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub state: IncidentState,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    /// When the notice is due: 72 hours after confirmation.
    pub notify_by: Option<i64>,
    pub notified_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// Whether the affected data was encrypted with keys that were not exposed.
    pub encrypted: Option<bool>,
    pub selection: Option<AffectedRule>,
    /// Accounts chosen as affected.
    pub affected: u64,
    pub notice: Option<NoticeParts>,
    /// Why the notice went out after the 72 hours.
    pub late_reason: Option<String>,
    pub delivery: DeliveryCounts,
    pub timeline: Vec<TimelineEntry>,
}

/// One affected account and its notice: the mail's delivery, and the banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRecipient {
    pub account: String,
    pub email: String,
    pub notified_at: Option<i64>,
    /// `not sent`, `queued`, `sending`, `sent` or `failed`.
    pub delivery: String,
    pub attempts: u32,
    pub delivered_at: Option<i64>,
    pub error: Option<String>,
    /// When the owner dismissed the banner in the web app.
    pub dismissed_at: Option<i64>,
}

/// `GET /v1/incidents/{id}`: the incident and each affected account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    pub incident: IncidentView,
    pub recipients: Vec<NoticeRecipient>,
}

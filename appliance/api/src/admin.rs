//! The admin socket's API under `/v1`: a Unix socket in the data directory, mode 0600.

use serde::{Deserialize, Serialize};

use crate::{AccountStatus, Plan};

mod incidents;
mod shares;
pub use incidents::*;
pub use shares::*;

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub plan: Plan,
    /// When absent the server generates a one-time password and answers it once.
    #[serde(default)]
    pub password: Option<String>,
}

/// Answer of `POST /v1/users` and `POST /v1/users/{user}/password`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    pub user: UserView,
    /// The generated password, present only when the server generated one. Shown once.
    pub one_time_password: Option<String>,
}

/// An account as admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub plan: Plan,
    pub quota_bytes: u64,
    /// Set when an admin overrode the plan's quota.
    pub quota_override: bool,
    pub used_bytes: u64,
    pub tracks: u64,
    pub totp_enabled: bool,
    pub status: AccountStatus,
    pub sessions: u64,
    pub created_at: i64,
}

/// `PATCH /v1/users/{user}`: change plan and quota.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub plan: Option<Plan>,
    /// `Some(None)` (JSON `null`) clears an override and returns to the plan's quota. `None`
    /// leaves the field out, so it must not be sent as `null`.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub quota_bytes: Option<Option<u64>>,
}

/// `POST /v1/users/{user}/password`: a new password, or a generated one when absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    #[serde(default)]
    pub password: Option<String>,
}

/// A signed-in session as admins see it (`GET /v1/sessions`, `GET /v1/users/{user}/sessions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminSessionView {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client: Option<String>,
}

/// Answer of the revocation endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: u64,
}

/// One audit record (`GET /v1/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// `user:<id>`, `recipient:<id>` (a share recipient), `admin`, or `system`.
    pub actor: String,
    /// The account whose data or settings the action touched.
    pub owner: Option<String>,
    pub action: String,
    pub object: Option<String>,
    /// Keyed hash of the client's IP under that day's salt.
    pub client: Option<String>,
    pub detail: Option<String>,
    pub hash: String,
}

/// Filters of `GET /v1/audit`; the newest records first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Only records with a sequence number below this (paging backwards).
    #[serde(default)]
    pub before: Option<u64>,
    /// Only records with a sequence number above this (tailing forwards).
    #[serde(default)]
    pub after: Option<u64>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// Unix milliseconds, inclusive.
    #[serde(default)]
    pub since_ms: Option<i64>,
    #[serde(default)]
    pub until_ms: Option<i64>,
}

/// Answer of `POST /v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditVerifyReport {
    pub ok: bool,
    pub records: u64,
    pub checkpoints: u64,
    /// Sequence number of the newest record covered by a valid signed checkpoint.
    pub last_checkpoint_seq: Option<u64>,
    /// The first problem found, if any.
    pub first_problem: Option<AuditProblem>,
    /// Hex ed25519 public key that signs checkpoints.
    pub public_key: String,
}

/// What is wrong with the chain, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditProblem {
    pub seq: u64,
    pub kind: AuditProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditProblemKind {
    /// The record's content does not hash to its stored hash.
    Altered,
    /// The record does not chain to its predecessor.
    BrokenLink,
    /// A sequence number is absent.
    Missing,
    /// Records a signed checkpoint vouches for are gone.
    Truncated,
    /// A checkpoint signature does not verify, or names a hash the chain lacks.
    BadCheckpoint,
    /// A record cannot be read at all.
    Unreadable,
}

/// The snapshot tiers; each has its own timer and tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotTier {
    Hourly,
    Daily,
    Weekly,
}

impl SnapshotTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

impl std::str::FromStr for SnapshotTier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hourly" => Ok(Self::Hourly),
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            other => Err(format!(
                "unknown tier `{other}` (expected hourly, daily or weekly)"
            )),
        }
    }
}

/// `POST /v1/backups/snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    pub tier: SnapshotTier,
    /// The snapshot's time (Unix ms) instead of now: for back-dated runs and retention tests.
    #[serde(default)]
    pub time_ms: Option<i64>,
}

/// Answer of `POST /v1/backups/snapshot`: one snapshot, the retention applied after it, and
/// the repository check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotReport {
    pub id: String,
    pub tier: SnapshotTier,
    /// When it ran (Unix ms).
    pub at_ms: i64,
    pub blobs: u64,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub bytes_added: u64,
    /// Snapshots the retention kept and removed.
    pub kept: u64,
    pub forgotten: u64,
    pub check_ok: bool,
    /// The steps: the consistent copy, `restic backup`, `forget` (+ `prune`), `check`.
    pub stage_ms: u64,
    pub backup_ms: u64,
    pub retention_ms: u64,
    pub check_ms: u64,
    pub duration_ms: u64,
}

/// A snapshot in the repository (`GET /v1/backups/snapshots`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotView {
    pub id: String,
    pub short_id: String,
    /// RFC 3339.
    pub time: String,
    pub tags: Vec<String>,
}

/// Answer of `POST /v1/backups/drill`: the latest snapshot restored and proven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    pub passed: bool,
    pub snapshot_id: Option<String>,
    /// When the drill started (Unix ms).
    pub at_ms: i64,
    pub users: u64,
    pub tracks: u64,
    pub blobs_listed: u64,
    /// Blobs present with their recorded size and sealed hash.
    pub blobs_verified: u64,
    /// Blobs decrypted in full and matched against their recorded plaintext hash.
    pub blobs_decrypted: u64,
    pub problems: u64,
    pub first_problem: Option<String>,
    pub restore_ms: u64,
    pub open_ms: u64,
    pub hash_ms: u64,
    pub decrypt_ms: u64,
    pub total_ms: u64,
}

/// Where replication stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationView {
    pub configured: bool,
    pub uploads_pending: u64,
    pub deletes_due: u64,
    /// Deletions still in their grace period.
    pub deletes_waiting: u64,
    pub failing: u64,
    /// Age of the oldest upload not yet replicated, in seconds; 0 when caught up.
    pub lag_secs: u64,
    pub last_error: Option<String>,
    /// Unix ms.
    pub last_success_ms: Option<i64>,
    #[serde(default)]
    pub last_check: Option<ReplicaCheck>,
}

/// `GET /v1/backups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupsView {
    pub replication: ReplicationView,
    /// Whether a restic repository is configured.
    pub snapshots_configured: bool,
    pub last_snapshot: Option<SnapshotReport>,
    /// The last snapshot run that failed, and why (cleared by a success).
    pub last_snapshot_error: Option<String>,
    pub last_drill: Option<DrillReport>,
}

/// One object whose replica is missing or wrong (`POST /v1/replication/verify`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaFinding {
    pub key: String,
    pub problem: ReplicaProblem,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaProblem {
    Missing,
    Differs,
    /// Still waiting in the queue: not yet a fault.
    Pending,
    /// The store did not answer for it (a 5xx, a timeout): neither proven nor queued again.
    Unchecked,
}

/// Body of `POST /v1/replication/verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaVerifyRequest {
    /// Queue the upload of every blob found missing or different again.
    #[serde(default)]
    pub repair: bool,
}

/// Answer of `POST /v1/replication/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaVerifyReport {
    pub blobs: u64,
    pub replicas_ok: u64,
    pub findings: Vec<ReplicaFinding>,
    /// With `repair`: how many of the findings were queued for upload again.
    #[serde(default)]
    pub requeued: u64,
}

/// The replication worker's last check of the whole replica (every
/// `replication.check_interval_seconds`): what it found, and what it queued again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaCheck {
    /// When it ran (Unix ms).
    pub at_ms: i64,
    pub blobs: u64,
    pub replicas_ok: u64,
    /// Replicas missing or different, each queued for upload again.
    pub requeued: u64,
    /// Why the check could not be made (the store unreachable, say); the counts are then 0.
    pub error: Option<String>,
}

/// One line of the retention table (`GET /v1/retention`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    /// What is kept: `Daily salts of client hashes`, `Server logs`, ...
    pub what: String,
    /// For how long, as configured.
    pub kept: String,
    /// The config key(s) that set it, if it is configurable.
    pub config_key: Option<String>,
    /// What enforces it.
    pub enforced_by: String,
}

/// `POST /v1/mail/retry`: queue again the messages given up on, about `topic` alone (an
/// incident's `incident/ID`, a legal request's `legal/ID`) or all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailRetry {
    #[serde(default)]
    pub topic: Option<String>,
}

/// What `POST /v1/mail/retry` queued again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRetried {
    pub queued: u64,
}

/// `POST /v1/housekeeping`: what one housekeeping pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HousekeepingReport {
    /// Client-hash salts past their retention.
    pub salts: u64,
    /// Sessions past their idle or absolute limit.
    pub sessions: u64,
    /// Accounts purged after their deletion grace.
    pub purged: Vec<String>,
    /// Spent single-use nonces past their URL's expiry.
    pub nonces: u64,
    /// Records of messages sent longer ago than their retention.
    pub sent_mail: u64,
    /// Recipients' marked copies of shares that ended longer ago than their retention.
    pub share_copies: u64,
    /// Address changes whose confirmation link expired.
    #[serde(default)]
    pub email_changes: u64,
    /// Notices of legal requests whose gag ended, queued now.
    #[serde(default)]
    pub legal_notices: u64,
    /// Daily digests of review activity queued for owners who chose them.
    #[serde(default)]
    pub review_digests: u64,
    /// Tracks owners deleted under a legal hold, removed now that no hold holds them.
    #[serde(default)]
    pub held_tracks: u64,
    /// What failed, one line each (a step, or one account's purge); every other step and
    /// account went ahead. Empty when all went well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_secs: u64,
    pub users: u64,
    pub tracks: u64,
    pub stored_bytes: u64,
    pub disk_free_bytes: Option<u64>,
    pub audit_records: u64,
    pub listen: String,
    pub data_dir: String,
    /// The metadata store's schema version (this build's; a store is migrated to it at start).
    /// Absent from servers older than the installer.
    #[serde(default)]
    pub store_schema: Option<u32>,
    /// Where each optional part of the appliance stands (TLS, backups, replication, ...).
    /// Absent from servers older than the console, hence the default.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The HTTPS side; absent when TLS is off (and from servers older than TLS).
    #[serde(default)]
    pub tls: Option<TlsStatus>,
}

/// `GET /v1/tls`: the certificate served and what happens to it next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsStatus {
    /// `acme`, `files` or `self-signed`.
    pub mode: String,
    /// Where HTTPS is served.
    pub https_listen: String,
    /// None until the first certificate is obtained (ACME before its first order completes).
    pub certificate: Option<CertificateView>,
    /// Unix milliseconds of the next renewal (or reload check) attempt.
    pub next_attempt: Option<i64>,
    /// The last attempt's error, cleared by the next success.
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Unix milliseconds before which the CA asked (`Retry-After` on a rate limit or outage)
    /// not to be contacted; renewals wait for it.
    #[serde(default)]
    pub ca_wait_until: Option<i64>,
    /// Self-signed mode: the local CA's root certificate, for clients to trust.
    pub root_certificate: Option<RootCertificate>,
}

/// A certificate as the admin sees it. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    pub subject: String,
    pub issuer: String,
    /// The DNS names and IP addresses it covers.
    pub names: Vec<String>,
    pub serial: String,
    /// SHA-256 of the DER bytes, colon-separated hex.
    pub sha256: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The local CA of self-signed mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCertificate {
    /// PEM file to install on client machines.
    pub path: String,
    pub sha256: String,
}

/// One optional part of the appliance, such as TLS or backups, and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    /// For people: `TLS certificate`, `Backups`.
    pub name: String,
    pub state: CapabilityState,
    /// One sentence: the figure that matters when it runs (expiry, queue depth, last run, lag),
    /// or why it does not.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityState {
    /// This build of the appliance does not have it yet.
    NotBuilt,
    /// Built, but switched off or missing its settings.
    NotConfigured,
    Ok,
    /// Configured and failing: needs an admin.
    Failing,
}

impl CapabilityState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotBuilt => "not built",
            Self::NotConfigured => "not configured",
            Self::Ok => "ok",
            Self::Failing => "failing",
        }
    }
}

/// `GET /v1/workers`: the enrolled stem workers and the stem queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkersView {
    pub workers: Vec<WorkerView>,
    pub queue: Vec<StemJobView>,
}

/// One enrolled stem worker. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerView {
    pub id: String,
    pub name: String,
    /// `active`, `draining` or `revoked`.
    pub state: String,
    pub enrolled_at: i64,
    /// What the worker last reported, once it has called.
    pub host: Option<String>,
    pub backend: Option<String>,
    pub gpu: Option<String>,
    pub vram_mb: Option<u64>,
    pub last_seen: Option<i64>,
    /// The job it holds now, if any.
    pub current_job: Option<StemJobView>,
    pub jobs_last_hour: u64,
    pub jobs_done: u64,
}

/// One separation job, queued, running or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemJobView {
    pub id: String,
    pub track: String,
    /// `queued`, `running` or `failed`.
    pub state: String,
    pub progress: f32,
    pub attempts: u32,
    /// The worker holding it, by name, while running.
    pub worker: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// `POST /v1/workers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolWorker {
    pub name: String,
}

/// The answer to an enrolment: the token, shown this once (the server keeps its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerEnrolled {
    pub worker: WorkerView,
    pub token: String,
}

/// What an authority's legal request is, for the transparency report's counts by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalKind {
    CourtOrder,
    Subpoena,
    Warrant,
    /// A request to keep data, not (yet) to hand it over.
    Preservation,
    Emergency,
    Other,
}

/// The kinds of data a legal request may ask for: the export answers with these alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalDataType {
    /// The account: e-mail, plan, storage, status, dates.
    Account,
    /// The tracks' metadata: names, formats, sizes, hashes, analysis.
    Tracks,
    /// The original audio files.
    Audio,
    /// The shares, their recipients and what each opened, played and downloaded.
    Shares,
    /// The account's audit records.
    Activity,
}

/// Where a legal request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalState {
    Received,
    Complied,
    PartiallyComplied,
    Refused,
}

/// `as_str` and `FromStr` in the wire form (`court_order`), for the CLI and the console.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),*
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().replace('-', "_");
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == wanted)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown `{s}` (expected one of {})", names.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(LegalKind {
    CourtOrder => "court_order",
    Subpoena => "subpoena",
    Warrant => "warrant",
    Preservation => "preservation",
    Emergency => "emergency",
    Other => "other",
});
wire_names!(LegalDataType {
    Account => "account",
    Tracks => "tracks",
    Audio => "audio",
    Shares => "shares",
    Activity => "activity",
});
wire_names!(LegalState {
    Received => "received",
    Complied => "complied",
    PartiallyComplied => "partially_complied",
    Refused => "refused",
});

/// `POST /v1/legal`: a legal request as received. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLegalRequest {
    pub kind: LegalKind,
    /// Who asks: a court, a police force, a regulator.
    pub authority: String,
    /// The law or order it relies on.
    pub legal_basis: String,
    /// The authority's own reference.
    pub reference: String,
    pub deadline: i64,
    /// The accounts it names, by id or e-mail.
    pub accounts: Vec<String>,
    pub data_types: Vec<LegalDataType>,
    /// Place a legal hold on the accounts at once.
    #[serde(default)]
    pub hold: bool,
}

/// A legal request as the admin sees it (`GET /v1/legal/{id}`). Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalRequestView {
    pub id: String,
    pub kind: LegalKind,
    pub authority: String,
    pub legal_basis: String,
    pub reference: String,
    pub received_at: i64,
    pub deadline: i64,
    pub accounts: Vec<LegalAccountView>,
    pub data_types: Vec<LegalDataType>,
    pub state: LegalState,
    /// Why it was complied with, in part, or refused.
    pub reason: Option<String>,
    pub decided_at: Option<i64>,
    pub hold: Option<LegalHoldView>,
    pub gag: Option<LegalGagView>,
    /// Exports handed over so far.
    pub exports: u32,
    /// Every step, oldest first.
    pub timeline: Vec<LegalEventView>,
}

impl LegalRequestView {
    /// Whether the hold is placed and not released.
    pub fn on_hold(&self) -> bool {
        self.hold.as_ref().is_some_and(|h| h.released_at.is_none())
    }

    /// Whether every account named has been sent its notice.
    pub fn all_notified(&self) -> bool {
        self.accounts.iter().all(|a| a.notified_at.is_some())
    }
}

/// An account a legal request names. `email` is `None` once the account is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalAccountView {
    pub id: String,
    pub email: Option<String>,
    /// When its notice was queued for sending.
    pub notified_at: Option<i64>,
    /// Where the notice's e-mail stands: `queued`, `sending`, `sent`, or `failed: why`. Absent
    /// before the notice, and once the record of a sent mail has aged out.
    #[serde(default)]
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalHoldView {
    pub placed_at: i64,
    pub released_at: Option<i64>,
    pub release_reason: Option<String>,
}

/// A gag: no notice to the users until `until`; then it goes out by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalGagView {
    pub until: i64,
    pub recorded_at: i64,
    pub note: Option<String>,
}

/// One step of a legal request's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalEventView {
    pub at: i64,
    pub what: String,
}

/// `POST /v1/legal/{id}/release` and the decisions' reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalReason {
    pub reason: String,
}

/// `POST /v1/legal/{id}/gag`: the order's end (Unix ms), and a note on where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalGag {
    pub until: i64,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/legal/{id}/decision`: complied, partially complied or refused, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalDecision {
    pub outcome: LegalState,
    pub reason: String,
}

/// `GET /v1/legal/report?year=Y`: the year's transparency summary, by the requests received
/// that year (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalReport {
    pub year: i32,
    pub received: u64,
    pub complied: u64,
    pub partially_complied: u64,
    pub refused: u64,
    /// Not decided yet.
    pub pending: u64,
    /// Accounts named, each counted once.
    pub accounts: u64,
    /// Accounts sent a notice, each counted once.
    pub users_notified: u64,
    /// Requests that came with a gag.
    pub gagged: u64,
    pub by_kind: Vec<LegalReportRow>,
    pub by_authority: Vec<LegalReportRow>,
}

/// One line of the report: a kind of request or an authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalReportRow {
    pub name: String,
    pub received: u64,
    pub complied: u64,
    pub partially_complied: u64,
    pub refused: u64,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<u64>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
        Option::<u64>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_user_tells_null_from_absent() {
        let absent: UpdateUser = serde_json::from_str("{}").unwrap_or_default();
        assert_eq!(absent.quota_bytes, None);
        let cleared: UpdateUser =
            serde_json::from_str(r#"{"quota_bytes":null}"#).unwrap_or_default();
        assert_eq!(cleared.quota_bytes, Some(None));
        let set: UpdateUser = serde_json::from_str(r#"{"quota_bytes":42}"#).unwrap_or_default();
        assert_eq!(set.quota_bytes, Some(Some(42)));
        // Changing only the plan must not send `null`, which would clear an override.
        let plan_only = UpdateUser {
            plan: Some(Plan::Pro),
            quota_bytes: None,
        };
        let json = serde_json::to_value(&plan_only).unwrap_or_default();
        assert_eq!(json, serde_json::json!({"plan": "pro"}));
        let cleared = UpdateUser {
            plan: None,
            quota_bytes: Some(None),
        };
        let json = serde_json::to_value(&cleared).unwrap_or_default();
        assert_eq!(json, serde_json::json!({"plan": null, "quota_bytes": null}));
    }

    #[test]
    fn status_from_a_server_without_capabilities_still_reads() {
        let old = r#"{"version":"0.1.0","uptime_secs":1,"users":0,"tracks":0,"stored_bytes":0,
            "disk_free_bytes":null,"audit_records":0,"listen":"127.0.0.1:8080","data_dir":"/d"}"#;
        let status: Result<Status, _> = serde_json::from_str(old);
        assert_eq!(status.map(|s| s.capabilities.len()).ok(), Some(0));
        let state = serde_json::to_value(CapabilityState::NotBuilt).unwrap_or_default();
        assert_eq!(state, "not_built");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<CreateUser>(r#"{"email":"a@b","plan":"pro","x":1}"#).is_err()
        );
    }
}

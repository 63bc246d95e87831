//! The owners' API under `/api`.

use serde::{Deserialize, Serialize};

use crate::{AccountStatus, Plan, ProcessingPurpose};

/// `POST /api/session`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// A 6-digit TOTP code or a recovery code, when 2FA is on.
    #[serde(default)]
    pub totp: Option<String>,
}

/// The signed-in account, answered by `POST /api/session` and `GET /api/session`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    /// The name the owner chose to be shown by; `None` until they set one.
    pub display_name: Option<String>,
    pub plan: Plan,
    pub quota_bytes: u64,
    pub used_bytes: u64,
    pub totp_enabled: bool,
    /// Whether uploads are analysed (the owner's setting, or the plan's default).
    pub analysis: bool,
    pub status: AccountStatus,
    /// The purposes the owner objected to; all of them is a restriction of processing.
    pub objections: Vec<ProcessingPurpose>,
    /// Whether processing is restricted (every purpose objected to).
    pub restricted: bool,
    /// The new address of an e-mail change waiting for its confirmation link, until it expires.
    pub pending_email: Option<PendingEmail>,
    /// The id of the session this request used.
    pub session_id: String,
}

/// An e-mail change started and not yet confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEmail {
    pub email: String,
    /// When its link stops working (Unix ms).
    pub expires_at: i64,
}

/// `PUT /api/account/name`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayName {
    /// Up to 80 characters; empty clears it.
    pub display_name: String,
}

/// `POST /api/account/email`: starts an e-mail change, confirmed by a link sent to the new
/// address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
    pub password: String,
    #[serde(default)]
    pub totp: Option<String>,
}

/// `POST /api/account/email/confirm`: the token of the link sent to the new address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfirm {
    pub token: String,
}

/// Answer of `POST /api/account/email/confirm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailChanged {
    /// The address to sign in with from now on.
    pub email: String,
}

/// `PUT /api/account/restriction`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    pub restricted: bool,
}

/// `PUT /api/account/objections/{purpose}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objection {
    pub objected: bool,
}

/// One record of `GET /api/account/accessed`: something done with the owner's data by someone
/// other than the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessView {
    /// The audit record's sequence number (pass as `before` for older ones).
    pub seq: u64,
    pub at: i64,
    /// `admin`, `system`, `worker`, `recipient` or `anonymous`.
    pub actor_kind: String,
    /// The actor as the audit log names it (e.g. `recipient:<id>`, `admin`).
    pub actor: String,
    pub action: String,
    pub object: Option<String>,
    pub detail: Option<String>,
}

/// One of the caller's sessions, `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Keyed hash of the client's IP under that day's salt; never the address itself.
    pub client: Option<String>,
    pub current: bool,
}

/// A track as the library API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackView {
    pub id: String,
    pub name: String,
    pub original_filename: String,
    pub container: String,
    pub codec: String,
    pub mime_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub duration_secs: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub bits_per_sample: Option<u32>,
    pub created_at: i64,
    pub updated_at: i64,
    pub analysis: AnalysisView,
    pub tempo: Option<TempoView>,
    pub key: Option<KeyView>,
    pub loudness: Option<LoudnessView>,
    /// Set on a stem: the track it was separated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem_of: Option<StemOfView>,
    /// Stems separated from this track.
    #[serde(default)]
    pub stem_count: u32,
    /// Which version of its track this is, when it has more than one or came in as a new
    /// version (`version_of` on upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionOfView>,
    /// The library folder it is in (files sent through an upload link arrive in one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
}

/// A track's place among its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionOfView {
    /// The first version's id: every version of a track names it.
    pub family: String,
    /// 1, 2, 3…
    pub number: u32,
    /// Versions of the track in all.
    pub count: u32,
    /// Whether this is the newest version.
    pub latest: bool,
}

/// What makes a track a stem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemOfView {
    /// The track it was separated from.
    pub parent: String,
    /// `vocals`, `drums`, `bass` or `other`.
    pub stem: String,
    /// A draft split (the built-in DSP split), labelled so.
    pub draft: bool,
    pub backend: String,
    pub model: String,
}

/// `GET /api/tracks/{id}/stems`: the track's stems and where their separation stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemsView {
    /// `none`, `queued`, `running`, `failed` or `done`.
    pub state: String,
    /// 0 to 1 while running.
    pub progress: f32,
    /// The worker running it, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub stems: Vec<TrackView>,
    /// Whether the owner's plan may separate stems; `unavailable` says why not.
    pub available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// Where a track's analysis stands: `pending`, `done`, `failed` (with a reason) or `off`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisView {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TempoView {
    /// Beats per minute, one decimal.
    pub bpm: f64,
    /// 0 to 1.
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    /// e.g. `A minor`, `F# major`.
    pub name: String,
    /// Camelot wheel notation, e.g. `8A`.
    pub camelot: String,
    pub confidence: f64,
}

/// EBU R128 / ITU-R BS.1770-4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoudnessView {
    pub integrated_lufs: Option<f64>,
    pub range_lu: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
}

/// `PATCH /api/account/settings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Analyse uploads for tempo, key, loudness and waveform.
    pub analysis: bool,
}

/// `GET /api/tracks`: one page of the caller's library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPage {
    pub items: Vec<TrackView>,
    pub total: u64,
    /// Pass as `offset` to get the next page; absent on the last page.
    pub next_offset: Option<u64>,
}

/// `PATCH /api/tracks/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameTrack {
    pub name: String,
}

/// `POST /api/account/password`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
    /// The second factor's code, when two-factor sign-in is on.
    #[serde(default)]
    pub totp: Option<String>,
}

/// Re-authentication for sensitive account changes (TOTP setup and removal, deletion).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reauth {
    pub password: String,
    #[serde(default)]
    pub totp: Option<String>,
}

/// `POST /api/account/totp/setup`: a secret to enrol in an authenticator app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotpSetup {
    /// Base32 secret, for typing in by hand.
    pub secret: String,
    /// `otpauth://` URL, for a QR code.
    pub otpauth_url: String,
    /// The same URL as a QR code: an SVG document rendered on the appliance.
    pub qr_svg: String,
}

/// `POST /api/account/totp/enable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    pub code: String,
}

/// Answer of `POST /api/account/totp/enable`: recovery codes, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Answer of `POST /api/account/delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionScheduled {
    pub purge_after: i64,
}

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// `POST /api/shares`: a playlist for named recipients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    #[serde(default)]
    pub title: Option<String>,
    /// Track ids, in playlist order.
    pub tracks: Vec<String>,
    pub recipients: Vec<RecipientInput>,
    /// Unix ms; the appliance's default expiry when absent.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub password: Option<String>,
    /// Whether recipients may download; otherwise the share is stream-only.
    #[serde(default)]
    pub allow_download: bool,
    /// Plays per recipient.
    #[serde(default)]
    pub play_limit: Option<u32>,
    /// Downloads per recipient.
    #[serde(default)]
    pub download_limit: Option<u32>,
    /// Whether each track follows its newest version (true when absent) or stays pinned to
    /// the version named.
    #[serde(default)]
    pub follow_latest: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientInput {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// `PATCH /api/shares/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateShare {
    /// Unix ms.
    pub expires_at: i64,
}

/// A share as the owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareView {
    pub id: String,
    pub title: String,
    pub tracks: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    pub password: bool,
    pub allow_download: bool,
    pub play_limit: Option<u32>,
    pub download_limit: Option<u32>,
    /// Whether each recipient gets an own watermarked copy.
    pub watermark: bool,
    /// Whether the tracks follow their newest versions.
    pub follow_latest: bool,
    pub revoked_at: Option<i64>,
    pub recipients: Vec<RecipientView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// The recipient's own link, a path on this appliance (`/s/…`).
    pub link: String,
    pub revoked_at: Option<i64>,
    pub plays: u32,
    pub downloads: u32,
    /// When each track was opened, played, downloaded, or its copy made; newest last.
    pub events: Vec<RecipientEventView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientEventView {
    pub at: i64,
    /// `opened`, `played`, `downloaded` or `copy_issued`.
    pub kind: String,
    pub track: Option<String>,
}

/// What a leak trace found: `POST /api/leaks/trace` and the admin's `GET /v1/leaks/{payload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    pub found: bool,
    /// The watermark payload read from the file (16 hex digits), if any.
    pub payload: Option<String>,
    /// Set on the admin socket only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    pub share: Option<TracedShare>,
    pub recipient: Option<RecipientView>,
    /// Each copy issued to that recipient, oldest first, including copies since removed (with
    /// their track, or a retention after the share ended).
    pub copies: Vec<TracedCopy>,
    /// Other recipients whose copies the file carries too (copies averaged or spliced
    /// together), named by scoring the file's soft code bits against every candidate;
    /// strongest first.
    pub suspects: Vec<Suspect>,
    /// The score above which a candidate is named: at most one innocent in a million.
    pub threshold: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    pub share: TracedShare,
    pub recipient: RecipientView,
    /// Standard deviations above chance.
    pub score: f64,
}

/// The admin's `POST /v1/leaks/trace`: what the CLI read from a suspect file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// The decoded payload, 16 hex digits.
    #[serde(default)]
    pub payload: Option<String>,
    /// The soft code bits at the best sync position, for collusion scoring.
    #[serde(default)]
    pub soft_bits: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedShare {
    pub id: String,
    pub title: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedCopy {
    pub track: String,
    pub name: String,
    pub issued_at: i64,
}

/// A breach notice the signed-in owner has not dismissed (`GET /api/notices`): the same text
/// as the mail, shown as a banner until `POST /api/notices/{id}/dismiss`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreachNotice {
    /// The incident's id.
    pub id: String,
    pub sent_at: i64,
    pub what_happened: String,
    pub data_affected: String,
    pub containment: String,
    pub user_action: String,
    pub contact: String,
}

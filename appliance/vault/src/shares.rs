//! Shares: an owner's playlist for named recipients, each with an own link, an own watermark
//! and an own record of what they opened, played and downloaded.
//!
//! A recipient never signs in. Their link carries the recipient id and an HMAC tag under the
//! appliance's link key; [`Vault::open_link`] checks the tag and the share's state and only then
//! builds a [`RecipientGrant`], the recipient-side twin of an [`OwnerScope`]: the only way to
//! the shared tracks. Media is fetched through short-lived signed URLs ([`MediaUrl`]) bound to
//! the method, the track, the recipient and an expiry; download URLs are single-use.
//!
//! Invariant: for a share with `watermark` set, [`Vault::open_media`] serves only the
//! recipient's rendered copy and answers [`VaultError::NotReady`] until it exists, so no
//! unmarked byte of such a share reaches a recipient.

use rand::RngCore;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use studiovault_api::Plan;
use subtle::ConstantTimeEq;

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::blob::{BlobAccess, BlobReader, BlobWriter};
use crate::error::{Result, VaultError};
use crate::ids::{BlobId, RecipientId, ShareId, TrackId, UserId};
use crate::library::versions::{family_members, family_of};
use crate::library::{TrackRecord, find_track};
use crate::records::{BlobRecord, get_user, put_blob, read_tenant_key, remove_blob, tenant_key};
use crate::scope::OwnerScope;
use crate::store::{
    RECIPIENTS, RENDERS, SHARES, SPENT_NONCES, TENANT_KEYS, TRACKS, USERS, WATERMARK_PAYLOADS,
    decode, encode,
};
use crate::users::{audit_failure, link_password_hash, password_matches};
use crate::{ClientInfo, Vault};

const MS_PER_DAY: i64 = 86_400_000;
pub const MAX_TRACKS: usize = 100;
pub const MAX_RECIPIENTS: usize = 50;
const MAX_TITLE_CHARS: usize = 200;
const MAX_NAME_CHARS: usize = 100;
/// Per recipient, the newest events are kept; counters keep the totals.
const MAX_EVENTS: usize = 500;
/// Copies a recipient's record remembers: one per track of the share, and a new one only when
/// an expired copy is made again, so the bound is never met in practice.
const MAX_COPIES_ISSUED: usize = 1000;
/// A play URL serves the browser's Range requests for this long.
pub const PLAY_URL_SECS: i64 = 15 * 60;
/// How long after a play that counted its player may fetch fresh URLs for it (a recipient who
/// paused for longer than a play URL lives) without counting another.
pub const PLAY_RESUME_SECS: i64 = 2 * 3600;
/// A download URL must be followed at once, and only once.
pub const DOWNLOAD_URL_SECS: i64 = 60;
/// An unlocked password page stays unlocked this long (at most until the share expires).
const UNLOCK_SECS: i64 = 12 * 3600;
/// Page opens are logged (event and audit record) at most once per recipient in this long.
const OPEN_LOG_SECS: i64 = 3600;

/// The rules shares follow, from the server's config.
#[derive(Debug, Clone)]
pub struct SharePolicy {
    pub default_expiry_days: i64,
    pub max_expiry_days: i64,
    /// Plans whose shares carry a per-recipient watermark.
    pub watermark_plans: Vec<Plan>,
}

impl Default for SharePolicy {
    fn default() -> Self {
        Self {
            default_expiry_days: 14,
            max_expiry_days: 90,
            watermark_plans: vec![Plan::Max],
        }
    }
}

/// What an owner asks for.
#[derive(Debug, Clone, Default)]
pub struct NewShare {
    pub title: String,
    pub tracks: Vec<TrackId>,
    pub recipients: Vec<NewRecipient>,
    /// Defaults to the policy's default expiry.
    pub expires_at_ms: Option<i64>,
    pub password: Option<String>,
    pub allow_download: bool,
    pub play_limit: Option<u32>,
    pub download_limit: Option<u32>,
    /// Each track follows its newest version; otherwise the share stays on the versions named.
    pub follow_latest: bool,
}

#[derive(Debug, Clone, Default)]
pub struct NewRecipient {
    pub name: String,
    pub email: Option<String>,
}

/// A share as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct ShareRecord {
    pub id: ShareId,
    pub owner: UserId,
    pub title: String,
    pub tracks: Vec<TrackId>,
    pub recipients: Vec<RecipientId>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    password_hash: Option<String>,
    pub allow_download: bool,
    /// Plays per recipient.
    pub play_limit: Option<u32>,
    /// Downloads per recipient.
    pub download_limit: Option<u32>,
    pub watermark: bool,
    pub revoked_at_ms: Option<i64>,
    /// Each track follows its newest version (and the recipients may compare the earlier
    /// ones); shares made before versions existed stay on the tracks they name.
    #[serde(default)]
    pub follow_latest: bool,
}

impl std::fmt::Debug for ShareRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("tracks", &self.tracks.len())
            .field("expires_at_ms", &self.expires_at_ms)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .finish_non_exhaustive()
    }
}

impl ShareRecord {
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    fn is_live(&self, now: i64) -> bool {
        self.revoked_at_ms.is_none() && now < self.expires_at_ms
    }
}

/// What a recipient did, newest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientEventKind {
    Opened,
    Played,
    Downloaded,
    /// Their watermarked copy of a track was made.
    CopyIssued,
}

/// A marked copy made for a recipient: what a leak trace lists. It outlives the copy itself
/// (expired after its share ended, dropped with its track), since a leak may come long after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCopy {
    pub track: TrackId,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientEvent {
    pub at_ms: i64,
    pub kind: RecipientEventKind,
    pub track: Option<TrackId>,
}

/// A recipient as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipientRecord {
    pub id: RecipientId,
    pub share: ShareId,
    pub owner: UserId,
    pub name: String,
    pub email: Option<String>,
    /// The watermark payload of this recipient's copies.
    pub payload: u64,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub plays: u32,
    pub downloads: u32,
    pub events: Vec<RecipientEvent>,
    /// Every copy made for this recipient, oldest first: the events are bounded and pushed
    /// out by plays, these are not. Records from before it have none; their copies still
    /// kept are found in `renders`.
    #[serde(default)]
    pub copies_issued: Vec<IssuedCopy>,
    /// When a page open was last logged.
    #[serde(default)]
    open_logged_at_ms: Option<i64>,
    /// When the last play that counted against the limit began: comparing versions continues
    /// that play for a play URL's life from then, however often the recipient switches.
    #[serde(default)]
    counted_play_at_ms: Option<i64>,
}

impl RecipientRecord {
    fn record(&mut self, at_ms: i64, kind: RecipientEventKind, track: Option<TrackId>) {
        self.events.push(RecipientEvent { at_ms, kind, track });
        if self.events.len() > MAX_EVENTS {
            let excess = self.events.len() - MAX_EVENTS;
            self.events.drain(..excess);
        }
    }

    /// Notes a copy made for this recipient, in its events and its issued copies.
    fn note_copy_issued(&mut self, at_ms: i64, track: TrackId) {
        self.record(at_ms, RecipientEventKind::CopyIssued, Some(track));
        self.copies_issued.push(IssuedCopy { track, at_ms });
        if self.copies_issued.len() > MAX_COPIES_ISSUED {
            let excess = self.copies_issued.len() - MAX_COPIES_ISSUED;
            self.copies_issued.drain(..excess);
        }
    }

    /// Notes a page open; answers whether it is logged. At most one an hour, so whoever holds
    /// the link cannot grow the audit log without bound nor push the downloads and copies out of
    /// the bounded event list by reloading the page.
    fn note_open(&mut self, now: i64) -> bool {
        if self
            .open_logged_at_ms
            .is_some_and(|at| now - at < OPEN_LOG_SECS * 1000)
        {
            return false;
        }
        self.open_logged_at_ms = Some(now);
        self.record(now, RecipientEventKind::Opened, None);
        true
    }
}

/// A recipient's watermarked copy of one track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderRecord {
    pub blob: BlobId,
    pub len: u64,
    pub sha256: String,
    pub mime_type: String,
    /// File name offered on download.
    pub filename: String,
    pub created_at_ms: i64,
}

/// What a media URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Play,
    Download,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Play => "play",
            Self::Download => "download",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "play" => Some(Self::Play),
            "download" => Some(Self::Download),
            _ => None,
        }
    }
}

/// A signed media URL's parts. Its path and query are built by [`MediaUrl::path_and_query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUrl {
    pub recipient: RecipientId,
    pub track: TrackId,
    pub kind: MediaKind,
    /// Unix seconds.
    pub expires: i64,
    /// 16 random bytes, hex.
    pub nonce: String,
    /// HMAC-SHA256, hex.
    pub signature: String,
}

impl MediaUrl {
    pub fn path_and_query(&self) -> String {
        format!(
            "/m/{}/{}/{}?e={}&n={}&s={}",
            self.recipient,
            self.track,
            self.kind.as_str(),
            self.expires,
            self.nonce,
            self.signature
        )
    }
}

/// Where the bytes a recipient receives come from.
#[derive(Debug)]
pub struct MediaSource {
    pub reader: BlobReader,
    pub len: u64,
    pub mime_type: String,
    pub filename: String,
    /// A strong validator for Range requests.
    pub etag: String,
}

/// Proof that a request comes through a recipient's valid link. Built only by
/// [`Vault::open_link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientGrant {
    owner: UserId,
    share: ShareId,
    recipient: RecipientId,
}

/// What the portal shows: the share, the recipient, and the tracks in the share's order.
#[derive(Debug, Clone)]
pub struct PortalView {
    pub share: ShareRecord,
    pub recipient: RecipientRecord,
    /// The version of each entry played first: the newest when the share follows versions.
    pub tracks: Vec<TrackRecord>,
    /// Each entry's versions the recipient may play, oldest first (one when pinned).
    pub versions: Vec<Vec<TrackRecord>>,
    /// Which versions already have this recipient's copy.
    pub rendered: Vec<TrackId>,
}

impl PortalView {
    /// Every version the recipient may play, entry by entry.
    pub fn every_version(&self) -> impl Iterator<Item = &TrackRecord> {
        self.versions.iter().flatten()
    }
}

/// The owner's view of one share.
#[derive(Debug, Clone)]
pub struct ShareDetail {
    pub share: ShareRecord,
    pub recipients: Vec<(RecipientRecord, String)>,
}

/// Everything a leak trace found.
#[derive(Debug, Clone)]
pub struct TraceReport {
    pub payload: u64,
    pub owner: UserId,
    pub owner_email: String,
    pub share: ShareRecord,
    pub recipient: RecipientRecord,
    /// Each copy issued to the recipient: track, its name, when the copy was made.
    pub copies: Vec<(TrackId, String, i64)>,
}

/// What a leak trace read from a suspect file: the payload, if one decoded, and the candidate
/// payloads whose soft-bit score passed the accusation threshold, with their scores.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    pub payload: Option<u64>,
    pub suspects: Vec<(u64, f64)>,
}

/// What a leak trace found.
#[derive(Debug, Clone, Default)]
pub struct TraceOutcome {
    /// The recipient whose payload decoded.
    pub decoded: Option<TraceReport>,
    /// Recipients whose copies the file also carries (collusion), strongest first.
    pub suspects: Vec<(TraceReport, f64)>,
}

impl TraceOutcome {
    fn summary(&self) -> String {
        self.summary_for(None)
    }

    /// The owners whose shares the trace reached, the decoded recipient's first.
    fn owners(&self) -> Vec<UserId> {
        let mut owners = Vec::new();
        let reached = self
            .decoded
            .iter()
            .chain(self.suspects.iter().map(|(r, _)| r));
        for report in reached {
            if !owners.contains(&report.owner) {
                owners.push(report.owner);
            }
        }
        owners
    }

    /// What the trace found, among `owner`'s shares only when given: one owner's record does
    /// not name another's recipients.
    fn summary_for(&self, owner: Option<UserId>) -> String {
        let mine = |r: &TraceReport| owner.is_none_or(|o| r.owner == o);
        let mut parts: Vec<String> = self
            .decoded
            .iter()
            .filter(|r| mine(r))
            .map(|r| format!("share {} recipient {}", r.share.id, r.recipient.id))
            .collect();
        parts.extend(
            self.suspects
                .iter()
                .filter(|(r, _)| mine(r))
                .map(|(r, score)| {
                    format!("suspect recipient {} (score {score:.1})", r.recipient.id)
                }),
        );
        if parts.is_empty() {
            "no recipient".into()
        } else {
            parts.join("; ")
        }
    }
}

use crate::library::clean_text as clean;

/// `s` as lowercase hex of exactly `N` bytes, the only spelling this appliance writes: another
/// spelling of the same bytes is refused, so a signed URL or cookie has one form (found by the
/// `media_query` and `share_link` fuzz targets, which had an uppercase digit accepted).
pub(crate) fn canonical_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A decimal as this appliance writes it in signed URLs and cookies: digits only, no sign, no
/// leading zero.
pub fn canonical_decimal(s: &str) -> Option<i64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits && (s.len() == 1 || !s.starts_with('0')))
        .then(|| s.parse().ok())
        .flatten()
}

pub(crate) fn tag(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        ring::hmac::Context::with_key(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key));
    for part in parts {
        // Length-prefixed, so no two different part lists sign the same bytes.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(mac.sign().as_ref());
    out
}

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn random_payload(payloads: &impl ReadableTable<u64, u128>) -> Result<u64> {
    loop {
        let candidate = rand::rngs::OsRng.next_u64();
        // Zero is what an unmarked detector might read from silence; never hand it out.
        if candidate != 0 && payloads.get(candidate)?.is_none() {
            return Ok(candidate);
        }
    }
}

pub(crate) fn read_share(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    id: ShareId,
) -> Result<ShareRecord> {
    let row = table
        .get((owner.raw(), id.raw()))?
        .ok_or(VaultError::NotFound)?;
    decode("shares", row.value())
}

fn read_recipient(
    table: &impl ReadableTable<u128, &'static [u8]>,
    id: RecipientId,
) -> Result<RecipientRecord> {
    let row = table.get(id.raw())?.ok_or(VaultError::NotFound)?;
    decode("recipients", row.value())
}

/// The recipient's share, if the share, the recipient and the share's owner are all live at
/// `now`; `NotFound` otherwise.
fn live_share(
    shares: &impl ReadableTable<(u128, u128), &'static [u8]>,
    users: &impl ReadableTable<u128, &'static [u8]>,
    recipient: &RecipientRecord,
    now: i64,
) -> Result<ShareRecord> {
    let share = read_share(shares, recipient.owner, recipient.share)?;
    let owner_active = get_user(users, recipient.owner)?.is_some_and(|u| u.is_active());
    if !share.is_live(now) || recipient.revoked_at_ms.is_some() || !owner_active {
        return Err(VaultError::NotFound);
    }
    Ok(share)
}

/// Writes a new recipient, or one read in this same transaction (see [`update_recipient`]).
fn put_recipient(txn: &WriteTransaction, rec: &RecipientRecord) -> Result<()> {
    txn.open_table(RECIPIENTS)?
        .insert(rec.id.raw(), encode(rec).as_slice())?;
    Ok(())
}

/// Reads a recipient, lets `change` check and edit it, and writes it back, all inside `txn`:
/// every change to a stored recipient goes through here, so a copy read in an earlier
/// transaction (before a revocation, or before another request counted a play or download)
/// is never written back over a newer one.
fn update_recipient<T>(
    txn: &WriteTransaction,
    id: RecipientId,
    change: impl FnOnce(&mut RecipientRecord) -> Result<T>,
) -> Result<T> {
    let mut rec = read_recipient(&txn.open_table(RECIPIENTS)?, id)?;
    let out = change(&mut rec)?;
    put_recipient(txn, &rec)?;
    Ok(out)
}

/// [`update_recipient`] for the recipient's own requests: `NotFound` unless the recipient, its
/// share and the owner are live at `now`, as read inside `txn`.
fn update_live_recipient<T>(
    txn: &WriteTransaction,
    id: RecipientId,
    now: i64,
    change: impl FnOnce(&ShareRecord, &mut RecipientRecord) -> Result<T>,
) -> Result<T> {
    update_recipient(txn, id, |rec| {
        let share = live_share(&txn.open_table(SHARES)?, &txn.open_table(USERS)?, rec, now)?;
        change(&share, rec)
    })
}

/// Whether `share` grants `track`: a track it names or, when it follows versions, any version
/// of one.
fn grants_track(
    tracks: &impl ReadableTable<(u128, u128), &'static [u8]>,
    share: &ShareRecord,
    track: TrackId,
) -> Result<bool> {
    if share.tracks.contains(&track) {
        return Ok(true);
    }
    if !share.follow_latest {
        return Ok(false);
    }
    let Some(rec) = find_track(tracks, share.owner, track)? else {
        return Ok(false);
    };
    let family = family_of(&rec);
    for named in &share.tracks {
        let named_family = find_track(tracks, share.owner, *named)?
            .as_ref()
            .map_or(*named, family_of);
        if named_family == family {
            return Ok(true);
        }
    }
    Ok(false)
}

/// [`grants_track`] inside a write transaction.
pub(crate) fn share_grants(
    txn: &WriteTransaction,
    share: &ShareRecord,
    track: TrackId,
) -> Result<bool> {
    grants_track(&txn.open_table(TRACKS)?, share, track)
}

/// The recipient and its share, if both and the owner are live at `now` (read in `txn`).
pub(crate) fn live_recipient(
    txn: &WriteTransaction,
    id: RecipientId,
    now: i64,
) -> Result<(RecipientRecord, ShareRecord)> {
    let rec = read_recipient(&txn.open_table(RECIPIENTS)?, id)?;
    let share = live_share(&txn.open_table(SHARES)?, &txn.open_table(USERS)?, &rec, now)?;
    Ok((rec, share))
}

/// The versions a share's entry `named` offers, oldest first: the family when the share
/// follows versions, else the track alone (none when it is gone).
fn entry_versions(
    tracks: &impl ReadableTable<(u128, u128), &'static [u8]>,
    share: &ShareRecord,
    named: TrackId,
) -> Result<Vec<TrackRecord>> {
    match find_track(tracks, share.owner, named)? {
        // Pinned, or a track without versions (a stem has none): the track alone.
        Some(rec) if !share.follow_latest || rec.version.is_none() => Ok(vec![rec]),
        Some(rec) => family_members(tracks, share.owner, family_of(&rec)),
        // The named version is gone: the rest of its family, when the share follows it.
        None if share.follow_latest => family_members(tracks, share.owner, named),
        None => Ok(Vec::new()),
    }
}

/// The tracks of which `recipient` holds a rendered copy.
fn rendered_tracks(
    renders: &impl ReadableTable<(u128, u128), &'static [u8]>,
    recipient: RecipientId,
) -> Result<Vec<TrackId>> {
    renders
        .range((recipient.raw(), 0)..=(recipient.raw(), u128::MAX))?
        .map(|r| {
            r.map(|(k, _)| TrackId::from_raw(k.value().1))
                .map_err(Into::into)
        })
        .collect()
}

fn put_share(txn: &WriteTransaction, share: &ShareRecord) -> Result<()> {
    txn.open_table(SHARES)?.insert(
        (share.owner.raw(), share.id.raw()),
        encode(share).as_slice(),
    )?;
    Ok(())
}

mod copies;
mod grants;
mod leaks;
mod links;
mod media;
mod owner;

pub(crate) use copies::remove_ended_copies_in;
pub use owner::Shares;
pub(crate) use owner::{purge_owner, remove_track_in};

mod copy_jobs;
pub use copy_jobs::CopyState;

#[cfg(test)]
mod tests;

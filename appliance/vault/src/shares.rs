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
use crate::library::TrackRecord;
use crate::records::{BlobRecord, get_user, put_blob, read_tenant_key, remove_blob, tenant_key};
use crate::scope::OwnerScope;
use crate::store::{
    RECIPIENTS, RENDERS, SHARES, SPENT_NONCES, TENANT_KEYS, TRACKS, USERS, WATERMARK_PAYLOADS,
    decode, encode,
};
use crate::users::{audit_failure, hash_password, password_matches};
use crate::{ClientInfo, Vault};

const MS_PER_DAY: i64 = 86_400_000;
pub const MAX_TRACKS: usize = 100;
pub const MAX_RECIPIENTS: usize = 50;
const MAX_TITLE_CHARS: usize = 200;
const MAX_NAME_CHARS: usize = 100;
const MAX_PASSWORD_BYTES: usize = 72;
/// Per recipient, the newest events are kept; counters keep the totals.
const MAX_EVENTS: usize = 500;
/// A play URL serves the browser's Range requests for this long.
pub const PLAY_URL_SECS: i64 = 15 * 60;
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
    /// When a page open was last logged.
    #[serde(default)]
    open_logged_at_ms: Option<i64>,
}

impl RecipientRecord {
    fn record(&mut self, at_ms: i64, kind: RecipientEventKind, track: Option<TrackId>) {
        self.events.push(RecipientEvent { at_ms, kind, track });
        if self.events.len() > MAX_EVENTS {
            let excess = self.events.len() - MAX_EVENTS;
            self.events.drain(..excess);
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
    pub tracks: Vec<TrackRecord>,
    /// Which tracks already have this recipient's copy.
    pub rendered: Vec<TrackId>,
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
        let mut parts: Vec<String> = self
            .decoded
            .iter()
            .map(|r| format!("share {} recipient {}", r.share.id, r.recipient.id))
            .collect();
        parts.extend(
            self.suspects.iter().map(|(r, score)| {
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

fn clean(raw: &str, max: usize) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(max)
        .collect()
}

fn tag(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
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

fn b64() -> base64::engine::GeneralPurpose {
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

fn read_share(
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

fn put_share(txn: &WriteTransaction, share: &ShareRecord) -> Result<()> {
    txn.open_table(SHARES)?.insert(
        (share.owner.raw(), share.id.raw()),
        encode(share).as_slice(),
    )?;
    Ok(())
}

impl Vault {
    fn link_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.master().share_link_key()
    }

    /// The recipient's link token: their id and a 128-bit tag, so it can be shown to the owner
    /// again without being stored.
    pub fn link_token(&self, recipient: RecipientId) -> String {
        let t = tag(&self.link_key(), &[b"link", &recipient.to_bytes()]);
        let mut raw = recipient.to_bytes().to_vec();
        raw.extend_from_slice(&t[..16]);
        base64::Engine::encode(&b64(), raw)
    }

    /// Checks a link token and the state of its share; `NotFound` whether the link is
    /// malformed, forged, unknown, revoked or expired, so the answer says nothing about which.
    pub fn open_link(&self, token: &str) -> Result<RecipientGrant> {
        let raw = base64::Engine::decode(&b64(), token.as_bytes()).unwrap_or_default();
        if raw.len() != 32 {
            return Err(VaultError::NotFound);
        }
        let id_bytes: [u8; 16] = raw[..16].try_into().map_err(|_| VaultError::NotFound)?;
        let recipient = RecipientId::from_raw(u128::from_be_bytes(id_bytes));
        let expected = tag(&self.link_key(), &[b"link", &id_bytes]);
        if !bool::from(expected[..16].ct_eq(&raw[16..])) {
            return Err(VaultError::NotFound);
        }
        let grant = {
            let txn = self.db().begin_read()?;
            let rec = read_recipient(&txn.open_table(RECIPIENTS)?, recipient)?;
            RecipientGrant {
                owner: rec.owner,
                share: rec.share,
                recipient,
            }
        };
        grant.live_state(self)?;
        Ok(grant)
    }

    /// Checks a signed media URL and opens what it grants. Every failure is `Forbidden`, with
    /// no hint which check failed. A download URL is spent by this call, in the same
    /// transaction that counts the download.
    pub fn open_media(
        &self,
        url: &MediaUrl,
        method: &str,
        client: &ClientInfo,
    ) -> Result<(TrackRecord, MediaSource)> {
        let forbidden = || VaultError::Forbidden("this media link is invalid, spent or expired");
        let nonce: [u8; 16] = hex::decode(&url.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(forbidden)?;
        let signature: [u8; 32] = hex::decode(&url.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(forbidden)?;
        let expected = self.media_signature(
            method,
            url.kind,
            url.recipient,
            url.track,
            url.expires,
            &nonce,
        );
        if !bool::from(expected.ct_eq(&signature)) {
            return Err(forbidden());
        }
        let now = self.now_ms();
        if url.expires.saturating_mul(1000) <= now {
            return Err(forbidden());
        }
        // Only a download changes anything: a play URL is checked and served unrecorded here
        // (its play was counted when it was signed).
        self.audited_if_changed(Some(client), |txn, now| {
            let (recipient, share) = {
                let recipient = read_recipient(&txn.open_table(RECIPIENTS)?, url.recipient)
                    .map_err(|_| forbidden())?;
                let share = live_share(
                    &txn.open_table(SHARES)?,
                    &txn.open_table(USERS)?,
                    &recipient,
                    now,
                )
                .map_err(|_| forbidden())?;
                (recipient, share)
            };
            if !share.tracks.contains(&url.track) {
                return Err(forbidden());
            }
            let owner = share.owner;
            let track: TrackRecord = {
                let tracks = txn.open_table(TRACKS)?;
                let row = tracks
                    .get((owner.raw(), url.track.raw()))?
                    .ok_or_else(forbidden)?;
                decode("tracks", row.value())?
            };
            let mut download = None;
            if url.kind == MediaKind::Download {
                if !share.allow_download {
                    return Err(forbidden());
                }
                update_recipient(txn, recipient.id, |rec| {
                    if share
                        .download_limit
                        .is_some_and(|limit| rec.downloads >= limit)
                    {
                        return Err(VaultError::LimitReached("downloads"));
                    }
                    rec.downloads += 1;
                    rec.record(now, RecipientEventKind::Downloaded, Some(url.track));
                    Ok(())
                })?;
                let mut spent = txn.open_table(SPENT_NONCES)?;
                if spent.get(nonce)?.is_some() {
                    return Err(forbidden());
                }
                spent.insert(nonce, url.expires.saturating_mul(1000))?;
                download = Some(
                    AuditEvent::new(
                        Actor::Recipient(recipient.id),
                        Some(owner),
                        AuditAction::ShareDownload,
                    )
                    .object(format!("track/{}", url.track))
                    .detail(format!("share {} recipient {}", share.id, recipient.id)),
                );
            }
            let key = tenant_key(self, &txn.open_table(TENANT_KEYS)?, owner)?;
            let render: Option<RenderRecord> = txn
                .open_table(RENDERS)?
                .get((recipient.id.raw(), url.track.raw()))?
                .map(|v| decode("renders", v.value()))
                .transpose()?;
            let source = match (share.watermark, render) {
                (true, None) => return Err(VaultError::NotReady),
                (true, Some(r)) => MediaSource {
                    reader: BlobReader::open(
                        &self.blob_path(owner, r.blob),
                        r.blob,
                        key.blob_cipher(r.blob),
                        r.len,
                    )?,
                    len: r.len,
                    mime_type: r.mime_type,
                    filename: r.filename,
                    etag: format!("\"{}\"", r.sha256),
                },
                (false, _) => MediaSource {
                    reader: BlobReader::open(
                        &self.blob_path(owner, track.blob),
                        track.blob,
                        key.blob_cipher(track.blob),
                        track.size_bytes,
                    )?,
                    len: track.size_bytes,
                    mime_type: track.info.mime_type.clone(),
                    filename: track.info.original_filename.clone(),
                    etag: format!("\"{}\"", track.sha256),
                },
            };
            Ok(((track, source), download))
        })
    }

    fn media_signature(
        &self,
        method: &str,
        kind: MediaKind,
        recipient: RecipientId,
        track: TrackId,
        expires: i64,
        nonce: &[u8; 16],
    ) -> [u8; 32] {
        tag(
            &self.link_key(),
            &[
                b"media",
                method.as_bytes(),
                kind.as_str().as_bytes(),
                &recipient.to_bytes(),
                &track.to_bytes(),
                &expires.to_be_bytes(),
                nonce,
            ],
        )
    }

    /// Forgets spent download nonces whose URLs have expired anyway; answers how many.
    pub fn sweep_spent_nonces(&self) -> Result<u64> {
        let now = self.now_ms();
        let txn = self.db().begin_write()?;
        let removed = {
            let mut table = txn.open_table(SPENT_NONCES)?;
            let old: Vec<[u8; 16]> = table
                .iter()?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| v.value() <= now)
                .map(|(k, _)| k.value())
                .collect();
            for n in &old {
                table.remove(n)?;
            }
            old.len() as u64
        };
        txn.commit()?;
        Ok(removed)
    }

    /// A leak trace across every owner (the admin's). Audited.
    pub fn trace_any(&self, query: &TraceQuery, actor_note: &str) -> Result<TraceOutcome> {
        let outcome = self.trace_outcome(query, None)?;
        self.audit_only(
            None,
            AuditEvent::new(
                Actor::Admin,
                outcome.decoded.as_ref().map(|r| r.owner),
                AuditAction::LeakTrace,
            )
            .object(
                query
                    .payload
                    .map_or("watermark/none".into(), |p| format!("watermark/{p:016x}")),
            )
            .detail(format!("{actor_note}: {}", outcome.summary())),
        )?;
        Ok(outcome)
    }

    /// Payloads of every recipient of a watermarking share (of `owner` only, when given): the
    /// candidates a suspect copy's soft bits are scored against.
    fn watermark_candidates(&self, owner: Option<UserId>) -> Result<Vec<u64>> {
        let txn = self.db().begin_read()?;
        let shares = txn.open_table(SHARES)?;
        let recipients = txn.open_table(RECIPIENTS)?;
        let mut out = Vec::new();
        let range = match owner {
            Some(o) => (o.raw(), 0)..=(o.raw(), u128::MAX),
            None => (0, 0)..=(u128::MAX, u128::MAX),
        };
        for row in shares.range(range)? {
            let share: ShareRecord = decode("shares", row?.1.value())?;
            if share.watermark {
                for r in &share.recipients {
                    out.push(read_recipient(&recipients, *r)?.payload);
                }
            }
        }
        Ok(out)
    }

    /// Every candidate across owners, for the admin's trace.
    pub fn watermark_candidates_any(&self) -> Result<Vec<u64>> {
        self.watermark_candidates(None)
    }

    fn trace_outcome(
        &self,
        query: &TraceQuery,
        only_owner: Option<UserId>,
    ) -> Result<TraceOutcome> {
        let decoded = match query.payload {
            Some(p) => self.report_for(p, only_owner)?,
            None => None,
        };
        let mut suspects = Vec::new();
        for (payload, score) in &query.suspects {
            if Some(*payload) == query.payload {
                continue;
            }
            if let Some(report) = self.report_for(*payload, only_owner)? {
                suspects.push((report, *score));
            }
        }
        suspects.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(TraceOutcome { decoded, suspects })
    }

    fn report_for(&self, payload: u64, only_owner: Option<UserId>) -> Result<Option<TraceReport>> {
        let txn = self.db().begin_read()?;
        let Some(recipient) = txn
            .open_table(WATERMARK_PAYLOADS)?
            .get(payload)?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let recipient = read_recipient(
            &txn.open_table(RECIPIENTS)?,
            RecipientId::from_raw(recipient),
        )?;
        if only_owner.is_some_and(|o| o != recipient.owner) {
            return Ok(None);
        }
        let share = read_share(&txn.open_table(SHARES)?, recipient.owner, recipient.share)?;
        let owner_email = get_user(&txn.open_table(USERS)?, recipient.owner)?
            .map(|u| u.email)
            .unwrap_or_default();
        let renders = txn.open_table(RENDERS)?;
        let tracks = txn.open_table(TRACKS)?;
        let mut copies = Vec::new();
        for track in &share.tracks {
            if let Some(r) = renders.get((recipient.id.raw(), track.raw()))? {
                let render: RenderRecord = decode("renders", r.value())?;
                let name = match tracks.get((recipient.owner.raw(), track.raw()))? {
                    Some(t) => decode::<TrackRecord>("tracks", t.value())?.info.name,
                    None => "(deleted track)".into(),
                };
                copies.push((*track, name, render.created_at_ms));
            }
        }
        Ok(Some(TraceReport {
            payload,
            owner: recipient.owner,
            owner_email,
            share,
            recipient,
            copies,
        }))
    }
}

impl RecipientGrant {
    pub fn recipient(&self) -> RecipientId {
        self.recipient
    }

    pub fn share(&self) -> ShareId {
        self.share
    }

    /// The share and recipient, if both are still live.
    /// Read-only: what it answers must not be written back (see [`update_recipient`]).
    fn live_state(&self, vault: &Vault) -> Result<(ShareRecord, RecipientRecord)> {
        let txn = vault.db().begin_read()?;
        let recipient = read_recipient(&txn.open_table(RECIPIENTS)?, self.recipient)?;
        let share = live_share(
            &txn.open_table(SHARES)?,
            &txn.open_table(USERS)?,
            &recipient,
            vault.now_ms(),
        )?;
        Ok((share, recipient))
    }

    /// Whether the share asks for a password before anything is shown.
    pub fn needs_password(&self, vault: &Vault) -> Result<bool> {
        Ok(self.live_state(vault)?.0.has_password())
    }

    /// Checks the share's password and answers an unlock token for a cookie.
    pub fn unlock(&self, vault: &Vault, password: &str, client: &ClientInfo) -> Result<String> {
        let (share, _) = self.live_state(vault)?;
        let Some(hash) = &share.password_hash else {
            return Err(VaultError::invalid("password", "this share has none"));
        };
        if !password_matches(password, hash) {
            // Audited for the owner to see; a failure to write it does not change the answer.
            audit_failure(
                vault,
                client,
                AuditEvent::new(
                    Actor::Recipient(self.recipient),
                    Some(self.owner),
                    AuditAction::ShareUnlockFailed,
                )
                .object(format!("share/{}", self.share)),
            );
            return Err(VaultError::BadCredentials);
        }
        let expires = (vault.now_ms() / 1000 + UNLOCK_SECS).min(share.expires_at_ms / 1000);
        let t = tag(
            &vault.link_key(),
            &[
                b"unlock",
                &self.recipient.to_bytes(),
                &expires.to_be_bytes(),
            ],
        );
        Ok(format!("{expires}.{}", hex::encode(&t[..16])))
    }

    /// Whether an unlock token (from [`RecipientGrant::unlock`]) is valid for this recipient.
    pub fn is_unlocked(&self, vault: &Vault, token: Option<&str>) -> Result<bool> {
        if !self.needs_password(vault)? {
            return Ok(true);
        }
        let Some((expires, given)) = token.and_then(|t| t.split_once('.')) else {
            return Ok(false);
        };
        let (Ok(expires), Ok(given)) = (expires.parse::<i64>(), hex::decode(given)) else {
            return Ok(false);
        };
        let t = tag(
            &vault.link_key(),
            &[
                b"unlock",
                &self.recipient.to_bytes(),
                &expires.to_be_bytes(),
            ],
        );
        Ok(given.len() == 16
            && bool::from(t[..16].ct_eq(&given))
            && expires * 1000 > vault.now_ms())
    }

    /// The playlist as the portal shows it; records that the recipient opened it (at most once
    /// an hour).
    pub fn open(&self, vault: &Vault, client: &ClientInfo) -> Result<PortalView> {
        // Opens within the hour change nothing, and spare the commit.
        vault.audited_if_changed(Some(client), |txn, now| {
            let logged =
                update_live_recipient(txn, self.recipient, now, |_, rec| Ok(rec.note_open(now)))?;
            let event = logged.then(|| {
                AuditEvent::new(
                    Actor::Recipient(self.recipient),
                    Some(self.owner),
                    AuditAction::ShareOpen,
                )
                .object(format!("share/{}", self.share))
            });
            Ok(((), event))
        })?;
        self.view(vault)
    }

    /// The playlist without recording anything (for progress polling).
    pub fn view(&self, vault: &Vault) -> Result<PortalView> {
        let (share, recipient) = self.live_state(vault)?;
        let txn = vault.db().begin_read()?;
        let table = txn.open_table(TRACKS)?;
        let renders = txn.open_table(RENDERS)?;
        let mut tracks = Vec::new();
        let mut rendered = Vec::new();
        for id in &share.tracks {
            if let Some(row) = table.get((self.owner.raw(), id.raw()))? {
                tracks.push(decode::<TrackRecord>("tracks", row.value())?);
                if renders.get((self.recipient.raw(), id.raw()))?.is_some() {
                    rendered.push(*id);
                }
            }
        }
        Ok(PortalView {
            share,
            recipient,
            tracks,
            rendered,
        })
    }

    /// A signed URL for `track`. A play URL counts one play against the share's limit; a
    /// download URL is refused unless the share allows downloads and the limit is not reached.
    pub fn media_url(
        &self,
        vault: &Vault,
        track: TrackId,
        kind: MediaKind,
        client: &ClientInfo,
    ) -> Result<MediaUrl> {
        let share_expires_at_ms = match kind {
            MediaKind::Play => vault.audited(Some(client), |txn, now| {
                let share_expires =
                    update_live_recipient(txn, self.recipient, now, |share, rec| {
                        if !share.tracks.contains(&track) {
                            return Err(VaultError::NotFound);
                        }
                        if share.play_limit.is_some_and(|l| rec.plays >= l) {
                            return Err(VaultError::LimitReached("plays"));
                        }
                        rec.plays += 1;
                        rec.record(now, RecipientEventKind::Played, Some(track));
                        Ok(share.expires_at_ms)
                    })?;
                let event = AuditEvent::new(
                    Actor::Recipient(self.recipient),
                    Some(self.owner),
                    AuditAction::SharePlay,
                )
                .object(format!("track/{track}"))
                .detail(format!("share {}", self.share));
                Ok((share_expires, event))
            })?,
            // Only a courtesy check: open_media checks and counts again when the URL is used.
            MediaKind::Download => {
                let (share, recipient) = self.live_state(vault)?;
                if !share.tracks.contains(&track) {
                    return Err(VaultError::NotFound);
                }
                if !share.allow_download {
                    return Err(VaultError::Forbidden("this share is stream-only"));
                }
                if share
                    .download_limit
                    .is_some_and(|l| recipient.downloads >= l)
                {
                    return Err(VaultError::LimitReached("downloads"));
                }
                share.expires_at_ms
            }
        };
        let ttl = match kind {
            MediaKind::Play => PLAY_URL_SECS,
            MediaKind::Download => DOWNLOAD_URL_SECS,
        };
        let expires = (vault.now_ms() / 1000 + ttl).min(share_expires_at_ms / 1000);
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let signature = vault.media_signature("GET", kind, self.recipient, track, expires, &nonce);
        Ok(MediaUrl {
            recipient: self.recipient,
            track,
            kind,
            expires,
            nonce: hex::encode(nonce),
            signature: hex::encode(signature),
        })
    }

    /// The track's stored waveform peaks, if it is in this share and analysed.
    pub fn peaks(&self, vault: &Vault, track: TrackId) -> Result<Vec<u8>> {
        let (share, _) = self.live_state(vault)?;
        if !share.tracks.contains(&track) {
            return Err(VaultError::NotFound);
        }
        vault.library(&OwnerScope::new(self.owner)).peaks(track)
    }

    /// Whether this recipient's copies carry a watermark, with its payload.
    pub fn watermark_payload(&self, vault: &Vault) -> Result<Option<u64>> {
        let (share, recipient) = self.live_state(vault)?;
        Ok(share.watermark.then_some(recipient.payload))
    }

    /// The source track and access to its blob alone, to render this recipient's copy in
    /// another process. Only for shares that watermark: the source never reaches the
    /// recipient, only the rendered copy does.
    pub fn render_access(
        &self,
        vault: &Vault,
        track: TrackId,
    ) -> Result<(TrackRecord, BlobAccess)> {
        let (share, _) = self.live_state(vault)?;
        if !share.watermark || !share.tracks.contains(&track) {
            return Err(VaultError::NotFound);
        }
        let scope = OwnerScope::new(self.owner);
        let rec = vault.library(&scope).get(track)?;
        let key = read_tenant_key(vault, self.owner)?;
        let access = BlobAccess::new(
            vault.blob_path(self.owner, rec.blob),
            rec.blob,
            rec.size_bytes,
            key.blob_key(rec.blob),
        );
        Ok((rec, access))
    }

    /// Stores the recipient's rendered copy of `track` (encrypted under the owner's key).
    pub fn store_render(
        &self,
        vault: &Vault,
        track: TrackId,
        mut source: impl std::io::Read,
        mime_type: &str,
        filename: &str,
    ) -> Result<RenderRecord> {
        let blob = BlobId::random();
        let key = read_tenant_key(vault, self.owner)?;
        let mut writer =
            BlobWriter::create(&vault.tmp_dir(), self.owner, blob, key.blob_cipher(blob))?;
        // Streamed through one buffer: a copy never sits whole in memory. A source that fails
        // (its renderer died) leaves only the temporary file, which the writer removes.
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            writer.write(&buffer[..n])?;
        }
        let sealed = writer.finish()?;
        let sealed_sha256 = hex::encode(sealed.sealed_sha256);
        let now = vault.now_ms();
        let render = RenderRecord {
            blob,
            len: sealed.plaintext_len,
            sha256: hex::encode(sealed.sha256),
            mime_type: mime_type.into(),
            filename: clean(filename, 255),
            created_at_ms: now,
        };
        let path = vault.blob_path(self.owner, blob);
        sealed.persist(&path)?;
        // The records keep the time stamped above, before the file was written.
        let stored = vault.audited(None, |txn, _| {
            update_live_recipient(txn, self.recipient, now, |share, recipient| {
                // Checked here, not before rendering: the track may have been deleted (and its
                // copies dropped) or the recipient revoked while this copy was being made.
                let track_exists = txn
                    .open_table(TRACKS)?
                    .get((self.owner.raw(), track.raw()))?
                    .is_some();
                if !share.tracks.contains(&track) || !track_exists {
                    return Err(VaultError::NotFound);
                }
                let mut renders = txn.open_table(RENDERS)?;
                if renders.get((self.recipient.raw(), track.raw()))?.is_some() {
                    return Err(VaultError::invalid("render", "already made"));
                }
                renders.insert(
                    (self.recipient.raw(), track.raw()),
                    encode(&render).as_slice(),
                )?;
                let record = BlobRecord {
                    owner: self.owner,
                    plaintext_len: render.len,
                    sha256: render.sha256.clone(),
                    created_at_ms: now,
                    sealed_sha256: Some(sealed_sha256.clone()),
                };
                put_blob(txn, blob, &record)?;
                recipient.record(now, RecipientEventKind::CopyIssued, Some(track));
                Ok(())
            })?;
            let event = AuditEvent::new(Actor::System, Some(self.owner), AuditAction::ShareRender)
                .object(format!("track/{track}"))
                .detail(format!(
                    "share {} recipient {} blob {} sha256 {}",
                    self.share, self.recipient, blob, render.sha256
                ));
            Ok(((), event))
        });
        if let Err(e) = stored {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(render)
    }
}

/// One owner's shares.
#[derive(Debug)]
pub struct Shares<'a> {
    vault: &'a Vault,
    owner: UserId,
}

impl<'a> Shares<'a> {
    pub(crate) fn new(vault: &'a Vault, scope: &'a OwnerScope) -> Self {
        Self {
            vault,
            owner: scope.owner(),
        }
    }

    fn expiry(&self, requested: Option<i64>, now: i64) -> Result<i64> {
        let policy = &self.vault.policy().shares;
        let max = now + policy.max_expiry_days * MS_PER_DAY;
        match requested {
            None => Ok(now + policy.default_expiry_days * MS_PER_DAY),
            Some(at) if at <= now => Err(VaultError::invalid("expires_at", "is in the past")),
            Some(at) if at > max => Err(VaultError::invalid(
                "expires_at",
                format!(
                    "is beyond this appliance's limit of {} days",
                    policy.max_expiry_days
                ),
            )),
            Some(at) => Ok(at),
        }
    }

    pub fn create(&self, new: NewShare, client: &ClientInfo) -> Result<ShareDetail> {
        let title = clean(&new.title, MAX_TITLE_CHARS);
        if new.tracks.is_empty() || new.tracks.len() > MAX_TRACKS {
            return Err(VaultError::invalid(
                "tracks",
                format!("must name 1 to {MAX_TRACKS} tracks"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if !new.tracks.iter().all(|t| seen.insert(*t)) {
            return Err(VaultError::invalid("tracks", "names a track twice"));
        }
        if new.recipients.is_empty() || new.recipients.len() > MAX_RECIPIENTS {
            return Err(VaultError::invalid(
                "recipients",
                format!("must name 1 to {MAX_RECIPIENTS} recipients"),
            ));
        }
        let mut recipients = Vec::new();
        for r in &new.recipients {
            let name = clean(&r.name, MAX_NAME_CHARS);
            if name.is_empty() {
                return Err(VaultError::invalid("recipients", "each needs a name"));
            }
            let email = match r.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                Some(e) => Some(crate::users::validate_email(e)?),
                None => None,
            };
            recipients.push((name, email));
        }
        if new.play_limit == Some(0) || new.download_limit == Some(0) {
            return Err(VaultError::invalid("limits", "must be at least 1 when set"));
        }
        let password_hash = match new.password.as_deref() {
            Some(p) if p.is_empty() || p.len() > MAX_PASSWORD_BYTES => {
                return Err(VaultError::invalid(
                    "password",
                    format!("must be 1 to {MAX_PASSWORD_BYTES} bytes"),
                ));
            }
            Some(p) => Some(hash_password(self.vault, p)?),
            None => None,
        };
        let now = self.vault.now_ms();
        let expires_at_ms = self.expiry(new.expires_at_ms, now)?;
        let (share, stored) = self.vault.audited(Some(client), |txn, _| {
            let user =
                get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
            if !user.is_active() {
                return Err(VaultError::AccountInactive("no longer active"));
            }
            {
                let tracks = txn.open_table(TRACKS)?;
                for t in &new.tracks {
                    if tracks.get((self.owner.raw(), t.raw()))?.is_none() {
                        return Err(VaultError::invalid(
                            "tracks",
                            format!("{t} is not in your library"),
                        ));
                    }
                }
            }
            let id = ShareId::random();
            let mut share = ShareRecord {
                id,
                owner: self.owner,
                title: if title.is_empty() {
                    "Untitled share".into()
                } else {
                    title
                },
                tracks: new.tracks,
                recipients: Vec::new(),
                created_at_ms: now,
                expires_at_ms,
                password_hash,
                allow_download: new.allow_download,
                play_limit: new.play_limit,
                download_limit: new.download_limit,
                watermark: self
                    .vault
                    .policy()
                    .shares
                    .watermark_plans
                    .contains(&user.plan),
                revoked_at_ms: None,
            };
            let mut stored = Vec::new();
            {
                let mut payloads = txn.open_table(WATERMARK_PAYLOADS)?;
                for (name, email) in recipients {
                    let rec = RecipientRecord {
                        id: RecipientId::random(),
                        share: id,
                        owner: self.owner,
                        name,
                        email,
                        payload: random_payload(&payloads)?,
                        created_at_ms: now,
                        revoked_at_ms: None,
                        plays: 0,
                        downloads: 0,
                        events: Vec::new(),
                        open_logged_at_ms: None,
                    };
                    payloads.insert(rec.payload, rec.id.raw())?;
                    share.recipients.push(rec.id);
                    stored.push(rec);
                }
            }
            for rec in &stored {
                put_recipient(txn, rec)?;
            }
            put_share(txn, &share)?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::ShareCreate)
                .object(format!("share/{id}"))
                .detail(format!(
                    "{} track(s), {} recipient(s), watermark {}",
                    share.tracks.len(),
                    stored.len(),
                    share.watermark
                ));
            Ok(((share, stored), event))
        })?;
        Ok(self.detail_of(share, stored))
    }

    fn detail_of(&self, share: ShareRecord, recipients: Vec<RecipientRecord>) -> ShareDetail {
        ShareDetail {
            share,
            recipients: recipients
                .into_iter()
                .map(|r| {
                    let token = self.vault.link_token(r.id);
                    (r, token)
                })
                .collect(),
        }
    }

    pub fn list(&self) -> Result<Vec<ShareRecord>> {
        let txn = self.vault.db().begin_read()?;
        let table = txn.open_table(SHARES)?;
        let mut out: Vec<ShareRecord> = table
            .range((self.owner.raw(), 0)..=(self.owner.raw(), u128::MAX))?
            .map(|r| {
                r.map_err(VaultError::from)
                    .and_then(|(_, v)| decode("shares", v.value()))
            })
            .collect::<Result<_>>()?;
        out.sort_by_key(|s| std::cmp::Reverse(s.created_at_ms));
        Ok(out)
    }

    pub fn get(&self, id: ShareId) -> Result<ShareDetail> {
        let txn = self.vault.db().begin_read()?;
        let share = read_share(&txn.open_table(SHARES)?, self.owner, id)?;
        let table = txn.open_table(RECIPIENTS)?;
        let recipients = share
            .recipients
            .iter()
            .map(|r| read_recipient(&table, *r))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.detail_of(share, recipients))
    }

    fn update(
        &self,
        id: ShareId,
        action: AuditAction,
        detail: String,
        client: &ClientInfo,
        change: impl FnOnce(&WriteTransaction, &mut ShareRecord) -> Result<()>,
    ) -> Result<ShareDetail> {
        self.vault.audited(Some(client), |txn, _| {
            let mut share = read_share(&txn.open_table(SHARES)?, self.owner, id)?;
            change(txn, &mut share)?;
            put_share(txn, &share)?;
            let event = AuditEvent::by_owner(self.owner, action)
                .object(format!("share/{id}"))
                .detail(detail);
            Ok(((), event))
        })?;
        self.get(id)
    }

    /// Moves the expiry (within the appliance's maximum, counted from now).
    pub fn set_expiry(&self, id: ShareId, at_ms: i64, client: &ClientInfo) -> Result<ShareDetail> {
        let at = self.expiry(Some(at_ms), self.vault.now_ms())?;
        self.update(
            id,
            AuditAction::ShareUpdate,
            format!("expires_at_ms {at}"),
            client,
            |_, s| {
                if s.revoked_at_ms.is_some() {
                    return Err(VaultError::invalid("share", "is revoked"));
                }
                s.expires_at_ms = at;
                Ok(())
            },
        )
    }

    /// Ends the share for every recipient at once.
    pub fn revoke(&self, id: ShareId, client: &ClientInfo) -> Result<ShareDetail> {
        let now = self.vault.now_ms();
        self.update(
            id,
            AuditAction::ShareRevoke,
            String::new(),
            client,
            |_, s| {
                s.revoked_at_ms.get_or_insert(now);
                Ok(())
            },
        )
    }

    /// Ends one recipient's access; the others keep theirs.
    pub fn revoke_recipient(
        &self,
        id: ShareId,
        recipient: RecipientId,
        client: &ClientInfo,
    ) -> Result<ShareDetail> {
        let now = self.vault.now_ms();
        self.update(
            id,
            AuditAction::RecipientRevoke,
            format!("recipient {recipient}"),
            client,
            |txn, s| {
                if !s.recipients.contains(&recipient) {
                    return Err(VaultError::NotFound);
                }
                update_recipient(txn, recipient, |rec| {
                    rec.revoked_at_ms.get_or_insert(now);
                    Ok(())
                })
            },
        )
    }

    /// Payloads of this owner's watermarked recipients, to score a suspect copy against.
    pub fn watermark_candidates(&self) -> Result<Vec<u64>> {
        self.vault.watermark_candidates(Some(self.owner))
    }

    /// A leak trace among this owner's shares only. Audited.
    pub fn trace(&self, query: &TraceQuery, client: &ClientInfo) -> Result<TraceOutcome> {
        let outcome = self.vault.trace_outcome(query, Some(self.owner))?;
        self.vault.audit_only(
            Some(client),
            AuditEvent::by_owner(self.owner, AuditAction::LeakTrace).detail(outcome.summary()),
        )?;
        Ok(outcome)
    }
}

fn owner_shares(txn: &WriteTransaction, owner: UserId) -> Result<Vec<ShareRecord>> {
    txn.open_table(SHARES)?
        .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?
        .map(|r| {
            r.map_err(VaultError::from)
                .and_then(|(_, v)| decode("shares", v.value()))
        })
        .collect()
}

/// Drops one recipient's copy of one track and queues its replica's deletion; answers the blob
/// whose file goes once the transaction commits.
fn drop_render(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    recipient: RecipientId,
    track: TrackId,
) -> Result<Option<BlobId>> {
    let removed = txn
        .open_table(RENDERS)?
        .remove((recipient.raw(), track.raw()))?
        .map(|v| decode::<RenderRecord>("renders", v.value()))
        .transpose()?;
    let Some(render) = removed else {
        return Ok(None);
    };
    remove_blob(vault, txn, owner, render.blob)?;
    Ok(Some(render.blob))
}

/// The shares' part of an account purge: every share of `owner` with its recipients, payloads
/// and rendered copies. The copies' files go with the owner's blob directory once the purge
/// commits.
pub(crate) fn purge_owner(vault: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    for share in owner_shares(txn, owner)? {
        for recipient in &share.recipients {
            let rec = read_recipient(&txn.open_table(RECIPIENTS)?, *recipient)?;
            txn.open_table(WATERMARK_PAYLOADS)?.remove(rec.payload)?;
            txn.open_table(RECIPIENTS)?.remove(recipient.raw())?;
            for track in &share.tracks {
                drop_render(vault, txn, owner, *recipient, *track)?;
            }
        }
        txn.open_table(SHARES)?
            .remove((owner.raw(), share.id.raw()))?;
    }
    Ok(())
}

/// Drops every recipient's copy of a deleted track (inside the deletion transaction); answers
/// the blobs whose files go once it commits.
pub(crate) fn remove_track_renders_in(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    track: TrackId,
) -> Result<Vec<BlobId>> {
    let mut blobs = Vec::new();
    for share in owner_shares(txn, owner)?
        .iter()
        .filter(|s| s.tracks.contains(&track))
    {
        for recipient in &share.recipients {
            blobs.extend(drop_render(vault, txn, owner, *recipient, track)?);
        }
    }
    Ok(blobs)
}

mod copy_jobs;
pub use copy_jobs::CopyState;

#[cfg(test)]
mod tests;

//! What each recipient heard of each track: a heat map of the parts played, the time
//! listened, listening sessions and the last listen.
//!
//! Two sources, kept apart: the portal's player reports the spans it played (only a page
//! whose play button was clicked has a play URL, so a link preview reports nothing), and the
//! server notes the audio requests of a play URL as listening sessions: Range requests with no
//! gap of half an hour are one session, however many there are, so one listen never counts as
//! many. A report cannot claim more than the time that passed since the previous one.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::notifications::{NotificationDraft, NotificationKind, notify};
use crate::Vault;
use crate::error::{Result, VaultError};
use crate::ids::{RecipientId, ShareId, TrackId, UserId};
use crate::library::find_track;
use crate::shares::{RecipientGrant, ShareRecord};
use crate::store::{LISTENING, RECIPIENTS, TRACKS, decode, encode};

pub use studiovault_api::review::HEAT_BUCKETS;

/// Requests further apart than this start a new listening session.
const SESSION_GAP_MS: i64 = 30 * 60 * 1000;
/// The server's note of a session is refreshed at most this often.
const SERVED_REFRESH_MS: i64 = 60 * 1000;
/// A report may claim the wall time since the previous one plus this much (timers drift).
const REPORT_SLACK_SECS: f64 = 5.0;
/// The longest span one report may claim (the portal reports every 10 s, and on pause).
const MAX_REPORT_SECS: f64 = 120.0;
/// A span ending this close to the end plays the track to its end.
const END_SLACK_SECS: f64 = 1.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListeningRecord {
    pub owner: UserId,
    pub share: ShareId,
    pub recipient: RecipientId,
    pub track: TrackId,
    pub duration_secs: Option<f64>,
    /// Seconds heard in each of [`HEAT_BUCKETS`] equal parts of the track.
    pub heat: Vec<f32>,
    pub listened_secs: f64,
    /// Listening sessions, as the server saw the audio requested.
    pub sessions: u32,
    pub played_to_end: bool,
    pub last_listen_ms: Option<i64>,
    /// The last audio request of a play URL (sessions are counted from these).
    pub last_served_ms: Option<i64>,
    /// The last report of the player (a report claims at most the time since).
    pub last_report_ms: Option<i64>,
}

impl ListeningRecord {
    fn new(
        share: &ShareRecord,
        recipient: RecipientId,
        track: TrackId,
        duration: Option<f64>,
    ) -> Self {
        Self {
            owner: share.owner,
            share: share.id,
            recipient,
            track,
            duration_secs: duration,
            heat: vec![0.0; HEAT_BUCKETS],
            listened_secs: 0.0,
            sessions: 0,
            played_to_end: false,
            last_listen_ms: None,
            last_served_ms: None,
            last_report_ms: None,
        }
    }

    /// The share of the track heard at least once, 0 to 1.
    pub fn coverage(&self) -> f32 {
        let heard = self.heat.iter().filter(|s| **s > 0.0).count();
        heard as f32 / HEAT_BUCKETS as f32
    }

    /// Adds the span `[from, to)` of a track `length` seconds long to the heat map.
    fn add_span(&mut self, from: f64, to: f64, length: f64) {
        let bucket = length / HEAT_BUCKETS as f64;
        for (i, heat) in self.heat.iter_mut().enumerate() {
            let (start, end) = (i as f64 * bucket, (i + 1) as f64 * bucket);
            let overlap = to.min(end) - from.max(start);
            if overlap > 0.0 {
                *heat += overlap as f32;
            }
        }
        self.listened_secs += to - from;
    }
}

fn key(owner: UserId, recipient: RecipientId, track: TrackId) -> (u128, u128, u128) {
    (owner.raw(), recipient.raw(), track.raw())
}

fn read(
    table: &impl ReadableTable<(u128, u128, u128), &'static [u8]>,
    owner: UserId,
    recipient: RecipientId,
    track: TrackId,
) -> Result<Option<ListeningRecord>> {
    table
        .get(key(owner, recipient, track))?
        .map(|v| decode("listening", v.value()))
        .transpose()
}

/// Notes an audio request of a play URL: a new session after a gap, the same one otherwise.
/// Writes at most once a minute per recipient and track.
pub(crate) fn note_served(
    vault: &Vault,
    share: &ShareRecord,
    recipient: RecipientId,
    track: TrackId,
) -> Result<()> {
    let now = vault.now_ms();
    let fresh = {
        let txn = vault.db().begin_read()?;
        read(&txn.open_table(LISTENING)?, share.owner, recipient, track)?
            .and_then(|r| r.last_served_ms)
            .is_some_and(|at| now - at < SERVED_REFRESH_MS)
    };
    if fresh {
        return Ok(());
    }
    let txn = vault.begin_write()?;
    {
        let duration = find_track(&txn.open_table(TRACKS)?, share.owner, track)?
            .and_then(|t| t.info.duration_secs);
        let mut table = txn.open_table(LISTENING)?;
        let mut rec = read(&table, share.owner, recipient, track)?
            .unwrap_or_else(|| ListeningRecord::new(share, recipient, track, duration));
        if rec
            .last_served_ms
            .is_none_or(|at| now - at >= SESSION_GAP_MS)
        {
            rec.sessions += 1;
        }
        rec.last_served_ms = Some(now);
        table.insert(key(share.owner, recipient, track), encode(&rec).as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

impl RecipientGrant {
    /// Records a span the recipient's player played. Refused unless the recipient has played
    /// something of the share (a play URL was asked for with a click); a span longer than the
    /// time since the last report is cut to it. Playing to the end notifies the owner once.
    pub fn report_listening(
        &self,
        vault: &Vault,
        track: TrackId,
        from_secs: f64,
        to_secs: f64,
        ended: bool,
    ) -> Result<()> {
        if !(from_secs.is_finite()
            && to_secs.is_finite()
            && from_secs >= 0.0
            && to_secs >= from_secs)
        {
            return Err(VaultError::invalid(
                "from_secs",
                "a span is two times in seconds, from before to",
            ));
        }
        let (owner, recipient) = (self.owner(), self.recipient());
        // Not audited: the plays that made this possible are, and reports come every 10 s.
        let txn = vault.begin_write()?;
        let now = vault.now_ms();
        let mut mailed = false;
        {
            let (recipient_rec, share) = crate::shares::live_recipient(&txn, recipient, now)?;
            if !crate::shares::share_grants(&txn, &share, track)? {
                return Err(VaultError::NotFound);
            }
            if recipient_rec.plays == 0 {
                return Err(VaultError::Forbidden("nothing of this share was played"));
            }
            let track_rec =
                find_track(&txn.open_table(TRACKS)?, owner, track)?.ok_or(VaultError::NotFound)?;
            let length = track_rec.info.duration_secs.unwrap_or(to_secs).max(0.001);
            if from_secs > length + END_SLACK_SECS {
                return Err(VaultError::invalid("from_secs", "is past the track's end"));
            }
            let mut table = txn.open_table(LISTENING)?;
            let mut rec = read(&table, owner, recipient, track)?.unwrap_or_else(|| {
                ListeningRecord::new(&share, recipient, track, track_rec.info.duration_secs)
            });
            let since_last = rec.last_report_ms.map_or(MAX_REPORT_SECS, |at| {
                (now - at) as f64 / 1000.0 + REPORT_SLACK_SECS
            });
            let to = to_secs
                .min(length)
                .min(from_secs + since_last.min(MAX_REPORT_SECS));
            if to > from_secs {
                rec.add_span(from_secs, to, length);
            }
            rec.last_report_ms = Some(now);
            rec.last_listen_ms = Some(now);
            let reached_end = ended || to >= length - END_SLACK_SECS;
            let first_end = reached_end && !rec.played_to_end;
            rec.played_to_end |= reached_end;
            table.insert(key(owner, recipient, track), encode(&rec).as_slice())?;
            drop(table);
            if first_end {
                mailed = notify(
                    &txn,
                    owner,
                    NotificationDraft {
                        kind: NotificationKind::PlayedToEnd,
                        summary: format!(
                            "{} played {} to the end ({})",
                            recipient_rec.name, track_rec.info.name, share.title
                        ),
                        share: Some(share.id),
                        track: Some(track),
                        comment: None,
                    },
                    now,
                )?;
            }
        }
        txn.commit()?;
        if mailed {
            vault.jobs_queued();
        }
        Ok(())
    }
}

impl Vault {
    /// What each recipient of the owner's share heard: per recipient (in the share's order),
    /// per track listened to.
    pub fn share_listening(
        &self,
        owner: UserId,
        share: &ShareRecord,
    ) -> Result<Vec<(RecipientId, Vec<ListeningRecord>)>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(LISTENING)?;
        let recipients = txn.open_table(RECIPIENTS)?;
        let mut out = Vec::new();
        for recipient in &share.recipients {
            if recipients.get(recipient.raw())?.is_none() {
                continue;
            }
            let o = owner.raw();
            let mut tracks = Vec::new();
            for row in table.range((o, recipient.raw(), 0)..=(o, recipient.raw(), u128::MAX))? {
                tracks.push(decode("listening", row?.1.value())?);
            }
            out.push((*recipient, tracks));
        }
        Ok(out)
    }
}

/// Seconds a recipient's player reported playing, over every track.
pub(crate) fn listened_secs(
    table: &impl ReadableTable<(u128, u128, u128), &'static [u8]>,
    owner: UserId,
    recipient: RecipientId,
) -> Result<f64> {
    let mut total = 0.0;
    let o = owner.raw();
    for row in table.range((o, recipient.raw(), 0)..=(o, recipient.raw(), u128::MAX))? {
        total += decode::<ListeningRecord>("listening", row?.1.value())?.listened_secs;
    }
    Ok(total)
}

/// Drops the listening rows of a deleted track (inside the deletion's transaction).
pub(crate) fn remove_track_in(txn: &WriteTransaction, owner: UserId, track: TrackId) -> Result<()> {
    let o = owner.raw();
    txn.open_table(LISTENING)?
        .retain_in((o, 0, 0)..=(o, u128::MAX, u128::MAX), |k, _| {
            k.2 != track.raw()
        })?;
    Ok(())
}

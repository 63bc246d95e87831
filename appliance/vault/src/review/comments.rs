//! Comments pinned to a moment (or a span) of one version of a track.
//!
//! A thread is a top-level comment and its replies (one level deep). The thread's root says
//! whose it is: the owner's own note (no share), a recipient's thread in their share, or a
//! thread the owner posted to every recipient of a share. A recipient sees the threads of
//! their own recipient id in their share, and the threads of that share the owner made shared;
//! replies follow their root.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::notifications::{NotificationDraft, NotificationKind, notify};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::{CommentId, RecipientId, ShareId, TrackId, UserId};
use crate::library::{Library, TrackRecord, find_track};
use crate::records::get_user;
use crate::shares::{RecipientGrant, read_share};
use crate::store::{COMMENTS, SHARES, TRACKS, USERS, decode, encode};
use crate::{ClientInfo, Vault};

const MAX_TEXT_CHARS: usize = 2000;
/// Comments one recipient may leave in all: a link is not a way to fill the owner's disk.
const MAX_PER_RECIPIENT: usize = 1000;
/// Comments on one track in all.
const MAX_PER_TRACK: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum CommentAuthorKind {
    Owner,
    Recipient(RecipientId),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentRecord {
    pub id: CommentId,
    pub owner: UserId,
    pub track: TrackId,
    /// The share whose thread it is in.
    pub share: Option<ShareId>,
    /// The recipient whose thread it is; none for the owner's notes and shared posts.
    pub recipient: Option<RecipientId>,
    pub author: CommentAuthorKind,
    /// The author's name when written (a recipient's name as the owner gave it).
    pub author_name: String,
    pub at_secs: f64,
    pub end_secs: Option<f64>,
    pub text: String,
    pub parent: Option<CommentId>,
    pub resolved_at_ms: Option<i64>,
    /// On a root: every recipient of the share sees the thread.
    pub shared: bool,
    pub created_at_ms: i64,
}

/// A new comment, from the owner or a recipient.
#[derive(Debug, Clone, Default)]
pub struct NewCommentInput {
    pub text: String,
    pub at_secs: Option<f64>,
    pub end_secs: Option<f64>,
    pub parent: Option<CommentId>,
    /// Owners only: post a shared thread to this share's recipients.
    pub share: Option<ShareId>,
}

/// Keeps line breaks, drops other control characters, trims, caps the length.
fn clean_comment(raw: &str) -> String {
    raw.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_TEXT_CHARS)
        .collect()
}

fn read_comment(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    id: CommentId,
) -> Result<CommentRecord> {
    let row = table
        .get((owner.raw(), id.raw()))?
        .ok_or(VaultError::NotFound)?;
    decode("comments", row.value())
}

fn track_comments(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    track: TrackId,
) -> Result<Vec<CommentRecord>> {
    let mut out: Vec<CommentRecord> = super::rows_of(table, "comments", owner)?;
    out.retain(|c| c.track == track);
    out.sort_by(|a, b| a.created_at_ms.cmp(&b.created_at_ms).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Whether `recipient` of `share` sees the thread whose root is `root`.
fn visible_to(root: &CommentRecord, share: ShareId, recipient: RecipientId) -> bool {
    root.share == Some(share) && (root.shared || root.recipient == Some(recipient))
}

/// The time and span checked against the track's length.
fn check_times(track: &TrackRecord, at: f64, end: Option<f64>) -> Result<()> {
    let length = track.info.duration_secs.unwrap_or(f64::MAX);
    let fits = |t: f64| t.is_finite() && t >= 0.0 && t <= length + 1.0;
    if !fits(at) {
        return Err(VaultError::invalid(
            "at_secs",
            "must be a time within the track, in seconds",
        ));
    }
    if let Some(end) = end
        && (!fits(end) || end <= at)
    {
        return Err(VaultError::invalid(
            "end_secs",
            "must be after at_secs and within the track",
        ));
    }
    Ok(())
}

struct Thread {
    share: Option<ShareId>,
    recipient: Option<RecipientId>,
    shared: bool,
    at_secs: f64,
    end_secs: Option<f64>,
}

impl Thread {
    /// The thread `root` starts: a reply joins it, at its time unless it names one.
    fn of(root: &CommentRecord) -> Self {
        Self {
            share: root.share,
            recipient: root.recipient,
            shared: root.shared,
            at_secs: root.at_secs,
            end_secs: root.end_secs,
        }
    }
}

/// Writes a new comment in `txn`, checked against the track and its thread.
fn insert_comment(
    txn: &WriteTransaction,
    owner: UserId,
    track: &TrackRecord,
    (author, author_name): (CommentAuthorKind, String),
    input: &NewCommentInput,
    thread: Thread,
    now: i64,
) -> Result<CommentRecord> {
    let text = clean_comment(&input.text);
    if text.is_empty() {
        return Err(VaultError::invalid("text", "must not be empty"));
    }
    let at = input.at_secs.unwrap_or(thread.at_secs);
    let end = if input.at_secs.is_some() {
        input.end_secs
    } else {
        thread.end_secs
    };
    check_times(track, at, end)?;
    let mut table = txn.open_table(COMMENTS)?;
    let existing = track_comments(&table, owner, track.id)?;
    if existing.len() >= MAX_PER_TRACK {
        return Err(VaultError::LimitReached("comments"));
    }
    if matches!(author, CommentAuthorKind::Recipient(_)) {
        let all: Vec<CommentRecord> = super::rows_of(&table, "comments", owner)?;
        if all.iter().filter(|c| c.author == author).count() >= MAX_PER_RECIPIENT {
            return Err(VaultError::LimitReached("comments"));
        }
    }
    let rec = CommentRecord {
        id: CommentId::random(),
        owner,
        track: track.id,
        share: thread.share,
        recipient: thread.recipient,
        author,
        author_name,
        at_secs: at,
        end_secs: end,
        text,
        parent: input.parent,
        resolved_at_ms: None,
        shared: thread.shared,
        created_at_ms: now,
    };
    table.insert((owner.raw(), rec.id.raw()), encode(&rec).as_slice())?;
    Ok(rec)
}

fn read_track(txn: &WriteTransaction, owner: UserId, track: TrackId) -> Result<TrackRecord> {
    find_track(&txn.open_table(TRACKS)?, owner, track)?.ok_or(VaultError::NotFound)
}

/// "m:ss", as comments are shown.
pub(crate) fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 140 {
        format!("{}…", one_line.chars().take(140).collect::<String>())
    } else {
        one_line
    }
}

impl Library<'_> {
    /// Every thread on the track, the owner's view: oldest first.
    pub fn comments(&self, track: TrackId) -> Result<Vec<CommentRecord>> {
        self.get(track)?;
        let txn = self.vault.db().begin_read()?;
        track_comments(&txn.open_table(COMMENTS)?, self.owner, track)
    }

    /// The owner comments: a note of their own, a reply in any thread, or a thread for every
    /// recipient of one of the track's shares.
    pub fn add_comment(
        &self,
        track: TrackId,
        input: NewCommentInput,
        client: &ClientInfo,
    ) -> Result<CommentRecord> {
        let owner = self.owner;
        self.vault.audited(Some(client), |txn, now| {
            let rec = read_track(txn, owner, track)?;
            let thread = match (input.parent, input.share) {
                (Some(parent), _) => {
                    let root = read_comment(&txn.open_table(COMMENTS)?, owner, parent)
                        .map_err(|_| VaultError::invalid("parent", "no such comment"))?;
                    if root.track != track || root.parent.is_some() {
                        return Err(VaultError::invalid(
                            "parent",
                            "replies go to a thread's first comment on this track",
                        ));
                    }
                    Thread::of(&root)
                }
                (None, Some(share)) => {
                    let share_rec = read_share(&txn.open_table(SHARES)?, owner, share)
                        .map_err(|_| VaultError::invalid("share", "no such share"))?;
                    if !crate::shares::share_grants(txn, &share_rec, track)? {
                        return Err(VaultError::invalid(
                            "share",
                            "the share does not include this track",
                        ));
                    }
                    Thread {
                        share: Some(share),
                        recipient: None,
                        shared: true,
                        at_secs: 0.0,
                        end_secs: None,
                    }
                }
                (None, None) => Thread {
                    share: None,
                    recipient: None,
                    shared: false,
                    at_secs: 0.0,
                    end_secs: None,
                },
            };
            if input.parent.is_none() && input.at_secs.is_none() {
                return Err(VaultError::invalid("at_secs", "a new thread needs a time"));
            }
            // Recipients read it: an owner without a display name is "the studio", as on
            // an upload link's page, never their sign-in address.
            let name = get_user(&txn.open_table(USERS)?, owner)?
                .and_then(|u| u.display_name)
                .unwrap_or_else(|| "the studio".into());
            let comment = insert_comment(
                txn,
                owner,
                &rec,
                (CommentAuthorKind::Owner, name),
                &input,
                thread,
                now,
            )?;
            let event = AuditEvent::by_owner(owner, AuditAction::CommentAdd)
                .object(format!("comment/{}", comment.id))
                .detail(format!("track {track}"));
            Ok((comment, event))
        })
    }

    /// Resolves or reopens a thread, or shows it to every recipient of its share (or to its
    /// recipient alone again). Only a thread's first comment takes these.
    pub fn change_comment(
        &self,
        id: CommentId,
        resolved: Option<bool>,
        shared: Option<bool>,
        client: &ClientInfo,
    ) -> Result<CommentRecord> {
        let owner = self.owner;
        self.vault.audited(Some(client), |txn, now| {
            let mut table = txn.open_table(COMMENTS)?;
            let mut rec = read_comment(&table, owner, id)?;
            if rec.parent.is_some() {
                return Err(VaultError::invalid(
                    "comment",
                    "resolve or share a thread through its first comment",
                ));
            }
            if shared.is_some() && rec.share.is_none() {
                return Err(VaultError::invalid(
                    "shared",
                    "a note of your own is in no share",
                ));
            }
            if let Some(resolved) = resolved {
                rec.resolved_at_ms = if resolved {
                    rec.resolved_at_ms.or(Some(now))
                } else {
                    None
                };
            }
            if let Some(shared) = shared {
                // A thread the owner posted to everyone has no one recipient to fall back to.
                rec.shared = shared || rec.recipient.is_none();
            }
            table.insert((owner.raw(), id.raw()), encode(&rec).as_slice())?;
            let event = AuditEvent::by_owner(owner, AuditAction::CommentChange)
                .object(format!("comment/{id}"))
                .detail(format!(
                    "resolved {} shared {}",
                    rec.resolved_at_ms.is_some(),
                    rec.shared
                ));
            Ok((rec, event))
        })
    }

    /// Deletes a comment, with its replies when it starts a thread.
    pub fn delete_comment(&self, id: CommentId, client: &ClientInfo) -> Result<()> {
        let owner = self.owner;
        self.vault.audited(Some(client), |txn, _| {
            let mut table = txn.open_table(COMMENTS)?;
            read_comment(&table, owner, id)?;
            let replies: Vec<u128> = super::rows_of::<CommentRecord>(&table, "comments", owner)?
                .into_iter()
                .filter(|c| c.parent == Some(id))
                .map(|c| c.id.raw())
                .collect();
            for reply in &replies {
                table.remove((owner.raw(), *reply))?;
            }
            table.remove((owner.raw(), id.raw()))?;
            let event = AuditEvent::by_owner(owner, AuditAction::CommentDelete)
                .object(format!("comment/{id}"))
                .detail(format!("with {} replies", replies.len()));
            Ok(((), event))
        })
    }
}

impl RecipientGrant {
    /// The threads on `track` this recipient sees, oldest first.
    pub fn comments(&self, vault: &Vault, track: TrackId) -> Result<Vec<CommentRecord>> {
        let (share, _) = self.live_state(vault)?;
        if !self.grants(vault, &share, track)? {
            return Err(VaultError::NotFound);
        }
        let txn = vault.db().begin_read()?;
        let all = track_comments(&txn.open_table(COMMENTS)?, self.owner(), track)?;
        let roots: std::collections::HashMap<CommentId, bool> = all
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| (c.id, visible_to(c, self.share(), self.recipient())))
            .collect();
        Ok(all
            .into_iter()
            .filter(|c| {
                roots
                    .get(&c.parent.unwrap_or(c.id))
                    .copied()
                    .unwrap_or(false)
            })
            .collect())
    }

    /// The recipient comments: a new thread of theirs, or a reply in a thread they see.
    /// Audited with the recipient as actor, and the owner notified.
    pub fn add_comment(
        &self,
        vault: &Vault,
        track: TrackId,
        input: NewCommentInput,
        client: &ClientInfo,
    ) -> Result<CommentRecord> {
        let (owner, share_id, recipient) = (self.owner(), self.share(), self.recipient());
        if input.share.is_some() {
            return Err(VaultError::invalid("share", "is for owners only"));
        }
        vault.audited(Some(client), |txn, now| {
            let (recipient_rec, share) = crate::shares::live_recipient(txn, recipient, now)?;
            if !crate::shares::share_grants(txn, &share, track)? {
                return Err(VaultError::NotFound);
            }
            let rec = read_track(txn, owner, track)?;
            let thread = match input.parent {
                Some(parent) => {
                    let root = read_comment(&txn.open_table(COMMENTS)?, owner, parent)
                        .ok()
                        .filter(|root| {
                            root.track == track
                                && root.parent.is_none()
                                && visible_to(root, share_id, recipient)
                        })
                        .ok_or_else(|| VaultError::invalid("parent", "no such comment"))?;
                    Thread::of(&root)
                }
                None => {
                    if input.at_secs.is_none() {
                        return Err(VaultError::invalid("at_secs", "a new thread needs a time"));
                    }
                    Thread {
                        share: Some(share_id),
                        recipient: Some(recipient),
                        shared: false,
                        at_secs: 0.0,
                        end_secs: None,
                    }
                }
            };
            let comment = insert_comment(
                txn,
                owner,
                &rec,
                (
                    CommentAuthorKind::Recipient(recipient),
                    recipient_rec.name.clone(),
                ),
                &input,
                thread,
                now,
            )?;
            notify(
                txn,
                owner,
                NotificationDraft {
                    kind: NotificationKind::Commented,
                    summary: format!(
                        "{} commented at {} on {} ({}): \"{}\"",
                        recipient_rec.name,
                        clock(comment.at_secs),
                        rec.info.name,
                        share.title,
                        excerpt(&comment.text)
                    ),
                    share: Some(share_id),
                    track: Some(track),
                    comment: Some(comment.id),
                },
                now,
            )?;
            let event = AuditEvent::new(
                Actor::Recipient(recipient),
                Some(owner),
                AuditAction::CommentAdd,
            )
            .object(format!("comment/{}", comment.id))
            .detail(format!("track {track} share {share_id}"));
            Ok((comment, event))
        })
    }
}

/// Drops a deleted track's comments (inside the deletion's transaction).
pub(crate) fn remove_track_in(txn: &WriteTransaction, owner: UserId, track: TrackId) -> Result<()> {
    let mut table = txn.open_table(COMMENTS)?;
    let doomed: Vec<u128> = super::rows_of::<CommentRecord>(&table, "comments", owner)?
        .into_iter()
        .filter(|c| c.track == track)
        .map(|c| c.id.raw())
        .collect();
    for id in doomed {
        table.remove((owner.raw(), id))?;
    }
    Ok(())
}

/// Comments in the threads of `share` (for the admin's overview).
pub(crate) fn count_in_share(
    txn: &redb::ReadTransaction,
    owner: UserId,
    share: ShareId,
) -> Result<u32> {
    let all: Vec<CommentRecord> = super::rows_of(&txn.open_table(COMMENTS)?, "comments", owner)?;
    Ok(all.iter().filter(|c| c.share == Some(share)).count() as u32)
}

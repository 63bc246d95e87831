//! The owner's notifications: a recipient's first visit, a track played to its end, a
//! download, a comment, files through an upload link. Each is a row, shown in the web app, and
//! by the owner's choice ([`ReviewMail`]) mailed at once, gathered in a daily digest, or not
//! mailed. Rows are written, and immediate mails queued, in the transaction of the event.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::{CommentId, NotificationId, ShareId, TrackId, UserId};
use crate::outbox::{MailDraft, queue_mail};
use crate::records::{ReviewMail, edit_user, get_user};
use crate::scope::OwnerScope;
use crate::store::{NOTIFICATIONS, USERS, decode, encode};
use crate::{ClientInfo, Vault};

/// The newest kept per owner; older ones go as new ones come.
const MAX_KEPT: usize = 500;
/// A digest goes out at most this often.
const DIGEST_EVERY_MS: i64 = 24 * 3600 * 1000;
/// Lines a digest lists; the rest are counted.
const DIGEST_LINES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A recipient opened their link for the first time.
    Opened,
    PlayedToEnd,
    Downloaded,
    Commented,
    /// A file arrived through an upload link.
    Uploaded,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::PlayedToEnd => "played_to_end",
            Self::Downloaded => "downloaded",
            Self::Commented => "commented",
            Self::Uploaded => "uploaded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub owner: UserId,
    pub at_ms: i64,
    pub kind: NotificationKind,
    /// One line for people: "Ana Label played Mix 2 to the end".
    pub summary: String,
    pub share: Option<ShareId>,
    pub track: Option<TrackId>,
    pub comment: Option<CommentId>,
    pub read: bool,
    /// Mailed, at once or in a digest (or not to be mailed: the owner chose no mail).
    pub mailed: bool,
}

/// What happened, as the event's transaction knows it.
#[derive(Debug, Clone)]
pub(crate) struct NotificationDraft {
    pub kind: NotificationKind,
    pub summary: String,
    pub share: Option<ShareId>,
    pub track: Option<TrackId>,
    pub comment: Option<CommentId>,
}

/// Records a notification for `owner` in the event's transaction and, when the owner asked
/// for mail at once and the hour allows one more, queues it; answers whether it did.
pub(crate) fn notify(
    txn: &WriteTransaction,
    owner: UserId,
    draft: NotificationDraft,
    now: i64,
) -> Result<bool> {
    let Some(user) = get_user(&txn.open_table(USERS)?, owner)? else {
        return Ok(false);
    };
    let record = NotificationRecord {
        id: NotificationId::random(),
        owner,
        at_ms: now,
        kind: draft.kind,
        summary: draft.summary,
        share: draft.share,
        track: draft.track,
        comment: draft.comment,
        read: false,
        mailed: user.review_mail == ReviewMail::Off,
    };
    let mut table = txn.open_table(NOTIFICATIONS)?;
    table.insert((owner.raw(), record.id.raw()), encode(&record).as_slice())?;
    // Keep the newest: drop the oldest beyond the cap.
    let mut all: Vec<(i64, u128)> = Vec::new();
    for row in table.range((owner.raw(), 0)..=(owner.raw(), u128::MAX))? {
        let (key, value) = row?;
        let rec: NotificationRecord = decode("notifications", value.value())?;
        all.push((rec.at_ms, key.value().1));
    }
    if all.len() > MAX_KEPT {
        all.sort_unstable();
        for (_, id) in &all[..all.len() - MAX_KEPT] {
            table.remove((owner.raw(), *id))?;
        }
    }
    drop(table);
    if user.review_mail != ReviewMail::Immediate {
        return Ok(false);
    }
    mail_waiting_in(txn, owner, now)
}

/// The owner's handle on their notifications.
#[derive(Debug)]
pub struct Notifications<'a> {
    vault: &'a Vault,
    owner: UserId,
}

impl Vault {
    pub fn notifications<'a>(&'a self, scope: &OwnerScope) -> Notifications<'a> {
        Notifications {
            vault: self,
            owner: scope.owner(),
        }
    }
}

impl Notifications<'_> {
    /// Newest first, with the owner's mail choice.
    pub fn list(&self) -> Result<(Vec<NotificationRecord>, ReviewMail)> {
        let txn = self.vault.db().begin_read()?;
        let mut all: Vec<NotificationRecord> =
            super::rows_of(&txn.open_table(NOTIFICATIONS)?, "notifications", self.owner)?;
        all.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.id.cmp(&a.id)));
        let mail = get_user(&txn.open_table(USERS)?, self.owner)?
            .ok_or(VaultError::NotFound)?
            .review_mail;
        Ok((all, mail))
    }

    /// Marks `ids` (all when `None`) read; answers how many changed.
    pub fn mark_read(&self, ids: Option<&[NotificationId]>) -> Result<u64> {
        let txn = self.vault.begin_write()?;
        let mut changed = 0;
        {
            let mut table = txn.open_table(NOTIFICATIONS)?;
            let o = self.owner.raw();
            let keys: Vec<u128> = match ids {
                Some(ids) => ids.iter().map(|i| i.raw()).collect(),
                None => table
                    .range((o, 0)..=(o, u128::MAX))?
                    .map(|r| r.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()?,
            };
            for id in keys {
                let Some(raw) = table.get((o, id))?.map(|v| v.value().to_vec()) else {
                    continue;
                };
                let mut rec: NotificationRecord = decode("notifications", &raw)?;
                if !rec.read {
                    rec.read = true;
                    table.insert((o, id), encode(&rec).as_slice())?;
                    changed += 1;
                }
            }
        }
        txn.commit()?;
        Ok(changed)
    }

    /// Sets how the owner hears of review activity by e-mail (audited as a settings change).
    pub fn set_mail(&self, mail: ReviewMail, client: &ClientInfo) -> Result<()> {
        self.vault.audited(Some(client), |txn, _| {
            edit_user(txn, self.owner, |user| {
                user.review_mail = mail;
                Ok(())
            })?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::SettingsChange)
                .detail(format!("review mail {}", mail.as_str()));
            Ok(((), event))
        })
    }
}

impl Vault {
    /// Queues the daily digest of every owner who chose one and has news not mailed, at most
    /// one a day each, and the mail of what waited for those who get mail at once but had more
    /// than their hour allowed; answers how many were queued. Run by the housekeeping pass.
    pub fn send_review_digests(&self) -> Result<u64> {
        let now = self.now_ms();
        let owners: Vec<UserId> = {
            let txn = self.db().begin_read()?;
            let users = txn.open_table(USERS)?;
            let notifications = txn.open_table(NOTIFICATIONS)?;
            let mut due = Vec::new();
            for row in users.iter()? {
                let user: crate::UserRecord = decode("users", row?.1.value())?;
                if user.is_active() && may_mail(&user, now) && waiting(&notifications, user.id)? {
                    due.push(user.id);
                }
            }
            due
        };
        let mut sent = 0;
        for owner in owners {
            let txn = self.begin_write()?;
            let queued = mail_waiting_in(&txn, owner, now)?;
            txn.commit()?;
            sent += u64::from(queued);
        }
        if sent > 0 {
            self.jobs_queued();
        }
        Ok(sent)
    }
}

/// Review mails an owner who asked for them at once gets in an hour. Past that, notifications
/// wait, and the next mail the hour allows (or the housekeeping pass) tells all that waited: a
/// recipient posting comments in a loop, or downloading again and again, once sent the owner a
/// mail each, and held up the relay for the notices queued behind them.
const IMMEDIATE_PER_HOUR: usize = 6;
const HOUR_MS: i64 = 3_600_000;

/// Whether `user`'s choice lets a review mail go now.
fn may_mail(user: &crate::UserRecord, now: i64) -> bool {
    match user.review_mail {
        ReviewMail::Immediate => {
            let last_hour = user.review_mails_at_ms.iter();
            last_hour.filter(|at| now - **at < HOUR_MS).count() < IMMEDIATE_PER_HOUR
        }
        ReviewMail::Digest => user
            .review_digest_at_ms
            .is_none_or(|at| now - at >= DIGEST_EVERY_MS),
        ReviewMail::Off => false,
    }
}

/// Whether `owner` has notifications not mailed yet.
fn waiting(table: &impl ReadableTable<(u128, u128), &'static [u8]>, owner: UserId) -> Result<bool> {
    for row in table.range((owner.raw(), 0)..=(owner.raw(), u128::MAX))? {
        let rec: NotificationRecord = decode("notifications", row?.1.value())?;
        if !rec.mailed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Mails `owner`, in `txn`, the notifications not mailed yet, when their choice lets a mail go
/// now: one alone as itself, several as a digest; marks them mailed. Answers whether it did.
fn mail_waiting_in(txn: &WriteTransaction, owner: UserId, now: i64) -> Result<bool> {
    let user = get_user(&txn.open_table(USERS)?, owner)?.ok_or(VaultError::NotFound)?;
    if !may_mail(&user, now) {
        return Ok(false);
    }
    let mut waiting: Vec<NotificationRecord> = Vec::new();
    {
        let table = txn.open_table(NOTIFICATIONS)?;
        for row in table.range((owner.raw(), 0)..=(owner.raw(), u128::MAX))? {
            let rec: NotificationRecord = decode("notifications", row?.1.value())?;
            if !rec.mailed {
                waiting.push(rec);
            }
        }
    }
    if waiting.is_empty() {
        return Ok(false);
    }
    waiting.sort_by_key(|r| r.at_ms);
    let immediate = user.review_mail == ReviewMail::Immediate;
    let draft = match waiting.as_slice() {
        [one] if immediate => MailDraft {
            to: user.email.clone(),
            account: Some(owner),
            template: "review-activity".into(),
            values: vec![("summary".into(), one.summary.clone())],
            topic: format!("review/{}", one.id),
        },
        _ => {
            let mut lines: Vec<String> = waiting
                .iter()
                .take(DIGEST_LINES)
                .map(|r| format!("- {}", r.summary))
                .collect();
            if waiting.len() > DIGEST_LINES {
                lines.push(format!("… and {} more", waiting.len() - DIGEST_LINES));
            }
            MailDraft {
                to: user.email.clone(),
                account: Some(owner),
                // Past the hour's allowance, or the daily digest.
                template: if immediate {
                    "review-burst"
                } else {
                    "review-digest"
                }
                .into(),
                values: vec![
                    ("count".into(), waiting.len().to_string()),
                    ("items".into(), lines.join("\n")),
                ],
                topic: format!("review-digest/{owner}"),
            }
        }
    };
    edit_user(txn, owner, |user| {
        if immediate {
            user.review_mails_at_ms.retain(|at| now - *at < HOUR_MS);
            user.review_mails_at_ms.push(now);
        } else {
            user.review_digest_at_ms = Some(now);
        }
        Ok(())
    })?;
    queue_mail(txn, draft, now)?;
    let mut table = txn.open_table(NOTIFICATIONS)?;
    for mut rec in waiting {
        rec.mailed = true;
        table.insert((owner.raw(), rec.id.raw()), encode(&rec).as_slice())?;
    }
    Ok(true)
}

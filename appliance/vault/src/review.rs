//! Review with clients, above the library and the shares: comments pinned to a moment of a
//! track, what each recipient heard, links through which clients send files in, and the
//! owner's notifications of all of it.
//!
//! Every table here is per owner and keyed by the owner first, so an owner's rows are one
//! range: the account purge removes them with [`purge_owner`] and the export carries them in
//! `review.json`. A recipient reaches comments and listening only through a
//! [`RecipientGrant`](crate::RecipientGrant), a client reaches an upload link only through an
//! [`UploadGrant`]; both are built from an HMAC-tagged link the appliance handed out.
//!
//! Invariant: a recipient sees the threads of their own share and recipient, plus those the
//! owner made shared with every recipient of that share, and nothing of another share.

use redb::{ReadableTable, WriteTransaction};

use crate::error::Result;
use crate::ids::UserId;
use crate::store::{COMMENTS, LISTENING, NOTIFICATIONS, UPLOAD_LINKS};

mod comments;
mod listening;
mod notifications;
mod overview;
mod upload_links;

pub use comments::{CommentAuthorKind, CommentRecord, NewCommentInput};
pub use listening::{HEAT_BUCKETS, ListeningRecord};
pub use notifications::{NotificationKind, NotificationRecord, Notifications};
pub use overview::{OwnerOverview, RecipientOverview, ShareOverview};
pub use upload_links::{LinkRoom, NewUploadLink, UploadGrant, UploadLinkRecord, UploadLinks};

use comments::count_in_share;
pub(crate) use listening::note_served;
pub(crate) use notifications::{NotificationDraft, notify};

/// Removes every review row of `owner`: the account purge's step.
pub(crate) fn purge_owner(txn: &WriteTransaction, owner: UserId) -> Result<()> {
    let o = owner.raw();
    txn.open_table(COMMENTS)?
        .retain_in((o, 0)..=(o, u128::MAX), |_, _| false)?;
    txn.open_table(UPLOAD_LINKS)?
        .retain_in((o, 0)..=(o, u128::MAX), |_, _| false)?;
    txn.open_table(NOTIFICATIONS)?
        .retain_in((o, 0)..=(o, u128::MAX), |_, _| false)?;
    txn.open_table(LISTENING)?
        .retain_in((o, 0, 0)..=(o, u128::MAX, u128::MAX), |_, _| false)?;
    Ok(())
}

/// Drops a deleted track's comments and listening rows (inside the deletion's transaction).
pub(crate) fn remove_track_in(
    txn: &WriteTransaction,
    owner: UserId,
    track: crate::ids::TrackId,
) -> Result<()> {
    comments::remove_track_in(txn, owner, track)?;
    listening::remove_track_in(txn, owner, track)
}

/// One owner's review rows, for the account export's `review.json`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReviewExport {
    pub comments: Vec<CommentRecord>,
    pub upload_links: Vec<UploadLinkRecord>,
    pub listening: Vec<ListeningRecord>,
    pub notifications: Vec<NotificationRecord>,
}

/// Every row of `owner` in a table keyed `(owner, …)`, decoded.
fn rows_of<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    name: &'static str,
    owner: UserId,
) -> Result<Vec<T>> {
    let o = owner.raw();
    let mut out = Vec::new();
    for row in table.range((o, 0)..=(o, u128::MAX))? {
        out.push(crate::store::decode(name, row?.1.value())?);
    }
    Ok(out)
}

impl crate::Vault {
    /// The owner's review rows as the export carries them.
    pub fn review_export(&self, owner: UserId) -> Result<ReviewExport> {
        let txn = redb::ReadableDatabase::begin_read(self.db())?;
        let listening = {
            let table = txn.open_table(LISTENING)?;
            let o = owner.raw();
            let mut out = Vec::new();
            for row in table.range((o, 0, 0)..=(o, u128::MAX, u128::MAX))? {
                out.push(crate::store::decode("listening", row?.1.value())?);
            }
            out
        };
        Ok(ReviewExport {
            comments: rows_of(&txn.open_table(COMMENTS)?, "comments", owner)?,
            upload_links: rows_of(&txn.open_table(UPLOAD_LINKS)?, "upload_links", owner)?,
            listening,
            notifications: rows_of(&txn.open_table(NOTIFICATIONS)?, "notifications", owner)?,
        })
    }
}

#[cfg(test)]
mod tests;

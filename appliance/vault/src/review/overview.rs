//! The admin's overview of every owner's shares, for the console's Shares tab: what each
//! recipient did, and the payload a leak trace would read back.

use redb::{ReadableDatabase, ReadableTable};

use crate::Vault;
use crate::error::Result;
use crate::ids::UserId;
use crate::records::UserRecord;
use crate::shares::{RecipientEventKind, RecipientRecord, ShareRecord};
use crate::store::{LISTENING, RECIPIENTS, RENDERS, SHARES, USERS, decode};

/// One recipient and what the overview adds to the record.
#[derive(Debug, Clone)]
pub struct RecipientOverview {
    pub recipient: RecipientRecord,
    pub copies: u32,
    pub first_opened_ms: Option<i64>,
    pub listened_secs: f64,
}

#[derive(Debug, Clone)]
pub struct ShareOverview {
    pub share: ShareRecord,
    pub comments: u32,
    pub recipients: Vec<RecipientOverview>,
}

#[derive(Debug, Clone)]
pub struct OwnerOverview {
    pub owner: UserId,
    pub email: String,
    /// Newest first.
    pub shares: Vec<ShareOverview>,
}

impl Vault {
    /// Every owner with at least one share, by e-mail, each share with its recipients.
    pub fn shares_overview(&self) -> Result<Vec<OwnerOverview>> {
        let txn = self.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let shares = txn.open_table(SHARES)?;
        let recipients = txn.open_table(RECIPIENTS)?;
        let renders = txn.open_table(RENDERS)?;
        let listening = txn.open_table(LISTENING)?;
        let mut owners = Vec::new();
        for row in users.iter()? {
            let user: UserRecord = decode("users", row?.1.value())?;
            let o = user.id.raw();
            let mut owned = Vec::new();
            for row in shares.range((o, 0)..=(o, u128::MAX))? {
                let share: ShareRecord = decode("shares", row?.1.value())?;
                let mut listed = Vec::new();
                for id in &share.recipients {
                    let Some(raw) = recipients.get(id.raw())? else {
                        continue;
                    };
                    let recipient: RecipientRecord = decode("recipients", raw.value())?;
                    let copies = renders
                        .range((id.raw(), 0)..=(id.raw(), u128::MAX))?
                        .count() as u32;
                    let first_opened_ms = recipient
                        .events
                        .iter()
                        .find(|e| e.kind == RecipientEventKind::Opened)
                        .map(|e| e.at_ms);
                    listed.push(RecipientOverview {
                        listened_secs: super::listening::listened_secs(&listening, user.id, *id)?,
                        recipient,
                        copies,
                        first_opened_ms,
                    });
                }
                owned.push(ShareOverview {
                    comments: super::count_in_share(&txn, user.id, share.id)?,
                    share,
                    recipients: listed,
                });
            }
            if owned.is_empty() {
                continue;
            }
            owned.sort_by_key(|s| std::cmp::Reverse(s.share.created_at_ms));
            owners.push(OwnerOverview {
                owner: user.id,
                email: user.email,
                shares: owned,
            });
        }
        owners.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(owners)
    }
}

//! What the admin looks at: the owners, the selected owner's shares and the selected share's
//! recipients, a selection in each that follows its item across reloads, and which of the three
//! lists has the keys.

use crossterm::event::{KeyCode, KeyEvent};
use studiovault_api::admin::{AdminRecipient, AdminShare, AdminShares, OwnerShares};

use crate::request::{ApiFailure, Ctx};
use crate::widgets::Cursor;

const LOADING: &str = "Loading the shares …";
const NO_SHARES: &str = "No shares yet. Owners share tracks from the web app; each share shows here with its recipients.";

/// The list that has the arrow keys, left to right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Owners,
    Shares,
    Recipients,
}

impl Focus {
    fn next(self) -> Option<Self> {
        match self {
            Self::Owners => Some(Self::Shares),
            Self::Shares => Some(Self::Recipients),
            Self::Recipients => None,
        }
    }

    fn previous(self) -> Option<Self> {
        match self {
            Self::Owners => None,
            Self::Shares => Some(Self::Owners),
            Self::Recipients => Some(Self::Shares),
        }
    }

    /// Where `key` moves the focus, if it is a focus key and there is a list that way.
    fn after(self, key: &KeyEvent) -> Option<Self> {
        match key.code {
            KeyCode::Tab | KeyCode::Right | KeyCode::Enter => self.next(),
            KeyCode::BackTab | KeyCode::Left => self.previous(),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Selection {
    /// `None` until the first load answers.
    loaded: Option<AdminShares>,
    /// Why the first load failed: shown in the owners' place until a load succeeds.
    error: Option<String>,
    focus: Focus,
    owner: Cursor,
    share: Cursor,
    recipient: Cursor,
}

impl Selection {
    pub fn focus(&self) -> Focus {
        self.focus
    }

    pub fn owners(&self) -> &[OwnerShares] {
        self.loaded.as_ref().map_or(&[], |l| &l.owners)
    }

    pub fn owner(&self) -> Option<&OwnerShares> {
        self.owners().get(self.owner.index)
    }

    pub fn share(&self) -> Option<&AdminShare> {
        self.owner()?.shares.get(self.share.index)
    }

    fn recipient(&self) -> Option<&AdminRecipient> {
        self.share()?.recipients.get(self.recipient.index)
    }

    pub fn cursor(&self, list: Focus) -> &Cursor {
        match list {
            Focus::Owners => &self.owner,
            Focus::Shares => &self.share,
            Focus::Recipients => &self.recipient,
        }
    }

    /// What the owners' box says while it has no owner to show.
    pub fn empty_text(&self) -> &str {
        match (&self.error, &self.loaded) {
            (Some(error), _) => error,
            (None, None) => LOADING,
            (None, Some(_)) => NO_SHARES,
        }
    }

    /// Takes a fresh load, keeping the selected owner, share and recipient where they still
    /// are; false when it brings nothing new.
    pub fn replace(&mut self, shares: AdminShares) -> bool {
        if self.error.is_none() && self.loaded.as_ref() == Some(&shares) {
            return false;
        }
        let owner = self.owner().map(|o| o.owner.clone());
        let share = self.share().map(|s| s.id.clone());
        let recipient = self.recipient().map(|r| r.id.clone());
        self.loaded = Some(shares);
        self.error = None;
        self.reselect(owner.as_deref(), share.as_deref(), recipient.as_deref());
        true
    }

    /// Until the lists have loaded, the error stands in their place; after, it is a notice.
    pub fn load_failed(&mut self, error: &ApiFailure, ctx: &mut Ctx) {
        if self.loaded.is_some() {
            ctx.error(error.to_string());
        } else {
            self.error = Some(error.to_string());
        }
    }

    /// Selects the recipient `recipient_id` of the share `share_id`, whoever owns it, and gives
    /// the recipients' list the keys; false when the lists do not hold it (yet).
    pub fn select_traced(&mut self, share_id: &str, recipient_id: &str) -> bool {
        let found = self.owners().iter().enumerate().find_map(|(o, owner)| {
            let (s, share) = owner
                .shares
                .iter()
                .enumerate()
                .find(|(_, share)| share.id == share_id)?;
            let r = share.recipients.iter().position(|r| r.id == recipient_id)?;
            Some((o, s, r))
        });
        let Some((owner, share, recipient)) = found else {
            return false;
        };
        self.owner.index = owner;
        self.share.index = share;
        self.recipient.index = recipient;
        self.focus = Focus::Recipients;
        true
    }

    /// Where `key` moves the focus: nowhere while there is nothing to move through, or past
    /// the first or last list, where the app switches screens instead.
    fn focus_after(&self, key: &KeyEvent) -> Option<Focus> {
        if self.owners().is_empty() {
            return None;
        }
        self.focus.after(key)
    }

    /// True for a key that moves the focus now, which the app would otherwise take.
    pub fn claims(&self, key: &KeyEvent) -> bool {
        self.focus_after(key).is_some()
    }

    /// Moves the focus or the focused list's selection; true when the key was one of those.
    /// A new owner or share starts its lists below at the top.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        if let Some(focus) = self.focus_after(key) {
            self.focus = focus;
            return true;
        }
        match self.focus {
            Focus::Owners => {
                let before = self.owner.index;
                let moved = self.owner.handle_key(key, self.owners().len());
                if self.owner.index != before {
                    self.share = Cursor::default();
                    self.recipient = Cursor::default();
                }
                moved
            }
            Focus::Shares => {
                let before = self.share.index;
                let len = self.owner().map_or(0, |o| o.shares.len());
                let moved = self.share.handle_key(key, len);
                if self.share.index != before {
                    self.recipient = Cursor::default();
                }
                moved
            }
            Focus::Recipients => {
                let len = self.share().map_or(0, |s| s.recipients.len());
                self.recipient.handle_key(key, len)
            }
        }
    }

    /// Puts each cursor back on its item by id, or keeps it in range when the item is gone.
    fn reselect(&mut self, owner: Option<&str>, share: Option<&str>, recipient: Option<&str>) {
        let owners = self.owners();
        let found = owner.and_then(|id| owners.iter().position(|o| o.owner == id));
        let len = owners.len();
        place(&mut self.owner, found, len);

        let shares = self.owner().map_or(&[][..], |o| &o.shares);
        let found = share.and_then(|id| shares.iter().position(|s| s.id == id));
        let len = shares.len();
        place(&mut self.share, found, len);

        let recipients = self.share().map_or(&[][..], |s| &s.recipients);
        let found = recipient.and_then(|id| recipients.iter().position(|r| r.id == id));
        let len = recipients.len();
        place(&mut self.recipient, found, len);
    }
}

/// Moves `cursor` to `found`, or keeps it where it was, inside a list of `len`.
fn place(cursor: &mut Cursor, found: Option<usize>, len: usize) {
    if let Some(index) = found {
        cursor.index = index;
    }
    cursor.clamp(len);
}

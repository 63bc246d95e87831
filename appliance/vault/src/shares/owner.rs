//! The owner's handle on their shares: create, list, change, revoke; and the shares' part of
//! an account purge.

use super::copies::drop_render;
use super::*;

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
        let password_hash = link_password_hash(self.vault, new.password.as_deref())?;
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
                follow_latest: new.follow_latest,
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
                        copies_issued: Vec::new(),
                        open_logged_at_ms: None,
                        counted_play_at_ms: None,
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

/// The shares' part of a track's deletion, inside its transaction. A share that follows
/// versions and names the deleted version names its family instead: a share names the
/// version that was newest when it was made, and without this, deleting that version once a
/// newer one came took the whole piece out of the share. Every recipient's copy of the track
/// goes. Answers the blobs whose files go once it commits.
pub(crate) fn remove_track_in(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    track: &TrackRecord,
) -> Result<Vec<BlobId>> {
    if let Some(family) = track.version.map(|v| v.family).filter(|f| *f != track.id) {
        for mut share in owner_shares(txn, owner)? {
            if !share.follow_latest || !share.tracks.contains(&track.id) {
                continue;
            }
            let mut named = Vec::with_capacity(share.tracks.len());
            for entry in &share.tracks {
                let entry = if *entry == track.id { family } else { *entry };
                if !named.contains(&entry) {
                    named.push(entry);
                }
            }
            share.tracks = named;
            put_share(txn, &share)?;
        }
    }
    copies::remove_track_renders_in(vault, txn, owner, track.id)
}

pub(super) fn owner_shares(txn: &WriteTransaction, owner: UserId) -> Result<Vec<ShareRecord>> {
    txn.open_table(SHARES)?
        .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?
        .map(|r| {
            r.map_err(VaultError::from)
                .and_then(|(_, v)| decode("shares", v.value()))
        })
        .collect()
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
            let rendered = rendered_tracks(&txn.open_table(RENDERS)?, *recipient)?;
            for track in rendered {
                drop_render(vault, txn, owner, *recipient, track)?;
            }
        }
        txn.open_table(SHARES)?
            .remove((owner.raw(), share.id.raw()))?;
    }
    Ok(())
}

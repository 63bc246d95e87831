//! The recipient's side: a [`RecipientGrant`] unlocks, views and plays what one share grants.

use super::*;

impl RecipientGrant {
    pub fn recipient(&self) -> RecipientId {
        self.recipient
    }

    pub fn share(&self) -> ShareId {
        self.share
    }

    /// The share and recipient, if both are still live.
    /// Read-only: what it answers must not be written back (see [`update_recipient`]).
    pub(crate) fn live_state(&self, vault: &Vault) -> Result<(ShareRecord, RecipientRecord)> {
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
        let (Some(expires), Some(given)) = (canonical_decimal(expires), canonical_hex::<16>(given))
        else {
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
        Ok(bool::from(t[..16].ct_eq(&given[..])) && expires.saturating_mul(1000) > vault.now_ms())
    }

    /// Records that the recipient opened the playlist (at most once an hour); the first open
    /// ever notifies the owner. The portal's script calls it from the page, so a link preview
    /// that only fetches the page records nothing.
    pub fn open(&self, vault: &Vault, client: &ClientInfo) -> Result<()> {
        // Opens within the hour change nothing, and spare the commit.
        vault.audited_if_changed(Some(client), |txn, now| {
            let (logged, first, name, title) =
                update_live_recipient(txn, self.recipient, now, |share, rec| {
                    let first = rec.open_logged_at_ms.is_none();
                    Ok((
                        rec.note_open(now),
                        first,
                        rec.name.clone(),
                        share.title.clone(),
                    ))
                })?;
            if first {
                crate::review::notify(
                    txn,
                    self.owner,
                    crate::review::NotificationDraft {
                        kind: crate::review::NotificationKind::Opened,
                        summary: format!("{name} opened {title} for the first time"),
                        share: Some(self.share),
                        track: None,
                        comment: None,
                    },
                    now,
                )?;
            }
            let event = logged.then(|| {
                AuditEvent::new(
                    Actor::Recipient(self.recipient),
                    Some(self.owner),
                    AuditAction::ShareOpen,
                )
                .object(format!("share/{}", self.share))
            });
            Ok(((), event))
        })
    }

    /// The playlist without recording anything (for progress polling).
    pub fn view(&self, vault: &Vault) -> Result<PortalView> {
        let (share, recipient) = self.live_state(vault)?;
        let txn = vault.db().begin_read()?;
        let table = txn.open_table(TRACKS)?;
        let mut tracks = Vec::new();
        let mut versions = Vec::new();
        for id in &share.tracks {
            let offered = entry_versions(&table, &share, *id)?;
            if let Some(first) = offered.last() {
                tracks.push(first.clone());
                versions.push(offered);
            }
        }
        let rendered = rendered_tracks(&txn.open_table(RENDERS)?, self.recipient)?;
        Ok(PortalView {
            share,
            recipient,
            tracks,
            versions,
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
        self.signed_url(vault, track, kind, client, false)
    }

    /// A fresh play URL for the play of `track` in progress, when the one the player holds
    /// expired (a pause of more than [`PLAY_URL_SECS`]): it counts nothing while the recipient
    /// is still on that piece within [`PLAY_RESUME_SECS`] of the play that counted, and is a new
    /// play otherwise.
    pub fn resumed_play_url(
        &self,
        vault: &Vault,
        track: TrackId,
        client: &ClientInfo,
    ) -> Result<MediaUrl> {
        self.signed_url(vault, track, MediaKind::Play, client, true)
    }

    fn signed_url(
        &self,
        vault: &Vault,
        track: TrackId,
        kind: MediaKind,
        client: &ClientInfo,
        resume: bool,
    ) -> Result<MediaUrl> {
        let share_expires_at_ms = match kind {
            MediaKind::Play => vault.audited(Some(client), |txn, now| {
                let share_expires =
                    update_live_recipient(txn, self.recipient, now, |share, rec| {
                        let tracks = txn.open_table(TRACKS)?;
                        if !grants_track(&tracks, share, track)? {
                            return Err(VaultError::NotFound);
                        }
                        // Comparing versions (A/B), or resuming after a long pause, continues
                        // the play in progress.
                        if !continues_play(&tracks, share.owner, rec, track, now, resume)? {
                            if share.play_limit.is_some_and(|l| rec.plays >= l) {
                                return Err(VaultError::LimitReached("plays"));
                            }
                            rec.plays += 1;
                            rec.counted_play_at_ms = Some(now);
                        }
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
                if !self.grants(vault, &share, track)? {
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
        if !self.grants(vault, &share, track)? {
            return Err(VaultError::NotFound);
        }
        vault.library(&OwnerScope::new(self.owner)).peaks(track)
    }

    /// Whether the share grants `track` (see [`grants_track`]), read now.
    pub(crate) fn grants(
        &self,
        vault: &Vault,
        share: &ShareRecord,
        track: TrackId,
    ) -> Result<bool> {
        let txn = vault.db().begin_read()?;
        grants_track(&txn.open_table(TRACKS)?, share, track)
    }

    pub(crate) fn owner(&self) -> UserId {
        self.owner
    }
}

/// Whether playing `track` now continues the play of the piece played last, within a play URL's
/// life of the play that counted: another version of it (a comparison), or with `resume` the
/// same track or a version within [`PLAY_RESUME_SECS`] (a fresh URL after a long pause). A
/// plain replay of the same track is a new play. Measured from the counted play, not the last
/// switch, or switching back and forth would never spend a play.
fn continues_play(
    tracks: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    recipient: &RecipientRecord,
    track: TrackId,
    now: i64,
    resume: bool,
) -> Result<bool> {
    let window = if resume {
        PLAY_RESUME_SECS
    } else {
        PLAY_URL_SECS
    };
    let within_play = recipient
        .counted_play_at_ms
        .is_some_and(|at| now - at < window * 1000);
    let last = recipient
        .events
        .iter()
        .rev()
        .find(|e| e.kind == RecipientEventKind::Played)
        .filter(|_| within_play)
        .and_then(|e| e.track);
    let Some(last) = last else {
        return Ok(false);
    };
    if last == track {
        return Ok(resume);
    }
    let family = |id: TrackId| -> Result<Option<TrackId>> {
        Ok(find_track(tracks, owner, id)?.and_then(|t| t.version.map(|v| v.family)))
    };
    Ok(family(last)?.is_some_and(|f| family(track).ok().flatten() == Some(f)))
}

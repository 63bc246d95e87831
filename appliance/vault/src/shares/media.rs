//! Signed media URLs and what they open: signature, expiry, revocation, track, single-use
//! nonce and limits, checked in one transaction.

use super::*;

impl Vault {
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
        let nonce: [u8; 16] = canonical_hex(&url.nonce).ok_or_else(forbidden)?;
        let signature: [u8; 32] = canonical_hex(&url.signature).ok_or_else(forbidden)?;
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
            if !grants_track(&txn.open_table(TRACKS)?, &share, url.track)? {
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
                crate::review::notify(
                    txn,
                    owner,
                    crate::review::NotificationDraft {
                        kind: crate::review::NotificationKind::Downloaded,
                        summary: format!(
                            "{} downloaded {} ({})",
                            recipient.name, track.info.name, share.title
                        ),
                        share: Some(share.id),
                        track: Some(url.track),
                        comment: None,
                    },
                    now,
                )?;
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
            Ok((
                (
                    track,
                    source,
                    (url.kind == MediaKind::Play).then_some(share),
                ),
                download,
            ))
        })
        .map(|(track, source, played)| {
            // A play URL's requests make listening sessions; a failure to note one does not
            // stop the audio.
            if let Some(share) = played
                && let Err(e) = crate::review::note_served(self, &share, url.recipient, url.track)
            {
                tracing::warn!(error = %e, "could not note a listening session");
            }
            (track, source)
        })
    }

    pub(super) fn media_signature(
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
        let txn = self.begin_write()?;
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
}

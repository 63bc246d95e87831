//! Recipients' watermarked copies: what a render reads and where it is stored, and the copies
//! dropped with a track or a recipient.

use studiovault_api::ProcessingPurpose;

use super::owner::owner_shares;
use super::*;
use crate::records::owner_allows;

impl RecipientGrant {
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
        if !share.watermark || !self.grants(vault, &share, track)? {
            return Err(VaultError::NotFound);
        }
        owner_allows(vault, self.owner, ProcessingPurpose::MarkedCopies)?;
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
            BlobWriter::create(&vault.tmp_dir(), self.owner, blob, key.blob_key(blob))?;
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
                if !track_exists || !grants_track(&txn.open_table(TRACKS)?, share, track)? {
                    return Err(VaultError::NotFound);
                }
                // The owner may have objected to new copies while this one was being made.
                get_user(&txn.open_table(USERS)?, self.owner)?
                    .ok_or(VaultError::NotFound)?
                    .allows(ProcessingPurpose::MarkedCopies)?;
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
                recipient.note_copy_issued(now, track);
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

/// Drops one recipient's copy of one track and queues its replica's deletion; answers the blob
/// whose file goes once the transaction commits.
pub(super) fn drop_render(
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

/// Drops every recipient's copy of a deleted track (inside the deletion transaction); answers
/// the blobs whose files go once it commits.
pub(super) fn remove_track_renders_in(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    track: TrackId,
) -> Result<Vec<BlobId>> {
    let mut blobs = Vec::new();
    // Every share: one that follows versions holds copies of tracks it does not name.
    for share in owner_shares(txn, owner)? {
        for recipient in &share.recipients {
            blobs.extend(drop_render(vault, txn, owner, *recipient, track)?);
        }
    }
    Ok(blobs)
}

/// Drops the recipients' copies of a share that ended (revoked or expired) before
/// `ended_before`, and those of recipients revoked before it, inside the caller's transaction;
/// answers the blobs whose files go once it commits. Recipients and their watermark payloads
/// stay, so a leak is still traced once the copies are gone.
pub(crate) fn remove_ended_copies_in(
    vault: &Vault,
    txn: &WriteTransaction,
    owner: UserId,
    share: ShareId,
    ended_before: i64,
) -> Result<Vec<BlobId>> {
    // Read in this transaction: a share revived (its expiry moved) or purged since it was
    // listed keeps its copies, or has none left.
    let share = match read_share(&txn.open_table(SHARES)?, owner, share) {
        Ok(share) => share,
        Err(VaultError::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let share_ended = share
        .revoked_at_ms
        .unwrap_or(share.expires_at_ms)
        .min(share.expires_at_ms);
    let mut blobs = Vec::new();
    for recipient in &share.recipients {
        let revoked = match read_recipient(&txn.open_table(RECIPIENTS)?, *recipient) {
            Ok(rec) => rec.revoked_at_ms,
            Err(VaultError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        let ended = revoked.map_or(share_ended, |at| at.min(share_ended));
        if ended >= ended_before {
            continue;
        }
        let rendered = rendered_tracks(&txn.open_table(RENDERS)?, *recipient)?;
        for track in rendered {
            blobs.extend(drop_render(vault, txn, share.owner, *recipient, track)?);
        }
    }
    Ok(blobs)
}

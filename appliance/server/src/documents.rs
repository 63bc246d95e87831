//! The documents of an archive of one account's data, as the owner's export
//! (`owners/export.rs`) and a legal hand-over (`admin/legal/`) write them: the same shapes, so
//! what an authority receives reads like what the owner can take away.

use serde_json::{Value, json};
use studiovault_vault::{ShareDetail, TrackRecord};

use crate::web::tar::safe_name;

/// `audio/<track id>-<file name>`: where a track's audio goes in an archive.
pub(crate) fn audio_name(track: &TrackRecord) -> String {
    format!(
        "audio/{}-{}",
        track.id,
        safe_name(&track.info.original_filename)
    )
}

/// `tracks.json`: every track, each naming its audio file when the archive carries it.
pub(crate) fn tracks_document(
    tracks: &[TrackRecord],
    with_files: bool,
) -> Result<Vec<Value>, serde_json::Error> {
    tracks
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(t)?;
            if with_files {
                v["file"] = Value::from(audio_name(t));
            }
            Ok(v)
        })
        .collect()
}

/// `shares.json`: the shares, their recipients and what each did.
pub(crate) fn shares_document(shares: &[ShareDetail]) -> Vec<Value> {
    shares
        .iter()
        .map(|d| {
            json!({
                "id": d.share.id,
                "title": d.share.title,
                "tracks": d.share.tracks,
                "created_at": d.share.created_at_ms,
                "expires_at": d.share.expires_at_ms,
                "revoked_at": d.share.revoked_at_ms,
                "allow_download": d.share.allow_download,
                "watermark": d.share.watermark,
                "recipients": d.recipients.iter().map(|(r, _)| json!({
                    "id": r.id,
                    "name": r.name,
                    "email": r.email,
                    "revoked_at": r.revoked_at_ms,
                    "plays": r.plays,
                    "downloads": r.downloads,
                    "events": r.events,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

pub(crate) fn pretty<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec_pretty(value)?;
    out.push(b'\n');
    Ok(out)
}

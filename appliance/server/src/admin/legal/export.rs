//! `POST /v1/legal/{id}/export`: a hand-over as one tar archive, streamed to the CLI, which
//! writes it where the admin said.
//!
//! It holds only what the request asks for, of its accounts only: `manifest.json` first (the
//! request, and the path, size and SHA-256 of every other entry), then under each account's id
//! its documents (`account.json`, `tracks.json`, `shares.json`, `activity.json`, in the shapes
//! of the owner's own export; `deleted_under_hold.json`, the tracks the owner deleted while a
//! hold held the account) and its audio, theirs included. An audio file's hash is the one recorded at
//! upload; the file is hashed again as it is sent, and the stream breaks off should it differ,
//! so the manifest never vouches for bytes that were not sent. Each read of audio is audited
//! (`Vault::hand_over_audio`).

use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};
use studiovault_vault::{
    HandedOverAccount, LegalHandover, LegalRequestId, TrackRecord, UserId, Vault,
};
use tokio_stream::wrappers::ReceiverStream;
use warp::Reply;
use warp::http::header;
use warp::reply::Response;

use super::find;
use crate::documents::{audio_name, pretty, shares_document, tracks_document};
use crate::web::tar::{BLOCK, entry_len, header, padding, trailer};
use crate::web::{ApiError, AppState, set};

const PIECE: usize = 256 * 1024;

/// One entry of the archive after the manifest.
enum Content {
    Document(Vec<u8>),
    Audio {
        owner: UserId,
        track: Box<TrackRecord>,
    },
}

struct Entry {
    /// Below the archive's folder.
    path: String,
    content: Content,
}

impl Entry {
    fn size(&self) -> u64 {
        match &self.content {
            Content::Document(body) => body.len() as u64,
            Content::Audio { track, .. } => track.size_bytes,
        }
    }

    fn sha256(&self) -> String {
        match &self.content {
            Content::Document(body) => hex::encode(Sha256::digest(body)),
            Content::Audio { track, .. } => track.sha256.clone(),
        }
    }
}

/// The archive: its folder, the manifest and the entries it lists.
struct Archive {
    request: LegalRequestId,
    folder: String,
    manifest: Vec<u8>,
    entries: Vec<Entry>,
    mtime: u64,
}

fn account_entries(part: &HandedOverAccount) -> Result<Vec<Entry>, serde_json::Error> {
    let dir = part.owner.to_string();
    let document = |name: &str, body: Vec<u8>| Entry {
        path: format!("{dir}/{name}"),
        content: Content::Document(body),
    };
    let mut entries = Vec::new();
    if let Some(account) = &part.account {
        entries.push(document("account.json", pretty(account)?));
    }
    if let Some(tracks) = &part.tracks {
        let with_files = !part.audio.is_empty();
        entries.push(document(
            "tracks.json",
            pretty(&tracks_document(tracks, with_files)?)?,
        ));
    }
    if !part.deleted_under_hold.is_empty() {
        // The tracks the owner deleted while held: their records as `tracks.json` has them,
        // with when the owner deleted each and which request's hold kept it.
        let with_files = !part.audio.is_empty();
        let held: Vec<TrackRecord> = part
            .deleted_under_hold
            .iter()
            .map(|h| h.track.clone())
            .collect();
        let mut kept = tracks_document(&held, with_files)?;
        for (entry, held) in kept.iter_mut().zip(&part.deleted_under_hold) {
            entry["deleted_at"] = json!(held.deleted_at_ms);
            entry["kept_for"] = json!(format!("legal/{}", held.request));
        }
        entries.push(document("deleted_under_hold.json", pretty(&kept)?));
    }
    if let Some(shares) = &part.shares {
        entries.push(document("shares.json", pretty(&shares_document(shares))?));
    }
    if let Some(activity) = &part.activity {
        entries.push(document("activity.json", pretty(activity)?));
    }
    entries.extend(part.audio.iter().map(|track| Entry {
        path: format!("{dir}/{}", audio_name(track)),
        content: Content::Audio {
            owner: part.owner,
            track: Box::new(track.clone()),
        },
    }));
    Ok(entries)
}

impl Archive {
    fn of(handover: &LegalHandover, produced_at: i64) -> Result<Self, serde_json::Error> {
        let request = &handover.request;
        let mut entries = Vec::new();
        for part in &handover.accounts {
            entries.extend(account_entries(part)?);
        }
        let listed: Vec<_> = entries
            .iter()
            .map(|e| json!({ "path": e.path, "size": e.size(), "sha256": e.sha256() }))
            .collect();
        let manifest = pretty(&json!({
            "request": {
                "id": request.id,
                "kind": request.kind,
                "authority": request.authority,
                "legal_basis": request.legal_basis,
                "reference": request.reference,
                "received_at": request.received_at_ms,
                "deadline": request.deadline_ms,
                "data_types": request.data_types,
                "accounts": request.accounts,
            },
            "produced_at": produced_at,
            "hash": "sha256",
            "entries": listed,
        }))?;
        let id = request.id.to_string();
        Ok(Self {
            request: request.id,
            folder: format!("legal-{}", &id[..8]),
            manifest,
            entries,
            mtime: u64::try_from(produced_at / 1000).unwrap_or(0),
        })
    }

    fn len(&self) -> u64 {
        entry_len(self.manifest.len() as u64)
            + self
                .entries
                .iter()
                .map(|e| entry_len(e.size()))
                .sum::<u64>()
            + 2 * BLOCK
    }
}

/// Records the hand-over and answers its archive, written as it is sent.
pub(super) async fn hand_over(state: &AppState, who: String) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let archive = tokio::task::spawn_blocking(move || {
        let id = find(&vault, &who)?;
        let handover = vault.hand_over(id).map_err(ApiError::from)?;
        Archive::of(&handover, vault.now_ms()).map_err(|e| {
            tracing::error!(error = %e, "a legal hand-over's documents could not be written");
            ApiError::internal()
        })
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(ApiError::not_found_as("legal request"))?;
    let length = archive.len();
    let name = format!("{}.tar", archive.folder);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let vault = state.vault.clone();
    tokio::task::spawn_blocking(move || write_archive(&vault, &archive, &tx));
    let mut res = warp::reply::stream(ReceiverStream::new(rx)).into_response();
    set(&mut res, header::CONTENT_TYPE, "application/x-tar");
    set(&mut res, header::CONTENT_LENGTH, &length.to_string());
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"{name}\""),
    );
    Ok(res)
}

type Sender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Writes the archive into `tx`; stops when the client goes away. Audio that cannot be read,
/// or reads other than its recorded hash, ends the stream with an error: an archive is never
/// silently short or wrong.
fn write_archive(vault: &Vault, archive: &Archive, tx: &Sender) {
    let send = |piece: Bytes| tx.blocking_send(Ok(piece)).is_ok();
    let fail = |why: &'static str| {
        let _ = tx.blocking_send(Err(std::io::Error::other(why)));
    };
    let head = |path: &str, size: u64| {
        Bytes::copy_from_slice(&header(
            &format!("{}/{path}", archive.folder),
            size,
            archive.mtime,
        ))
    };
    let manifest_len = archive.manifest.len() as u64;
    if !send(head("manifest.json", manifest_len))
        || !send(Bytes::from(archive.manifest.clone()))
        || !send(padding(manifest_len))
    {
        return;
    }
    for entry in &archive.entries {
        let size = entry.size();
        if !send(head(&entry.path, size)) {
            return;
        }
        match &entry.content {
            Content::Document(body) => {
                if !send(Bytes::from(body.clone())) {
                    return;
                }
            }
            Content::Audio { owner, track } => {
                let mut reader = match vault.hand_over_audio(archive.request, *owner, track.id) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(request = %archive.request, track = %track.id, error = %e, "audio for a legal hand-over could not be opened");
                        return fail("a track could not be read");
                    }
                };
                let mut hasher = Sha256::new();
                let mut pos = 0;
                while pos < size {
                    let want = (size - pos).min(PIECE as u64) as usize;
                    match reader.read_span(pos, want) {
                        Ok((buf, range)) if !range.is_empty() => {
                            pos += range.len() as u64;
                            let piece = Bytes::from(buf).slice(range);
                            hasher.update(&piece);
                            if !send(piece) {
                                return;
                            }
                        }
                        Ok(_) => break,
                        Err(e) => {
                            tracing::error!(request = %archive.request, track = %track.id, error = %e, "audio for a legal hand-over failed to decrypt");
                            return fail("a track failed to decrypt");
                        }
                    }
                }
                if pos != size || hex::encode(hasher.finalize()) != entry.sha256() {
                    tracing::error!(request = %archive.request, track = %track.id, "audio for a legal hand-over differs from its recorded hash");
                    return fail("a track differs from its recorded hash");
                }
            }
        }
        if !send(padding(size)) {
            return;
        }
    }
    let _ = send(trailer());
}

//! The receiving end of an upload, shared by the owners' multipart and resumable routes and by
//! upload links.
//!
//! Bytes are never held in memory: after the first ones are sniffed, pieces go through a
//! bounded channel to a blocking thread that hashes and encrypts them into a temp file. When
//! the upload is complete the sealed blob is probed as audio (decrypting from disk) and only
//! then committed. Dropping an [`Incoming`] at any point deletes its temp file.

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use studiovault_audio::{Container, ProbeError, probe};
use studiovault_vault::library::names_from_filename;
use studiovault_vault::{
    Authenticated, BlobWriter, ClientInfo, Placement, SealedBlob, TrackInfo, TrackRecord,
    VaultError,
};
use warp::http::StatusCode;

use super::{ApiError, AppState, blocking};

/// Bytes read before deciding whether the upload looks like audio at all.
const SNIFF_LEN: usize = 16;
/// Pieces queued between the socket and the encrypting thread.
const WRITE_QUEUE: usize = 8;

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("uploads are limited to {max} bytes"),
    )
}

pub fn over_quota(remaining: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
        format!("the upload exceeds the storage left in your plan ({remaining} bytes)"),
    )
}

pub fn cut_off() -> ApiError {
    ApiError::bad_request("the upload body is malformed or was cut off before its end")
}

fn not_audio() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_audio",
        "not an audio file (accepted: WAV, AIFF, FLAC, MP3, AAC/M4A, ALAC, Ogg)",
    )
}

/// Why an append stopped before the stream's end.
#[derive(Debug)]
pub enum Stopped {
    /// The client's stream broke off; what arrived before is kept.
    Interrupted,
    /// The upload is unusable (not audio, too large, the disk failed); drop it.
    Refused(ApiError),
}

/// One upload being received into an encrypted temp blob.
#[derive(Debug)]
pub struct Incoming {
    writer: Option<BlobWriter>,
    head: Vec<u8>,
    container: Option<Container>,
}

impl Incoming {
    pub async fn begin(auth: &Authenticated, state: &AppState) -> Result<Self, ApiError> {
        let vault = state.vault.clone();
        let scope = auth.scope.clone();
        let writer = blocking(move || vault.library(&scope).begin_upload()).await?;
        Ok(Self::into(writer))
    }

    /// Receives into `writer`, an encrypting writer of the owner the file is for.
    pub fn into(writer: BlobWriter) -> Self {
        Self {
            writer: Some(writer),
            head: Vec::new(),
            container: None,
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.writer.as_ref().map_or(0, BlobWriter::len)
    }

    /// Appends `pieces` until they end. `limit` caps the whole upload; `over_limit` says why.
    pub async fn append<S, B>(
        &mut self,
        pieces: S,
        limit: u64,
        over_limit: impl FnOnce() -> ApiError + Send,
    ) -> Result<(), Stopped>
    where
        S: Stream<Item = Result<B, warp::Error>>,
        B: Buf,
    {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| Stopped::Refused(ApiError::internal()))?;
        let mut total = writer.len();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let task = tokio::task::spawn_blocking(move || -> Result<BlobWriter, VaultError> {
            while let Some(piece) = rx.blocking_recv() {
                writer.write(&piece)?;
            }
            Ok(writer)
        });
        let mut stopped = None;
        let mut pieces = std::pin::pin!(pieces);
        while let Some(piece) = pieces.next().await {
            let piece = match piece {
                Ok(mut b) => b.copy_to_bytes(b.remaining()),
                Err(_) => {
                    stopped = Some(Stopped::Interrupted);
                    break;
                }
            };
            total += piece.len() as u64;
            if total > limit {
                stopped = Some(Stopped::Refused(over_limit()));
                break;
            }
            if self.container.is_none() {
                self.head.extend(
                    piece
                        .iter()
                        .take(SNIFF_LEN - self.head.len().min(SNIFF_LEN)),
                );
                if self.head.len() >= SNIFF_LEN {
                    match Container::sniff(&self.head) {
                        Some(c) => self.container = Some(c),
                        None => {
                            stopped = Some(Stopped::Refused(not_audio()));
                            break;
                        }
                    }
                }
            }
            if tx.send(piece).await.is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        drop(tx);
        match task.await {
            Ok(Ok(writer)) => self.writer = Some(writer),
            Ok(Err(e)) => return Err(Stopped::Refused(e.into())),
            Err(_) => return Err(Stopped::Refused(ApiError::internal())),
        }
        stopped.map_or(Ok(()), Err)
    }

    /// Seals the blob, probes it as audio and commits it as a track of the caller.
    pub async fn commit(
        self,
        filename: &str,
        name: Option<String>,
        placement: Placement,
        auth: &Authenticated,
        client: ClientInfo,
        state: &AppState,
    ) -> Result<TrackRecord, ApiError> {
        let (sealed, info) = self.seal(filename, name).await?;
        let vault = state.vault.clone();
        let scope = auth.scope.clone();
        let rec = blocking(move || {
            vault
                .library(&scope)
                .commit_upload(sealed, info, placement, &client)
        })
        .await?;
        tracing::info!(track = %rec.id, bytes = rec.size_bytes, "upload committed");
        Ok(rec)
    }

    /// Seals the blob and probes it as audio: what a commit stores, and what the track is.
    pub async fn seal(
        mut self,
        filename: &str,
        name: Option<String>,
    ) -> Result<(SealedBlob, TrackInfo), ApiError> {
        if self.len() == 0 {
            return Err(ApiError::bad_request("the file is empty"));
        }
        let container = match self.container {
            Some(c) => c,
            None => Container::sniff(&self.head).ok_or_else(not_audio)?,
        };
        let writer = self.writer.take().ok_or_else(ApiError::internal)?;
        let sealed: SealedBlob = blocking(move || writer.finish()).await?;
        let len = sealed.len();
        let (sealed, probed) = blocking(move || {
            let reader = sealed.reader()?;
            let probed = probe(reader, len, container);
            Ok((sealed, probed))
        })
        .await?;
        let audio = probed.map_err(|e| match e {
            ProbeError::Corrupt(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "corrupt_audio",
                e.to_string(),
            ),
            ProbeError::Unsupported(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_audio",
                e.to_string(),
            ),
        })?;
        let (derived_name, original_filename) = names_from_filename(filename);
        let info = TrackInfo {
            name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(derived_name),
            original_filename,
            container: format!("{:?}", audio.container).to_lowercase(),
            codec: audio.codec,
            mime_type: container.mime_type().to_owned(),
            duration_secs: audio.duration_secs,
            sample_rate: audio.sample_rate,
            channels: audio.channels,
            bits_per_sample: audio.bits_per_sample,
        };
        Ok((sealed, info))
    }
}

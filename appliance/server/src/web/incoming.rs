//! The receiving end of an upload, shared by the owners' multipart and resumable routes and by
//! upload links.
//!
//! Bytes are never held in memory beyond one batch: after the first ones are sniffed, pieces
//! are gathered into batches that a blocking thread hashes and encrypts into a temp file, one
//! batch written while the next arrives. When
//! the upload is complete the sealed blob is probed as audio (decrypting from disk) and only
//! then committed. Dropping an [`Incoming`] at any point deletes its temp file.

use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use studiovault_audio::{Container, ProbeError};
use studiovault_vault::library::names_from_filename;
use studiovault_vault::{
    Authenticated, BlobWriter, ClientInfo, Placement, SealedBlob, TrackInfo, TrackRecord,
    VaultError,
};
use warp::http::StatusCode;

use super::{ApiError, AppState, blocking};
use crate::probe::{Probed, Prober};

/// Bytes read before deciding whether the upload looks like audio at all.
const SNIFF_LEN: usize = 16;
/// Bytes gathered from the socket before a blocking thread encrypts and writes them.
const WRITE_BATCH: usize = 1 << 20;

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

/// The upload's writer: here, or on a blocking thread writing one batch while the next arrives.
/// No thread waits on the client, so a slow or stalled upload holds none (thousands of them
/// cannot starve the blocking pool every other request needs).
enum Writer {
    Here(Box<BlobWriter>),
    Writing(tokio::task::JoinHandle<Result<Box<BlobWriter>, VaultError>>),
}

impl Writer {
    /// The writer, once its batch is written.
    async fn settle(self) -> Result<Box<BlobWriter>, Stopped> {
        match self {
            Self::Here(writer) => Ok(writer),
            Self::Writing(task) => match task.await {
                Ok(Ok(writer)) => Ok(writer),
                Ok(Err(e)) => Err(Stopped::Refused(e.into())),
                Err(_) => Err(Stopped::Refused(ApiError::internal())),
            },
        }
    }

    /// Starts writing `batch` once the previous batch is written.
    async fn write(self, batch: Vec<u8>) -> Result<Self, Stopped> {
        let mut writer = self.settle().await?;
        Ok(Self::Writing(tokio::task::spawn_blocking(move || {
            writer.write(&batch)?;
            Ok(writer)
        })))
    }
}

/// One upload being received into an encrypted temp blob.
#[derive(Debug)]
pub struct Incoming {
    writer: Option<BlobWriter>,
    /// How long the body may send nothing before it counts as cut off.
    idle_limit: Duration,
    head: Vec<u8>,
    container: Option<Container>,
}

impl Incoming {
    pub async fn begin(auth: &Authenticated, state: &AppState) -> Result<Self, ApiError> {
        let vault = state.vault.clone();
        let scope = auth.scope.clone();
        let writer = blocking(move || vault.library(&scope).begin_upload()).await?;
        Ok(Self::into(writer, state))
    }

    /// Receives into `writer`, an encrypting writer of the owner the file is for.
    pub fn into(writer: BlobWriter, state: &AppState) -> Self {
        Self {
            writer: Some(writer),
            idle_limit: Duration::from_secs(state.config.http.body_idle_timeout_secs),
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
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Stopped::Refused(ApiError::internal()))?;
        let mut total = writer.len();
        let mut writer = Writer::Here(Box::new(writer));
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        let mut stopped = None;
        let mut pieces = std::pin::pin!(pieces);
        loop {
            // A silent client (a half-open connection) would otherwise hold the upload and its
            // lock for good.
            let piece = match tokio::time::timeout(self.idle_limit, pieces.next()).await {
                Ok(None) => break,
                Ok(Some(Ok(mut b))) => b.copy_to_bytes(b.remaining()),
                Ok(Some(Err(_))) | Err(_) => {
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
            batch.extend_from_slice(&piece);
            if batch.len() >= WRITE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH));
                writer = writer.write(full).await?;
            }
        }
        if !batch.is_empty() {
            writer = writer.write(batch).await?;
        }
        self.writer = Some(*writer.settle().await?);
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
        let (sealed, info) = self.seal(filename, name, &state.prober).await?;
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
        prober: &Prober,
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
        let audio = match prober.probe(&sealed, container).await {
            Probed::Audio(audio) => Ok(audio),
            Probed::Refused(e) => Err(e),
            Probed::Failed(reason) => {
                tracing::error!(reason, "an upload could not be probed");
                return Err(ApiError::internal());
            }
        };
        let audio = audio.map_err(|e| match e {
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

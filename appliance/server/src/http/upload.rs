//! `POST /api/tracks`: a streaming multipart upload.
//!
//! The body is never held in memory: after the first bytes are sniffed, pieces go through a
//! bounded channel to a blocking thread that hashes and encrypts them into a temp file. Then
//! the sealed blob is probed as audio (decrypting from disk), and only then committed. Any
//! failure on the way drops the temp file: nothing is stored, nothing is half-visible.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use studiovault_audio::{Container, ProbeError, probe};
use studiovault_vault::library::names_from_filename;
use studiovault_vault::{Authenticated, ClientInfo, SealedBlob, TrackInfo, VaultError};
use warp::http::{StatusCode, header};
use warp::multipart::FormData;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::tracks::view;
use super::{ApiError, AppState, auth, blocking, client, respond, with_state};

/// Bytes read before deciding whether the upload looks like audio at all.
const SNIFF_LEN: usize = 16;
/// Allowance for multipart boundaries and part headers when judging `Content-Length`.
const MULTIPART_SLACK: u64 = 64 * 1024;
const MAX_NAME_FIELD: usize = 1024;
/// Pieces queued between the socket and the encrypting thread.
const WRITE_QUEUE: usize = 8;

fn multipart_only() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|ct: Option<String>| async move {
            if ct
                .as_deref()
                .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"))
            {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "upload with Content-Type multipart/form-data and the audio in field `file`",
                )))
            }
        })
        .untuple_one()
}

pub(super) fn route(
    state: &AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    warp::path!("api" / "tracks")
        .and(warp::post())
        .and(auth(state))
        .and(warp::header::optional::<u64>("content-length"))
        .and(multipart_only())
        .and(warp::multipart::form().max_length(None))
        .and(client())
        .and(with_state(state))
        .then(|auth, len, form, client, state| async move {
            respond(upload(auth, len, form, client, state).await)
        })
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("uploads are limited to {max} bytes"),
    )
}

fn over_quota(remaining: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
        format!("the upload exceeds the storage left in your plan ({remaining} bytes)"),
    )
}

fn cut_off() -> ApiError {
    ApiError::bad_request("the multipart body is malformed or was cut off before its end")
}

async fn upload(
    auth: Authenticated,
    content_length: Option<u64>,
    mut form: FormData,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let max = state.config.http.max_upload_bytes;
    if content_length.is_some_and(|l| l > max.saturating_add(MULTIPART_SLACK)) {
        return Err(too_large(max));
    }
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let remaining = blocking(move || vault.library(&scope).remaining_quota()).await?;
    if content_length.is_some_and(|l| l > remaining.saturating_add(MULTIPART_SLACK)) {
        return Err(over_quota(remaining));
    }

    let mut name: Option<String> = None;
    let mut received: Option<(SealedBlob, Container, String)> = None;
    while let Some(part) = form.next().await {
        let part = part.map_err(|_| cut_off())?;
        match part.name() {
            "file" if received.is_some() => {
                return Err(ApiError::bad_request("send one file per request"));
            }
            "file" => {
                let filename = part.filename().unwrap_or_default().to_owned();
                let (sealed, container) =
                    receive_file(part.stream(), &auth, &state, max, remaining).await?;
                received = Some((sealed, container, filename));
            }
            "name" => name = Some(read_small_field(part.stream()).await?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown multipart field `{}`",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let (sealed, container, filename) =
        received.ok_or_else(|| ApiError::bad_request("multipart field `file` is required"))?;

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

    let (derived_name, original_filename) = names_from_filename(&filename);
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
    let vault = state.vault.clone();
    let rec = blocking(move || {
        vault
            .library(&auth.scope)
            .commit_upload(sealed, info, &client)
    })
    .await?;
    tracing::info!(track = %rec.id, bytes = rec.size_bytes, "upload committed");
    let mut res = warp::reply::with_status(warp::reply::json(&view(&rec)), StatusCode::CREATED)
        .into_response();
    if let Ok(v) = format!("/api/tracks/{}", rec.id).parse() {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

async fn read_small_field(
    mut stream: impl Stream<Item = Result<impl Buf, warp::Error>> + Unpin,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(piece) = stream.next().await {
        let mut piece = piece.map_err(|_| cut_off())?;
        bytes.extend_from_slice(&piece.copy_to_bytes(piece.remaining()));
        if bytes.len() > MAX_NAME_FIELD {
            return Err(ApiError::bad_request(format!(
                "field `name` is limited to {MAX_NAME_FIELD} bytes"
            )));
        }
    }
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("field `name` must be UTF-8 text"))
}

/// Sniffs, then streams the part into an encrypted temp blob.
async fn receive_file(
    stream: impl Stream<Item = Result<impl Buf, warp::Error>>,
    auth: &Authenticated,
    state: &AppState,
    max: u64,
    remaining: u64,
) -> Result<(SealedBlob, Container), ApiError> {
    let mut stream = Box::pin(stream.map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining()))));
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0;
    while head_len < SNIFF_LEN {
        match stream.next().await {
            Some(Ok(b)) => {
                head_len += b.len();
                head.push(b);
            }
            Some(Err(_)) => return Err(cut_off()),
            None => break,
        }
    }
    if head_len == 0 {
        return Err(ApiError::bad_request("the file is empty"));
    }
    let first: Vec<u8> = head
        .iter()
        .flat_map(|b| b.iter().copied())
        .take(SNIFF_LEN)
        .collect();
    let container = Container::sniff(&first).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_audio",
            "not an audio file (accepted: WAV, AIFF, FLAC, MP3, AAC/M4A, ALAC, Ogg)",
        )
    })?;

    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let writer = blocking(move || vault.library(&scope).begin_upload()).await?;
    let aborted = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
    let abort_flag = aborted.clone();
    let task = tokio::task::spawn_blocking(move || -> Result<Option<SealedBlob>, VaultError> {
        let mut writer = writer;
        while let Some(piece) = rx.blocking_recv() {
            writer.write(&piece)?;
        }
        // An abandoned upload is dropped unsealed, which deletes its temp file.
        if abort_flag.load(Ordering::SeqCst) {
            Ok(None)
        } else {
            writer.finish().map(Some)
        }
    });

    let limit = max.min(remaining);
    let mut total: u64 = 0;
    let mut failure: Option<ApiError> = None;
    let mut pieces = futures_util::stream::iter(head.into_iter().map(Ok)).chain(stream);
    while let Some(piece) = pieces.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(_) => {
                failure = Some(cut_off());
                break;
            }
        };
        total += piece.len() as u64;
        if total > limit {
            failure = Some(if total > max {
                too_large(max)
            } else {
                over_quota(remaining)
            });
            break;
        }
        if tx.send(piece).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    if failure.is_some() {
        aborted.store(true, Ordering::SeqCst);
    }
    drop(tx);
    let written = match task.await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::internal()),
    };
    match (failure, written) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e),
        (None, Ok(Some(sealed))) => Ok((sealed, container)),
        (None, Ok(None)) => Err(ApiError::internal()),
    }
}

//! `POST /api/account/export`: the owner's whole account as one tar archive, streamed.
//!
//! The archive is written as it is sent, one decrypted track at a time, so memory stays flat
//! whatever the library's size; its length is known up front, so browsers show real progress.
//! Tar (ustar) opens everywhere without a tool of ours.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngCore;
use serde::Deserialize;
use studiovault_vault::{
    AccountExport, Authenticated, ClientInfo, OwnerScope, Recheck, TrackRecord, Vault,
};
use tokio_stream::wrappers::ReceiverStream;
use warp::filters::BoxedFilter;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{auth, owner_call, recheck};
use crate::documents::{audio_name, pretty, shares_document, tracks_document};
use crate::web::tar::{BLOCK, entry_len, header, padding, trailer};
use crate::web::{
    ApiError, AppState, SMALL_BODY_DEADLINE, blocking, body_within, client, json_body, respond,
    set, with, with_state,
};

const ROOT: &str = "studiovault-export";
const PIECE: usize = 256 * 1024;
/// The password form is small.
const FORM_LIMIT: u64 = 4 * 1024;

#[derive(Debug, Deserialize)]
struct ExportRequest {
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

/// A single-use export link lives this long.
const LINK_TTL: Duration = Duration::from_secs(10 * 60);

/// Export links the web app follows so the browser saves the archive itself: single-use,
/// short-lived, and valid only with the session that asked (and re-checked the password): the
/// owner's other sessions, which may not know it, cannot spend a link that leaked.
#[derive(Debug, Default)]
pub struct ExportLinks(Mutex<HashMap<String, (Asker, Instant)>>);

/// The owner and the session an export link was issued to.
type Asker = (OwnerScope, String);

impl ExportLinks {
    fn issue(&self, asker: Asker) -> String {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let mut links = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        links.retain(|_, (_, expires)| *expires > now);
        links.insert(token.clone(), (asker, now + LINK_TTL));
        token
    }

    /// Spends the link if it is live and was issued to `auth`'s session.
    fn take(&self, token: &str, auth: &Authenticated) -> bool {
        let mut links = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match links.get(token) {
            Some(((owner, session), expires))
                if *owner == auth.scope
                    && *session == auth.session_id
                    && *expires > Instant::now() =>
            {
                links.remove(token);
                true
            }
            _ => false,
        }
    }
}

pub(super) fn routes(state: &AppState, links: &Arc<ExportLinks>) -> Vec<BoxedFilter<(Response,)>> {
    let direct = warp::path!("api" / "account" / "export")
        .and(warp::post())
        .and(auth(state))
        .and(warp::header::optional::<String>("content-type"))
        .and(body_within(FORM_LIMIT, SMALL_BODY_DEADLINE))
        .and(client())
        .and(with_state(state))
        .then(
            |auth: Authenticated,
             content_type: Option<String>,
             body: Bytes,
             client: ClientInfo,
             state: AppState| async move {
                let result = async {
                    let req = parse(content_type.as_deref(), &body)?;
                    reauthenticate(&state, &auth, req, &client).await?;
                    export(auth, client, state).await
                };
                respond(result.await)
            },
        );
    let link = warp::path!("api" / "account" / "export" / "link")
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<ExportRequest>())
        .and(client())
        .and(with_state(state))
        .and(with(links.clone()))
        .then(
            |auth: Authenticated,
             req: ExportRequest,
             client: ClientInfo,
             state: AppState,
             links: Arc<ExportLinks>| async move {
                let result = async {
                    reauthenticate(&state, &auth, req, &client).await?;
                    let token = links.issue((auth.scope.clone(), auth.session_id.clone()));
                    Ok(warp::reply::json(&serde_json::json!({
                        "url": format!("/api/account/export/{token}"),
                        "expires_in_secs": LINK_TTL.as_secs(),
                    }))
                    .into_response())
                };
                respond(result.await)
            },
        );
    let follow = warp::path!("api" / "account" / "export" / String)
        .and(warp::get())
        .and(owner_call(state))
        .and(with(links.clone()))
        .then(
            |token: String,
             auth: Authenticated,
             client: ClientInfo,
             state: AppState,
             links: Arc<ExportLinks>| async move {
                let result = async {
                    if !links.take(&token, &auth) {
                        return Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            "forbidden",
                            "this export link is invalid, spent or expired: ask for a new one",
                        ));
                    }
                    export(auth, client, state).await
                };
                respond(result.await)
            },
        );
    vec![direct.boxed(), link.boxed(), follow.boxed()]
}

/// Accepts JSON (scripts) or a form post.
fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ExportRequest, ApiError> {
    let form = content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let parsed = if form {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::bad_request(format!("the body needs `password`: {e}")))
}

/// The export's password (and code) check: throttled and audited like every re-check.
async fn reauthenticate(
    state: &AppState,
    auth: &Authenticated,
    req: ExportRequest,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    recheck(state, auth, client, move |account, client| {
        account.reauthenticate(&req.password, req.totp.as_deref(), Recheck::Export, client)
    })
    .await
}

async fn export(
    auth: Authenticated,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    // Serialising a long-lived account's activity is heavy CPU work: off the reactor too.
    let entries = blocking(move || {
        let export = vault.export_account(&scope, &client)?;
        Ok(Entries::of(&export))
    })
    .await?
    .map_err(|_| ApiError::internal())?;
    let length = entries.archive_len();
    let date = time::OffsetDateTime::now_utc().date();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let vault = state.vault.clone();
    tokio::task::spawn_blocking(move || write_archive(&vault, &auth.scope, entries, &tx));
    let mut res = warp::reply::stream(ReceiverStream::new(rx)).into_response();
    set(&mut res, header::CONTENT_TYPE, "application/x-tar");
    set(&mut res, header::CONTENT_LENGTH, &length.to_string());
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"studiovault-export-{date}.tar\""),
    );
    Ok(res)
}

/// What the archive holds, in order: the documents, then each track's audio.
struct Entries {
    documents: Vec<(String, Vec<u8>)>,
    tracks: Vec<(String, TrackRecord)>,
    mtime: u64,
}

impl Entries {
    fn of(export: &AccountExport) -> Result<Self, serde_json::Error> {
        let audio_names: Vec<String> = export.tracks.iter().map(audio_name).collect();
        let tracks = tracks_document(&export.tracks, true)?;
        let shares = shares_document(&export.shares);
        let documents = vec![
            ("README.txt".to_owned(), README.as_bytes().to_vec()),
            ("account.json".to_owned(), pretty(&export.account)?),
            ("tracks.json".to_owned(), pretty(&tracks)?),
            ("shares.json".to_owned(), pretty(&shares)?),
            ("activity.json".to_owned(), pretty(&export.activity)?),
            ("review.json".to_owned(), pretty(&export.review)?),
        ];
        Ok(Self {
            documents,
            tracks: audio_names
                .into_iter()
                .zip(export.tracks.iter().cloned())
                .collect(),
            mtime: time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64,
        })
    }

    fn archive_len(&self) -> u64 {
        self.documents
            .iter()
            .map(|(_, body)| entry_len(body.len() as u64))
            .chain(self.tracks.iter().map(|(_, t)| entry_len(t.size_bytes)))
            .sum::<u64>()
            + 2 * BLOCK
    }
}

const README: &str = "Studio Vault account export\n\
\n\
account.json   your account: e-mail, plan, storage, settings, the breach notices you were sent\n\
tracks.json    every track: names, formats, sizes, SHA-256, tempo, key, loudness, and its file\n\
shares.json    your shares, their recipients, and what each opened, played and downloaded\n\
activity.json  the audit records of your data: uploads, downloads, shares, sign-ins, settings\n\
review.json    comments on your tracks, upload links, what recipients heard, notifications\n\
audio/         the original files you uploaded, byte for byte (check them against tracks.json)\n";

type Sender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Writes the archive into `tx`; stops when the client goes away. A track that fails to
/// decrypt ends the stream with an error, so a download is never silently short.
fn write_archive(vault: &Vault, scope: &OwnerScope, entries: Entries, tx: &Sender) {
    let send = |piece: Bytes| tx.blocking_send(Ok(piece)).is_ok();
    for (name, body) in &entries.documents {
        let size = body.len() as u64;
        let path = format!("{ROOT}/{name}");
        if !send(Bytes::copy_from_slice(&header(&path, size, entries.mtime)))
            || !send(Bytes::from(body.clone()))
            || !send(padding(size))
        {
            return;
        }
    }
    for (name, track) in &entries.tracks {
        let path = format!("{ROOT}/{name}");
        if !send(Bytes::copy_from_slice(&header(
            &path,
            track.size_bytes,
            entries.mtime,
        ))) {
            return;
        }
        let mut reader = match vault.export_audio(scope, track.id) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(track = %track.id, error = %e, "an exported track could not be opened");
                let _ = tx.blocking_send(Err(std::io::Error::other("a track could not be read")));
                return;
            }
        };
        let mut pos = 0;
        while pos < track.size_bytes {
            let want = (track.size_bytes - pos).min(PIECE as u64) as usize;
            match reader.read_span(pos, want) {
                Ok((buf, range)) if !range.is_empty() => {
                    pos += range.len() as u64;
                    if !send(Bytes::from(buf).slice(range)) {
                        return;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(track = %track.id, error = %e, "an exported track failed to decrypt");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if !send(padding(track.size_bytes)) {
            return;
        }
    }
    let _ = send(trailer());
}

//! Upload links, the client's side: `GET /u/{link}` (the page, or the one page for links that
//! do not work) and `POST /u/{link}/files` (one audio file per request, multipart field
//! `file`, the link's password percent-encoded in `X-Link-Password`). Files stream into an
//! encrypted blob of the owner, are probed as audio like any upload, and are committed into
//! the link's folder with the link's caps checked again in the commit's transaction.

use std::sync::Arc;

use futures_util::StreamExt;
use studiovault_api::review::ReceivedFile;
use studiovault_vault::review::UploadGrant;
use studiovault_vault::{ClientInfo, VaultError};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::multipart::FormData;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::arrivals::LinkArrivals;
use super::pages::{date, gone, page};
use crate::human;
use crate::throttle::Subject;
use crate::web::incoming::{Incoming, Stopped, cut_off};
use crate::web::template::{Html, Value, render};
use crate::web::{ApiError, AppState, blocking, client, respond, throttled, with, with_state};

mod templates {
    pub const UPLOAD: &str = include_str!("../../templates/portal/upload.html");
    pub const PASSWORD: &str = include_str!("../../templates/portal/upload-password.html");
}

/// Allowance for multipart boundaries and part headers when judging `Content-Length`.
const MULTIPART_SLACK: u64 = 64 * 1024;

/// The grant behind `token`, or `None` when the link does not work.
async fn grant_for(state: &AppState, token: String) -> Result<Option<UploadGrant>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || match vault.open_upload_link(&token) {
        Ok(grant) => Ok(Some(grant)),
        Err(VaultError::NotFound) => Ok(None),
        Err(e) => Err(e),
    })
    .await
}

fn link_gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "link_unavailable",
        "this upload link is not available",
    )
}

pub(super) fn page_route(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("u" / String)
        .and(warp::get())
        .and(with_state(state))
        .then(|token: String, state: AppState| async move {
            show(token, state)
                .await
                .unwrap_or_else(ApiError::into_response)
        })
        .boxed()
}

async fn show(token: String, state: AppState) -> Result<Response, ApiError> {
    let Some(grant) = grant_for(&state, token.clone()).await? else {
        return gone();
    };
    let vault = state.vault.clone();
    let (link, owner) =
        match blocking(move || Ok((grant.live(&vault)?, grant.owner_name(&vault)?))).await {
            Ok(found) => found,
            Err(e) if e.status == StatusCode::NOT_FOUND => return gone(),
            Err(e) => return Err(e),
        };
    let (iso, shown) = date(link.expires_at_ms);
    let password = if link.has_password() {
        render(templates::PASSWORD, &[])?
    } else {
        Html::default()
    };
    let body = render(
        templates::UPLOAD,
        &[
            ("token", Value::Text(&token)),
            ("owner", Value::Text(&owner)),
            ("name", Value::Text(&link.name)),
            ("folder", Value::Text(&link.folder)),
            ("iso", Value::Text(&iso)),
            ("shown", Value::Text(&shown)),
            ("files", Value::Text(&link.files_left().to_string())),
            ("size", Value::Text(&human::size(link.bytes_left()))),
            ("password", Value::Html(&password)),
        ],
    )?;
    page(
        StatusCode::OK,
        &format!("Send files to {owner}"),
        &body,
        "/assets/upload-link.js",
    )
}

/// Bytes of a refused file still read (and dropped) before the answer, so that a browser
/// still sending it reads the answer instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads and drops what is left of a refused request's body, when it is small enough to.
async fn drain(form: &mut FormData, content_length: Option<u64>) {
    if content_length.is_none_or(|l| l > DRAIN_LIMIT) {
        return;
    }
    while let Some(Ok(part)) = form.next().await {
        let mut stream = std::pin::pin!(part.stream());
        while let Some(Ok(_)) = stream.next().await {}
    }
}

/// `arrivals`: the files arriving through each link now, which later files are admitted beside.
pub(super) fn files_route(
    state: &AppState,
    arrivals: &Arc<LinkArrivals>,
) -> BoxedFilter<(Response,)> {
    warp::path!("u" / String / "files")
        .and(warp::post())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::header::optional::<String>("x-link-password"))
        .and(warp::multipart::form().max_length(None))
        .and(client())
        .and(with(arrivals.clone()))
        .and(with_state(state))
        .then(
            |token: String,
             len: Option<u64>,
             password: Option<String>,
             form: FormData,
             client: ClientInfo,
             arrivals: Arc<LinkArrivals>,
             state: AppState| async move {
                let request = Request {
                    token,
                    content_length: len,
                    password,
                    client,
                };
                respond(receive(request, form, &arrivals, state).await)
            },
        )
        .boxed()
}

/// The link's password from its header, percent-encoded UTF-8 as the page's
/// `encodeURIComponent` writes it (a header carries neither characters past Latin-1 nor edge
/// spaces as they are).
fn link_password(header: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(header)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|_| {
            ApiError::bad_request("X-Link-Password must be the password percent-encoded as UTF-8")
        })
}

/// A file's request, but for its body.
struct Request {
    token: String,
    content_length: Option<u64>,
    password: Option<String>,
    client: ClientInfo,
}

async fn receive(
    request: Request,
    mut form: FormData,
    arrivals: &Arc<LinkArrivals>,
    state: AppState,
) -> Result<Response, ApiError> {
    let Request {
        token,
        content_length,
        password,
        client,
    } = request;
    let password = match password.as_deref().map(link_password).transpose() {
        Ok(password) => password,
        Err(refused) => {
            drain(&mut form, content_length).await;
            return Err(refused);
        }
    };
    let Some(grant) = grant_for(&state, token).await? else {
        drain(&mut form, content_length).await;
        return Err(link_gone());
    };
    let subject = format!("upload/{}", grant.link());
    let (vault, g, c) = (state.vault.clone(), grant.clone(), client.clone());
    let checked = throttled(&state, Subject::Link(&subject), &client, move || {
        g.check_password(&vault, password.as_deref(), &c)
    })
    .await;
    let (vault, g) = (state.vault.clone(), grant.clone());
    let room = match checked {
        Ok(()) => blocking(move || g.room(&vault)).await,
        Err(e) => Err(e),
    };
    // Held until the file is committed or refused: files arriving beside it are admitted in
    // what it leaves.
    let arrival = match room
        .and_then(|room| arrivals.admit(grant.link(), room, content_length, MULTIPART_SLACK))
    {
        Ok(arrival) => arrival,
        Err(refused) => {
            drain(&mut form, content_length).await;
            return Err(refused);
        }
    };
    let limit = arrival.bytes().min(state.config.http.max_upload_bytes);
    let over_limit = move || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("this link takes {limit} more bytes"),
        )
    };
    if content_length.is_some_and(|l| l > limit.saturating_add(MULTIPART_SLACK)) {
        return Err(over_limit());
    }
    let mut received = None;
    while let Some(part) = form.next().await {
        let part = part.map_err(|_| cut_off())?;
        if part.name() != "file" || received.is_some() {
            return Err(ApiError::bad_request(
                "send one file per request, in multipart field `file`",
            ));
        }
        let filename = part.filename().unwrap_or_default().to_owned();
        let (vault, g) = (state.vault.clone(), grant.clone());
        let writer = blocking(move || g.begin_upload(&vault)).await?;
        let mut incoming = Incoming::into(writer, &state);
        incoming
            .append(part.stream(), limit, over_limit)
            .await
            .map_err(|stopped| match stopped {
                Stopped::Interrupted => cut_off(),
                Stopped::Refused(e) => e,
            })?;
        received = Some((incoming, filename));
    }
    let (incoming, filename) =
        received.ok_or_else(|| ApiError::bad_request("multipart field `file` is required"))?;
    let (sealed, info) = incoming.seal(&filename, None, &state.prober).await?;
    let vault = state.vault.clone();
    let (rec, link) = blocking(move || grant.commit_upload(&vault, sealed, info, &client)).await?;
    tracing::info!(track = %rec.id, bytes = rec.size_bytes, "upload link file committed");
    let answer = ReceivedFile {
        name: rec.info.name.clone(),
        size_bytes: rec.size_bytes,
        files_left: link.files_left(),
        bytes_left: link.bytes_left(),
    };
    Ok(warp::reply::with_status(warp::reply::json(&answer), StatusCode::CREATED).into_response())
}

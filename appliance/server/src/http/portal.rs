//! The clients' share portal: server-rendered pages under `/s/{link}`, a small script for the
//! player, and signed media URLs under `/m/…`. No account, no third-party origin, no tracking.
//!
//! Unknown, forged, expired and revoked links all get the same page and status, so a link's
//! page says nothing about whether it ever existed.

use serde::{Deserialize, Serialize};
use studiovault_vault::{
    ClientInfo, CopyState, MediaKind, MediaUrl, PortalView, RecipientGrant, RecipientId, TrackId,
    VaultError,
};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::range::{ByteRange, resolve};
use super::tracks::{PeaksQuery, content_disposition, peaks_response, set, stream_blob};
use super::web::PAGE_CSP;
use super::{
    ApiError, AppState, SMALL_BODY_DEADLINE, blocking, body_within, client, respond, set_cookie,
    throttled, with_state,
};
use crate::throttle::Subject;

/// The unlock cookie is scoped to one link's path, so under TLS it takes the `__Secure-` prefix
/// (`__Host-` needs `Path=/`).
const UNLOCK_COOKIE: &str = "sv_unlock";
const SECURE_UNLOCK_COOKIE: &str = "__Secure-sv_unlock";

fn unlock_cookie_name(state: &AppState) -> &'static str {
    if state.config.tls.enabled() {
        SECURE_UNLOCK_COOKIE
    } else {
        UNLOCK_COOKIE
    }
}
const FORM_LIMIT: u64 = 4 * 1024;
/// The most one answer to a play URL holds; players ask again for what follows.
const PLAY_RANGE_MAX: u64 = 2 << 20;

/// Escapes text for HTML element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn date(ms: i64) -> (String, String) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms / 1000) else {
        return (String::new(), String::new());
    };
    let iso = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let shown = t
        .format(time::macros::format_description!(
            "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    (iso, shown)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex\">\n\
         <title>{} · Studio Vault</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"/assets/portal.css\">\n\
         <script type=\"module\" src=\"/assets/portal.js\"></script>\n</head>\n<body>\n\
         <main class=\"portal\">\n{body}\n</main>\n\
         <footer class=\"foot\">Studio Vault · private delivery, no trackers</footer>\n</body>\n</html>\n",
        esc(title)
    );
    let mut res = Response::new(html.into());
    *res.status_mut() = status;
    set(&mut res, header::CONTENT_TYPE, "text/html; charset=utf-8");
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    res
}

/// The one page for every link that does not work.
fn gone() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not available",
        "<h1>This link isn’t available</h1>\n\
         <p>It may have expired or been withdrawn by the person who shared it, or the address \
         may be incomplete. Ask them for a new link.</p>",
    )
}

fn password_page(token: &str, error: Option<&str>) -> Response {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let alert = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", esc(e)))
        .unwrap_or_default();
    page(
        status,
        "Password required",
        &format!(
            "<h1>This share is protected</h1>\n<p>Enter the password you were given.</p>\n{alert}\
             <form method=\"post\" action=\"/s/{token}/unlock\" class=\"unlock\">\n\
             <label for=\"password\">Password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus>\n\
             <button type=\"submit\" class=\"primary\">Open</button>\n</form>",
            token = esc(token)
        ),
    )
}

fn playlist_page(token: &str, view: &PortalView, states: &[TrackState]) -> Response {
    let share = &view.share;
    let (iso, shown) = date(share.expires_at_ms);
    let notice = if share.watermark {
        format!(
            "<p class=\"notice\" role=\"note\">Every copy here is watermarked to you, {}: an \
             inaudible mark identifies this copy if it is passed on.</p>\n",
            esc(&view.recipient.name)
        )
    } else {
        String::new()
    };
    let rights = if share.allow_download {
        "You may stream and download these tracks."
    } else {
        "Streaming only: the owner has not allowed downloads."
    };
    let mut items = String::new();
    for (i, (track, state)) in view.tracks.iter().zip(states).enumerate() {
        let download = if share.allow_download {
            format!(
                "<button type=\"button\" class=\"download\" aria-label=\"Download {name}\">Download</button>",
                name = esc(&track.info.name)
            )
        } else {
            String::new()
        };
        items.push_str(&format!(
            "<li data-track=\"{id}\" data-duration=\"{dur}\">\
             <button type=\"button\" class=\"pick\"><span class=\"n\">{n}.</span> {name}</button>\
             <span class=\"dur\">{clock}</span>\
             <span class=\"status\" aria-live=\"polite\">{status}</span>{download}</li>\n",
            id = track.id,
            dur = track.info.duration_secs.unwrap_or(0.0),
            n = i + 1,
            name = esc(&track.info.name),
            clock = clock(track.info.duration_secs.unwrap_or(0.0)),
            status = esc(&state.label()),
        ));
    }
    page(
        StatusCode::OK,
        &share.title,
        &format!(
            "<div id=\"portal\" data-base=\"/s/{token}\">\n<header class=\"head\">\n<h1>{title}</h1>\n\
             <p class=\"for\">For {name}</p>\n\
             <p class=\"expiry\">Available until <time datetime=\"{iso}\">{shown}</time>. {rights}</p>\n\
             </header>\n{notice}\
             <section class=\"player\" aria-label=\"Player\">\n\
             <div class=\"controls\">\
             <button type=\"button\" id=\"play\" class=\"play\" aria-label=\"Play\">▶</button>\
             <button type=\"button\" id=\"next\" aria-label=\"Next track\">Next</button>\
             <span id=\"now\" class=\"now\">Pick a track</span>\
             <span id=\"clock\" class=\"clock\">0:00 / 0:00</span></div>\n\
             <canvas id=\"wave\" class=\"wave\" role=\"slider\" tabindex=\"0\" aria-label=\"Position\" \
             aria-valuemin=\"0\" aria-valuemax=\"0\" aria-valuenow=\"0\" aria-valuetext=\"0:00\"></canvas>\n\
             <audio id=\"audio\" preload=\"none\"></audio>\n\
             <p id=\"message\" class=\"message\" role=\"status\" aria-live=\"polite\"></p>\n\
             </section>\n<ol class=\"playlist\">\n{items}</ol>\n</div>",
            token = esc(token),
            title = esc(&share.title),
            name = esc(&view.recipient.name),
        ),
    )
}

/// Where a track stands for this recipient.
#[derive(Debug, Clone, Serialize)]
struct TrackState {
    id: String,
    /// `ready`, `queued`, `rendering` or `failed`.
    state: &'static str,
    progress: Option<f32>,
}

impl TrackState {
    fn label(&self) -> String {
        match (self.state, self.progress) {
            ("ready", _) => "Ready".into(),
            ("rendering", Some(p)) => format!("Preparing your copy… {}%", (p * 100.0).round()),
            ("failed", _) => "This copy could not be prepared".into(),
            _ => "Preparing your copy…".into(),
        }
    }
}

#[derive(Debug, Serialize)]
struct PortalState {
    tracks: Vec<TrackState>,
    plays_left: Option<u32>,
    downloads_left: Option<u32>,
}

/// Each track's state and the share's remaining limits, with the view they are of; queues the
/// copies a watermarking share still lacks. `open` is a page open (logged), else a poll.
async fn portal_state(
    state: &AppState,
    grant: &RecipientGrant,
    open: Option<ClientInfo>,
) -> Result<(PortalView, PortalState), ApiError> {
    let (vault, grant) = (state.vault.clone(), grant.clone());
    blocking(move || {
        let view = match &open {
            Some(client) => grant.open(&vault, client)?,
            None => grant.view(&vault)?,
        };
        let tracks = grant
            .copy_states(&vault, &view)?
            .into_iter()
            .map(|(track, copy)| {
                let (name, progress) = match copy {
                    CopyState::Ready => ("ready", None),
                    CopyState::Queued => ("queued", None),
                    CopyState::Rendering(p) => ("rendering", Some(p)),
                    CopyState::Failed => ("failed", None),
                };
                TrackState {
                    id: track.to_string(),
                    state: name,
                    progress,
                }
            })
            .collect();
        let share = &view.share;
        let limits = PortalState {
            tracks,
            plays_left: share
                .play_limit
                .map(|l| l.saturating_sub(view.recipient.plays)),
            downloads_left: share
                .allow_download
                .then_some(share.download_limit)
                .flatten()
                .map(|l| l.saturating_sub(view.recipient.downloads)),
        };
        Ok((view, limits))
    })
    .await
}

/// The grant behind `token`, if the link works and (for a password share) is unlocked.
async fn grant_for(
    state: &AppState,
    token: String,
    unlock: Option<String>,
) -> Result<Option<RecipientGrant>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let grant = match vault.open_link(&token) {
            Ok(g) => g,
            Err(VaultError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if grant.is_unlocked(&vault, unlock.as_deref())? {
            Ok(Some(grant))
        } else {
            Err(VaultError::Forbidden("enter the share's password first"))
        }
    })
    .await
}

fn link_gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "link_unavailable",
        "this link is not available",
    )
}

#[derive(Debug, Deserialize)]
struct UnlockForm {
    password: String,
}

#[derive(Debug, Deserialize)]
struct MediaQuery {
    e: i64,
    n: String,
    s: String,
}

/// The unlock form's body, whole within [`SMALL_BODY_DEADLINE`].
fn unlock_form() -> impl Filter<Extract = (UnlockForm,), Error = warp::Rejection> + Clone {
    body_within(FORM_LIMIT, SMALL_BODY_DEADLINE).and_then(|body: bytes::Bytes| async move {
        serde_urlencoded::from_bytes::<UnlockForm>(&body).map_err(|_| {
            warp::reject::custom(ApiError::bad_request("send the form's password field"))
        })
    })
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let unlock_cookie_name = unlock_cookie_name(state);
    let unlock_cookie = || warp::cookie::optional::<String>(unlock_cookie_name);
    let show = warp::path!("s" / String)
        .and(warp::get())
        .and(unlock_cookie())
        .and(client())
        .and(with_state(state))
        .then(
            |token: String, unlock: Option<String>, client: ClientInfo, state: AppState| async move {
                show(token, unlock, client, state)
                    .await
                    .unwrap_or_else(ApiError::into_response)
            },
        );
    let unlock = warp::path!("s" / String / "unlock")
        .and(warp::post())
        .and(unlock_form())
        .and(client())
        .and(with_state(state))
        .then(
            |token: String, form: UnlockForm, client: ClientInfo, state: AppState| async move {
                unlock(token, form, client, state)
                    .await
                    .unwrap_or_else(ApiError::into_response)
            },
        );
    let status = warp::path!("s" / String / "state")
        .and(warp::get())
        .and(unlock_cookie())
        .and(with_state(state))
        .then(|token: String, unlock, state: AppState| async move {
            let result = async {
                let grant = grant_for(&state, token, unlock)
                    .await?
                    .ok_or_else(link_gone)?;
                let (_, polled) = portal_state(&state, &grant, None).await?;
                Ok(warp::reply::json(&polled).into_response())
            };
            respond(result.await)
        });
    let media_url = warp::path!("s" / String / String / String)
        .and(warp::post())
        .and(unlock_cookie())
        .and(client())
        .and(with_state(state))
        .then(
            |token: String,
             kind: String,
             track: String,
             unlock,
             client,
             state: AppState| async move {
                respond(media_url(token, kind, track, unlock, client, state).await)
            },
        );
    let peaks = warp::path!("s" / String / "peaks" / String)
        .and(warp::get())
        .and(unlock_cookie())
        .and(warp::query::<PeaksQuery>())
        .and(with_state(state))
        .then(
            |token: String, track: String, unlock, q: PeaksQuery, state: AppState| async move {
                let result = async {
                    let grant = grant_for(&state, token, unlock)
                        .await?
                        .ok_or_else(link_gone)?;
                    let track =
                        TrackId::parse(&track).ok_or_else(|| ApiError::not_found("track"))?;
                    let vault = state.vault.clone();
                    let bytes = blocking(move || grant.peaks(&vault, track))
                        .await
                        .map_err(|_| ApiError::not_found("waveform"))?;
                    peaks_response(&bytes, &q)
                };
                respond(result.await)
            },
        );
    let media = warp::path!("m" / String / String / String)
        .and(warp::method())
        .and(warp::query::<MediaQuery>())
        .and(warp::header::optional::<String>("range"))
        .and(warp::header::optional::<String>("if-range"))
        .and(client())
        .and(with_state(state))
        .then(
            |recipient: String,
             track: String,
             kind: String,
             method: Method,
             q: MediaQuery,
             range: Option<String>,
             if_range: Option<String>,
             client,
             state: AppState| async move {
                respond(
                    media(
                        (recipient, track, kind),
                        method.as_str().to_owned(),
                        q,
                        (range, if_range),
                        client,
                        state,
                    )
                    .await,
                )
            },
        );
    // A media URL with its query missing or mangled is as invalid as a bad signature.
    let media_malformed =
        warp::path!("m" / String / String / String).map(|_, _, _| media_refused().into_response());
    vec![
        show.boxed(),
        unlock.boxed(),
        status.boxed(),
        peaks.boxed(),
        media_url.boxed(),
        media.boxed(),
        media_malformed.boxed(),
    ]
}

fn media_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this media link is invalid, spent or expired",
    )
}

async fn show(
    token: String,
    unlock: Option<String>,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let grant = match grant_for(&state, token.clone(), unlock).await {
        Ok(Some(g)) => g,
        Ok(None) => return Ok(gone()),
        Err(e) if e.status == StatusCode::FORBIDDEN => return Ok(password_page(&token, None)),
        Err(e) => return Err(e),
    };
    let (view, opened) = match portal_state(&state, &grant, Some(client)).await {
        Ok(opened) => opened,
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(gone()),
        Err(e) => return Err(e),
    };
    Ok(playlist_page(&token, &view, &opened.tracks))
}

async fn unlock(
    token: String,
    form: UnlockForm,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let t = token.clone();
    let Some(grant) = blocking(move || match vault.open_link(&t) {
        Ok(g) => Ok(Some(g)),
        Err(VaultError::NotFound) => Ok(None),
        Err(e) => Err(e),
    })
    .await?
    else {
        return Ok(gone());
    };
    // Guessing is throttled per link and per address, in memory only; failures are audited.
    let recipient = grant.recipient().to_string();
    let (vault, g, c) = (state.vault.clone(), grant.clone(), client.clone());
    let result = throttled(&state, Subject::Link(&recipient), &client, move || {
        g.unlock(&vault, &form.password, &c)
    })
    .await;
    match result {
        Ok(cookie) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            set(&mut res, header::LOCATION, &format!("/s/{token}"));
            let max_age = cookie
                .split_once('.')
                .and_then(|(exp, _)| exp.parse::<i64>().ok())
                .map_or(0, |exp| (exp - state.vault.now_ms() / 1000).max(0));
            set(
                &mut res,
                header::SET_COOKIE,
                &set_cookie(
                    &state.config,
                    unlock_cookie_name(&state),
                    &cookie,
                    &format!("/s/{token}"),
                    max_age,
                ),
            );
            Ok(res)
        }
        Err(ApiError {
            retry_after: Some(wait),
            ..
        }) => {
            let mut res = password_page(
                &token,
                Some(&format!("Too many attempts. Try again in {wait} seconds.")),
            );
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            set(&mut res, header::RETRY_AFTER, &wait.to_string());
            Ok(res)
        }
        Err(e) if e.code == "bad_credentials" => {
            Ok(password_page(&token, Some("That password is not right.")))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(gone()),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Serialize)]
struct SignedUrl {
    url: String,
    expires_at: i64,
}

async fn media_url(
    token: String,
    kind: String,
    track: String,
    unlock: Option<String>,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let kind = MediaKind::parse(&kind).ok_or_else(|| ApiError::not_found("action"))?;
    let track = TrackId::parse(&track).ok_or_else(|| ApiError::not_found("track"))?;
    let grant = grant_for(&state, token, unlock)
        .await?
        .ok_or_else(link_gone)?;
    let vault = state.vault.clone();
    let g = grant.clone();
    let view = blocking(move || g.view(&vault)).await?;
    if !view.tracks.iter().any(|t| t.id == track) {
        return Err(ApiError::not_found("track"));
    }
    if kind == MediaKind::Download && !view.share.allow_download {
        return Err(VaultError::Forbidden("this share is stream-only").into());
    }
    if view.share.watermark && !view.rendered.contains(&track) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copy_not_ready",
            "your copy of this track is still being prepared",
        ));
    }
    let vault = state.vault.clone();
    let url: MediaUrl = blocking(move || grant.media_url(&vault, track, kind, &client)).await?;
    Ok(warp::reply::json(&SignedUrl {
        url: url.path_and_query(),
        expires_at: url.expires * 1000,
    })
    .into_response())
}

async fn media(
    (recipient, track, kind): (String, String, String),
    method: String,
    q: MediaQuery,
    (range, if_range): (Option<String>, Option<String>),
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let (Some(recipient), Some(track), Some(kind)) = (
        RecipientId::parse(&recipient),
        TrackId::parse(&track),
        MediaKind::parse(&kind),
    ) else {
        return Err(media_refused());
    };
    let url = MediaUrl {
        recipient,
        track,
        kind,
        expires: q.e,
        nonce: q.n,
        signature: q.s,
    };
    let vault = state.vault.clone();
    let (_, source) = blocking(move || vault.open_media(&url, &method, &client)).await?;
    let len = source.len;
    let (start, count, detail) = match kind {
        // A download is one whole-file answer: its URL is spent by this request.
        MediaKind::Download => (0, len, String::new()),
        // Playing is not downloading: a play URL answers only the byte ranges a player asks
        // for, at most `PLAY_RANGE_MAX` at a time, never the whole file in one answer.
        MediaKind::Play => {
            let Some(range) = range else {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_required",
                    "a play link serves byte ranges to the player; downloads have their own link",
                ));
            };
            let (start, end) = match resolve(Some(&range), if_range.as_deref(), &source.etag, len) {
                ByteRange::Unsatisfiable => {
                    let mut res = ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "range_not_satisfiable",
                        format!("the file has {len} bytes"),
                    )
                    .into_response();
                    set(&mut res, header::CONTENT_RANGE, &format!("bytes */{len}"));
                    return Ok(res);
                }
                ByteRange::Full => (0, len.saturating_sub(1)),
                ByteRange::Partial { start, end } => (start, end),
            };
            let end = end.min(start + PLAY_RANGE_MAX - 1);
            (start, end - start + 1, format!("bytes {start}-{end}/{len}"))
        }
    };
    let mut res = warp::reply::stream(stream_blob(source.reader, start, count)).into_response();
    if !detail.is_empty() {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(&mut res, header::CONTENT_RANGE, &detail);
    }
    set(&mut res, header::CONTENT_LENGTH, &count.to_string());
    set(&mut res, header::CONTENT_TYPE, &source.mime_type);
    set(&mut res, header::ETAG, &source.etag);
    let disposition = match kind {
        MediaKind::Play => {
            set(&mut res, header::ACCEPT_RANGES, "bytes");
            "inline"
        }
        MediaKind::Download => "attachment",
    };
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &content_disposition(disposition, &source.filename),
    );
    Ok(res)
}

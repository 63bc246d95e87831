//! The portal's pages: the playlist of a link, the password form, the one page for every link
//! that does not work, and the state the playlist's script polls.

use serde::Serialize;
use studiovault_vault::{ClientInfo, CopyState, PortalView, RecipientGrant};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{grant_for, link_gone, unlock_cookie};
use crate::web::{ApiError, AppState, PAGE_CSP, blocking, client, respond, set, with_state};

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
pub(super) fn gone() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not available",
        "<h1>This link isn’t available</h1>\n\
         <p>It may have expired or been withdrawn by the person who shared it, or the address \
         may be incomplete. Ask them for a new link.</p>",
    )
}

pub(super) fn password_page(token: &str, error: Option<&str>) -> Response {
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

/// `GET /s/{link}`: the playlist, the password form, or the page for links that do not work.
pub(super) fn link_page(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String)
        .and(warp::get())
        .and(unlock_cookie(state))
        .and(client())
        .and(with_state(state))
        .then(
            |token: String, unlock: Option<String>, client: ClientInfo, state: AppState| async move {
                show(token, unlock, client, state)
                    .await
                    .unwrap_or_else(ApiError::into_response)
            },
        )
        .boxed()
}

/// `GET /s/{link}/state`: each copy's state and the limits left, for the playlist's script.
pub(super) fn poll(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String / "state")
        .and(warp::get())
        .and(unlock_cookie(state))
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
        })
        .boxed()
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

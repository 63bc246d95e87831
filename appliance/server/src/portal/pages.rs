//! The portal's pages: the playlist of a link, the password form, the one page for every link
//! that does not work, and the state the playlist's script polls.

use serde::Serialize;
use studiovault_vault::{CopyState, PortalView, RecipientGrant};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{grant_for, link_gone, unlock_cookie};
use crate::review::version_views;
use crate::web::template::{Html, TemplateError, Value, render};
use crate::web::{ApiError, AppState, PAGE_CSP, blocking, respond, set, with_state};

/// The pages' templates; [`render`] escapes every text that fills them.
mod templates {
    pub const PAGE: &str = include_str!("../../templates/portal/page.html");
    pub const GONE: &str = include_str!("../../templates/portal/gone.html");
    pub const PASSWORD: &str = include_str!("../../templates/portal/password.html");
    pub const ALERT: &str = include_str!("../../templates/portal/alert.html");
    pub const PLAYLIST: &str = include_str!("../../templates/portal/playlist.html");
    pub const NOTICE: &str = include_str!("../../templates/portal/notice.html");
    pub const TRACK: &str = include_str!("../../templates/portal/track.html");
    pub const DOWNLOAD: &str = include_str!("../../templates/portal/download.html");
}

pub(super) fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

pub(super) fn date(ms: i64) -> (String, String) {
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

/// The script of the share pages.
const PORTAL_SCRIPT: &str = "/assets/portal.js";

/// A whole page around `body` that runs `script`, with the pages' CSP.
pub(super) fn page(
    status: StatusCode,
    title: &str,
    body: &Html,
    script: &str,
) -> Result<Response, ApiError> {
    let html = render(
        templates::PAGE,
        &[
            ("title", Value::Text(title)),
            ("body", Value::Html(body)),
            ("script", Value::Text(script)),
        ],
    )?;
    let mut res = Response::new(html.into_string().into());
    *res.status_mut() = status;
    set(&mut res, header::CONTENT_TYPE, "text/html; charset=utf-8");
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    Ok(res)
}

/// The one page for every link that does not work.
pub(super) fn gone() -> Result<Response, ApiError> {
    let body = render(templates::GONE, &[])?;
    page(
        StatusCode::NOT_FOUND,
        "Link not available",
        &body,
        PORTAL_SCRIPT,
    )
}

/// The form of a password share, with what went wrong last time, if anything.
pub(super) fn password_page(token: &str, error: Option<&str>) -> Result<Response, ApiError> {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let alert = match error {
        Some(message) => render(templates::ALERT, &[("message", Value::Text(message))])?,
        None => Html::default(),
    };
    let body = render(
        templates::PASSWORD,
        &[
            ("alert", Value::Html(&alert)),
            ("token", Value::Text(token)),
        ],
    )?;
    page(status, "Password required", &body, PORTAL_SCRIPT)
}

fn playlist_page(
    token: &str,
    view: &PortalView,
    states: &[TrackState],
) -> Result<Response, ApiError> {
    let share = &view.share;
    let recipient = view.recipient.name.as_str();
    let (iso, shown) = date(share.expires_at_ms);
    let notice = if share.watermark {
        render(templates::NOTICE, &[("name", Value::Text(recipient))])?
    } else {
        Html::default()
    };
    let rights = if share.allow_download {
        "You may stream and download these tracks."
    } else {
        "Streaming only: the owner has not allowed downloads."
    };
    let tracks = view
        .tracks
        .iter()
        .zip(&view.versions)
        .zip(states)
        .enumerate()
        .map(|(i, ((track, versions), state))| {
            let name = track.info.name.as_str();
            let download = if share.allow_download {
                render(templates::DOWNLOAD, &[("name", Value::Text(name))])?
            } else {
                Html::default()
            };
            let duration = track.info.duration_secs.unwrap_or(0.0);
            let versions = serde_json::to_string(&version_views(versions)).unwrap_or_default();
            render(
                templates::TRACK,
                &[
                    ("id", Value::Text(&track.id.to_string())),
                    ("versions", Value::Text(&versions)),
                    ("duration", Value::Text(&duration.to_string())),
                    ("number", Value::Text(&(i + 1).to_string())),
                    ("name", Value::Text(name)),
                    ("clock", Value::Text(&clock(duration))),
                    ("status", Value::Text(&state.label())),
                    ("download", Value::Html(&download)),
                ],
            )
        })
        .collect::<Result<Html, TemplateError>>()?;
    let body = render(
        templates::PLAYLIST,
        &[
            ("token", Value::Text(token)),
            ("title", Value::Text(&share.title)),
            ("name", Value::Text(recipient)),
            ("iso", Value::Text(&iso)),
            ("shown", Value::Text(&shown)),
            ("rights", Value::Text(rights)),
            ("notice", Value::Html(&notice)),
            ("tracks", Value::Html(&tracks)),
        ],
    )?;
    page(StatusCode::OK, &share.title, &body, PORTAL_SCRIPT)
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

/// Each version's state and the share's remaining limits; queues the copies a watermarking
/// share still lacks. Polled by the page's script: fetching the page alone (as a link preview
/// does) queues nothing.
async fn portal_state(state: &AppState, grant: &RecipientGrant) -> Result<PortalState, ApiError> {
    let (vault, grant) = (state.vault.clone(), grant.clone());
    blocking(move || {
        let view = grant.view(&vault)?;
        let tracks = grant
            .copy_states(&vault, &view)?
            .into_iter()
            .map(|(track, copy)| {
                let (name, progress) = match copy {
                    CopyState::Ready => ("ready", None),
                    CopyState::Queued => ("queued", None),
                    CopyState::Rendering(p) => ("rendering", Some(p)),
                    CopyState::Failed => ("failed", None),
                    CopyState::Withheld => ("withheld", None),
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
        Ok(limits)
    })
    .await
}

/// What the page shows before its script polls: ready or being prepared, from the view alone.
fn page_states(view: &PortalView) -> Vec<TrackState> {
    view.tracks
        .iter()
        .map(|t| TrackState {
            id: t.id.to_string(),
            state: if !view.share.watermark || view.rendered.contains(&t.id) {
                "ready"
            } else {
                "queued"
            },
            progress: None,
        })
        .collect()
}

/// `GET /s/{link}`: the playlist, the password form, or the page for links that do not work.
pub(super) fn link_page(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String)
        .and(warp::get())
        .and(unlock_cookie(state))
        .and(with_state(state))
        .then(
            |token: String, unlock: Option<String>, state: AppState| async move {
                show(token, unlock, state)
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
                let polled = portal_state(&state, &grant).await?;
                Ok(warp::reply::json(&polled).into_response())
            };
            respond(result.await)
        })
        .boxed()
}

async fn show(
    token: String,
    unlock: Option<String>,
    state: AppState,
) -> Result<Response, ApiError> {
    let grant = match grant_for(&state, token.clone(), unlock).await {
        Ok(Some(g)) => g,
        Ok(None) => return gone(),
        Err(e) if e.status == StatusCode::FORBIDDEN => return password_page(&token, None),
        Err(e) => return Err(e),
    };
    // Nothing is recorded or queued here: the page's script reports the visit and polls the
    // copies, so a link preview that only fetches the page spends nothing.
    let vault = state.vault.clone();
    let view = match blocking(move || grant.view(&vault)).await {
        Ok(view) => view,
        Err(e) if e.status == StatusCode::NOT_FOUND => return gone(),
        Err(e) => return Err(e),
    };
    playlist_page(&token, &view, &page_states(&view))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use studiovault_vault::PortalView;

    use super::*;

    fn id(n: u8) -> String {
        format!("{n:032x}")
    }

    /// A share of two tracks for one recipient, with names that need escaping.
    fn view(watermark: bool, allow_download: bool) -> PortalView {
        let track = |n: u8, name: &str, duration: Option<f64>| {
            serde_json::from_value(json!({
                "id": id(n), "owner": id(2), "blob": id(n + 10), "name": name,
                "original_filename": "take.wav", "container": "wav", "codec": "pcm_s16le",
                "mime_type": "audio/wav", "duration_secs": duration, "sample_rate": 44100,
                "channels": 2, "bits_per_sample": 16, "size_bytes": 1000, "sha256": "00",
                "created_at_ms": 0, "updated_at_ms": 0, "analysis": {"state": "pending"},
            }))
            .unwrap()
        };
        PortalView {
            share: serde_json::from_value(json!({
                "id": id(1), "owner": id(2), "title": "Mixes <v2> & \"final\"",
                "tracks": [id(3), id(4)], "recipients": [id(5)], "created_at_ms": 0,
                "expires_at_ms": 1_767_225_600_000i64, "password_hash": null,
                "allow_download": allow_download, "play_limit": null, "download_limit": null,
                "watermark": watermark, "revoked_at_ms": null,
            }))
            .unwrap(),
            recipient: serde_json::from_value(json!({
                "id": id(5), "share": id(1), "owner": id(2), "name": "O'Brien <Label>",
                "email": null, "payload": 7, "created_at_ms": 0, "revoked_at_ms": null,
                "plays": 0, "downloads": 0, "events": [],
            }))
            .unwrap(),
            tracks: vec![
                track(3, "Intro & <Outro>", Some(95.4)),
                track(4, "Song \"B\"", None),
            ],
            versions: vec![
                vec![track(3, "Intro & <Outro>", Some(95.4))],
                vec![track(4, "Song \"B\"", None)],
            ],
            rendered: Vec::new(),
        }
    }

    fn states() -> Vec<TrackState> {
        vec![
            TrackState {
                id: id(3),
                state: "ready",
                progress: None,
            },
            TrackState {
                id: id(4),
                state: "rendering",
                progress: Some(0.425),
            },
        ]
    }

    async fn body(res: Response) -> String {
        let (_, body) = res.into_parts();
        let bytes = http_body_util::BodyExt::collect(body)
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn playlists_escape_every_user_string_and_say_what_is_allowed() {
        let html = body(playlist_page("tok", &view(true, true), &states()).unwrap()).await;
        for expected in [
            "<title>Mixes &lt;v2&gt; &amp; &quot;final&quot; · Studio Vault</title>",
            "<p class=\"for\">For O&#39;Brien &lt;Label&gt;</p>",
            "watermarked to you, O&#39;Brien &lt;Label&gt;: an inaudible mark",
            "<span class=\"n\">1.</span> Intro &amp; &lt;Outro&gt;</button>",
            "data-duration=\"95.4\"><button",
            "<span class=\"dur\">1:35</span>",
            "<button type=\"button\" class=\"download\" aria-label=\"Download Song &quot;B&quot;\">Download</button></li>\n",
            "Preparing your copy… 43%",
            "You may stream and download these tracks.",
        ] {
            assert!(html.contains(expected), "{expected} in {html}");
        }
        for raw in ["<v2>", "<Label>", "<Outro>", "\"B\""] {
            assert!(!html.contains(raw), "{raw} escaped");
        }
        let plain = body(playlist_page("tok", &view(false, false), &states()).unwrap()).await;
        assert!(plain.contains("Streaming only: the owner has not allowed downloads."));
        assert!(!plain.contains("class=\"download\""));
        assert!(!plain.contains("watermarked to you"));
    }

    #[tokio::test]
    async fn the_password_form_escapes_its_error_and_link() {
        let res = password_page("tok<en>", Some("That <password> is not right.")).unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(body(res).await.contains(
            "<p class=\"error\" role=\"alert\">That &lt;password&gt; is not right.</p>\n\
             <form method=\"post\" action=\"/s/tok&lt;en&gt;/unlock\" class=\"unlock\">"
        ));
        let first = body(password_page("tok", None).unwrap()).await;
        assert!(first.contains("<p>Enter the password you were given.</p>\n<form method"));
        let gone = gone().unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        assert!(body(gone).await.contains(
            "<main class=\"portal\">\n<h1>This link isn’t available</h1>\n<p>It may have expired"
        ));
    }
}

//! The recipient's side of review: the page's open (sent by its script, so a link preview that
//! only fetches the page records nothing), comments on a track, and the spans the player
//! played.
//!
//! - `POST /s/{link}/open` → 204: the visit is recorded (at most once an hour; the first one
//!   notifies the owner). A request from a known link-preview agent records nothing.
//! - `GET /s/{link}/comments/{track}`, `POST` the same path with a `NewComment`.
//! - `POST /s/{link}/listen/{track}` with a `ListenReport` → 204.

use studiovault_api::review::{CommentList, ListenReport, NewComment};
use studiovault_vault::{ClientInfo, TrackId};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::media_urls::Rated;
use super::{grant_for, link_gone, unlock_cookie};
use crate::review::{comment_input, comment_view};
use crate::web::{ApiError, AppState, blocking, client, json_body, respond, with_state};

/// The words in the user agents of link previews (of mail and chat clients) and crawlers,
/// lowercased. Whole words: fragments matched people's browsers ("bot" in a CUBOT phone's
/// agent, "linkedin" and "telegram" in those apps' own browsers). A preview that runs the
/// page's script and posts its open is still not counted.
const PREVIEW_WORDS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "preview",
    "slackbot",
    "discordbot",
    "telegrambot",
    "twitterbot",
    "linkedinbot",
    "pinterestbot",
    "redditbot",
    "googlebot",
    "bingbot",
    "applebot",
    "duckduckbot",
    "yandexbot",
    "baiduspider",
    "facebookexternalhit",
    "facebot",
    "whatsapp",
    "skypeuripreview",
    "microsoftpreview",
    "embedly",
    "iframely",
    "vkshare",
];

/// Whether the request comes from a link preview rather than a person's browser.
pub(super) fn is_preview_agent(client: &ClientInfo) -> bool {
    client.user_agent.as_deref().is_some_and(|ua| {
        ua.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| PREVIEW_WORDS.contains(&word))
    })
}

fn track_id(raw: &str) -> Result<TrackId, ApiError> {
    TrackId::parse(raw).ok_or_else(|| ApiError::not_found("track"))
}

pub(super) fn open(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String / "open")
        .and(warp::post())
        .and(unlock_cookie(state))
        .and(client())
        .and(with_state(state))
        .then(
            |token: String, unlock: Option<String>, client: ClientInfo, state: AppState| async move {
                let result = async {
                    let grant = grant_for(&state, token, unlock)
                        .await?
                        .ok_or_else(link_gone)?;
                    if !is_preview_agent(&client) {
                        let vault = state.vault.clone();
                        blocking(move || grant.open(&vault, &client)).await?;
                    }
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        )
        .boxed()
}

pub(super) fn comments(state: &AppState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("s" / String / "comments" / String)
        .and(warp::get())
        .and(unlock_cookie(state))
        .and(with_state(state))
        .then(
            |token: String, track: String, unlock: Option<String>, state: AppState| async move {
                let result = async {
                    let track = track_id(&track)?;
                    let grant = grant_for(&state, token, unlock)
                        .await?
                        .ok_or_else(link_gone)?;
                    let vault = state.vault.clone();
                    let comments = blocking(move || grant.comments(&vault, track))
                        .await
                        .map_err(ApiError::not_found_as("track"))?;
                    let list = CommentList {
                        comments: comments.iter().map(comment_view).collect(),
                    };
                    Ok(warp::reply::json(&list).into_response())
                };
                respond(result.await)
            },
        );
    let add = warp::path!("s" / String / "comments" / String)
        .and(warp::post())
        .and(unlock_cookie(state))
        .and(json_body::<NewComment>())
        .and(client())
        .and(with_state(state))
        .then(
            |token: String,
             track: String,
             unlock: Option<String>,
             req: NewComment,
             client: ClientInfo,
             state: AppState| async move {
                let result = async {
                    let track = track_id(&track)?;
                    if req.share.is_some() {
                        return Err(ApiError::bad_request("share: only owners post to a share"));
                    }
                    let input = comment_input(req)?;
                    let grant = grant_for(&state, token, unlock)
                        .await?
                        .ok_or_else(link_gone)?;
                    Rated::Comments.take(&state, grant.recipient())?;
                    let vault = state.vault.clone();
                    let comment =
                        blocking(move || grant.add_comment(&vault, track, input, &client))
                            .await
                            .map_err(ApiError::not_found_as("track"))?;
                    Ok(warp::reply::with_status(
                        warp::reply::json(&comment_view(&comment)),
                        StatusCode::CREATED,
                    )
                    .into_response())
                };
                respond(result.await)
            },
        );
    list.or(add).unify().boxed()
}

pub(super) fn listen(state: &AppState) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String / "listen" / String)
        .and(warp::post())
        .and(unlock_cookie(state))
        .and(json_body::<ListenReport>())
        .and(with_state(state))
        .then(
            |token: String,
             track: String,
             unlock: Option<String>,
             report: ListenReport,
             state: AppState| async move {
                let result = async {
                    let track = track_id(&track)?;
                    let grant = grant_for(&state, token, unlock)
                        .await?
                        .ok_or_else(link_gone)?;
                    let vault = state.vault.clone();
                    blocking(move || {
                        grant.report_listening(
                            &vault,
                            track,
                            report.from_secs,
                            report.to_secs,
                            report.ended,
                        )
                    })
                    .await
                    .map_err(ApiError::not_found_as("track"))?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        )
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(ua: &str) -> ClientInfo {
        ClientInfo {
            ip: None,
            user_agent: Some(ua.into()),
        }
    }

    #[test]
    fn link_previews_are_told_from_browsers() {
        for bot in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0.4896.127 Safari/537.36 MicrosoftPreview/2.0",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.79 Safari/537.36 Edge/14.14393 SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        ] {
            assert!(is_preview_agent(&agent(bot)), "{bot}");
        }
        for browser in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            // People in phones and apps whose agents hold a preview's name in part.
            "Mozilla/5.0 (Linux; Android 12; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.7",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 Telegram-Android/10.12.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Teams/24124.2315.2911.3357",
        ] {
            assert!(!is_preview_agent(&agent(browser)), "{browser}");
        }
        assert!(!is_preview_agent(&ClientInfo::default()));
    }
}

//! The owners' web app: plain HTML, CSS and JavaScript modules embedded in the binary (no build
//! step, no third-party origin), served with a CSP that allows nothing but this origin.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::web::PAGE_CSP;

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

const INDEX: &[u8] = include_bytes!("../../web/index.html");
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("login.js", "text/javascript; charset=utf-8"),
    asset!("library.js", "text/javascript; charset=utf-8"),
    asset!("account.js", "text/javascript; charset=utf-8"),
    asset!("player.js", "text/javascript; charset=utf-8"),
    asset!("upload.js", "text/javascript; charset=utf-8"),
    asset!("shares.js", "text/javascript; charset=utf-8"),
    asset!("waveform.js", "text/javascript; charset=utf-8"),
    asset!("stems.js", "text/javascript; charset=utf-8"),
    asset!("notices.js", "text/javascript; charset=utf-8"),
    asset!("comments.js", "text/javascript; charset=utf-8"),
    asset!("notifications.js", "text/javascript; charset=utf-8"),
    asset!("uploadlinks.js", "text/javascript; charset=utf-8"),
    asset!("upload-link.js", "text/javascript; charset=utf-8"),
    asset!("portal.css", "text/css; charset=utf-8"),
    asset!("portal.js", "text/javascript; charset=utf-8"),
];

/// A strong validator per asset, computed once: the bytes never change while the binary runs.
fn etag(name: &str, body: &[u8]) -> HeaderValue {
    static TAGS: OnceLock<Vec<(&'static str, HeaderValue)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| (a.name, a.body))
            .chain([("index.html", INDEX)])
            .filter_map(|(n, b)| {
                HeaderValue::from_str(&format!("\"{}\"", &hex::encode(Sha256::digest(b))[..16]))
                    .ok()
                    .map(|v| (n, v))
            })
            .collect()
    });
    tags.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| {
            HeaderValue::from_str(&format!("\"{}\"", body.len()))
                .unwrap_or(HeaderValue::from_static("\"0\""))
        })
}

fn serve(
    name: &str,
    mime: &'static str,
    body: &'static [u8],
    if_none_match: Option<String>,
) -> Response {
    let tag = etag(name, body);
    let mut res = if if_none_match
        .as_deref()
        .is_some_and(|v| v.as_bytes() == tag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = Response::new(body.into());
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        res
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, tag);
    // Revalidate every time: an upgraded appliance must never run yesterday's script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    res
}

pub(super) fn routes() -> Vec<BoxedFilter<(Response,)>> {
    // Every app path loads the same page; the script routes on the client.
    let page = warp::get()
        .and(warp::path::full())
        .and_then(|path: warp::path::FullPath| async move {
            match path.as_str() {
                "/" | "/login" | "/library" | "/shares" | "/uploads" | "/account"
                | "/confirm-email" => Ok(()),
                _ => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(warp::header::optional::<String>("if-none-match"))
        .map(|inm| serve("index.html", "text/html; charset=utf-8", INDEX, inm));
    let assets = warp::path!("assets" / String)
        .and(warp::get())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(|name: String, inm: Option<String>| async move {
            ASSETS
                .iter()
                .find(|a| a.name == name)
                .map(|a| serve(a.name, a.mime, a.body, inm))
                .ok_or_else(warp::reject::not_found)
        });
    vec![page.boxed(), assets.boxed()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_imports_is_embedded() {
        let sources: Vec<String> = ASSETS
            .iter()
            .chain([&Asset {
                name: "index.html",
                mime: "",
                body: INDEX,
            }])
            .map(|a| String::from_utf8_lossy(a.body).into_owned())
            .collect();
        for source in &sources {
            for (i, _) in source.match_indices("\"/assets/") {
                let rest = &source[i + 9..];
                let name = &rest[..rest.find('"').unwrap_or(0)];
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "/assets/{name} is referenced but not embedded"
                );
            }
            assert!(
                !source.contains("http://") && !source.contains("https://"),
                "no third-party origin"
            );
        }
    }
}

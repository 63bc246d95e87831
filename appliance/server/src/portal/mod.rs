//! The clients' portal: share pages under `/s/{link}`, a small script for the player, signed
//! media URLs under `/m/…`, and upload links under `/u/{link}`. No account, no third-party
//! origin, no tracking.
//!
//! Unknown, forged, expired and revoked links all get the same page and status, so a link's
//! page says nothing about whether it ever existed.

mod arrivals;
mod media;
mod media_urls;
mod pages;
mod review;
mod unlock;
mod upload;

use std::convert::Infallible;
use std::sync::Arc;

use studiovault_vault::{RecipientGrant, Vault, VaultError};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::web::{ApiError, AppState, blocking};

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

/// The unlock cookie a password share's pages and media URLs need, if the client sent one.
fn unlock_cookie(
    state: &AppState,
) -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone + use<> {
    warp::cookie::optional::<String>(unlock_cookie_name(state))
}

/// The grant behind `token`, if the link works (locked or not); on a blocking thread.
fn open_link(vault: &Vault, token: &str) -> Result<Option<RecipientGrant>, VaultError> {
    match vault.open_link(token) {
        Ok(grant) => Ok(Some(grant)),
        Err(VaultError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The grant behind `token`, if the link works and (for a password share) is unlocked.
async fn grant_for(
    state: &AppState,
    token: String,
    unlock: Option<String>,
) -> Result<Option<RecipientGrant>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let Some(grant) = open_link(&vault, &token)? else {
            return Ok(None);
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

/// The portal, in the order its routes are tried. The files arriving through upload links live
/// here, with the one route that admits them.
pub fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let link_arrivals = Arc::new(arrivals::LinkArrivals::default());
    vec![
        pages::link_page(state),
        unlock::route(state),
        pages::poll(state),
        review::open(state),
        review::comments(state),
        review::listen(state),
        upload::page_route(state),
        upload::files_route(state, &link_arrivals),
        media::peaks(state),
        media_urls::route(state),
        media::route(state),
        media::malformed(),
    ]
}

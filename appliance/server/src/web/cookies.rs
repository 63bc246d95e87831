//! The server's cookies: names and attributes.

use crate::config::Config;

/// The session cookie over plain HTTP (loopback only) and over HTTPS.
const SESSION_COOKIE: &str = "sv_session";
const SECURE_SESSION_COOKIE: &str = "__Host-sv_session";

/// The session cookie's name: under TLS the `__Host-` prefix makes browsers keep it to this
/// exact origin, over HTTPS only, never widened to a parent domain.
pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.tls.enabled() {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Which requests from other sites carry a cookie.
#[derive(Debug, Clone, Copy)]
pub enum SameSite {
    /// None: the owner's session. The web app's own requests carry it, so a link into the app
    /// from a mail still opens signed in, while no other site can make a request with it.
    Strict,
    /// Top-level GET navigations too: a share's unlock, so that a recipient who opens their link
    /// again from a webmail (another site) within the unlock's hours is not asked for the
    /// password again. Only the link's page reads it; every state-changing request needs this
    /// site's `Origin` anyway.
    Lax,
}

/// A `Set-Cookie` value for one of the server's cookies: never readable by scripts, and
/// `Secure` under TLS so that a typed `http://` address (port 80 answers with a redirect) never
/// carries it in clear.
pub fn set_cookie(
    config: &Config,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: SameSite,
) -> String {
    let secure = if config.tls.enabled() { "; Secure" } else { "" };
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}{secure}; Max-Age={max_age}"
    )
}

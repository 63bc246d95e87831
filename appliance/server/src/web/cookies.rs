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

/// A `Set-Cookie` value for one of the server's cookies: never readable by scripts, never sent
/// with another site's requests, and `Secure` under TLS so that a typed `http://` address (port
/// 80 answers with a redirect) never carries it in clear.
pub fn set_cookie(config: &Config, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if config.tls.enabled() { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}; Max-Age={max_age}")
}

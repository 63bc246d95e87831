//! Response headers: the security headers on every answer, the pages' CSP, and the helpers
//! that set one header or a `Content-Disposition`.

use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::reply::Response;

/// Pages may load scripts, styles, media and data from this origin only; the QR code is an
/// inline SVG image (`data:`).
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                        media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every answer: nothing is framed, sniffed, referred, cached or allowed to load
/// from anywhere.
pub(super) fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
    set(
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    );
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    h
}

/// Sets `name` to `value`, unless `value` cannot be a header value.
pub fn set(res: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

/// `inline; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266). The ASCII fallback
/// also loses `;`, `=`, `*` and `%`: inside its quotes they are text, but a client that splits
/// the header on `;` would read a smuggled `filename*=` parameter, and one that percent-decodes
/// `filename` would read an encoded path.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !"\"\\;=*%".contains(c) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_header_safe() {
        assert_eq!(
            content_disposition("inline", "Take 1.wav"),
            "inline; filename=\"Take 1.wav\"; filename*=UTF-8''Take%201.wav"
        );
        let d = content_disposition("attachment", "Ünreleased \"mix\"\r\n.flac");
        assert!(
            d.starts_with("attachment; filename=\"_nreleased _mix___.flac\""),
            "{d}"
        );
        assert!(
            d.ends_with("filename*=UTF-8''%C3%9Cnreleased%20%22mix%22%0D%0A.flac"),
            "{d}"
        );
        assert!(HeaderValue::from_str(&d).is_ok());
        let smuggled = content_disposition("attachment", "x\"; filename*=UTF-8''evil.exe; %2e.wav");
        assert!(
            smuggled
                .starts_with("attachment; filename=\"x__ filename__UTF-8''evil.exe_ _2e.wav\";"),
            "{smuggled}"
        );
        assert_eq!(smuggled.matches("filename*=").count(), 1, "{smuggled}");
    }
}

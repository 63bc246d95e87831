//! The `[tls]` section of the appliance's configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

const HSTS_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Plain HTTP on loopback only.
    #[default]
    Off,
    /// Certificates from an ACME CA (Let's Encrypt by default), renewed automatically.
    Acme,
    /// A certificate and key kept by something else, reloaded when they change.
    Files,
    /// A local CA created in the data directory signs the certificate (LAN-only studios).
    SelfSigned,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Acme => "acme",
            Mode::Files => "files",
            Mode::SelfSigned => "self-signed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub mode: Mode,
    /// The API and the web app, over HTTPS.
    pub https_listen: SocketAddr,
    /// Plain HTTP: ACME HTTP-01 challenges and a redirect to HTTPS, nothing else.
    pub http_listen: SocketAddr,
    /// Also accept TLS 1.2 (AEAD suites only) for old clients; TLS 1.3 only otherwise.
    pub tls12: bool,
    /// Adds `includeSubDomains` to Strict-Transport-Security.
    pub hsts_include_subdomains: bool,
    /// Adds `preload` to Strict-Transport-Security (needs `hsts_include_subdomains`).
    pub hsts_preload: bool,
    pub acme: AcmeConfig,
    pub files: FilesConfig,
    pub self_signed: SelfSignedConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// The names the certificate covers; each must reach this machine on ports 80 or 443.
    pub domains: Vec<String>,
    /// Contact address given to the CA (optional).
    pub email: Option<String>,
    pub directory_url: String,
    /// PEM file of the CAs trusted for the ACME server's own HTTPS, instead of the built-in
    /// Mozilla roots (a test CA such as pebble, or a private ACME server).
    pub ca_file: Option<PathBuf>,
    pub challenge: ChallengeKind,
    /// First wait after a failed attempt; it doubles with each failure in a row.
    pub retry_initial_seconds: u64,
    /// Longest wait between failed attempts.
    pub retry_max_seconds: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengeKind {
    /// Answered on `http_listen` (port 80).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// Answered in the TLS handshake on `https_listen` (port 443).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl ChallengeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelfSignedConfig {
    /// Host names and IP addresses the certificate covers. Default: this machine's host name,
    /// `<host name>.local`, `localhost`, `127.0.0.1` and `::1`.
    pub names: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            https_listen: SocketAddr::from(([0, 0, 0, 0], 443)),
            http_listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            tls12: false,
            hsts_include_subdomains: false,
            hsts_preload: false,
            acme: AcmeConfig::default(),
            files: FilesConfig::default(),
            self_signed: SelfSignedConfig::default(),
        }
    }
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            email: None,
            directory_url: LETS_ENCRYPT.into(),
            ca_file: None,
            challenge: ChallengeKind::Http01,
            retry_initial_seconds: 60,
            retry_max_seconds: 6 * 3600,
        }
    }
}

/// A bad `[tls]` setting: the key (below `tls.`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Whether two listeners would take the same socket: the same port on the same address, or on
/// an address the other's wildcard covers (`[::]` takes IPv4 too, as Linux binds it by default).
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |wildcard: IpAddr, other: IpAddr| match wildcard {
        IpAddr::V4(ip) => ip.is_unspecified() && other.is_ipv4(),
        IpAddr::V6(ip) => ip.is_unspecified(),
    };
    a.port() == b.port() && (a.ip() == b.ip() || covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

fn problem(key: &str, message: impl Into<String>) -> Result<(), ConfigProblem> {
    Err(ConfigProblem {
        key: format!("tls.{key}"),
        message: message.into(),
    })
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.mode != Mode::Off
    }

    /// The origin clients reach HTTPS at, from the settings alone (mails link to it when no
    /// `http.public_origin` is set): the first name the certificate is for, or for certificate
    /// files, whose names only the files know, this machine's `.local` name. `None` with TLS off.
    pub fn served_origin(&self) -> Option<String> {
        let listen = self.https_listen;
        let host = if !listen.ip().is_unspecified() {
            match listen.ip() {
                IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            }
        } else {
            match self.mode {
                Mode::Off => return None,
                Mode::Acme => self.acme.domains.first().cloned(),
                Mode::SelfSigned => self.self_signed.names.first().cloned(),
                Mode::Files => None,
            }
            .unwrap_or_else(|| crate::local_ca::default_names().swap_remove(0))
        };
        Some(match listen.port() {
            443 => format!("https://{host}"),
            port => format!("https://{host}:{port}"),
        })
    }

    /// The `Strict-Transport-Security` value sent on every HTTPS answer.
    pub fn hsts(&self) -> String {
        let mut value = format!("max-age={HSTS_MAX_AGE_SECS}");
        if self.hsts_include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.hsts_preload {
            value.push_str("; preload");
        }
        value
    }

    /// Checks the settings the chosen mode needs; other modes' sections are ignored.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.hsts_preload && !self.hsts_include_subdomains {
            return problem(
                "hsts_preload",
                "preload lists only take sites that also set hsts_include_subdomains = true",
            );
        }
        if self.enabled() && overlap(self.https_listen, self.http_listen) {
            return problem(
                "http_listen",
                "must not take tls.https_listen's port on the same or a wildcard address",
            );
        }
        match self.mode {
            Mode::Off => Ok(()),
            Mode::Acme => self.acme.validate(),
            Mode::Files => {
                if self.files.cert.is_none() {
                    return problem("files.cert", "files mode needs the certificate's path");
                }
                if self.files.key.is_none() {
                    return problem("files.key", "files mode needs the private key's path");
                }
                Ok(())
            }
            Mode::SelfSigned => {
                for name in &self.self_signed.names {
                    if name.parse::<IpAddr>().is_err() && !is_dns_name(name) {
                        return problem(
                            "self_signed.names",
                            format!("`{name}` is neither a host name nor an IP address"),
                        );
                    }
                }
                Ok(())
            }
        }
    }
}

impl AcmeConfig {
    fn validate(&self) -> Result<(), ConfigProblem> {
        if self.domains.is_empty() {
            return problem(
                "acme.domains",
                "acme mode needs at least one domain name, e.g. [\"vault.studio.example\"]",
            );
        }
        for domain in &self.domains {
            if domain.starts_with("*.") {
                return problem(
                    "acme.domains",
                    format!("`{domain}`: wildcard names need DNS-01, which is not supported"),
                );
            }
            if !is_dns_name(domain) || !domain.contains('.') {
                return problem(
                    "acme.domains",
                    format!("`{domain}` is not a fully qualified domain name"),
                );
            }
        }
        if !self.directory_url.starts_with("https://") {
            return problem("acme.directory_url", "must be an https:// URL");
        }
        if let Some(email) = &self.email
            && (email.starts_with("mailto:") || !email.contains('@') || email.contains(','))
        {
            return problem(
                "acme.email",
                "must be one e-mail address such as ops@studio.example",
            );
        }
        if self.retry_initial_seconds == 0 {
            return problem("acme.retry_initial_seconds", "must be greater than 0");
        }
        if self.retry_max_seconds < self.retry_initial_seconds {
            return problem(
                "acme.retry_max_seconds",
                "must be at least tls.acme.retry_initial_seconds",
            );
        }
        Ok(())
    }
}

fn is_dns_name(name: &str) -> bool {
    rustls_pki_types::DnsName::try_from(name).is_ok() && name.parse::<IpAddr>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme(domains: &[&str]) -> TlsConfig {
        let mut c = TlsConfig {
            mode: Mode::Acme,
            ..TlsConfig::default()
        };
        c.acme.domains = domains.iter().map(|d| (*d).to_owned()).collect();
        c
    }

    fn key_of(c: &TlsConfig) -> String {
        c.validate()
            .map(|()| String::new())
            .unwrap_or_else(|p| p.key)
    }

    #[test]
    fn acme_needs_real_domain_names() {
        assert_eq!(key_of(&acme(&["vault.studio.example"])), "");
        assert_eq!(key_of(&acme(&[])), "tls.acme.domains");
        assert_eq!(key_of(&acme(&["*.studio.example"])), "tls.acme.domains");
        assert_eq!(key_of(&acme(&["localhost"])), "tls.acme.domains");
        assert_eq!(key_of(&acme(&["192.0.2.1"])), "tls.acme.domains");
        assert_eq!(key_of(&acme(&["bad name.example"])), "tls.acme.domains");
        let mut c = acme(&["vault.studio.example"]);
        c.acme.directory_url = "http://ca.example/dir".into();
        assert_eq!(key_of(&c), "tls.acme.directory_url");
        c.acme.directory_url = LETS_ENCRYPT.into();
        c.acme.email = Some("mailto:ops@studio.example".into());
        assert_eq!(key_of(&c), "tls.acme.email");
        c.acme.email = Some("ops@studio.example".into());
        c.acme.retry_max_seconds = 1;
        assert_eq!(key_of(&c), "tls.acme.retry_max_seconds");
    }

    #[test]
    fn other_modes_check_their_own_settings() {
        let mut c = TlsConfig {
            mode: Mode::Files,
            ..TlsConfig::default()
        };
        assert_eq!(key_of(&c), "tls.files.cert");
        c.files.cert = Some("/c.pem".into());
        assert_eq!(key_of(&c), "tls.files.key");
        c.files.key = Some("/k.pem".into());
        assert_eq!(key_of(&c), "");
        c.http_listen = c.https_listen;
        assert_eq!(key_of(&c), "tls.http_listen");
        // The same port on a wildcard and on one address would collide at start-up too.
        for (https, http, clash) in [
            ("0.0.0.0:443", "127.0.0.1:443", true),
            ("[::]:443", "10.0.0.2:443", true),
            ("[::1]:443", "[::]:443", true),
            ("0.0.0.0:443", "[::1]:443", false),
            ("10.0.0.2:443", "127.0.0.1:443", false),
            ("0.0.0.0:443", "0.0.0.0:80", false),
        ] {
            c.https_listen = https.parse().unwrap();
            c.http_listen = http.parse().unwrap();
            let expected = if clash { "tls.http_listen" } else { "" };
            assert_eq!(key_of(&c), expected, "{https} {http}");
        }

        let mut c = TlsConfig {
            mode: Mode::SelfSigned,
            ..TlsConfig::default()
        };
        c.self_signed.names = vec!["studio.local".into(), "192.168.1.20".into(), "::1".into()];
        assert_eq!(key_of(&c), "");
        c.self_signed.names.push("not a name".into());
        assert_eq!(key_of(&c), "tls.self_signed.names");
    }

    #[test]
    fn hsts_is_a_year_with_opt_in_extras() {
        let mut c = TlsConfig::default();
        assert_eq!(c.hsts(), "max-age=31536000");
        c.hsts_preload = true;
        assert_eq!(key_of(&c), "tls.hsts_preload");
        c.hsts_include_subdomains = true;
        assert_eq!(key_of(&c), "");
        assert_eq!(c.hsts(), "max-age=31536000; includeSubDomains; preload");
    }

    #[test]
    fn modes_and_challenges_read_as_written() {
        let c: TlsConfig =
            toml_like(r#"{"mode":"self-signed","acme":{"challenge":"tls-alpn-01"}}"#);
        assert_eq!(c.mode, Mode::SelfSigned);
        assert_eq!(c.acme.challenge, ChallengeKind::TlsAlpn01);
        assert_eq!(c.acme.directory_url, LETS_ENCRYPT);
    }

    fn toml_like(json: &str) -> TlsConfig {
        serde_json::from_str(json).unwrap()
    }
}

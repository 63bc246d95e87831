//! Outgoing mail: one SMTP relay from `[mail]`, over STARTTLS or implicit TLS (rustls, the
//! machine's trust store plus an optional private CA), authenticated from a secret file.
//!
//! Every message has a plain-text and an HTML body from a template pair in files (built in,
//! or overridden from `templates_dir`); the text file's first line is the subject. Values are
//! substituted for `{{name}}`, HTML-escaped in the HTML body. Templates hold nothing remote: no
//! images, fonts or links to third parties, so reading a notice tells no one that it was read.

mod template;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

pub use template::{Rendered, Template, TemplateError};

/// How long one SMTP conversation may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only to a relay on this machine's loopback.
    None,
}

/// `[mail]`: the relay the appliance sends through. Off while `smtp_host` is unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub security: Security,
    /// The relay's user name; the password is read from `password_file`.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `Studio Vault <vault@studio.example>`.
    pub from: Option<String>,
    /// A PEM root to trust besides the machine's (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
    /// A folder of `NAME.txt` / `NAME.html` pairs overriding the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// At most this many messages a minute leave for the relay (providers cap it; a breach
    /// notice to every account must not be refused as a flood).
    pub per_minute: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            security: Security::Starttls,
            username: None,
            password_file: None,
            from: None,
            ca_file: None,
            templates_dir: None,
            per_minute: 60,
        }
    }
}

impl MailConfig {
    pub fn enabled(&self) -> bool {
        self.smtp_host.is_some()
    }

    /// `host:port (security)`, for messages to the admin.
    pub fn relay(&self) -> String {
        let security = match self.security {
            Security::Starttls => "STARTTLS",
            Security::Tls => "TLS",
            Security::None => "no TLS",
        };
        format!(
            "{}:{} ({security})",
            self.smtp_host.as_deref().unwrap_or("-"),
            self.smtp_port
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail is not configured: set mail.smtp_host and mail.from")]
    NotConfigured,
    #[error("mail.{key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("the address `{0}` is not a valid e-mail address")]
    Address(String),
    /// The relay refused or could not be reached; `permanent` when retrying cannot help.
    #[error("sending through {relay} failed: {reason}")]
    Send {
        relay: String,
        reason: String,
        permanent: bool,
    },
}

/// A relay, ready to send.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Option<PathBuf>,
    relay: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn config_error(key: &'static str, reason: impl Into<String>) -> MailError {
    MailError::Config {
        key,
        reason: reason.into(),
    }
}

impl MailConfig {
    /// What can be told of the settings without touching a file or the network: a relay
    /// named needs a sender, a sender that is an address, `security = "none"` only to a relay
    /// on loopback, and a user with a password file. `config check` runs it, so a setting that
    /// would keep the service from starting is named before it is installed.
    pub fn check(&self) -> Result<(), MailError> {
        let Some(host) = self.smtp_host.as_deref() else {
            return Ok(());
        };
        self.sender()?;
        if self.security == Security::None && !is_loopback(host) {
            return Err(config_error(
                "security",
                "`none` sends in the clear: only to a relay on loopback",
            ));
        }
        if self.username.is_some() != self.password_file.is_some() {
            return Err(config_error(
                "username",
                "set both mail.username and mail.password_file, or neither",
            ));
        }
        Ok(())
    }

    fn sender(&self) -> Result<Mailbox, MailError> {
        self.from
            .as_deref()
            .ok_or_else(|| config_error("from", "must be set when mail.smtp_host is"))?
            .parse()
            .map_err(|e| config_error("from", format!("not an address: {e}")))
    }
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let host = config
            .smtp_host
            .as_deref()
            .ok_or(MailError::NotConfigured)?;
        config.check()?;
        let from = config.sender()?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.smtp_port)
            .timeout(Some(TIMEOUT));
        let tls = || -> Result<TlsParameters, MailError> {
            let mut params = TlsParameters::builder(host.to_owned());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| config_error("ca_file", format!("{}: {e}", path.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| config_error("ca_file", format!("{}: {e}", path.display())))?;
                params = params.add_root_certificate(cert);
            }
            params
                .build_rustls()
                .map_err(|e| config_error("smtp_host", e.to_string()))
        };
        // `check` refused `none` to a relay off loopback, and a user without a password file.
        builder = match config.security {
            Security::Starttls => builder.tls(Tls::Required(tls()?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls()?)),
            Security::None => builder.tls(Tls::None),
        };
        if let (Some(user), Some(file)) = (&config.username, &config.password_file) {
            let password = read_secret(file)?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            templates: config.templates_dir.clone(),
            relay: config.relay(),
        })
    }

    /// Renders template `name` with `values` and sends it to `to` as message `id`: the
    /// `Message-ID` is made from it, so a message sent again (a crash between the relay's
    /// answer and the record of it) is the same message, which mail clients show once.
    pub async fn send(
        &self,
        id: &str,
        to: &str,
        name: &str,
        values: &[(&str, &str)],
    ) -> Result<(), MailError> {
        let rendered = Template::load(name, self.templates.as_deref())?.render(values);
        let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_owned()))?;
        let message = Message::builder()
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| MailError::Send {
                relay: self.relay.clone(),
                reason: e.to_string(),
                permanent: true,
            })?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send {
                relay: self.relay.clone(),
                permanent: e.is_permanent(),
                // lettre's message already carries its cause.
                reason: e.to_string(),
            })
    }

    pub fn relay(&self) -> &str {
        &self.relay
    }
}

fn read_secret(path: &Path) -> Result<String, MailError> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| config_error("password_file", format!("{}: {e}", path.display())))?;
    let secret = raw.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        return Err(config_error(
            "password_file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MailConfig {
        MailConfig {
            smtp_host: Some("127.0.0.1".into()),
            from: Some("Studio Vault <vault@studio.test>".into()),
            ..MailConfig::default()
        }
    }

    #[test]
    fn clear_text_only_to_loopback_and_credentials_come_in_pairs() {
        let plain = MailConfig {
            security: Security::None,
            ..config()
        };
        assert!(Mailer::new(&plain).is_ok());
        let remote = MailConfig {
            smtp_host: Some("smtp.example.com".into()),
            ..plain
        };
        assert!(matches!(
            Mailer::new(&remote),
            Err(MailError::Config {
                key: "security",
                ..
            })
        ));
        let half = MailConfig {
            username: Some("vault".into()),
            ..config()
        };
        assert!(matches!(
            Mailer::new(&half),
            Err(MailError::Config {
                key: "username",
                ..
            })
        ));
        assert!(matches!(
            Mailer::new(&MailConfig::default()),
            Err(MailError::NotConfigured)
        ));
        let bad_from = MailConfig {
            from: Some("not an address".into()),
            ..config()
        };
        assert!(matches!(
            Mailer::new(&bad_from),
            Err(MailError::Config { key: "from", .. })
        ));
    }
}

//! Studio Vault's TLS: the rustls server configuration (TLS 1.3, ALPN h2 and http/1.1), a
//! certificate resolver swapped live, and the three ways to get a certificate: ACME, files kept
//! by something else, and a local CA. The server crate runs the listeners; this crate knows
//! nothing of HTTP routes.

pub mod config;

mod acme;
mod certificate;
mod local_ca;
mod resolver;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::ServerConfig;
use studiovault_api::admin::{CertificateView, RootCertificate, TlsStatus};
use tokio::sync::{Notify, watch};

use crate::certificate::{CertInfo, LoadedCert, load_pem};
pub use crate::config::{ChallengeKind, Mode, TlsConfig};
use crate::local_ca::LocalCa;
pub use crate::resolver::ACME_TLS_ALPN;
use crate::resolver::CertResolver;
use crate::store::{read_if_exists, write_private, write_public};

/// How often files mode looks at the certificate files' modification times.
const FILES_POLL: Duration = Duration::from_secs(5);

/// The longest quiet a CA's `Retry-After` is granted: past Let's Encrypt's week-long windows, so
/// a real limit is always honoured, while a broken header cannot stop renewals for good.
const MAX_CA_WAIT: Duration = Duration::from_secs(8 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    BadCertificate(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ACME: {0}")]
    Acme(String),
    /// The CA refused with `Retry-After`: rate limited (429) or unavailable (503).
    #[error("ACME: {reason}; the CA asks not to be asked again before {}", rfc3339(*until))]
    CaAskedToWait { reason: String, until: i64 },
    /// A forced renewal while the CA's asked-for quiet lasts; the CA was not contacted.
    #[error(
        "the CA asked not to be asked again before {}; the appliance tries again then",
        rfc3339(*until)
    )]
    CaStillWaiting { until: i64 },
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("a certificate task failed: {0}")]
    Task(String),
}

/// The appliance's TLS side: cheap to clone, shared by the listeners, the renewal task and the
/// admin API.
#[derive(Clone)]
pub struct Tls {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.inner.config.mode)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: TlsConfig,
    dir: PathBuf,
    resolver: Arc<CertResolver>,
    server_config: Arc<ServerConfig>,
    http01: acme::Http01Tokens,
    local_ca: Option<LocalCa>,
    state: Mutex<State>,
    /// One attempt at a time, whether from the timer, SIGHUP or the admin.
    attempt_lock: tokio::sync::Mutex<()>,
    /// Wakes the renewal task to recompute its next attempt.
    wake: Notify,
}

#[derive(Default)]
struct State {
    current: Option<CertInfo>,
    next_attempt: Option<i64>,
    last_error: Option<String>,
    failures: u32,
    /// Unix milliseconds before which the CA asked not to be contacted (its `Retry-After`).
    ca_wait_until: Option<i64>,
    /// Files mode: the modification times of the certificate and key last loaded.
    files_seen: Option<(SystemTime, SystemTime)>,
}

impl Tls {
    /// Sets up TLS for `config` with its files under `<data_dir>/tls`. Files and self-signed
    /// modes have a certificate when this returns (or fail with the reason); ACME mode serves a
    /// stored certificate if it has one and orders a new one from [`Tls::run`].
    pub fn new(config: &TlsConfig, data_dir: &Path) -> Result<Self, TlsError> {
        let dir = data_dir.join("tls");
        std::fs::create_dir_all(&dir).map_err(|source| TlsError::Io {
            path: dir.clone(),
            source,
        })?;
        let resolver = Arc::new(CertResolver::default());
        let local_ca = match config.mode {
            Mode::SelfSigned => Some(LocalCa::load_or_create(&dir)?),
            _ => None,
        };
        let tls = Self {
            inner: Arc::new(Inner {
                server_config: server_config(config, resolver.clone())?,
                config: config.clone(),
                dir,
                resolver,
                http01: Default::default(),
                local_ca,
                state: Mutex::default(),
                attempt_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
            }),
        };
        match config.mode {
            Mode::Off => {}
            Mode::Files => {
                tls.load_files(true)?;
            }
            Mode::SelfSigned | Mode::Acme => {
                if let Some(stored) = tls.stored()? {
                    tls.install(stored);
                } else if config.mode == Mode::SelfSigned {
                    tls.issue_local()?;
                }
            }
        }
        Ok(tls)
    }

    pub fn config(&self) -> &TlsConfig {
        &self.inner.config
    }

    /// The rustls configuration every HTTPS connection uses.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.server_config.clone()
    }

    /// The key authorization for an HTTP-01 `token`, while an order waits for it.
    pub fn http01_answer(&self, token: &str) -> Option<String> {
        self.inner
            .http01
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    /// The `Strict-Transport-Security` value for HTTPS answers.
    pub fn hsts(&self) -> String {
        self.inner.config.hsts()
    }

    pub fn status(&self) -> TlsStatus {
        let state = self.lock_state();
        TlsStatus {
            mode: self.inner.config.mode.as_str().into(),
            https_listen: self.inner.config.https_listen.to_string(),
            certificate: state.current.as_ref().map(CertInfo::view),
            next_attempt: state.next_attempt,
            last_error: state.last_error.clone(),
            failures: state.failures,
            ca_wait_until: state.ca_wait_until,
            root_certificate: self.inner.local_ca.as_ref().map(|ca| RootCertificate {
                path: ca.root_path.display().to_string(),
                sha256: ca.root_sha256.clone(),
            }),
        }
    }

    /// Gets a new certificate now (ACME order, local CA issue, or re-reading the files), swaps it
    /// in for new connections, and answers what is served afterwards. While the CA's asked-for
    /// quiet lasts, the CA is not contacted and the answer says until when.
    pub async fn renew(&self) -> Result<CertificateView, TlsError> {
        let waiting = self.lock_state().ca_wait_until.filter(|&at| at > now_ms());
        if let Some(until) = waiting {
            return Err(TlsError::CaStillWaiting { until });
        }
        let result = self.attempt(true).await;
        self.inner.wake.notify_one();
        result.map(|info| info.view())
    }

    /// The renewal task: renews at two thirds of the lifetime, retries failures with
    /// exponential backoff, and in files mode reloads changed files. Ends when `stop` turns
    /// true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if self.inner.config.mode == Mode::Off {
            return;
        }
        loop {
            let wait = self.until_next_attempt();
            tokio::select! {
                () = tokio::time::sleep(wait) => {
                    let _ = self.attempt(false).await;
                }
                () = self.inner.wake.notified() => {}
                () = async { let _ = stop.wait_for(|s| *s).await; } => break,
            }
        }
    }

    fn until_next_attempt(&self) -> Duration {
        let next = self.lock_state().next_attempt;
        match next {
            Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
            None => Duration::ZERO,
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One attempt; `forced` skips the "not due yet" and "files unchanged" checks.
    async fn attempt(&self, forced: bool) -> Result<CertInfo, TlsError> {
        let _one_at_a_time = self.inner.attempt_lock.lock().await;
        let result =
            match self.inner.config.mode {
                Mode::Off => Err(TlsError::BadCertificate("TLS is off".into())),
                Mode::Files => {
                    let this = self.clone();
                    match tokio::task::spawn_blocking(move || this.load_files(forced)).await {
                        Ok(Ok(true)) => self.lock_state().current.clone().ok_or_else(|| {
                            TlsError::BadCertificate("no certificate loaded".into())
                        }),
                        Ok(Ok(false)) => {
                            // Unchanged files: just look again later.
                            let mut state = self.lock_state();
                            state.next_attempt = Some(now_ms() + FILES_POLL.as_millis() as i64);
                            return state.current.clone().ok_or_else(|| {
                                TlsError::BadCertificate("no certificate loaded".into())
                            });
                        }
                        Ok(Err(e)) => Err(e),
                        Err(e) => Err(TlsError::Task(e.to_string())),
                    }
                }
                Mode::SelfSigned => {
                    let this = self.clone();
                    match tokio::task::spawn_blocking(move || this.issue_local()).await {
                        Ok(result) => result,
                        Err(e) => Err(TlsError::Task(e.to_string())),
                    }
                }
                Mode::Acme => self.order_acme().await,
            };
        match &result {
            Ok(info) => {
                tracing::info!(
                    mode = self.inner.config.mode.as_str(),
                    subject = %info.subject,
                    issuer = %info.issuer,
                    not_after = info.not_after,
                    "certificate installed for new connections"
                );
            }
            Err(e) => self.record_failure(e),
        }
        result
    }

    fn record_failure(&self, error: &TlsError) {
        let cfg = &self.inner.config.acme;
        let mut state = self.lock_state();
        state.failures = state.failures.saturating_add(1);
        let backoff = cfg
            .retry_initial_seconds
            .saturating_mul(1u64 << state.failures.saturating_sub(1).min(30))
            .min(cfg.retry_max_seconds);
        let backoff = match self.inner.config.mode {
            Mode::Files => FILES_POLL.as_secs(),
            _ => backoff,
        };
        let now = now_ms();
        let backoff_until = now.saturating_add((backoff as i64).saturating_mul(1000));
        // An earlier wait is over (no attempt starts inside one): only this answer's counts.
        state.ca_wait_until = match error {
            TlsError::CaAskedToWait { until, .. } => {
                Some((*until).min(now + MAX_CA_WAIT.as_millis() as i64))
            }
            _ => None,
        };
        let retry_at = state
            .ca_wait_until
            .map_or(backoff_until, |u| u.max(backoff_until));
        state.next_attempt = Some(retry_at);
        let message = error.to_string();
        // Files mode looks every 5 s: a file that stays broken is logged once, not every look.
        let repeated = state.last_error.as_deref() == Some(message.as_str())
            && self.inner.config.mode == Mode::Files;
        if !repeated {
            tracing::error!(
                mode = self.inner.config.mode.as_str(),
                failures = state.failures,
                retry_in_seconds = (retry_at - now) / 1000,
                error = %message,
                "getting a certificate failed"
            );
        }
        state.last_error = Some(message);
    }

    /// Serves `loaded` from now on and plans the next renewal.
    fn install(&self, loaded: LoadedCert) -> CertInfo {
        self.inner.resolver.swap(loaded.key);
        let mut state = self.lock_state();
        state.failures = 0;
        state.last_error = None;
        state.ca_wait_until = None;
        state.next_attempt = Some(match self.inner.config.mode {
            Mode::Files => now_ms() + FILES_POLL.as_millis() as i64,
            _ => loaded.info.renew_at() * 1000,
        });
        state.current = Some(loaded.info.clone());
        loaded.info
    }

    /// The certificate chain and its key, in one file: one rename replaces both, so a crash or a
    /// full disk never leaves a new key beside an old certificate (which no restart could serve).
    fn kept_path(&self) -> PathBuf {
        self.inner.dir.join("key-and-certificate.pem")
    }

    /// Where builds before [`Tls::kept_path`] kept the two halves.
    fn legacy_paths(&self) -> [PathBuf; 2] {
        [
            self.inner.dir.join("cert.pem"),
            self.inner.dir.join("key.pem"),
        ]
    }

    /// Beside the stored certificate: where it came from ([`Tls::source`]).
    fn source_path(&self) -> PathBuf {
        self.inner.dir.join("cert.source")
    }

    /// Where this configuration gets certificates: a stored one from elsewhere (the local CA
    /// before a switch to ACME, an ACME staging directory before production) is not served.
    fn source(&self) -> String {
        let config = &self.inner.config;
        match config.mode {
            Mode::Acme => format!("acme {}", config.acme.directory_url),
            mode => mode.as_str().to_owned(),
        }
    }

    /// The certificate kept from an earlier run, if it still covers the configured names.
    fn stored(&self) -> Result<Option<LoadedCert>, TlsError> {
        let [cert_path, key_path] = self.legacy_paths();
        let (chain, key) = match read_if_exists(&self.kept_path())? {
            Some(both) => (both.clone(), both),
            None => match (read_if_exists(&cert_path)?, read_if_exists(&key_path)?) {
                (Some(chain), Some(key)) => (chain, key),
                _ => return Ok(None),
            },
        };
        let Ok(loaded) = load_pem(&chain, &key) else {
            tracing::warn!("the stored certificate is unreadable; getting a new one");
            return Ok(None);
        };
        let wanted = self.wanted_names();
        let fresh = loaded.info.not_after > now_ms() / 1000;
        let same_issuer = match &self.inner.local_ca {
            Some(ca) => {
                loaded.key.cert.last().map(|c| certificate::fingerprint(c))
                    == Some(ca.root_sha256.clone())
            }
            None => true,
        };
        let same_source = match read_if_exists(&self.source_path())? {
            Some(source) => String::from_utf8_lossy(&source).trim() == self.source(),
            // Kept before sources were recorded: a local CA's certificate is no ACME one.
            None => {
                self.inner.config.mode != Mode::Acme
                    || !loaded.info.issuer.contains(local_ca::CA_NAME_PREFIX)
            }
        };
        Ok((loaded.info.covers(&wanted) && fresh && same_issuer && same_source).then_some(loaded))
    }

    fn wanted_names(&self) -> Vec<String> {
        let config = &self.inner.config;
        match config.mode {
            Mode::Acme => config.acme.domains.clone(),
            Mode::SelfSigned if !config.self_signed.names.is_empty() => {
                config.self_signed.names.clone()
            }
            Mode::SelfSigned => local_ca::default_names(),
            Mode::Off | Mode::Files => Vec::new(),
        }
    }

    /// Serves a new certificate at once, then keeps it for the next start. One that cannot be
    /// kept is served all the same (failing here would order it again at every retry, into the
    /// CA's duplicate-certificate limit); the log says a restart will order another.
    fn keep(&self, chain: &str, key: &str) -> Result<CertInfo, TlsError> {
        let loaded = load_pem(chain.as_bytes(), key.as_bytes())?;
        let info = self.install(loaded);
        let both = format!("{key}{chain}");
        let kept = write_private(&self.kept_path(), both.as_bytes())
            .and_then(|()| write_public(&self.source_path(), self.source().as_bytes()));
        match kept {
            Ok(()) => {
                for legacy in self.legacy_paths() {
                    let _ = std::fs::remove_file(legacy);
                }
            }
            Err(e) => tracing::error!(
                error = %e,
                "the new certificate is served but could not be kept: a restart will get another"
            ),
        }
        Ok(info)
    }

    fn issue_local(&self) -> Result<CertInfo, TlsError> {
        let ca = self
            .inner
            .local_ca
            .as_ref()
            .ok_or_else(|| TlsError::BadCertificate("no local CA".into()))?;
        let (chain, key) = ca.issue(&self.wanted_names())?;
        self.keep(&chain, &key)
    }

    async fn order_acme(&self) -> Result<CertInfo, TlsError> {
        let inner = &self.inner;
        tracing::info!(
            domains = %inner.config.acme.domains.join(","),
            directory = %inner.config.acme.directory_url,
            challenge = inner.config.acme.challenge.as_str(),
            "ordering a certificate"
        );
        let (chain, key) = acme::obtain(
            &inner.config.acme,
            &inner.dir,
            &inner.http01,
            &inner.resolver,
        )
        .await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.keep(&chain, &key))
            .await
            .map_err(|e| TlsError::Task(e.to_string()))?
    }

    /// Files mode: loads the files when they changed since the last load (or when `forced`);
    /// answers whether it did.
    fn load_files(&self, forced: bool) -> Result<bool, TlsError> {
        let files = &self.inner.config.files;
        let (Some(cert_path), Some(key_path)) = (&files.cert, &files.key) else {
            return Err(TlsError::BadCertificate(
                "files mode needs tls.files.cert and tls.files.key".into(),
            ));
        };
        let modified = |path: &Path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .map_err(|source| TlsError::Io {
                    path: path.to_owned(),
                    source,
                })
        };
        let seen = (modified(cert_path)?, modified(key_path)?);
        if !forced && self.lock_state().files_seen == Some(seen) {
            return Ok(false);
        }
        let read = |path: &Path| {
            read_if_exists(path)?.ok_or_else(|| TlsError::Io {
                path: path.to_owned(),
                source: std::io::ErrorKind::NotFound.into(),
            })
        };
        let loaded = load_pem(&read(cert_path)?, &read(key_path)?)?;
        self.install(loaded);
        self.lock_state().files_seen = Some(seen);
        Ok(true)
    }

    /// Whether a certificate is being served (ACME mode has none until its first order).
    pub fn has_certificate(&self) -> bool {
        self.inner.resolver.has_certificate()
    }
}

/// TLS 1.3 only unless `tls12` (then also TLS 1.2, whose suites in rustls are all AEAD); ALPN
/// h2 and http/1.1, plus acme-tls/1 when TLS-ALPN-01 answers challenges.
fn server_config(
    config: &TlsConfig,
    resolver: Arc<CertResolver>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if config.tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if config.mode == Mode::Acme && config.acme.challenge == ChallengeKind::TlsAlpn01 {
        server.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(server))
}

fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode, names: &[&str]) -> TlsConfig {
        let mut config = TlsConfig {
            mode,
            ..TlsConfig::default()
        };
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        config.self_signed.names = names.clone();
        config.acme.domains = names;
        // Nothing answers here; no order runs in these tests anyway.
        config.acme.directory_url = "https://127.0.0.1:9/directory".into();
        config
    }

    #[test]
    fn a_certificate_kept_by_another_mode_or_ca_is_not_served_after_a_switch() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["vault.studio.example"];
        let local = Tls::new(&config(Mode::SelfSigned, &names), dir.path()).unwrap();
        let issued = local.status().certificate.unwrap().sha256;
        // A restart in the same mode keeps it.
        let again = Tls::new(&config(Mode::SelfSigned, &names), dir.path()).unwrap();
        assert_eq!(again.status().certificate.unwrap().sha256, issued);

        // Switched to ACME for the same name: the local CA's certificate is not served.
        let acme = Tls::new(&config(Mode::Acme, &names), dir.path()).unwrap();
        assert!(!acme.has_certificate());
        // Nor when it was kept before sources were recorded.
        std::fs::remove_file(dir.path().join("tls/cert.source")).unwrap();
        let acme = Tls::new(&config(Mode::Acme, &names), dir.path()).unwrap();
        assert!(!acme.has_certificate());

        // One ACME directory's certificate is served by that directory's configuration only
        // (a staging certificate is not kept on when production is configured).
        let production = config(Mode::Acme, &names);
        let source = format!("acme {}", production.acme.directory_url);
        std::fs::write(dir.path().join("tls/cert.source"), &source).unwrap();
        assert!(Tls::new(&production, dir.path()).unwrap().has_certificate());
        let mut staging = production.clone();
        staging.acme.directory_url = "https://127.0.0.1:9/staging".into();
        assert!(!Tls::new(&staging, dir.path()).unwrap().has_certificate());
    }

    #[test]
    fn a_new_certificate_that_cannot_be_kept_is_served_and_the_kept_one_still_starts() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["vault.studio.example"];
        let tls = Tls::new(&config(Mode::SelfSigned, &names), dir.path()).unwrap();
        let first = tls.status().certificate.unwrap().sha256;
        // The next save cannot happen (its temp file's name is taken by a directory).
        std::fs::create_dir(dir.path().join("tls/key-and-certificate.tmp")).unwrap();
        let ca = tls.inner.local_ca.as_ref().unwrap();
        let (chain, key) = ca.issue(&tls.wanted_names()).unwrap();
        let renewed = tls.keep(&chain, &key).unwrap().sha256;
        assert_ne!(renewed, first);
        assert_eq!(tls.status().certificate.unwrap().sha256, renewed, "served");
        // A restart finds the last certificate kept whole, key and chain together.
        let again = Tls::new(&config(Mode::SelfSigned, &names), dir.path()).unwrap();
        assert_eq!(again.status().certificate.unwrap().sha256, first);
    }

    #[test]
    fn a_certificate_kept_in_two_files_by_an_older_build_is_still_served() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["vault.studio.example"];
        let tls = Tls::new(&config(Mode::SelfSigned, &names), dir.path()).unwrap();
        let kept = tls.status().certificate.unwrap().sha256;
        let both = std::fs::read_to_string(dir.path().join("tls/key-and-certificate.pem")).unwrap();
        let cut = both.find("-----BEGIN CERTIFICATE").unwrap();
        std::fs::write(dir.path().join("tls/key.pem"), &both[..cut]).unwrap();
        std::fs::write(dir.path().join("tls/cert.pem"), &both[cut..]).unwrap();
        std::fs::remove_file(dir.path().join("tls/key-and-certificate.pem")).unwrap();
        let again = Tls::new(&config(Mode::SelfSigned, &names), dir.path()).unwrap();
        assert_eq!(again.status().certificate.unwrap().sha256, kept);
    }
}

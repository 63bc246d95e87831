//! One ACME order (RFC 8555) with instant-acme: account (kept in the data directory), order,
//! HTTP-01 or TLS-ALPN-01 authorization, finalize with our own CSR, download the chain.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderValue, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use serde::{Deserialize, Serialize};

use crate::TlsError;
use crate::config::{AcmeConfig, ChallengeKind};
use crate::resolver::CertResolver;
use crate::store::{read_if_exists, write_private};

/// How long the CA gets to validate the challenges and to issue.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP-01 tokens and their key authorizations, answered on port 80 while an order waits.
pub(crate) type Http01Tokens = Mutex<HashMap<String, String>>;

/// The account file: the directory it belongs to, so a changed `directory_url` makes a new one.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory_url: String,
    credentials: AccountCredentials,
}

/// When the CA last asked to be left alone: the `Retry-After` of a 429 (rate limited) or 503
/// answer during one order.
#[derive(Clone, Default)]
struct CaRetryAfter(Arc<Mutex<Option<SystemTime>>>);

impl CaRetryAfter {
    fn note(&self, status: StatusCode, value: Option<&HeaderValue>) {
        if !matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            return;
        }
        if let Some(at) = value.and_then(|v| parse_retry_after(v, SystemTime::now())) {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
        }
    }

    fn take(&self) -> Option<SystemTime> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// `Retry-After` is either delay seconds or an HTTP date (RFC 9110, section 10.2.3).
fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<SystemTime> {
    let text = value.to_str().ok()?.trim();
    match text.parse::<u64>() {
        Ok(seconds) => now.checked_add(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(text).ok(),
    }
}

/// The HTTPS client the ACME conversation uses: Mozilla's roots, or only the configured CA file.
struct AcmeHttp {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    retry_after: CaRetryAfter,
}

impl AcmeHttp {
    fn new(config: &AcmeConfig, retry_after: &CaRetryAfter) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        match &config.ca_file {
            Some(path) => {
                let pem = read_if_exists(path)?.ok_or_else(|| {
                    TlsError::Acme(format!(
                        "tls.acme.ca_file {} does not exist",
                        path.display()
                    ))
                })?;
                for cert in
                    <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&pem)
                {
                    let cert = cert.map_err(|e| {
                        TlsError::Acme(format!("tls.acme.ca_file {}: {e}", path.display()))
                    })?;
                    roots.add(cert)?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            retry_after: retry_after.clone(),
        })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.client.request(req);
        let retry_after = self.retry_after.clone();
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                Ok(Ok(response)) => {
                    retry_after.note(response.status(), response.headers().get(RETRY_AFTER));
                    Ok(BytesResponse::from(response))
                }
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Str(
                    "the ACME server did not answer in time",
                )),
            }
        })
    }
}

fn acme_error(what: &str) -> impl Fn(instant_acme::Error) -> TlsError + '_ {
    move |e| {
        let mut message = format!("{what}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        TlsError::Acme(message)
    }
}

/// The account key lives in `<dir>/acme-account.json` (0600); it is created on first use.
async fn account(
    config: &AcmeConfig,
    dir: &Path,
    retry_after: &CaRetryAfter,
) -> Result<Account, TlsError> {
    let path = dir.join("acme-account.json");
    if let Some(bytes) = read_if_exists(&path)?
        && let Ok(stored) = serde_json::from_slice::<StoredAccount>(&bytes)
        && stored.directory_url == config.directory_url
    {
        return Account::builder_with_http(Box::new(AcmeHttp::new(config, retry_after)?))
            .from_credentials(stored.credentials)
            .await
            .map_err(acme_error("restoring the ACME account"));
    }
    let contact = config.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) =
        Account::builder_with_http(Box::new(AcmeHttp::new(config, retry_after)?))
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                config.directory_url.clone(),
                None,
            )
            .await
            .map_err(acme_error("creating the ACME account"))?;
    let stored = StoredAccount {
        directory_url: config.directory_url.clone(),
        credentials,
    };
    let json = serde_json::to_vec(&stored)
        .map_err(|e| TlsError::Acme(format!("saving the ACME account: {e}")))?;
    write_private(&path, &json)?;
    tracing::info!(directory = %config.directory_url, "created an ACME account");
    Ok(account)
}

/// Orders a certificate for `config.domains`; answers the challenges through `tokens` (HTTP-01)
/// or `resolver` (TLS-ALPN-01). Returns the PEM chain and the PEM key. A failure the CA
/// answered with `Retry-After` (a rate limit, an outage) says until when the CA wants quiet.
pub(crate) async fn obtain(
    config: &AcmeConfig,
    dir: &Path,
    tokens: &Http01Tokens,
    resolver: &CertResolver,
) -> Result<(String, String), TlsError> {
    let retry_after = CaRetryAfter::default();
    let result = order(config, dir, tokens, resolver, &retry_after).await;
    tokens
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    resolver.clear_challenges();
    result.map_err(|e| match (e, retry_after.take()) {
        (TlsError::Acme(reason), Some(at)) => TlsError::CaAskedToWait {
            reason,
            until: crate::unix_ms(at),
        },
        (e, _) => e,
    })
}

async fn order(
    config: &AcmeConfig,
    dir: &Path,
    tokens: &Http01Tokens,
    resolver: &CertResolver,
    retry_after: &CaRetryAfter,
) -> Result<(String, String), TlsError> {
    let account = account(config, dir, retry_after).await?;
    let identifiers: Vec<Identifier> = config
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(acme_error("creating the order"))?;
    let kind = match config.challenge {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization.map_err(acme_error("reading an authorization"))?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(TlsError::Acme(format!(
                    "authorization for {} is {other:?}",
                    authorization.identifier()
                )));
            }
        }
        let mut challenge = authorization.challenge(kind.clone()).ok_or_else(|| {
            TlsError::Acme(format!(
                "the CA offers no {} challenge",
                config.challenge.as_str()
            ))
        })?;
        let key_authorization = challenge.key_authorization();
        match config.challenge {
            ChallengeKind::Http01 => {
                tokens
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        challenge.token.clone(),
                        key_authorization.as_str().to_owned(),
                    );
            }
            ChallengeKind::TlsAlpn01 => {
                let Identifier::Dns(name) = challenge.identifier().identifier else {
                    return Err(TlsError::Acme("only DNS names are supported".into()));
                };
                let name = name.clone();
                let key = alpn_challenge_key(&name, key_authorization.digest().as_ref())?;
                resolver.set_challenge(&name, key);
            }
        }
        challenge
            .set_ready()
            .await
            .map_err(acme_error("answering the challenge"))?;
    }
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(ORDER_TIMEOUT);
    let status = order
        .poll_ready(&retry)
        .await
        .map_err(acme_error("waiting for the CA to validate"))?;
    if status != OrderStatus::Ready {
        return Err(TlsError::Acme(format!(
            "the CA could not validate {} ({}): the order is {status:?}; {}",
            config.domains.join(", "),
            config.challenge.as_str(),
            challenge_errors(&mut order).await
        )));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(config.domains.clone())?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(&key)?;
    order
        .finalize_csr(csr.der())
        .await
        .map_err(acme_error("finalizing the order"))?;
    let chain = order
        .poll_certificate(&retry)
        .await
        .map_err(acme_error("downloading the certificate"))?;
    Ok((chain, key.serialize_pem()))
}

/// What the CA said about the failed challenges, for the log and the admin status.
async fn challenge_errors(order: &mut instant_acme::Order) -> String {
    let mut found = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for challenge in &authorization.challenges {
            if let Some(error) = &challenge.error {
                found.push(format!("{}: {error}", authorization.identifier()));
            }
        }
    }
    if found.is_empty() {
        "the CA gave no reason".into()
    } else {
        found.join("; ")
    }
}

/// The self-signed certificate that proves control in a TLS-ALPN-01 handshake (RFC 8737).
fn alpn_challenge_key(
    name: &str,
    digest: &[u8],
) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![name.to_owned()])?;
    params
        .custom_extensions
        .push(CustomExtension::new_acme_identifier(digest));
    let cert = params.self_signed(&key)?;
    // Built directly: rustls's key/certificate match check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension this certificate exists to carry.
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing_key = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)?;
    Ok(Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signing_key,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_ignores_the_rest() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let parse = |v: &'static str| parse_retry_after(&HeaderValue::from_static(v), now);
        assert_eq!(parse("120"), Some(now + Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(now));
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse("-5"), None);
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("99999999999999999999"), None);
    }

    #[test]
    fn only_refusals_that_ask_for_quiet_are_noted() {
        let seen = CaRetryAfter::default();
        let value = HeaderValue::from_static("30");
        seen.note(StatusCode::BAD_REQUEST, Some(&value));
        assert_eq!(seen.take(), None);
        seen.note(StatusCode::TOO_MANY_REQUESTS, None);
        assert_eq!(seen.take(), None);
        seen.note(StatusCode::TOO_MANY_REQUESTS, Some(&value));
        assert!(seen.take().is_some());
        seen.note(StatusCode::SERVICE_UNAVAILABLE, Some(&value));
        assert!(seen.take().is_some());
        assert_eq!(seen.take(), None, "taken once");
    }
}

//! The worker API over HTTPS (HTTP/2 where the server offers it), authenticated with the
//! worker's token. Plain `http://` is accepted only for a server on loopback.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use serde::de::DeserializeOwned;
use studiovault_api::ErrorBody;
use studiovault_api::worker::{
    Heartbeat, HeartbeatAnswer, JobFailure, LeaseAnswer, LeaseRequest, STEM_LAYOUT_HEADER,
    StemLayout, StemsStored, WorkerCapabilities,
};
use tokio::io::AsyncWriteExt;

/// JSON answers are small; anything bigger is not the appliance talking.
const MAX_JSON: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A call other than the long poll, the download and the upload answers within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Body = BoxBody<Bytes, std::io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Config(String),
    /// The server could not be reached or the connection broke.
    #[error("the server could not be reached: {0}")]
    Network(String),
    /// The server refused the token: unknown, or revoked by the admin.
    #[error("the server refused this worker: {0}")]
    Refused(String),
    /// The job is no longer this worker's (cancelled, finished, or re-leased).
    #[error("the job's lease was lost")]
    LeaseLost,
    /// Any other error answer.
    #[error("the server answered {status}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A client of one appliance's worker API.
#[derive(Clone)]
pub struct WorkerClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>,
    base: String,
    token: Arc<str>,
}

impl std::fmt::Debug for WorkerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl WorkerClient {
    /// `server` is the appliance's origin (`https://vault.example`); `ca_file` a PEM root to
    /// trust besides the public roots (the appliance's local CA in self-signed mode).
    pub fn new(server: &str, token: &str, ca_file: Option<&Path>) -> Result<Self, ClientError> {
        let uri: Uri = server
            .trim_end_matches('/')
            .parse()
            .map_err(|e| ClientError::Config(format!("--server {server}: {e}")))?;
        let host = uri
            .host()
            .ok_or_else(|| ClientError::Config(format!("--server {server} names no host")))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(host) => {}
            _ => {
                return Err(ClientError::Config(format!(
                    "--server {server}: use https:// (plain http:// only on loopback)"
                )));
            }
        }
        let mut roots = trusted_roots();
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ClientError::Config(format!("--ca-file {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    ClientError::Config(format!("--ca-file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    ClientError::Config(format!("--ca-file {}: {e}", path.display()))
                })?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let token = token.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(ClientError::Config("the token file holds no token".into()));
        }
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base: uri.to_string().trim_end_matches('/').to_owned(),
            token: token.into(),
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Request<Body>, ClientError> {
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(
                header::USER_AGENT,
                concat!("studiovault-worker/", env!("CARGO_PKG_VERSION")),
            )
            .body(body)
            .map_err(|e| ClientError::Config(e.to_string()))
    }

    async fn send(
        &self,
        req: Request<Body>,
        timeout: Duration,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(ClientError::Network(error_chain(&e))),
            Err(_) => Err(ClientError::Network("no answer in time".into())),
        }
    }

    async fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Config(e.to_string()))?;
        let mut req = self.request(Method::POST, path, full(bytes))?;
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let res = self.send(req, timeout).await?;
        let status = res.status();
        let body = read_small(res).await?;
        if !status.is_success() {
            return Err(error_of(status, &body));
        }
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_slice(b"null")
                .map_err(|e| ClientError::Network(format!("unexpected answer: {e}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Network(format!("unexpected answer: {e}")))
    }

    /// Waits up to `wait` for a job.
    pub async fn lease(
        &self,
        capabilities: &WorkerCapabilities,
        wait: Duration,
    ) -> Result<LeaseAnswer, ClientError> {
        let req = LeaseRequest {
            capabilities: capabilities.clone(),
            wait_secs: wait.as_secs(),
        };
        self.json("/api/worker/lease", &req, wait + CALL_TIMEOUT)
            .await
    }

    pub async fn heartbeat(
        &self,
        job: &str,
        progress: f32,
    ) -> Result<HeartbeatAnswer, ClientError> {
        self.json(
            &format!("/api/worker/jobs/{job}/heartbeat"),
            &Heartbeat { progress },
            CALL_TIMEOUT,
        )
        .await
    }

    pub async fn fail(&self, job: &str, reason: &str, retry: bool) -> Result<(), ClientError> {
        self.report(
            job,
            JobFailure {
                reason: reason.to_owned(),
                retry,
                handed_back: false,
            },
        )
        .await
    }

    /// Gives the job back untried (the worker is stopping, or cannot work): it is queued again
    /// at once for another worker, and the attempt does not count.
    pub async fn hand_back(&self, job: &str, reason: &str) -> Result<(), ClientError> {
        self.report(
            job,
            JobFailure {
                reason: reason.to_owned(),
                retry: true,
                handed_back: true,
            },
        )
        .await
    }

    async fn report(&self, job: &str, failure: JobFailure) -> Result<(), ClientError> {
        self.json::<_, Option<serde_json::Value>>(
            &format!("/api/worker/jobs/{job}/fail"),
            &failure,
            CALL_TIMEOUT,
        )
        .await
        .map(|_| ())
    }

    /// Downloads the job's source into `dest`; answers its length.
    pub async fn download_source(&self, job: &str, dest: &Path) -> Result<u64, ClientError> {
        let req = self.request(
            Method::GET,
            &format!("/api/worker/jobs/{job}/source"),
            empty(),
        )?;
        let res = self.send(req, CALL_TIMEOUT).await?;
        let status = res.status();
        if !status.is_success() {
            let body = read_small(res).await?;
            return Err(error_of(status, &body));
        }
        let mut file = tokio::fs::File::create(dest).await?;
        let mut body = res.into_body();
        let mut len = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Network(error_chain(&e)))?;
            if let Ok(data) = frame.into_data() {
                len += data.len() as u64;
                file.write_all(&data).await?;
            }
        }
        file.sync_all().await?;
        Ok(len)
    }

    /// Uploads the stems: `body` yields the interleaved frames the layout describes.
    pub async fn upload_stems(
        &self,
        job: &str,
        layout: &StemLayout,
        body: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> Result<StemsStored, ClientError> {
        let len = layout
            .body_bytes()
            .ok_or_else(|| ClientError::Config("the stems are too long for one upload".into()))?;
        let stream = tokio_stream_of(body);
        let mut req = self.request(
            Method::PUT,
            &format!("/api/worker/jobs/{job}/stems"),
            BodyExt::boxed(StreamBody::new(stream)),
        )?;
        let headers = req.headers_mut();
        headers.insert(header::CONTENT_LENGTH, http::HeaderValue::from(len));
        headers.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        let layout_json =
            serde_json::to_string(layout).map_err(|e| ClientError::Config(e.to_string()))?;
        headers.insert(
            STEM_LAYOUT_HEADER,
            http::HeaderValue::from_str(&layout_json)
                .map_err(|e| ClientError::Config(e.to_string()))?,
        );
        // The upload streams as fast as the link allows; the answer comes after the check.
        let res = self.send(req, Duration::from_secs(6 * 3600)).await?;
        let status = res.status();
        let body = read_small(res).await?;
        if !status.is_success() {
            return Err(error_of(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Network(format!("unexpected answer: {e}")))
    }
}

/// The public roots, and the machine's own trust store (`$SSL_CERT_FILE`, or Debian's
/// bundle), which holds any CA the studio's network or proxy adds.
pub(crate) fn trusted_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    if let Ok(certs) = CertificateDer::pem_file_iter(&bundle) {
        for cert in certs.flatten() {
            // A bundle entry rustls cannot use is skipped, as TLS libraries do.
            let _ = roots.add(cert);
        }
    }
    roots
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + Sync + 'static
{
    futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|item| item.map(|piece| piece.map(Frame::data)))
    })
}

fn full(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

fn empty() -> Body {
    full(Vec::new())
}

async fn read_small(res: http::Response<hyper::body::Incoming>) -> Result<Vec<u8>, ClientError> {
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ClientError::Network(error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() > MAX_JSON {
                return Err(ClientError::Network("an answer too large for JSON".into()));
            }
        }
    }
    Ok(out)
}

fn error_of(status: StatusCode, body: &[u8]) -> ClientError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (code, message) = parsed.map_or_else(
        || {
            (
                String::new(),
                String::from_utf8_lossy(body).chars().take(200).collect(),
            )
        },
        |b| (b.error, b.message),
    );
    match (status, code.as_str()) {
        (StatusCode::UNAUTHORIZED, _) => ClientError::Refused(message),
        (StatusCode::CONFLICT, "lease_lost") => ClientError::LeaseLost,
        _ => ClientError::Status {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

/// An error with its causes, for messages that must say what really failed.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_and_tokens_must_be_present() {
        assert!(WorkerClient::new("http://127.0.0.1:8080", "svw_x", None).is_ok());
        assert!(WorkerClient::new("http://[::1]:8080", "svw_x", None).is_ok());
        assert!(WorkerClient::new("https://vault.example", "svw_x", None).is_ok());
        assert!(WorkerClient::new("http://vault.example", "svw_x", None).is_err());
        assert!(WorkerClient::new("ftp://vault.example", "svw_x", None).is_err());
        assert!(WorkerClient::new("https://vault.example", " \n", None).is_err());
    }

    #[test]
    fn error_answers_become_what_the_loop_acts_on() {
        let lost = br#"{"error":"lease_lost","message":"gone"}"#;
        assert!(matches!(
            error_of(StatusCode::CONFLICT, lost),
            ClientError::LeaseLost
        ));
        let revoked = br#"{"error":"worker_revoked","message":"revoked"}"#;
        assert!(matches!(
            error_of(StatusCode::UNAUTHORIZED, revoked),
            ClientError::Refused(m) if m == "revoked"
        ));
        assert!(matches!(
            error_of(StatusCode::UNPROCESSABLE_ENTITY, b"not json"),
            ClientError::Status { status: 422, .. }
        ));
    }
}

//! A rate-limiting CA for the TLS tests. Pebble has no rate limits, so this HTTPS proxy sits in
//! front of it and answers new orders the way Let's Encrypt does when a limit is hit: 429 with
//! RFC 8555's `rateLimited` problem and a `Retry-After`. Everything else reaches pebble
//! unchanged, Host header included, so the URLs pebble hands out (and the JWS `url` it checks)
//! name the proxy and the whole conversation goes through it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::pebble::Pebble;

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct RateLimitedCa {
    pub port: u16,
    state: Arc<ProxyState>,
    accept_loop: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct ProxyState {
    pebble_port: u16,
    new_order_path: String,
    retry_after: Duration,
    limiting: AtomicBool,
    /// When each new-order request arrived, and the status it was answered with.
    new_orders: Mutex<Vec<(SystemTime, u16)>>,
    client: reqwest::Client,
}

impl RateLimitedCa {
    /// Starts refusing new orders with `Retry-After: retry_after` until [`Self::lift`].
    pub async fn start(pebble: &Pebble, retry_after: Duration) -> Self {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(pebble.ca_file()).unwrap()).unwrap(),
            )
            .http1_only()
            .build()
            .unwrap();
        let directory: serde_json::Value = client
            .get(pebble.directory_url())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let new_order = directory["newOrder"].as_str().unwrap();
        let new_order_path = reqwest::Url::parse(new_order).unwrap().path().to_owned();
        let (cert, key) = pebble.https_identity();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            CertificateDer::pem_file_iter(cert)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap(),
            PrivateKeyDer::from_pem_file(key).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState {
            pebble_port: pebble.port,
            new_order_path,
            retry_after,
            limiting: AtomicBool::new(true),
            new_orders: Mutex::default(),
            client,
        });
        let accept_loop = tokio::spawn(accept(listener, acceptor, state.clone()));
        Self {
            port,
            state,
            accept_loop,
        }
    }

    pub fn directory_url(&self) -> String {
        format!("https://localhost:{}/dir", self.port)
    }

    /// The limit is over: new orders reach pebble from now on.
    pub fn lift(&self) {
        self.state.limiting.store(false, Ordering::SeqCst);
    }

    /// Every new-order request so far: when it came and what it was answered.
    pub fn new_orders(&self) -> Vec<(SystemTime, u16)> {
        self.state
            .new_orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RateLimitedCa {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<ProxyState>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| forward(req, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn forward(
    req: Request<Incoming>,
    state: Arc<ProxyState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let is_new_order = parts.method == Method::POST && parts.uri.path() == state.new_order_path;
    if is_new_order && state.limiting.load(Ordering::SeqCst) {
        record(&state, StatusCode::TOO_MANY_REQUESTS);
        let problem = serde_json::json!({
            "type": "urn:ietf:params:acme:error:rateLimited",
            "detail": "too many certificates already issued for \"studio.test\"",
            "status": 429
        });
        return Ok(Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("content-type", "application/problem+json")
            .header("retry-after", state.retry_after.as_secs().to_string())
            .body(Full::new(Bytes::from(problem.to_string())))
            .unwrap());
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state
        .client
        .request(
            parts.method.clone(),
            format!("https://127.0.0.1:{}{path}", state.pebble_port),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name.as_str()) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            return Ok(Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Full::new(Bytes::from(e.to_string())))
                .unwrap());
        }
    };
    if is_new_order {
        record(&state, answer.status());
    }
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !hop_by_hop(name.as_str()) {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    Ok(response.body(Full::new(bytes)).unwrap())
}

fn record(state: &ProxyState, status: StatusCode) {
    state
        .new_orders
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((SystemTime::now(), status.as_u16()));
}

/// Headers about one connection, which the proxy's own connections set for themselves.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}

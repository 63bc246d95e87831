//! The owners' HTTP API (`/api`, documented in `docs/API.md`).
//!
//! Handlers parse and check the request, then call the store on a blocking thread; tenant
//! isolation is the store's job (the [`OwnerScope`](studiovault_vault::OwnerScope) from
//! [`auth`] is the only way into a library), so no handler compares owner ids itself.

mod account;
mod error;
mod export;
mod incoming;
mod origin;
pub use origin::normalise_origin;
mod portal;
mod range;
mod session;
mod shares;
mod tracks;
mod upload;
mod uploads;
mod web;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use studiovault_vault::{Authenticated, ClientInfo, Vault, VaultError};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

pub use error::{ApiError, blocking, recover, respond};
pub(crate) use shares::trace_view;
pub use uploads::UploadSessions;

use crate::config::Config;
use crate::throttle::{LoginThrottle, Outcome, Subject};

/// The session cookie over plain HTTP (loopback only) and over HTTPS.
pub const SESSION_COOKIE: &str = "sv_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-sv_session";
/// JSON bodies are small; anything larger is refused before it is read.
const JSON_BODY_LIMIT: u64 = 16 * 1024;
/// Small bodies (JSON, forms) arrive whole within this, or the request ends with 408.
pub const SMALL_BODY_DEADLINE: Duration = Duration::from_secs(10);
const MAX_USER_AGENT: usize = 512;

/// Everything a request handler may need.
#[derive(Clone, Debug)]
pub struct AppState {
    pub vault: Vault,
    pub config: Arc<Config>,
    pub throttle: Arc<LoginThrottle>,
    pub uploads: Arc<UploadSessions>,
    pub export_links: Arc<export::ExportLinks>,
    pub watermark_key: studiovault_watermark::WatermarkKey,
    /// Replication, snapshots and drills.
    pub copies: Arc<crate::copies::Copies>,
    pub started: Instant,
    /// The HTTPS side, when TLS is on.
    pub tls: Option<studiovault_tls::Tls>,
}

/// The peer address of a connection, put into each request by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

fn with_state(
    state: &AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone + use<> {
    let state = state.clone();
    warp::any().map(move || state.clone())
}

/// The caller's address and user agent, to be hashed by the store.
fn client() -> impl Filter<Extract = (ClientInfo,), Error = Rejection> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::header::optional::<String>("user-agent"))
        .map(
            |addr: Option<ClientAddr>, agent: Option<String>| ClientInfo {
                ip: addr.map(|a| a.0.ip()),
                user_agent: agent.map(|a| a.chars().take(MAX_USER_AGENT).collect()),
            },
        )
}

/// A request body of at most `limit` bytes that must arrive whole within `deadline`: a client
/// that trickles it (a slow-loris on the body rather than the headers) is cut off with 408.
pub fn body_within(
    limit: u64,
    deadline: Duration,
) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit)
        .and(warp::body::stream())
        .and_then(move |stream| async move {
            tokio::time::timeout(deadline, collect_body(stream, limit))
                .await
                .map_err(|_| {
                    warp::reject::custom(ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        format!(
                            "the request body did not arrive within {} seconds",
                            deadline.as_secs()
                        ),
                    ))
                })?
                .map_err(warp::reject::custom)
        })
}

async fn collect_body<S, B>(stream: S, limit: u64) -> Result<Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures_util::StreamExt;
    let mut body = bytes::BytesMut::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("the request body was cut off"))?;
        if (body.len() + chunk.remaining()) as u64 > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            ));
        }
        body.extend_from_slice(chunk.chunk());
        let mut chunk = chunk;
        chunk.advance(chunk.remaining());
    }
    Ok(body.freeze())
}

/// The key a client is throttled by: its address, hashed by the throttle and never stored.
fn throttle_client(client: &ClientInfo) -> String {
    client.ip.map(|ip| ip.to_string()).unwrap_or_default()
}

fn too_many_attempts(wait: u64) -> ApiError {
    ApiError {
        retry_after: Some(wait),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed attempts; try again in {wait} seconds"),
        )
    }
}

/// How a credential check counts: only a wrong password or code is a failure.
fn outcome<T>(result: &Result<T, VaultError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(VaultError::BadCredentials | VaultError::BadTotp) => Outcome::Failure,
        Err(_) => Outcome::Inconclusive,
    }
}

/// Runs `check`, which verifies a password or code, on a blocking thread after reserving the
/// attempt with the throttle (`429 too_many_attempts` with `Retry-After` when over a limit).
/// The attempt is settled on that thread with the check's outcome, so a request cancelled
/// while bcrypt runs still settles it.
async fn throttled<T, F>(
    state: &AppState,
    subject: Subject<'_>,
    client: &ClientInfo,
    check: F,
) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    let attempt = state
        .throttle
        .begin(subject, &throttle_client(client), Instant::now())
        .map_err(too_many_attempts)?;
    blocking(move || {
        let result = check();
        attempt.settle(outcome(&result));
        result
    })
    .await
}

/// A signed-in owner's password or code re-check (export, password change, two-factor
/// changes, deletion): throttled with the same count as their sign-ins, by their e-mail and
/// the client.
async fn recheck<T, F>(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    check: F,
) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let email = blocking(move || vault.account(&scope).me().map(|u| u.email)).await?;
    throttled(state, Subject::Account(&email), client, check).await
}

/// A small JSON body, whole within [`SMALL_BODY_DEADLINE`].
fn json_body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    body_within(JSON_BODY_LIMIT, SMALL_BODY_DEADLINE).and_then(|body: Bytes| async move {
        serde_json::from_slice(&body).map_err(|e| {
            warp::reject::custom(ApiError::bad_request(format!("malformed JSON body: {e}")))
        })
    })
}

/// A request made by a signed-in owner: the session cookie (or an `Authorization: Bearer`
/// token) must name a live session. Where the request came from is checked once for the whole
/// server, in [`routes`].
fn auth(
    state: &AppState,
) -> impl Filter<Extract = (Authenticated,), Error = Rejection> + Clone + use<> {
    let cookie_name = session_cookie_name(&state.config);
    warp::cookie::optional::<String>(cookie_name)
        .and(warp::header::optional::<String>("authorization"))
        .and(with_state(state))
        .and_then(
            |cookie: Option<String>, authz: Option<String>, state: AppState| async move {
                let bearer = authz.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
                let Some(token) = cookie.or(bearer) else {
                    return Err(warp::reject::custom(ApiError::from(
                        VaultError::SessionInvalid,
                    )));
                };
                let vault = state.vault.clone();
                blocking(move || vault.authenticate(&token))
                    .await
                    .map_err(warp::reject::custom)
            },
        )
}

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

/// Headers on every answer: nothing is framed, sniffed, referred, cached or allowed to load
/// from anywhere.
fn security_headers() -> HeaderMap {
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

fn health() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "health").and(warp::get()).map(|| {
        warp::reply::json(&studiovault_api::public::Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .into_response()
    })
}

/// Tries `routes` in order. Each is boxed first: long chains of warp combinators otherwise
/// build types that take the compiler minutes to check.
pub fn combine(
    routes: impl IntoIterator<Item = BoxedFilter<(Response,)>>,
) -> BoxedFilter<(Response,)> {
    routes
        .into_iter()
        .reduce(|a, b| a.or(b).unify().boxed())
        .unwrap_or_else(|| {
            warp::any()
                .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
                .boxed()
        })
}

/// The whole public API.
pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let mut all = vec![health().boxed()];
    all.extend(session::routes(state));
    all.extend(account::routes(state));
    all.extend(export::routes(state));
    all.push(upload::route(state).boxed());
    all.extend(uploads::routes(state));
    all.extend(tracks::routes(state));
    all.extend(shares::routes(state));
    all.extend(portal::routes(state));
    all.extend(web::routes());
    let headers = security_headers();
    let site = origin::SiteOrigin::new(
        state.config.http.public_origin.as_deref(),
        state.config.tls.enabled(),
    );
    origin::same_origin(site)
        .and(combine(all))
        .recover(recover)
        .unify()
        .map(move |mut res: Response| {
            for (name, value) in &headers {
                res.headers_mut()
                    .entry(name)
                    .or_insert_with(|| value.clone());
            }
            res
        })
        .boxed()
}

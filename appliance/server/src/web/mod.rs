//! The web infrastructure every surface shares: error answers, the origin check, small bodies,
//! cookies, headers, Range, streaming blobs, waveform answers, throttled credential checks and
//! the state handlers get. The surfaces (`owners`, `portal`, `admin`) are built on this and
//! never on one another.

mod body;
mod cookies;
mod error;
mod headers;
pub mod incoming;
mod origin;
mod peaks;
pub(crate) mod range;
mod security_log;
mod state;
mod streaming;
pub mod tar;
pub mod template;
mod throttled;

use std::convert::Infallible;

use studiovault_vault::ClientInfo;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

pub use body::{SMALL_BODY_DEADLINE, body_within, json_body};
pub use cookies::{SameSite, session_cookie_name, set_cookie};
pub use error::{ApiError, NoSuch, blocking, recover, respond};
pub use headers::{PAGE_CSP, content_disposition, set};
pub use origin::normalise_origin;
pub use peaks::{PeaksQuery, peaks_response};
pub use range::{ByteRange, resolve};
pub use state::AppState;
pub use streaming::stream_blob;
pub use throttled::throttled;

use crate::listener::ClientAddr;

const MAX_USER_AGENT: usize = 512;

/// `value`, cloned into each request's handler.
pub fn with<T: Clone + Send + Sync + 'static>(
    value: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || value.clone())
}

/// The shared state, handed to each request's handler.
pub fn with_state(
    state: &AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone + use<> {
    with(state.clone())
}

/// The caller's address and user agent, to be hashed by the store.
pub fn client() -> impl Filter<Extract = (ClientInfo,), Error = Rejection> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::header::optional::<String>("user-agent"))
        .map(
            |addr: Option<ClientAddr>, agent: Option<String>| ClientInfo {
                ip: addr.map(|a| a.0.ip()),
                user_agent: agent.map(|a| a.chars().take(MAX_USER_AGENT).collect()),
            },
        )
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

/// The public site: `routes` (tried in order) behind the one origin check, every rejection
/// answered as JSON, and the security headers on every answer.
pub fn site(
    state: &AppState,
    routes: impl IntoIterator<Item = BoxedFilter<(Response,)>>,
) -> BoxedFilter<(Response,)> {
    let headers = headers::security_headers();
    let site = origin::SiteOrigin::new(
        state.config.http.public_origin.as_deref(),
        state.config.tls.enabled(),
    );
    let answered = origin::same_origin(site)
        .and(combine(routes))
        .recover(recover)
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(answered)
        .map(
            move |method, path: warp::path::FullPath, mut res: Response| {
                security_log::note(&method, path.as_str(), &res);
                for (name, value) in &headers {
                    res.headers_mut()
                        .entry(name)
                        .or_insert_with(|| value.clone());
                }
                res
            },
        )
        .boxed()
}

//! The admin socket: a Unix socket in the data directory (mode 0600, inside a 0700 directory,
//! so only the service user and root reach it), speaking JSON over HTTP under `/v1`. The CLI
//! subcommands and the console are its clients; nothing else is needed to administer the box.
//! One module per area; each gives its routes, tried in the order [`routes`] lists them.

mod audit;
mod backups;
mod housekeeping;
mod incidents;
mod leaks;
mod legal;
mod mail;
mod sessions;
mod shares;
mod status;

pub(crate) use status::{DRILL_MAX_AGE_DAYS, SNAPSHOT_MAX_AGE_HOURS};
mod tls;
mod users;
mod workers;

use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::listener::Routes;
use crate::web::{AppState, combine, recover};

const JSON_LIMIT: u64 = 64 * 1024;

/// `value` as a JSON answer.
fn json<T: serde::Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

/// A JSON request body of at most [`JSON_LIMIT`] bytes.
fn body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(JSON_LIMIT).and(warp::body::json())
}

/// The admin socket's routes, every rejection answered as JSON.
pub fn routes(state: &AppState) -> Routes {
    let routes = [
        backups::routes(state),
        status::routes(state),
        tls::routes(state),
        users::routes(state),
        sessions::routes(state),
        audit::routes(state),
        leaks::routes(state),
        shares::routes(state),
        workers::routes(state),
        housekeeping::routes(state),
        incidents::routes(state),
        legal::routes(state),
        mail::routes(state),
    ];
    combine(routes.into_iter().flatten())
        .recover(recover)
        .unify()
        .boxed()
}

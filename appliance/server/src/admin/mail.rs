//! `POST /v1/mail/retry`: the messages given up on, queued again once the relay is back.

use studiovault_api::admin::{MailRetried, MailRetry};
use warp::Filter;

use super::{body, json};
use crate::listener::Routes;
use crate::web::{AppState, blocking, respond, with_state};

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let retry = warp::path!("v1" / "mail" / "retry")
        .and(warp::post())
        .and(body::<MailRetry>())
        .and(with_state(state))
        .then(|req: MailRetry, state: AppState| async move {
            let vault = state.vault.clone();
            let queued = blocking(move || vault.retry_failed_mail(req.topic.as_deref())).await;
            respond(queued.map(|queued| json(&MailRetried { queued })))
        });
    vec![retry.boxed()]
}

//! Self-service account security: password, TOTP, deletion. Every route that checks a
//! password or code goes through [`recheck`]: throttled like sign-ins, failures audited.

use studiovault_api::public::{
    ChangePassword, DeletionScheduled, Reauth, RecoveryCodes, Settings, TotpConfirm, TotpSetup,
};
use studiovault_vault::{Account, Authenticated, ClientInfo, VaultError};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::session::clear_cookie;
use super::{auth, recheck};
use crate::web::{ApiError, AppState, blocking, client, json_body, respond, with_state};

/// Renders the enrolment URL as a QR code here, so the secret never leaves the appliance.
fn qr_svg(url: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|_| ApiError::internal())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build())
}

/// A change the owner confirms with their password or a code: `POST path` with a JSON body `B`,
/// the owner and the session checked before the body is read; `change` runs behind the
/// throttle ([`recheck`]) and `answer` makes the reply of what it returned.
fn rechecked<B, T>(
    state: &AppState,
    path: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
    change: fn(&Account<'_>, B, &str, &ClientInfo) -> Result<T, VaultError>,
    answer: fn(&AppState, T) -> Result<Response, ApiError>,
) -> BoxedFilter<(Response,)>
where
    B: serde::de::DeserializeOwned + Send + Sync + 'static,
    T: Send + 'static,
{
    path.and(warp::post())
        .and(auth(state))
        .and(json_body::<B>())
        .and(client())
        .and(with_state(state))
        .then(
            move |auth: Authenticated, req: B, client: ClientInfo, state: AppState| async move {
                let session = auth.session_id.clone();
                let result = recheck(&state, &auth, &client, move |account, client| {
                    change(account, req, &session, client)
                })
                .await;
                respond(result.and_then(|done| answer(&state, done)))
            },
        )
        .boxed()
}

fn no_content(_: &AppState, (): ()) -> Result<Response, ApiError> {
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let password = rechecked(
        state,
        warp::path!("api" / "account" / "password"),
        |account, req: ChangePassword, session, client| {
            account.change_password(&req.current_password, &req.new_password, session, client)
        },
        no_content,
    );
    let totp_setup = rechecked(
        state,
        warp::path!("api" / "account" / "totp" / "setup"),
        |account, req: Reauth, _, client| {
            account.totp_setup(&req.password, req.totp.as_deref(), client)
        },
        |_, (secret, otpauth_url)| {
            let qr_svg = qr_svg(&otpauth_url)?;
            Ok(warp::reply::json(&TotpSetup {
                secret,
                otpauth_url,
                qr_svg,
            })
            .into_response())
        },
    );
    let totp_enable = rechecked(
        state,
        warp::path!("api" / "account" / "totp" / "enable"),
        |account, req: TotpConfirm, _, client| account.totp_enable(&req.code, client),
        |_, recovery_codes| Ok(warp::reply::json(&RecoveryCodes { recovery_codes }).into_response()),
    );
    let totp_disable = rechecked(
        state,
        warp::path!("api" / "account" / "totp" / "disable"),
        |account, req: Reauth, _, client| {
            account.totp_disable(&req.password, req.totp.as_deref(), client)
        },
        no_content,
    );
    let settings = warp::path!("api" / "account" / "settings")
        .and(warp::patch())
        .and(auth(state))
        .and(json_body::<Settings>())
        .and(client())
        .and(with_state(state))
        .then(
            |auth: Authenticated, req: Settings, client, state: AppState| async move {
                let vault = state.vault.clone();
                let scope = auth.scope.clone();
                let result = async {
                    blocking(move || vault.account(&scope).set_analysis(req.analysis, &client))
                        .await?;
                    super::session::me(&state.vault, auth).await
                };
                respond(
                    result
                        .await
                        .map(|me| warp::reply::json(&me).into_response()),
                )
            },
        );
    let delete = rechecked(
        state,
        warp::path!("api" / "account" / "delete"),
        |account, req: Reauth, _, client| {
            account.request_deletion(&req.password, req.totp.as_deref(), client)
        },
        |state, purge_after| {
            let body = warp::reply::json(&DeletionScheduled { purge_after });
            Ok(clear_cookie(
                &state.config,
                warp::reply::with_status(body, StatusCode::ACCEPTED).into_response(),
            ))
        },
    );
    vec![
        settings.boxed(),
        password,
        totp_setup,
        totp_enable,
        totp_disable,
        delete,
    ]
}

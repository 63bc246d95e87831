//! Self-service account security: password, TOTP, deletion. Every route that checks a
//! password or code goes through [`recheck`]: throttled like sign-ins, failures audited.

use studiovault_api::public::{
    ChangePassword, DeletionScheduled, Reauth, RecoveryCodes, Settings, TotpConfirm, TotpSetup,
};
use studiovault_vault::{Authenticated, ClientInfo};
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

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    // Path, method and session are checked before the body is read.
    fn post(
        s: &AppState,
    ) -> impl Filter<Extract = (Authenticated,), Error = Rejection> + Clone + use<> {
        warp::post().and(auth(s))
    }
    fn rest(
        s: &AppState,
    ) -> impl Filter<Extract = (ClientInfo, AppState), Error = Rejection> + Clone + use<> {
        client().and(with_state(s))
    }
    let password = warp::path!("api" / "account" / "password")
        .and(post(state))
        .and(json_body::<ChangePassword>())
        .and(rest(state))
        .then(
            |auth: Authenticated, req: ChangePassword, client: ClientInfo, state: AppState| async move {
                let session = auth.session_id.clone();
                let result = recheck(&state, &auth, &client, move |account, client| {
                    account.change_password(
                        &req.current_password,
                        &req.new_password,
                        &session,
                        client,
                    )
                })
                .await;
                respond(result.map(|()| StatusCode::NO_CONTENT.into_response()))
            },
        );
    let totp_setup = warp::path!("api" / "account" / "totp" / "setup")
        .and(post(state))
        .and(json_body::<Reauth>())
        .and(rest(state))
        .then(
            |auth: Authenticated, req: Reauth, client: ClientInfo, state: AppState| async move {
                let result = recheck(&state, &auth, &client, move |account, client| {
                    account.totp_setup(&req.password, req.totp.as_deref(), client)
                })
                .await;
                respond(result.and_then(|(secret, otpauth_url)| {
                    let qr_svg = qr_svg(&otpauth_url)?;
                    Ok(warp::reply::json(&TotpSetup {
                        secret,
                        otpauth_url,
                        qr_svg,
                    })
                    .into_response())
                }))
            },
        );
    let totp_enable = warp::path!("api" / "account" / "totp" / "enable")
        .and(post(state))
        .and(json_body::<TotpConfirm>())
        .and(rest(state))
        .then(
            |auth: Authenticated, req: TotpConfirm, client: ClientInfo, state: AppState| async move {
                let result = recheck(&state, &auth, &client, move |account, client| {
                    account.totp_enable(&req.code, client)
                })
                .await;
                respond(result.map(|recovery_codes| {
                    warp::reply::json(&RecoveryCodes { recovery_codes }).into_response()
                }))
            },
        );
    let totp_disable = warp::path!("api" / "account" / "totp" / "disable")
        .and(post(state))
        .and(json_body::<Reauth>())
        .and(rest(state))
        .then(
            |auth: Authenticated, req: Reauth, client: ClientInfo, state: AppState| async move {
                let result = recheck(&state, &auth, &client, move |account, client| {
                    account.totp_disable(&req.password, req.totp.as_deref(), client)
                })
                .await;
                respond(result.map(|()| StatusCode::NO_CONTENT.into_response()))
            },
        );
    let settings = warp::path!("api" / "account" / "settings")
        .and(warp::patch())
        .and(auth(state))
        .and(json_body::<Settings>())
        .and(rest(state))
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
    let delete = warp::path!("api" / "account" / "delete")
        .and(post(state))
        .and(json_body::<Reauth>())
        .and(rest(state))
        .then(
            |auth: Authenticated, req: Reauth, client: ClientInfo, state: AppState| async move {
                let result = recheck(&state, &auth, &client, move |account, client| {
                    account.request_deletion(&req.password, req.totp.as_deref(), client)
                })
                .await;
                respond(result.map(|purge_after| {
                    let body = warp::reply::json(&DeletionScheduled { purge_after });
                    clear_cookie(
                        &state.config,
                        warp::reply::with_status(body, StatusCode::ACCEPTED).into_response(),
                    )
                }))
            },
        );
    vec![
        settings.boxed(),
        password.boxed(),
        totp_setup.boxed(),
        totp_enable.boxed(),
        totp_disable.boxed(),
        delete.boxed(),
    ]
}

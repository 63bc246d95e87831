//! Self-service account: password, TOTP, deletion, and the owner's rights (display name,
//! restriction and objection per processing purpose, who accessed their files). Every route
//! that checks a password or code goes through [`recheck`]: throttled like sign-ins, failures
//! audited.

use studiovault_api::ProcessingPurpose;
use studiovault_api::admin::AuditEntry;
use studiovault_api::public::{
    AccessView, ChangePassword, DeletionScheduled, DisplayName, EmailChange, EmailChanged,
    EmailConfirm, Objection, PendingEmail, Reauth, RecoveryCodes, Restriction, Settings,
    TotpConfirm, TotpSetup,
};
use studiovault_vault::{Account, Authenticated, ClientInfo, VaultError};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::session::clear_cookie;
use super::{auth, owner_call, owner_state, recheck};
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

/// Runs an account change on a blocking thread and answers the account as it now is (`Me`).
async fn changed<T: Send + 'static>(
    state: &AppState,
    auth: Authenticated,
    change: impl FnOnce(&Account<'_>) -> Result<T, VaultError> + Send + 'static,
) -> Result<Response, ApiError> {
    let (vault, scope) = (state.vault.clone(), auth.scope.clone());
    blocking(move || change(&vault.account(&scope))).await?;
    let me = super::session::me(&state.vault, auth).await?;
    Ok(warp::reply::json(&me).into_response())
}

/// `before` (a sequence number) and `limit`, for a list read newest first.
#[derive(Debug, serde::Deserialize)]
struct Page {
    before: Option<u64>,
    limit: Option<u32>,
}

/// An audit record as the "who accessed my files" view shows it: the actor's kind first.
fn access_view(entry: AuditEntry) -> AccessView {
    let kind = entry
        .actor
        .split_once(':')
        .map_or(entry.actor.as_str(), |(kind, _)| kind)
        .to_owned();
    AccessView {
        seq: entry.seq,
        at: entry.at_ms,
        actor_kind: kind,
        actor: entry.actor,
        action: entry.action,
        object: entry.object,
        detail: entry.detail,
    }
}

fn no_content(_: &AppState, (): ()) -> Result<Response, ApiError> {
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let password = rechecked(
        state,
        warp::path!("api" / "account" / "password"),
        |account, req: ChangePassword, session, client| {
            account.change_password(
                &req.current_password,
                req.totp.as_deref(),
                &req.new_password,
                session,
                client,
            )
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
    let name = warp::path!("api" / "account" / "name")
        .and(warp::put())
        .and(owner_call(state))
        .and(json_body::<DisplayName>())
        .then(
            |auth: Authenticated, client, state: AppState, req: DisplayName| async move {
                let result = changed(&state, auth, move |account| {
                    account.set_display_name(&req.display_name, &client)
                });
                respond(result.await)
            },
        );
    let restriction = warp::path!("api" / "account" / "restriction")
        .and(warp::put())
        .and(owner_call(state))
        .and(json_body::<Restriction>())
        .then(
            |auth: Authenticated, client, state: AppState, req: Restriction| async move {
                let result = changed(&state, auth, move |account| {
                    account.set_restricted(req.restricted, &client)
                });
                respond(result.await)
            },
        );
    let objection = warp::path!("api" / "account" / "objections" / String)
        .and(warp::put())
        .and(owner_call(state))
        .and(json_body::<Objection>())
        .then(
            |purpose: String, auth: Authenticated, client, state: AppState, req: Objection| async move {
                let result = async {
                    let purpose: ProcessingPurpose = purpose.parse().map_err(|why: String| {
                        ApiError::new(StatusCode::NOT_FOUND, "unknown_purpose", why)
                    })?;
                    changed(&state, auth, move |account| {
                        account.set_objection(purpose, req.objected, &client)
                    })
                    .await
                };
                respond(result.await)
            },
        );
    let accessed = warp::path!("api" / "account" / "accessed")
        .and(warp::get())
        .and(warp::query::<Page>())
        .and(owner_state(state))
        .then(
            |page: Page, auth: Authenticated, state: AppState| async move {
                let vault = state.vault.clone();
                let limit = page.limit.unwrap_or(100).clamp(1, 500);
                let result =
                    blocking(move || vault.account(&auth.scope).accessed(page.before, limit)).await;
                respond(result.map(|entries| {
                    let views: Vec<AccessView> = entries.into_iter().map(access_view).collect();
                    warp::reply::json(&views).into_response()
                }))
            },
        );
    let email = warp::path!("api" / "account" / "email")
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<EmailChange>())
        .and(client())
        .and(with_state(state))
        .then(
            |auth: Authenticated, req: EmailChange, client: ClientInfo, state: AppState| async move {
                // The link opens the web app's confirmation page at the public origin.
                let confirm_url = format!("{}/confirm-email", state.config.public_url());
                let result = recheck(&state, &auth, &client, move |account, client| {
                    account.start_email_change(
                        &req.new_email,
                        &req.password,
                        req.totp.as_deref(),
                        &confirm_url,
                        client,
                    )
                })
                .await;
                respond(result.map(|(email, expires_at)| {
                    let body = warp::reply::json(&PendingEmail { email, expires_at });
                    warp::reply::with_status(body, StatusCode::ACCEPTED).into_response()
                }))
            },
        );
    let email_cancel = warp::path!("api" / "account" / "email")
        .and(warp::delete())
        .and(owner_call(state))
        .then(|auth: Authenticated, client, state: AppState| async move {
            let result = changed(&state, auth, move |account| {
                account.cancel_email_change(&client)
            });
            respond(
                result
                    .await
                    .map_err(ApiError::not_found_as("pending address change")),
            )
        });
    let email_confirm = warp::path!("api" / "account" / "email" / "confirm")
        .and(warp::post())
        .and(json_body::<EmailConfirm>())
        .and(client())
        .and(with_state(state))
        .then(
            |req: EmailConfirm, client: ClientInfo, state: AppState| async move {
                let vault = state.vault.clone();
                let result =
                    blocking(move || vault.confirm_email_change(&req.token, &client)).await;
                respond(result.map(|user| {
                    warp::reply::json(&EmailChanged { email: user.email }).into_response()
                }))
            },
        );
    vec![
        email.boxed(),
        email_cancel.boxed(),
        email_confirm.boxed(),
        name.boxed(),
        restriction.boxed(),
        objection.boxed(),
        accessed.boxed(),
        settings.boxed(),
        password,
        totp_setup,
        totp_enable,
        totp_disable,
        delete,
    ]
}

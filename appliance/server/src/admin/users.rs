//! Accounts (`/v1/users`): list, create, show, plan and quota, suspend and resume, two-factor
//! reset, deletion and its cancellation, password reset, and one user's sessions.

use studiovault_api::admin::{
    CreateUser, ResetPassword, Revoked, UpdateUser, UserCreated, UserView,
};
use studiovault_vault::{UserId, UserRecord, Vault, VaultError};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::sessions::session_view;
use super::{body, json};
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};

fn user_view(vault: &Vault, u: &UserRecord, sessions: u64) -> UserView {
    UserView {
        id: u.id.to_string(),
        email: u.email.clone(),
        plan: u.plan,
        quota_bytes: u.quota(&vault.policy().quotas),
        quota_override: u.quota_override.is_some(),
        used_bytes: u.used_bytes,
        tracks: u.track_count,
        totp_enabled: u.totp_enabled(),
        status: u.status,
        sessions,
        created_at: u.created_at_ms,
    }
}

/// Decodes `%XX` escapes in a path segment (e-mail addresses arrive encoded).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = raw.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(vault: &Vault, who: &str) -> Result<UserRecord, VaultError> {
    vault.admin().find(&percent_decode(who))
}

/// Runs `action` on the user named in the path and answers the user's new view.
async fn on_user(
    state: AppState,
    who: String,
    action: impl FnOnce(&Vault, UserId) -> Result<UserRecord, VaultError> + Send + 'static,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let view = blocking(move || {
        let user = find(&vault, &who)?;
        let rec = action(&vault, user.id)?;
        let sessions = vault.admin().sessions(Some(rec.id))?.len() as u64;
        Ok(user_view(&vault, &rec, sessions))
    })
    .await
    .map_err(ApiError::not_found_as("user"))?;
    Ok(json(&view))
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let list_users =
        warp::path!("v1" / "users")
            .and(warp::get())
            .and(s())
            .then(|state: AppState| async move {
                let vault = state.vault.clone();
                respond(
                    blocking(move || {
                        let admin = vault.admin();
                        let sessions = admin.sessions(None)?;
                        let users = admin.list()?;
                        Ok(users
                            .iter()
                            .map(|u| {
                                user_view(
                                    &vault,
                                    u,
                                    sessions.iter().filter(|s| s.user == u.id).count() as u64,
                                )
                            })
                            .collect::<Vec<_>>())
                    })
                    .await
                    .map(|v| json(&v)),
                )
            });
    let create_user = warp::path!("v1" / "users")
        .and(warp::post())
        .and(body::<CreateUser>())
        .and(s())
        .then(|req: CreateUser, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                vault
                    .admin()
                    .create_user(&req.email, req.password.as_deref(), req.plan)
                    .map(|(u, pw)| (user_view(&vault, &u, 0), pw))
            })
            .await;
            respond(result.map(|(user, one_time_password)| {
                tracing::info!(user = %user.id, plan = %user.plan, "account created");
                warp::reply::with_status(
                    warp::reply::json(&UserCreated {
                        user,
                        one_time_password,
                    }),
                    StatusCode::CREATED,
                )
                .into_response()
            }))
        });
    let get_user = warp::path!("v1" / "users" / String)
        .and(warp::get())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(on_user(state, who, |vault, id| vault.admin().find(&id.to_string())).await)
        });
    let update_user = warp::path!("v1" / "users" / String)
        .and(warp::patch())
        .and(body::<UpdateUser>())
        .and(s())
        .then(|who: String, req: UpdateUser, state: AppState| async move {
            respond(
                on_user(state, who, move |vault, id| {
                    vault
                        .admin()
                        .set_plan_and_quota(id, req.plan, req.quota_bytes)
                })
                .await,
            )
        });
    let suspend = warp::path!("v1" / "users" / String / "suspend")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(on_user(state, who, |vault, id| vault.admin().suspend(id)).await)
        });
    let resume = warp::path!("v1" / "users" / String / "resume")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(on_user(state, who, |vault, id| vault.admin().resume(id)).await)
        });
    let totp_reset = warp::path!("v1" / "users" / String / "totp" / "reset")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(on_user(state, who, |vault, id| vault.admin().reset_totp(id)).await)
        });
    let schedule_deletion = warp::path!("v1" / "users" / String / "deletion")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(
                on_user(state, who, |vault, id| {
                    vault.admin().schedule_deletion(id)?;
                    vault.admin().find(&id.to_string())
                })
                .await,
            )
        });
    let cancel_deletion = warp::path!("v1" / "users" / String / "deletion")
        .and(warp::delete())
        .and(s())
        .then(|who: String, state: AppState| async move {
            respond(on_user(state, who, |vault, id| vault.admin().cancel_deletion(id)).await)
        });
    let reset_password = warp::path!("v1" / "users" / String / "password")
        .and(warp::post())
        .and(body::<ResetPassword>())
        .and(s())
        .then(
            |who: String, req: ResetPassword, state: AppState| async move {
                let vault = state.vault.clone();
                let result = blocking(move || {
                    let user = find(&vault, &who)?;
                    let (rec, pw) = vault
                        .admin()
                        .reset_password(user.id, req.password.as_deref())?;
                    Ok(UserCreated {
                        user: user_view(&vault, &rec, 0),
                        one_time_password: pw,
                    })
                })
                .await
                .map_err(ApiError::not_found_as("user"));
                respond(result.map(|r| json(&r)))
            },
        );
    let user_sessions = warp::path!("v1" / "users" / String / "sessions")
        .and(warp::get())
        .and(s())
        .then(|who: String, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let user = find(&vault, &who)?;
                Ok(vault
                    .admin()
                    .sessions(Some(user.id))?
                    .into_iter()
                    .map(|s| session_view(s, user.email.clone()))
                    .collect::<Vec<_>>())
            })
            .await
            .map_err(ApiError::not_found_as("user"));
            respond(result.map(|v| json(&v)))
        });
    let revoke_user_sessions = warp::path!("v1" / "users" / String / "sessions" / "revoke")
        .and(warp::post())
        .and(s())
        .then(|who: String, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let user = find(&vault, &who)?;
                vault.admin().revoke_sessions(user.id)
            })
            .await
            .map_err(ApiError::not_found_as("user"));
            respond(result.map(|revoked| json(&Revoked { revoked })))
        });
    vec![
        list_users.boxed(),
        create_user.boxed(),
        get_user.boxed(),
        update_user.boxed(),
        suspend.boxed(),
        resume.boxed(),
        totp_reset.boxed(),
        schedule_deletion.boxed(),
        cancel_deletion.boxed(),
        reset_password.boxed(),
        user_sessions.boxed(),
        revoke_user_sessions.boxed(),
    ]
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_escapes_and_keeps_the_rest() {
        assert_eq!(percent_decode("ana%40studio.test"), "ana@studio.test");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
    }
}

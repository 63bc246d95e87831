use studiovault_api::admin::{
    AdminSessionView, AuditQuery, BackupsView, Capability, CapabilityState, CreateUser,
    ResetPassword, Revoked, SnapshotRequest, Status, TlsStatus, UpdateUser, UserCreated, UserView,
};
use studiovault_api::public::TraceRequest;
use studiovault_vault::users::SessionInfo;
use studiovault_vault::{Clock, TraceQuery, UserId, UserRecord, Vault};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::backups::BackupsError;
use crate::leak_report::trace_view;
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, combine, recover, respond, with_state};

const JSON_LIMIT: u64 = 64 * 1024;

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

fn session_view(s: SessionInfo, email: String) -> AdminSessionView {
    AdminSessionView {
        id: s.id,
        user_id: s.user.to_string(),
        email,
        created_at: s.created_at_ms,
        last_seen_at: s.last_seen_ms,
        client: s.client,
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

/// Where each optional part of the appliance stands, for `GET /v1/status`; the entries not built
/// yet change to report their real state when their issue lands.
fn capabilities(
    analysis_queue: u64,
    config: &crate::config::Config,
    backups: &BackupsView,
    tls: Option<&TlsStatus>,
) -> Vec<Capability> {
    vec![
        tls_capability(tls),
        Capability {
            name: "Analysis queue".into(),
            state: CapabilityState::Ok,
            detail: format!(
                "{analysis_queue} track(s) waiting; {} worker(s), each job in its own process limited to {} MiB and {} s",
                config.analysis.workers,
                config.analysis.memory_limit_mib,
                config.analysis.timeout_seconds
            ),
        },
    ]
    .into_iter()
    .chain(backup_capabilities(backups))
    .collect()
}

fn tls_capability(tls: Option<&TlsStatus>) -> Capability {
    let name = "TLS certificate".to_owned();
    let Some(tls) = tls else {
        return Capability {
            name,
            state: CapabilityState::NotConfigured,
            detail: "TLS is off: plain HTTP on loopback only. Set tls.mode to acme, files or \
                     self-signed to serve HTTPS."
                .into(),
        };
    };
    let expiry = tls.certificate.as_ref().map(|c| {
        format!(
            "{} certificate for {} from {}, expires {}",
            tls.mode,
            c.names.join(", "),
            c.issuer,
            crate::human::when(c.not_after)
        )
    });
    match (&tls.last_error, expiry) {
        (Some(error), expiry) => Capability {
            name,
            state: CapabilityState::Failing,
            detail: format!(
                "{} failure(s) in a row, next try {}: {error}{}",
                tls.failures,
                tls.next_attempt
                    .map_or_else(|| "not planned".into(), crate::human::when),
                expiry.map_or_else(String::new, |e| format!(" (still serving the {e})"))
            ),
        },
        (None, Some(expiry)) => Capability {
            name,
            state: CapabilityState::Ok,
            detail: format!(
                "{expiry}; next renewal {}",
                tls.next_attempt
                    .map_or_else(|| "not planned".into(), crate::human::when)
            ),
        },
        (None, None) => Capability {
            name,
            state: CapabilityState::Ok,
            detail: format!("{}: the first certificate is being obtained", tls.mode),
        },
    }
}

fn ago(now_ms: i64, at_ms: i64) -> String {
    let secs = ((now_ms - at_ms) / 1000).max(0);
    match secs {
        0..120 => format!("{secs} s ago"),
        120..7200 => format!("{} min ago", secs / 60),
        7200..172_800 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The status API's entries for replication, backups and drills.
fn backup_capabilities(view: &BackupsView) -> Vec<Capability> {
    let now = studiovault_vault::SystemClock.now_ms();
    let r = &view.replication;
    let replication = if !r.configured {
        Capability {
            name: "Replication".into(),
            state: CapabilityState::NotConfigured,
            detail: "No S3/B2 replica is configured ([replication] endpoint, bucket, keys): no copy leaves this machine.".into(),
        }
    } else {
        let failing = r.failing > 0;
        Capability {
            name: "Replication".into(),
            state: if failing {
                CapabilityState::Failing
            } else {
                CapabilityState::Ok
            },
            detail: format!(
                "{} upload(s) pending, lag {} s, {} deletion(s) due, {} in grace{}",
                r.uploads_pending,
                r.lag_secs,
                r.deletes_due,
                r.deletes_waiting,
                match (&r.last_error, failing) {
                    (Some(e), true) => format!("; {} failing: {e}", r.failing),
                    _ => String::new(),
                }
            ),
        }
    };
    let backups = if !view.snapshots_configured {
        Capability {
            name: "Backups".into(),
            state: CapabilityState::NotConfigured,
            detail: "No restic repository is configured ([backups] repository, password_file)."
                .into(),
        }
    } else if let Some(error) = &view.last_snapshot_error {
        Capability {
            name: "Backups".into(),
            state: CapabilityState::Failing,
            detail: error.clone(),
        }
    } else {
        Capability {
            name: "Backups".into(),
            state: CapabilityState::Ok,
            detail: match &view.last_snapshot {
                Some(s) => format!(
                    "last {} snapshot {} {}: {} blobs, {} bytes added, {} kept, check {}",
                    s.tier.as_str(),
                    &s.id[..s.id.len().min(8)],
                    ago(now, s.at_ms),
                    s.blobs,
                    s.bytes_added,
                    s.kept,
                    if s.check_ok { "ok" } else { "FAILED" }
                ),
                None => "configured; no snapshot taken yet".into(),
            },
        }
    };
    let drill = match (&view.last_drill, view.snapshots_configured) {
        (_, false) => Capability {
            name: "Restore drill".into(),
            state: CapabilityState::NotConfigured,
            detail: "Drills need a restic repository.".into(),
        },
        (None, true) => Capability {
            name: "Restore drill".into(),
            state: CapabilityState::Failing,
            detail: "No restore drill has run yet: run `studiovault backup drill`.".into(),
        },
        (Some(d), true) => Capability {
            name: "Restore drill".into(),
            state: if d.passed {
                CapabilityState::Ok
            } else {
                CapabilityState::Failing
            },
            detail: format!(
                "{} {}: {}/{} blobs verified, {} decrypted, {} problem(s){} in {:.1} s",
                if d.passed { "passed" } else { "FAILED" },
                ago(now, d.at_ms),
                d.blobs_verified,
                d.blobs_listed,
                d.blobs_decrypted,
                d.problems,
                d.first_problem
                    .as_deref()
                    .map(|p| format!(" (first: {p})"))
                    .unwrap_or_default(),
                d.total_ms as f64 / 1000.0
            ),
        },
    };
    vec![replication, backups, drill]
}

impl From<BackupsError> for ApiError {
    fn from(e: BackupsError) -> Self {
        match e {
            BackupsError::NotConfigured { .. } => {
                Self::new(StatusCode::CONFLICT, "not_configured", e.to_string())
            }
            BackupsError::BackupFailed(message) => {
                Self::new(StatusCode::BAD_GATEWAY, "backup_failed", message)
            }
            BackupsError::ReplicationFailed(message) => {
                Self::new(StatusCode::BAD_GATEWAY, "replication_failed", message)
            }
            BackupsError::Store(e) => e.into(),
            BackupsError::Task(e) => {
                tracing::error!(error = %e, "a blocking task failed");
                Self::internal()
            }
        }
    }
}

/// A backup job's result as JSON, or its error as the API's.
fn backup_answer<T: serde::Serialize>(result: Result<T, BackupsError>) -> Response {
    respond(result.map(|v| json(&v)).map_err(ApiError::from))
}

fn find(vault: &Vault, who: &str) -> Result<UserRecord, studiovault_vault::VaultError> {
    vault.admin().find(&percent_decode(who))
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

fn body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(JSON_LIMIT).and(warp::body::json())
}

/// Runs `action` on the user named in the path and answers the user's new view.
async fn on_user(
    state: AppState,
    who: String,
    action: impl FnOnce(&Vault, UserId) -> Result<UserRecord, studiovault_vault::VaultError>
    + Send
    + 'static,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let view = blocking(move || {
        let user = find(&vault, &who)?;
        let rec = action(&vault, user.id)?;
        let sessions = vault.admin().sessions(Some(rec.id))?.len() as u64;
        Ok(user_view(&vault, &rec, sessions))
    })
    .await
    .map_err(user_not_found)?;
    Ok(json(&view))
}

fn user_not_found(e: ApiError) -> ApiError {
    if e.status == StatusCode::NOT_FOUND {
        ApiError::not_found("user")
    } else {
        e
    }
}

fn tls_off() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "tls_off",
        "TLS is off: set tls.mode to acme, files or self-signed",
    )
}

pub fn routes(state: &AppState) -> Routes {
    let s = || with_state(state);
    let status =
        warp::path!("v1" / "status")
            .and(warp::get())
            .and(s())
            .then(|state: AppState| async move {
                let vault = state.vault.clone();
                let backups = match state.backups.status(&state.vault).await {
                    Ok(view) => view,
                    Err(e) => return ApiError::from(e).into_response(),
                };
                let tls = state.tls.as_ref().map(studiovault_tls::Tls::status);
                let result =
                    blocking(move || Ok((vault.admin().stats()?, vault.analysis_queue_len()?)))
                        .await
                        .map(|(stats, queue)| {
                            json(&Status {
                                version: env!("CARGO_PKG_VERSION").into(),
                                uptime_secs: state.started.elapsed().as_secs(),
                                users: stats.users,
                                tracks: stats.tracks,
                                stored_bytes: stats.stored_bytes,
                                disk_free_bytes: rustix::fs::statvfs(state.vault.data_dir())
                                    .ok()
                                    .map(|s| s.f_bavail.saturating_mul(s.f_frsize)),
                                audit_records: stats.audit_records,
                                listen: state.config.public_url(),
                                data_dir: state.vault.data_dir().display().to_string(),
                                capabilities: capabilities(
                                    queue,
                                    &state.config,
                                    &backups,
                                    tls.as_ref(),
                                ),
                                tls,
                            })
                        });
                respond(result)
            });
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
                .map_err(user_not_found);
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
            .map_err(user_not_found);
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
            .map_err(user_not_found);
            respond(result.map(|revoked| json(&Revoked { revoked })))
        });
    let all_sessions = warp::path!("v1" / "sessions")
        .and(warp::get())
        .and(s())
        .then(|state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let admin = vault.admin();
                let emails: std::collections::HashMap<UserId, String> =
                    admin.list()?.into_iter().map(|u| (u.id, u.email)).collect();
                Ok(admin
                    .sessions(None)?
                    .into_iter()
                    .map(|s| {
                        let email = emails.get(&s.user).cloned().unwrap_or_default();
                        session_view(s, email)
                    })
                    .collect::<Vec<_>>())
            })
            .await;
            respond(result.map(|v| json(&v)))
        });
    let revoke_session = warp::path!("v1" / "sessions" / String)
        .and(warp::delete())
        .and(s())
        .then(|id: String, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || vault.admin().revoke_session(&id))
                .await
                .map_err(|e| {
                    if e.status == StatusCode::NOT_FOUND {
                        ApiError::not_found("session")
                    } else {
                        e
                    }
                });
            respond(result.map(|()| StatusCode::NO_CONTENT.into_response()))
        });
    let audit = warp::path!("v1" / "audit")
        .and(warp::get())
        .and(warp::query::<AuditQuery>())
        .and(s())
        .then(|q: AuditQuery, state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || vault.audit_query(&q))
                    .await
                    .map(|v| json(&v)),
            )
        });
    let verify = warp::path!("v1" / "audit" / "verify")
        .and(warp::post())
        .and(s())
        .then(|state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || vault.audit_verify())
                    .await
                    .map(|r| json(&r)),
            )
        });
    // The CLI reads the mark from the suspect file itself and sends what it read.
    let leak = warp::path!("v1" / "leaks" / "trace")
        .and(warp::post())
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::json::<TraceRequest>())
        .and(s())
        .then(|req: TraceRequest, state: AppState| async move {
            let result = async {
                let payload = match req.payload.as_deref() {
                    None => None,
                    Some(hex) => Some(
                        (hex.len() == 16)
                            .then(|| u64::from_str_radix(hex, 16).ok())
                            .flatten()
                            .ok_or_else(|| {
                                ApiError::bad_request(
                                    "the payload is 16 hex digits, as `studiovault watermark detect` prints it",
                                )
                            })?,
                    ),
                };
                let vault = state.vault.clone();
                let key = state.watermark_key.clone();
                let view = blocking(move || {
                    let (suspects, threshold) = match req.soft_bits {
                        Some(bits) => {
                            let soft = studiovault_watermark::SoftBits::from_values(bits);
                            let (named, t) = studiovault_marking::suspects(
                                &soft,
                                &key,
                                &vault.watermark_candidates_any()?,
                            );
                            (named, Some(t))
                        }
                        None => (Vec::new(), None),
                    };
                    let outcome =
                        vault.trace_any(&TraceQuery { payload, suspects }, "admin socket")?;
                    Ok(trace_view(&vault, payload, &outcome, threshold, true))
                })
                .await?;
                Ok(json(&view))
            };
            respond(result.await)
        });
    let backups =
        warp::path!("v1" / "backups")
            .and(warp::get())
            .and(s())
            .then(|state: AppState| async move {
                backup_answer(state.backups.status(&state.vault).await)
            });
    let snapshot = warp::path!("v1" / "backups" / "snapshot")
        .and(warp::post())
        .and(body::<SnapshotRequest>())
        .and(s())
        .then(|req: SnapshotRequest, state: AppState| async move {
            backup_answer(state.backups.snapshot(&state.vault, req).await)
        });
    let snapshots = warp::path!("v1" / "backups" / "snapshots")
        .and(warp::get())
        .and(s())
        .then(|state: AppState| async move { backup_answer(state.backups.snapshots().await) });
    let drill = warp::path!("v1" / "backups" / "drill")
        .and(warp::post())
        .and(s())
        .then(
            |state: AppState| async move { backup_answer(state.backups.drill(&state.vault).await) },
        );
    let verify_replicas = warp::path!("v1" / "replication" / "verify")
        .and(warp::post())
        .and(s())
        .then(|state: AppState| async move {
            backup_answer(state.backups.verify_replicas(&state.vault).await)
        });
    let tls_status = warp::path!("v1" / "tls")
        .and(warp::get())
        .and(s())
        .map(|state: AppState| {
            respond(
                state
                    .tls
                    .as_ref()
                    .map(|tls| json(&tls.status()))
                    .ok_or_else(tls_off),
            )
        });
    let tls_renew = warp::path!("v1" / "tls" / "renew")
        .and(warp::post())
        .and(s())
        .then(|state: AppState| async move {
            let Some(tls) = state.tls.clone() else {
                return respond(Err(tls_off()));
            };
            respond(tls.renew().await.map(|view| json(&view)).map_err(|e| {
                let (status, code) = match e {
                    studiovault_tls::TlsError::CaStillWaiting { .. } => {
                        (StatusCode::TOO_MANY_REQUESTS, "ca_asked_to_wait")
                    }
                    _ => (StatusCode::BAD_GATEWAY, "renewal_failed"),
                };
                ApiError::new(status, code, e.to_string())
            }))
        });
    let routes: [Routes; 25] = [
        backups.boxed(),
        snapshot.boxed(),
        snapshots.boxed(),
        drill.boxed(),
        verify_replicas.boxed(),
        status.boxed(),
        tls_status.boxed(),
        tls_renew.boxed(),
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
        all_sessions.boxed(),
        revoke_session.boxed(),
        audit.boxed(),
        verify.boxed(),
        leak.boxed(),
    ];
    combine(routes).recover(recover).unify().boxed()
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

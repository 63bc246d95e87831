//! `studiovault serve`: open the store, bind the HTTP listener and the admin socket, run the
//! background tasks, and shut all of it down cleanly on SIGTERM or Ctrl-C.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use studiovault_vault::{MasterKey, Vault, VaultError};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::listener::{self, Listener, Routes};
use crate::probe::Prober;
use crate::web::{self, AppState};
use crate::{analysis, clock, housekeeping, jobs, mail, owners, portal, render};

pub async fn run(config: Config) -> anyhow::Result<()> {
    // SIGHUP's default action ends the process, and systemd counts that as a clean exit that
    // `Restart=on-failure` leaves down: `systemctl reload` (the unit's ExecReload) must never
    // stop the appliance, whether it comes before the listeners are up or with TLS off.
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("handling SIGHUP")?;
    let config = Arc::new(config);
    prepare_data_dir(&config.data_dir)?;
    let key_path = config.master_key_path();
    let (master, created) =
        MasterKey::load_or_create(&key_path).context("loading the master key")?;
    if created {
        tracing::warn!(
            path = %key_path.display(),
            "generated a new master key; back it up somewhere safe: without it nothing in this vault can be read"
        );
    }
    let watermark_key = studiovault_watermark::WatermarkKey::from_bytes(*master.watermark_key());
    let vault = {
        let dir = config.data_dir.clone();
        let policy = config.policy();
        tokio::task::spawn_blocking(move || {
            let vault = Vault::open_with_clock(&dir, master, policy, clock::store_clock())?;
            vault.warm_up();
            Ok::<_, VaultError>(vault)
        })
        .await?
        .map_err(|e| match e {
            VaultError::Store(redb::Error::DatabaseAlreadyOpen) => {
                anyhow::anyhow!(
                    "another studiovault server already uses {}",
                    config.data_dir.display()
                )
            }
            other => anyhow::Error::new(other).context(format!(
                "opening the store in {}",
                config.data_dir.display()
            )),
        })?
    };

    let backups = crate::backups::Backups::from_config(&config)
        .context("setting up replication and backups")?;
    // A drill cut off with the server left a restored copy of the store and every tenant key
    // in its scratch directory: gone before anything else runs, not at next week's drill.
    let scratch = config.drill_scratch_dir();
    tokio::task::spawn_blocking(move || studiovault_backups::drill::release_scratch(&scratch))
        .await?;
    let tls = if config.tls.enabled() {
        let (tls_config, dir) = (config.tls.clone(), config.data_dir.clone());
        let tls = tokio::task::spawn_blocking(move || studiovault_tls::Tls::new(&tls_config, &dir))
            .await?
            .context("setting up TLS")?;
        if let Some(root) = tls.status().root_certificate {
            tracing::info!(
                path = %root.path,
                sha256 = %root.sha256,
                "self-signed mode: clients trust this local CA root certificate"
            );
        }
        Some(tls)
    } else {
        None
    };

    let exe = std::env::current_exe().context("finding this binary to run jobs in")?;
    let state = AppState::new(
        config.clone(),
        vault.clone(),
        watermark_key.clone(),
        backups.clone(),
        tls.clone(),
        Prober::Child { exe: exe.clone() },
    );

    // Purges and expiries that fell due while the server was down happen before it serves.
    if let Err(e) = housekeeping::pass(&vault).await {
        tracing::error!(error = %e, "housekeeping failed");
    }
    // Only in the installer test's build (one build for both of its next releases, so it
    // compiles once): the broken one is the same binary told so by its environment. Not a
    // `STUDIOVAULT_` name: those are settings, and the release rolled back to must start with
    // the variable still in place (an unknown setting stops it).
    if cfg!(feature = "installer-test-migration")
        && std::env::var_os("INSTALLER_TEST_UNHEALTHY").is_some()
    {
        bail!("this is the installer test's broken release: it migrates, then never serves");
    }
    let socket_path = config.admin_socket_path();
    let admin_listener = bind_admin_socket(&socket_path, config.admin.group_access).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tls_tasks = Vec::new();
    let public = match &tls {
        None => {
            tokio::spawn(ignore_hangups(hangups, stop_rx.clone()));
            let tcp = bind(config.http.listen).await?;
            tokio::spawn(listener::serve(
                Listener::Tcp(tcp),
                public_routes(&state),
                stop_rx.clone(),
            ))
        }
        Some(tls) => {
            let https = bind(config.tls.https_listen).await?;
            let port80 = bind(config.tls.http_listen).await?;
            tls_tasks.push(tokio::spawn(listener::serve(
                Listener::Tcp(port80),
                crate::tls::port80_routes(
                    tls,
                    config
                        .http
                        .public_origin
                        .as_deref()
                        .and_then(web::normalise_origin),
                ),
                stop_rx.clone(),
            )));
            tls_tasks.push(tokio::spawn(tls.clone().run(stop_rx.clone())));
            tls_tasks.push(tokio::spawn(crate::tls::reload_on_sighup(
                tls.clone(),
                hangups,
                stop_rx.clone(),
            )));
            tokio::spawn(listener::serve_tls(
                https,
                listener::TlsLayer::new(tls)?,
                public_routes(&state),
                stop_rx.clone(),
            ))
        }
    };
    let admin = tokio::spawn(listener::serve(
        Listener::Unix(admin_listener),
        crate::admin::routes(&state),
        stop_rx.clone(),
    ));
    // Background work: one runner per kind of job, woken by commits that queue jobs.
    jobs::release_stale_leases(&vault).await;
    let (analysis_wake, render_wake, mail_wake) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    {
        let (a, r, m, s) = (
            analysis_wake.clone(),
            render_wake.clone(),
            mail_wake.clone(),
            state.stems_wake.clone(),
        );
        vault.on_jobs_queued(move || {
            a.notify_one();
            r.notify_one();
            m.notify_one();
            // Every waiting stem worker looks; one of them gets the job.
            s.notify_waiters();
        });
    }
    let limits = config.job_limits();
    let analysis = tokio::spawn(jobs::run(
        vault.clone(),
        Arc::new(analysis::AnalysisExecutor {
            exe: exe.clone(),
            limits,
        }),
        config.analysis.workers as usize,
        analysis_wake,
        stop_rx.clone(),
    ));
    let rendering = tokio::spawn(jobs::run(
        vault.clone(),
        Arc::new(render::RenderExecutor {
            exe,
            limits,
            key: watermark_key,
        }),
        config.shares.render_workers as usize,
        render_wake,
        stop_rx.clone(),
    ));
    let replication = backups.replicator().cloned().map(|replicator| {
        tracing::info!(
            endpoint = %replicator.target().endpoint,
            bucket = %replicator.target().bucket,
            "replicating blobs"
        );
        tokio::spawn(studiovault_backups::replica::run_worker(
            vault.clone(),
            replicator,
            Duration::from_secs(config.replication.check_interval_seconds),
            stop_rx.clone(),
        ))
    });
    let mailing = match config.mail.enabled() {
        true => {
            let mailer = studiovault_mail::Mailer::new(&config.mail)
                .context("setting up the mail relay of [mail]")?;
            Some(tokio::spawn(jobs::run(
                vault.clone(),
                Arc::new(mail::MailExecutor::new(
                    mailer,
                    config.mail.per_minute,
                    config.public_url(),
                )),
                2,
                mail_wake,
                stop_rx.clone(),
            )))
        }
        false => None,
    };
    let background = tokio::spawn(housekeeping::run(
        vault.clone(),
        Duration::from_secs(config.audit.checkpoint_interval_seconds),
        stop_rx,
    ));

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %config.data_dir.display(),
        admin_socket = %socket_path.display(),
        "Studio Vault listening on {}",
        config.public_url()
    );

    shutdown_signal().await;
    tracing::info!("shutting down: draining connections");
    let _ = stop_tx.send(true);
    let _ = tokio::join!(public, admin, analysis, rendering, background);
    for task in [replication, mailing].into_iter().flatten() {
        let _ = task.await;
    }
    for task in tls_tasks {
        let _ = task.await;
    }
    let _ = std::fs::remove_file(&socket_path);
    match tokio::task::spawn_blocking(move || vault.audit_checkpoint()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "final audit checkpoint failed"),
        Err(e) => tracing::error!(error = %e, "final audit checkpoint failed"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// What the public listener serves: the owners' API, the portal and the web app, one site.
pub(crate) fn public_routes(state: &AppState) -> Routes {
    let routes = owners::routes(state)
        .into_iter()
        .chain(crate::workers::routes(state))
        .chain(portal::routes(state))
        .chain(owners::app_routes());
    web::site(state, routes)
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
                ": ports below 1024 need root or CAP_NET_BIND_SERVICE (the systemd unit grants it)"
            }
            std::io::ErrorKind::AddrInUse => {
                ": another program listens there (`ss -ltnp` names it), or this configuration \
                 names it twice"
            }
            _ => "",
        };
        anyhow::Error::new(e).context(format!("cannot listen on {addr}{why}"))
    })
}

fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {} to its owner", dir.display()))?;
    Ok(())
}

/// Binds the admin socket, replacing a stale one but never a live server's. With
/// `group_access` the service's group may use it too (`admin.group_access`).
async fn bind_admin_socket(path: &Path, group_access: bool) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            bail!(
                "another studiovault server is answering on {}",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot bind the admin socket {}", path.display()))?;
    // Its directory is the 0700 data directory, or (with group access) a directory only the
    // service's group may enter, so nobody else could reach the socket before this chmod.
    let mode = if group_access { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// SIGHUP with TLS off: nothing to reload; said, so a `systemctl reload` is not a mystery.
async fn ignore_hangups(mut hangups: tokio::signal::unix::Signal, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = hangups.recv() => tracing::info!("SIGHUP: TLS is off, nothing to reload"),
            () = listener::stopped(&mut stop) => break,
        }
    }
}

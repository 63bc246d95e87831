//! `studiovault setup`: the first run of the installed package. It gathers the answers
//! (`answers`), checks the machine before touching it (the doctor's pre-flight), writes the
//! secret files and the configuration (`config_file`), makes the first admin, starts the
//! service and the backup timers, creates the first owner, takes the first snapshot and drill,
//! and ends with the URL and the next steps. Run again, it changes nothing unless told to
//! `--reconfigure`.

mod answers;
mod config_file;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use studiovault_api::admin::{
    CreateUser, DrillReport, SnapshotReport, SnapshotRequest, SnapshotTier, Status, UserCreated,
};
use studiovault_api::client::AdminClient;

use super::doctor::{self, Verdict};
use super::{layout, system};
use crate::cli::SetupArgs;
use crate::config::{Config, SYSTEM_CONFIG};
use answers::{Answers, Secret, Tls};
use config_file::{BACKUPS_PASSWORD, BACKUPS_S3_SECRET, MAIL_PASSWORD, REPLICATION_SECRET};

/// The service's user and group ids.
#[derive(Debug, Clone, Copy)]
struct Service {
    uid: u32,
    gid: u32,
}

impl Service {
    fn chown(&self, path: &Path) -> anyhow::Result<()> {
        rustix::fs::chown(
            path,
            Some(rustix::fs::Uid::from_raw(self.uid)),
            Some(rustix::fs::Gid::from_raw(self.gid)),
        )
        .with_context(|| format!("giving {} to the studiovault user", path.display()))
    }

    /// A directory only the service may enter.
    fn private_dir(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        self.chown(dir)
    }

    /// A secret file (mode 0600, the service's), written whole before it is renamed into place.
    fn secret(&self, path: &Path, secret: &Secret) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(format!("{}\n", secret.0).as_bytes())?;
        file.sync_all()?;
        self.chown(&tmp)?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }
}

/// A restic repository that is a directory here (not `s3:`, `sftp:`, `rest:`, …).
fn local_repository(repository: &str) -> Option<&Path> {
    repository.starts_with('/').then(|| Path::new(repository))
}

/// A random password for a new restic repository: 32 bytes, hex.
fn generated_password() -> Secret {
    Secret(hex::encode(rand::random::<[u8; 32]>()))
}

/// Writes the secret files the answers carry (keeping an earlier setup's backup password when
/// none is given: the repository may already be encrypted with it).
fn write_secrets(service: Service, answers: &Answers) -> anyhow::Result<()> {
    service.private_dir(Path::new(layout::SECRETS_DIR))?;
    if let Some(b) = &answers.backups {
        let path = config_file::secret_path(BACKUPS_PASSWORD);
        match &b.password {
            Some(password) => service.secret(&path, password)?,
            None if path.is_file() => {}
            None => service.secret(&path, &generated_password())?,
        }
        if let Some((_, key)) = &b.s3 {
            service.secret(&config_file::secret_path(BACKUPS_S3_SECRET), key)?;
        }
    }
    if let Some(r) = &answers.replication {
        service.secret(&config_file::secret_path(REPLICATION_SECRET), &r.secret)?;
    }
    if let Some((_, password)) = answers.mail.as_ref().and_then(|m| m.login.as_ref()) {
        service.secret(&config_file::secret_path(MAIL_PASSWORD), password)?;
    }
    Ok(())
}

/// A local repository must be the service's and writable inside its sandbox: a drop-in adds it
/// to the unit's writable paths. Without one, any earlier drop-in goes.
fn backup_repository_access(service: Service, answers: &Answers) -> anyhow::Result<()> {
    let drop_in = Path::new(layout::UNIT_DROP_IN_DIR).join("backups-repository.conf");
    let local = answers
        .backups
        .as_ref()
        .and_then(|b| local_repository(&b.repository));
    match local {
        Some(dir) => {
            service.private_dir(dir)?;
            std::fs::create_dir_all(layout::UNIT_DROP_IN_DIR)?;
            std::fs::write(
                &drop_in,
                format!(
                    "# Written by `studiovault setup`: the local restic repository.\n\
                     [Service]\nReadWritePaths={}\n",
                    dir.display()
                ),
            )
            .with_context(|| format!("writing {}", drop_in.display()))?;
        }
        None if drop_in.exists() => std::fs::remove_file(&drop_in)?,
        None => {}
    }
    Ok(())
}

/// Writes the configuration through a temporary file that must load first, so a bad answer
/// never replaces a working file.
fn write_config(text: &str) -> anyhow::Result<Config> {
    let path = Path::new(SYSTEM_CONFIG);
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    let config = match Config::load(Some(&tmp), []) {
        Ok(config) => config,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            bail!("these answers make a configuration that does not load: {e}");
        }
    };
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(config)
}

/// The files-mode key must be readable by the service and by nobody else.
fn check_tls_files(answers: &Answers, service: Service) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Tls::Files { cert, key } = &answers.tls else {
        return Ok(());
    };
    anyhow::ensure!(
        cert.is_file(),
        "the certificate {} is not a file",
        cert.display()
    );
    let meta = std::fs::metadata(key).with_context(|| format!("reading {}", key.display()))?;
    if meta.uid() != service.uid || meta.mode() & 0o077 != 0 {
        bail!(
            "the key {0} must be the studiovault user's alone: `chown studiovault {0}; chmod 600 \
             {0}`",
            key.display()
        );
    }
    Ok(())
}

fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    system::run("systemctl", args).map(drop)
}

/// The first owner, with a one-time password; an owner made by an earlier run is left alone.
async fn first_owner(client: &AdminClient, answers: &Answers) -> anyhow::Result<Option<String>> {
    let request = CreateUser {
        email: answers.owner.clone(),
        plan: answers.owner_plan,
        password: None,
    };
    match client.post::<_, UserCreated>("/v1/users", &request).await {
        Ok(created) => Ok(created.one_time_password),
        Err(studiovault_api::client::ClientError::Api { code, .. }) if code == "email_taken" => {
            Ok(None)
        }
        Err(e) => Err(e).context(format!("creating the owner {}", answers.owner)),
    }
}

/// The first snapshot and drill, so the admin knows now whether the backups work.
async fn first_backup(client: &AdminClient) -> anyhow::Result<String> {
    let snapshot: SnapshotReport = client
        .post(
            "/v1/backups/snapshot",
            &SnapshotRequest {
                tier: SnapshotTier::Daily,
                time_ms: None,
            },
        )
        .await
        .context("the first snapshot failed")?;
    let drill: DrillReport = client
        .post("/v1/backups/drill", &())
        .await
        .context("the first restore drill failed")?;
    anyhow::ensure!(
        drill.passed,
        "the first restore drill failed: {}",
        drill.first_problem.unwrap_or_default()
    );
    Ok(format!(
        "first snapshot {} taken and restored in a drill",
        &snapshot.id[..snapshot.id.len().min(8)]
    ))
}

/// The earlier setup's date, when this configuration was written by setup.
fn earlier_setup() -> Option<String> {
    let text = std::fs::read_to_string(SYSTEM_CONFIG).ok()?;
    let first = text.lines().next()?;
    first.strip_prefix(config_file::MARKER).map(|rest| {
        rest.trim_start_matches(" on ")
            .split(';')
            .next()
            .unwrap_or("")
            .to_owned()
    })
}

/// An earlier setup stands: its units are started if they are not (after a reinstall), and
/// nothing else changes.
async fn already_set_up(when: &str, wait: u64) -> anyhow::Result<ExitCode> {
    let config = Config::load(Some(Path::new(SYSTEM_CONFIG)), std::env::vars())?;
    let mut units = vec![layout::SERVICE_UNIT];
    if config.backups.repository.is_some() {
        units.extend(layout::TIMERS);
    }
    let stopped: Vec<&str> = units
        .into_iter()
        .filter(|u| !system::unit_enabled(u) || system::unit_state(u).as_deref() != Some("active"))
        .collect();
    if stopped.is_empty() {
        println!(
            "Studio Vault was set up on {when}: nothing changed. `studiovault setup \
             --reconfigure` sets it up again; `studiovault doctor` checks it."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut enable = vec!["enable", "--now", "--quiet"];
    enable.extend(&stopped);
    systemctl(&enable)?;
    let client = AdminClient::new(&config.admin_socket_path());
    super::health::wait_healthy(&client, &config, Duration::from_secs(wait))
        .await
        .map_err(|why| anyhow::anyhow!("the service did not come up: {why}"))?;
    println!(
        "Studio Vault was set up on {when}, with its data and configuration kept: started {}.",
        stopped.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn setup(args: SetupArgs) -> anyhow::Result<ExitCode> {
    if !system::is_root() {
        bail!("setup configures the system: run it as root (`sudo studiovault setup`)");
    }
    let (Some((uid, _)), Some(gid)) = (
        system::user(layout::SERVICE_USER),
        system::group(layout::ADMIN_GROUP),
    ) else {
        bail!(
            "the studiovault user and group are missing: install the package first \
             (installer/install.sh)"
        );
    };
    let service = Service { uid, gid };
    if let Some(when) = earlier_setup().filter(|_| !args.reconfigure) {
        return already_set_up(&when, args.wait).await;
    }
    let answers = answers::gather(&args)?;

    // Pre-flight: nothing is written when the machine cannot serve.
    let draft = config_file::render(&answers, "pre-flight");
    let dir = tempfile::tempdir()?;
    let draft_path = dir.path().join("studiovault.toml");
    std::fs::write(&draft_path, &draft)?;
    let draft = Config::load(Some(&draft_path), []).map_err(|e| {
        anyhow::anyhow!("these answers make a configuration that does not load: {e}")
    })?;
    check_tls_files(&answers, service)?;
    println!("Pre-flight:");
    let findings = doctor::preflight(&draft).await;
    doctor::print_findings(&findings);
    if findings.iter().any(|f| f.verdict == Verdict::Fail) {
        bail!("the pre-flight failed: nothing was changed");
    }

    write_secrets(service, &answers)?;
    backup_repository_access(service, &answers)?;
    let written_at = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let config = write_config(&config_file::render(&answers, &written_at))?;
    service.private_dir(&config.data_dir)?;
    if let Some(user) = &answers.admin {
        anyhow::ensure!(
            system::user(user).is_some(),
            "there is no Unix user `{user}`"
        );
        system::run(
            "usermod",
            &["--append", "--groups", layout::ADMIN_GROUP, user],
        )?;
    }

    println!("Starting the service…");
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", "--quiet", layout::SERVICE_UNIT])?;
    systemctl(&["restart", layout::SERVICE_UNIT])?;
    let client = AdminClient::new(&config.admin_socket_path());
    let status = super::health::wait_healthy(&client, &config, Duration::from_secs(args.wait))
        .await
        .map_err(|why| {
            anyhow::anyhow!(
                "the service did not come up: {why} (`journalctl --namespace=studiovault -u \
                 studiovault`)"
            )
        })?;
    let password = first_owner(&client, &answers).await?;

    let backups = match &answers.backups {
        Some(_) => {
            let mut timers = vec!["enable", "--now", "--quiet"];
            timers.extend(layout::TIMERS);
            systemctl(&timers)?;
            println!("Taking the first snapshot and restoring it in a drill…");
            first_backup(&client).await
        }
        None => {
            let mut timers = vec!["disable", "--now", "--quiet"];
            timers.extend(layout::TIMERS);
            systemctl(&timers)?;
            Ok(
                "off: one failed disk loses everything; `studiovault setup --reconfigure` \
                adds a restic repository"
                    .to_owned(),
            )
        }
    };
    summary(&config, &answers, &status, password.as_deref(), &backups);
    Ok(match backups {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    })
}

/// What was set up, and what to do next.
fn summary(
    config: &Config,
    answers: &Answers,
    status: &Status,
    password: Option<&str>,
    backups: &anyhow::Result<String>,
) {
    let url = match &answers.tls {
        Tls::Acme { domain, .. } => format!("https://{domain}"),
        _ => status
            .tls
            .as_ref()
            .and_then(|t| t.certificate.as_ref())
            .map(|c| {
                c.names
                    .iter()
                    .filter(|n| !n.contains(':') && *n != "127.0.0.1")
                    .map(|n| format!("https://{n}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            })
            .unwrap_or_else(|| config.public_url()),
    };
    println!("\nStudio Vault {} is set up and running.\n", status.version);
    println!("  Open          {url}");
    if let Some(root) = status
        .tls
        .as_ref()
        .and_then(|t| t.root_certificate.as_ref())
    {
        println!(
            "  Certificate   signed by this appliance's own CA: {}",
            root.path
        );
        println!("                SHA-256 {}", root.sha256);
        println!("                install it as trusted on the studio's computers once");
    }
    println!(
        "  Owner         {} (plan {})",
        answers.owner, answers.owner_plan
    );
    match password {
        Some(pw) => {
            println!("                one-time password, shown once: {pw}");
            println!(
                "                another one: sudo studiovault user password {}",
                answers.owner
            );
        }
        None => println!(
            "                already existed; a new password: sudo studiovault user password {}",
            answers.owner
        ),
    }
    match &answers.admin {
        Some(user) => println!(
            "  Admin         {user} administers without sudo from their next login (group {}): \
             studiovault console",
            layout::ADMIN_GROUP
        ),
        None => println!("  Admin         root: sudo studiovault console"),
    }
    match backups {
        Ok(line) => println!("  Backups       {line}"),
        Err(e) => println!("  Backups       FAILED: {e:#}"),
    }
    if let Some(r) = &answers.replication {
        println!("  Replication   to {} bucket {}", r.endpoint, r.bucket);
    }
    if let Some(m) = &answers.mail {
        println!(
            "  Mail          through {}: check it with `studiovault mail test ADDRESS`",
            m.host
        );
    }
    println!("\nNext steps:");
    println!(
        "  1. Back up the master key now, somewhere off this machine: {}",
        config.master_key_path().display()
    );
    println!("     Nothing in the vault, nor in any backup, can be read without it.");
    println!("     Then record it: sudo studiovault doctor --key-backed-up");
    println!("  2. sudo studiovault doctor: checks everything, any time.");
    println!("  3. Logs: journalctl --namespace=studiovault -u studiovault");
}

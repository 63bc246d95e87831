//! Configuration: embedded defaults, overridden by a TOML file, overridden by `STUDIOVAULT_*`
//! environment variables (`__` separates sections: `STUDIOVAULT_HTTP__LISTEN`), overridden by
//! command-line flags. Errors name the offending key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use studiovault_vault::{PlanQuotas, Policy, SharePolicy};

const ENV_PREFIX: &str = "STUDIOVAULT_";
/// The packaged appliance's configuration, read when neither `--config` nor
/// `$STUDIOVAULT_CONFIG` names a file, so admin commands on the box need no flags.
pub const SYSTEM_CONFIG: &str = "/etc/studiovault/studiovault.toml";
/// `studiovault setup`'s answers (`STUDIOVAULT_SETUP_TLS`, ...): flags, not config keys.
const ENV_SETUP_PREFIX: &str = "STUDIOVAULT_SETUP_";
/// Variables that steer the CLI itself rather than the config.
const ENV_NOT_CONFIG: &[&str] = &[
    "STUDIOVAULT_CONFIG",
    // The test suite's clock (debug builds only, `crate::clock`).
    "STUDIOVAULT_TEST_CLOCK_FILE",
    "STUDIOVAULT_SOCKET",
    "STUDIOVAULT_LOG",
    // Where the stem separator's model is, for `stems` and `worker run`, which read no config.
    "STUDIOVAULT_MODELS_DIR",
    // The test suite's demand that the model be installed.
    "STUDIOVAULT_REQUIRE_MODEL",
    // Which binary the test suite and the benchmarks run; the appliance it starts inherits it.
    "STUDIOVAULT_BIN",
    // Where the browser tests keep their screenshots; the appliance they start inherits it.
    "STUDIOVAULT_ARTIFACTS",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the store, blobs, keys and admin socket live.
    pub data_dir: PathBuf,
    pub http: Http,
    pub security: Security,
    pub sessions: Sessions,
    pub login: Login,
    pub privacy: Privacy,
    pub audit: Audit,
    pub accounts: Accounts,
    pub plans: Plans,
    pub analysis: Analysis,
    pub stems: Stems,
    pub shares: Shares,
    pub replication: Replication,
    pub backups: Backups,
    /// Outgoing mail: the SMTP relay notices are sent through.
    pub mail: studiovault_mail::MailConfig,
    /// HTTPS: off (plain HTTP on loopback), ACME, certificate files, or a local CA.
    pub tls: studiovault_tls::TlsConfig,
    pub admin: AdminSocket,
}

/// The admin socket: where it is, and whether the service's group may use it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSocket {
    /// Default: `<data_dir>/admin.sock`, reachable by the service user and root only.
    pub socket: Option<PathBuf>,
    /// Mode 0660 instead of 0600: members of the service's group administer the appliance
    /// without root (the package runs it in group `studiovault-admin`). The socket must then
    /// be outside the data directory, which stays 0700.
    pub group_access: bool,
}

/// Replication of the encrypted blobs to an S3 store (Backblaze B2's S3 API, or any other).
/// Off while `endpoint` is unset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Replication {
    /// `https://s3.<region>.backblazeb2.com`; plain `http://` only on loopback.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: Option<String>,
    /// Prepended to every object key, e.g. `studio-a/`.
    pub prefix: String,
    pub access_key_id: Option<String>,
    /// File holding the secret access key (mode 0600), never the key itself.
    pub secret_access_key_file: Option<PathBuf>,
    /// Seconds between a blob's deletion here and its replica's.
    pub delete_delay_seconds: u64,
    pub multipart_threshold_mib: u64,
    pub part_size_mib: u64,
    /// Uploads (or parts) in flight at once.
    pub concurrency: u32,
    /// Seconds between the worker's own checks of the whole replica (every blob listed, its
    /// recorded SHA-256 read back), each queueing again what is missing or different.
    pub check_interval_seconds: u64,
}

impl Default for Replication {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: None,
            prefix: String::new(),
            access_key_id: None,
            secret_access_key_file: None,
            delete_delay_seconds: 30 * 24 * 3600,
            multipart_threshold_mib: 16,
            part_size_mib: 8,
            concurrency: 4,
            check_interval_seconds: 7 * 24 * 3600,
        }
    }
}

/// restic snapshots and restore drills. Off while `repository` is unset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backups {
    /// A local path, or `s3:https://s3.<region>.backblazeb2.com/<bucket>/<path>`.
    pub repository: Option<String>,
    /// File holding the repository password (mode 0600).
    pub password_file: Option<PathBuf>,
    /// Credentials for an `s3:` repository.
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// The restic binary.
    pub restic: PathBuf,
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    /// Blobs a drill decrypts in full (every blob's sealed hash is checked regardless).
    pub drill_sample: u64,
    /// Where drills restore. Default: `<data_dir>/drill`.
    pub scratch_dir: Option<PathBuf>,
}

impl Default for Backups {
    fn default() -> Self {
        Self {
            repository: None,
            password_file: None,
            s3_access_key_id: None,
            s3_secret_access_key_file: None,
            restic: PathBuf::from("restic"),
            keep_hourly: 24,
            keep_daily: 7,
            keep_weekly: 12,
            drill_sample: 20,
            scratch_dir: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shares {
    /// Expiry of a share whose owner sets none.
    pub default_expiry_days: u32,
    /// Longest expiry an owner may set.
    pub max_expiry_days: u32,
    /// Plans whose shares give each recipient an own watermarked copy.
    pub watermark_plans: Vec<studiovault_api::Plan>,
    /// Watermarked copies rendered at once.
    pub render_workers: u32,
}

impl Default for Shares {
    fn default() -> Self {
        Self {
            default_expiry_days: 14,
            max_expiry_days: 90,
            watermark_plans: vec![studiovault_api::Plan::Max],
            render_workers: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// Analyses run at once, each in its own process.
    pub workers: u32,
    /// Longer audio is not analysed.
    pub max_duration_minutes: u64,
    /// Time one analysis may take.
    pub timeout_seconds: u64,
    /// Address space of one analysis process.
    pub memory_limit_mib: u64,
    /// Melody-to-MIDI transcriptions run at once, each in its own process under the limits
    /// above.
    pub transcriptions: u32,
    /// How long a transcription request waits for its turn before it is answered busy.
    pub transcription_wait_seconds: u64,
}

impl Default for Analysis {
    fn default() -> Self {
        Self {
            workers: 1,
            max_duration_minutes: 180,
            timeout_seconds: 600,
            memory_limit_mib: 1024,
            transcriptions: 1,
            transcription_wait_seconds: 30,
        }
    }
}

/// Stem separation, run by stem workers (`studiovault worker run`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stems {
    /// A worker's lease on a job lasts this long past its last heartbeat; a worker that dies
    /// loses its job to another after this.
    pub lease_seconds: u64,
}

impl Default for Stems {
    fn default() -> Self {
        Self { lease_seconds: 120 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub listen: SocketAddr,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// An upload body that sends nothing for this long is treated as cut off: what arrived of a
    /// resumable upload is kept, and the connection's resources are freed.
    pub body_idle_timeout_secs: u64,
    /// The origin browsers reach the appliance at (`https://vault.studio.example`), when it is
    /// one name: state-changing requests must come from it, and port 80 redirects to it.
    /// Unset, each request is checked against the name it was sent to.
    pub public_origin: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// The master key file (64 hex digits, mode 0600). Default: `<data_dir>/master.key`,
    /// created on first start.
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sessions {
    pub idle_timeout_minutes: u64,
    pub absolute_timeout_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Login {
    /// Failed password or code checks (sign-ins and a signed-in owner's re-checks) allowed per
    /// account *from one client address* within the window before that address is throttled
    /// for that account. Also the limit per share link and address.
    pub max_failures_per_account: u32,
    /// Failed checks allowed per account from all addresses together within the window; not
    /// applied to an address that signed in to the account in the last 30 days, so guessing
    /// from elsewhere cannot lock the owner out of their usual address.
    pub max_failures_per_account_all_clients: u32,
    /// Failed checks allowed per client address within the window, across accounts and links.
    pub max_failures_per_client: u32,
    pub window_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// Days a client-hash salt is kept before deletion.
    pub salt_retention_days: u32,
    /// Days the record of a sent message (address, delivery) is kept; the audit log keeps
    /// that it was sent.
    pub sent_mail_days: u32,
    /// Days recipients' marked copies are kept after their share or recipient ended (a share
    /// extended in that time needs no new render).
    pub ended_share_copies_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    pub checkpoint_interval_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
    pub deletion_grace_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plans {
    pub free: Plan,
    pub pro: Plan,
    pub max: Plan,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub quota_gib: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./studiovault-data"),
            http: Http::default(),
            security: Security::default(),
            sessions: Sessions::default(),
            login: Login::default(),
            privacy: Privacy::default(),
            audit: Audit::default(),
            accounts: Accounts::default(),
            plans: Plans::default(),
            analysis: Analysis::default(),
            stems: Stems::default(),
            shares: Shares::default(),
            replication: Replication::default(),
            backups: Backups::default(),
            mail: studiovault_mail::MailConfig::default(),
            tls: studiovault_tls::TlsConfig::default(),
            admin: AdminSocket::default(),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_upload_bytes: 4 << 30,
            body_idle_timeout_secs: 60,
            public_origin: None,
        }
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 12 * 60,
            absolute_timeout_days: 30,
        }
    }
}

impl Default for Login {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_account_all_clients: 20,
            max_failures_per_client: 20,
            window_seconds: 15 * 60,
        }
    }
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            salt_retention_days: 30,
            sent_mail_days: 90,
            ended_share_copies_days: 7,
        }
    }
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            checkpoint_interval_seconds: 60,
        }
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Self {
            deletion_grace_days: 30,
        }
    }
}

impl Default for Plans {
    fn default() -> Self {
        Self {
            free: Plan { quota_gib: 5 },
            pro: Plan { quota_gib: 500 },
            max: Plan { quota_gib: 2048 },
        }
    }
}

/// An S3 endpoint is HTTPS, or plain HTTP to a loopback address.
fn check_endpoint(key: &str, endpoint: &str) -> Result<(), ConfigError> {
    if endpoint.starts_with("https://") {
        return Ok(());
    }
    let host = endpoint
        .strip_prefix("http://")
        .map(|rest| rest.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or_default();
    let without_port = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let without_port = without_port.trim_start_matches('[').trim_end_matches(']');
    let loopback = without_port == "localhost"
        || without_port
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(ConfigError::Key {
            key: key.into(),
            message: format!(
                "`{endpoint}` must be an https:// URL (plain http:// only to a loopback address)"
            ),
        })
    }
}

impl Config {
    /// Defaults, then `file` (if any), then the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::from_text(&text, Some(path), env)
            }
            None => Self::from_text("", None, env),
        }
    }

    /// Defaults, then the TOML `text` (read from `file`, which errors name), then the environment.
    pub fn from_text(
        text: &str,
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Syntax {
                path: file.map_or_else(|| "(text)".into(), Path::to_owned),
                message: e.message().to_owned(),
            })?;
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_CONFIG.contains(&name.as_str())
                || name.starts_with(ENV_SETUP_PREFIX)
                || rest.is_empty()
            {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut tree, &path, parse_env_value(&value)).map_err(|message| {
                ConfigError::Key {
                    key: format!("{name} ({})", path.join(".")),
                    message,
                }
            })?;
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
                let key = e.path().to_string();
                ConfigError::Key {
                    key: if key == "." {
                        "(top level)".into()
                    } else {
                        key
                    },
                    message: e.inner().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("http.max_upload_bytes", self.http.max_upload_bytes),
            // Zero times out every body chunk not already buffered: no upload would arrive.
            (
                "http.body_idle_timeout_secs",
                self.http.body_idle_timeout_secs,
            ),
            (
                "sessions.idle_timeout_minutes",
                self.sessions.idle_timeout_minutes,
            ),
            (
                "sessions.absolute_timeout_days",
                self.sessions.absolute_timeout_days,
            ),
            ("login.window_seconds", self.login.window_seconds),
            (
                "login.max_failures_per_account",
                u64::from(self.login.max_failures_per_account),
            ),
            (
                "login.max_failures_per_account_all_clients",
                u64::from(self.login.max_failures_per_account_all_clients),
            ),
            (
                "login.max_failures_per_client",
                u64::from(self.login.max_failures_per_client),
            ),
            (
                "privacy.salt_retention_days",
                u64::from(self.privacy.salt_retention_days),
            ),
            (
                "audit.checkpoint_interval_seconds",
                self.audit.checkpoint_interval_seconds,
            ),
            ("analysis.workers", u64::from(self.analysis.workers)),
            (
                "analysis.max_duration_minutes",
                self.analysis.max_duration_minutes,
            ),
            ("analysis.timeout_seconds", self.analysis.timeout_seconds),
            ("analysis.memory_limit_mib", self.analysis.memory_limit_mib),
            (
                "analysis.transcriptions",
                u64::from(self.analysis.transcriptions),
            ),
            (
                "shares.default_expiry_days",
                u64::from(self.shares.default_expiry_days),
            ),
            (
                "shares.render_workers",
                u64::from(self.shares.render_workers),
            ),
            ("replication.part_size_mib", self.replication.part_size_mib),
            (
                "replication.concurrency",
                u64::from(self.replication.concurrency),
            ),
            (
                "replication.check_interval_seconds",
                self.replication.check_interval_seconds,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::Key {
                    key: key.into(),
                    message: "must be greater than 0".into(),
                });
            }
        }
        // Past these, the times in milliseconds overflow (a session's limit wrapped negative,
        // and every session ended on its first use).
        for (key, value, most) in [
            (
                "sessions.absolute_timeout_days",
                self.sessions.absolute_timeout_days,
                3650,
            ),
            (
                "sessions.idle_timeout_minutes",
                self.sessions.idle_timeout_minutes,
                3650 * 24 * 60,
            ),
            (
                "analysis.max_duration_minutes",
                self.analysis.max_duration_minutes,
                24 * 60,
            ),
            (
                "analysis.memory_limit_mib",
                self.analysis.memory_limit_mib,
                1 << 20,
            ),
        ] {
            if value > most {
                return Err(ConfigError::Key {
                    key: key.into(),
                    message: format!("must be at most {most}"),
                });
            }
        }
        self.mail.check().map_err(|e| match e {
            studiovault_mail::MailError::Config { key, reason } => ConfigError::Key {
                key: format!("mail.{key}"),
                message: reason,
            },
            other => ConfigError::Key {
                key: "mail".into(),
                message: other.to_string(),
            },
        })?;
        if self.sessions.idle_timeout_minutes > self.sessions.absolute_timeout_days * 24 * 60 {
            return Err(ConfigError::Key {
                key: "sessions.idle_timeout_minutes".into(),
                message: "must not exceed sessions.absolute_timeout_days".into(),
            });
        }
        if self.shares.default_expiry_days > self.shares.max_expiry_days {
            return Err(ConfigError::Key {
                key: "shares.default_expiry_days".into(),
                message: "must not exceed shares.max_expiry_days".into(),
            });
        }
        if let Some(origin) = &self.http.public_origin {
            let expected_scheme = if self.tls.enabled() {
                "https://"
            } else {
                "http://"
            };
            let plain = crate::web::normalise_origin(origin);
            if !plain
                .as_deref()
                .is_some_and(|o| o.starts_with(expected_scheme))
            {
                return Err(ConfigError::Key {
                    key: "http.public_origin".into(),
                    message: format!(
                        "`{origin}` must be a bare origin, `{expected_scheme}name[:port]`, without \
                         a path"
                    ),
                });
            }
        }
        self.validate_copies()?;
        if self.admin.group_access && self.admin_socket_path().starts_with(&self.data_dir) {
            return Err(ConfigError::Key {
                key: "admin.group_access".into(),
                message: "needs admin.socket outside the data directory, which only the service \
                          user may enter"
                    .into(),
            });
        }
        self.tls.validate().map_err(|p| ConfigError::Key {
            key: p.key,
            message: p.message,
        })?;
        if !self.tls.enabled() && !self.http.listen.ip().is_loopback() {
            return Err(ConfigError::Key {
                key: "http.listen".into(),
                message: format!(
                    "{} is not a loopback address: plain HTTP is only served on loopback, and TLS \
                     is not configured. Set tls.mode (acme, files or self-signed) to serve HTTPS \
                     on tls.https_listen, or listen on 127.0.0.1 or [::1]",
                    self.http.listen
                ),
            });
        }
        Ok(())
    }

    fn validate_copies(&self) -> Result<(), ConfigError> {
        let missing = |key: &str, because: &str| ConfigError::Key {
            key: key.into(),
            message: format!("must be set when {because} is"),
        };
        let r = &self.replication;
        if let Some(endpoint) = &r.endpoint {
            let because = "replication.endpoint";
            if r.bucket.is_none() {
                return Err(missing("replication.bucket", because));
            }
            if r.access_key_id.is_none() {
                return Err(missing("replication.access_key_id", because));
            }
            if r.secret_access_key_file.is_none() {
                return Err(missing("replication.secret_access_key_file", because));
            }
            check_endpoint("replication.endpoint", endpoint)?;
            if r.part_size_mib < 5 {
                return Err(ConfigError::Key {
                    key: "replication.part_size_mib".into(),
                    message: "must be at least 5 (the S3 minimum part size)".into(),
                });
            }
        }
        let b = &self.backups;
        if let Some(repo) = &b.repository {
            if b.password_file.is_none() {
                return Err(missing("backups.password_file", "backups.repository"));
            }
            if let Some(endpoint) = repo.strip_prefix("s3:") {
                check_endpoint("backups.repository", endpoint)?;
                if b.s3_access_key_id.is_none() || b.s3_secret_access_key_file.is_none() {
                    return Err(missing(
                        "backups.s3_access_key_id and backups.s3_secret_access_key_file",
                        "an s3: backups.repository",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn drill_scratch_dir(&self) -> PathBuf {
        self.backups
            .scratch_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("drill"))
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.security
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Where the API answers: HTTPS on `tls.https_listen` with TLS, plain HTTP on `http.listen`
    /// without.
    pub fn public_url(&self) -> String {
        if let Some(origin) = self
            .http
            .public_origin
            .as_deref()
            .and_then(crate::web::normalise_origin)
        {
            origin
        } else if let Some(origin) = self.tls.served_origin() {
            origin
        } else {
            format!("http://{}", self.http.listen)
        }
    }

    /// The limits of each child process that reads audio: analysis, renders, leak checks.
    pub fn job_limits(&self) -> crate::analysis::JobLimits {
        crate::analysis::JobLimits {
            max_duration: std::time::Duration::from_secs(self.analysis.max_duration_minutes * 60),
            timeout: std::time::Duration::from_secs(self.analysis.timeout_seconds),
            memory_bytes: self.analysis.memory_limit_mib << 20,
        }
    }

    pub fn admin_socket_path(&self) -> PathBuf {
        self.admin
            .socket
            .clone()
            .unwrap_or_else(|| self.data_dir.join("admin.sock"))
    }

    pub fn policy(&self) -> Policy {
        let gib = |p: &Plan| p.quota_gib.saturating_mul(1 << 30);
        Policy {
            replica_delete_delay_secs: self.replication.delete_delay_seconds as i64,
            backup_retention_weeks: i64::from(self.backups.keep_weekly),
            quotas: PlanQuotas {
                free: gib(&self.plans.free),
                pro: gib(&self.plans.pro),
                max: gib(&self.plans.max),
            },
            session_idle_secs: (self.sessions.idle_timeout_minutes * 60) as i64,
            session_absolute_secs: (self.sessions.absolute_timeout_days * 86_400) as i64,
            salt_retention_days: i64::from(self.privacy.salt_retention_days),
            sent_mail_retention_days: i64::from(self.privacy.sent_mail_days),
            ended_share_copies_days: i64::from(self.privacy.ended_share_copies_days),
            deletion_grace_days: i64::from(self.accounts.deletion_grace_days),
            bcrypt_cost: 12,
            shares: SharePolicy {
                default_expiry_days: i64::from(self.shares.default_expiry_days),
                max_expiry_days: i64::from(self.shares.max_expiry_days),
                watermark_plans: self.shares.watermark_plans.clone(),
            },
        }
    }
}

/// Environment values are TOML literals when they parse as one (`30`, `true`, `"x"`), strings
/// otherwise (`127.0.0.1:8080`, `/var/lib/studiovault`).
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(tree: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [leaf] => {
            tree.insert(leaf.clone(), value);
            Ok(())
        }
        [head, rest @ ..] => {
            let entry = tree
                .entry(head.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("`{head}` is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load_toml(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), env(vars))
    }

    #[test]
    fn settings_that_would_stop_the_service_are_named_by_config_check() {
        let key_of = |text: &str| match load_toml(text, &[]) {
            Err(ConfigError::Key { key, .. }) => key,
            other => panic!("expected a key error for {text:?}, got {other:?}"),
        };
        // Mail: `serve` refused these only once started, with a message naming another key.
        assert_eq!(
            key_of("[mail]\nsmtp_host = \"smtp.example\"\n"),
            "mail.from"
        );
        assert_eq!(
            key_of("[mail]\nsmtp_host = \"smtp.example\"\nfrom = \"not an address\"\n"),
            "mail.from"
        );
        assert_eq!(
            key_of(
                "[mail]\nsmtp_host = \"smtp.example\"\nfrom = \"vault@studio.example\"\n\
                 security = \"none\"\n"
            ),
            "mail.security"
        );
        assert_eq!(
            key_of(
                "[mail]\nsmtp_host = \"smtp.example\"\nfrom = \"vault@studio.example\"\n\
                 username = \"vault\"\n"
            ),
            "mail.username"
        );
        load_toml(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nfrom = \"vault@studio.example\"\n\
             security = \"none\"\n",
            &[],
        )
        .unwrap();
        // A zero idle limit cut off every upload; a huge session limit overflowed to negative.
        assert_eq!(
            key_of("[http]\nbody_idle_timeout_secs = 0\n"),
            "http.body_idle_timeout_secs"
        );
        assert_eq!(
            key_of("[sessions]\nabsolute_timeout_days = 200000000000\n"),
            "sessions.absolute_timeout_days"
        );
        assert_eq!(
            key_of("[analysis]\nmemory_limit_mib = 9000000000000000000\n"),
            "analysis.memory_limit_mib"
        );
    }

    #[test]
    fn copies_need_their_settings_and_a_safe_endpoint() {
        let ok = load_toml(
            "[replication]\nendpoint = \"https://s3.us-west-004.backblazeb2.com\"\nbucket = \"b\"\n\
             access_key_id = \"k\"\nsecret_access_key_file = \"/etc/studiovault/b2.key\"\n\
             [backups]\nrepository = \"s3:http://127.0.0.1:9000/restic\"\npassword_file = \"/p\"\n\
             s3_access_key_id = \"k\"\ns3_secret_access_key_file = \"/s\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(ok.backups.keep_weekly, 12);
        assert_eq!(ok.policy().replica_delete_delay_secs, 30 * 24 * 3600);

        let key_of = |text: &str| match load_toml(text, &[]) {
            Err(ConfigError::Key { key, .. }) => key,
            other => panic!("expected a key error, got {other:?}"),
        };
        assert_eq!(
            key_of("[replication]\nendpoint = \"https://s3.example\"\n"),
            "replication.bucket"
        );
        assert_eq!(
            key_of(
                "[replication]\nendpoint = \"http://10.0.0.5:9000\"\nbucket = \"b\"\n\
                 access_key_id = \"k\"\nsecret_access_key_file = \"/s\"\n"
            ),
            "replication.endpoint"
        );
        assert_eq!(
            key_of("[backups]\nrepository = \"/mnt/backup\"\n"),
            "backups.password_file"
        );
        for loopback in [
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
            "http://localhost:9000/",
        ] {
            assert!(check_endpoint("e", loopback).is_ok(), "{loopback}");
        }
        for remote in ["http://example.com", "http://192.168.1.2:9000", "ftp://x"] {
            assert!(check_endpoint("e", remote).is_err(), "{remote}");
        }
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, env(&[("PATH", "/bin")])).unwrap();
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./studiovault-data"));
        assert_eq!(
            c.master_key_path(),
            PathBuf::from("./studiovault-data/master.key")
        );
    }

    #[test]
    fn file_then_environment_override() {
        let c = load_toml(
            "data_dir = \"/srv/sv\"\n[http]\nlisten = \"127.0.0.1:9000\"\n[plans.pro]\nquota_gib = 7\n",
            &[("STUDIOVAULT_HTTP__LISTEN", "[::1]:9100"), ("STUDIOVAULT_SESSIONS__IDLE_TIMEOUT_MINUTES", "15")],
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/sv"));
        assert_eq!(c.http.listen.to_string(), "[::1]:9100");
        assert_eq!(c.sessions.idle_timeout_minutes, 15);
        assert_eq!(c.policy().quotas.pro, 7 << 30);
    }

    #[test]
    fn errors_name_the_bad_key() {
        let err =
            |text: &str, vars: &[(&str, &str)]| load_toml(text, vars).unwrap_err().to_string();
        assert!(err("[http]\nlisten = \"nowhere\"\n", &[]).contains("`http.listen`"));
        assert!(err("[http]\nlisen = \"127.0.0.1:1\"\n", &[]).contains("unknown field `lisen`"));
        assert!(
            err("[sessions]\nidle_timeout_minutes = -1\n", &[])
                .contains("`sessions.idle_timeout_minutes`")
        );
        assert!(
            err("", &[("STUDIOVAULT_LOGIN__WINDOW_SECONDS", "soon")])
                .contains("`login.window_seconds`")
        );
        assert!(
            err("[audit]\ncheckpoint_interval_seconds = 0\n", &[])
                .contains("must be greater than 0")
        );
        assert!(err("data_dir = [", &[]).contains("not valid TOML"));
    }

    #[test]
    fn without_a_public_origin_mail_links_name_the_certificate_not_the_wildcard_address() {
        let url = |text: &str| load_toml(text, &[]).unwrap().public_url();
        let named =
            "[tls]\nmode = \"self-signed\"\n[tls.self_signed]\nnames = [\"vault.studio.lan\"]\n";
        assert_eq!(url(named), "https://vault.studio.lan");
        let port = "[tls]\nmode = \"self-signed\"\nhttps_listen = \"0.0.0.0:8443\"\n\
                    [tls.self_signed]\nnames = [\"vault.studio.lan\"]\n";
        assert_eq!(url(port), "https://vault.studio.lan:8443");
        for default in [
            "[tls]\nmode = \"self-signed\"\n",
            "[tls]\nmode = \"files\"\n[tls.files]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n",
        ] {
            let url = url(default);
            assert!(
                url.starts_with("https://") && !url.contains("0.0.0.0"),
                "{url}"
            );
        }
        let one_address = "[tls]\nmode = \"self-signed\"\nhttps_listen = \"[::1]:8443\"\n";
        assert_eq!(url(one_address), "https://[::1]:8443");
    }

    #[test]
    fn a_public_origin_is_a_bare_origin_of_the_served_scheme() {
        let err = |text: &str| {
            load_toml(text, &[])
                .map(|c| c.public_url())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            err("[http]\npublic_origin = \"http://LOCALHOST:8080\"\n").as_deref(),
            Ok("http://localhost:8080")
        );
        for bad in [
            "https://localhost:8080",
            "http://localhost/app",
            "localhost",
        ] {
            let e = err(&format!("[http]\npublic_origin = \"{bad}\"\n")).unwrap_err();
            assert!(e.contains("`http.public_origin`"), "{bad}: {e}");
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let e = load_toml("[http]\nlisten = \"0.0.0.0:8080\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`http.listen`") && e.contains("not a loopback address"),
            "{e}"
        );
    }

    #[test]
    fn tls_settings_come_from_the_file_and_the_environment() {
        let c = load_toml(
            "[tls]\nmode = \"acme\"\n[tls.acme]\ndomains = [\"vault.studio.example\"]\n",
            &[("STUDIOVAULT_TLS__ACME__EMAIL", "ops@studio.example")],
        )
        .unwrap();
        assert_eq!(c.tls.mode, studiovault_tls::Mode::Acme);
        assert_eq!(c.tls.acme.email.as_deref(), Some("ops@studio.example"));
        assert_eq!(c.tls.https_listen.to_string(), "0.0.0.0:443");
        let e = load_toml("[tls]\nmode = \"acme\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`tls.acme.domains`"), "{e}");
        let e = load_toml("[tls]\nmode = \"https\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`tls.mode`"), "{e}");
        let e = load_toml(
            "",
            &[
                ("STUDIOVAULT_TLS__FILES__CERT", "/c.pem"),
                ("STUDIOVAULT_TLS__MODE", "files"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`tls.files.key`"), "{e}");
    }

    #[test]
    fn with_tls_a_public_address_is_allowed() {
        let c = load_toml(
            "[http]\nlisten = \"0.0.0.0:8080\"\n[tls]\nmode = \"self-signed\"\n",
            &[],
        )
        .unwrap();
        assert!(c.tls.enabled());
    }

    #[test]
    fn cli_variables_are_not_config_keys() {
        Config::load(
            None,
            env(&[
                ("STUDIOVAULT_SOCKET", "/x"),
                ("STUDIOVAULT_CONFIG", "/y"),
                ("STUDIOVAULT_LOG", "debug"),
                ("STUDIOVAULT_SETUP_TLS", "self-signed"),
            ]),
        )
        .unwrap();
    }

    /// The commented default the package installs (installer/studiovault.toml).
    const PACKAGED: &str = include_str!("../../../installer/studiovault.toml");

    /// Every `key = value` and `[section]` line of a TOML text, comment markers removed.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|line| {
                let bare = line.strip_prefix("# ").unwrap_or(line);
                let is_setting = bare.starts_with('[')
                    || bare.split_once(" = ").is_some_and(|(k, _)| {
                        k.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    });
                if is_setting { bare } else { "" }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `a.b.c` for every leaf of a TOML table.
    fn key_paths(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in table {
            let path = format!("{prefix}{key}");
            match value {
                toml::Value::Table(t) => key_paths(t, &format!("{path}."), out),
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn the_packaged_config_loads_and_names_every_setting() {
        let packaged = load_toml(PACKAGED, &[]).unwrap();
        assert_eq!(packaged.data_dir, Path::new("/var/lib/studiovault"));
        assert_eq!(
            packaged.admin_socket_path(),
            Path::new("/run/studiovault/admin.sock")
        );
        assert!(packaged.admin.group_access);

        let every = uncommented(PACKAGED);
        // Every example, uncommented, names real settings with values of the right type (the
        // examples are alternatives, so together they need not make a valid appliance).
        toml::from_str::<Config>(&every).unwrap_or_else(|e| panic!("uncommented: {e}\n{every}"));
        let mut documented = Vec::new();
        key_paths(&every.parse().unwrap(), "", &mut documented);
        let defaults: toml::Table = toml::to_string(&Config::default())
            .unwrap()
            .parse()
            .unwrap();
        let mut settings = Vec::new();
        key_paths(&defaults, "", &mut settings);
        let missing: Vec<_> = settings
            .iter()
            .filter(|k| !documented.contains(k))
            .collect();
        assert!(
            missing.is_empty(),
            "not in installer/studiovault.toml: {missing:?}"
        );
    }

    #[test]
    fn group_access_needs_a_socket_outside_the_data_directory() {
        let e = load_toml("data_dir = \"/srv/v\"\n[admin]\ngroup_access = true\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin.group_access"), "{e}");
        let c = load_toml(
            "data_dir = \"/srv/v\"\n[admin]\ngroup_access = true\nsocket = \"/run/v/a.sock\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.admin_socket_path(), Path::new("/run/v/a.sock"));
    }
}

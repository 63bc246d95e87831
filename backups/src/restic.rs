//! The external `restic` binary, driven through its `--json` output.
//!
//! The repository password is handed over as a file path (`--password-file`), never on the
//! command line or in the environment, and nothing here logs it. S3 credentials for an `s3:`
//! repository go to the child alone, in its environment.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

/// How many snapshots of each kind `forget` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
}

impl Retention {
    /// The longest any tier keeps a snapshot: no snapshot stays longer before the newest.
    pub fn horizon(&self) -> Duration {
        let hours = u64::from(self.hourly)
            .max(u64::from(self.daily) * 24)
            .max(u64::from(self.weekly) * 7 * 24);
        Duration::from_secs(hours * 3600)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            hourly: 24,
            daily: 7,
            weekly: 12,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResticError {
    #[error("cannot run restic ({binary}): {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("restic {command} failed ({status}): {stderr}")]
    Failed {
        command: &'static str,
        status: String,
        stderr: String,
    },
    #[error("creating the local repository ({step}): {source}")]
    LocalInit {
        step: &'static str,
        source: std::io::Error,
    },
    #[error("restic {command} printed output this driver does not understand: {reason}")]
    Output {
        command: &'static str,
        reason: String,
    },
    /// The repository snapshots were taken into is not there any more.
    #[error(
        "the restic repository (backups.repository) is not there, though this appliance took \
         snapshots into it: is its disk mounted, are its bucket and prefix right? Nothing was \
         created in its place; to start afresh, point backups.repository at a new location"
    )]
    Gone,
}

/// What restic says when there is no repository where it looks.
const NO_REPOSITORY: &str = "Is there a repository at the following location?";

/// S3 credentials for an `s3:` repository.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One restic repository.
#[derive(Debug, Clone)]
pub struct Restic {
    pub binary: PathBuf,
    /// A local path or `s3:https://host/bucket/prefix`.
    pub repository: String,
    pub password_file: PathBuf,
    pub cache_dir: PathBuf,
    pub s3: Option<S3Credentials>,
    /// The command line restic is started through, ending with restic's own path (the server
    /// starts it through its `run-guarded`, which ends restic when the server ends); empty:
    /// `binary` itself.
    pub launcher: Vec<std::ffi::OsString>,
}

/// The summary `restic backup --json` ends with.
#[derive(Debug, Clone, Deserialize)]
pub struct BackupSummary {
    pub snapshot_id: String,
    #[serde(default)]
    pub files_new: u64,
    #[serde(default)]
    pub files_changed: u64,
    #[serde(default)]
    pub files_unmodified: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
}

/// A snapshot as `restic snapshots --json` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    /// RFC 3339.
    pub time: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl Snapshot {
    pub fn time(&self) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::parse(&self.time, &time::format_description::well_known::Rfc3339).ok()
    }

    pub fn tags(&self) -> &[String] {
        self.tags.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct ForgetGroup {
    #[serde(default)]
    keep: Option<Vec<Snapshot>>,
    #[serde(default)]
    remove: Option<Vec<Snapshot>>,
}

/// What `forget` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgetSummary {
    pub kept: u64,
    pub removed: u64,
    /// Keyring snapshots forgotten (all but the latest).
    pub keyrings_removed: u64,
}

/// How long a command waits for another restic's lock on the repository.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The tag of the store's snapshots (with their tier's).
pub const DATA_TAG: &str = "studiovault";
/// The tag of the keyring's snapshots: the tenant keys, kept at their latest version only.
pub const KEYRING_TAG: &str = "studiovault-keyring";

impl Restic {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args);
                cmd
            }
            None => Command::new(&self.binary),
        };
        cmd.arg("--repo")
            .arg(&self.repository)
            .arg("--password-file")
            .arg(&self.password_file)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args);
        // Only what restic needs: no inherited RESTIC_* or AWS_* variable can redirect it.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.cache_dir)
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(s3) = &self.s3 {
            cmd.env("AWS_ACCESS_KEY_ID", &s3.access_key_id)
                .env("AWS_SECRET_ACCESS_KEY", &s3.secret_access_key);
        }
        cmd
    }

    /// Runs `restic ARGS`; a repository locked by another restic is waited for: its lock is
    /// removed by `restic unlock` once stale (its process gone), and the command tried again,
    /// for up to [`LOCK_WAIT`]. A restic killed with the server leaves its lock behind, and its
    /// process may linger a moment after the kill (found by the crash tests).
    async fn run(
        &self,
        command: &'static str,
        args: &[&str],
        cwd: Option<&Path>,
    ) -> Result<String, ResticError> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            match self.run_once(command, args, cwd).await {
                Err(ResticError::Failed { stderr, .. })
                    if stderr.contains("repository is already locked")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    // Removes only stale locks: a live restic keeps its own.
                    let _ = self.run_once("unlock", &["unlock"], None).await;
                }
                other => return other,
            }
        }
    }

    async fn run_once(
        &self,
        command: &'static str,
        args: &[&str],
        cwd: Option<&Path>,
    ) -> Result<String, ResticError> {
        let mut cmd = self.command(args);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let out = cmd.output().await.map_err(|source| ResticError::Spawn {
            binary: self.binary.display().to_string(),
            source,
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String = stderr
                .trim()
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" / ");
            return Err(ResticError::Failed {
                command,
                status: out.status.to_string(),
                stderr: tail,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates the repository unless it exists; answers whether it did. Only a repository
    /// that is not there is created, and only when `may_create` (the caller's store never
    /// took a snapshot into this one): any other failure to open it (a wrong password, a store
    /// that does not answer) is reported as restic said it.
    pub async fn init_if_needed(&self, may_create: bool) -> Result<bool, ResticError> {
        // `cat config` answers only for an existing, readable repository.
        match self.run("cat config", &["cat", "config"], None).await {
            Ok(_) => return Ok(false),
            Err(ResticError::Failed { stderr, .. }) if stderr.contains(NO_REPOSITORY) => {}
            Err(e) => return Err(e),
        }
        if !may_create {
            return Err(ResticError::Gone);
        }
        match self.local_path() {
            Some(path) => self.init_local(path).await?,
            // An object store takes each file whole: no half-written config.
            None => {
                self.run("init", &["init"], None).await?;
            }
        }
        Ok(true)
    }

    /// The repository's directory, when it is on a local disk.
    fn local_path(&self) -> Option<&Path> {
        let scheme = self.repository.split_once(':').map(|(s, _)| s);
        matches!(scheme, None | Some("local")).then(|| {
            Path::new(
                self.repository
                    .strip_prefix("local:")
                    .unwrap_or(&self.repository),
            )
        })
    }

    /// `restic init` into `path/.initialising`, then its parts moved up, the config last: restic
    /// writes a local config file in place, so an init killed midway would leave a repository
    /// that neither opens nor can be created again (found by the crash tests). The staging
    /// directory is inside the repository's own, the one place a hardened unit may write.
    /// While it exists, what sits beside it came from this init and may be cleared.
    async fn init_local(&self, path: &Path) -> Result<(), ResticError> {
        const PARTS: [&str; 5] = ["data", "index", "keys", "locks", "snapshots"];
        let staging = path.join(".initialising");
        let io = |step, source| ResticError::LocalInit { step, source };
        if staging.exists() && !path.join("config").exists() {
            for part in PARTS.map(|p| path.join(p)).iter().filter(|p| p.exists()) {
                std::fs::remove_dir_all(part).map_err(|e| io("clearing an interrupted init", e))?;
            }
            std::fs::remove_dir_all(&staging).map_err(|e| io("clearing an interrupted init", e))?;
        }
        let inside = Restic {
            repository: staging.display().to_string(),
            ..self.clone()
        };
        inside.run("init", &["init"], None).await?;
        let made = PARTS.into_iter().filter(|p| staging.join(p).exists());
        for part in made.chain(["config"]) {
            std::fs::rename(staging.join(part), path.join(part))
                .map_err(|e| io("moving the new repository in place", e))?;
        }
        std::fs::remove_dir(&staging).map_err(|e| io("removing the staging directory", e))
    }

    /// Backs up the contents of `dir` (stored at the snapshot's root), tagged, at `time` (UTC)
    /// or now. `--ignore-ctime`: the store links unchanged blob files anew for each snapshot,
    /// which changes only their ctime; their content and mtime say they are unchanged.
    pub async fn backup(
        &self,
        dir: &Path,
        tags: &[&str],
        time: Option<time::OffsetDateTime>,
    ) -> Result<BackupSummary, ResticError> {
        // `--quiet`: without it, JSON mode prints a status line many times a second for the
        // whole run, and a first snapshot of a large vault runs for hours.
        let mut args = vec![
            "backup",
            "--json",
            "--quiet",
            "--ignore-ctime",
            "--host",
            "studiovault",
        ];
        let tag_list = tags.join(",");
        if !tags.is_empty() {
            args.extend(["--tag", &tag_list]);
        }
        let when = time.map(format_time);
        if let Some(when) = &when {
            args.extend(["--time", when]);
        }
        args.push(".");
        let out = self.run("backup", &args, Some(dir)).await?;
        for line in out.lines().rev() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if value["message_type"] == "summary" {
                return serde_json::from_value(value).map_err(|e| ResticError::Output {
                    command: "backup",
                    reason: e.to_string(),
                });
            }
        }
        Err(ResticError::Output {
            command: "backup",
            reason: "no summary line".into(),
        })
    }

    /// The store's snapshots, oldest first.
    pub async fn snapshots(&self) -> Result<Vec<Snapshot>, ResticError> {
        self.snapshots_tagged(DATA_TAG).await
    }

    /// The keyring's snapshots (one, but for a run cut off before it forgot the last), oldest
    /// first.
    pub async fn keyrings(&self) -> Result<Vec<Snapshot>, ResticError> {
        self.snapshots_tagged(KEYRING_TAG).await
    }

    async fn snapshots_tagged(&self, tag: &str) -> Result<Vec<Snapshot>, ResticError> {
        let out = self
            .run("snapshots", &["snapshots", "--json", "--tag", tag], None)
            .await?;
        let mut list: Vec<Snapshot> =
            serde_json::from_str(out.trim()).map_err(|e| ResticError::Output {
                command: "snapshots",
                reason: e.to_string(),
            })?;
        list.sort_by_key(Snapshot::time);
        Ok(list)
    }

    /// Applies the retention to the store's snapshots and keeps the keyring's latest only,
    /// then prunes unreferenced data: a key gone from the keyring is gone from the repository.
    pub async fn forget_and_prune(
        &self,
        retention: Retention,
    ) -> Result<ForgetSummary, ResticError> {
        let (h, d, w) = (
            retention.hourly.to_string(),
            retention.daily.to_string(),
            retention.weekly.to_string(),
        );
        let out = self
            .run(
                "forget",
                // `--group-by ''`: one retention over all of them. restic groups by host and
                // path by default, and a data directory moved to another disk would start a
                // second group, keeping the old one's snapshots (and keyring) for ever.
                &[
                    "forget",
                    "--json",
                    "--group-by",
                    "",
                    "--tag",
                    DATA_TAG,
                    "--keep-hourly",
                    &h,
                    "--keep-daily",
                    &d,
                    "--keep-weekly",
                    &w,
                ],
                None,
            )
            .await?;
        let mut summary = forget_summary(&out)?;
        let aged = self.forget_older_than(retention.horizon()).await?;
        summary.kept -= aged.min(summary.kept);
        summary.removed += aged;
        let keyrings = self
            .run(
                "forget",
                &[
                    "forget",
                    "--json",
                    "--group-by",
                    "",
                    "--tag",
                    KEYRING_TAG,
                    "--keep-last",
                    "1",
                ],
                None,
            )
            .await?;
        let old_keyrings = forget_summary(&keyrings)?.removed;
        if summary.removed > 0 || old_keyrings > 0 {
            self.run("prune", &["prune"], None).await?;
        }
        summary.keyrings_removed = old_keyrings;
        Ok(summary)
    }

    /// Forgets the store's snapshots taken more than `horizon` before the newest. restic's
    /// `--keep-weekly 12` keeps the last 12 weeks *that have snapshots*: after weeks without
    /// any (the machine off, the repository's disk unmounted) it would keep older ones, past
    /// the 12 weeks the deletion certificate promises. Answers how many went.
    async fn forget_older_than(&self, horizon: Duration) -> Result<u64, ResticError> {
        let snapshots = self.snapshots().await?;
        let Some(newest) = snapshots.iter().filter_map(Snapshot::time).max() else {
            return Ok(0);
        };
        let cutoff = newest - horizon;
        let old: Vec<&str> = snapshots
            .iter()
            .filter(|s| s.time().is_some_and(|t| t < cutoff))
            .map(|s| s.id.as_str())
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        let mut args = vec!["forget"];
        args.extend(&old);
        self.run("forget", &args, None).await?;
        Ok(old.len() as u64)
    }

    /// `restic check`: the repository's structure is sound.
    pub async fn check(&self) -> Result<(), ResticError> {
        self.run("check", &["check"], None).await.map(drop)
    }

    /// Restores `snapshot` (an id, or `latest`: the newest of the store's snapshots) into
    /// `target`.
    pub async fn restore(&self, snapshot: &str, target: &Path) -> Result<(), ResticError> {
        self.restore_tagged(snapshot, DATA_TAG, target).await
    }

    /// Restores the latest keyring into `target`.
    pub async fn restore_keyring(&self, target: &Path) -> Result<(), ResticError> {
        self.restore_tagged("latest", KEYRING_TAG, target).await
    }

    async fn restore_tagged(
        &self,
        snapshot: &str,
        tag: &str,
        target: &Path,
    ) -> Result<(), ResticError> {
        let target = target.to_string_lossy();
        self.run(
            "restore",
            &["restore", snapshot, "--tag", tag, "--target", &target],
            None,
        )
        .await
        .map(drop)
    }
}

/// What `restic forget --json` printed, counted.
fn forget_summary(out: &str) -> Result<ForgetSummary, ResticError> {
    let json = out.lines().find(|l| l.starts_with('[')).unwrap_or("[]");
    let groups: Vec<ForgetGroup> = serde_json::from_str(json).map_err(|e| ResticError::Output {
        command: "forget",
        reason: e.to_string(),
    })?;
    let mut summary = ForgetSummary::default();
    for g in groups {
        summary.kept += g.keep.map_or(0, |k| k.len() as u64);
        summary.removed += g.remove.map_or(0, |r| r.len() as u64);
    }
    Ok(summary)
}

fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_restic_reads_them() {
        let t = time::macros::datetime!(2026-03-04 05:06:07 UTC);
        assert_eq!(format_time(t), "2026-03-04 05:06:07");
    }

    /// A local repository `<dir>/repo` whose password file `<dir>/password` holds `password`;
    /// run with the `restic` on PATH, as the appliance does (`scripts/test` installs it).
    fn local(dir: &Path, password: &str) -> Restic {
        let password_file = dir.join("password");
        std::fs::write(&password_file, password).unwrap();
        Restic {
            binary: "restic".into(),
            repository: dir.join("repo").display().to_string(),
            password_file,
            cache_dir: dir.join("cache"),
            s3: None,
            launcher: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_local_init_killed_midway_is_started_over_and_lands_whole() {
        let dir = tempfile::tempdir().unwrap();
        let restic = local(dir.path(), "a repository passphrase");
        // What an init killed midway leaves: a config and no key in the staging directory,
        // and a part already moved up.
        let staging = dir.path().join("repo/.initialising");
        std::fs::create_dir_all(staging.join("keys")).unwrap();
        std::fs::write(staging.join("config"), b"").unwrap();
        std::fs::create_dir_all(dir.path().join("repo/data/00")).unwrap();
        assert!(restic.init_if_needed(true).await.unwrap(), "created");
        assert!(!staging.exists(), "the interrupted attempt is gone");
        assert!(
            !restic.init_if_needed(true).await.unwrap(),
            "and the repository opens"
        );
    }

    #[tokio::test]
    async fn only_a_repository_that_is_not_there_is_created_and_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let restic = local(dir.path(), "the right passphrase");
        // Snapshots were taken into it, and it is gone (an unmounted disk): nothing is made.
        assert!(matches!(
            restic.init_if_needed(false).await,
            Err(ResticError::Gone)
        ));
        assert!(!dir.path().join("repo").join("config").exists());
        assert!(restic.init_if_needed(true).await.unwrap());
        // A wrong password is said as such; no second repository is started inside the first.
        std::fs::write(&restic.password_file, "a wrong passphrase").unwrap();
        let wrong = restic.init_if_needed(true).await.unwrap_err().to_string();
        assert!(wrong.contains("wrong password"), "{wrong}");
        assert!(!dir.path().join("repo/.initialising").exists());
    }

    #[tokio::test]
    async fn the_retention_spans_snapshots_of_every_path_a_data_directory_had() {
        let dir = tempfile::tempdir().unwrap();
        let restic = local(dir.path(), "a repository passphrase");
        restic.init_if_needed(true).await.unwrap();
        // The data directory moved to a bigger disk between two keyrings.
        for (i, place) in ["old-disk", "new-disk"].into_iter().enumerate() {
            let keyring = dir.path().join(place).join("keyring");
            std::fs::create_dir_all(&keyring).unwrap();
            std::fs::write(keyring.join("keyring.json"), format!("{{\"v\":{i}}}")).unwrap();
            restic.backup(&keyring, &[KEYRING_TAG], None).await.unwrap();
        }
        let retention = Retention {
            hourly: 1,
            daily: 1,
            weekly: 1,
        };
        let summary = restic.forget_and_prune(retention).await.unwrap();
        assert_eq!(
            summary.keyrings_removed, 1,
            "the old disk's keyring went too"
        );
        assert_eq!(restic.keyrings().await.unwrap().len(), 1);
    }

    #[test]
    fn credentials_never_print_the_secret() {
        let c = S3Credentials {
            access_key_id: "id".into(),
            secret_access_key: "very-secret".into(),
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}

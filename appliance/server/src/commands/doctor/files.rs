//! The files' side of the checks: who may read the data directory, the master key and every
//! secret file, who may write the config; and the record that the master key is backed up.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use studiovault_vault::MasterKey;

use super::Finding;
use crate::config::Config;

/// Where `doctor` records that the master key is backed up, beside the data it opens.
pub fn key_backup_record(config: &Config) -> PathBuf {
    config.data_dir.join("key-backup.json")
}

/// That a copy of the master key is kept off the machine, and which key (by fingerprint, so a
/// new key is asked about again).
#[derive(Debug, Serialize, Deserialize)]
struct KeyBackup {
    fingerprint: String,
    /// Unix seconds.
    confirmed_at: i64,
}

/// Every secret file the configuration names, with what it is.
fn secret_files(config: &Config) -> Vec<(&'static str, &Path)> {
    let named = [
        (
            "backups.password_file",
            config.backups.password_file.as_deref(),
        ),
        (
            "backups.s3_secret_access_key_file",
            config.backups.s3_secret_access_key_file.as_deref(),
        ),
        (
            "replication.secret_access_key_file",
            config.replication.secret_access_key_file.as_deref(),
        ),
        ("mail.password_file", config.mail.password_file.as_deref()),
        ("tls.files.key", config.tls.files.key.as_deref()),
    ];
    named
        .into_iter()
        .filter_map(|(key, path)| path.map(|p| (key, p)))
        .collect()
}

/// The private files of `<data_dir>/tls`: the served certificate's key
/// (`key-and-certificate.pem`, `key.pem` before), the local
/// CA's (`local-ca.key`), which signs certificates every studio browser trusts, and the ACME
/// account's (`acme-account.json`), which can revoke or order certificates for the domain.
fn is_tls_secret(name: &str) -> bool {
    (name.ends_with(".pem") && name.contains("key"))
        || name.ends_with(".key")
        || name == "acme-account.json"
}

/// A file only `uid` may read: owned by it, no group or other bits.
fn private_to(path: &Path, uid: u32, what: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if meta.uid() != uid {
        return Err(format!(
            "{what} {} belongs to uid {}, not the service's ({uid}): `chown {uid} {}`",
            path.display(),
            meta.uid(),
            path.display()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{what} {} is mode {:o}, readable by others: `chmod {} {}`",
            path.display(),
            meta.mode() & 0o777,
            if meta.is_dir() { "700" } else { "600" },
            path.display()
        ));
    }
    Ok(())
}

/// The data directory, the master key, the certificates' keys and every secret file: private
/// to the service's user; the config: written by root alone.
pub fn permissions(config: &Config, config_file: Option<&Path>, service_uid: u32) -> Vec<Finding> {
    let mut findings = Vec::new();
    let data = match private_to(&config.data_dir, service_uid, "the data directory") {
        Ok(()) => Finding::ok(
            "data directory",
            format!("{} is 0700, the service's own", config.data_dir.display()),
        ),
        Err(why) => Finding::fail("data directory", why),
    };
    findings.push(data);

    let mut keys = vec![("the master key".to_owned(), config.master_key_path())];
    if let Ok(dir) = std::fs::read_dir(config.data_dir.join("tls")) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_tls_secret(&name) {
                keys.push((format!("the TLS key {name}"), entry.path()));
            }
        }
    }
    let problems: Vec<String> = keys
        .iter()
        .filter_map(|(what, path)| private_to(path, service_uid, what).err())
        .collect();
    findings.push(match problems.is_empty() {
        true => Finding::ok(
            "key files",
            format!("{} private to the service", keys.len()),
        ),
        false => Finding::fail("key files", problems.join("; ")),
    });

    let secrets = secret_files(config);
    let problems: Vec<String> = secrets
        .iter()
        .filter_map(|(key, path)| private_to(path, service_uid, key).err())
        .collect();
    findings.push(match (secrets.is_empty(), problems.is_empty()) {
        (true, _) => Finding::skip("secret files", "the configuration names none".into()),
        (false, true) => Finding::ok(
            "secret files",
            format!("{} private to the service", secrets.len()),
        ),
        (false, false) => Finding::fail("secret files", problems.join("; ")),
    });

    findings.push(match config_file {
        None => Finding::skip("config file", "none: the embedded defaults".into()),
        Some(file) => match std::fs::metadata(file) {
            Err(e) => Finding::fail("config file", format!("{}: {e}", file.display())),
            Ok(meta) if meta.uid() != 0 || meta.mode() & 0o022 != 0 => Finding::fail(
                "config file",
                format!(
                    "{} may be written by others than root (uid {}, mode {:o}): `chown root {0}; \
                     chmod 644 {0}`",
                    file.display(),
                    meta.uid(),
                    meta.mode() & 0o777
                ),
            ),
            Ok(_) => Finding::ok(
                "config file",
                format!("{} is written by root alone", file.display()),
            ),
        },
    });
    findings
}

/// Asks on the terminal whether the key is kept elsewhere; no terminal is a no.
pub fn ask_backed_up(key_path: &Path) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!(
        "Is a copy of the master key {} kept somewhere off this machine (a password manager, a \
         safe)? [y/N] ",
        key_path.display()
    );
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}

/// Writes the record as the data directory's owner would (0600), atomically.
fn record_backup(path: &Path, record: &KeyBackup, owner: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(&serde_json::to_vec_pretty(record)?)?;
    file.sync_all()?;
    rustix::fs::chown(&tmp, Some(rustix::fs::Uid::from_raw(owner)), None)
        .with_context(|| format!("giving {} to uid {owner}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The master key must be kept off this machine: `confirm` is asked once (the terminal, or
/// `--key-backed-up`), and a yes is recorded with the key's fingerprint.
pub fn key_backup(
    config: &Config,
    service_uid: u32,
    confirm: impl FnOnce(&Path) -> bool,
) -> Finding {
    const CHECK: &str = "master key backup";
    let key_path = config.master_key_path();
    let key = match MasterKey::load(&key_path) {
        Ok(key) => key,
        Err(e) => return Finding::fail(CHECK, e.to_string()),
    };
    let record_path = key_backup_record(config);
    let recorded: Option<KeyBackup> = std::fs::read(&record_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(record) = recorded.filter(|r| r.fingerprint == key.fingerprint()) {
        return Finding::ok(
            CHECK,
            format!(
                "confirmed {} for key {}",
                crate::human::when(record.confirmed_at * 1000),
                record.fingerprint
            ),
        );
    }
    if !confirm(&key_path) {
        return Finding::fail(
            CHECK,
            format!(
                "not confirmed: copy {} off this machine (nothing in the vault can be read \
                 without it), then run `studiovault doctor --key-backed-up`",
                key_path.display()
            ),
        );
    }
    let record = KeyBackup {
        fingerprint: key.fingerprint(),
        confirmed_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    match record_backup(&record_path, &record, service_uid) {
        Ok(()) => Finding::ok(
            CHECK,
            format!("recorded now for key {}", record.fingerprint),
        ),
        Err(e) => Finding::fail(CHECK, format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::Verdict;
    use super::*;

    fn config_in(dir: &Path) -> Config {
        Config {
            data_dir: dir.join("data"),
            ..Config::default()
        }
    }

    #[test]
    fn shared_files_and_a_writable_config_fail() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        std::fs::create_dir(&config.data_dir).unwrap();
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        MasterKey::load_or_create(&config.master_key_path()).unwrap();
        let secret = dir.path().join("restic-password");
        std::fs::write(&secret, "pw\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
        config.backups.password_file = Some(secret.clone());
        let me = rustix::process::geteuid().as_raw();

        let verdicts = |config: &Config| -> Vec<(&'static str, Verdict)> {
            permissions(config, None, me)
                .into_iter()
                .map(|f| (f.check, f.verdict))
                .collect()
        };
        assert_eq!(
            verdicts(&config),
            [
                ("data directory", Verdict::Ok),
                ("key files", Verdict::Ok),
                ("secret files", Verdict::Fail),
                ("config file", Verdict::Skip),
            ]
        );
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(verdicts(&config)[2].1, Verdict::Ok);
        // The TLS directory's keys, the local CA's and the ACME account's among them.
        let tls = config.data_dir.join("tls");
        std::fs::create_dir(&tls).unwrap();
        std::fs::write(tls.join("local-ca.pem"), "public").unwrap();
        std::fs::set_permissions(
            tls.join("local-ca.pem"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        for name in [
            "key-and-certificate.pem",
            "local-ca.key",
            "acme-account.json",
        ] {
            let file = tls.join(name);
            std::fs::write(&file, "secret").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(verdicts(&config)[1].1, Verdict::Fail, "{name}");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(verdicts(&config)[1].1, Verdict::Ok, "{name}");
        }
        // Someone else's uid owns nothing here.
        assert_eq!(permissions(&config, None, me + 1)[0].verdict, Verdict::Fail);
    }

    #[test]
    fn a_key_backup_is_recorded_once_and_only_for_that_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        std::fs::create_dir(&config.data_dir).unwrap();
        MasterKey::load_or_create(&config.master_key_path()).unwrap();
        let me = rustix::process::geteuid().as_raw();

        let (yes, no) = (|_: &Path| true, |_: &Path| false);
        assert_eq!(key_backup(&config, me, no).verdict, Verdict::Fail);
        assert_eq!(key_backup(&config, me, yes).verdict, Verdict::Ok);
        assert_eq!(
            key_backup(&config, me, no).verdict,
            Verdict::Ok,
            "asked once"
        );
        let mode = std::fs::metadata(key_backup_record(&config))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // A new key is a new question.
        std::fs::remove_file(config.master_key_path()).unwrap();
        MasterKey::load_or_create(&config.master_key_path()).unwrap();
        assert_eq!(key_backup(&config, me, no).verdict, Verdict::Fail);
    }
}

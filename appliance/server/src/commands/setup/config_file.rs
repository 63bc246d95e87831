//! The configuration `setup` writes: the package's layout and the answers, nothing else (every
//! other setting keeps its default, documented in the commented copy the package ships).

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::answers::{Answers, Tls};
use crate::commands::layout;

/// The first line of a configuration `setup` wrote.
pub const MARKER: &str = "# Written by `studiovault setup`";

/// The secret files `setup` writes, by what they hold.
pub const BACKUPS_PASSWORD: &str = "backups-password";
pub const BACKUPS_S3_SECRET: &str = "backups-s3-secret-key";
pub const REPLICATION_SECRET: &str = "replication-secret-key";
pub const MAIL_PASSWORD: &str = "mail-password";

pub fn secret_path(name: &str) -> PathBuf {
    Path::new(layout::SECRETS_DIR).join(name)
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

fn path(name: &str) -> Value {
    text(&secret_path(name).display().to_string())
}

/// A table of `pairs`.
fn table<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The `[tls]` section, and the public origin when the appliance has one name.
fn tls(tls: &Tls) -> (Value, Option<String>) {
    match tls {
        Tls::Acme {
            domain,
            email,
            directory,
        } => {
            let mut acme = Table::new();
            acme.insert("domains".into(), Value::Array(vec![text(domain)]));
            if let Some(email) = email {
                acme.insert("email".into(), text(email));
            }
            if let Some(directory) = directory {
                acme.insert("directory_url".into(), text(directory));
            }
            (
                table([("mode", text("acme")), ("acme", Value::Table(acme))]),
                Some(format!("https://{domain}")),
            )
        }
        Tls::Files { cert, key } => (
            table([
                ("mode", text("files")),
                (
                    "files",
                    table([
                        ("cert", text(&cert.display().to_string())),
                        ("key", text(&key.display().to_string())),
                    ]),
                ),
            ]),
            None,
        ),
        Tls::SelfSigned { names } if names.is_empty() => {
            (table([("mode", text("self-signed"))]), None)
        }
        Tls::SelfSigned { names } => {
            let mut all = default_self_signed_names();
            all.extend(names.iter().cloned());
            let names = Value::Array(all.iter().map(|n| text(n)).collect());
            (
                table([
                    ("mode", text("self-signed")),
                    ("self_signed", table([("names", names)])),
                ]),
                None,
            )
        }
    }
}

/// What self-signed mode covers by default, kept when the admin adds names (the setting
/// replaces the default list).
fn default_self_signed_names() -> Vec<String> {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let mut names = Vec::new();
    if !host.is_empty() {
        names.push(host.clone());
        names.push(format!("{host}.local"));
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(str::to_owned));
    names
}

/// The configuration file for `answers`, dated `written_at`.
pub fn render(answers: &Answers, written_at: &str) -> String {
    let mut root = Table::new();
    root.insert("data_dir".into(), text(layout::DATA_DIR));
    root.insert(
        "admin".into(),
        table([
            ("socket", text(layout::ADMIN_SOCKET)),
            ("group_access", Value::Boolean(true)),
        ]),
    );
    let (tls, origin) = tls(&answers.tls);
    root.insert("tls".into(), tls);
    if let Some(origin) = origin {
        root.insert("http".into(), table([("public_origin", text(&origin))]));
    }
    if let Some(b) = &answers.backups {
        let mut backups = Table::new();
        backups.insert("repository".into(), text(&b.repository));
        backups.insert("password_file".into(), path(BACKUPS_PASSWORD));
        if let Some((id, _)) = &b.s3 {
            backups.insert("s3_access_key_id".into(), text(id));
            backups.insert("s3_secret_access_key_file".into(), path(BACKUPS_S3_SECRET));
        }
        root.insert("backups".into(), Value::Table(backups));
    }
    if let Some(r) = &answers.replication {
        let mut replication = Table::new();
        replication.insert("endpoint".into(), text(&r.endpoint));
        if let Some(region) = &r.region {
            replication.insert("region".into(), text(region));
        }
        replication.insert("bucket".into(), text(&r.bucket));
        replication.insert("access_key_id".into(), text(&r.key_id));
        replication.insert("secret_access_key_file".into(), path(REPLICATION_SECRET));
        root.insert("replication".into(), Value::Table(replication));
    }
    if let Some(m) = &answers.mail {
        let mut mail = Table::new();
        mail.insert("smtp_host".into(), text(&m.host));
        if let Some(port) = m.port {
            mail.insert("smtp_port".into(), Value::Integer(i64::from(port)));
        }
        if let Some(security) = &m.security {
            mail.insert("security".into(), text(security));
        }
        if let Some((user, _)) = &m.login {
            mail.insert("username".into(), text(user));
            mail.insert("password_file".into(), path(MAIL_PASSWORD));
        }
        mail.insert("from".into(), text(&m.from));
        root.insert("mail".into(), Value::Table(mail));
    }
    format!(
        "{MARKER} on {written_at}; `studiovault setup --reconfigure` writes it again.\n\
         # Every other setting, commented with its default: {}\n\
         # Secrets are files in {} (mode 0600, owned by the studiovault user).\n\n{}",
        layout::DEFAULT_CONFIG,
        layout::SECRETS_DIR,
        toml::to_string(&Value::Table(root)).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::super::answers::{Backups, Mail, Replication, Secret};
    use super::*;
    use crate::config::Config;
    use studiovault_api::Plan;

    fn answers(tls: Tls) -> Answers {
        Answers {
            tls,
            admin: None,
            owner: "ana@studio.example".into(),
            owner_plan: Plan::Max,
            backups: None,
            replication: None,
            mail: None,
        }
    }

    fn load(text: &str) -> Config {
        assert!(text.starts_with(MARKER));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("studiovault.toml");
        std::fs::write(&file, text).unwrap();
        Config::load(Some(&file), []).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn self_signed_keeps_the_default_names_and_adds_the_studios() {
        let plain = load(&render(&answers(Tls::SelfSigned { names: vec![] }), "now"));
        assert_eq!(plain.tls.mode, studiovault_tls::Mode::SelfSigned);
        assert!(plain.tls.self_signed.names.is_empty(), "the defaults apply");
        assert_eq!(plain.data_dir, Path::new(layout::DATA_DIR));
        assert_eq!(plain.admin_socket_path(), Path::new(layout::ADMIN_SOCKET));
        assert!(plain.admin.group_access);
        assert!(plain.backups.repository.is_none() && plain.mail.smtp_host.is_none());

        let named = load(&render(
            &answers(Tls::SelfSigned {
                names: vec!["vault.lan".into(), "192.168.1.20".into()],
            }),
            "now",
        ));
        let names = &named.tls.self_signed.names;
        assert!(names.contains(&"localhost".to_owned()) && names.contains(&"vault.lan".to_owned()));
    }

    #[test]
    fn acme_sets_the_public_origin_and_every_section_loads() {
        let mut all = answers(Tls::Acme {
            domain: "vault.studio.example".into(),
            email: Some("ops@studio.example".into()),
            directory: None,
        });
        all.backups = Some(Backups {
            repository: "s3:https://s3.us-west-004.backblazeb2.com/b/vault".into(),
            password: None,
            s3: Some(("id2".into(), Secret("s".into()))),
        });
        all.replication = Some(Replication {
            endpoint: "https://s3.us-west-004.backblazeb2.com".into(),
            region: Some("us-west-004".into()),
            bucket: "replica".into(),
            key_id: "id1".into(),
            secret: Secret("s".into()),
        });
        all.mail = Some(Mail {
            host: "smtp.studio.example".into(),
            port: Some(465),
            security: Some("tls".into()),
            login: Some(("vault".into(), Secret("s".into()))),
            from: "Studio Vault <vault@studio.example>".into(),
        });
        let text = render(&all, "2026-06-01 12:00 UTC");
        assert!(
            !text.contains("\"s\""),
            "no secret is written into the config"
        );
        let c = load(&text);
        assert_eq!(c.tls.acme.domains, ["vault.studio.example"]);
        assert_eq!(
            c.http.public_origin.as_deref(),
            Some("https://vault.studio.example")
        );
        assert_eq!(
            c.backups.password_file.as_deref(),
            Some(secret_path(BACKUPS_PASSWORD).as_path())
        );
        assert_eq!(
            c.backups.s3_secret_access_key_file.as_deref(),
            Some(secret_path(BACKUPS_S3_SECRET).as_path())
        );
        assert_eq!(c.replication.region, "us-west-004");
        assert_eq!(
            c.replication.secret_access_key_file.as_deref(),
            Some(secret_path(REPLICATION_SECRET).as_path())
        );
        assert_eq!(c.mail.smtp_port, 465);
        assert_eq!(
            c.mail.password_file.as_deref(),
            Some(secret_path(MAIL_PASSWORD).as_path())
        );
    }

    #[test]
    fn a_bad_answer_is_caught_by_the_config_check() {
        let text = render(
            &answers(Tls::Acme {
                domain: "localhost".into(),
                email: None,
                directory: None,
            }),
            "now",
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        let e = Config::load(Some(&file), []).unwrap_err().to_string();
        assert!(e.contains("tls.acme.domains"), "{e}");
    }
}

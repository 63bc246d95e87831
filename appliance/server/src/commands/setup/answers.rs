//! What `setup` needs to know, from flags and STUDIOVAULT_SETUP_* variables, and asked on the
//! terminal for the rest unless unattended.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use studiovault_api::Plan;

use crate::cli::{SetupArgs, SetupTls};

/// A secret typed or passed in; never printed.
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug)]
pub enum Tls {
    Acme {
        domain: String,
        email: Option<String>,
        directory: Option<String>,
    },
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    SelfSigned {
        names: Vec<String>,
    },
}

#[derive(Debug)]
pub struct Backups {
    pub repository: String,
    /// None: keep the password file an earlier setup wrote, or generate one.
    pub password: Option<Secret>,
    /// An `s3:` repository's key id and secret key.
    pub s3: Option<(String, Secret)>,
}

#[derive(Debug)]
pub struct Replication {
    pub endpoint: String,
    pub region: Option<String>,
    pub bucket: String,
    pub key_id: String,
    pub secret: Secret,
}

#[derive(Debug)]
pub struct Mail {
    pub host: String,
    pub port: Option<u16>,
    pub security: Option<String>,
    /// The relay's user name and password.
    pub login: Option<(String, Secret)>,
    pub from: String,
}

#[derive(Debug)]
pub struct Answers {
    pub tls: Tls,
    /// A Unix user to join the studiovault-admin group.
    pub admin: Option<String>,
    pub owner: String,
    pub owner_plan: Plan,
    pub backups: Option<Backups>,
    pub replication: Option<Replication>,
    pub mail: Option<Mail>,
}

/// Asks on the terminal, or (unattended) answers nothing.
struct Prompt {
    interactive: bool,
}

impl Prompt {
    fn line(&self, question: &str, default: Option<&str>) -> anyhow::Result<Option<String>> {
        if !self.interactive {
            return Ok(default.map(str::to_owned));
        }
        match default {
            Some(d) => print!("{question} [{d}]: "),
            None => print!("{question}: "),
        }
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer")?;
        let answer = answer.trim();
        Ok(match answer {
            "" => default.map(str::to_owned),
            given => Some(given.to_owned()),
        })
    }

    /// A line typed without echo.
    fn secret(&self, question: &str) -> anyhow::Result<Option<Secret>> {
        if !self.interactive {
            return Ok(None);
        }
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
        let mut quiet = saved.clone();
        quiet.local_modes -= LocalModes::ECHO;
        print!("{question} (not shown): ");
        std::io::stdout().flush()?;
        tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
        let mut answer = String::new();
        let read = stdin.lock().read_line(&mut answer);
        tcsetattr(&stdin, OptionalActions::Now, &saved).context("turning echo back on")?;
        println!();
        read.context("reading the answer")?;
        let answer = answer.trim_end_matches(['\n', '\r']);
        Ok((!answer.is_empty()).then(|| Secret(answer.to_owned())))
    }
}

/// A secret from its variable, else asked.
fn secret(prompt: &Prompt, var: &str, question: &str) -> anyhow::Result<Option<Secret>> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Some(Secret(value))),
        _ => prompt.secret(question),
    }
}

/// A flag's value, else asked.
fn given_or_asked(
    prompt: &Prompt,
    given: Option<String>,
    question: &str,
    default: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match given {
        Some(v) => Ok(Some(v)),
        None => prompt.line(question, default),
    }
}

/// A value setup cannot go without.
fn required(value: Option<String>, flag: &str) -> anyhow::Result<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => bail!(
            "--{flag} (or STUDIOVAULT_SETUP_{}) is required",
            flag.to_ascii_uppercase().replace('-', "_")
        ),
    }
}

fn tls(prompt: &Prompt, args: &SetupArgs) -> anyhow::Result<Tls> {
    let mode = match args.tls {
        Some(mode) => mode,
        None if !prompt.interactive => {
            bail!("--tls (or STUDIOVAULT_SETUP_TLS) is required: acme, files or self-signed")
        }
        None => {
            let answer = prompt.line(
                "HTTPS certificate: acme (a public domain, Let's Encrypt), self-signed (a local \
                 CA, for a LAN), or files (certificates you have)",
                Some("self-signed"),
            )?;
            match answer.as_deref() {
                Some("acme") => SetupTls::Acme,
                Some("files") => SetupTls::Files,
                Some("self-signed") => SetupTls::SelfSigned,
                other => bail!(
                    "--tls must be acme, files or self-signed, not `{}`",
                    other.unwrap_or_default()
                ),
            }
        }
    };
    Ok(match mode {
        SetupTls::Acme => Tls::Acme {
            domain: required(
                given_or_asked(
                    prompt,
                    args.domain.clone(),
                    "Domain (it must resolve to this machine)",
                    None,
                )?,
                "domain",
            )?,
            email: given_or_asked(
                prompt,
                args.acme_email.clone(),
                "Contact address for the CA (empty: none)",
                None,
            )?,
            directory: args.acme_directory.clone(),
        },
        SetupTls::Files => Tls::Files {
            cert: required(
                given_or_asked(
                    prompt,
                    args.cert.as_ref().map(|p| p.display().to_string()),
                    "Certificate chain (PEM file)",
                    None,
                )?,
                "cert",
            )?
            .into(),
            key: required(
                given_or_asked(
                    prompt,
                    args.key.as_ref().map(|p| p.display().to_string()),
                    "Private key (PEM file)",
                    None,
                )?,
                "key",
            )?
            .into(),
        },
        SetupTls::SelfSigned => Tls::SelfSigned {
            names: if args.names.is_empty() {
                prompt
                    .line(
                        "Other names or addresses the studio uses for this machine, \
                         comma-separated (empty: none)",
                        None,
                    )?
                    .map(|list| {
                        list.split(',')
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty())
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                args.names.clone()
            },
        },
    })
}

fn backups(prompt: &Prompt, args: &SetupArgs) -> anyhow::Result<Option<Backups>> {
    let Some(repository) = given_or_asked(
        prompt,
        args.backups_repository.clone(),
        "restic repository for snapshots: a path on another disk, or \
         s3:https://HOST/BUCKET/PATH (empty: no backups)",
        None,
    )?
    else {
        return Ok(None);
    };
    let s3 = if repository.starts_with("s3:") {
        let id = required(
            given_or_asked(
                prompt,
                args.backups_s3_key_id.clone(),
                "Its access key id",
                None,
            )?,
            "backups-s3-key-id",
        )?;
        let Some(key) = secret(
            prompt,
            "STUDIOVAULT_SETUP_BACKUPS_S3_SECRET_KEY",
            "Its secret key",
        )?
        else {
            bail!("an s3: repository needs STUDIOVAULT_SETUP_BACKUPS_S3_SECRET_KEY");
        };
        Some((id, key))
    } else {
        None
    };
    Ok(Some(Backups {
        repository,
        password: secret(
            prompt,
            "STUDIOVAULT_SETUP_BACKUPS_PASSWORD",
            "Repository password (empty: generate one)",
        )?,
        s3,
    }))
}

fn replication(prompt: &Prompt, args: &SetupArgs) -> anyhow::Result<Option<Replication>> {
    let Some(endpoint) = given_or_asked(
        prompt,
        args.replication_endpoint.clone(),
        "Replicate every blob to an S3 endpoint, e.g. https://s3.us-west-004.backblazeb2.com \
         (empty: no replica)",
        None,
    )?
    else {
        return Ok(None);
    };
    let region = given_or_asked(
        prompt,
        args.replication_region.clone(),
        "Region",
        Some("us-east-1"),
    )?;
    let bucket = required(
        given_or_asked(prompt, args.replication_bucket.clone(), "Bucket", None)?,
        "replication-bucket",
    )?;
    let key_id = required(
        given_or_asked(
            prompt,
            args.replication_key_id.clone(),
            "Access key id",
            None,
        )?,
        "replication-key-id",
    )?;
    let Some(secret) = secret(
        prompt,
        "STUDIOVAULT_SETUP_REPLICATION_SECRET_KEY",
        "Secret key",
    )?
    else {
        bail!("replication needs STUDIOVAULT_SETUP_REPLICATION_SECRET_KEY");
    };
    Ok(Some(Replication {
        endpoint,
        region,
        bucket,
        key_id,
        secret,
    }))
}

fn mail(prompt: &Prompt, args: &SetupArgs) -> anyhow::Result<Option<Mail>> {
    let Some(host) = given_or_asked(
        prompt,
        args.mail_host.clone(),
        "SMTP relay for notices (empty: no mail)",
        None,
    )?
    else {
        return Ok(None);
    };
    let port = match given_or_asked(
        prompt,
        args.mail_port.map(|p| p.to_string()),
        "Port",
        Some("587"),
    )? {
        Some(p) => Some(p.parse().with_context(|| format!("`{p}` is not a port"))?),
        None => None,
    };
    let security = given_or_asked(
        prompt,
        args.mail_security.clone(),
        "Security: starttls, tls or none",
        Some("starttls"),
    )?;
    let login = match given_or_asked(
        prompt,
        args.mail_username.clone(),
        "User name at the relay (empty: none)",
        None,
    )? {
        Some(user) => match secret(prompt, "STUDIOVAULT_SETUP_MAIL_PASSWORD", "Its password")? {
            Some(password) => Some((user, password)),
            None => bail!("a relay user name needs STUDIOVAULT_SETUP_MAIL_PASSWORD"),
        },
        None => None,
    };
    let from = required(
        given_or_asked(
            prompt,
            args.mail_from.clone(),
            "Sender, e.g. Studio Vault <vault@studio.example>",
            None,
        )?,
        "mail-from",
    )?;
    Ok(Some(Mail {
        host,
        port,
        security,
        login,
        from,
    }))
}

/// Everything setup needs: from flags and variables, the rest asked unless unattended (or
/// without a terminal).
pub fn gather(args: &SetupArgs) -> anyhow::Result<Answers> {
    let prompt = Prompt {
        interactive: !args.unattended && std::io::stdin().is_terminal(),
    };
    let tls = tls(&prompt, args)?;
    let sudo_user = std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty() && u != "root");
    let admin = given_or_asked(
        &prompt,
        args.admin.clone(),
        "Unix user who administers the appliance without sudo (empty: root only)",
        sudo_user.as_deref(),
    )?;
    let owner = required(
        given_or_asked(
            &prompt,
            args.owner.clone(),
            "The first owner's e-mail address",
            None,
        )?,
        "owner",
    )?;
    Ok(Answers {
        tls,
        admin,
        owner,
        owner_plan: args.owner_plan,
        backups: backups(&prompt, args)?,
        replication: replication(&prompt, args)?,
        mail: mail(&prompt, args)?,
    })
}

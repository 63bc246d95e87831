//! A real SMTP relay on loopback for mail tests: Debian's python3-aiosmtpd, driven by
//! `tests/fixtures/smtp-server`, with its own CA and TLS certificate, requiring
//! authentication, writing what it receives into a maildir.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The SMTP server, killed when dropped.
#[derive(Debug)]
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    implicit_tls: bool,
}

fn maildir(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("maildir-{port}"))
}

/// Starts `tests/fixtures/smtp-server` on `port` and waits until it says it is ready.
fn spawn(dir: &Path, port: u16, implicit_tls: bool) -> Child {
    let fixture = crate::crate_dir().join("fixtures/smtp-server");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(fixture)
        .args(["--port", &port.to_string(), "--user", "vault"])
        .arg("--maildir")
        .arg(maildir(dir, port))
        .arg("--cert")
        .arg(dir.join("relay.pem"))
        .arg("--key")
        .arg(dir.join("relay.key"))
        .arg("--password-file")
        .arg(dir.join("password"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if implicit_tls {
        cmd.arg("--implicit-tls");
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("python3-aiosmtpd is missing? install Debian's python3-aiosmtpd (scripts/test does): {e}")
    });
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(
        ready.trim(),
        "ready",
        "the SMTP server did not start (is python3-aiosmtpd installed?)"
    );
    child
}

impl Smtp {
    pub fn start(dir: &Path, implicit_tls: bool) -> Self {
        let port = free_port();
        Self {
            child: spawn(dir, port, implicit_tls),
            port,
            maildir: maildir(dir, port),
            implicit_tls,
        }
    }

    /// Kills the relay, as a crash would: its port refuses connections until
    /// [`Smtp::start_again`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the relay again on the same port, keeping what it received.
    pub fn start_again(&mut self, dir: &Path) {
        self.stop();
        self.child = spawn(dir, self.port, self.implicit_tls);
    }

    /// The messages received so far, raw.
    pub fn received(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| {
                d.flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA, and a certificate for 127.0.0.1 it signed, written into `dir`.
pub fn relay_identity(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("relay.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("relay.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("password"), "correct relay secret\n").unwrap();
}

impl Smtp {
    /// A relay over STARTTLS with its identity in `dir` (made here).
    pub fn start_trusted(dir: &Path) -> Self {
        relay_identity(dir);
        Self::start(dir, false)
    }

    /// The `STUDIOVAULT_MAIL__*` settings of a server sending through this relay, with the
    /// identity in `dir` (that of [`Smtp::start_trusted`]).
    pub fn server_env(&self, dir: &Path) -> Vec<(String, String)> {
        [
            ("STUDIOVAULT_MAIL__SMTP_HOST", "127.0.0.1".to_owned()),
            ("STUDIOVAULT_MAIL__SMTP_PORT", self.port.to_string()),
            ("STUDIOVAULT_MAIL__SECURITY", "starttls".to_owned()),
            ("STUDIOVAULT_MAIL__USERNAME", "vault".to_owned()),
            (
                "STUDIOVAULT_MAIL__PASSWORD_FILE",
                dir.join("password").display().to_string(),
            ),
            (
                "STUDIOVAULT_MAIL__CA_FILE",
                dir.join("ca.pem").display().to_string(),
            ),
            (
                "STUDIOVAULT_MAIL__FROM",
                "\"Studio Vault <vault@studio.test>\"".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Waits up to `within` for at least `count` messages; answers what arrived.
    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

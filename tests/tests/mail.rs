//! Outgoing mail against a real SMTP server on loopback (Debian's python3-aiosmtpd, driven by
//! `tests/fixtures/smtp-server`): `studiovault mail test` over STARTTLS and over implicit TLS,
//! authenticated, trusting the relay's private CA through `mail.ca_file`; a wrong password or
//! an untrusted certificate fails with a clear error and delivers nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use studiovault_e2e::{binary, free_port};

/// The SMTP server, killed when dropped.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Smtp {
    fn start(dir: &Path, implicit_tls: bool) -> Self {
        let port = free_port();
        let maildir = dir.join(format!("maildir-{port}"));
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/smtp-server");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(fixture)
            .args(["--port", &port.to_string(), "--user", "vault"])
            .arg("--maildir")
            .arg(&maildir)
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
        Self {
            child,
            port,
            maildir,
        }
    }

    /// The messages received so far, raw.
    fn received(&self) -> Vec<String> {
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, and a certificate for 127.0.0.1 it signed, written into `dir`.
fn relay_identity(dir: &Path) {
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

fn mail_test(dir: &Path, smtp: &Smtp, security: &str, password: &str, trust_ca: bool) -> Output {
    let secret = dir.join(format!("secret-{}", password.len()));
    std::fs::write(&secret, format!("{password}\n")).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["mail", "test", "ana@label.test", "--data-dir"])
        .arg(dir.join("data"))
        .env("STUDIOVAULT_MAIL__SMTP_HOST", "127.0.0.1")
        .env("STUDIOVAULT_MAIL__SMTP_PORT", smtp.port.to_string())
        .env("STUDIOVAULT_MAIL__SECURITY", security)
        .env("STUDIOVAULT_MAIL__USERNAME", "vault")
        .env("STUDIOVAULT_MAIL__PASSWORD_FILE", &secret)
        .env(
            "STUDIOVAULT_MAIL__FROM",
            "\"Studio Vault <vault@studio.test>\"",
        );
    if trust_ca {
        cmd.env("STUDIOVAULT_MAIL__CA_FILE", dir.join("ca.pem"));
    }
    cmd.output().unwrap()
}

#[test]
fn mail_test_reaches_a_real_relay_over_starttls_and_tls_with_auth() {
    let dir = tempfile::tempdir().unwrap();
    relay_identity(dir.path());
    for (security, implicit) in [("starttls", false), ("tls", true)] {
        let smtp = Smtp::start(dir.path(), implicit);
        let out = mail_test(dir.path(), &smtp, security, "correct relay secret", true);
        assert!(
            out.status.success(),
            "{security}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let received = smtp.received();
        assert_eq!(received.len(), 1, "{security}");
        let mail = &received[0];
        for expected in [
            "X-Tls: yes",
            "X-Auth-User: vault",
            "X-RcptTo: ana@label.test",
            "Subject: Studio Vault can send mail",
            "From: \"Studio Vault\" <vault@studio.test>",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
        ] {
            assert!(
                mail.contains(expected),
                "{security}: `{expected}` missing in:\n{mail}"
            );
        }
        assert!(!mail.contains("src=3D\"http"), "nothing remote in the HTML");

        // A wrong password and an untrusted certificate: a clear error, nothing delivered.
        let wrong = mail_test(dir.path(), &smtp, security, "wrong", true);
        let stderr = String::from_utf8_lossy(&wrong.stderr);
        assert!(!wrong.status.success());
        assert!(
            stderr.contains(&format!("sending through 127.0.0.1:{}", smtp.port)),
            "{stderr}"
        );
        let untrusted = mail_test(dir.path(), &smtp, security, "correct relay secret", false);
        let stderr = String::from_utf8_lossy(&untrusted.stderr);
        assert!(!untrusted.status.success());
        assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
        assert_eq!(
            smtp.received().len(),
            1,
            "{security}: the failures delivered nothing"
        );
    }
}

#[test]
fn clear_text_mail_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["mail", "test", "ana@label.test", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("STUDIOVAULT_MAIL__SMTP_HOST", "smtp.example.com")
        .env("STUDIOVAULT_MAIL__SECURITY", "none")
        .env("STUDIOVAULT_MAIL__FROM", "\"vault@studio.test\"")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("mail.security: `none` sends in the clear"),
        "{stderr}"
    );
}

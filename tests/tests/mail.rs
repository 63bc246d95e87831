//! Outgoing mail against a real SMTP server on loopback (Debian's python3-aiosmtpd, driven by
//! `tests/fixtures/smtp-server`): `studiovault mail test` over STARTTLS and over implicit TLS,
//! authenticated, trusting the relay's private CA through `mail.ca_file`; a wrong password or
//! an untrusted certificate fails with a clear error and delivers nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use studiovault_e2e::smtp::{Smtp, relay_identity};
use studiovault_e2e::{Server, binary};

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
    // Refused as the configuration loads, naming the key, as `config check` refuses it.
    assert!(
        stderr.contains("`mail.security`: `none` sends in the clear"),
        "{stderr}"
    );
}

#[test]
fn a_purged_account_is_mailed_its_certificate_of_deletion_through_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_trusted(dir.path());
    let env = smtp.server_env(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    server.add_user("leaving@studio.test", "pro");
    server.add_user("staying@studio.test", "pro");
    server.cli_ok(&["user", "delete", "leaving@studio.test"], None);

    // Inside the grace nothing is purged and nothing is mailed.
    assert_eq!(server.housekeeping()["purged"], serde_json::json!([]));
    server.advance_clock(31 * 86_400);
    let report = server.housekeeping();
    assert_eq!(report["purged"].as_array().map(Vec::len), Some(1));

    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(
        received.len(),
        1,
        "one certificate, to the purged account only"
    );
    let mail = &received[0];
    for expected in [
        "X-RcptTo: leaving@studio.test",
        "Subject: Certificate of deletion of your Studio Vault account",
        "can no longer",
    ] {
        assert!(mail.contains(expected), "`{expected}` missing in:\n{mail}");
    }
    let audit = server.cli_ok(&["audit", "tail", "--action", "account.purge"], None);
    let certificate = audit
        .split("certificate ")
        .nth(1)
        .and_then(|rest| rest.get(..32))
        .unwrap_or_else(|| panic!("the purge's audit record names no certificate:\n{audit}"));
    assert!(
        mail.contains(certificate),
        "the mail carries the audited id"
    );

    // Once sent, the outbox holds nothing: the address went with the message, and the audit log
    // records the send.
    let sent = server.cli_ok(&["audit", "tail", "--action", "mail.sent"], None);
    assert!(sent.contains("deletion-certificate"), "{sent}");
    let mail_line = server
        .cli_ok(&["status"], None)
        .lines()
        .find(|l| l.trim_start().starts_with("Mail"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(mail_line.contains("nothing waiting"), "{mail_line}");
}

#[test]
fn a_relay_down_when_a_mail_is_due_gets_it_once_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = Smtp::start_trusted(dir.path());
    let env = smtp.server_env(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    server.add_user("leaving@studio.test", "pro");
    smtp.stop();

    // The certificate of deletion falls due while the relay is down: the attempt fails and the
    // message waits in the outbox for its retry.
    server.cli_ok(&["user", "delete", "leaving@studio.test"], None);
    server.advance_clock(31 * 86_400);
    assert_eq!(
        server.housekeeping()["purged"].as_array().map(Vec::len),
        Some(1)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let failed = server.cli_ok(&["audit", "tail", "--action", "mail.failed"], None);
        if failed.contains("to be retried") || std::time::Instant::now() > deadline {
            break failed;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(failed.contains("deletion-certificate"), "{failed}");
    assert!(failed.contains("attempt 1, to be retried"), "{failed}");
    assert!(smtp.received().is_empty());

    // The relay comes back; past the backoff the retry delivers it, once.
    smtp.start_again(dir.path());
    server.advance_clock(120);
    let received = smtp.wait_for(1, Duration::from_secs(60));
    assert_eq!(
        received.len(),
        1,
        "the certificate arrives after the outage"
    );
    assert!(received[0].contains("X-RcptTo: leaving@studio.test"));
    let sent = server.cli_ok(&["audit", "tail", "--action", "mail.sent"], None);
    assert_eq!(sent.matches("deletion-certificate").count(), 1, "{sent}");
    let mail_line = server
        .cli_ok(&["status"], None)
        .lines()
        .find(|l| l.trim_start().starts_with("Mail"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(mail_line.contains("nothing waiting"), "{mail_line}");
    assert_eq!(smtp.received().len(), 1, "sent once, not once per attempt");
}

//! A full disk under the vault: the upload that does not fit is refused with `507 disk_full`
//! and a body that says so, nothing of it stays on disk, what was acknowledged before stays
//! whole, the audit chain verifies, and once space is back uploads work again. A store commit
//! that meets a full disk (no upload, only records) is refused the same way and corrupts
//! nothing: `studiovault store-check` passes once space is back.
//!
//! Replication waits while the disk is full instead of sending the same batch again and again,
//! and catches up once space is back.
//!
//! The data directory is a small tmpfs, which needs root (`mount`); elsewhere the test says
//! why and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use studiovault_e2e::s3::{ACCESS_KEY_ID, S3Server};
use studiovault_e2e::{Owner, Server, plain, sha256_hex, wav};

/// A tmpfs mounted on a directory, unmounted (lazily, so a process still inside cannot stop
/// it) when dropped: declared before the server, it outlives it.
struct Tmpfs(Option<PathBuf>);

impl Tmpfs {
    fn mount(&mut self, dir: &Path, size: &str) -> bool {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            self.0 = Some(dir.to_owned());
        }
        ok
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = Command::new("umount").arg("-l").arg(&dir).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_that_fills_the_disk_is_refused_and_loses_nothing() {
    if !is_root() {
        eprintln!("SKIP: mounting a small tmpfs for the data directory needs root");
        return;
    }
    let mut tmpfs = Tmpfs(None);
    let mut mounted = false;
    let server = Server::start_prepared(&[], |dir| mounted = tmpfs.mount(dir, "24m"));
    if !mounted {
        eprintln!("SKIP: mount -t tmpfs failed here");
        return;
    }
    server.add_user("eng@studio.test", "free"); // no analysis: only the uploads write blobs
    let owner = Owner::signed_in(&server, "eng@studio.test").await;
    let kept = wav(2.0, 1);
    let kept_id = owner.upload_ok("Take 1.wav", kept.clone()).await;

    // About 42 MiB into a disk with less than 24 MiB free.
    let res = owner.upload("Take 2 (long).wav", wav(250.0, 2)).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"], "disk_full", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disk is full"),
        "{body}"
    );

    // Nothing of the refused upload stays: no temp file, no track, no extra blob.
    assert!(
        server.files_under("tmp").is_empty(),
        "{:?}",
        server.files_under("tmp")
    );
    let (_, tracks) = owner.get_json("/api/tracks").await;
    let items = tracks["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{tracks}");
    assert_eq!(server.files_under("blobs").len(), 1);
    let audio = owner
        .get(&format!("/api/tracks/{kept_id}/audio"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        sha256_hex(&audio),
        sha256_hex(&kept),
        "the acknowledged take is intact"
    );
    server.cli_ok(&["audit", "verify"], None);

    // The space the refused upload took is back: a take that fits is stored.
    owner.upload_ok("Take 3.wav", wav(2.0, 3)).await;
    assert!(
        server.log().contains("disk is full"),
        "the admin finds it in the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_that_meets_a_full_disk_is_refused_and_corrupts_nothing() {
    if !is_root() {
        eprintln!("SKIP: mounting a small tmpfs for the data directory needs root");
        return;
    }
    let mut tmpfs = Tmpfs(None);
    let mut mounted = false;
    let mut server = Server::start_prepared(&[], |dir| mounted = tmpfs.mount(dir, "24m"));
    if !mounted {
        eprintln!("SKIP: mount -t tmpfs failed here");
        return;
    }
    server.add_user("eng@studio.test", "free");
    let owner = Owner::signed_in(&server, "eng@studio.test").await;
    let kept = wav(2.0, 1);
    let id = owner.upload_ok("Take 1.wav", kept.clone()).await;

    // Fill what is left of the disk, then rename the take until a commit finds no room.
    let filler = server.data_dir().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output();
    let mut renamed = 0;
    let refusal = loop {
        let body =
            serde_json::json!({ "name": format!("Take 1, rename {renamed} {}", "x".repeat(100)) });
        let (status, answer) = owner
            .send(
                reqwest::Method::PATCH,
                &format!("/api/tracks/{id}"),
                Some(body),
            )
            .await;
        if status != 200 {
            break (status, answer);
        }
        renamed += 1;
        assert!(renamed < 20_000, "20 000 commits found room on a full disk");
    };
    assert_eq!(refusal.0, 507, "{}", refusal.1);
    assert_eq!(refusal.1["error"], "disk_full", "{}", refusal.1);

    // Space comes back: writes work again without a restart, nothing acknowledged was lost,
    // and the store is sound.
    std::fs::remove_file(&filler).unwrap();
    let (status, answer) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/tracks/{id}"),
            Some(serde_json::json!({ "name": "Take 1, once space is back" })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    renamed = usize::MAX; // the name is now this one
    server.stop();
    let out = server.cli(&["store-check", "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(out.status.success(), "{report}");
    server.start_again();
    let owner = Owner::signed_in(&server, "eng@studio.test").await;
    let (_, track) = owner.get_json(&format!("/api/tracks/{id}")).await;
    let last_acknowledged = match renamed {
        usize::MAX => "Take 1, once space is back".to_owned(),
        0 => "Take 1".to_owned(),
        n => format!("Take 1, rename {}", n - 1),
    };
    assert!(
        track["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&last_acknowledged),
        "the last acknowledged name is kept: {track}"
    );
    let audio = owner
        .get(&format!("/api/tracks/{id}/audio"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&audio), sha256_hex(&kept));
    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/tracks/{id}"),
            Some(serde_json::json!({ "name": "Take 1, final" })),
        )
        .await;
    assert_eq!(status, 200);
    server.cli_ok(&["audit", "verify"], None);
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_pauses_while_the_disk_is_full_and_catches_up_once_space_is_back() {
    if !is_root() {
        eprintln!("SKIP: mounting a small tmpfs for the data directory needs root");
        return;
    }
    let mut s3 = S3Server::start();
    let secret = s3.secret_file().display().to_string();
    let endpoint = s3.endpoint();
    let env = [
        ("STUDIOVAULT_REPLICATION__ENDPOINT", endpoint.as_str()),
        ("STUDIOVAULT_REPLICATION__BUCKET", "replica"),
        ("STUDIOVAULT_REPLICATION__ACCESS_KEY_ID", ACCESS_KEY_ID),
        (
            "STUDIOVAULT_REPLICATION__SECRET_ACCESS_KEY_FILE",
            secret.as_str(),
        ),
    ];
    let mut tmpfs = Tmpfs(None);
    let mut mounted = false;
    let server = Server::start_prepared(&env, |dir| mounted = tmpfs.mount(dir, "24m"));
    if !mounted {
        eprintln!("SKIP: mount -t tmpfs failed here");
        return;
    }
    server.add_user("eng@studio.test", "free");
    let owner = Owner::signed_in(&server, "eng@studio.test").await;

    // The replica is down when the take comes in: its upload fails, and that is recorded.
    s3.stop();
    owner.upload_ok("Take 1.wav", wav(2.0, 1)).await;
    wait_replication(&server, "the failed upload recorded", |s| s["failing"] == 1);

    // Then the disk fills, and the replica comes back: every upload now succeeds but cannot be
    // recorded as done, so the task stays due.
    let filler = server.data_dir().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output();
    s3.start_again();
    let unrecorded_passes = || {
        plain(&server.log())
            .matches("cannot update the replication queue")
            .count()
    };
    let before = unrecorded_passes();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let passes = unrecorded_passes() - before;
    assert!(
        passes <= 5,
        "{passes} passes in 10 s sent the same batch again without a pause"
    );

    // Space comes back: the queue drains without a restart, and the replica is the take.
    std::fs::remove_file(&filler).unwrap();
    let status = wait_replication(&server, "the take replicated", |s| {
        s["uploads_pending"] == 0 && s["failing"] == 0
    });
    assert!(status["last_success_ms"].is_i64(), "{status}");
    let out = server.cli_ok(&["replicate", "verify", "--json"], None);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["replicas_ok"], 1, "{report}");
    assert!(
        plain(&server.log()).contains("the replication queue can be updated again"),
        "the admin reads in the log that it recovered"
    );
}

/// Waits (up to two minutes) until `check` holds on `studiovault replicate status --json`.
fn wait_replication(
    server: &Server,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = server.cli_ok(&["replicate", "status", "--json"], None);
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        if check(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "replication never got to: {what}; last status {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

//! Never lose a take: replication to a real S3 server (SeaweedFS on loopback), restic snapshots
//! with their retention, restore drills that pass and fail, and a full disaster recovery onto an
//! empty data directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use studiovault_e2e::s3::{ACCESS_KEY_ID, S3Server};
use studiovault_e2e::{Owner, Server, plain, sha256_hex, wav};

const RESTIC_PASSWORD: &str = "restic repository test passphrase";

/// `STUDIOVAULT_*` variables for replication to `s3` (multipart from 5 MiB on), and a restic
/// repository at `repository` (a path or `s3:` URL) whose password is in `dir`.
fn copies_env(s3: &S3Server, dir: &Path, repository: &str) -> Vec<(String, String)> {
    let password = dir.join("restic.password");
    std::fs::write(&password, RESTIC_PASSWORD).unwrap();
    let secret = s3.secret_file().display().to_string();
    let vars = [
        ("STUDIOVAULT_REPLICATION__ENDPOINT", s3.endpoint()),
        ("STUDIOVAULT_REPLICATION__BUCKET", "replica".into()),
        (
            "STUDIOVAULT_REPLICATION__ACCESS_KEY_ID",
            ACCESS_KEY_ID.into(),
        ),
        (
            "STUDIOVAULT_REPLICATION__SECRET_ACCESS_KEY_FILE",
            secret.clone(),
        ),
        ("STUDIOVAULT_REPLICATION__DELETE_DELAY_SECONDS", "1".into()),
        (
            "STUDIOVAULT_REPLICATION__MULTIPART_THRESHOLD_MIB",
            "5".into(),
        ),
        ("STUDIOVAULT_REPLICATION__PART_SIZE_MIB", "5".into()),
        ("STUDIOVAULT_BACKUPS__REPOSITORY", repository.into()),
        (
            "STUDIOVAULT_BACKUPS__PASSWORD_FILE",
            password.display().to_string(),
        ),
        (
            "STUDIOVAULT_BACKUPS__S3_ACCESS_KEY_ID",
            ACCESS_KEY_ID.into(),
        ),
        ("STUDIOVAULT_BACKUPS__S3_SECRET_ACCESS_KEY_FILE", secret),
    ];
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn start(env: &[(String, String)]) -> Server {
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start_with(&refs)
}

fn json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = server.cli_ok(&all, None);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} --json: {e}: {out}"))
}

/// The audit records of `action`, oldest first (`audit tail --json` writes one per line).
fn audit_records(server: &Server, action: &str) -> Vec<Value> {
    let out = server.cli_ok(&["audit", "tail", "--action", action, "--json"], None);
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Runs a CLI command expected to fail with exit status 1 and JSON on stdout.
fn json_failing(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = server.cli(&all, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} should fail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until `check` holds on `studiovault replicate status --json`.
fn wait_replication(server: &Server, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = json(server, &["replicate", "status"]);
        if check(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "replication never got to: {what}; last status {status}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn capability<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["capabilities"]
        .as_array()
        .and_then(|caps| caps.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no capability {name} in {status}"))
}

/// Object keys of the replicas the server says it holds, by track blob.
fn replica_keys(server: &Server) -> Vec<String> {
    let mut keys: Vec<String> = server
        .files_under("blobs")
        .iter()
        .map(|p| {
            p.strip_prefix(server.data_dir())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_and_deletions_replicate_and_verify_finds_a_lost_replica() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let env = copies_env(&s3, dir.path(), "unused");
    let server = start(&env);
    server.add_user("ana@studio.test", "free");
    let owner = Owner::signed_in(&server, "ana@studio.test").await;

    // 12.3 MB: three parts of a multipart upload at the 5 MiB part size.
    let big = wav(70.0, 1);
    let small = wav(1.0, 2);
    let big_id = owner.upload_ok("big.wav", big.clone()).await;
    let small_id = owner.upload_ok("small.wav", small.clone()).await;
    wait_replication(&server, "both uploads replicated", |s| {
        s["uploads_pending"] == 0 && s["last_success_ms"].is_i64()
    });
    let log = plain(&server.log());
    assert!(
        log.contains("multipart upload complete parts=3"),
        "the big blob should go up in three parts:\n{log}"
    );

    // The replicas are the encrypted files, byte for byte: no plaintext leaves. (Runs of 64
    // bytes of the audio: a 4-byte "RIFF" turns up in 12 MB of ciphertext by chance about
    // once in 350 runs.)
    let keys = replica_keys(&server);
    assert_eq!(keys.len(), 2);
    let plaintext: Vec<&[u8]> = [&big, &small]
        .iter()
        .flat_map(|audio| [&audio[..64], &audio[audio.len() / 2..audio.len() / 2 + 64]])
        .collect();
    for key in &keys {
        let local = std::fs::read(server.data_dir().join(key)).unwrap();
        let replica = s3.object("replica", key).expect("replica present");
        assert_eq!(sha256_hex(&replica), sha256_hex(&local), "{key}");
        assert!(
            !replica.windows(64).any(|w| plaintext.contains(&w)),
            "a replica holds plaintext"
        );
    }
    let report = json(&server, &["replicate", "verify"]);
    assert_eq!(report["blobs"], 2);
    assert_eq!(report["replicas_ok"], 2);
    assert_eq!(report["findings"], serde_json::json!([]));

    // A replica lost behind the server's back is named by `replicate verify`.
    s3.delete_object("replica", &keys[0]);
    let report = json_failing(&server, &["replicate", "verify"]);
    assert_eq!(report["replicas_ok"], 1);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["key"], keys[0].as_str());
    assert_eq!(findings[0]["problem"], "missing");
    let human = server.cli(&["replicate", "verify"], None);
    assert!(String::from_utf8_lossy(&human.stdout).contains(&format!("MISSING  {}", keys[0])));

    // One written over with something else is named too, and `--repair` queues both for
    // upload again: the replica is whole once more, byte for byte, and the admin's repair is
    // in the audit log.
    s3.overwrite_object("replica", &keys[1], b"not the blob");
    let report = json_failing(&server, &["replicate", "verify", "--repair"]);
    let problems: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["problem"].as_str().unwrap())
        .collect();
    assert_eq!(problems, ["missing", "differs"], "{report}");
    assert_eq!(report["requeued"], 2, "{report}");
    wait_replication(&server, "the repair replicated", |s| {
        s["uploads_pending"] == 0
    });
    for key in &keys {
        let local = std::fs::read(server.data_dir().join(key)).unwrap();
        let replica = s3.object("replica", key).expect("replica back");
        assert_eq!(sha256_hex(&replica), sha256_hex(&local), "{key}");
    }
    assert_eq!(json(&server, &["replicate", "verify"])["replicas_ok"], 2);
    let requeues = audit_records(&server, "replica.requeue");
    assert_eq!(requeues.len(), 1, "{requeues:?}");
    assert_eq!(requeues[0]["actor"], "admin", "{requeues:?}");

    // Deleting tracks deletes their replicas once the grace (1 s here) has passed.
    for id in [&big_id, &small_id] {
        let (status, _) = owner
            .send(reqwest::Method::DELETE, &format!("/api/tracks/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }
    wait_replication(&server, "deletions replicated", |s| {
        s["deletes_due"] == 0 && s["deletes_waiting"] == 0
    });
    for key in &keys {
        assert_eq!(s3.object("replica", key), None, "{key} outlived its track");
    }
    let status = json(&server, &["status"]);
    assert_eq!(capability(&status, "Replication")["state"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_checks_the_replica_itself_and_uploads_again_what_the_store_lost() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = copies_env(&s3, dir.path(), "unused");
    env.push((
        "STUDIOVAULT_REPLICATION__CHECK_INTERVAL_SECONDS".into(),
        "2".into(),
    ));
    let server = start(&env);
    server.add_user("cy@studio.test", "free");
    let owner = Owner::signed_in(&server, "cy@studio.test").await;
    owner.upload_ok("take.wav", wav(2.0, 9)).await;
    wait_replication(&server, "the upload replicated", |s| {
        s["uploads_pending"] == 0 && s["last_success_ms"].is_i64()
    });
    let key = replica_keys(&server).remove(0);
    let local = std::fs::read(server.data_dir().join(&key)).unwrap();

    // The store loses an object it had acknowledged; nobody runs `replicate verify`.
    s3.delete_object("replica", &key);
    let deadline = Instant::now() + Duration::from_secs(60);
    while s3.object("replica", &key).is_none() {
        assert!(
            Instant::now() < deadline,
            "the lost replica never came back\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        sha256_hex(&s3.object("replica", &key).unwrap()),
        sha256_hex(&local)
    );
    let requeues = audit_records(&server, "replica.requeue");
    assert_eq!(
        requeues.first().map(|r| &r["actor"]),
        Some(&serde_json::json!("system")),
        "{requeues:?}"
    );
    let status = wait_replication(&server, "a check after the repair", |s| {
        s["last_check"]["replicas_ok"] == 1
    });
    assert_eq!(status["last_check"]["error"], Value::Null, "{status}");
    assert!(
        plain(&server.log()).contains("queued for upload again"),
        "the repair is logged as a warning"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_resumes_after_the_s3_server_was_down_and_the_vault_restarted() {
    let mut s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let env = copies_env(&s3, dir.path(), "unused");
    let mut server = start(&env);
    server.add_user("ben@studio.test", "free");
    s3.stop();

    let owner = Owner::signed_in(&server, "ben@studio.test").await;
    let audio = wav(3.0, 7);
    owner.upload_ok("take.wav", audio).await;
    let status = wait_replication(&server, "the outage noticed", |s| {
        s["failing"] == 1 && s["last_error"].is_string()
    });
    assert_eq!(status["uploads_pending"], 1);
    let overall = json(&server, &["status"]);
    assert_eq!(capability(&overall, "Replication")["state"], "failing");

    // The queue is in the store: a restart of the vault during the outage loses nothing.
    server.restart();
    assert_eq!(
        json(&server, &["replicate", "status"])["uploads_pending"],
        1
    );
    s3.start_again();
    wait_replication(&server, "caught up after the outage", |s| {
        s["uploads_pending"] == 0 && s["failing"] == 0
    });
    let report = json(&server, &["replicate", "verify"]);
    assert_eq!(report["replicas_ok"], 1, "{report}");
    assert!(plain(&server.log()).contains("replication recovered"));
}

/// The snapshot times the repository holds, oldest first.
fn snapshot_times(server: &Server) -> Vec<String> {
    json(server, &["backup", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time"].as_str().unwrap()[..16].to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_keeps_the_tiers_and_weekly_snapshots_age_out() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo").display().to_string();
    let mut env = copies_env(&s3, dir.path(), &repo);
    env.extend(
        [
            ("STUDIOVAULT_BACKUPS__KEEP_HOURLY", "2"),
            ("STUDIOVAULT_BACKUPS__KEEP_DAILY", "2"),
            ("STUDIOVAULT_BACKUPS__KEEP_WEEKLY", "3"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let server = start(&env);
    server.add_user("cy@studio.test", "free");
    let owner = Owner::signed_in(&server, "cy@studio.test").await;
    owner.upload_ok("a.wav", wav(1.0, 3)).await;

    // Six weekly snapshots (Mondays), two daily, two hourly, in simulated time.
    let timeline = [
        ("weekly", "2026-01-05 00:00"),
        ("weekly", "2026-01-12 00:00"),
        ("weekly", "2026-01-19 00:00"),
        ("weekly", "2026-01-26 00:00"),
        ("weekly", "2026-02-02 00:00"),
        ("weekly", "2026-02-09 00:00"),
        ("daily", "2026-02-10 00:00"),
        ("daily", "2026-02-11 00:00"),
        ("hourly", "2026-02-11 01:00"),
        ("hourly", "2026-02-11 02:00"),
    ];
    let mut forgotten = 0;
    for (tier, time) in timeline {
        let report = json(&server, &["backup", "run", "--tier", tier, "--time", time]);
        assert_eq!(report["tier"], tier);
        assert_eq!(report["check_ok"], true, "{report}");
        assert_eq!(report["blobs"], 1);
        forgotten += report["forgotten"].as_u64().unwrap();
    }
    // hourly 2: 02:00, 01:00; daily 2: Feb 11 (02:00), Feb 10; weekly 3: the weeks of Feb 9
    // (Feb 11 02:00), Feb 2 and Jan 26. The rest aged out, the oldest weeks first.
    assert_eq!(
        snapshot_times(&server),
        [
            "2026-01-26T00:00",
            "2026-02-02T00:00",
            "2026-02-10T00:00",
            "2026-02-11T01:00",
            "2026-02-11T02:00"
        ]
    );
    assert_eq!(forgotten, 5);
    // Sixteen weeks without a snapshot (the machine was off), then one: what is older than
    // the three weeks kept goes, though restic's count of weeks with snapshots would keep it.
    let after_gap = json(
        &server,
        &[
            "backup",
            "run",
            "--tier",
            "weekly",
            "--time",
            "2026-06-01 00:00",
        ],
    );
    assert_eq!(after_gap["forgotten"], 5, "{after_gap}");
    assert_eq!(snapshot_times(&server), ["2026-06-01T00:00"]);
    let ahead = server.cli(
        &[
            "backup",
            "run",
            "--tier",
            "hourly",
            "--time",
            "2099-01-01 00:00",
        ],
        None,
    );
    assert!(
        !ahead.status.success()
            && String::from_utf8_lossy(&ahead.stderr).contains("dated in the future"),
        "{}",
        String::from_utf8_lossy(&ahead.stderr)
    );
    let tags = json(&server, &["backup", "list"]);
    let tags: Vec<&str> = tags[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(
        tags.contains(&"studiovault")
            && tags.contains(&"weekly")
            && tags.iter().any(|t| t.starts_with("studiovault-store-")),
        "{tags:?}"
    );

    // The repository's disk is not mounted: the next snapshot fails, saying so, and no new
    // empty repository takes the old one's place. Mounted again, snapshots go on.
    let away = dir.path().join("unmounted");
    std::fs::rename(&repo, &away).unwrap();
    std::fs::create_dir(&repo).unwrap();
    let out = server.cli(&["backup", "run", "--tier", "hourly"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is not there"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&repo).unwrap().count(), 0, "nothing made");
    let status = json(&server, &["status"]);
    assert_eq!(capability(&status, "Backups")["state"], "failing");
    std::fs::remove_dir(&repo).unwrap();
    std::fs::rename(&away, &repo).unwrap();
    let report = json(&server, &["backup", "run", "--tier", "hourly"]);
    assert_eq!(report["check_ok"], true, "{report}");
}

/// Every track of `owner` downloads whole; answers (name, sha256) pairs, sorted.
async fn library_hashes(owner: &Owner) -> Vec<(String, String)> {
    let (status, page) = owner.get_json("/api/tracks?limit=500").await;
    assert_eq!(status, 200);
    let mut out = Vec::new();
    for track in page["items"].as_array().unwrap() {
        let id = track["id"].as_str().unwrap();
        let body = owner
            .get(&format!("/api/tracks/{id}/audio"))
            .await
            .bytes()
            .await
            .unwrap();
        let hash = sha256_hex(&body);
        assert_eq!(hash, track["sha256"], "a track does not match its hash");
        out.push((track["name"].as_str().unwrap().to_owned(), hash));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn drills_pass_fail_on_a_corrupted_blob_and_a_restore_serves_the_same_files() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("s3:{}/restic/vault", s3.endpoint());
    let env = copies_env(&s3, dir.path(), &repo);
    let mut server = start(&env);
    server.add_user("dee@studio.test", "free");
    let owner = Owner::signed_in(&server, "dee@studio.test").await;
    let mut originals = Vec::new();
    for (i, secs) in [2.0, 5.0, 9.0].into_iter().enumerate() {
        let audio = wav(secs, 10 + i as u32);
        originals.push((format!("take{i}"), sha256_hex(&audio)));
        owner.upload_ok(&format!("take{i}.wav"), audio).await;
    }
    originals.sort();
    assert_eq!(library_hashes(&owner).await, originals);

    let status = json(&server, &["status"]);
    assert_eq!(capability(&status, "Restore drill")["state"], "failing");
    let snapshot = json(&server, &["backup", "run", "--tier", "hourly"]);
    assert_eq!(snapshot["blobs"], 3);
    assert_eq!(snapshot["check_ok"], true);
    let snapshot_id = snapshot["id"].as_str().unwrap().to_owned();

    // A drill a timer starts at boot, before the server listens: without waiting it fails at
    // once; told to wait, it runs once the server is up.
    server.stop();
    let hasty = server.cli(&["backup", "drill", "--json"], None);
    assert!(
        !hasty.status.success() && String::from_utf8_lossy(&hasty.stderr).contains("not running"),
        "{}",
        String::from_utf8_lossy(&hasty.stderr)
    );
    let patient = server
        .cli_command(&["backup", "drill", "--wait-for-server", "60", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    server.start_again();
    let out = patient.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drill: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(drill["passed"], true, "{drill}");
    assert!(
        drill["snapshot_id"]
            .as_str()
            .unwrap()
            .starts_with(&snapshot_id),
        "{drill}"
    );
    assert_eq!(drill["tracks"], 3);
    assert_eq!(drill["blobs_listed"], 3);
    assert_eq!(drill["blobs_verified"], 3);
    assert!(drill["blobs_decrypted"].as_u64().unwrap() >= 1);
    assert!(drill["total_ms"].as_u64().unwrap() >= drill["restore_ms"].as_u64().unwrap());
    let status = json(&server, &["status"]);
    assert_eq!(capability(&status, "Restore drill")["state"], "ok");
    assert_eq!(capability(&status, "Backups")["state"], "ok");

    // A disaster: the machine is gone. A new, empty data directory gets the snapshot and the
    // master key (kept apart from the backups), and serves the same files.
    let restored_env: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("STUDIOVAULT_BACKUPS__"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let master_key = std::fs::read(server.data_dir().join("master.key")).unwrap();
    let restored = Server::start_prepared(&restored_env, |data| {
        let out = std::process::Command::new(studiovault_e2e::binary())
            .args(["backup", "restore", "--snapshot", &snapshot_id, "--to"])
            .arg(data)
            .envs(restored_env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("restored snapshot"));
        let key = data.join("master.key");
        std::fs::write(&key, &master_key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    });
    let owner_again = Owner::signed_in(&restored, "dee@studio.test").await;
    assert_eq!(library_hashes(&owner_again).await, originals);
    let verified = json(&restored, &["audit", "verify"]);
    assert_eq!(verified["ok"], true, "{verified}");
    // The restored store goes on taking snapshots into the repository: they are its own.
    let again = json(&restored, &["backup", "run", "--tier", "hourly"]);
    assert_eq!(again["blobs"], 3, "{again}");
    drop(restored);

    // An appliance set up afresh (a new master key) and pointed at the same repository, as on
    // new hardware before the restore, writes nothing there: its first snapshot's retention
    // would forget the keyring every earlier snapshot needs.
    let snapshots_before = snapshot_times(&server);
    let fresh = Server::start_with(&restored_env);
    let refused = fresh.cli(&["backup", "run", "--tier", "hourly"], None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("snapshot(s) of another Studio Vault store"),
        "{stderr}"
    );
    assert_eq!(
        snapshot_times(&server),
        snapshots_before,
        "the fresh store added no snapshot"
    );
    drop(fresh);

    // Bit rot in a blob reaches the next snapshot; the drill finds it, loudly.
    let blob = server.files_under("blobs")[0].clone();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[200] ^= 0x40;
    std::fs::write(&blob, &bytes).unwrap();
    json(&server, &["backup", "run", "--tier", "daily"]);
    let drill = json_failing(&server, &["backup", "drill"]);
    assert_eq!(drill["passed"], false);
    assert_eq!(drill["problems"], 1);
    assert_eq!(drill["blobs_verified"], 2);
    let problem = drill["first_problem"].as_str().unwrap();
    assert!(
        problem.contains(blob.file_name().unwrap().to_str().unwrap())
            && problem.contains("recorded hash"),
        "{problem}"
    );
    assert!(server.log().contains("RESTORE DRILL FAILED"));
    let status = json(&server, &["status"]);
    let cap = capability(&status, "Restore drill");
    assert_eq!(cap["state"], "failing");
    assert!(cap["detail"].as_str().unwrap().contains("FAILED"));
    let backups = json(&server, &["backup", "status"]);
    assert_eq!(backups["last_drill"]["passed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_commands_explain_what_is_not_configured() {
    let server = Server::start();
    let out = server.cli(&["backup", "run"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("backups.repository"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.cli(&["replicate", "verify"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("replication.endpoint"));
    let status = json(&server, &["status"]);
    for name in ["Replication", "Backups", "Restore drill"] {
        assert_eq!(capability(&status, name)["state"], "not_configured");
    }
    let out = server.cli(
        &["backup", "restore", "--snapshot", "latest", "--to", "/tmp"],
        None,
    );
    assert!(!out.status.success());
}

/// Deleted is deleted, in the backups too: a snapshot taken before an account's purge restores
/// every other account, while the purged one's audio opens nowhere (the keyring that held its
/// key was forgotten and pruned) and the restored server purges its records again.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_taken_before_a_purge_restores_everyone_but_the_purged_account() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo").display().to_string();
    let env = copies_env(&s3, dir.path(), &repo);
    let server = start(&env);
    let leaving = server.add_user("leaving@studio.test", "free");
    server.add_user("staying@studio.test", "free");
    let staying = Owner::signed_in(&server, "staying@studio.test").await;
    staying.upload_ok("kept.wav", wav(2.0, 7)).await;
    Owner::signed_in(&server, "leaving@studio.test")
        .await
        .upload_ok("gone.wav", wav(2.0, 8))
        .await;
    let originals = library_hashes(&staying).await;
    // Two hours apart, so the hourly tier keeps both.
    let before = json(
        &server,
        &[
            "backup",
            "run",
            "--tier",
            "hourly",
            "--time",
            "2026-03-01 10:00",
        ],
    );
    assert_eq!(before["blobs"], 2);
    let before_id = before["id"].as_str().unwrap().to_owned();

    server.cli_ok(&["user", "delete", "leaving@studio.test"], None);
    server.advance_clock(31 * 86_400);
    assert_eq!(
        server.housekeeping()["purged"],
        serde_json::json!([leaving])
    );
    let after = json(
        &server,
        &[
            "backup",
            "run",
            "--tier",
            "hourly",
            "--time",
            "2026-03-01 11:00",
        ],
    );
    assert_eq!(after["blobs"], 1);
    assert_eq!(
        json(&server, &["backup", "list"]).as_array().map(Vec::len),
        Some(2),
        "both snapshots are kept; the keyrings are not listed among them"
    );

    let restored_env: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("STUDIOVAULT_BACKUPS__"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let master_key = std::fs::read(server.data_dir().join("master.key")).unwrap();
    let restored = Server::start_prepared(&restored_env, |data| {
        let out = std::process::Command::new(studiovault_e2e::binary())
            .args(["backup", "restore", "--snapshot", &before_id, "--to"])
            .arg(data)
            .envs(restored_env.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 account(s) in this snapshot were purged after it was taken"),
            "{stdout}"
        );
        assert!(
            data.join("blobs").join(&leaving).exists(),
            "the old snapshot still holds the purged account's ciphertext"
        );
        let key = data.join("master.key");
        std::fs::write(&key, &master_key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    });
    // The other account is whole; the purged one is gone again, records and ciphertext.
    let staying_again = Owner::signed_in(&restored, "staying@studio.test").await;
    assert_eq!(library_hashes(&staying_again).await, originals);
    let users = json(&restored, &["user", "list"]);
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert!(restored.files_under(&format!("blobs/{leaving}")).is_empty());
    let purges = restored.cli_ok(&["audit", "tail", "--action", "account.purge"], None);
    assert!(purges.contains("again, after a restore"), "{purges}");
}

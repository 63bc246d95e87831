//! Legal requests end to end, through the CLI against the real server: a gag keeps the notice
//! from the loopback SMTP server until its end passes on the test clock, then exactly one goes
//! out, to the account; a legal hold keeps an account past its deletion grace until released,
//! and keeps the tracks its owner deletes meanwhile for the hand-over;
//! the hand-over holds only what was asked, with a manifest whose hashes match, and every read
//! of the owner's audio shows in the owner's own activity.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use studiovault_e2e::smtp::Smtp;
use studiovault_e2e::{Owner, Server, sha256_hex, wav};

const DAY: i64 = 86_400;

/// `now + secs` on the server's clock (the real one plus what the test moved it), as the CLI
/// reads dates: `2026-07-01 14:30` (UTC).
fn date_in(server_offset_secs: i64, secs: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let at = time::OffsetDateTime::from_unix_timestamp(now + server_offset_secs + secs).unwrap();
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]"
    ))
    .unwrap()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Records a request through the CLI; answers its view.
fn new_request(server: &Server, accounts: &[&str], data: &str, hold: bool) -> Value {
    let deadline = date_in(0, 20 * DAY);
    let mut args = vec![
        "legal",
        "new",
        "--kind",
        "court_order",
        "--authority",
        "District Court of Testville",
        "--basis",
        "Criminal Procedure Act §100",
        "--reference",
        "CR-2026-0042",
        "--deadline",
        &deadline,
        "--data",
        data,
        "--json",
    ];
    for account in accounts {
        args.extend(["--account", account]);
    }
    if hold {
        args.push("--hold");
    }
    json(&server.cli_ok(&args, None))
}

fn show(server: &Server, id: &str) -> Value {
    json(&server.cli_ok(&["legal", "show", id, "--json"], None))
}

#[test]
fn a_gagged_request_mails_no_notice_until_the_gag_ends_then_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start_trusted(dir.path());
    let env = smtp.server_env(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    server.add_user("ana@studio.test", "pro");
    server.add_user("ben@studio.test", "pro");

    let request = new_request(&server, &["ana@studio.test"], "account,audio", false);
    let id = request["id"].as_str().unwrap();
    let gag_end = date_in(0, 10 * DAY);
    server.cli_ok(
        &[
            "legal",
            "gag",
            &id[..8],
            "--until",
            &gag_end,
            "--note",
            "order of the court, §12",
        ],
        None,
    );
    // While gagged the notice is refused, and nothing goes out by itself.
    let refused = server.cli(&["legal", "notify", id], None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("a gag is in force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    server.housekeeping();
    server.advance_clock(10 * DAY - 3600);
    server.housekeeping();
    std::thread::sleep(Duration::from_secs(3));
    assert!(smtp.received().is_empty(), "no mail while the gag holds");
    assert_eq!(show(&server, id)["accounts"][0]["notified_at"], Value::Null);

    // The gag's end passes on the test clock: the next housekeeping sends the notice.
    server.advance_clock(2 * 3600);
    server.housekeeping();
    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1, "{received:?}");
    let mail = &received[0];
    for expected in [
        "X-RcptTo: ana@studio.test",
        "Subject: A legal request for data of your Studio Vault account",
        "District Court of Testville",
        "CR-2026-0042",
        "your original audio files",
        "Nothing has been handed over.",
    ] {
        assert!(mail.contains(expected), "`{expected}` missing in:\n{mail}");
    }
    // Once only, whatever runs next.
    server.housekeeping();
    server.advance_clock(DAY);
    server.housekeeping();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.received().len(), 1, "exactly one notice");
    let after = show(&server, id);
    assert!(after["accounts"][0]["notified_at"].is_i64());
    let timeline: Vec<&str> = after["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
    assert!(
        timeline
            .iter()
            .any(|s| s.starts_with("gag ended: notice queued")),
        "{timeline:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_account_past_its_grace_is_kept_until_the_hold_is_released() {
    let server = Server::start();
    let held = server.add_user("held@studio.test", "pro");
    let owner = Owner::signed_in(&server, "held@studio.test").await;
    owner.upload_ok("evidence.wav", wav(0.3, 7)).await;
    let request = new_request(&server, &["held@studio.test"], "audio", true);
    let id = request["id"].as_str().unwrap();
    assert!(request["hold"]["released_at"].is_null());
    server.cli_ok(&["user", "delete", "held@studio.test"], None);
    // The upload's blob (analysis may add its peaks beside it meanwhile).
    let blobs_before = server.files_under(&format!("blobs/{held}"));
    assert!(!blobs_before.is_empty());

    server.advance_clock(31 * DAY);
    let report = server.housekeeping();
    assert_eq!(report["purged"], serde_json::json!([]), "{report}");
    assert!(
        server
            .cli_ok(&["user", "show", "held@studio.test"], None)
            .contains("held@studio.test")
    );
    assert!(
        blobs_before.iter().all(|blob| blob.exists()),
        "the held account's files stay"
    );
    assert!(server.log().contains("a legal hold holds it"));

    let no_reason = server.cli(&["legal", "release", id, "--reason", " "], None);
    assert!(!no_reason.status.success());
    let released = json(&server.cli_ok(
        &[
            "legal",
            "release",
            id,
            "--reason",
            "the court lifted the order",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        released["hold"]["release_reason"],
        "the court lifted the order"
    );
    let report = server.housekeeping();
    assert_eq!(report["purged"], serde_json::json!([held]), "{report}");
    assert!(
        !server
            .cli(&["user", "show", "held@studio.test"], None)
            .status
            .success()
    );
    assert!(server.files_under(&format!("blobs/{held}")).is_empty());
    // The request stays on the record, naming a random stand-in for the purged account: the
    // register still counts it, and nothing links it to the account that was.
    let kept = show(&server, id);
    let stand_in = kept["accounts"][0]["id"].as_str().unwrap_or_default();
    assert_eq!(stand_in.len(), held.len(), "{kept}");
    assert_ne!(stand_in, held.as_str());
    assert_eq!(kept["accounts"][0]["email"], Value::Null);
}

/// The entries of a ustar archive: path → bytes.
fn untar(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let field = |h: &[u8], at: usize, len: usize| {
        String::from_utf8_lossy(&h[at..at + len])
            .trim_end_matches('\0')
            .to_owned()
    };
    let mut out = BTreeMap::new();
    let mut pos = 0;
    while pos + 512 <= archive.len() {
        let header = &archive[pos..pos + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let (name, prefix) = (field(header, 0, 100), field(header, 345, 155));
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let size = usize::from_str_radix(field(header, 124, 12).trim(), 8).unwrap();
        let data = archive[pos + 512..pos + 512 + size].to_vec();
        out.insert(path, data);
        pos += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hand_over_holds_only_what_was_asked_with_a_manifest_that_matches() {
    let server = Server::start();
    let ana = server.add_user("ana@studio.test", "pro");
    let ben = server.add_user("ben@studio.test", "pro");
    let ana_owner = Owner::signed_in(&server, "ana@studio.test").await;
    let songs = [wav(0.4, 1), wav(0.6, 2)];
    let mut tracks = Vec::new();
    for (i, song) in songs.iter().enumerate() {
        tracks.push(
            ana_owner
                .upload_ok(&format!("take {i}.wav"), song.clone())
                .await,
        );
    }
    let ben_owner = Owner::signed_in(&server, "ben@studio.test").await;
    ben_owner.upload_ok("not asked for.wav", wav(0.5, 3)).await;

    let request = new_request(&server, &["ana@studio.test"], "account,audio", false);
    let id = request["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("handover.tar");
    let file_arg = file.to_str().unwrap();

    // Before the notice, nothing is handed over, and no file is left behind.
    let refused = server.cli(&["legal", "export", id, "--out", file_arg], None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("have not been sent their notice"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!file.exists());
    let refused = server.cli(&["legal", "comply", id, "--reason", "handed over"], None);
    assert!(!refused.status.success());

    server.cli_ok(&["legal", "notify", id], None);
    let done = server.cli_ok(&["legal", "export", id, "--out", file_arg], None);
    assert!(done.contains("manifest.json"), "{done}");
    let archive = std::fs::read(&file).unwrap();
    let entries = untar(&archive);
    let folder = format!("legal-{}", &id[..8]);
    let mut expected: Vec<String> = vec![
        format!("{folder}/manifest.json"),
        format!("{folder}/{ana}/account.json"),
    ];
    for (i, track) in tracks.iter().enumerate() {
        expected.push(format!("{folder}/{ana}/audio/{track}-take {i}.wav"));
    }
    expected.sort();
    assert_eq!(
        entries.keys().cloned().collect::<Vec<_>>(),
        expected,
        "only the account and the audio asked for, of that account only"
    );
    assert!(!entries.keys().any(|p| p.contains(&ben)));
    for (i, track) in tracks.iter().enumerate() {
        assert_eq!(
            entries[&format!("{folder}/{ana}/audio/{track}-take {i}.wav")],
            songs[i],
            "the original audio, byte for byte"
        );
    }
    let account: Value =
        serde_json::from_slice(&entries[&format!("{folder}/{ana}/account.json")]).unwrap();
    assert_eq!(account["email"], "ana@studio.test");

    let manifest: Value =
        serde_json::from_slice(&entries[&format!("{folder}/manifest.json")]).unwrap();
    assert_eq!(manifest["request"]["id"], id);
    assert_eq!(manifest["request"]["reference"], "CR-2026-0042");
    let listed = manifest["entries"].as_array().unwrap();
    assert_eq!(listed.len(), entries.len() - 1, "every entry but itself");
    for entry in listed {
        let path = format!("{folder}/{}", entry["path"].as_str().unwrap());
        let bytes = entries
            .get(&path)
            .unwrap_or_else(|| panic!("{path} listed but absent"));
        assert_eq!(entry["size"], bytes.len());
        assert_eq!(entry["sha256"], sha256_hex(bytes), "{path}");
    }

    // Ana sees the notice, the hand-over and each read of her audio, by the admin.
    let (status, activity) = ana_owner.get_json("/api/account/activity?limit=50").await;
    assert_eq!(status, 200);
    let legal: Vec<(&str, &str)> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("legal."))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        legal,
        [
            ("legal.audio_read", "admin"),
            ("legal.audio_read", "admin"),
            ("legal.export", "admin"),
            ("legal.notice", "admin"),
        ]
    );
    let (status, accessed) = ana_owner.get_json("/api/account/accessed?limit=100").await;
    assert_eq!(status, 200);
    let reads = accessed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "legal.audio_read" && e["actor_kind"] == "admin")
        .count();
    assert_eq!(
        reads, 2,
        "who accessed my files names the admin's reads: {accessed}"
    );
    let (_, ben_activity) = ben_owner.get_json("/api/account/activity?limit=50").await;
    assert!(
        ben_activity
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["action"].as_str().unwrap().starts_with("legal."))
    );

    server.cli_ok(
        &[
            "legal",
            "comply",
            id,
            "--reason",
            "account and audio handed over",
        ],
        None,
    );
    let year = time::OffsetDateTime::now_utc().year().to_string();
    let report = json(&server.cli_ok(&["legal", "report", "--year", &year, "--json"], None));
    assert_eq!(
        (
            &report["received"],
            &report["complied"],
            &report["refused"],
            &report["users_notified"]
        ),
        (
            &Value::from(1),
            &Value::from(1),
            &Value::from(0),
            &Value::from(1)
        )
    );
    let human = server.cli_ok(&["legal", "report", "--year", &year], None);
    assert!(human.contains("District Court of Testville"), "{human}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_track_deleted_under_a_hold_leaves_the_library_but_is_handed_over_until_released() {
    let server = Server::start();
    let ana = server.add_user("ana@studio.test", "pro");
    let owner = Owner::signed_in(&server, "ana@studio.test").await;
    let evidence = wav(0.4, 5);
    let track = owner.upload_ok("evidence.wav", evidence.clone()).await;
    let request = new_request(&server, &["ana@studio.test"], "tracks,audio", true);
    let id = request["id"].as_str().unwrap();
    let blobs = server.files_under(&format!("blobs/{ana}"));
    assert!(!blobs.is_empty());

    // Ana deletes it as she would any track: it is gone from her library.
    let (status, _) = owner
        .send(
            reqwest::Method::DELETE,
            &format!("/api/tracks/{track}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = owner.get_json(&format!("/api/tracks/{track}")).await;
    assert_eq!(status, 404);
    assert!(blobs.iter().all(|b| b.exists()), "the hold keeps its files");

    // The hand-over carries it as deleted under the hold, with its audio.
    server.cli_ok(&["legal", "notify", id], None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("handover.tar");
    server.cli_ok(
        &["legal", "export", id, "--out", file.to_str().unwrap()],
        None,
    );
    let entries = untar(&std::fs::read(&file).unwrap());
    let folder = format!("legal-{}", &id[..8]);
    let kept: Value =
        serde_json::from_slice(&entries[&format!("{folder}/{ana}/deleted_under_hold.json")])
            .unwrap();
    assert_eq!(kept[0]["id"], track.as_str(), "{kept}");
    assert_eq!(kept[0]["kept_for"], format!("legal/{id}"));
    assert!(kept[0]["deleted_at"].is_i64());
    let audio = format!("{folder}/{ana}/audio/{track}-evidence.wav");
    assert_eq!(
        entries[&audio], evidence,
        "the original audio, byte for byte"
    );
    let tracks: Value =
        serde_json::from_slice(&entries[&format!("{folder}/{ana}/tracks.json")]).unwrap();
    assert_eq!(tracks, serde_json::json!([]), "her library holds nothing");

    // Released: what the hold kept goes with it.
    server.cli_ok(
        &["legal", "release", id, "--reason", "the case settled"],
        None,
    );
    assert!(blobs.iter().all(|b| !b.exists()), "{blobs:?}");
}

//! The path a newcomer takes: two users from the CLI, a real song uploaded by one, a byte range
//! played back, the other user seeing nothing of it, and the audit chain verifying until a
//! record is edited on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use serde_json::Value;
use studiovault_e2e::{Owner, Server, sha256_hex, wesnoth_track};

#[tokio::test(flavor = "multi_thread")]
async fn two_users_one_song_and_an_audit_chain_that_catches_an_edit() {
    let mut server = Server::start();
    server.add_user("ana@studio.test", "pro");
    server.add_user("ben@studio.test", "free");
    let listed = server.cli_ok(&["user", "list"], None);
    assert!(
        listed.contains("ana@studio.test") && listed.contains("ben@studio.test"),
        "{listed}"
    );

    let song = wesnoth_track("battle.ogg").unwrap_or_else(|e| panic!("{e:#}"));
    let ana = Owner::signed_in(&server, "ana@studio.test").await;
    let id = ana.upload_ok("Battle (demo 3).ogg", song.clone()).await;

    let (status, track) = ana.get_json(&format!("/api/tracks/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(track["name"], "Battle (demo 3)");
    assert_eq!(track["codec"], "vorbis");
    assert_eq!(track["sha256"], sha256_hex(&song));
    assert!(
        track["duration_secs"].as_f64().unwrap_or(0.0) > 30.0,
        "{track}"
    );

    // Play back a byte range from the middle.
    let (start, end) = (song.len() / 2, song.len() / 2 + 65_535);
    let res = ana
        .http
        .get(ana.url(&format!("/api/tracks/{id}/audio")))
        .header("Range", format!("bytes={start}-{end}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes {start}-{end}/{}", song.len()).as_str()
    );
    assert_eq!(res.headers()["content-type"], "audio/ogg");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &song[start..=end]);

    // The other user: 404 for the track and its audio, an empty library.
    let ben = Owner::signed_in(&server, "ben@studio.test").await;
    assert_eq!(ben.get(&format!("/api/tracks/{id}")).await.status(), 404);
    assert_eq!(
        ben.get(&format!("/api/tracks/{id}/audio")).await.status(),
        404
    );
    let (status, library) = ben.get_json("/api/tracks").await;
    assert_eq!((status, library["total"].as_u64()), (200, Some(0)));

    // The audit chain verifies, and names a record edited on disk.
    let verified = server.cli(&["audit", "verify"], None);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let tail = server.cli_ok(&["audit", "tail", "--json", "-n", "100"], None);
    let upload: Value = tail
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["action"] == "track.upload")
        .unwrap_or_else(|| panic!("no upload record in {tail}"));
    let seq = upload["seq"].as_u64().unwrap_or_default();

    server.stop();
    let db = server.data_dir().join("vault.redb");
    let bytes = std::fs::read(&db).unwrap();
    let needle = format!("\"action\":\"track.upload\",\"object\":\"track/{id}\"");
    let forged = format!("\"action\":\"track.upl0ad\",\"object\":\"track/{id}\"");
    let text = replace_all(&bytes, needle.as_bytes(), forged.as_bytes());
    assert!(text.1 > 0, "the record was not found on disk");
    std::fs::write(&db, text.0).unwrap();
    server.start_again();

    let broken = server.cli(&["audit", "verify"], None);
    let out = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("record #{seq}")) && out.contains("Altered"),
        "{out}"
    );
}

/// Replaces every occurrence (copy-on-write leaves old copies of a page in the file); answers
/// the new bytes and how many were replaced.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> (Vec<u8>, usize) {
    assert_eq!(needle.len(), with.len());
    let mut out = haystack.to_vec();
    let mut count = 0;
    let mut i = 0;
    while i + needle.len() <= out.len() {
        if &out[i..i + needle.len()] == needle {
            out[i..i + needle.len()].copy_from_slice(with);
            count += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    (out, count)
}

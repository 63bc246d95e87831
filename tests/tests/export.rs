//! `POST /api/account/export`: the whole account as a tar archive that standard `tar` reads,
//! with the original audio byte for byte; the password is required, and the export is audited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use reqwest::Method;
use serde_json::{Value, json};
use studiovault_e2e::{Owner, PASSWORD, Server, sha256_hex, wav};

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_exports_everything_and_tar_reads_it() {
    let server = Server::start();
    server.add_user("leaving@studio.test", "pro");
    let owner = Owner::signed_in(&server, "leaving@studio.test").await;
    let originals = [wav(0.5, 1), wav(0.7, 2)];
    let mut ids = Vec::new();
    for (i, bytes) in originals.iter().enumerate() {
        ids.push(
            owner
                .upload_ok(&format!("../Take {i} (ünreleased).wav"), bytes.clone())
                .await,
        );
    }
    let (status, _) = owner
        .send(
            Method::POST,
            "/api/shares",
            Some(json!({"tracks": [ids[0]], "recipients": [{"name": "Lou"}]})),
        )
        .await;
    assert_eq!(status, 201);

    let (status, body) = owner
        .send(
            Method::POST,
            "/api/account/export",
            Some(json!({"password": "wrong password"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_credentials"))
    );
    let (status, body) = owner
        .send(Method::POST, "/api/account/export", Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("password"));

    // The web app posts a form, so the browser saves the archive itself.
    let res = owner
        .http
        .post(owner.url("/api/account/export"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-tar");
    let declared: u64 = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let archive = res.bytes().await.unwrap();
    assert_eq!(archive.len() as u64, declared);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.tar");
    std::fs::write(&path, &archive).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&path)
        .arg("-C")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().join("studiovault-export");
    let read_json = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(root.join(name)).unwrap()).unwrap()
    };
    assert_eq!(read_json("account.json")["email"], "leaving@studio.test");
    let tracks = read_json("tracks.json");
    assert_eq!(tracks.as_array().unwrap().len(), 2);
    for (id, original) in ids.iter().zip(&originals) {
        let track = tracks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap();
        let file = root.join(track["file"].as_str().unwrap());
        assert!(file.starts_with(&root), "no path escapes the archive");
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(sha256_hex(&bytes), sha256_hex(original));
        assert_eq!(track["sha256"], sha256_hex(original));
    }
    let shares = read_json("shares.json");
    assert_eq!(shares[0]["recipients"][0]["name"], "Lou");
    let activity = read_json("activity.json").to_string();
    assert!(activity.contains("track.upload") && activity.contains("share.create"));
    assert!(
        std::fs::read_to_string(root.join("README.txt"))
            .unwrap()
            .contains("audio/")
    );

    // The web app's way: a single-use link, good only with this owner's session.
    let (status, link) = owner
        .send(
            Method::POST,
            "/api/account/export/link",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    server.add_user("other@studio.test", "pro");
    let other = Owner::signed_in(&server, "other@studio.test").await;
    assert_eq!(
        other.get(url).await.status(),
        403,
        "another owner's session"
    );
    let res = owner.get(url).await;
    assert_eq!(res.status(), 200);
    let again = res.bytes().await.unwrap();
    assert_eq!(&again[257..263], b"ustar\0", "a tar archive again");
    assert_eq!(owner.get(url).await.status(), 403, "single-use");
    assert_eq!(
        Owner::new(&server).get(url).await.status(),
        401,
        "needs a session"
    );

    let log = server.cli_ok(&["audit", "tail", "--json", "--action", "account"], None);
    assert!(log.contains("account.export"), "{log}");
}

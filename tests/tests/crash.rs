//! Invariant 2 under SIGKILL: whatever instant the server dies, every upload it acknowledged
//! comes back whole after a restart, and no upload it did not finish is visible or left on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use studiovault_e2e::{Owner, Server, sha256_hex, wav};

/// Blob files a library should have: one per track, one more per analysed track (its peaks).
async fn expected_blobs(owner: &Owner) -> usize {
    let tracks = library(owner).await;
    tracks.len()
        + tracks
            .iter()
            .filter(|t| t["analysis"]["state"] == "done")
            .count()
}

/// Every track of the library, page by page: a burst can store more than one page holds.
async fn library(owner: &Owner) -> Vec<Value> {
    let mut tracks = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let (status, page) = owner
            .get_json(&format!("/api/tracks?limit=500&offset={at}"))
            .await;
        assert_eq!(status, 200);
        tracks.extend(page["items"].as_array().cloned().unwrap_or_default());
        offset = page["next_offset"].as_u64();
    }
    tracks
}

/// Every listed track downloads whole and matches its recorded hash; answers the ids.
async fn intact_library(owner: &Owner) -> Vec<String> {
    let mut ids = Vec::new();
    for track in library(owner).await {
        let id = track["id"].as_str().unwrap_or_default().to_owned();
        let body = owner
            .get(&format!("/api/tracks/{id}/audio"))
            .await
            .bytes()
            .await
            .unwrap_or_default();
        assert_eq!(
            body.len() as u64,
            track["size_bytes"].as_u64().unwrap_or(0),
            "track {id} is partial"
        );
        assert_eq!(
            sha256_hex(&body),
            track["sha256"].as_str().unwrap_or_default(),
            "track {id} is corrupt"
        );
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_upload_loses_nothing_acknowledged() {
    let mut server = Server::start();
    server.add_user("eng@studio.test", "free"); // no analysis: only upload blobs on disk
    let owner = Owner::signed_in(&server, "eng@studio.test").await;
    let kept = wav(2.0, 1);
    let kept_id = owner.upload_ok("kept.wav", kept.clone()).await;

    // A slow upload: the server dies after part of it has arrived.
    let slow = wav(30.0, 2);
    let total = slow.len() as u64;
    let pieces: Vec<Bytes> = slow.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    // 81 pieces, 50 ms apart: the whole body takes over 4 s to send.
    let body = futures_util::stream::iter(pieces).then(|p| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, std::io::Error>(p)
    });
    let form = Form::new().part(
        "file",
        Part::stream_with_length(reqwest::Body::wrap_stream(body), total).file_name("slow.wav"),
    );
    let request = owner
        .http
        .post(owner.url("/api/tracks"))
        .multipart(form)
        .send();
    let upload = tokio::spawn(request);
    // Killed once the upload is being written, long before its last piece is sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.files_under("tmp").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the slow upload should be in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill9();
    assert!(
        upload.await.unwrap().is_err(),
        "the killed upload must not be acknowledged"
    );

    server.start_again();
    let owner = Owner::signed_in(&server, "eng@studio.test").await;
    assert_eq!(intact_library(&owner).await, vec![kept_id.clone()]);
    let audio = owner
        .get(&format!("/api/tracks/{kept_id}/audio"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(audio.as_ref(), kept.as_slice());
    assert!(
        server.files_under("tmp").is_empty(),
        "the partial upload's temp file is gone"
    );
    assert_eq!(
        server.files_under("blobs").len(),
        expected_blobs(&owner).await,
        "no blob without a track"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_burst_keeps_exactly_the_acknowledged_uploads() {
    let mut server = Server::start();
    server.add_user("burst@studio.test", "free");
    let owner = Owner::signed_in(&server, "burst@studio.test").await;

    // Four clients upload in a loop; the server is killed while they are at it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut clients = Vec::new();
    for c in 0..4u32 {
        let http = owner.http.clone();
        let url = owner.url("/api/tracks");
        let tx = tx.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..200u32 {
                let form = Form::new().part(
                    "file",
                    Part::bytes(wav(0.3, c * 1000 + i)).file_name(format!("c{c}-{i}.wav")),
                );
                match http.post(&url).multipart(form).send().await {
                    Ok(res) if res.status() == 201 => {
                        let body: Value = res.json().await.unwrap_or_default();
                        let _ = tx.send(body["id"].as_str().unwrap_or_default().to_owned());
                    }
                    _ => return,
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.kill9();
    for c in clients {
        let _ = c.await;
    }
    let mut acknowledged = Vec::new();
    while let Some(id) = rx.recv().await {
        acknowledged.push(id);
    }
    assert!(
        !acknowledged.is_empty(),
        "no upload finished before the kill; the test proves nothing"
    );

    server.start_again();
    let owner = Owner::signed_in(&server, "burst@studio.test").await;
    let listed = intact_library(&owner).await;
    for id in &acknowledged {
        assert!(
            listed.contains(id),
            "acknowledged upload {id} was lost ({} acknowledged, {} listed)",
            acknowledged.len(),
            listed.len()
        );
    }
    // At most the uploads whose answer the kill cut off can be there unacknowledged.
    assert!(
        listed.len() <= acknowledged.len() + 4,
        "{} listed, {} acknowledged",
        listed.len(),
        acknowledged.len()
    );
    assert_eq!(
        server.files_under("blobs").len(),
        expected_blobs(&owner).await,
        "no blob without a track"
    );
    assert!(server.files_under("tmp").is_empty());
    let verify = server.cli(&["audit", "verify"], None);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

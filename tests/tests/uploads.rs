//! Every accepted format goes in and plays back byte for byte; hostile files get a clear 4xx
//! and leave nothing behind; the quota holds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use serde_json::Value;
use studiovault_e2e::{Owner, Server, ffmpeg, sha256_hex, wav};

async fn check_stored(owner: &Owner, name: &str, bytes: &[u8], codec: &str, mime: &str) {
    let res = owner.upload(name, bytes.to_vec()).await;
    let status = res.status();
    let track: Value = res.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{name}: {track}");
    assert_eq!(track["codec"], codec, "{name}: {track}");
    assert_eq!(track["mime_type"], mime, "{name}");
    assert_eq!(track["sha256"], sha256_hex(bytes), "{name}");
    let secs = track["duration_secs"].as_f64().unwrap_or(0.0);
    assert!((secs - 2.0).abs() < 0.1, "{name}: duration {secs}");
    let res = owner
        .get(&format!(
            "/api/tracks/{}/audio",
            track["id"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(res.headers()["content-type"], mime);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        bytes,
        "{name} does not play back byte for byte"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_is_stored_and_plays_back() {
    let server = Server::start();
    server.add_user("formats@studio.test", "max");
    let owner = Owner::signed_in(&server, "formats@studio.test").await;
    let source = wav(2.0, 11);
    let convert = |args: &[&str], ext: &str| {
        ffmpeg(&source, "wav", args, ext).unwrap_or_else(|e| panic!("{e:#}"))
    };

    check_stored(&owner, "16-bit.wav", &source, "pcm_s16le", "audio/wav").await;
    check_stored(
        &owner,
        "24-bit.wav",
        &convert(&["-c:a", "pcm_s24le"], "wav"),
        "pcm_s24le",
        "audio/wav",
    )
    .await;
    check_stored(
        &owner,
        "32-bit.wav",
        &convert(&["-c:a", "pcm_s32le"], "wav"),
        "pcm_s32le",
        "audio/wav",
    )
    .await;
    check_stored(
        &owner,
        "float.wav",
        &convert(&["-c:a", "pcm_f32le"], "wav"),
        "pcm_f32le",
        "audio/wav",
    )
    .await;
    check_stored(
        &owner,
        "take.aiff",
        &convert(&[], "aiff"),
        "pcm_s16be",
        "audio/aiff",
    )
    .await;
    check_stored(
        &owner,
        "take.flac",
        &convert(&[], "flac"),
        "flac",
        "audio/flac",
    )
    .await;
    check_stored(
        &owner,
        "take.mp3",
        &convert(&["-b:a", "192k"], "mp3"),
        "mp3",
        "audio/mpeg",
    )
    .await;
    check_stored(
        &owner,
        "take.m4a",
        &convert(&["-c:a", "aac", "-b:a", "128k"], "m4a"),
        "aac",
        "audio/mp4",
    )
    .await;
    check_stored(
        &owner,
        "lossless.m4a",
        &convert(&["-c:a", "alac"], "m4a"),
        "alac",
        "audio/mp4",
    )
    .await;
    check_stored(
        &owner,
        "take.aac",
        &convert(&["-c:a", "aac", "-f", "adts"], "aac"),
        "aac",
        "audio/aac",
    )
    .await;
    check_stored(
        &owner,
        "take.ogg",
        &convert(&["-c:a", "libvorbis", "-q:a", "4"], "ogg"),
        "vorbis",
        "audio/ogg",
    )
    .await;
    check_stored(
        &owner,
        "take.opus",
        &convert(&["-c:a", "libopus", "-b:a", "96k", "-f", "ogg"], "opus"),
        "opus",
        "audio/ogg",
    )
    .await;
    let (_, page) = owner.get_json("/api/tracks").await;
    assert_eq!(page["total"], 12);
}

async fn refused(owner: &Owner, name: &str, bytes: Vec<u8>, status: u16, code: &str) {
    let res = owner.upload(name, bytes).await;
    let got = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or_default();
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(code)),
        "{name}: {body}"
    );
    assert!(
        !body["message"].as_str().unwrap_or_default().is_empty(),
        "{name}: the error says what was wrong"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_files_are_refused_and_leave_nothing() {
    let server = Server::start();
    server.add_user("hostile@studio.test", "pro");
    let owner = Owner::signed_in(&server, "hostile@studio.test").await;
    let source = wav(2.0, 12);
    let flac = ffmpeg(&source, "wav", &[], "flac").unwrap_or_else(|e| panic!("{e:#}"));
    let video = ffmpeg(
        &source,
        "wav",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=64x64:rate=5",
            "-map",
            "1:v",
            "-c:v",
            "mpeg4",
        ],
        "mp4",
    )
    .unwrap_or_else(|e| panic!("{e:#}"));

    refused(&owner, "empty.wav", Vec::new(), 400, "bad_request").await;
    refused(
        &owner,
        "report.pdf",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n".to_vec(),
        415,
        "unsupported_audio",
    )
    .await;
    refused(
        &owner,
        "archive.wav",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00lots of zip".to_vec(),
        415,
        "unsupported_audio",
    )
    .await;
    refused(
        &owner,
        "page.mp3",
        b"<!doctype html><script>alert(1)</script>".to_vec(),
        415,
        "unsupported_audio",
    )
    .await;
    refused(
        &owner,
        "truncated.flac",
        flac[..200].to_vec(),
        422,
        "corrupt_audio",
    )
    .await;
    let mut garbage = b"fLaC".to_vec();
    garbage.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
    refused(&owner, "garbage.flac", garbage, 422, "corrupt_audio").await;
    let mut no_data = source[..44].to_vec();
    no_data[40..44].copy_from_slice(&0u32.to_le_bytes());
    refused(&owner, "header-only.wav", no_data, 422, "corrupt_audio").await;
    refused(&owner, "video.m4a", video, 415, "unsupported_audio").await;

    assert!(
        server.files_under("blobs").is_empty(),
        "a refused upload left a blob"
    );
    assert!(
        server.files_under("tmp").is_empty(),
        "a refused upload left a temp file"
    );
    let (_, me) = owner.get_json("/api/session").await;
    assert_eq!(me["used_bytes"], 0);
    let (_, page) = owner.get_json("/api/tracks").await;
    assert_eq!(page["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quota_holds() {
    let server = Server::start();
    server.add_user("small@studio.test", "free");
    server.cli_ok(
        &["user", "set", "small@studio.test", "--quota", "300KiB"],
        None,
    );
    let owner = Owner::signed_in(&server, "small@studio.test").await;
    owner.upload_ok("fits.wav", wav(1.0, 1)).await;
    refused(&owner, "too-much.wav", wav(1.0, 2), 413, "quota_exceeded").await;
    let (_, me) = owner.get_json("/api/session").await;
    assert_eq!(me["quota_bytes"], 300 * 1024);
    assert_eq!(me["used_bytes"], wav(1.0, 1).len());
    assert_eq!(server.files_under("blobs").len(), 1);
    server.cli_ok(
        &["user", "set", "small@studio.test", "--quota", "plan"],
        None,
    );
    owner.upload_ok("now-fits.wav", wav(1.0, 2)).await;
}

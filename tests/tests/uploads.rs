//! Every accepted format goes in and plays back byte for byte; hostile files get a clear 4xx
//! and leave nothing behind; the quota holds; an upload refused unread says its connection
//! closes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use futures_util::StreamExt;
use serde_json::{Value, json};
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
    let audio = format!(
        "/api/tracks/{}/audio",
        track["id"].as_str().unwrap_or_default()
    );
    // HEAD answers GET's headers, without a body.
    let head = owner.http.head(owner.url(&audio)).send().await.unwrap();
    assert_eq!(head.status(), 200, "{name}");
    assert_eq!(head.headers()["content-length"], bytes.len().to_string());
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    assert_eq!(head.headers()["content-type"], mime);
    assert!(head.bytes().await.unwrap().is_empty());
    let res = owner.get(&audio).await;
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
    // 44 bytes whose INFO tag declares 4 GiB: the decoder allocates what the header says. The
    // check runs in a child process under the analysis memory limit, which that allocation
    // ends; the server answers for the file and goes on.
    let mut bomb = Vec::new();
    bomb.extend_from_slice(b"RIFF\xff\xff\xff\xffWAVE");
    bomb.extend_from_slice(b"LIST\xf0\xff\xff\xffINFO");
    bomb.extend_from_slice(b"INAM\xe0\xff\xff\xff");
    bomb.resize(44, b'x');
    let res = owner.upload("bomb.wav", bomb).await;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or_default();
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("corrupt_audio")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("memory limit"),
        "{body}"
    );

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

    // Unfinished resumable uploads hold room for what they declared: two that each fit alone
    // do not both fit together.
    server.cli_ok(
        &["user", "set", "small@studio.test", "--quota", "400KiB"],
        None,
    );
    let size = wav(1.0, 3).len();
    let create = || {
        owner.send(
            reqwest::Method::POST,
            "/api/uploads",
            Some(json!({"filename": "take.wav", "size": size})),
        )
    };
    let (status, first) = create().await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = create().await;
    assert_eq!(
        (status, second["error"].as_str()),
        (413, Some("quota_exceeded")),
        "{second}"
    );
    let first = first["id"].as_str().unwrap();
    let (status, _) = owner
        .send(
            reqwest::Method::DELETE,
            &format!("/api/uploads/{first}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        create().await.0,
        201,
        "the cancelled upload's room is free again"
    );

    server.cli_ok(
        &["user", "set", "small@studio.test", "--quota", "plan"],
        None,
    );
    owner.upload_ok("now-fits.wav", wav(1.0, 2)).await;
}

async fn patch(owner: &Owner, id: &str, offset: u64, bytes: Vec<u8>) -> (u16, Option<u64>, Value) {
    let res = owner
        .http
        .patch(owner.url(&format!("/api/uploads/{id}")))
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let offset = res
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, offset, res.json().await.unwrap_or(Value::Null))
}

/// A PATCH of the rest of `audio` from `first`, written by hand on a raw HTTP/1.1 socket, of
/// which only 200 kB are sent; the socket is left open for the caller to close or leave silent.
async fn half_sent_patch(
    server: &Server,
    email: &str,
    id: &str,
    audio: &[u8],
    first: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let token = studiovault_e2e::session_token(server, email).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = format!(
        "PATCH /api/uploads/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sv_session={token}\r\nUpload-Offset: {first}\r\nContent-Length: {}\r\n\r\n",
        audio.len() - first
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&audio[first..first + 200_000])
        .await
        .unwrap();
    stream.flush().await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn resumable_uploads_survive_a_dropped_connection() {
    let server = Server::start();
    server.add_user("resume@studio.test", "pro");
    let owner = Owner::signed_in(&server, "resume@studio.test").await;
    let audio = wav(6.0, 21);
    let first = 300_000usize;
    let id = begun(&owner, "Verse take 2.wav", &audio, first).await;

    // The next request dies mid-body: half of what it announced arrives, then the socket closes.
    let stream = half_sent_patch(&server, "resume@studio.test", &id, &audio, first).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let (status, state) = owner.get_json(&format!("/api/uploads/{id}")).await;
    assert_eq!(status, 200);
    let offset = state["offset"].as_u64().unwrap();
    assert!(
        offset > first as u64 && offset <= (first + 200_000) as u64,
        "kept what arrived: {state}"
    );

    let (status, current, err) = patch(&owner, &id, 0, audio.clone()).await;
    assert_eq!(
        (status, current, err["error"].as_str()),
        (409, Some(offset), Some("offset_mismatch"))
    );

    let (status, _, track) = patch(&owner, &id, offset, audio[offset as usize..].to_vec()).await;
    assert_eq!(status, 201, "{track}");
    assert_eq!(track["name"], "Verse take 2");
    assert_eq!(track["sha256"], sha256_hex(&audio));
    let back = owner
        .get(&format!(
            "/api/tracks/{}/audio",
            track["id"].as_str().unwrap()
        ))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(back.as_ref(), audio.as_slice());
    assert_finished_once(&owner, &id, &audio, &track).await;
    assert_tmp_clears(&server).await;
}

/// A finished upload answers with its track, as in tus: a client that lost the final answer
/// asks again instead of uploading the file twice.
async fn assert_finished_once(owner: &Owner, id: &str, audio: &[u8], track: &Value) {
    let size = audio.len() as u64;
    let (status, state) = owner.get_json(&format!("/api/uploads/{id}")).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["offset"].as_u64(), Some(size), "{state}");
    assert_eq!(state["track"]["id"], track["id"], "{state}");
    let (status, _, again) = patch(owner, id, size, Vec::new()).await;
    assert_eq!((status, &again["id"]), (201, &track["id"]), "{again}");
    let (status, current, err) = patch(owner, id, 0, audio.to_vec()).await;
    assert_eq!(
        (status, current, err["error"].as_str()),
        (409, Some(size), Some("offset_mismatch"))
    );
    let (_, tracks) = owner.get_json("/api/tracks").await;
    let same = tracks["items"].as_array().map_or(0, |all| {
        all.iter()
            .filter(|t| t["sha256"] == track["sha256"])
            .count()
    });
    assert_eq!(same, 1, "stored once: {tracks}");
}

/// Creates a resumable upload of `audio` and sends its first `first` bytes.
async fn begun(owner: &Owner, name: &str, audio: &[u8], first: usize) -> String {
    let (status, created) = owner
        .send(
            reqwest::Method::POST,
            "/api/uploads",
            Some(json!({"filename": name, "size": audio.len()})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(patch(owner, &id, 0, audio[..first].to_vec()).await.0, 204);
    id
}

/// Over HTTP/2 a browser that aborts an upload, or loses its network, resets the stream, and
/// hyper then drops the request's handler mid-append. What arrived was lost with the writer
/// the handler held (the status said 0, and the next piece got 500): a take started over.
#[tokio::test(flavor = "multi_thread")]
async fn a_resumable_upload_reset_over_http2_keeps_what_arrived() {
    let server = Server::start_deployed();
    server.add_user("h2@studio.test", "pro");
    let owner = Owner::signed_in(&server, "h2@studio.test").await;
    let audio = wav(6.0, 22);
    let first = 300_000usize;
    let id = begun(&owner, "Bridge take 4.wav", &audio, first).await;

    // The next piece sends 200 kB, then its body fails: the client resets the stream.
    let sent = audio[first..first + 200_000].to_vec();
    let pieces = futures_util::stream::iter([Ok::<_, std::io::Error>(sent)]).chain(
        futures_util::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Err(std::io::Error::other("the network went away"))
        }),
    );
    let res = owner
        .http
        .patch(owner.url(&format!("/api/uploads/{id}")))
        .header("Upload-Offset", first.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await;
    assert!(res.is_err(), "the request was cut off: {res:?}");

    let offset = wait_for_offset(&owner, &id, first as u64).await;
    assert!(
        offset <= (first + 200_000) as u64,
        "no more than arrived: {offset}"
    );
    let (status, _, track) = patch(&owner, &id, offset, audio[offset as usize..].to_vec()).await;
    assert_eq!(status, 201, "{track}");
    assert_eq!(track["sha256"], sha256_hex(&audio));
    let version = owner
        .http
        .get(owner.url(&format!("/api/uploads/{id}")))
        .send()
        .await
        .unwrap()
        .version();
    assert_eq!(version, reqwest::Version::HTTP_2, "the shape browsers use");
    assert_finished_once(&owner, &id, &audio, &track).await;
    assert_tmp_clears(&server).await;
}

/// The temp directory empties: nothing of an upload is left there. (The new track's analysis
/// writes its peaks through it for a moment, so it is polled.)
async fn assert_tmp_clears(server: &Server) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server.files_under("tmp").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left in tmp: {:?}",
            server.files_under("tmp")
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Polls the upload's status until it holds more than `past` bytes.
async fn wait_for_offset(owner: &Owner, id: &str, past: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let path = format!("/api/uploads/{id}");
    loop {
        // A status call stuck behind a stalled append counts as no answer yet.
        let status = owner.get_json(&path);
        let state = match tokio::time::timeout(std::time::Duration::from_secs(5), status).await {
            Ok((status, state)) => {
                assert_eq!(status, 200, "{state}");
                let offset = state["offset"].as_u64().unwrap();
                if offset > past {
                    return offset;
                }
                state
            }
            Err(_) => json!("the status call did not answer"),
        };
        assert!(
            std::time::Instant::now() < deadline,
            "the bytes that arrived were not kept: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A client whose network vanishes silently (a half-open connection) sends nothing more and
/// never closes. Its upload was held, and the status call waited on it, for good; past the
/// body's idle limit the append ends and keeps what arrived.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_upload_body_is_cut_off_and_keeps_what_arrived() {
    let server = Server::start_with(&[("STUDIOVAULT_HTTP__BODY_IDLE_TIMEOUT_SECS", "2")]);
    server.add_user("stall@studio.test", "pro");
    let owner = Owner::signed_in(&server, "stall@studio.test").await;
    let audio = wav(6.0, 23);
    let first = 300_000usize;
    let id = begun(&owner, "Outro.wav", &audio, first).await;
    let stream = half_sent_patch(&server, "stall@studio.test", &id, &audio, first).await;

    // The socket stays open and silent.
    let offset = wait_for_offset(&owner, &id, first as u64).await;
    assert_eq!(offset, (first + 200_000) as u64);
    let (status, _, track) = patch(&owner, &id, offset, audio[offset as usize..].to_vec()).await;
    assert_eq!(status, 201, "{track}");
    assert_eq!(track["sha256"], sha256_hex(&audio));
    drop(stream);
}

/// A cancelled upload never becomes a track. The append still writing when the owner cancels
/// finds it cancelled once its last bytes are in, instead of storing them (before, it stored
/// the take the owner had just been told was discarded); and a finished upload, which is a
/// track, is not reported cancelled while it stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_upload_never_becomes_a_track() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start();
    server.add_user("cancel@studio.test", "pro");
    let owner = Owner::signed_in(&server, "cancel@studio.test").await;
    let audio = wav(6.0, 24);
    let first = 300_000usize;
    let id = begun(&owner, "Cancelled.wav", &audio, first).await;
    let mut stream = half_sent_patch(&server, "cancel@studio.test", &id, &audio, first).await;
    // The append is under way (it holds what arrived in memory until a batch fills, so there
    // is nothing to watch for; were it not yet, it would find the upload gone, also no track).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let (status, body) = owner
        .send(reqwest::Method::DELETE, &format!("/api/uploads/{id}"), None)
        .await;
    assert_eq!(status, 204, "{body}");
    // The rest of the take arrives all the same.
    stream.write_all(&audio[first + 200_000..]).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("the append answers")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let (_, tracks) = owner.get_json("/api/tracks").await;
    assert_eq!(tracks["total"], 0, "{tracks}");
    assert_tmp_clears(&server).await;

    // Finished, an upload is a track: cancelling it says so, and the track stays.
    let id = begun(&owner, "Kept.wav", &audio, first).await;
    let (status, _, track) = patch(&owner, &id, first as u64, audio[first..].to_vec()).await;
    assert_eq!(status, 201, "{track}");
    let (status, body) = owner
        .send(reqwest::Method::DELETE, &format!("/api/uploads/{id}"), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("upload_complete")),
        "{body}"
    );
    let (_, tracks) = owner.get_json("/api/tracks").await;
    assert_eq!(tracks["total"], 1, "{tracks}");
}

#[tokio::test(flavor = "multi_thread")]
async fn resumable_uploads_are_private_bounded_and_checked() {
    let server = Server::start();
    server.add_user("one@studio.test", "pro");
    server.add_user("two@studio.test", "pro");
    let one = Owner::signed_in(&server, "one@studio.test").await;
    let two = Owner::signed_in(&server, "two@studio.test").await;
    let create = |owner: &Owner, size: u64| {
        let req = owner
            .http
            .post(owner.url("/api/uploads"))
            .json(&serde_json::json!({"filename": "x.wav", "size": size}));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or_default();
            (status, body)
        }
    };
    let audio = wav(1.0, 3);
    let (_, created) = create(&one, audio.len() as u64).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        two.get(&format!("/api/uploads/{id}")).await.status(),
        404,
        "another owner's upload"
    );
    assert_eq!(patch(&two, &id, 0, audio.clone()).await.0, 404);
    assert_eq!(
        two.send(reqwest::Method::DELETE, &format!("/api/uploads/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        one.get(&format!("/api/uploads/{id}")).await.status(),
        200,
        "still there for its owner"
    );

    let (status, body) = create(&one, 10 << 40).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("too_large")));

    let mut longer = audio.clone();
    longer.extend_from_slice(&[0u8; 1000]);
    let (status, _, err) = patch(&one, &id, 0, longer).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        one.get(&format!("/api/uploads/{id}")).await.status(),
        404,
        "a refused upload is dropped"
    );

    let (_, created) = create(&one, 5000).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _, err) =
        patch(&one, &id, 0, b"%PDF-1.7 not audio at all, plainly".to_vec()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (415, Some("unsupported_audio"))
    );

    let (_, created) = create(&one, 5000).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(patch(&one, &id, 0, audio[..100].to_vec()).await.0, 204);
    assert_eq!(
        one.send(reqwest::Method::DELETE, &format!("/api/uploads/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(one.get(&format!("/api/uploads/{id}")).await.status(), 404);
    assert!(
        server.files_under("tmp").is_empty(),
        "cancelled and refused uploads leave nothing"
    );
    assert!(server.files_under("blobs").is_empty());
}

/// The cap on open resumable uploads was counted and the session inserted under separate
/// locks, so parallel creations could all slip under it. They are one step now.
#[tokio::test(flavor = "multi_thread")]
async fn parallel_upload_creations_never_pass_the_open_upload_cap() {
    let server = Server::start();
    server.add_user("cap@studio.test", "pro");
    let owner = Owner::signed_in(&server, "cap@studio.test").await;
    let attempts = (0..40).map(|_| {
        let req = owner
            .http
            .post(owner.url("/api/uploads"))
            .json(&serde_json::json!({"filename": "x.wav", "size": 5000}));
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let created = statuses.iter().filter(|&&s| s == 201).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((created, refused), (16, 24), "{statuses:?}");
    // The refused sessions' temporary files went with them.
    assert_eq!(server.files_under("tmp").len(), 16);
}

/// A client that sends the headers of a sign-in and then trickles its body is cut off with
/// `408` once the small-body deadline passes, rather than holding a task for ever.
#[test]
fn a_trickled_json_body_is_cut_off_with_408() {
    use std::io::{Read, Write};
    let server = Server::start();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(
            b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let waited = started.elapsed().as_secs();
    assert!((9..25).contains(&waited), "answered after {waited} s");
}

/// An upload refused before its body is read (here: without a session) is answered over
/// HTTP/1.1 with `Connection: close`: the server closes that connection after answering, and a
/// client that reused it would lose its next request. Uploads taken, and refusals that read the
/// body first (a revoked upload link, a wrong password), keep the connection.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_refused_unread_says_its_connection_closes() {
    let server = Server::start();
    let client = studiovault_e2e::client_for(&server)
        .http1_only()
        .build()
        .unwrap();
    let connection = |res: &reqwest::Response| {
        res.headers()
            .get("connection")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for round in 0..3 {
        let res = client
            .post(server.url("/api/tracks"))
            .header("content-type", "multipart/form-data; boundary=b")
            .body(vec![b'x'; 256 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "round {round}");
        assert_eq!(connection(&res).as_deref(), Some("close"), "round {round}");
        let health = client.get(server.url("/api/health")).send().await;
        assert_eq!(health.unwrap().status(), 200, "round {round}");
    }

    // A revoked upload link's refusal reads what the browser is still sending first.
    server.add_user("owner@studio.test", "pro");
    let owner = Owner::signed_in(&server, "owner@studio.test").await;
    let (status, link) = owner
        .send(
            reqwest::Method::POST,
            "/api/upload-links",
            Some(json!({"name": "Cleo", "max_files": 1})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let (status, _) = owner
        .send(
            reqwest::Method::DELETE,
            &format!("/api/upload-links/{}", link["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let files = format!("{}/files", server.url(link["link"].as_str().unwrap()));
    for round in 0..3 {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(wav(1.0, round)).file_name("late.wav"),
        );
        let res = client.post(&files).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), 404, "round {round}");
        assert_eq!(connection(&res), None, "round {round}");
        let health = client.get(server.url("/api/health")).send().await;
        assert_eq!(health.unwrap().status(), 200, "round {round}");
    }

    // Uploads taken, and other answers to bodies read, keep theirs.
    let res = owner.upload("kept.wav", wav(1.0, 7)).await;
    assert_eq!(res.status(), 201);
    assert_eq!(connection(&res), None);
    let res = client
        .post(server.url("/api/session"))
        .json(&json!({"email": "owner@studio.test", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(connection(&res), None);
}

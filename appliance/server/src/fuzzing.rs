//! Entry points for the fuzz targets in `appliance/server/fuzz/`, one per parser of outside
//! input, and for the stable replay of their corpora (`tests/fuzz_corpora.rs`).
//!
//! The HTTP targets drive the real public router in process (`warp::test`) against a real
//! vault in a temp directory, set up once like a user would: an owner signed in with a track, a
//! password share with its unlock cookie and a signed media URL, and a stem job leased by an
//! enrolled worker. Each input is one request whose fuzzed parts are spliced into a valid one,
//! so tampering reaches every field. Besides "never panics", each target asserts what must hold
//! for any input: no 5xx but `503`, errors as JSON, and no tampered credential accepted.
//!
//! Inputs are split into fields at `\n` (see [`Fields`]); the last field is the rest, bytes.

#![allow(clippy::panic, clippy::expect_used)] // a broken invariant must crash the fuzzer

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};
use studiovault_vault::{MasterKey, Vault};
use warp::http::{HeaderValue, Response, Uri};

use crate::config::Config;
use crate::listener::Routes;
use crate::web::AppState;
use crate::web::range::{ByteRange, resolve};

/// `Range` and `If-Range` on a track's audio, and [`resolve`] itself on any length.
pub fn range(data: &[u8]) {
    let mut f = Fields::new(data);
    let (range, if_range) = (f.text(), f.text());
    let len = u64::from_le_bytes(f.array());
    let etag = "\"etag\"";
    match resolve(Some(range), Some(if_range), etag, len) {
        ByteRange::Partial { start, end } => {
            assert!(
                start <= end && end < len,
                "{start}-{end} outside {len} bytes"
            );
        }
        ByteRange::Full | ByteRange::Unsatisfiable => {}
    }
    let h = harness();
    let path = format!("/api/tracks/{}/audio", h.track);
    let res = h.send(
        Request::get(&path)
            .cookie(&h.session_cookie)
            .header("range", range.as_bytes())
            .header_if("if-range", if_range.as_bytes(), !if_range.is_empty()),
    );
    let status = res.status().as_u16();
    // A header that is not visible ASCII is no string to read: refused with a JSON error.
    let opaque = |v: &str| {
        v.bytes()
            .any(|b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
    };
    if status == 400 && (opaque(range) || opaque(if_range)) {
        assert!(json_body(&res)["error"].is_string(), "a 400 says why");
        return;
    }
    assert!(matches!(status, 200 | 206 | 416), "Range answered {status}");
    if status == 206 {
        let content_range = header_text(&res, "content-range");
        let (span, total) = content_range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .expect("a 206 names its range");
        let (start, end) = span.split_once('-').expect("start-end");
        let (start, end): (u64, u64) = (start.parse().expect("start"), end.parse().expect("end"));
        assert_eq!(total, h.track_len.to_string());
        assert!(start <= end && end < h.track_len);
        assert_eq!(res.body().len() as u64, end - start + 1, "{content_range}");
    }
}

/// A multipart upload: the boundary, then the body.
pub fn multipart(data: &[u8]) {
    let mut f = Fields::new(data);
    let boundary = f.text();
    let body = f.rest();
    let h = harness();
    let res = h.send(
        Request::post("/api/tracks")
            .cookie(&h.session_cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}").as_bytes(),
            )
            .body(body),
    );
    let status = res.status().as_u16();
    assert!(
        matches!(status, 201 | 400 | 413 | 415 | 422),
        "multipart answered {status}"
    );
    if status == 201 {
        // Keep the library small and the quota unspent: a fuzzed file that is real audio
        // goes again.
        let id = json_body(&res)["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let res = h.send(Request::delete(&format!("/api/tracks/{id}")).cookie(&h.session_cookie));
        assert_eq!(res.status().as_u16(), 204);
    }
}

/// A resumable upload: the creation body, then `Upload-Offset` and a body per append.
pub fn upload_offsets(data: &[u8]) {
    let mut f = Fields::new(data);
    let creation = f.bytes();
    let h = harness();
    let res = h.send(
        Request::post("/api/uploads")
            .cookie(&h.session_cookie)
            .header("content-type", b"application/json")
            .body(creation),
    );
    let status = res.status().as_u16();
    assert!(
        matches!(status, 201 | 400 | 413 | 415 | 422),
        "create answered {status}"
    );
    if status != 201 {
        return;
    }
    let created = json_body(&res);
    let id = created["id"].as_str().expect("an upload id").to_owned();
    let size = created["size"].as_u64().expect("a size");
    let path = format!("/api/uploads/{id}");
    append_all(h, &path, size, &mut f);
    // Whatever happened, the upload goes, so the owner's open uploads stay under their cap; one
    // that became a track (deleted by `append_all`) is not open, and says so.
    let res = h.send(Request::delete(&path).cookie(&h.session_cookie));
    match res.status().as_u16() {
        204 | 404 => {}
        409 => assert_eq!(json_body(&res)["error"], "upload_complete"),
        other => panic!("cancel answered {other}"),
    }
}

/// The appends of [`upload_offsets`], until the input ends or the upload does.
fn append_all(h: &Harness, path: &str, size: u64, f: &mut Fields<'_>) {
    let mut held = 0u64;
    while !f.is_empty() {
        let offset = f.text();
        let piece = f.bytes();
        let res = h.send(
            Request::patch(path)
                .cookie(&h.session_cookie)
                .header("upload-offset", offset.as_bytes())
                .body(piece),
        );
        let status = res.status().as_u16();
        match status {
            204 => {
                assert_eq!(
                    offset.parse::<u64>().ok(),
                    Some(held),
                    "appended at {offset}"
                );
                held = header_text(&res, "upload-offset")
                    .parse()
                    .expect("the new offset");
                assert!(held <= size, "{held} bytes held of {size} declared");
            }
            201 => {
                let id = json_body(&res)["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                h.send(Request::delete(&format!("/api/tracks/{id}")).cookie(&h.session_cookie));
                return;
            }
            409 => {
                let told: u64 = header_text(&res, "upload-offset").parse().unwrap_or(held);
                assert_eq!(told, held, "a conflict tells the offset held");
            }
            // A refused append ends the upload.
            400 | 413 | 415 | 422 => return,
            other => panic!("append answered {other}"),
        }
    }
}

/// A signed media URL with bytes spliced in at a chosen place: answered only when every field
/// still says what was signed.
pub fn media_query(data: &[u8]) {
    let h = harness();
    let url = splice(&h.media_url, data);
    let Some(uri) = valid_uri(&url) else { return };
    let res = h.send(
        Request::get(&url)
            .cookie(&h.unlock_cookie)
            .header("range", b"bytes=0-99"),
    );
    let status = res.status().as_u16();
    assert!(
        matches!(status, 200 | 206 | 400 | 403 | 404 | 405 | 410 | 416 | 429),
        "{url} answered {status}"
    );
    // Other routes answer other paths (the web app's pages); what matters is audio.
    if header_text(&res, "content-type").starts_with("audio/") {
        let signed = valid_uri(&h.media_url).expect("the signed URL");
        assert_eq!(
            percent_decoded(uri.path()),
            percent_decoded(signed.path()),
            "{url}"
        );
        assert_eq!(
            query_fields(uri.query().unwrap_or_default()),
            query_fields(signed.query().unwrap_or_default()),
            "a tampered query was accepted: {url}"
        );
    }
}

/// A password share's link and its unlock cookie, either spliced: the share's tracks show only
/// for the right link with the right cookie.
pub fn share_link(data: &[u8]) {
    let h = harness();
    let (which, data) = data.split_first().unwrap_or((&0, &[]));
    let (mut path, mut cookie) = (format!("/s/{}", h.link), h.unlock_cookie.clone());
    if which % 2 == 0 {
        path = splice(&path, data);
    } else {
        cookie = splice(&cookie, data);
    }
    let Some(uri) = valid_uri(&path) else { return };
    let res = h.send(Request::get(&path).cookie(&cookie));
    let status = res.status().as_u16();
    assert!(
        matches!(status, 200 | 301 | 308 | 400 | 401 | 404 | 405 | 410 | 429),
        "{path} answered {status}"
    );
    if String::from_utf8_lossy(res.body()).contains(TRACK_NAME) {
        assert_eq!(
            percent_decoded(uri.path()).trim_end_matches('/'),
            format!("/s/{}", h.link),
            "a forged link opened the share"
        );
        assert!(
            cookie.contains(h.unlock_cookie.as_str()),
            "a forged cookie unlocked the share: {cookie}"
        );
    }
}

/// The configuration file: refused with an error or loaded, and what `config show` prints of a
/// loaded one loads again to the same configuration.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_text(text, None, []) else {
        return;
    };
    let shown = toml::to_string_pretty(&config).expect("a loaded configuration prints");
    let again = Config::from_text(&shown, None, []).expect("the printed configuration loads");
    assert_eq!(
        toml::to_string_pretty(&again).expect("prints"),
        shown,
        "printing is not stable"
    );
}

/// A worker's stems for its leased job: the `x-stem-layout` header, then the body.
pub fn worker_result(data: &[u8]) {
    let mut f = Fields::new(data);
    let layout = f.bytes();
    let body = f.rest();
    let h = harness();
    let res = h.send(
        Request::put(&format!("/api/worker/jobs/{}/stems", h.job))
            .bearer(&h.worker_token)
            .header("x-stem-layout", layout)
            .body(body),
    );
    let status = res.status().as_u16();
    assert!(
        matches!(status, 400 | 404 | 409 | 411 | 413 | 422),
        "a fuzzed result answered {status}"
    );
}

/// For the libFuzzer targets: a panic raised in this workspace's code aborts (a finding), while
/// one raised inside a dependency and caught on purpose (symphonia's decoders panic on some
/// corrupt input; `studiovault_audio::probe` catches that and reports corrupt audio) is only
/// logged, as it is in the server. libFuzzer's own hook would abort on both.
pub fn abort_on_own_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_dependency = info
                .location()
                .is_some_and(|l| l.file().contains("/.cargo/registry/"));
            if in_dependency {
                eprintln!("caught dependency panic: {info}");
            } else {
                default(info);
                std::process::abort();
            }
        }));
    });
}

const TRACK_NAME: &str = "Fuzz Harness Take";
const PASSWORD: &str = "correct horse battery staple";

/// The vault, the router and the credentials every target starts from.
struct Harness {
    runtime: tokio::runtime::Runtime,
    routes: Routes,
    _dir: tempfile::TempDir,
    session_cookie: String,
    track: String,
    track_len: u64,
    link: String,
    unlock_cookie: String,
    media_url: String,
    worker_token: String,
    job: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::set_up)
}

impl Harness {
    fn set_up() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let data_dir = dir.path().join("data");
        let config = Config::from_text(
            "",
            None,
            [(
                "STUDIOVAULT_DATA_DIR".to_owned(),
                format!("{:?}", data_dir.display().to_string()),
            )],
        )
        .expect("the default configuration");
        std::fs::create_dir_all(&data_dir).expect("the data dir");
        let (master, _) =
            MasterKey::load_or_create(&config.master_key_path()).expect("a master key");
        let watermark_key =
            studiovault_watermark::WatermarkKey::from_bytes(*master.watermark_key());
        let vault = Vault::open(&data_dir, master, config.policy()).expect("the vault");
        let backups = crate::backups::Backups::from_config(&config).expect("backups");
        let state = AppState::new(
            Arc::new(config),
            vault.clone(),
            watermark_key,
            backups,
            None,
            crate::probe::Prober::InProcess,
        );
        let routes = crate::serve::public_routes(&state);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let mut h = Self {
            runtime,
            routes,
            _dir: dir,
            session_cookie: String::new(),
            track: String::new(),
            track_len: 0,
            link: String::new(),
            unlock_cookie: String::new(),
            media_url: String::new(),
            worker_token: String::new(),
            job: String::new(),
        };

        let email = "fuzz@studio.test";
        vault
            .admin()
            .create_user(email, Some(PASSWORD), studiovault_api::Plan::Pro)
            .expect("the owner");
        let res = h.send(
            Request::post("/api/session").json(&json!({ "email": email, "password": PASSWORD })),
        );
        assert_eq!(res.status(), 200, "sign-in");
        h.session_cookie = set_cookie(&res);

        let audio = test_wav();
        h.track_len = audio.len() as u64;
        let boundary = "fuzzboundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"take.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&audio);
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{TRACK_NAME}\r\n--{boundary}--\r\n").as_bytes(),
        );
        let res = h.send(
            Request::post("/api/tracks")
                .cookie(&h.session_cookie)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}").as_bytes(),
                )
                .body(&body),
        );
        assert_eq!(res.status(), 201, "upload: {:?}", res.body());
        h.track = json_body(&res)["id"].as_str().expect("track id").to_owned();

        let res = h.send(
            Request::post("/api/shares")
                .cookie(&h.session_cookie)
                .json(&json!({
                    "title": "Fuzz share",
                    "tracks": [h.track],
                    "recipients": [{ "name": "Fuzz Recipient" }],
                    "password": PASSWORD,
                    "allow_download": true,
                })),
        );
        assert_eq!(res.status(), 201, "share: {:?}", res.body());
        let share = json_body(&res);
        let link = share["recipients"][0]["link"].as_str().expect("a link");
        h.link = link.rsplit('/').next().unwrap_or_default().to_owned();
        let res = h.send(
            Request::post(&format!("/s/{}/unlock", h.link))
                .header("content-type", b"application/x-www-form-urlencoded")
                .body(format!("password={}", PASSWORD.replace(' ', "+")).as_bytes()),
        );
        h.unlock_cookie = set_cookie(&res);
        assert!(!h.unlock_cookie.is_empty(), "unlock: {}", res.status());
        let res = h.send(
            Request::post(&format!("/s/{}/play/{}", h.link, h.track)).cookie(&h.unlock_cookie),
        );
        assert_eq!(res.status(), 200, "media URL: {:?}", res.body());
        let url = json_body(&res)["url"].as_str().expect("a url").to_owned();
        h.media_url = valid_uri(&url)
            .and_then(|u| u.path_and_query().map(ToString::to_string))
            .expect("a media path");
        // What the targets' checks rely on: the signed URL plays, the unlocked page shows the
        // track, the locked one does not.
        let res = h.send(
            Request::get(&h.media_url)
                .cookie(&h.unlock_cookie)
                .header("range", b"bytes=0-99"),
        );
        assert_eq!(res.status(), 206, "the signed URL plays");
        let page = |cookie: &str| {
            let res = h.send(Request::get(&format!("/s/{}", h.link)).cookie(cookie));
            String::from_utf8_lossy(res.body()).contains(TRACK_NAME)
        };
        assert!(
            page(&h.unlock_cookie) && !page(""),
            "only the unlocked page shows the track"
        );

        let (_, token) = vault.enrol_worker("fuzz worker").expect("a worker");
        h.worker_token = token;
        let res = h.send(
            Request::post(&format!("/api/tracks/{}/stems", h.track)).cookie(&h.session_cookie),
        );
        assert!(res.status().is_success(), "stems: {:?}", res.body());
        let res = h.send(
            Request::post("/api/worker/lease")
                .bearer(&h.worker_token)
                .json(&json!({
                    "capabilities": { "backend": "command", "host": "fuzz", "version": "0" },
                    "wait_secs": 1,
                })),
        );
        assert_eq!(res.status(), 200, "lease: {:?}", res.body());
        h.job = json_body(&res)["job"]["job"]
            .as_str()
            .expect("a job")
            .to_owned();
        h
    }

    fn send(&self, req: Request) -> Response<Bytes> {
        self.runtime.block_on(req.0.reply(&self.routes))
    }
}

/// A request under construction; header values that are not valid HTTP are left out, as a
/// server's HTTP layer would refuse them before any route.
struct Request(warp::test::RequestBuilder);

impl Request {
    fn new(method: &str, path: &str) -> Self {
        Self(warp::test::request().method(method).path(path))
    }
    fn get(path: &str) -> Self {
        Self::new("GET", path)
    }
    fn post(path: &str) -> Self {
        Self::new("POST", path)
    }
    fn put(path: &str) -> Self {
        Self::new("PUT", path)
    }
    fn patch(path: &str) -> Self {
        Self::new("PATCH", path)
    }
    fn delete(path: &str) -> Self {
        Self::new("DELETE", path)
    }
    fn header(self, name: &'static str, value: &[u8]) -> Self {
        match HeaderValue::from_bytes(value) {
            Ok(v) => Self(self.0.header(name, v)),
            Err(_) => self,
        }
    }
    fn header_if(self, name: &'static str, value: &[u8], send: bool) -> Self {
        if send { self.header(name, value) } else { self }
    }
    fn cookie(self, cookie: &str) -> Self {
        self.header("cookie", cookie.as_bytes())
    }
    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}").as_bytes())
    }
    fn json(self, value: &Value) -> Self {
        self.header("content-type", b"application/json")
            .body(value.to_string().as_bytes())
    }
    fn body(self, body: &[u8]) -> Self {
        Self(self.0.body(body))
    }
}

/// Fields of a fuzz input, split at `\n`.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self(data)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn bytes(&mut self) -> &'a [u8] {
        let end = self
            .0
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(self.0.len());
        let field = &self.0[..end];
        self.0 = self.0.get(end + 1..).unwrap_or_default();
        field
    }
    fn text(&mut self) -> &'a str {
        let field = self.bytes();
        std::str::from_utf8(field).unwrap_or_default()
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// `valid` with `data`'s tail written over it from the position its first two bytes pick, and
/// cut there when the third byte is odd: every field of `valid` can be changed or dropped.
fn splice(valid: &str, data: &[u8]) -> String {
    let [a, b, mode] = [0, 1, 2].map(|i| data.get(i).copied().unwrap_or(0));
    let insert = data.get(3..).unwrap_or_default();
    let at = usize::from(u16::from_le_bytes([a, b])) % (valid.len() + 1);
    let mut out = valid.as_bytes()[..at].to_vec();
    out.extend_from_slice(insert);
    if mode % 2 == 0 {
        let skip = (at + insert.len()).min(valid.len());
        out.extend_from_slice(&valid.as_bytes()[skip..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_uri(path: &str) -> Option<Uri> {
    let uri: Uri = path.parse().ok()?;
    (uri.path().starts_with('/') && uri.scheme().is_none()).then_some(uri)
}

fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The signed fields of a query (`e`, `n`, `s`) as the server reads them (form-urlencoded),
/// sorted; other fields are no part of the signature, and the server ignores them.
fn query_fields(query: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    fields.retain(|(k, _)| matches!(k.as_str(), "e" | "n" | "s"));
    fields.sort();
    fields
}

fn header_text(res: &Response<Bytes>, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn json_body(res: &Response<Bytes>) -> Value {
    serde_json::from_slice(res.body()).unwrap_or(Value::Null)
}

/// `name=value` of the response's first cookie.
fn set_cookie(res: &Response<Bytes>) -> String {
    header_text(res, "set-cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// One second of a 440 Hz tone, 16-bit mono WAV at 22.05 kHz.
fn test_wav() -> Vec<u8> {
    let rate = 22_050u32;
    let samples: Vec<i16> = (0..rate)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            // In range by construction: |sin| ≤ 1, scaled to 8000.
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

//! End-to-end harness: starts the real `studiovault` binary on a free loopback port with its own
//! data directory, and drives it like its users do: over HTTP as an owner, and through the CLI
//! and the admin socket as an admin.
//!
//! The binary is the one `cargo build -p studiovault` put next to the test executables (or
//! `$STUDIOVAULT_BIN`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // a test harness fails by panicking

pub mod attack;
pub mod browser;
pub mod pebble;
pub mod rate_limit;
pub mod s3;
pub mod smtp;
pub mod tls;
pub mod tmux;
pub mod workers;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

pub const PASSWORD: &str = "a long studio passphrase";

/// This crate's directory as `cargo test` gives it at run time: a test binary built in another
/// checkout that shares the target directory must read this checkout's files, not that one's.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
}

/// Where the binary under test is.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("STUDIOVAULT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/<profile>/studiovault
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("studiovault"))
        .unwrap_or_default();
    assert!(
        bin.exists(),
        "the studiovault binary is not built at {}: run `cargo build -p studiovault` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// A loopback port free now, for a server a test starts. Picked below the kernel's ephemeral
/// range (32768 and up on Linux): a port the kernel handed out for port 0 is also one it hands
/// to outgoing connections, which can take it between this call and the server's bind.
pub fn free_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..1000)
        .map(|_| rng.gen_range(20_000..32_000))
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .unwrap_or_else(|| panic!("no free loopback port between 20000 and 32000"))
}

/// A running appliance with its own data directory.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    env: Vec<(String, String)>,
    /// Whether `port` answers HTTPS (TLS on) rather than plain HTTP.
    https: bool,
    /// The local CA's root, read once: it lives in the data directory and outlasts restarts.
    local_root: std::sync::OnceLock<Option<String>>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with TLS on: HTTPS on `https_port` and the ACME/redirect port on `http_port`, both
    /// on loopback, plus the given `STUDIOVAULT_TLS__*` settings.
    pub fn start_https(https_port: u16, http_port: u16, env: &[(&str, &str)]) -> Self {
        let https = format!("127.0.0.1:{https_port}");
        let http = format!("127.0.0.1:{http_port}");
        let mut all = vec![
            ("STUDIOVAULT_TLS__HTTPS_LISTEN", https.as_str()),
            ("STUDIOVAULT_TLS__HTTP_LISTEN", http.as_str()),
        ];
        all.extend_from_slice(env);
        let mut server = Self::unstarted(&all);
        server.port = https_port;
        server.https = true;
        server.spawn();
        server
    }

    /// Starts as studios deploy it: HTTPS with a certificate from the appliance's local CA
    /// (self-signed mode) for `127.0.0.1`, HTTP/2 offered, port 80's redirect on a free port.
    /// Clients made by [`Owner::new`] and [`browser::Browser::start_for`] trust that root alone.
    pub fn start_deployed() -> Self {
        Self::start_deployed_with(&[])
    }

    pub fn start_deployed_with(env: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("STUDIOVAULT_TLS__MODE", "self-signed"),
            ("STUDIOVAULT_TLS__SELF_SIGNED__NAMES", "[\"127.0.0.1\"]"),
        ];
        all.extend_from_slice(env);
        Self::start_https(free_port(), free_port(), &all)
    }

    /// Whether the server answers HTTPS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The root of the local CA (self-signed mode), PEM; `None` for other modes.
    pub fn local_root_pem(&self) -> Option<String> {
        self.local_root
            .get_or_init(|| {
                let out = self.cli(&["tls", "status", "--json"], None);
                let status: Value = serde_json::from_slice(&out.stdout).ok()?;
                std::fs::read_to_string(status["root_certificate"]["path"].as_str()?).ok()
            })
            .clone()
    }

    /// The `Origin` a browser sends from this server's pages.
    pub fn origin(&self) -> String {
        self.base()
    }

    /// Starts with extra `STUDIOVAULT_*` variables (config overrides).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let mut server = Self::unstarted(env);
        server.spawn();
        server
    }

    fn unstarted(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sv-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        Self {
            child: None,
            dir,
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            https: false,
            local_root: std::sync::OnceLock::new(),
        }
    }

    /// Starts on a data directory that `prepare` fills first (a restored backup, say).
    pub fn start_prepared(env: &[(&str, &str)], prepare: impl FnOnce(&Path)) -> Self {
        let mut server = Self::unstarted(env);
        prepare(&server.data_dir());
        server.spawn();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file the server's store clock adds its seconds from (debug builds).
    fn clock_file(&self) -> PathBuf {
        self.dir.path().join("clock-offset-secs")
    }

    /// Moves the server's store clock `secs` forward (grace periods, gags, retention limits),
    /// for every later call; the server reads the file at each look at the time.
    pub fn advance_clock(&self, secs: i64) {
        let now: i64 = std::fs::read_to_string(self.clock_file())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        std::fs::write(self.clock_file(), (now + secs).to_string())
            .unwrap_or_else(|e| panic!("writing the test clock: {e}"));
    }

    /// Runs a housekeeping pass now through the CLI (purges, expiries, notices that fell due),
    /// and answers its report.
    pub fn housekeeping(&self) -> Value {
        let out = self.cli(&["housekeeping", "--json"], None);
        assert!(
            out.status.success(),
            "housekeeping failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("housekeeping JSON: {e}"))
    }

    pub fn base(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log"))
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .envs(self.env.iter().cloned())
            .env("STUDIOVAULT_TEST_CLOCK_FILE", self.clock_file())
            .env("STUDIOVAULT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the server exited with {status} while starting:\n{}",
                    self.log()
                );
            }
            let up = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.data_dir().join("admin.sock").exists();
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not come up within 60 s:\n{}", self.log());
    }

    /// The server process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's peak resident memory so far, in bytes (`VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid().unwrap_or(0)))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server ignored SIGTERM for 30 s:\n{}", self.log());
        }
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        self.spawn();
    }

    /// Runs a CLI subcommand against this server's data directory.
    /// The CLI with `args` against this server, not started: for one the test runs alongside.
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .envs(self.env.iter().cloned());
        cmd
    }

    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = self.cli_command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running the CLI: {e}"));
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(input.as_bytes());
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for the CLI: {e}"))
    }

    /// Runs the CLI and answers its standard output, failing the test if it fails.
    pub fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "`studiovault {}` failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates an account through the CLI with [`PASSWORD`]; answers its id.
    pub fn add_user(&self, email: &str, plan: &str) -> String {
        let out = self.cli_ok(
            &[
                "user",
                "add",
                email,
                "--plan",
                plan,
                "--password-stdin",
                "--json",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("user add --json: {e}: {out}"));
        v["user"]["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Every file under `sub` of the data directory.
    pub fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(p) {
                for e in entries.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path, out)
                    } else {
                        out.push(path)
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir().join(sub), &mut out);
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The value of the (first) cookie `headers` set.
pub fn cookie_set_by(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()?
                .split_once('=')
                .map(|(_, v)| v.to_owned())
        })
}

/// The session token a sign-in's answer set in its cookie.
pub fn session_token_of(res: &reqwest::Response) -> String {
    cookie_set_by(res.headers())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", res.headers()))
}

/// A new session's token for `email` (with [`PASSWORD`]), for requests written by hand.
pub async fn session_token(server: &Server, email: &str) -> String {
    let res = Owner::new(server).login(email, PASSWORD, None).await;
    assert_eq!(res.status(), 200, "sign-in of {email}");
    session_token_of(&res)
}

/// An owner's browser: a cookie jar against one server.
#[derive(Debug)]
pub struct Owner {
    pub http: reqwest::Client,
    base: String,
}

impl Owner {
    /// A client of `server`; over HTTPS it trusts the server's local root alone and speaks
    /// HTTP/2 where the server offers it, as browsers do.
    pub fn new(server: &Server) -> Self {
        let http = client_for(server)
            .cookie_store(true)
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self {
            http,
            base: server.base(),
        }
    }

    /// Signs in; panics unless it works.
    pub async fn signed_in(server: &Server, email: &str) -> Self {
        let owner = Self::new(server);
        let res = owner.login(email, PASSWORD, None).await;
        assert_eq!(
            res.status(),
            200,
            "sign-in of {email} failed: {:?}",
            res.text().await
        );
        owner
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/api/session"))
            .json(&serde_json::json!({ "email": email, "password": password, "totp": totp }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /api/session: {e}"))
    }

    pub async fn upload(&self, filename: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = Form::new().part("file", Part::bytes(bytes).file_name(filename.to_owned()));
        self.http
            .post(self.url("/api/tracks"))
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload: {e}"))
    }

    /// Uploads the next version of track `of`; answers the new track (the `version_of` field
    /// of `POST /api/tracks`). Panics unless it is created.
    pub async fn upload_version(&self, filename: &str, bytes: Vec<u8>, of: &str) -> Value {
        let form = Form::new()
            .part("file", Part::bytes(bytes).file_name(filename.to_owned()))
            .text("version_of", of.to_owned());
        let res = self
            .http
            .post(self.url("/api/tracks"))
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload: {e}"));
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 201, "new version of {of}: {body}");
        body
    }

    /// Uploads and answers the new track's id; panics unless it is created.
    pub async fn upload_ok(&self, filename: &str, bytes: Vec<u8>) -> String {
        let res = self.upload(filename, bytes).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 201, "upload of {filename}: {body}");
        body["id"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Traces a suspect file through `POST /api/leaks/trace`; answers the JSON report.
    pub async fn trace(&self, suspect: Vec<u8>) -> Value {
        let res = self
            .http
            .post(self.url("/api/leaks/trace"))
            .body(suspect)
            .send()
            .await
            .unwrap_or_else(|e| panic!("trace: {e}"));
        assert_eq!(res.status(), 200, "trace refused");
        res.json().await.unwrap_or(Value::Null)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A client builder for `server`: over HTTPS, trusting its local CA's root and nothing else.
pub fn client_for(server: &Server) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    if !server.is_https() {
        return builder;
    }
    let root = server
        .local_root_pem()
        .unwrap_or_else(|| panic!("the server has no local root:\n{}", server.log()));
    let root = reqwest::Certificate::from_pem(root.as_bytes())
        .unwrap_or_else(|e| panic!("the local root: {e}"));
    builder
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
}

/// A 16-bit PCM stereo WAV of a few tones, `secs` long: small, valid, and different per `seed`.
pub fn wav(secs: f32, seed: u32) -> Vec<u8> {
    let rate = 44_100u32;
    let frames = (secs * rate as f32) as u32;
    let f = 220.0 + (seed % 50) as f32 * 11.0;
    let mut pcm = Vec::with_capacity(frames as usize * 4);
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        let l = ((t * f * std::f32::consts::TAU).sin() * 9000.0) as i16;
        let r = ((t * f * 1.5 * std::f32::consts::TAU).sin() * 7000.0) as i16;
        pcm.extend_from_slice(&l.to_le_bytes());
        pcm.extend_from_slice(&r.to_le_bytes());
    }
    stereo_wav(rate, &pcm)
}

/// A WAV file around interleaved 16-bit stereo PCM.
fn stereo_wav(rate: u32, pcm: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

/// A track of Debian's `wesnoth-1.16-music`: real music nobody here wrote.
pub fn wesnoth_track(name: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new("/usr/share/games/wesnoth/1.16/data/core/music").join(name);
    std::fs::read(&path).with_context(|| {
        format!(
            "{} is missing: install Debian's wesnoth-1.16-music (scripts/test does)",
            path.display()
        )
    })
}

/// Converts `input` with ffmpeg; `args` go between input and output.
pub fn ffmpeg(input: &[u8], in_ext: &str, args: &[&str], out_ext: &str) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join(format!("in.{in_ext}"));
    let dst = dir.path().join(format!("out.{out_ext}"));
    std::fs::write(&src, input)?;
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args(args)
        .arg(&dst)
        .output()
        .context("ffmpeg is missing: install Debian's ffmpeg (scripts/test does)")?;
    if !out.status.success() {
        bail!(
            "ffmpeg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(std::fs::read(dst)?)
}

/// A log without its colour codes.
pub fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A 16-bit stereo WAV of a song in A minor at 120 BPM, `secs` long: a kick on every beat, a
/// bass line and chords through Am–Dm–Em–Am–F–G–Am–Am, an arpeggiated melody and off-beat hats.
/// The appliance's analysis reads it as 120.0 BPM, A minor (8A).
pub fn song_in_a_minor_at_120_bpm(secs: f32) -> Vec<u8> {
    const CHORDS: [[i32; 3]; 8] = [
        [0, 3, 7],
        [5, 8, 12],
        [7, 10, 14],
        [0, 3, 7],
        [-4, 0, 3],
        [-2, 2, 5],
        [0, 3, 7],
        [0, 3, 7],
    ];
    const BASS: [i32; 8] = [0, 5, 7, 0, -4, -2, 0, 0];
    let rate = 44_100u32;
    let beat = 0.5f64;
    let frames = (f64::from(secs) * f64::from(rate)) as u32;
    let freq = |semitones: i32| 220.0 * 2f64.powf(f64::from(semitones) / 12.0);
    let tau = std::f64::consts::TAU;
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    let mut samples = Vec::with_capacity(frames as usize * 4);
    for i in 0..frames {
        let t = f64::from(i) / f64::from(rate);
        let beats = t / beat;
        let bar = (beats / 4.0) as usize % CHORDS.len();
        let in_beat = beats.fract();
        let mut x = 0.0;
        for s in CHORDS[bar] {
            x += 0.12 * (tau * freq(s) * t).sin();
        }
        x += 0.2 * (tau * freq(BASS[bar] - 12) * t).sin();
        let since_beat = in_beat * beat;
        x += 0.6 * (tau * 55.0 * since_beat).sin() * (-since_beat * 18.0).exp();
        let eighth = (beats * 2.0) as usize % 3;
        let since_eighth = (beats * 2.0).fract() * beat / 2.0;
        x += 0.1 * (tau * freq(CHORDS[bar][eighth] + 12) * t).sin() * (-since_eighth * 6.0).exp();
        if (0.5..0.56).contains(&in_beat) {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            x += 0.05 * ((noise >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0);
        }
        let v = ((x * 0.8).clamp(-1.0, 1.0) * 32_767.0) as i16;
        samples.extend_from_slice(&v.to_le_bytes());
        samples.extend_from_slice(&v.to_le_bytes());
    }
    stereo_wav(rate, &samples)
}

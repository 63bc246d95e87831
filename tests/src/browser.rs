//! A real Chromium, headless, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs).
//!
//! Against a server started with [`Server::start_deployed`], the browser trusts the server's
//! local CA through an NSS database of its own (`certutil`, from Debian's `libnss3-tools`), as
//! a studio's machines trust it after installing the root: the pages load over HTTPS and
//! HTTP/2, with no certificate warning switched off.
//!
//! The driver runs in a process group of its own, and the browser it starts with it; dropping
//! a [`Browser`] (a test passing or panicking alike) kills that whole group, so no Chromium
//! outlives its test.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::Server;

/// Where screenshots go: `$STUDIOVAULT_ARTIFACTS`, or `target/test-artifacts` beside the tests.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("STUDIOVAULT_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap_or_default();
            exe.parent()
                .and_then(|d| d.parent())
                .and_then(|d| d.parent())
                .map(|t| t.join("test-artifacts"))
                .unwrap_or_else(|| PathBuf::from("test-artifacts"))
        });
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A headless Chromium session, closed (with its driver) on drop.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// The browser's profile and home (where its NSS database lives).
    profile: tempfile::TempDir,
    /// Where downloads land.
    pub downloads: tempfile::TempDir,
}

impl Browser {
    /// A browser for `server`: over HTTPS it trusts the server's local root, and nothing the
    /// system does not.
    pub async fn start_for(server: &Server) -> Self {
        let profile = tempfile::tempdir().unwrap();
        if server.is_https() {
            let root = server
                .local_root_pem()
                .unwrap_or_else(|| panic!("the server has no local root:\n{}", server.log()));
            trust_root(profile.path(), &root);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9515);
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            // Chromium reads its NSS database from $HOME/.pki/nssdb.
            .env("HOME", profile.path())
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver is missing ({e}): install Debian's chromium-driver (scripts/test does)"));
        // From here on, a panic drops the guard and kills the driver's group.
        let guard = GroupGuard(driver.id());
        let downloads = tempfile::tempdir().unwrap();
        let user_data = profile.path().join("chromium");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
                    "--window-size=1280,900", format!("--user-data-dir={}", user_data.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot start a WebDriver session: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        std::mem::forget(guard);
        Self {
            client,
            driver,
            profile,
            downloads,
        }
    }

    /// The network protocol the current page was loaded over, and every API request it made
    /// since: `h2` for HTTP/2.
    pub async fn protocols(&self) -> Vec<String> {
        let v = self
            .eval(
                "[...performance.getEntriesByType('navigation'), \
                  ...performance.getEntriesByType('resource').filter(r => new URL(r.name).origin === location.origin)] \
                 .map(r => r.nextHopProtocol)",
            )
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Fails unless the page and all its same-origin requests so far went over HTTP/2. A
    /// request that reached no network (aborted by a seek, or served from the memory cache)
    /// records no protocol and is not counted.
    pub async fn assert_http2(&self, what: &str) {
        let protocols = self.protocols().await;
        let sent: Vec<&String> = protocols.iter().filter(|p| !p.is_empty()).collect();
        assert!(
            protocols.first().is_some_and(|p| p == "h2") && sent.iter().all(|p| *p == "h2"),
            "{what}: not all over HTTP/2: {protocols:?}"
        );
    }

    /// Waits for a finished download whose name ends in `suffix`; answers its bytes.
    pub async fn downloaded(&self, suffix: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done = std::fs::read_dir(self.downloads.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix));
            if let Some(path) = done {
                return std::fs::read(path).unwrap_or_default();
            }
            if Instant::now() > deadline {
                panic!("no *{suffix} download within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Waits for `css` to match a displayed element.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && el.is_displayed().await.unwrap_or(false)
            {
                return el;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout").await;
                panic!("`{css}` did not appear within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the app's open question (its `<dialog>`) and checks that it names `what`.
    pub async fn question_naming(&self, what: &str) {
        let question = self.wait("dialog[open]").await;
        let text = question.text().await.unwrap_or_default();
        assert!(text.contains(what), "the question names {what}: {text}");
    }

    /// Answers the open question with Escape, and leaves a moment for anything it wrongly set
    /// off to land.
    pub async fn escape_question(&self) {
        self.keys("\u{E00C}").await; // Escape
        self.until(
            "the question gone",
            "!document.querySelector('dialog[open]')",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Polls `script` (a JS expression) until it is truthy; answers its value.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        self.until_within(what, script, Duration::from_secs(30))
            .await
    }

    /// [`Browser::until`] with a longer `limit`, for what the server takes its time over.
    pub async fn until_within(&self, what: &str, script: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.eval(script).await;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout").await;
                panic!("timed out waiting for {what}: `{script}` is {v}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("`{expression}`: {e}"))
    }

    /// Clicks `css` after scrolling it to the middle of the window, clear of the fixed player.
    /// A page that re-renders between finding and clicking (a list refreshing itself) is
    /// retried with the new element.
    pub async fn click(&self, css: &str) {
        let mut attempts = 0;
        loop {
            let el = self.wait(css).await;
            let arg = serde_json::to_value(&el).unwrap_or_default();
            let _ = self
                .client
                .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
                .await;
            match el.click().await {
                Ok(_) => return,
                Err(e) if attempts < 5 && e.to_string().contains("stale") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.wait(css).await;
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sends keys to whatever has the focus, as a keyboard-only user would.
    pub async fn keys(&self, keys: &str) {
        let el = self
            .client
            .active_element()
            .await
            .unwrap_or_else(|e| panic!("no focused element: {e}"));
        el.send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("keys: {e}"));
    }

    /// Runs `script` in every page opened from now on, before the page's own scripts (Chromium's
    /// `Page.addScriptToEvaluateOnNewDocument`, through chromedriver): to stand in for the
    /// network failing a page's first requests.
    pub async fn before_every_page(&self, script: &str) {
        self.client
            .issue_cmd(Cdp {
                cmd: "Page.addScriptToEvaluateOnNewDocument",
                params: json!({ "source": script }),
            })
            .await
            .unwrap_or_else(|e| panic!("adding a script to every page: {e}"));
    }

    /// Presses `key` with nothing focused, as a listener on the whole page hears it.
    pub async fn press_on_page(&self, key: char) {
        self.eval("(document.activeElement?.blur(), true)").await;
        let press = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(press)
            .await
            .unwrap_or_else(|e| panic!("pressing {key:?}: {e}"));
    }

    /// Saves a PNG of the page under the artifacts directory.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = artifacts_dir().join(format!("{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    /// Runs axe-core (from npm, installed by `scripts/test`) on the page; answers the
    /// violations of impact "serious" or "critical".
    pub async fn accessibility_violations(&self) -> Vec<Value> {
        let axe = std::fs::read_to_string(axe_path()).unwrap_or_else(|e| {
            panic!("axe-core is missing ({e}): scripts/test installs it with npm")
        });
        self.client
            .execute(&format!("{axe}\nreturn true;"), vec![])
            .await
            .unwrap_or_else(|e| panic!("loading axe-core: {e}"));
        let result = self
            .client
            .execute_async("const done = arguments[arguments.length - 1]; axe.run(document).then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));", vec![])
            .await
            .unwrap_or_else(|e| panic!("running axe-core: {e}"));
        result
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }
}

/// A Chrome DevTools Protocol command, sent through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (hyper::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (hyper::Method::POST, Some(body.to_string()))
    }
}

fn axe_path() -> PathBuf {
    std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::crate_dir().join("node_modules/axe-core/axe.min.js"))
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(self.driver.id());
        let _ = self.driver.wait();
        // Anything that left the group still names this profile on its command line.
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", "--"])
            .arg(self.profile.path())
            .status();
    }
}

/// Kills the process group led by `pid` (the driver and the browser it started).
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// Kills the driver's group if the browser never came up.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

/// An NSS database under `home` that trusts `root_pem` to identify web sites, as Chromium on
/// Linux reads it from `$HOME/.pki/nssdb`.
fn trust_root(home: &Path, root_pem: &str) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let root = home.join("root.pem");
    std::fs::write(&root, root_pem).unwrap();
    let db_arg = format!("sql:{}", db.display());
    let run = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "certutil is missing ({e}): install Debian's libnss3-tools (scripts/test does)"
                )
            });
        assert!(
            out.status.success(),
            "certutil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["-N", "-d", &db_arg, "--empty-password"]);
    run(&[
        "-A",
        "-d",
        &db_arg,
        "-t",
        "C,,",
        "-n",
        "studiovault-local-ca",
        "-i",
        &root.display().to_string(),
    ]);
}

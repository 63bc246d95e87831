//! Stem workers as studios run them: `studiovault worker run` in its own process, enrolled
//! through the CLI, talking to the server over HTTPS with the appliance's local CA.
//!
//! Dropping a [`Worker`] kills it and anything still naming its work directory (a separator
//! it started), so a failing test leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Server, binary, crate_dir};

/// The stand-in separator of the `command` backend's contract tests.
pub fn stub_separator() -> PathBuf {
    crate_dir().join("fixtures/stub-separator")
}

/// Where the built-in backend's model is installed for tests (scripts/test installs it).
pub fn models_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("STUDIOVAULT_MODELS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/studiovault-tools/models"))
        })?;
    if dir.join("spleeter-2stems.svm").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("STUDIOVAULT_REQUIRE_MODEL").is_none(),
        "the Spleeter model is not installed in {} (studiovault stems install-model)",
        dir.display()
    );
    None
}

/// Enrols a worker named `name` on `server`; answers its token.
pub fn enrol(server: &Server, name: &str) -> String {
    let out = server.cli_ok(&["worker", "enrol", name, "--json"], None);
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("enrol --json: {e}: {out}"));
    v["token"].as_str().unwrap_or_default().to_owned()
}

/// A running `studiovault worker run`.
#[derive(Debug)]
pub struct Worker {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub name: String,
}

impl Worker {
    /// Enrols `name` and starts it with `args` (backend flags) and `env`, in a work directory
    /// of its own.
    pub fn start(server: &Server, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let token = enrol(server, name);
        Self::start_with_token(server, name, &token, args, env, None)
    }

    /// Starts a worker with `token`, sharing `work_dir` when given (as two workers on one box).
    pub fn start_with_token(
        server: &Server,
        name: &str,
        token: &str,
        args: &[&str],
        env: &[(&str, &str)],
        work_dir: Option<&Path>,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sv-worker-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).unwrap_or_else(|e| panic!("token file: {e}"));
        let mut cmd = Command::new(binary());
        cmd.args(["worker", "run", "--server", &server.base(), "--token-file"])
            .arg(&token_file)
            .arg("--work-dir")
            .arg(work_dir.map_or_else(|| dir.path().join("work"), Path::to_owned));
        if let Some(root) = server.local_root_pem() {
            let ca = dir.path().join("root.pem");
            std::fs::write(&ca, root).unwrap_or_else(|e| panic!("root.pem: {e}"));
            cmd.arg("--ca-file").arg(ca);
        }
        let log = std::fs::File::create(dir.path().join("worker.log"))
            .unwrap_or_else(|e| panic!("worker log: {e}"));
        let child = cmd
            .args(args)
            .envs(env.iter().copied())
            .env("STUDIOVAULT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting a worker: {e}"));
        Self {
            child: Some(child),
            dir,
            name: name.to_owned(),
        }
    }

    /// The directory jobs' private directories are made in.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    /// SIGKILL: the worker gets no chance to report or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, as systemd stops it; answers how it exited.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let pid = self.child.as_ref()?.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        self.wait_exit(Duration::from_secs(15))
    }

    /// Waits up to `limit` for the worker to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Whether a separator this worker started still runs: a process naming one of its job
    /// directories.
    pub fn separator_running(&self) -> bool {
        processes_naming(&self.work_dir().join("studiovault-worker-"))
    }
}

/// Whether a live process has `path` on its command line.
pub fn processes_naming(path: &Path) -> bool {
    Command::new("pgrep")
        .args(["-f", "--"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", "--"])
            .arg(self.dir.path())
            .status();
    }
}

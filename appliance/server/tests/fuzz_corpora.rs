//! Replays each fuzz target's committed corpus (`fuzz/corpus/<target>/`) through the same entry
//! point libFuzzer drives, on the stable toolchain: every seed and every past finding's
//! reproducer must pass the target's checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    // The run-time value: a test binary built in another checkout must read this one's corpus.
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = PathBuf::from(crate_dir).join("fuzz/corpus").join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 5,
        "{target}: a corpus of {} inputs",
        inputs.len()
    );
    for input in inputs {
        eprintln!("{target}: {}", input.display());
        run(&std::fs::read(&input).unwrap());
    }
}

#[test]
fn range() {
    replay("range", studiovault::fuzzing::range);
}

#[test]
fn multipart() {
    replay("multipart", studiovault::fuzzing::multipart);
}

#[test]
fn upload_offsets() {
    replay("upload_offsets", studiovault::fuzzing::upload_offsets);
}

#[test]
fn media_query() {
    replay("media_query", studiovault::fuzzing::media_query);
}

#[test]
fn share_link() {
    replay("share_link", studiovault::fuzzing::share_link);
}

#[test]
fn config() {
    replay("config", studiovault::fuzzing::config);
}

#[test]
fn worker_result() {
    replay("worker_result", studiovault::fuzzing::worker_result);
}

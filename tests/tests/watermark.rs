//! `studiovault watermark`: a real song marked, re-encoded to MP3 128 kbps, cut to 30 s at an
//! arbitrary offset, and read back; unmarked audio and another appliance's key find nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::process::Command;

use serde_json::Value;
use studiovault_e2e::{Server, binary, ffmpeg, wesnoth_track};

fn cli(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

fn detect(data: &std::path::Path, file: &std::path::Path) -> Value {
    let out = cli(
        data,
        &["watermark", "detect", file.to_str().unwrap(), "--json"],
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_marked_song_survives_mp3_and_a_30_second_cut() {
    // A server run creates the data directory and its master key, whose watermark key the CLI uses.
    let mut server = Server::start();
    server.stop();
    let data = server.data_dir();
    let dir = tempfile::tempdir().unwrap();
    let song = dir.path().join("battle.ogg");
    std::fs::write(&song, wesnoth_track("battle.ogg").unwrap()).unwrap();

    let marked = dir.path().join("marked.flac");
    let out = cli(
        &data,
        &[
            "watermark",
            "embed",
            song.to_str().unwrap(),
            marked.to_str().unwrap(),
            "--payload",
            "00c0ffee12345678",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let leaked = ffmpeg(
        &std::fs::read(&marked).unwrap(),
        "flac",
        &["-ss", "97.31", "-t", "30", "-b:a", "128k"],
        "mp3",
    )
    .unwrap();
    let leaked_path = dir.path().join("leaked.mp3");
    std::fs::write(&leaked_path, leaked).unwrap();
    let found = detect(&data, &leaked_path);
    assert_eq!(found["found"], true, "{found}");
    assert_eq!(found["payload"], "00c0ffee12345678");

    let clean = ffmpeg(
        &std::fs::read(&song).unwrap(),
        "ogg",
        &["-ss", "97.31", "-t", "30", "-b:a", "128k"],
        "mp3",
    )
    .unwrap();
    let clean_path = dir.path().join("clean.mp3");
    std::fs::write(&clean_path, clean).unwrap();
    assert_eq!(detect(&data, &clean_path)["found"], false);
    let out = cli(
        &data,
        &["watermark", "detect", clean_path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "no mark: exit status 1");

    // Another appliance (another master key) reads nothing from this one's copies.
    let mut other = Server::start();
    other.stop();
    assert_eq!(detect(&other.data_dir(), &leaked_path)["found"], false);
}

#[test]
fn copies_keep_the_source_bit_depth_and_bad_arguments_are_refused() {
    let mut server = Server::start();
    server.stop();
    let data = server.data_dir();
    let dir = tempfile::tempdir().unwrap();
    let song = ffmpeg(
        &wesnoth_track("elvish-theme.ogg").unwrap(),
        "ogg",
        &["-t", "20", "-c:a", "pcm_s24le"],
        "wav",
    )
    .unwrap();
    let src = dir.path().join("take.wav");
    std::fs::write(&src, song).unwrap();
    for (name, expect) in [("copy.wav", "s32"), ("copy.flac", "s32")] {
        let out_path = dir.path().join(name);
        let out = cli(
            &data,
            &[
                "watermark",
                "embed",
                src.to_str().unwrap(),
                out_path.to_str().unwrap(),
                "--payload",
                "abc",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let probe = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=sample_fmt,bits_per_raw_sample,bits_per_sample",
                "-of",
                "json",
            ])
            .arg(&out_path)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&probe.stdout).unwrap();
        let stream = &v["streams"][0];
        let bits = stream["bits_per_sample"]
            .as_u64()
            .filter(|b| *b > 0)
            .or_else(|| {
                stream["bits_per_raw_sample"]
                    .as_str()
                    .and_then(|b| b.parse().ok())
            });
        assert_eq!(
            (stream["sample_fmt"].as_str(), bits),
            (Some(expect), Some(24)),
            "{name}: {v}"
        );
        assert_eq!(
            detect(&data, &out_path)["payload"],
            "0000000000000abc",
            "{name}"
        );
    }
    for bad in [
        vec!["--payload", "xyz"],
        vec!["--payload", "11112222333344445"],
    ] {
        let mut args = vec!["watermark", "embed", src.to_str().unwrap(), "/tmp/x.wav"];
        args.extend(bad);
        assert!(!cli(&data, &args).status.success());
    }
    let out = cli(
        &data,
        &[
            "watermark",
            "embed",
            src.to_str().unwrap(),
            "/tmp/x.mp3",
            "--payload",
            "1",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(".wav or .flac"));
}

//! Marks a real recording, re-encodes it to MP3 128 kbps with ffmpeg, cuts 30 s from an
//! arbitrary sample and reads the right recipient back; the same cut of the unmarked
//! recording must find nothing. Skipped (with a message) when ffmpeg or the track is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use studiovault_watermark::{Payload, WatermarkKey, detect, embed};

const RATE: u32 = 44_100;
const TRACK: &str = "/usr/share/games/wesnoth/1.16/data/core/music/journeys_end.ogg";

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        output.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Decodes `path` to interleaved stereo f32 at 44.1 kHz.
fn decode(path: &Path) -> Vec<f32> {
    to_f32(&ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-t",
        "70",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-f",
        "f32le",
        "-",
    ]))
}

/// Round trip through an MP3 at 128 kbps.
fn through_mp3(samples: &[f32], dir: &Path, name: &str) -> Vec<f32> {
    let raw: PathBuf = dir.join(format!("{name}.f32"));
    let mp3: PathBuf = dir.join(format!("{name}.mp3"));
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    ffmpeg(&[
        "-f",
        "f32le",
        "-ar",
        "44100",
        "-ac",
        "2",
        "-i",
        raw.to_str().unwrap(),
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        mp3.to_str().unwrap(),
    ]);
    decode(&mp3)
}

fn cut_30s(samples: &[f32]) -> &[f32] {
    let start = 17 * RATE as usize + 4_321;
    &samples[2 * start..2 * (start + 30 * RATE as usize)]
}

#[test]
fn mp3_excerpt_of_a_real_track() {
    let ffmpeg_works = Command::new("ffmpeg").arg("-version").output().is_ok();
    if !ffmpeg_works || !Path::new(TRACK).exists() {
        eprintln!(
            "SKIPPED mp3_excerpt_of_a_real_track: needs ffmpeg and {TRACK} (Debian's wesnoth-1.16-music)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = WatermarkKey::from_bytes([0x33; 32]);
    let payload = Payload::new(0x0000_a11c_e5ee_d5a1);
    let original = decode(Path::new(TRACK));
    assert!(original.len() > 2 * 50 * RATE as usize, "track too short");

    let marked = embed(&original, RATE, 2, &key, payload).unwrap();
    let leaked = through_mp3(&marked, dir.path(), "marked");
    let found = detect(cut_30s(&leaked), RATE, 2, &key).unwrap();
    assert_eq!(found.map(|d| d.payload), Some(payload));

    let clean = through_mp3(&original, dir.path(), "clean");
    assert_eq!(detect(cut_30s(&clean), RATE, 2, &key).unwrap(), None);
}

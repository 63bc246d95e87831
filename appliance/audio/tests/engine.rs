//! End-to-end tests of the public API: every format decodes, analyses hold on synthetic music,
//! hostile input fails cleanly, limits stop a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use studiovault_audio::{
    AnalysisError, AnalysisOptions, AudioDecoder, Container, DecodeLimits, MelodyOptions, Mode,
    PeakBits, PeaksOptions, analyze, analyze_samples, extract_melody, probe,
};

const FIXTURES: &[(&str, &str)] = &[
    ("pcm16.wav", "pcm_s16le"),
    ("pcm24.wav", "pcm_s24le"),
    ("pcm32.wav", "pcm_s32le"),
    ("float32.wav", "pcm_f32le"),
    ("tone.aiff", "pcm_s16be"),
    ("stereo.flac", "flac"),
    ("tone.mp3", "mp3"),
    ("tone.m4a", "aac"),
    ("tone.aac", "aac"),
    ("alac.m4a", "alac"),
    ("tone.ogg", "vorbis"),
    ("tone.opus", "opus"),
];

/// This crate's directory, as `cargo test` gives it at run time: a test binary built in
/// another checkout that shares the target directory must still read this checkout's files.
fn crate_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", crate_dir());
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(
    bytes: Vec<u8>,
    options: &AnalysisOptions,
) -> Result<studiovault_audio::Analysis, AnalysisError> {
    let container = Container::sniff(&bytes).ok_or(AnalysisError::NotAudio)?;
    let len = bytes.len() as u64;
    analyze(Cursor::new(bytes), len, container, options)
}

#[test]
fn every_format_decodes_and_analyses() {
    for &(name, codec) in FIXTURES {
        let bytes = fixture(name);
        let container = Container::sniff(&bytes).unwrap();
        let info = probe(Cursor::new(bytes.clone()), bytes.len() as u64, container).unwrap();
        assert_eq!(info.codec, codec, "{name}");

        let a = run(bytes, &AnalysisOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.codec, codec, "{name}");
        // Lossless formats, MP3 and AAC in MP4 are exact: an MP3's LAME tag names the
        // encoder's delay and padding, an MP4 track's edit list its priming and length, and
        // both are dropped as gapless players drop them. Raw ADTS AAC names neither; these
        // Vorbis and Opus streams fit one Ogg page, which leaves no earlier page to count the
        // last packet's padding from (`ogg_streams_end_where_…` has longer ones): up to
        // ~150 ms more.
        let padded = name == "tone.aac" || matches!(codec, "vorbis" | "opus");
        let expected = if padded { 0.45..0.7 } else { 0.499..0.501 };
        assert!(
            expected.contains(&a.duration_secs),
            "{name}: {}",
            a.duration_secs
        );
        let peak = a.loudness.sample_peak_dbfs.unwrap();
        // Three sines at 0.25 × ffmpeg's 1/8 amplitude peak near −20.6 dBFS.
        assert!(
            (-24.0..=-17.0).contains(&peak),
            "{name}: sample peak {peak}"
        );
        let finest = &a.waveform.levels[0];
        assert_eq!(finest.samples_per_pixel, 256);
        assert_eq!(finest.sample_rate, a.sample_rate);
        let expected_pixels = (a.duration_secs * f64::from(a.sample_rate) / 256.0).ceil() as usize;
        assert_eq!(finest.len(), expected_pixels, "{name}");
        let loudest = finest.data.iter().map(|v| v.unsigned_abs()).max().unwrap();
        assert!(loudest > 2_000, "{name}: peaks look silent ({loudest})");
    }
}

/// The first channel of a fixture, decoded.
fn decoded(name: &str) -> Vec<f32> {
    let bytes = fixture(name);
    let container = Container::sniff(&bytes).unwrap();
    let len = bytes.len() as u64;
    let mut decoder =
        AudioDecoder::open(Cursor::new(bytes), len, container, DecodeLimits::default()).unwrap();
    let mut samples = Vec::new();
    while let Some(block) = decoder.next_block().unwrap() {
        samples.extend(block.samples.iter().step_by(block.channels));
    }
    samples
}

#[test]
fn ogg_streams_end_where_their_last_granule_position_says() {
    // 3.3 s: Opus and Vorbis pad their last packet to a whole frame; the last page's granule
    // position says where the audio ends, and players stop there.
    for name in ["long.opus", "long.ogg"] {
        let a = run(fixture(name), &AnalysisOptions::default()).unwrap();
        assert!(
            (a.duration_secs - 3.3).abs() < 0.0005,
            "{name}: {}",
            a.duration_secs
        );
    }
}

#[test]
fn mp4_audio_starts_where_its_edit_list_says_as_players_play_it() {
    // The source, sample for sample, against the AAC and ALAC copies in MP4: ffmpeg's AAC
    // encoder primes 1024 samples (128 ms here) that its edit list skips. Read from the first
    // decoded sample, the copy lines up with the source; 1024 samples late, it would not.
    let source = decoded("pcm16.wav");
    let correlation = |copy: &[f32], lag: usize| {
        let pairs = || source[200..3_000].iter().zip(&copy[200 + lag..3_000 + lag]);
        let dot: f32 = pairs().map(|(a, b)| a * b).sum();
        let energy = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (energy(&source[200..3_000]) * energy(&copy[200 + lag..3_000 + lag]))
    };
    for name in ["tone.m4a", "alac.m4a"] {
        let copy = decoded(name);
        assert_eq!(copy.len(), source.len(), "{name}: the edit's length");
        let aligned = correlation(&copy, 0);
        assert!(
            aligned > 0.95,
            "{name}: correlation {aligned} at the source's start"
        );
    }
    // ADTS names no priming: its copy comes 1024 samples late, as every player plays it.
    let adts = decoded("tone.aac");
    assert!(correlation(&adts, 0) < 0.5);
    assert!(correlation(&adts, 1024) > 0.95);
}

#[test]
fn surround_loudness_weighs_channels_by_what_they_are_in_every_codecs_order() {
    // 5.1 Opus comes in Vorbis order (FL, C, FR, RL, RR, LFE), not WAV's: the same tone reads
    // 1.5 LU louder on the rear left than on the front left (ffmpeg: -39.6 and -41.1), and on
    // the LFE it does not count at all.
    let loudness = |name| {
        run(fixture(name), &AnalysisOptions::default())
            .unwrap()
            .loudness
            .integrated_lufs
    };
    let front = loudness("surround-fl.opus").unwrap();
    let rear = loudness("surround-bl.opus").unwrap();
    assert!((front + 41.1).abs() < 0.5, "front left {front}");
    assert!(
        (rear - front - 1.5).abs() < 0.2,
        "rear {rear}, front {front}"
    );
    assert!(
        loudness("surround-lfe.opus").is_none_or(|lfe| lfe < -60.0),
        "the LFE was measured"
    );
}

/// An Ogg page's CRC (RFC 3533: polynomial 0x04c11db7, MSB first, no reflection, starting at
/// zero), computed with the page's CRC field zeroed.
fn ogg_crc(page: &[u8]) -> u32 {
    page.iter().fold(0u32, |crc, &byte| {
        let mut r = (crc >> 24 ^ u32::from(byte)) << 24;
        for _ in 0..8 {
            r = if r & 0x8000_0000 != 0 {
                r << 1 ^ 0x04c1_1db7
            } else {
                r << 1
            };
        }
        crc << 8 ^ r
    })
}

#[test]
fn an_opus_headers_output_gain_is_applied_as_players_apply_it() {
    // The same stream with −6.02 dB in its identification header (Q7.8: −1541), its first
    // page's CRC made good again: every level reads 6 dB lower, as any player plays it.
    let plain = fixture("tone.opus");
    let mut quieter = plain.clone();
    let segments = usize::from(quieter[26]);
    let head = 27 + segments;
    assert_eq!(&quieter[head..head + 8], b"OpusHead");
    let page_len = head
        + quieter[27..head]
            .iter()
            .map(|&l| usize::from(l))
            .sum::<usize>();
    quieter[head + 16..head + 18].copy_from_slice(&(-1541i16).to_le_bytes());
    quieter[22..26].fill(0);
    let crc = ogg_crc(&quieter[..page_len]);
    quieter[22..26].copy_from_slice(&crc.to_le_bytes());
    let levels = |bytes| {
        let a = run(bytes, &AnalysisOptions::default()).unwrap();
        (
            a.loudness.sample_peak_dbfs.unwrap(),
            a.loudness.integrated_lufs.unwrap(),
        )
    };
    let (peak, lufs) = levels(plain);
    let (quiet_peak, quiet_lufs) = levels(quieter);
    assert!(
        (peak - quiet_peak - 6.02).abs() < 0.05,
        "{peak} → {quiet_peak}"
    );
    assert!(
        (lufs - quiet_lufs - 6.02).abs() < 0.05,
        "{lufs} → {quiet_lufs}"
    );
}

#[test]
fn stereo_peaks_split_channels_in_both_formats() {
    let options = AnalysisOptions {
        peaks: PeaksOptions {
            zooms: vec![128, 512],
            split_channels: true,
        },
        ..AnalysisOptions::default()
    };
    let a = run(fixture("stereo.flac"), &options).unwrap();
    assert_eq!(a.channels, 2);
    let level = a.waveform.level(512).unwrap();
    assert_eq!(level.channels, 2);
    let dat = level.to_dat(PeakBits::Eight);
    assert_eq!(&dat[0..4], &2i32.to_le_bytes());
    assert_eq!(&dat[4..8], &1u32.to_le_bytes());
    assert_eq!(&dat[8..12], &8_000i32.to_le_bytes());
    assert_eq!(&dat[12..16], &512i32.to_le_bytes());
    assert_eq!(&dat[16..20], &(level.len() as u32).to_le_bytes());
    assert_eq!(&dat[20..24], &2i32.to_le_bytes());
    assert_eq!(dat.len(), 24 + level.len() * 4);
    // The right channel is the left at half level.
    let (left_max, right_max) = (i16::from(dat[25] as i8), i16::from(dat[27] as i8));
    assert!(
        (left_max - 2 * right_max).abs() <= 2,
        "{left_max} {right_max}"
    );

    let json: serde_json::Value = serde_json::from_str(&level.to_json(PeakBits::Sixteen)).unwrap();
    assert_eq!(json["version"], 2);
    assert_eq!(json["bits"], 16);
    assert_eq!(json["channels"], 2);
    assert_eq!(json["length"], level.len());
    assert_eq!(json["data"].as_array().unwrap().len(), level.len() * 4);
}

/// 20 s of music at 44.1 kHz stereo: I–IV–V–I in E major (bars of 4 beats) over a kick/hat
/// pattern at 123 BPM.
fn synthetic_song(rate: u32) -> Vec<f32> {
    let bpm = 123.0;
    let secs = 20.0;
    let beat = 60.0 / bpm;
    let chords: [[f64; 3]; 4] = [
        [64.0, 68.0, 71.0],
        [69.0, 73.0, 76.0],
        [71.0, 75.0, 78.0],
        [64.0, 68.0, 71.0],
    ];
    let frames = (secs * f64::from(rate)) as usize;
    let mut out = Vec::with_capacity(frames * 2);
    let mut noise = 0x1234_5678u32;
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        let bar = (t / (4.0 * beat)) as usize % 4;
        let mut s = 0.0;
        for &note in &chords[bar] {
            let hz = 440.0 * 2f64.powf((note - 69.0) / 12.0);
            for h in 1..=3 {
                s += 0.05 / f64::from(h)
                    * (2.0 * std::f64::consts::PI * hz * f64::from(h) * t).sin();
            }
        }
        let in_beat = t % beat;
        s += 0.5 * (-in_beat * 30.0).exp() * (2.0 * std::f64::consts::PI * 60.0 * in_beat).sin();
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let hat_phase = (t + beat / 2.0) % beat;
        s += 0.1 * (-hat_phase * 200.0).exp() * (f64::from(noise) / f64::from(u32::MAX) - 0.5);
        out.push(s as f32);
        out.push((0.8 * s) as f32);
    }
    out
}

#[test]
fn analyses_a_synthetic_song() {
    let song = synthetic_song(44_100);
    let a = analyze_samples(&song, 2, 44_100, &AnalysisOptions::default()).unwrap();
    let tempo = a.tempo.unwrap();
    assert!((tempo.bpm - 123.0).abs() <= 1.0, "{tempo:?}");
    let key = a.key.clone().unwrap();
    assert_eq!(
        (key.tonic, key.mode, key.camelot.as_str()),
        (4, Mode::Major, "12B"),
        "{key:?}"
    );
    let lufs = a.loudness.integrated_lufs.unwrap();
    assert!((-30.0..-5.0).contains(&lufs), "{lufs}");
    assert!(a.loudness.true_peak_dbtp.unwrap() >= a.loudness.sample_peak_dbfs.unwrap());
    assert!((a.duration_secs - 20.0).abs() < 1e-9);
    // The serialised analysis leaves the waveform out and reads back.
    let json = serde_json::to_string(&a).unwrap();
    assert!(!json.contains("waveform"));
    let back: studiovault_audio::Analysis = serde_json::from_str(&json).unwrap();
    assert_eq!(back.tempo, a.tempo);
}

fn wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
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
        out.extend_from_slice(&((s * 32767.0) as i16).to_le_bytes());
    }
    out
}

#[test]
fn melody_to_midi_from_a_file() {
    let rate = 22_050;
    let mut tune = Vec::new();
    for note in [57.0f64, 60.0, 64.0, 69.0] {
        let hz = 440.0 * 2f64.powf((note - 69.0) / 12.0);
        for i in 0..rate / 2 {
            let t = f64::from(i) / f64::from(rate);
            let gate = if i < rate * 9 / 20 { 0.4 } else { 0.0 };
            tune.push((gate * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32);
        }
    }
    let bytes = wav(&tune, rate);
    let len = bytes.len() as u64;
    let options = MelodyOptions {
        bpm: Some(120.0),
        ..MelodyOptions::default()
    };
    let melody = extract_melody(Cursor::new(bytes), len, Container::Wav, &options).unwrap();
    let pitches: Vec<u8> = melody.notes.iter().map(|n| n.pitch).collect();
    assert_eq!(pitches, vec![57, 60, 64, 69]);
    let midi = melody.to_midi();
    assert_eq!(&midi[..8], b"MThd\0\0\0\x06");
    assert_eq!(&midi[14..18], b"MTrk");
    assert_eq!(&midi[midi.len() - 3..], &[0xFF, 0x2F, 0x00]);
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for &(name, _) in FIXTURES {
        let bytes = fixture(name);
        for cut in [
            12,
            44,
            100,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len() - 7,
        ] {
            cases.push((
                format!("{name} cut at {cut}"),
                bytes[..cut.min(bytes.len())].to_vec(),
            ));
        }
        // Flip bytes all through the stream.
        let mut flipped = bytes.clone();
        for i in (40..flipped.len()).step_by(37) {
            flipped[i] ^= 0x5A;
        }
        cases.push((format!("{name} with flipped bytes"), flipped));
        // A valid header followed by noise.
        let mut noisy = bytes[..bytes.len().min(64)].to_vec();
        noisy.extend((0..8_192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
        cases.push((format!("{name} header then noise"), noisy));
    }
    // Inputs the fuzzer found: each made a decoder panic or reserve gigabytes.
    let corpus = format!("{}/fuzz/corpus/analyze", crate_dir());
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("regression-")
        {
            cases.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    cases.push(("empty".into(), Vec::new()));
    cases.push((
        "text".into(),
        b"<html><body>not audio</body></html>".to_vec(),
    ));
    for (what, bytes) in cases {
        let options = AnalysisOptions {
            deadline: Some(Instant::now() + Duration::from_secs(20)),
            ..AnalysisOptions::default()
        };
        // Either an error or (for a cut that still holds whole packets) an analysis: no panic.
        match run(bytes, &options) {
            Ok(a) => assert!(a.duration_secs > 0.0, "{what}"),
            Err(e) => assert!(!e.to_string().is_empty(), "{what}"),
        }
    }
}

#[test]
fn limits_stop_the_analysis() {
    let bytes = fixture("pcm16.wav");
    let too_long = AnalysisOptions {
        max_duration: Duration::from_millis(100),
        ..AnalysisOptions::default()
    };
    assert!(matches!(
        run(bytes.clone(), &too_long),
        Err(AnalysisError::TooLong { .. })
    ));

    let cancelled = AnalysisOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..AnalysisOptions::default()
    };
    assert_eq!(
        run(bytes.clone(), &cancelled).unwrap_err(),
        AnalysisError::Cancelled
    );

    let late = AnalysisOptions {
        deadline: Some(Instant::now()),
        ..AnalysisOptions::default()
    };
    assert_eq!(
        run(bytes.clone(), &late).unwrap_err(),
        AnalysisError::DeadlineExceeded
    );

    let bad_zooms = AnalysisOptions {
        peaks: PeaksOptions {
            zooms: vec![300, 256],
            split_channels: false,
        },
        ..AnalysisOptions::default()
    };
    assert!(matches!(
        run(bytes, &bad_zooms),
        Err(AnalysisError::InvalidOptions(_))
    ));
}

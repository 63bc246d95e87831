//! Embed/detect round trips on synthetic music-like signals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use studiovault_watermark::{
    DetectOptions, Embedder, Error, Payload, WatermarkKey, accusation_threshold, analyze, detect,
    embed,
};

const KEY: WatermarkKey = WatermarkKey::from_bytes([0x5a; 32]);
const OTHER_KEY: WatermarkKey = WatermarkKey::from_bytes([0xa5; 32]);

/// Chords of decaying harmonic notes over soft noise: enough in-band energy to carry a mark,
/// deterministic, and cheap to make.
fn music(rate: u32, channels: u16, seconds: f64, seed: u64) -> Vec<f32> {
    let frames = (seconds * f64::from(rate)) as usize;
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    let note_len = (0.5 * f64::from(rate)) as usize;
    let mut freqs = [220.0; 3];
    let mut smoothed = 0.0;
    let mut out = Vec::with_capacity(frames * usize::from(channels));
    for n in 0..frames {
        if n % note_len == 0 {
            for f in &mut freqs {
                *f = 110.0 * 2f64.powf((next() * 36.0).floor() / 12.0);
            }
        }
        let t = (n % note_len) as f64 / f64::from(rate);
        let time = n as f64 / f64::from(rate);
        let tone: f64 = freqs
            .iter()
            .map(|&f| {
                (1..=8)
                    .map(|h| {
                        let h = f64::from(h);
                        (std::f64::consts::TAU * f * h * time).sin() / h
                    })
                    .sum::<f64>()
            })
            .sum::<f64>()
            * (-3.0 * t).exp();
        smoothed = 0.7 * smoothed + 0.3 * (next() - 0.5);
        let mono = 0.08 * tone + 0.05 * smoothed;
        for channel in 0..channels {
            out.push((mono * (1.0 - 0.2 * f64::from(channel))) as f32);
        }
    }
    out
}

fn excerpt(samples: &[f32], channels: u16, rate: u32, start: usize, seconds: f64) -> &[f32] {
    let channels = usize::from(channels);
    let len = (seconds * f64::from(rate)) as usize;
    &samples[start * channels..(start + len) * channels]
}

#[test]
fn round_trip_stereo_44k() {
    let audio = music(44_100, 2, 12.0, 1);
    let marked = embed(&audio, 44_100, 2, &KEY, Payload::new(0xfeed_beef_1234)).unwrap();
    assert_eq!(marked.len(), audio.len());
    let found = detect(&marked, 44_100, 2, &KEY)
        .unwrap()
        .expect("watermark");
    assert_eq!(found.payload, Payload::new(0xfeed_beef_1234));
    assert!(found.confidence > 0.3, "confidence {}", found.confidence);
}

#[test]
fn excerpt_from_arbitrary_sample() {
    let audio = music(44_100, 2, 20.0, 2);
    let marked = embed(&audio, 44_100, 2, &KEY, Payload::new(99)).unwrap();
    let part = excerpt(&marked, 2, 44_100, 123_457, 12.0);
    let found = detect(part, 44_100, 2, &KEY).unwrap().expect("watermark");
    assert_eq!(found.payload, Payload::new(99));
}

#[test]
fn other_rates_and_mono() {
    for (rate, channels) in [(48_000, 1), (96_000, 2)] {
        let audio = music(rate, channels, 10.0, 3);
        let marked = embed(&audio, rate, channels, &KEY, Payload::new(7)).unwrap();
        let part = excerpt(&marked, channels, rate, 12_345, 9.0);
        let found = detect(part, rate, channels, &KEY).unwrap();
        assert_eq!(found.map(|d| d.payload), Some(Payload::new(7)), "{rate} Hz");
    }
}

/// Plays `samples` (mono) `speed` times faster, pitch and tempo together, by linear
/// interpolation: what `sox speed` does, less its filtering.
fn speed_up(samples: &[f32], speed: f64) -> Vec<f32> {
    let len = (samples.len() as f64 / speed) as usize - 1;
    (0..len)
        .map(|n| {
            let position = n as f64 * speed;
            let index = position as usize;
            let frac = (position - index as f64) as f32;
            samples[index] * (1.0 - frac) + samples[index + 1] * frac
        })
        .collect()
}

#[test]
fn speed_change_is_searched() {
    let audio = music(44_100, 1, 16.0, 8);
    let marked = embed(&audio, 44_100, 1, &KEY, Payload::new(31)).unwrap();
    for speed in [1.02, 0.98] {
        let changed = speed_up(&marked[20_000..], speed);
        let found = detect(&changed, 44_100, 1, &KEY)
            .unwrap()
            .expect("watermark");
        assert_eq!(found.payload, Payload::new(31));
        assert!((found.speed - speed).abs() < 0.002, "speed {}", found.speed);
        let options = DetectOptions {
            speed_search: false,
        };
        let nominal = analyze(&changed, 44_100, 1, &KEY, &options).unwrap();
        assert_eq!(nominal.detection, None, "found without searching speed");
    }
}

#[test]
fn wrong_key_finds_nothing() {
    let audio = music(44_100, 2, 12.0, 4);
    let marked = embed(&audio, 44_100, 2, &KEY, Payload::new(5)).unwrap();
    assert_eq!(detect(&marked, 44_100, 2, &OTHER_KEY).unwrap(), None);
}

#[test]
fn unmarked_finds_nothing() {
    let audio = music(44_100, 2, 12.0, 5);
    assert_eq!(detect(&audio, 44_100, 2, &KEY).unwrap(), None);
    let silence = vec![0.0f32; 44_100 * 6];
    assert_eq!(detect(&silence, 44_100, 1, &KEY).unwrap(), None);
}

#[test]
fn streaming_equals_one_shot() {
    let audio = music(48_000, 2, 4.0, 6);
    let one_shot = embed(&audio, 48_000, 2, &KEY, Payload::new(11)).unwrap();
    let mut embedder = Embedder::new(&KEY, Payload::new(11), 48_000, 2).unwrap();
    let mut streamed = Vec::new();
    let mut rest = audio.as_slice();
    for block_frames in [1usize, 7, 300, 1024, 4096, 33].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let take = (block_frames * 2).min(rest.len());
        embedder.process(&rest[..take], &mut streamed).unwrap();
        rest = &rest[take..];
    }
    embedder.finish(&mut streamed).unwrap();
    assert_eq!(streamed, one_shot);
}

#[test]
fn rejects_bad_input() {
    assert_eq!(
        embed(&[0.0; 3], 44_100, 2, &KEY, Payload::new(1)).unwrap_err(),
        Error::PartialSampleFrame {
            samples: 3,
            channels: 2
        }
    );
    assert!(matches!(
        embed(&[0.0; 4], 8_000, 1, &KEY, Payload::new(1)),
        Err(Error::UnsupportedSampleRate(_))
    ));
    assert_eq!(
        detect(&[0.0; 4], 44_100, 0, &KEY).unwrap_err(),
        Error::NoChannels
    );
    // Too short to hold a single tile: simply nothing found.
    assert_eq!(detect(&[0.1; 100], 44_100, 1, &KEY).unwrap(), None);
}

#[test]
fn averaged_copies_name_a_colluder_and_no_innocent() {
    let audio = music(44_100, 2, 24.0, 7);
    let colluders = [Payload::new(1001), Payload::new(1002)];
    let copies: Vec<Vec<f32>> = colluders
        .iter()
        .map(|&p| embed(&audio, 44_100, 2, &KEY, p).unwrap())
        .collect();
    let averaged: Vec<f32> = copies[0]
        .iter()
        .zip(&copies[1])
        .map(|(a, b)| 0.5 * (a + b))
        .collect();
    let analysis = analyze(&averaged, 44_100, 2, &KEY, &DetectOptions::default()).unwrap();
    let soft = analysis.soft_bits.expect("sync found");
    let innocents: Vec<Payload> = (0..200).map(|i| Payload::new(2000 + i)).collect();
    let threshold = accusation_threshold(innocents.len() + colluders.len(), 1e-6);
    let best_colluder = colluders
        .iter()
        .map(|&p| soft.score(&KEY, p))
        .fold(f64::MIN, f64::max);
    assert!(best_colluder > threshold, "{best_colluder} <= {threshold}");
    for &innocent in &innocents {
        assert!(soft.score(&KEY, innocent) < threshold);
    }
}

//! End-to-end tests with the real model. They look for the converted model in
//! `$STUDIOVAULT_MODELS_DIR` (default `~/.cache/studiovault-tools/models`) and skip when it is
//! absent, unless `STUDIOVAULT_REQUIRE_MODEL=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use studiovault_stems::{
    FloatWavWriter, Model, STEM_NAMES, Separator, SeparatorOptions, StemsError, default_models_dir,
    read_float_wav, separate_file, usdr,
};

fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    let m = MODEL.get_or_init(|| {
        let dir = default_models_dir();
        let require = std::env::var("STUDIOVAULT_REQUIRE_MODEL").is_ok_and(|v| v == "1");
        if !Model::installed(&dir) {
            assert!(
                !require,
                "the Spleeter model is not installed in {}",
                dir.display()
            );
            return None;
        }
        Some(Model::load(&dir).expect("the installed model loads"))
    });
    if m.is_none() {
        println!("skipping: Spleeter model not installed (studiovault stems install-model)");
    }
    m.as_ref()
}

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// A sung-like voice: a glottal-ish harmonic tone with vibrato, shaped by vowel formants,
/// changing note every half second with short gaps between syllables.
fn voice(rate: u32, len: usize) -> Vec<f32> {
    let notes = [220.0, 247.0, 262.0, 294.0, 262.0, 247.0, 196.0, 220.0];
    let formants = [
        [730.0, 1090.0, 2440.0],
        [530.0, 1840.0, 2480.0],
        [570.0, 840.0, 2410.0],
    ];
    let r = rate as f64;
    let mut phase = 0.0f64;
    (0..len)
        .map(|i| {
            let t = i as f64 / r;
            let syl = (t / 0.5) as usize;
            let within = t - syl as f64 * 0.5;
            let env = if within < 0.03 {
                within / 0.03
            } else if within > 0.45 {
                ((0.5 - within) / 0.05).max(0.0)
            } else {
                1.0
            };
            let f0 = notes[syl % notes.len()]
                * (1.0 + 0.02 * (2.0 * std::f64::consts::PI * 5.5 * t).sin());
            phase += f0 / r;
            let fm = formants[syl % formants.len()];
            let mut s = 0.0;
            let mut h = 1.0;
            while h * f0 < 8000.0 {
                let f = h * f0;
                let gain: f64 = fm
                    .iter()
                    .map(|&c| 1.0 / (1.0 + ((f - c) / 90.0).powi(2)))
                    .sum::<f64>()
                    / h.sqrt();
                s += gain * (2.0 * std::f64::consts::PI * h * phase).sin();
                h += 1.0;
            }
            (0.25 * env * s) as f32
        })
        .collect()
}

/// Noise bursts with a fast decay, four to a second.
fn drums(rate: u32, len: usize) -> Vec<f32> {
    let mut seed = 11u64;
    (0..len)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let within = t % 0.25;
            0.5 * (-within * 30.0).exp() * lcg(&mut seed)
        })
        .collect()
}

fn bass(rate: u32, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let f = if (t as usize).is_multiple_of(2) {
                55.0
            } else {
                73.4
            };
            0.3 * (2.0 * std::f32::consts::PI * f * t).sin()
        })
        .collect()
}

fn interleave(chans: &[Vec<f32>]) -> Vec<f32> {
    let n = chans[0].len();
    (0..n * chans.len())
        .map(|i| chans[i % chans.len()][i / chans.len()])
        .collect()
}

/// Separates `x` pushing it in `chunk`-frame pieces; answers the four interleaved stems.
fn separate(
    model: &Model,
    x: &[f32],
    rate: u32,
    ch: usize,
    chunk: usize,
    threads: usize,
) -> [Vec<f32>; 4] {
    let mut sep = Separator::new(model, rate, ch, SeparatorOptions { threads }).unwrap();
    let mut out: [Vec<f32>; 4] = Default::default();
    let mut sink = |b: studiovault_stems::StemBlock<'_>| -> Result<(), StemsError> {
        let frames = b.frames();
        for (o, s) in out.iter_mut().zip(b.stems()) {
            assert_eq!(s.len(), frames * ch);
            o.extend_from_slice(s);
        }
        Ok(())
    };
    for piece in x.chunks(chunk * ch) {
        sep.push(piece, &mut sink).unwrap();
    }
    sep.finish(&mut sink).unwrap();
    out
}

fn assert_sums_to(x: &[f32], stems: &[Vec<f32>; 4]) {
    for s in stems {
        assert_eq!(s.len(), x.len(), "stem length");
    }
    let err = (0..x.len())
        .map(|i| (stems.iter().map(|s| s[i]).sum::<f32>() - x[i]).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-4, "stems sum to the input within {err}");
}

fn mix(rate: u32, secs: f32, ch: usize) -> Vec<f32> {
    let len = (rate as f32 * secs) as usize + 123;
    let (v, d, b) = (voice(rate, len), drums(rate, len), bass(rate, len));
    let chans: Vec<Vec<f32>> = (0..ch)
        .map(|c| {
            let g = 1.0 - 0.15 * c as f32;
            (0..len)
                .map(|i| g * v[i] + d[i] * (0.8 + 0.1 * c as f32) + b[i])
                .collect()
        })
        .collect();
    interleave(&chans)
}

#[test]
fn stereo_stems_sum_to_the_input_across_segments_and_chunkings() {
    let Some(model) = model() else { return };
    // 13 s at 44.1 kHz: two segments, so the segment boundary and its look-ahead are crossed.
    let x = mix(44_100, 13.0, 2);
    let a = separate(model, &x, 44_100, 2, 4_410, 2);
    assert_sums_to(&x, &a);
    // Another chunking and one thread give the very same samples.
    let b = separate(model, &x, 44_100, 2, 777_777, 1);
    assert_eq!(a, b);
}

#[test]
fn mono_and_three_channel_stems_sum_to_the_input() {
    let Some(model) = model() else { return };
    let x = mix(44_100, 3.0, 1);
    assert_sums_to(&x, &separate(model, &x, 44_100, 1, 10_000, 2));
    let x = mix(44_100, 2.5, 3);
    let stems = separate(model, &x, 44_100, 3, 10_000, 2);
    assert_sums_to(&x, &stems);
}

#[test]
fn other_sample_rates_keep_length_and_sum() {
    let Some(model) = model() else { return };
    for (rate, secs) in [(48_000, 2.0), (96_000, 3.0)] {
        let x = mix(rate, secs, 2);
        assert_sums_to(&x, &separate(model, &x, rate, 2, 9_999, 2));
    }
}

#[test]
fn short_and_empty_inputs() {
    let Some(model) = model() else { return };
    for len in [1usize, 5, 1023, 4096] {
        let x: Vec<f32> = (0..len * 2)
            .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
            .collect();
        assert_sums_to(&x, &separate(model, &x, 44_100, 2, 1000, 1));
    }
    let none = separate(model, &[], 44_100, 2, 1000, 1);
    assert!(none.iter().all(Vec::is_empty));
}

#[test]
fn the_stems_beat_the_mixture_on_a_synthetic_song() {
    let Some(model) = model() else { return };
    let rate = 44_100;
    let len = rate as usize * 8;
    let (v, d, b) = (voice(rate, len), drums(rate, len), bass(rate, len));
    let m: Vec<f32> = (0..len).map(|i| v[i] + d[i] + b[i]).collect();
    let x = interleave(&[m.clone(), m.clone()]);
    let stems = separate(model, &x, rate, 2, 1 << 16, 2);
    let left = |s: &Vec<f32>| s.iter().step_by(2).copied().collect::<Vec<f32>>();
    let report = |name: &str, truth: &[f32], est: &[f32]| {
        let (got, base) = (usdr(truth, est), usdr(truth, &m));
        println!("{name}: {got:.2} dB (mixture {base:.2} dB)");
        got - base
    };
    let gain_v = report("vocals", &v, &left(&stems[0]));
    let gain_d = report("drums", &d, &left(&stems[1]));
    let gain_b = report("bass", &b, &left(&stems[2]));
    assert!(gain_v > 3.0, "vocals gain {gain_v:.2} dB");
    assert!(gain_d > 2.0, "drums gain {gain_d:.2} dB");
    assert!(gain_b > 2.0, "bass gain {gain_b:.2} dB");
}

fn write_wav(path: &Path, x: &[f32], rate: u32, ch: u16) {
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = FloatWavWriter::new(f, rate, ch).unwrap();
    w.write(x).unwrap();
    w.finish().unwrap();
}

#[test]
fn separate_file_writes_four_float_wavs_of_the_input_length() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mix.wav");
    let x = mix(48_000, 2.0, 2);
    write_wav(&input, &x, 48_000, 2);
    let out = dir.path().join("stems");
    let mut last = 0.0;
    let report = separate_file(
        model,
        &input,
        &out,
        SeparatorOptions { threads: 2 },
        &mut |p| {
            assert!(p >= last && p <= 1.0);
            last = p;
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(last, 1.0);
    assert_eq!((report.sample_rate, report.channels), (48_000, 2));
    assert_eq!(report.frames, (x.len() / 2) as u64);
    let stems: Vec<Vec<f32>> = STEM_NAMES
        .iter()
        .map(|n| {
            let w = read_float_wav(&out.join(format!("{n}.wav"))).unwrap();
            assert_eq!((w.channels, w.sample_rate), (2, 48_000));
            w.samples
        })
        .collect();
    assert_sums_to(
        &x,
        &[
            stems[0].clone(),
            stems[1].clone(),
            stems[2].clone(),
            stems[3].clone(),
        ],
    );

    // Cancelled: an error, and no stems left behind.
    let out2 = dir.path().join("cancelled");
    let e = separate_file(
        model,
        &input,
        &out2,
        SeparatorOptions { threads: 1 },
        &mut |_| {},
        &AtomicBool::new(true),
    )
    .unwrap_err();
    assert!(matches!(e, StemsError::Cancelled), "{e}");
    assert_eq!(std::fs::read_dir(&out2).unwrap().count(), 0);
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let Some(model) = model() else { return };
    assert!(Separator::new(model, 44_100, 0, SeparatorOptions { threads: 1 }).is_err());
    assert!(Separator::new(model, 1_000, 2, SeparatorOptions { threads: 1 }).is_err());
    let mut sep = Separator::new(model, 44_100, 2, SeparatorOptions { threads: 1 }).unwrap();
    let mut sink = |_: studiovault_stems::StemBlock<'_>| -> Result<(), StemsError> { Ok(()) };
    assert!(matches!(
        sep.push(&[0.0; 3], &mut sink),
        Err(StemsError::InvalidInput(_))
    ));
    // Non-finite samples count as silence.
    let x = [f32::NAN, f32::INFINITY, 0.5, -0.5];
    sep.push(&x, &mut sink).unwrap();
    let mut out = Vec::new();
    sep.finish(&mut |b| {
        out.extend_from_slice(b.vocals);
        assert!(b.stems().iter().all(|s| s.iter().all(|v| v.is_finite())));
        Ok(())
    })
    .unwrap();
    assert_eq!(out.len(), 4);
    // A sink error stops the separation and comes back.
    let mut sep = Separator::new(model, 44_100, 1, SeparatorOptions { threads: 1 }).unwrap();
    sep.push(&[0.1; 1000], &mut sink).unwrap();
    let e = sep.finish(&mut |_| Err(StemsError::Cancelled)).unwrap_err();
    assert!(matches!(e, StemsError::Cancelled));
}

#[test]
fn separate_file_cancelled_midway_leaves_nothing() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mix.wav");
    write_wav(&input, &mix(44_100, 14.0, 2), 44_100, 2);
    let out = dir.path().join("stems");
    let cancel = AtomicBool::new(false);
    let e = separate_file(
        model,
        &input,
        &out,
        SeparatorOptions { threads: 2 },
        &mut |p| {
            if p > 0.2 {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(e, StemsError::Cancelled), "{e}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    // Not audio at all: a clear decode error.
    std::fs::write(&input, b"this is not audio").unwrap();
    let e = separate_file(
        model,
        &input,
        &out,
        SeparatorOptions { threads: 1 },
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(matches!(e, StemsError::Decode(_)), "{e}");
}

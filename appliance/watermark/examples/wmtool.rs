//! Watermark tool for the robustness benchmark (`bench/watermark/run.sh`): embed and detect
//! on WAV files, plus the signal helpers the benchmark needs (pink noise, averaging and
//! splicing copies, synthetic test pieces, false-positive sweeps).
//!
//! Every command prints one line of `key=value` pairs for the script to parse.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Instant;

use studiovault_watermark::{
    DetectOptions, MarkVersion, Payload, WatermarkKey, accusation_threshold, analyze, embed,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "usage:
  wmtool embed IN.wav OUT.wav --key HEX64 --id N [--strength S] [--v1]
  wmtool detect IN.wav --key HEX64 [--start SECONDS|--start-sample N] [--seconds D] [--no-speed-search]
  wmtool score IN.wav --key HEX64 --ids A,B,.. --innocents N
  wmtool false-positives --key HEX64 --count N [--first N] --seconds D IN.wav..
  wmtool snr ORIGINAL.wav MARKED.wav
  wmtool pink-noise IN.wav OUT.wav --snr DB --seed N
  wmtool average OUT.wav IN.wav..
  wmtool splice OUT.wav --segment-seconds S IN.wav..
  wmtool synth OUT.wav --kind sine-melody|piano|sparse --seconds S";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wmtool: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let command = args.first().ok_or("missing command")?;
    let rest = &args[1..];
    match command.as_str() {
        "embed" => cmd_embed(rest),
        "detect" => cmd_detect(rest),
        "score" => cmd_score(rest),
        "false-positives" => cmd_false_positives(rest),
        "snr" => cmd_snr(rest),
        "pink-noise" => cmd_pink_noise(rest),
        "average" => cmd_average(rest),
        "splice" => cmd_splice(rest),
        "synth" => cmd_synth(rest),
        other => Err(format!("unknown command {other}").into()),
    }
}

/// Positional arguments and `--flag value` options (flags without a value are "true").
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse(args: &[String]) -> Self {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut iter = args.iter().peekable();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = match iter.peek() {
                    Some(next) if !next.starts_with("--") => iter.next().cloned(),
                    _ => None,
                };
                options.push((name.to_owned(), value.unwrap_or_else(|| "true".to_owned())));
            } else {
                positional.push(arg.clone());
            }
        }
        Self {
            positional,
            options,
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| format!("missing --{name}").into())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| format!("bad --{name} {v}").into())
            })
            .transpose()
    }

    fn path(&self, index: usize) -> Result<&str> {
        self.positional
            .get(index)
            .map(String::as_str)
            .ok_or_else(|| "missing file argument".into())
    }

    fn key(&self) -> Result<WatermarkKey> {
        let hex = self.require("key")?;
        if hex.len() != 64 {
            return Err("--key must be 64 hex digits".into());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
        }
        Ok(WatermarkKey::from_bytes(bytes))
    }
}

struct Audio {
    samples: Vec<f32>,
    rate: u32,
    channels: u16,
    spec: hound::WavSpec,
}

impl Audio {
    fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.channels) / f64::from(self.rate)
    }
}

fn read_wav(path: &str) -> Result<Audio> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()?
        }
    };
    Ok(Audio {
        samples,
        rate: spec.sample_rate,
        channels: spec.channels,
        spec,
    })
}

/// Writes in the input's own format: integer sources are rounded back to their bit depth.
fn write_wav(path: &str, spec: hound::WavSpec, samples: &[f32]) -> Result<()> {
    let mut writer = hound::WavWriter::create(path, spec)?;
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for &s in samples {
                writer.write_sample(s)?;
            }
        }
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
            for &s in samples {
                let v = (s * full).round().clamp(-full, full - 1.0) as i32;
                writer.write_sample(v)?;
            }
        }
    }
    writer.finalize()?;
    Ok(())
}

fn cmd_embed(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let key = args.key()?;
    let id: u64 = args.number("id")?.ok_or("missing --id")?;
    let input = read_wav(args.path(0)?)?;
    let started = Instant::now();
    let cpu_before = thread_cpu_seconds();
    // --v1: the first layout, as copies marked by earlier releases carry it.
    let version = if args.get("v1").is_some() {
        Some(MarkVersion::V1)
    } else {
        None
    };
    let marked = match (args.number::<f32>("strength")?, version) {
        (None, None) => embed(
            &input.samples,
            input.rate,
            input.channels,
            &key,
            Payload::new(id),
        )?,
        (strength, version) => {
            let mut embedder = studiovault_watermark::Embedder::with_version(
                &key,
                Payload::new(id),
                input.rate,
                input.channels,
                strength.unwrap_or(0.085),
                version.unwrap_or_default(),
            )?;
            let mut out = Vec::with_capacity(input.samples.len());
            // Feed in 4 096-frame blocks, as a streaming server would.
            for block in input.samples.chunks(4096 * usize::from(input.channels)) {
                embedder.process(block, &mut out)?;
            }
            embedder.finish(&mut out)?;
            out
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_before;
    write_wav(args.path(1)?, input.spec, &marked)?;
    println!(
        "audio_seconds={:.3} embed_seconds={elapsed:.4} embed_cpu_seconds={cpu:.2} realtime_per_core={:.0} snr_db={:.2}",
        input.seconds(),
        input.seconds() / cpu,
        snr_db(&input.samples, &marked)
    );
    Ok(())
}

/// CPU seconds this thread has used (user + system), from /proc, in 10 ms ticks: the
/// benchmark machine is shared, so wall-clock time would overstate the cost.
fn thread_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return f64::NAN;
    };
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

fn snr_db(original: &[f32], marked: &[f32]) -> f64 {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&x, &y) in original.iter().zip(marked) {
        signal += f64::from(x).powi(2);
        noise += f64::from(y - x).powi(2);
    }
    10.0 * (signal / noise.max(1e-30)).log10()
}

/// The excerpt `--start`/`--start-sample` and `--seconds` select, whole sample frames.
fn excerpt<'a>(audio: &'a Audio, args: &Args) -> Result<&'a [f32]> {
    let channels = usize::from(audio.channels);
    let frames = audio.samples.len() / channels;
    let start = match args.number::<usize>("start-sample")? {
        Some(sample) => sample,
        None => (args.number::<f64>("start")?.unwrap_or(0.0) * f64::from(audio.rate)) as usize,
    }
    .min(frames);
    let len = args
        .number::<f64>("seconds")?
        .map_or(frames, |s| (s * f64::from(audio.rate)) as usize);
    let end = (start + len).min(frames);
    Ok(&audio.samples[start * channels..end * channels])
}

fn cmd_detect(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let key = args.key()?;
    let audio = read_wav(args.path(0)?)?;
    let samples = excerpt(&audio, &args)?;
    let options = DetectOptions {
        speed_search: args.get("no-speed-search").is_none(),
    };
    let started = Instant::now();
    let cpu_before = thread_cpu_seconds();
    let analysis = analyze(samples, audio.rate, audio.channels, &key, &options)?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_before;
    let seconds = samples.len() as f64 / f64::from(audio.channels) / f64::from(audio.rate);
    match analysis.detection {
        Some(found) => println!(
            "result=found id={} confidence={:.3} sync={:.1} speed={:.4} excerpt_seconds={seconds:.2} detect_seconds={elapsed:.3} detect_cpu_seconds={cpu:.2}",
            found.payload.id, found.confidence, found.sync_score, found.speed
        ),
        None => println!(
            "result=none sync={:.1} excerpt_seconds={seconds:.2} detect_seconds={elapsed:.3} detect_cpu_seconds={cpu:.2}",
            analysis.sync_score
        ),
    }
    Ok(())
}

/// Collusion tracing: scores the suspect against the colluders' ids and `--innocents`
/// other ids, and names everyone above the threshold for 10⁻⁶ false accusations.
fn cmd_score(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let key = args.key()?;
    let audio = read_wav(args.path(0)?)?;
    let samples = excerpt(&audio, &args)?;
    let colluders: Vec<u64> = args
        .require("ids")?
        .split(',')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?;
    let innocents: u64 = args.number("innocents")?.unwrap_or(1000);
    let analysis = analyze(
        samples,
        audio.rate,
        audio.channels,
        &key,
        &DetectOptions::default(),
    )?;
    let Some(soft) = analysis.soft_bits else {
        println!("result=no-sync");
        return Ok(());
    };
    let candidates = colluders.len() + innocents as usize;
    let threshold = accusation_threshold(candidates, 1e-6);
    let colluder_scores: Vec<f64> = colluders
        .iter()
        .map(|&id| soft.score(&key, Payload::new(id)))
        .collect();
    // Innocent ids are far from the colluders' ids but the keyed cipher makes that moot.
    let innocent_max = (0..innocents)
        .map(|i| soft.score(&key, Payload::new(1_000_000 + i)))
        .fold(f64::NEG_INFINITY, f64::max);
    let named = colluder_scores.iter().filter(|&&s| s >= threshold).count();
    let decoded = analysis
        .detection
        .map_or("none".to_owned(), |d| d.payload.id.to_string());
    let scores: Vec<String> = colluder_scores.iter().map(|s| format!("{s:.1}")).collect();
    println!(
        "threshold={threshold:.2} colluder_scores={} colluders_named={named} innocent_max={innocent_max:.2} innocents_named={} decoded={decoded}",
        scores.join(","),
        u8::from(innocent_max >= threshold)
    );
    Ok(())
}

/// Deterministic excerpt offsets without a random-number dependency.
fn scramble(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ x >> 33
}

fn cmd_false_positives(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let key = args.key()?;
    let count: usize = args.number("count")?.ok_or("missing --count")?;
    let first: usize = args.number("first")?.unwrap_or(0);
    let seconds: f64 = args.number("seconds")?.ok_or("missing --seconds")?;
    let files: Vec<Audio> = args
        .positional
        .iter()
        .map(|p| read_wav(p))
        .collect::<Result<_>>()?;
    let usable: Vec<&Audio> = files.iter().filter(|a| a.seconds() >= seconds).collect();
    if usable.is_empty() {
        return Err("no input is as long as --seconds".into());
    }
    let started = Instant::now();
    let (mut found, mut max_sync) = (0usize, f32::NEG_INFINITY);
    for n in first..first + count {
        let audio = usable[n % usable.len()];
        let channels = usize::from(audio.channels);
        let len = (seconds * f64::from(audio.rate)) as usize;
        let frames = audio.samples.len() / channels;
        let start = (scramble(n as u64) % (frames - len + 1) as u64) as usize;
        let samples = &audio.samples[start * channels..(start + len) * channels];
        let analysis = analyze(
            samples,
            audio.rate,
            audio.channels,
            &key,
            &DetectOptions::default(),
        )?;
        max_sync = max_sync.max(analysis.sync_score);
        if let Some(detection) = analysis.detection {
            found += 1;
            eprintln!("false positive: excerpt {n} id {}", detection.payload.id);
        }
    }
    println!(
        "excerpts={count} excerpt_seconds={seconds} found={found} max_sync={max_sync:.2} seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cmd_snr(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let original = read_wav(args.path(0)?)?;
    let marked = read_wav(args.path(1)?)?;
    // Also the worst 1-second stretch among those above -60 dBFS, where a mark would be
    // most exposed.
    let channels = usize::from(original.channels);
    let second = original.rate as usize * channels;
    let mut worst = f64::INFINITY;
    for (x, y) in original
        .samples
        .chunks(second)
        .zip(marked.samples.chunks(second))
    {
        let power = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
        if power > 1e-6 {
            worst = worst.min(snr_db(x, y));
        }
    }
    println!(
        "snr_db={:.2} worst_second_snr_db={worst:.2}",
        snr_db(&original.samples, &marked.samples)
    );
    Ok(())
}

/// Paul Kellet's economy pink filter over a xorshift white source.
fn cmd_pink_noise(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let input = read_wav(args.path(0)?)?;
    let snr: f64 = args.number("snr")?.ok_or("missing --snr")?;
    let mut state: u64 = scramble(args.number("seed")?.unwrap_or(1)) | 1;
    let mut white = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let channels = usize::from(input.channels);
    let mut filters = vec![[0.0f64; 3]; channels];
    let noise: Vec<f64> = (0..input.samples.len())
        .map(|i| {
            let b = &mut filters[i % channels];
            let w = white();
            b[0] = 0.99765 * b[0] + w * 0.099_046;
            b[1] = 0.963 * b[1] + w * 0.296_516_4;
            b[2] = 0.57 * b[2] + w * 1.052_691_3;
            b[0] + b[1] + b[2] + w * 0.1848
        })
        .collect();
    let signal_power: f64 = input.samples.iter().map(|&v| f64::from(v).powi(2)).sum();
    let noise_power: f64 = noise.iter().map(|v| v * v).sum();
    let gain = (signal_power / noise_power / 10f64.powf(snr / 10.0)).sqrt();
    let mixed: Vec<f32> = input
        .samples
        .iter()
        .zip(&noise)
        .map(|(&x, &n)| (f64::from(x) + gain * n) as f32)
        .collect();
    write_wav(args.path(1)?, input.spec, &mixed)?;
    println!("snr_db={:.2}", snr_db(&input.samples, &mixed));
    Ok(())
}

fn read_all(paths: &[String]) -> Result<Vec<Audio>> {
    let inputs: Vec<Audio> = paths.iter().map(|p| read_wav(p)).collect::<Result<_>>()?;
    if inputs.len() < 2 {
        return Err("need at least two inputs".into());
    }
    Ok(inputs)
}

fn cmd_average(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let inputs = read_all(&args.positional[1..])?;
    let len = inputs.iter().map(|a| a.samples.len()).min().unwrap_or(0);
    let mixed: Vec<f32> = (0..len)
        .map(|i| inputs.iter().map(|a| a.samples[i]).sum::<f32>() / inputs.len() as f32)
        .collect();
    write_wav(args.path(0)?, inputs[0].spec, &mixed)?;
    println!("copies={}", inputs.len());
    Ok(())
}

fn cmd_splice(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let inputs = read_all(&args.positional[1..])?;
    let segment_seconds: f64 = args
        .number("segment-seconds")?
        .ok_or("missing --segment-seconds")?;
    let segment =
        (segment_seconds * f64::from(inputs[0].rate)) as usize * usize::from(inputs[0].channels);
    let len = inputs.iter().map(|a| a.samples.len()).min().unwrap_or(0);
    let spliced: Vec<f32> = (0..len)
        .map(|i| inputs[(i / segment.max(1)) % inputs.len()].samples[i])
        .collect();
    write_wav(args.path(0)?, inputs[0].spec, &spliced)?;
    println!("copies={}", inputs.len());
    Ok(())
}

/// Synthetic pieces that are hard to hide a mark in: a bare sine melody, decaying
/// piano-like notes, and sparse notes separated by near-silence.
fn cmd_synth(args: &[String]) -> Result<()> {
    let args = Args::parse(args);
    let seconds: f64 = args.number("seconds")?.unwrap_or(60.0);
    let kind = args.require("kind")?;
    let rate = 44_100u32;
    let total = (seconds * f64::from(rate)) as usize;
    // A pentatonic walk, one note per 0.4 s (melody) or 0.8 s (piano/sparse).
    let scale = [261.63, 293.66, 329.63, 392.0, 440.0, 523.25, 587.33, 659.25];
    let note_len = match kind {
        "sine-melody" => 0.4,
        "piano" | "sparse" => 0.8,
        other => return Err(format!("unknown --kind {other}").into()),
    };
    let note_samples = (note_len * f64::from(rate)) as usize;
    let mut mono = vec![0.0f32; total];
    let mut phase = 0.0f64;
    for (n, out) in mono.iter_mut().enumerate() {
        let note = n / note_samples;
        let t = (n % note_samples) as f64 / f64::from(rate);
        let freq = scale[(scramble(note as u64) % scale.len() as u64) as usize];
        *out = match kind {
            "sine-melody" => {
                phase += std::f64::consts::TAU * freq / f64::from(rate);
                // 10 ms fades keep the note edges click-free, as a real take would be.
                let edge = (t / 0.01).min((note_len - t) / 0.01).min(1.0);
                (0.3 * edge * phase.sin()) as f32
            }
            _ => {
                let silent = kind == "sparse" && !note.is_multiple_of(3);
                if silent {
                    0.0
                } else {
                    let attack = (t / 0.005).min(1.0);
                    let decay = (-t * 4.0).exp();
                    let tone: f64 = (1..=6)
                        .map(|h| {
                            let h = f64::from(h);
                            (std::f64::consts::TAU * freq * h * t).sin() * (-t * h).exp() / h
                        })
                        .sum();
                    (0.25 * attack * decay * tone) as f32
                }
            }
        };
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    write_wav(args.path(0)?, spec, &mono)?;
    println!("seconds={seconds}");
    Ok(())
}

//! Benchmark driver: analyses each file named on the command line and prints one JSON line per
//! file with the results and timings (single-threaded).
//!
//! `cargo run --release -p studiovault-audio --example bench_analyze -- FILE...`
//!
//! Timings are this thread's CPU time (from `/proc/thread-self/schedstat`, so other processes
//! on a busy machine do not inflate them): `decode_secs` decodes only; `analyze_secs` is the whole one-pass `analyze()`
//! (decode + peaks + tempo + key + loudness); `dsp_secs` is `analyze_samples()` on the already
//! decoded PCM, i.e. the analyses without the decoder.

use std::io::Cursor;

use studiovault_audio::{
    AnalysisOptions, AudioDecoder, Container, DecodeLimits, analyze, analyze_samples,
};

fn main() {
    for path in std::env::args().skip(1) {
        let line = match run(&path) {
            Ok(v) => v,
            Err(e) => serde_json::json!({ "file": path, "error": e }),
        };
        println!("{line}");
    }
}

/// Nanoseconds this thread has run on a CPU.
fn cpu_now() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn run(path: &str) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let container = Container::sniff(&bytes).ok_or("not a recognised container")?;
    let len = bytes.len() as u64;

    let start = cpu_now();
    let mut decoder = AudioDecoder::open(
        Cursor::new(bytes.clone()),
        len,
        container,
        DecodeLimits::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut pcm = Vec::new();
    let mut spec = (0, 0);
    while let Some(block) = decoder.next_block().map_err(|e| e.to_string())? {
        spec = (block.channels, block.sample_rate);
        pcm.extend_from_slice(block.samples);
    }
    let decode_secs = cpu_now() - start;

    let options = AnalysisOptions::default();
    let start = cpu_now();
    let analysis =
        analyze(Cursor::new(bytes), len, container, &options).map_err(|e| e.to_string())?;
    let analyze_secs = cpu_now() - start;

    let start = cpu_now();
    analyze_samples(&pcm, spec.0, spec.1, &options).map_err(|e| e.to_string())?;
    let dsp_secs = cpu_now() - start;

    Ok(serde_json::json!({
        "file": path,
        "analysis": analysis,
        "peak_levels": analysis.waveform.levels.iter().map(|l| l.len()).collect::<Vec<_>>(),
        "decode_secs": decode_secs,
        "analyze_secs": analyze_secs,
        "dsp_secs": dsp_secs,
    }))
}

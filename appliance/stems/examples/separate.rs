//! Separates a file into four float WAV stems and reports the speed:
//! `cargo run --release -p studiovault-stems --example separate -- <input> <out_dir> [threads]`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use studiovault_stems::{Model, SeparatorOptions, StemsError, default_models_dir, separate_file};

fn main() -> Result<(), StemsError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(out)) = (args.first(), args.get(1)) else {
        return Err(StemsError::InvalidInput(
            "usage: separate <input> <out_dir> [threads]".into(),
        ));
    };
    let threads = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(2);
    let started = std::time::Instant::now();
    let model = Model::load(&default_models_dir())?;
    let loaded = started.elapsed().as_secs_f64();
    let report = separate_file(
        &model,
        &PathBuf::from(input),
        &PathBuf::from(out),
        SeparatorOptions { threads },
        &mut |_| {},
        &AtomicBool::new(false),
    )?;
    let secs = report.frames as f64 / f64::from(report.sample_rate);
    println!(
        "model load {loaded:.2} s; {secs:.1} s of audio ({} ch, {} Hz) in {:.2} s with {threads} thread(s): {:.1}x real time",
        report.channels,
        report.sample_rate,
        report.elapsed_secs,
        secs / report.elapsed_secs
    );
    Ok(())
}

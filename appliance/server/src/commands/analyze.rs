//! `studiovault analyze FILE`: the upload analysis, on one local file.

use std::process::ExitCode;

use anyhow::Context;

use super::print_json;

/// `studiovault analyze FILE`: the upload analysis, on one local file.
pub async fn analyze(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let options = studiovault_audio::AnalysisOptions::default();
    let (result, _) =
        tokio::task::spawn_blocking(move || crate::analysis::analyse(file, len, &options))
            .await?
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if json {
        print_json(&result)?;
    } else {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
        println!("{}", path.display());
        println!(
            "  tempo      {}",
            or_dash(result.tempo_bpm.map(|b| format!(
                "{b:.1} BPM ({:.0} % sure)",
                result.tempo_confidence.unwrap_or(0.0) * 100.0
            )))
        );
        println!(
            "  key        {}",
            or_dash(result.key.clone().map(|k| format!(
                "{k} · {} ({:.0} % sure)",
                result.camelot.clone().unwrap_or_default(),
                result.key_confidence.unwrap_or(0.0) * 100.0
            )))
        );
        println!(
            "  loudness   {}",
            or_dash(
                result
                    .integrated_lufs
                    .map(|l| format!("{l:.1} LUFS integrated"))
            )
        );
        println!(
            "  range      {}",
            or_dash(result.loudness_range_lu.map(|l| format!("{l:.1} LU")))
        );
        println!(
            "  true peak  {}",
            or_dash(result.true_peak_dbtp.map(|p| format!("{p:.1} dBTP")))
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `studiovault watermark …` and `studiovault leak trace`: marking and reading local files with
//! the appliance's watermark key, and naming the recipient through the admin socket.

use std::process::ExitCode;

use anyhow::{Context, bail};
use studiovault_api::client::AdminClient;
use studiovault_api::public::{TraceRequest, TraceView};

use super::print_json;
use crate::cli::{LeakCommand, WatermarkCommand};
use crate::human::when;

/// The appliance's watermark key, from its master key file.
fn watermark_key(
    config: &crate::config::Config,
) -> anyhow::Result<studiovault_watermark::WatermarkKey> {
    let path = config.master_key_path();
    let master = studiovault_vault::MasterKey::load(&path)
        .with_context(|| format!("reading the master key {}", path.display()))?;
    Ok(studiovault_watermark::WatermarkKey::from_bytes(
        *master.watermark_key(),
    ))
}

pub async fn watermark(
    config: &crate::config::Config,
    cmd: WatermarkCommand,
) -> anyhow::Result<ExitCode> {
    let key = watermark_key(config)?;
    match cmd {
        WatermarkCommand::Embed {
            input,
            output,
            payload,
        } => {
            let digits = payload.trim_start_matches("0x");
            if digits.is_empty() || digits.len() > 16 {
                bail!("--payload takes 1 to 16 hex digits (a 64-bit recipient id)");
            }
            let id = u64::from_str_radix(digits, 16)
                .with_context(|| format!("--payload `{payload}` is not hexadecimal"))?;
            let flac = match output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("flac") => true,
                Some("wav") => false,
                _ => bail!("the output must end in .wav or .flac"),
            };
            let (rate, channels, secs) =
                tokio::task::spawn_blocking(move || -> anyhow::Result<(u32, u16, f64)> {
                    let open = || {
                        std::fs::File::open(&input)
                            .with_context(|| format!("cannot open {}", input.display()))
                    };
                    let file = open()?;
                    let len = file.metadata()?.len();
                    let mut head = [0u8; 16];
                    let mut sniffing = open()?;
                    std::io::Read::read_exact(&mut sniffing, &mut head)
                        .context("the input is too short to be audio")?;
                    let container = studiovault_audio::Container::sniff(&head)
                        .context("the input is not an audio file this appliance reads")?;
                    let info = studiovault_audio::probe(open()?, len, container)?;
                    let encoding = studiovault_marking::Encoding::for_source(
                        info.bits_per_sample,
                        info.codec.starts_with("pcm_f"),
                    );
                    let stream = studiovault_marking::MarkedStream::open(
                        file,
                        len,
                        &key,
                        studiovault_watermark::Payload::new(id),
                        Default::default(),
                    )?;
                    let (rate, channels) = (stream.sample_rate, stream.channels);
                    let tmp = output.with_extension("partial");
                    if flac {
                        std::fs::write(
                            &tmp,
                            studiovault_marking::encode_flac(stream, encoding)?.into_bytes(),
                        )?;
                    } else {
                        studiovault_marking::write_wav(
                            stream,
                            encoding,
                            std::io::BufWriter::new(std::fs::File::create(&tmp)?),
                        )?;
                    }
                    std::fs::rename(&tmp, &output)?;
                    Ok((rate, channels, info.duration_secs.unwrap_or(0.0)))
                })
                .await??;
            println!("marked with {id:016x}: {secs:.1} s, {rate} Hz, {channels} channel(s)");
            Ok(ExitCode::SUCCESS)
        }
        WatermarkCommand::Detect { file, out } => {
            let shown = file.display().to_string();
            let found = tokio::task::spawn_blocking(move || read_mark(&file, &key))
                .await?
                .with_context(|| format!("reading {shown}"))?
                .detection;
            if out.json {
                print_json(&match &found {
                    Some(d) => {
                        serde_json::json!({"found": true, "payload": format!("{:016x}", d.payload.id), "confidence": d.confidence, "speed": d.speed})
                    }
                    None => serde_json::json!({"found": false}),
                })?;
            } else {
                match &found {
                    Some(d) => println!(
                        "{shown}: watermark {:016x} (confidence {:.2}, speed {:.3}x)",
                        d.payload.id, d.confidence, d.speed
                    ),
                    None => println!("{shown}: no watermark of this appliance"),
                }
            }
            Ok(if found.is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Everything the detector reads from a suspect file: the payload, if one decodes, and the soft
/// bits to score candidates against.
fn read_mark(
    path: &std::path::Path,
    key: &studiovault_watermark::WatermarkKey,
) -> anyhow::Result<studiovault_watermark::Analysis> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    Ok(studiovault_marking::analyze(
        file,
        len,
        key,
        studiovault_audio::DecodeLimits::default(),
    )?)
}

pub async fn leak(
    config: &crate::config::Config,
    client: &AdminClient,
    cmd: LeakCommand,
) -> anyhow::Result<ExitCode> {
    let LeakCommand::Trace { file, out } = cmd;
    let key = watermark_key(config)?;
    let shown = file.display().to_string();
    let analysis = tokio::task::spawn_blocking(move || read_mark(&file, &key))
        .await?
        .with_context(|| format!("reading {shown}"))?;
    if analysis.detection.is_none() && analysis.soft_bits.is_none() {
        if out.json {
            print_json(&serde_json::json!({"found": false, "payload": null}))?;
        } else {
            println!("{shown}: no watermark of this appliance");
        }
        return Ok(ExitCode::FAILURE);
    }
    let request = TraceRequest {
        payload: analysis
            .detection
            .as_ref()
            .map(|d| format!("{:016x}", d.payload.id)),
        soft_bits: analysis.soft_bits.as_ref().map(|s| s.values().to_vec()),
    };
    let trace: TraceView = client.post("/v1/leaks/trace", &request).await?;
    if out.json {
        print_json(&trace)?;
    } else {
        if let (Some(share), Some(recipient), Some(d)) =
            (&trace.share, &trace.recipient, &analysis.detection)
        {
            println!(
                "{shown}: watermark {:016x} (confidence {:.2})",
                d.payload.id, d.confidence
            );
            println!(
                "  recipient  {}{}",
                recipient.name,
                recipient
                    .email
                    .as_deref()
                    .map(|e| format!(" <{e}>"))
                    .unwrap_or_default()
            );
            println!(
                "  share      {} ({}), created {}, owner {}",
                share.title,
                share.id,
                when(share.created_at),
                trace.owner_email.as_deref().unwrap_or("?")
            );
            for copy in &trace.copies {
                println!("  copy of    {} issued {}", copy.name, when(copy.issued_at));
            }
            for e in recipient
                .events
                .iter()
                .filter(|e| e.kind == "played" || e.kind == "downloaded")
            {
                println!("  {:<10} {}", e.kind, when(e.at));
            }
        } else if let Some(p) = &trace.payload {
            println!("{shown}: watermark {p}, but no recipient on this appliance has it");
        } else {
            println!("{shown}: no payload decodes");
        }
        for s in &trace.suspects {
            println!(
                "  also carries the copy of {} (share {}, score {:.1} ≥ {:.1})",
                s.recipient.name,
                s.share.title,
                s.score,
                trace.threshold.unwrap_or(0.0)
            );
        }
    }
    Ok(if trace.found {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! Writes the melody (or, with `--bass`, the bass line) of an audio file as a MIDI file, at the
//! tempo the analysis finds.
//!
//! `cargo run --release -p studiovault-audio --example melody_to_midi -- IN OUT.mid [--bass]`

use std::fs::File;
use std::io::Read;

use studiovault_audio::{
    AnalysisOptions, Container, MelodyOptions, MelodyRange, analyze, extract_melody,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: melody_to_midi IN OUT.mid [--bass]".into());
    };
    // Both passes stream the file, as the appliance's do.
    let mut head = [0u8; 16];
    File::open(input)?.read_exact(&mut head)?;
    let container = Container::sniff(&head).ok_or("not a recognised container")?;
    let len = std::fs::metadata(input)?.len();
    let analysis = analyze(
        File::open(input)?,
        len,
        container,
        &AnalysisOptions::default(),
    )?;
    let options = MelodyOptions {
        range: if args.iter().any(|a| a == "--bass") {
            MelodyRange::Bass
        } else {
            MelodyRange::Melody
        },
        bpm: analysis.tempo.map(|t| t.bpm),
        ..MelodyOptions::default()
    };
    let melody = extract_melody(File::open(input)?, len, container, &options)?;
    std::fs::write(output, melody.to_midi())?;
    println!("{} notes at {} BPM", melody.notes.len(), melody.bpm);
    Ok(())
}

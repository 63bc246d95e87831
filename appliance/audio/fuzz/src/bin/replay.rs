//! Runs every file under the given directories (or files) through the fuzzing harness, without
//! libFuzzer: the stable-toolchain way to check a corpus or a crash reproducer.

use std::path::Path;
use std::time::Instant;

fn visit(path: &Path, count: &mut usize) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            visit(&entry?.path(), count)?;
        }
    } else {
        let data = std::fs::read(path)?;
        let start = Instant::now();
        studiovault_audio_fuzz::fuzz_one(&data);
        println!("{} ({} bytes): {:.3} s", path.display(), data.len(), start.elapsed().as_secs_f64());
        *count += 1;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut count = 0;
    for arg in std::env::args().skip(1) {
        visit(Path::new(&arg), &mut count)?;
    }
    println!("{count} inputs ran clean");
    Ok(())
}

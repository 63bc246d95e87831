//! What GPU this box has, as `nvidia-smi` reports it: shown in the console, and sent with each
//! lease request.

use std::process::Command;

/// The first GPU's model and its memory in MiB, or `None` without an NVIDIA GPU (or driver).
pub fn detect() -> Option<(String, u64)> {
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn parse(csv: &str) -> Option<(String, u64)> {
    let line = csv.lines().next()?;
    let (name, mib) = line.rsplit_once(',')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some((name.to_owned(), mib.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_gpu_of_nvidia_smi() {
        assert_eq!(
            parse("NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559\n"),
            Some(("NVIDIA H100 80GB HBM3".into(), 81_559))
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("No devices were found"), None);
    }
}

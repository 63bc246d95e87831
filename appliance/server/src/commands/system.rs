//! The host as `setup` and `doctor` see it: programs run with their output captured, users
//! and groups by name, systemd units.

use std::process::Command;

use anyhow::{Context, bail};

/// Runs `program args…`; answers its standard output, or fails with its standard error.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A user's uid and primary gid, from the system's user database (`getent`, so NSS sources
/// count too).
pub fn user(name: &str) -> Option<(u32, u32)> {
    let line = run("getent", &["passwd", name]).ok()?;
    let fields: Vec<&str> = line.trim().split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

pub fn group(name: &str) -> Option<u32> {
    let line = run("getent", &["group", name]).ok()?;
    line.trim().split(':').nth(2)?.parse().ok()
}

/// `systemctl is-active` of a unit (`active`, `failed`, `inactive`, …); None without systemd.
pub fn unit_state(unit: &str) -> Option<String> {
    let out = Command::new("systemctl")
        .args(["is-active", unit])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether systemd knows the unit (its file is installed).
pub fn unit_installed(unit: &str) -> bool {
    run(
        "systemctl",
        &["show", "--property=LoadState", "--value", unit],
    )
    .is_ok_and(|s| s.trim() == "loaded")
}

/// `systemctl is-enabled` of a unit.
pub fn unit_enabled(unit: &str) -> bool {
    Command::new("systemctl")
        .args(["is-enabled", "--quiet", unit])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this system runs in a container (whose clock is the host's to keep).
pub fn in_container() -> bool {
    Command::new("systemd-detect-virt")
        .args(["--container", "--quiet"])
        .status()
        .is_ok_and(|s| s.success())
}

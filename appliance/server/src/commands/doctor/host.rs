//! The machine's side of the checks: ports, DNS, the clock, disk space and the unit's
//! hardening. `setup` runs the first four as its pre-flight.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;

use super::Finding;
use crate::commands::system;
use crate::config::Config;

/// The process name of the appliance's server, as `/proc/<pid>/comm` shows it.
const OUR_PROCESS: &str = "studiovault";
/// `systemd-analyze security` exposure at or below which the unit counts as hardened.
pub const MAX_EXPOSURE: f64 = 2.0;
const GIB: u64 = 1 << 30;

/// The ports the configuration listens on.
fn listen_ports(config: &Config) -> Vec<u16> {
    if config.tls.enabled() {
        vec![
            config.tls.https_listen.port(),
            config.tls.http_listen.port(),
        ]
    } else {
        vec![config.http.listen.port()]
    }
}

/// The inodes of the TCP sockets listening on each port, from a `/proc/net/tcp{,6}` table.
fn listening_inodes(table: &str) -> Vec<(u16, u64)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is field 9.
            let (_, port) = fields.get(1)?.rsplit_once(':')?;
            if *fields.get(3)? != "0A" {
                return None;
            }
            Some((
                u16::from_str_radix(port, 16).ok()?,
                fields.get(9)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Each socket inode's process: `/proc/<pid>/fd/*` links read `socket:[<inode>]`.
fn socket_processes(inodes: &BTreeSet<u64>) -> HashMap<u64, (u32, String)> {
    let mut found = HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok());
            if let Some(inode) = inode.filter(|i| inodes.contains(i)) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                found.insert(inode, (pid, comm.trim().to_owned()));
            }
        }
    }
    found
}

/// Ports 80 and 443 (or the configured ones) must be free, or held by the appliance.
pub fn ports(config: &Config) -> Finding {
    let mut listeners = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        listeners.extend(listening_inodes(
            &std::fs::read_to_string(table).unwrap_or_default(),
        ));
    }
    let inodes = listeners.iter().map(|(_, inode)| *inode).collect();
    let owners = socket_processes(&inodes);
    let mut parts = Vec::new();
    let mut taken = Vec::new();
    for port in listen_ports(config) {
        let holders: BTreeSet<(u32, String)> = listeners
            .iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, inode)| {
                owners
                    .get(inode)
                    .cloned()
                    .unwrap_or((0, "an unknown process".into()))
            })
            .collect();
        if holders.is_empty() {
            parts.push(format!("{port} free"));
        } else if holders.iter().all(|(_, name)| name == OUR_PROCESS) {
            let pids: Vec<String> = holders.iter().map(|(pid, _)| pid.to_string()).collect();
            parts.push(format!("{port} ours (pid {})", pids.join(", ")));
        } else {
            for (pid, name) in holders.iter().filter(|(_, n)| n != OUR_PROCESS) {
                taken.push(format!("{port} is taken by {name} (pid {pid})"));
            }
        }
    }
    if taken.is_empty() {
        Finding::ok("ports", parts.join(", "))
    } else {
        Finding::fail(
            "ports",
            format!(
                "{}: stop it, or move the appliance (tls.https_listen, tls.http_listen)",
                taken.join("; ")
            ),
        )
    }
}

/// Whether `ip` is an address of this machine: only those can be bound.
fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// In ACME mode every domain must resolve, and should resolve to this machine.
pub async fn dns(config: &Config) -> Finding {
    if config.tls.mode != studiovault_tls::Mode::Acme {
        return Finding::skip(
            "dns",
            format!("not needed: tls.mode is {}", config.tls.mode.as_str()),
        );
    }
    let mut notes = Vec::new();
    let mut worst = Finding::ok("dns", String::new());
    for domain in &config.tls.acme.domains {
        let addrs: Vec<IpAddr> = match tokio::net::lookup_host((domain.as_str(), 443)).await {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(e) => {
                return Finding::fail(
                    "dns",
                    format!("{domain} does not resolve ({e}): the CA cannot reach this machine"),
                );
            }
        };
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        if addrs.iter().any(|ip| is_local(*ip)) {
            notes.push(format!("{domain} → {} (this machine)", shown.join(", ")));
        } else {
            notes.push(format!("{domain} → {}", shown.join(", ")));
            worst = Finding::warn(
                "dns",
                "not an address of this machine: fine behind a router that forwards ports 80 \
                 and 443 here, otherwise correct the DNS record"
                    .into(),
            );
        }
    }
    Finding {
        detail: match worst.detail.as_str() {
            "" => notes.join("; "),
            why => format!("{}: {why}", notes.join("; ")),
        },
        ..worst
    }
}

/// The clock must be kept by NTP: TOTP codes, certificates and the audit's times depend on it.
pub fn clock() -> Finding {
    let show = |property: &str| {
        system::run("timedatectl", &["show", "--property", property, "--value"])
            .map(|v| v.trim() == "yes")
    };
    let Ok(synced) = show("NTPSynchronized") else {
        return Finding::warn("clock", "cannot tell: timedatectl does not answer".into());
    };
    if synced {
        return Finding::ok("clock", "synchronised by NTP".into());
    }
    if system::in_container() {
        return Finding::warn(
            "clock",
            "the kernel reports the clock unsynchronised; in a container the host keeps the \
             time: check the host's NTP"
                .into(),
        );
    }
    if show("CanNTP").unwrap_or(false) {
        Finding::warn(
            "clock",
            "an NTP client is installed but has not synchronised yet (`timedatectl \
             timesync-status`)"
                .into(),
        )
    } else {
        Finding::fail(
            "clock",
            "no NTP client keeps the time: `apt install systemd-timesyncd`".into(),
        )
    }
}

/// What is free where the data lives (or will: the nearest existing parent).
pub fn disk(data_dir: &Path) -> Finding {
    let existing = data_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(data_dir);
    let Ok(fs) = rustix::fs::statvfs(existing) else {
        return Finding::fail("disk", format!("cannot read {}", existing.display()));
    };
    disk_verdict(
        fs.f_bavail.saturating_mul(fs.f_frsize),
        fs.f_blocks.saturating_mul(fs.f_frsize),
    )
}

fn disk_verdict(free: u64, total: u64) -> Finding {
    let percent = (free as f64 * 100.0 / total.max(1) as f64).round();
    let detail = format!(
        "{} free of {} ({percent}%)",
        crate::human::size(free),
        crate::human::size(total)
    );
    if free < GIB || percent < 2.0 {
        Finding::fail("disk", format!("{detail}: uploads will fail soon"))
    } else if free < 10 * GIB || percent < 10.0 {
        Finding::warn("disk", format!("{detail}: running low"))
    } else {
        Finding::ok("disk", detail)
    }
}

/// The overall exposure `systemd-analyze security` prints on its last line.
fn exposure(report: &str) -> Option<f64> {
    report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?
        .rsplit_once(": ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The unit's sandbox, as `systemd-analyze security` rates it (0 best, 10 worst).
pub fn hardening(unit: &str) -> Finding {
    if !system::unit_installed(unit) {
        return Finding::skip("hardening", format!("{unit} is not installed"));
    }
    let report = match system::run("systemd-analyze", &["security", "--no-pager", unit]) {
        Ok(report) => report,
        Err(e) => return Finding::warn("hardening", format!("cannot rate it: {e:#}")),
    };
    match exposure(&report) {
        Some(level) if level <= MAX_EXPOSURE => Finding::ok(
            "hardening",
            format!(
                "`systemd-analyze security` rates {unit} {level:.1} (at most {MAX_EXPOSURE:.1})"
            ),
        ),
        Some(level) => Finding::fail(
            "hardening",
            format!(
                "`systemd-analyze security` rates {unit} {level:.1}, above {MAX_EXPOSURE:.1}: a \
                 drop-in in /etc/systemd/system/{unit}.d loosened its sandbox"
            ),
        ),
        None => Finding::warn("hardening", "systemd-analyze printed no exposure".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Verdict;
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_proc_net() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   997        0 41234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 41300 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 555 1";
        assert_eq!(listening_inodes(table), vec![(443, 41234), (80, 555)]);
    }

    #[test]
    fn exposure_is_read_from_the_last_line() {
        let report = "  NAME  DESCRIPTION  EXPOSURE\n✗ PrivateNetwork= ...  0.5\n\n→ Overall \
                      exposure level for studiovault.service: 1.4 OK 🙂\n";
        assert_eq!(exposure(report), Some(1.4));
        assert_eq!(exposure("nothing"), None);
    }

    #[test]
    fn disk_space_verdicts() {
        assert_eq!(disk_verdict(500 << 30, 1000 << 30).verdict, Verdict::Ok);
        assert_eq!(disk_verdict(5 << 30, 100 << 30).verdict, Verdict::Warn);
        assert_eq!(disk_verdict(5 << 30, 1000 << 30).verdict, Verdict::Fail);
        assert_eq!(disk_verdict(50 << 30, 1000 << 30).verdict, Verdict::Warn);
        assert_eq!(disk_verdict(512 << 20, 1 << 30).verdict, Verdict::Fail);
    }

    #[test]
    fn loopback_is_local_and_a_documentation_address_is_not() {
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(!is_local("192.0.2.1".parse().unwrap()));
    }
}

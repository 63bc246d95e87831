//! `studiovault health`: whether the running server is up, for upgrades and `setup`. Healthy
//! means its admin socket answers (the store opened, migrations done), its public listener
//! accepts connections, and a moment later it is still the same process: a server crashing in
//! a restart loop never passes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use studiovault_api::admin::Status;
use studiovault_api::client::AdminClient;

use crate::config::Config;

/// How long after a first good answer the server must still be the same process.
const SETTLE: Duration = Duration::from_secs(2);

/// Where the public listener can be reached from this machine: HTTPS with TLS, plain HTTP
/// without; a wildcard address is reached on loopback.
pub fn public_addr(config: &Config) -> SocketAddr {
    let addr = if config.tls.enabled() {
        config.tls.https_listen
    } else {
        config.http.listen
    };
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(ip, addr.port())
}

/// One look: the status from the admin socket, and a connection to the public listener.
async fn probe(client: &AdminClient, config: &Config) -> Result<Status, String> {
    let status: Status = client.get("/v1/status").await.map_err(|e| e.to_string())?;
    let addr = public_addr(config);
    match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(status),
        Ok(Err(e)) => Err(format!("nothing accepts connections on {addr}: {e}")),
        Err(_) => Err(format!("{addr} did not accept a connection within 3 s")),
    }
}

/// Waits up to `wait` for the server's admin socket to answer, as a command a timer starts at
/// boot must: the server may not listen yet. Any error but "not running" is final at once.
pub async fn wait_for_admin_socket(
    client: &AdminClient,
    wait: Duration,
) -> Result<(), studiovault_api::client::ClientError> {
    let deadline = Instant::now() + wait;
    loop {
        match client.get::<Status>("/v1/status").await {
            Ok(_) => return Ok(()),
            Err(studiovault_api::client::ClientError::NotRunning(_))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits up to `wait` for the server to be healthy; answers its status, or why it is not.
pub async fn wait_healthy(
    client: &AdminClient,
    config: &Config,
    wait: Duration,
) -> Result<Status, String> {
    let deadline = Instant::now() + wait;
    loop {
        let outcome = match probe(client, config).await {
            Ok(first) => {
                tokio::time::sleep(SETTLE).await;
                match probe(client, config).await {
                    Ok(second) if second.uptime_secs > first.uptime_secs => Ok(second),
                    Ok(_) => Err("the server restarted while it was checked".to_owned()),
                    Err(e) => Err(format!("it answered, then stopped: {e}")),
                }
            }
            Err(e) => Err(e),
        };
        if outcome.is_ok() || Instant::now() >= deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn health(client: &AdminClient, config: &Config, wait_secs: u64) -> ExitCode {
    match wait_healthy(client, config, Duration::from_secs(wait_secs)).await {
        Ok(status) => {
            println!(
                "healthy: Studio Vault {} (store schema {}), serving {}",
                status.version,
                status
                    .store_schema
                    .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
                config.public_url()
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("not healthy: {why}");
            ExitCode::FAILURE
        }
    }
}

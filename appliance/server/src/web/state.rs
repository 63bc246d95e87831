//! What every surface's handlers may need.

use std::sync::Arc;
use std::time::Instant;

use studiovault_vault::Vault;

use crate::backups::Backups;
use crate::config::Config;
use crate::throttle::LoginThrottle;

/// The state shared by the owners' API, the portal and the admin socket. What one surface alone
/// keeps (the owners' open uploads and export links) lives in that surface.
#[derive(Clone, Debug)]
pub struct AppState {
    pub vault: Vault,
    pub config: Arc<Config>,
    pub throttle: Arc<LoginThrottle>,
    pub watermark_key: studiovault_watermark::WatermarkKey,
    /// Replication, snapshots and drills.
    pub backups: Arc<Backups>,
    pub started: Instant,
    /// The HTTPS side, when TLS is on.
    pub tls: Option<studiovault_tls::Tls>,
    /// Woken when jobs are queued: stem workers' lease requests wait on it.
    pub stems_wake: Arc<tokio::sync::Notify>,
}

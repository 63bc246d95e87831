//! What every surface's handlers may need.

use std::sync::Arc;
use std::time::{Duration, Instant};

use studiovault_vault::Vault;

use crate::backups::Backups;
use crate::config::Config;
use crate::probe::Prober;
use crate::rate::RequestRate;
use crate::throttle::LoginThrottle;
use crate::transcribe::Transcriber;
use crate::workers::StemUploads;

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
    /// Melody to MIDI: turns and child processes.
    pub transcriber: Arc<Transcriber>,
    /// The rate of share recipients' play and download URLs and comments, by recipient.
    pub recipient_requests: Arc<RequestRate>,
    /// The stem jobs whose results are arriving, one upload each.
    pub stem_uploads: Arc<StemUploads>,
    /// How uploads are checked as audio.
    pub prober: Prober,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        vault: Vault,
        watermark_key: studiovault_watermark::WatermarkKey,
        backups: Arc<Backups>,
        tls: Option<studiovault_tls::Tls>,
        prober: Prober,
    ) -> Self {
        let login = &config.login;
        let throttle = LoginThrottle::new(
            Duration::from_secs(login.window_seconds),
            login.max_failures_per_account,
            login.max_failures_per_account_all_clients,
            login.max_failures_per_client,
        );
        let transcriber = Arc::new(Transcriber::new(
            config.job_limits(),
            config.analysis.transcriptions,
            Duration::from_secs(config.analysis.transcription_wait_seconds),
        ));
        Self {
            vault,
            throttle: Arc::new(throttle),
            config,
            watermark_key,
            backups,
            started: Instant::now(),
            tls,
            stems_wake: Arc::new(tokio::sync::Notify::new()),
            transcriber,
            recipient_requests: Arc::new(RequestRate::recipient_requests()),
            stem_uploads: Arc::default(),
            prober,
        }
    }
}

//! The console's Shares tab: every owner's shares, their recipients and what each did
//! (`GET /v1/shares`), and a leak trace of a suspect file sent as the request body
//! (`POST /v1/leaks/trace-file`, answered with [`crate::public::TraceView`]).

use serde::{Deserialize, Serialize};

/// `GET /v1/shares`: owners with at least one share, by e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminShares {
    pub owners: Vec<OwnerShares>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerShares {
    pub owner: String,
    pub email: String,
    /// Newest first.
    pub shares: Vec<AdminShare>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminShare {
    pub id: String,
    pub title: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    pub watermark: bool,
    pub follow_latest: bool,
    pub allow_download: bool,
    pub tracks: u32,
    /// Comments in the share's threads.
    pub comments: u32,
    pub recipients: Vec<AdminRecipient>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminRecipient {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub revoked: bool,
    /// The watermark payload of this recipient's copies, 16 hex digits (what a trace reads).
    pub payload: String,
    pub plays: u32,
    pub downloads: u32,
    /// Marked copies made for this recipient.
    pub copies: u32,
    pub first_opened: Option<i64>,
    pub last_activity: Option<i64>,
    /// Seconds of audio the recipient's player reported playing.
    pub listened_secs: f64,
}

//! The wire types of Studio Vault's two APIs, shared by the server, the CLI and the console.
//!
//! - [`public`]: the owners' JSON API under `/api` (see `docs/API.md`).
//! - [`admin`]: the admin socket's JSON API under `/v1`, used by `studiovault` subcommands and
//!   the console. Nothing here depends on the server, so `tui/` can depend on it alone.
//! - [`review`]: review with clients (comments, versions, upload links, listening,
//!   notifications), on the owners' API and the share and upload portals.
//! - [`worker`]: the stem workers' API under `/api/worker`, token-authenticated.
//! - `client` (feature `client`): the admin socket client both of them use.

pub mod admin;
#[cfg(feature = "client")]
pub mod client;
pub mod public;
pub mod review;
pub mod worker;

use serde::{Deserialize, Serialize};

/// Every error answer of both APIs: a stable machine code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    /// Seconds to wait before trying again, for throttled requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// A subscription plan; each has a default storage quota set in the server's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Max,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Max];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Max => "max",
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "max" => Ok(Plan::Max),
            other => Err(format!(
                "unknown plan `{other}` (expected free, pro or max)"
            )),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// Sign-in disabled by an admin; data kept.
    Suspended {
        since: i64,
    },
    /// Deletion requested: sign-in disabled, purge at `purge_after` unless cancelled.
    PendingDeletion {
        requested_at: i64,
        purge_after: i64,
    },
}

/// A purpose the appliance processes an owner's audio for, which the owner may object to
/// (each alone) or restrict (all together): no new processing for it until they lift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingPurpose {
    /// Tempo, key, loudness and waveform peaks of uploads.
    Analysis,
    /// Stem separation.
    Stems,
    /// Watermarked copies rendered for share recipients.
    MarkedCopies,
}

impl ProcessingPurpose {
    pub const ALL: [ProcessingPurpose; 3] = [Self::Analysis, Self::Stems, Self::MarkedCopies];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Analysis => "analysis",
            Self::Stems => "stems",
            Self::MarkedCopies => "marked_copies",
        }
    }

    /// What the purpose does, as a sentence's subject.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Analysis => "analysis of uploads (tempo, key, loudness, waveform)",
            Self::Stems => "stem separation",
            Self::MarkedCopies => "new watermarked copies for share recipients",
        }
    }
}

impl std::str::FromStr for ProcessingPurpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown processing purpose `{s}` (expected analysis, stems or marked_copies)"
                )
            })
    }
}

impl std::fmt::Display for ProcessingPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_round_trips_through_text_and_json() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
            let json = serde_json::to_string(&plan).unwrap_or_default();
            assert_eq!(json, format!("\"{plan}\""));
        }
        assert!("gold".parse::<Plan>().is_err());
    }

    #[test]
    fn purposes_round_trip_through_text_and_json() {
        for purpose in ProcessingPurpose::ALL {
            assert_eq!(purpose.as_str().parse::<ProcessingPurpose>(), Ok(purpose));
            let json = serde_json::to_string(&purpose).unwrap_or_default();
            assert_eq!(json, format!("\"{purpose}\""));
        }
        assert!("training".parse::<ProcessingPurpose>().is_err());
    }

    #[test]
    fn account_status_is_tagged() {
        let s = AccountStatus::PendingDeletion {
            requested_at: 1,
            purge_after: 2,
        };
        let json = serde_json::to_value(s).unwrap_or_default();
        assert_eq!(json["state"], "pending_deletion");
        assert_eq!(json["purge_after"], 2);
    }
}

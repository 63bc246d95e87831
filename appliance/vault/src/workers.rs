//! The admin's stem workers: enrolment (a token shown once, its SHA-256 kept), drain, revoke,
//! delete, and what each worker last reported. A worker's token names its record, so a
//! revoked or deleted worker's next call is refused here, whatever route it calls.
//!
//! Workers lease stem jobs from [`crate::jobs`] under the holder name [`WorkerRecord::holder`];
//! deleting or revoking a worker puts the jobs it holds back in the queue at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use studiovault_api::worker::WorkerCapabilities;
use subtle::ConstantTimeEq;

use crate::Vault;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::WorkerId;
use crate::library::clean_text;
use crate::store::{WORKERS, decode, encode};

const MAX_NAME_CHARS: usize = 64;
const TOKEN_PREFIX: &str = "svw_";
/// Completions kept per worker for the console's jobs-per-hour figure.
const HOUR_MS: i64 = 3_600_000;
/// A worker's reports are written at most this often (a long poll calls every few seconds).
const SEEN_WRITE_MS: i64 = 10_000;

/// Where a worker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    Active,
    /// Finishes the job it holds, takes no new one.
    Draining,
    /// Every call refused.
    Revoked,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Draining => "draining",
            Self::Revoked => "revoked",
        }
    }
}

/// An enrolled worker as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub id: WorkerId,
    pub name: String,
    /// SHA-256 of the token's secret, hex.
    token_sha256: String,
    pub state: WorkerState,
    pub enrolled_at_ms: i64,
    #[serde(default)]
    pub capabilities: Option<WorkerCapabilities>,
    #[serde(default)]
    pub last_seen_ms: Option<i64>,
    /// When its jobs of the last hour finished.
    #[serde(default)]
    pub finished_ms: Vec<i64>,
    #[serde(default)]
    pub jobs_done: u64,
}

impl WorkerRecord {
    /// The name its leases are held under in the job table.
    pub fn holder(&self) -> String {
        holder_of(self.id)
    }

    /// Jobs finished within the hour before `now`.
    pub fn jobs_last_hour(&self, now: i64) -> u64 {
        self.finished_ms
            .iter()
            .filter(|t| now - **t < HOUR_MS)
            .count() as u64
    }
}

pub(crate) fn holder_of(id: WorkerId) -> String {
    format!("worker/{id}")
}

/// The worker a job holder names, if it is one.
pub fn worker_of_holder(holder: &str) -> Option<WorkerId> {
    holder.strip_prefix("worker/").and_then(WorkerId::parse)
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn worker_event(id: WorkerId, action: AuditAction) -> AuditEvent {
    AuditEvent::new(Actor::Admin, None, action).object(format!("worker/{id}"))
}

/// Counts a finished job on the worker's record, in the transaction that records the job.
pub(crate) fn count_finished(txn: &redb::WriteTransaction, id: WorkerId, now: i64) -> Result<()> {
    let mut table = txn.open_table(WORKERS)?;
    let raw = table.get(id.raw())?.map(|v| v.value().to_vec());
    if let Some(raw) = raw {
        let mut rec: WorkerRecord = decode("workers", &raw)?;
        rec.finished_ms.retain(|t| now - *t < HOUR_MS);
        rec.finished_ms.push(now);
        rec.jobs_done += 1;
        table.insert(id.raw(), encode(&rec).as_slice())?;
    }
    Ok(())
}

impl Vault {
    /// Enrols a worker named `name`; answers its record and its token, which is not kept.
    pub fn enrol_worker(&self, name: &str) -> Result<(WorkerRecord, String)> {
        let name = clean_text(name, MAX_NAME_CHARS);
        if name.is_empty() {
            return Err(VaultError::invalid("name", "must not be empty"));
        }
        let id = WorkerId::random();
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let token = format!("{TOKEN_PREFIX}{id}_{secret}");
        let rec = self.audited(None, |txn, now| {
            let mut table = txn.open_table(WORKERS)?;
            for row in table.iter()? {
                let other: WorkerRecord = decode("workers", row?.1.value())?;
                if other.name.eq_ignore_ascii_case(&name) {
                    return Err(VaultError::invalid("name", "is taken by another worker"));
                }
            }
            let rec = WorkerRecord {
                id,
                name: name.clone(),
                token_sha256: secret_hash(&secret),
                state: WorkerState::Active,
                enrolled_at_ms: now,
                capabilities: None,
                last_seen_ms: None,
                finished_ms: Vec::new(),
                jobs_done: 0,
            };
            table.insert(id.raw(), encode(&rec).as_slice())?;
            Ok((rec, worker_event(id, AuditAction::WorkerEnrol).detail(name)))
        })?;
        Ok((rec, token))
    }

    /// The worker a token belongs to. `WorkerUnknown` for a token that names no worker or
    /// whose secret is wrong, `WorkerRevoked` once the admin revoked it.
    pub fn authenticate_worker(&self, token: &str) -> Result<WorkerRecord> {
        let (id, secret) = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(id, secret)| Some((WorkerId::parse(id)?, secret)))
            .ok_or(VaultError::WorkerUnknown)?;
        let rec = self.worker(id).map_err(|e| match e {
            VaultError::NotFound => VaultError::WorkerUnknown,
            other => other,
        })?;
        let matches: bool = secret_hash(secret)
            .as_bytes()
            .ct_eq(rec.token_sha256.as_bytes())
            .into();
        if !matches {
            return Err(VaultError::WorkerUnknown);
        }
        if rec.state == WorkerState::Revoked {
            return Err(VaultError::WorkerRevoked);
        }
        Ok(rec)
    }

    pub fn worker(&self, id: WorkerId) -> Result<WorkerRecord> {
        let txn = self.db().begin_read()?;
        let raw = txn
            .open_table(WORKERS)?
            .get(id.raw())?
            .map(|v| v.value().to_vec())
            .ok_or(VaultError::NotFound)?;
        decode("workers", &raw)
    }

    /// Every enrolled worker, by name.
    pub fn workers(&self) -> Result<Vec<WorkerRecord>> {
        let txn = self.db().begin_read()?;
        let mut out = Vec::new();
        for row in txn.open_table(WORKERS)?.iter()? {
            out.push(decode::<WorkerRecord>("workers", row?.1.value())?);
        }
        out.sort_by_key(|w| w.name.to_lowercase());
        Ok(out)
    }

    /// Records what a worker reports of itself. Bookkeeping, not a change of anyone's data:
    /// not audited, and written at most every few seconds.
    pub fn worker_seen(&self, id: WorkerId, capabilities: &WorkerCapabilities) -> Result<()> {
        let mut caps = capabilities.clone();
        caps.host = clean_text(&caps.host, MAX_NAME_CHARS);
        caps.backend = clean_text(&caps.backend, MAX_NAME_CHARS);
        caps.gpu = caps.gpu.map(|g| clean_text(&g, MAX_NAME_CHARS));
        caps.version = clean_text(&caps.version, MAX_NAME_CHARS);
        self.note_worker(id, Some(caps))
    }

    /// Records that a worker called (a heartbeat while it works), like [`Vault::worker_seen`].
    pub fn worker_heard(&self, id: WorkerId) -> Result<()> {
        self.note_worker(id, None)
    }

    /// Stamps the worker's last call, with what it reports when it says; skipped while the
    /// stamp is fresh and the report unchanged.
    fn note_worker(&self, id: WorkerId, capabilities: Option<WorkerCapabilities>) -> Result<()> {
        let now = self.now_ms();
        let known = self.worker(id).map_err(|e| match e {
            VaultError::NotFound => VaultError::WorkerUnknown,
            other => other,
        })?;
        let fresh = known.last_seen_ms.is_some_and(|t| now - t < SEEN_WRITE_MS);
        if fresh
            && capabilities
                .as_ref()
                .is_none_or(|c| known.capabilities.as_ref() == Some(c))
        {
            return Ok(());
        }
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(WORKERS)?;
            let raw = table.get(id.raw())?.map(|v| v.value().to_vec());
            let Some(raw) = raw else {
                return Err(VaultError::WorkerUnknown);
            };
            let mut rec: WorkerRecord = decode("workers", &raw)?;
            rec.last_seen_ms = Some(now);
            if capabilities.is_some() {
                rec.capabilities = capabilities;
            }
            table.insert(id.raw(), encode(&rec).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Drains (`Draining`), resumes (`Active`) or revokes (`Revoked`) a worker. Revoking puts
    /// the jobs it holds back in the queue.
    pub fn set_worker_state(&self, id: WorkerId, state: WorkerState) -> Result<WorkerRecord> {
        let rec = self.audited(None, |txn, _| {
            let mut table = txn.open_table(WORKERS)?;
            let raw = table.get(id.raw())?.map(|v| v.value().to_vec());
            let mut rec: WorkerRecord = decode("workers", &raw.ok_or(VaultError::NotFound)?)?;
            if rec.state == WorkerState::Revoked && state != WorkerState::Revoked {
                return Err(VaultError::Conflict(
                    "a revoked worker stays revoked: enrol it again for a new token",
                ));
            }
            rec.state = state;
            table.insert(id.raw(), encode(&rec).as_slice())?;
            let action = match state {
                WorkerState::Active => AuditAction::WorkerResume,
                WorkerState::Draining => AuditAction::WorkerDrain,
                WorkerState::Revoked => AuditAction::WorkerRevoke,
            };
            Ok((rec, worker_event(id, action)))
        })?;
        if state == WorkerState::Revoked {
            self.release_leases(&holder_of(id))?;
            self.jobs_queued();
        }
        Ok(rec)
    }

    /// Removes a worker; its token stops working and its jobs go back in the queue.
    pub fn delete_worker(&self, id: WorkerId) -> Result<()> {
        self.audited(None, |txn, _| {
            let removed = txn.open_table(WORKERS)?.remove(id.raw())?.is_some();
            if !removed {
                return Err(VaultError::NotFound);
            }
            Ok(((), worker_event(id, AuditAction::WorkerDelete)))
        })?;
        self.release_leases(&holder_of(id))?;
        self.jobs_queued();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestVault;

    #[test]
    fn a_token_opens_its_worker_until_revoked_or_deleted() {
        let t = TestVault::new();
        let (rec, token) = t.vault.enrol_worker("gpu-box-1").unwrap();
        assert_eq!(t.vault.authenticate_worker(&token).unwrap().id, rec.id);
        // The same id with another secret, a garbled token, an unknown id.
        let forged = format!("{TOKEN_PREFIX}{}_{}", rec.id, "A".repeat(43));
        for bad in [forged.as_str(), "svw_", "Bearer x", "svw_00_00"] {
            assert!(matches!(
                t.vault.authenticate_worker(bad),
                Err(VaultError::WorkerUnknown)
            ));
        }
        assert!(
            t.vault.enrol_worker("GPU-box-1").is_err(),
            "names are unique"
        );
        t.vault
            .set_worker_state(rec.id, WorkerState::Draining)
            .unwrap();
        assert!(
            t.vault.authenticate_worker(&token).is_ok(),
            "draining still calls"
        );
        t.vault
            .set_worker_state(rec.id, WorkerState::Revoked)
            .unwrap();
        assert!(matches!(
            t.vault.authenticate_worker(&token),
            Err(VaultError::WorkerRevoked)
        ));
        assert!(
            t.vault
                .set_worker_state(rec.id, WorkerState::Active)
                .is_err()
        );
        t.vault.delete_worker(rec.id).unwrap();
        assert!(matches!(
            t.vault.authenticate_worker(&token),
            Err(VaultError::WorkerUnknown)
        ));
    }

    #[test]
    fn holders_name_their_worker() {
        let id = WorkerId::random();
        assert_eq!(worker_of_holder(&holder_of(id)), Some(id));
        assert_eq!(worker_of_holder("local"), None);
    }
}

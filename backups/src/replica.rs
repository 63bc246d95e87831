//! Replication of sealed blobs to an S3 store (Backblaze B2's S3 API, or any other).
//!
//! Only ciphertext leaves: the worker uploads the encrypted files the store hands it, under
//! keys the server generated. Each upload sends a Content-MD5 per request (the server refuses
//! a body that does not match) and compares the ETags it gets back; large blobs go up in
//! parts, several at once. The queue lives in the store, so a restart or an unreachable server
//! only delays replication: failed tasks are retried with exponential backoff.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    timeout::TimeoutConfig,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use studiovault_api::admin::{ReplicaCheck, ReplicaFinding, ReplicaProblem, ReplicaVerifyReport};
use studiovault_vault::replication::{ReplicaOp, ReplicaTask, SealedBlobInfo};
use studiovault_vault::snapshot::CopyRecord;
use studiovault_vault::{Actor, Vault, VaultError};
use tokio::sync::watch;

use crate::{BackupError, blocking};

/// Where replicas go.
#[derive(Clone)]
pub struct ReplicaTarget {
    /// `https://s3.<region>.backblazeb2.com`, or `http://127.0.0.1:<port>` on loopback.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Prepended to every object key (may be empty).
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Blobs at least this large go up as multipart uploads.
    pub multipart_threshold: u64,
    pub part_size: u64,
    /// Parts (or blobs) in flight at once.
    pub concurrency: usize,
    /// The most one request may take, its body and the answer together
    /// ([`ReplicaTarget::attempt_timeout_for`]): a reply that never comes must not stop
    /// replication for good.
    pub attempt_timeout: Duration,
}

/// The slowest upload a request is given time for: 64 KiB/s.
const SLOWEST_BYTES_PER_SEC: u64 = 64 << 10;
/// No request is cut off sooner than this.
const SHORTEST_ATTEMPT: Duration = Duration::from_secs(120);

impl ReplicaTarget {
    /// Time for the largest body a request carries (a blob under the multipart threshold, or
    /// one part) at [`SLOWEST_BYTES_PER_SEC`], and at least [`SHORTEST_ATTEMPT`].
    pub fn attempt_timeout_for(multipart_threshold: u64, part_size: u64) -> Duration {
        let largest = multipart_threshold.max(part_size);
        SHORTEST_ATTEMPT.max(Duration::from_secs(largest / SLOWEST_BYTES_PER_SEC))
    }
}

impl std::fmt::Debug for ReplicaTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaTarget")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// An S3 client bound to one bucket.
#[derive(Debug, Clone)]
pub struct Replicator {
    client: Client,
    target: ReplicaTarget,
}

fn s3_error(context: &str, e: impl std::fmt::Display) -> BackupError {
    BackupError::S3(format!("{context}: {e}"))
}

fn s3_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    context: &str,
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> BackupError {
    s3_error(context, aws_sdk_s3::error::DisplayErrorContext(e))
}

fn etag_is(etag: Option<&str>, md5: &[u8]) -> bool {
    etag.is_some_and(|t| t.trim_matches('"').eq_ignore_ascii_case(&hex::encode(md5)))
}

impl Replicator {
    pub fn new(target: ReplicaTarget) -> Self {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(target.region.clone()))
            .endpoint_url(&target.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &target.access_key_id,
                &target.secret_access_key,
                None,
                None,
                "studiovault-config",
            ))
            // B2 refuses the SDK's default CRC32 checksum headers; Content-MD5 guards the bodies.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(target.attempt_timeout)
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(config),
            target,
        }
    }

    pub fn target(&self) -> &ReplicaTarget {
        &self.target
    }

    fn key(&self, object: &str) -> String {
        format!("{}{object}", self.target.prefix)
    }

    /// Uploads `len` bytes of `file` as `object`, recording `sha256` (of the same bytes) in
    /// its metadata, and checks what the server says it stored.
    pub async fn upload(
        &self,
        object: &str,
        file: std::fs::File,
        len: u64,
        sha256: &str,
    ) -> Result<(), BackupError> {
        let key = self.key(object);
        let started = std::time::Instant::now();
        let file = Arc::new(file);
        if len < self.target.multipart_threshold {
            let (body, md5) = read_part(file, 0, len as usize).await?;
            let out = self
                .client
                .put_object()
                .bucket(&self.target.bucket)
                .key(&key)
                .content_md5(base64::engine::general_purpose::STANDARD.encode(&md5))
                .content_length(len as i64)
                .metadata("sha256", sha256)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| s3_err("put", e))?;
            if !etag_is(out.e_tag(), &md5) {
                return Err(s3_error(
                    "put",
                    "the server's ETag does not match the MD5 sent",
                ));
            }
            return Ok(());
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.target.bucket)
            .key(&key)
            .metadata("sha256", sha256)
            .send()
            .await
            .map_err(|e| s3_err("create multipart upload", e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| s3_error("create multipart upload", "no upload id"))?
            .to_owned();
        let result = self.upload_parts(&key, &upload_id, file, len).await;
        match result {
            Ok(parts) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.target.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| s3_err("complete multipart upload", e))?;
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.target.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| s3_err("head after upload", e))?;
                if head.content_length() != Some(len as i64) {
                    return Err(s3_error("multipart upload", "stored size differs"));
                }
                tracing::info!(
                    parts = len.div_ceil(self.target.part_size.max(5 << 20)),
                    bytes = len,
                    ms = started.elapsed().as_millis() as u64,
                    "multipart upload complete"
                );
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.target.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        file: Arc<std::fs::File>,
        len: u64,
    ) -> Result<Vec<CompletedPart>, BackupError> {
        let part_size = self.target.part_size.max(5 << 20);
        let count = len.div_ceil(part_size);
        let uploads = futures_util::stream::iter(0..count).map(|i| {
            let file = file.clone();
            async move {
                let offset = i * part_size;
                let size = part_size.min(len - offset) as usize;
                let (body, md5) = read_part(file, offset, size).await?;
                let number = i as i32 + 1;
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.target.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_md5(base64::engine::general_purpose::STANDARD.encode(&md5))
                    .content_length(size as i64)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(|e| s3_err("upload part", e))?;
                if !etag_is(out.e_tag(), &md5) {
                    return Err(s3_error("upload part", "the server's ETag does not match"));
                }
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .build())
            }
        });
        let mut parts: Vec<CompletedPart> = uploads
            .buffer_unordered(self.target.concurrency.max(1))
            .collect::<Vec<Result<_, BackupError>>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        parts.sort_by_key(|p| p.part_number());
        Ok(parts)
    }

    /// Deletes the replica and every older version of it. A versioned bucket (every B2
    /// bucket is one) only hides an object deleted without a version id and keeps its data,
    /// readable with the tenant's key for as long as the bucket's lifecycle keeps versions;
    /// deleted must mean deleted there too.
    pub async fn delete(&self, object: &str) -> Result<(), BackupError> {
        let key = self.key(object);
        let versions = self.versions_of(&key).await?;
        if versions.is_empty() {
            self.client
                .delete_object()
                .bucket(&self.target.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| s3_err("delete", e))?;
        }
        for version in versions {
            self.client
                .delete_object()
                .bucket(&self.target.bucket)
                .key(&key)
                .version_id(version)
                .send()
                .await
                .map_err(|e| s3_err("delete a version", e))?;
        }
        Ok(())
    }

    /// The ids of `key`'s versions and delete markers when the bucket keeps versions (one
    /// written before versioning was turned on is "null" among them); none when it never did
    /// (its one version is "null").
    async fn versions_of(&self, key: &str) -> Result<Vec<String>, BackupError> {
        let mut ids = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let listed = self
                .client
                .list_object_versions()
                .bucket(&self.target.bucket)
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await;
            let page = match listed {
                Ok(page) => page,
                // A store that cannot list versions keeps none: the plain delete is all.
                Err(e)
                    if e.as_service_error().and_then(|e| e.meta().code())
                        == Some("NotImplemented") =>
                {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(s3_err("list versions", e)),
            };
            let versions = page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .filter_map(|v| v.version_id());
            let markers = page
                .delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key))
                .filter_map(|m| m.version_id());
            ids.extend(versions.chain(markers).map(str::to_owned));
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() && version_marker.is_none() {
                break;
            }
        }
        if ids.iter().all(|id| id == "null") {
            ids.clear();
        }
        Ok(ids)
    }

    /// Every replica under `blobs/`: object key (without the prefix) → size.
    pub async fn list(&self) -> Result<HashMap<String, u64>, BackupError> {
        let mut out = HashMap::new();
        let mut token: Option<String> = None;
        let prefix = self.key("blobs/");
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.target.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| s3_err("list", e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    let key = key.strip_prefix(&self.target.prefix).unwrap_or(key);
                    out.insert(key.to_owned(), object.size().unwrap_or(0).max(0) as u64);
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The SHA-256 recorded with a replica when it was uploaded: `None` when the object is not
    /// there (a 404), `Some(None)` when it carries no such record.
    pub async fn recorded_sha256(
        &self,
        object: &str,
    ) -> Result<Option<Option<String>>, BackupError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.target.bucket)
            .key(self.key(object))
            .send()
            .await;
        match head {
            Ok(head) => Ok(Some(head.metadata().and_then(|m| m.get("sha256").cloned()))),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(s3_err("head", e)),
        }
    }
}

async fn read_part(
    file: Arc<std::fs::File>,
    offset: u64,
    size: usize,
) -> Result<(bytes::Bytes, Vec<u8>), BackupError> {
    blocking(move || {
        let mut buf = vec![0u8; size];
        file.read_exact_at(&mut buf, offset)?;
        let md5 = Md5::digest(&buf).to_vec();
        Ok((bytes::Bytes::from(buf), md5))
    })
    .await
}

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s, ... up to five minutes.
fn backoff_ms(attempts: u32) -> i64 {
    1000i64.saturating_mul(1 << attempts.min(8)).min(300_000)
}

/// Carries out one queued task.
async fn replicate(
    vault: &Vault,
    replicator: &Replicator,
    task: &ReplicaTask,
) -> Result<(), BackupError> {
    match task.op {
        ReplicaOp::Upload => {
            let (v, t) = (vault.clone(), task.clone());
            let sealed = match blocking(move || Ok(v.replication().open_sealed(&t)?)).await {
                // Deleted meanwhile: its deletion is queued in its place.
                Err(BackupError::Vault(VaultError::NotFound)) => return Ok(()),
                other => other?,
            };
            replicator
                .upload(&task.object_key(), sealed.file, sealed.len, &sealed.sha256)
                .await
        }
        ReplicaOp::Delete => replicator.delete(&task.object_key()).await,
    }
}

/// The pause before the next batch after `passes` batches in a row whose results could not be
/// recorded (the disk below its free-space reserve, say): the tasks stay due, and without it
/// the worker sent the same batch again at once, over and over. 1 s, 2 s, 4 s, ... up to a
/// minute, so replication resumes soon after the store can be written again.
fn unrecorded_pause(passes: u32) -> Duration {
    let ms = backoff_ms(passes.saturating_sub(1)).min(60_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(60_000))
}

/// The replication worker: takes due tasks from the store's queue until `shutdown` turns true,
/// and when none is due checks the whole replica every `check_every`.
pub async fn run_worker(
    vault: Vault,
    replicator: Replicator,
    check_every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let replicator = Arc::new(replicator);
    let mut failing = false;
    let mut unrecorded_passes = 0u32;
    let v = vault.clone();
    let mut last_check: Option<ReplicaCheck> =
        blocking(move || Ok(v.copy_record(CopyRecord::LastReplicaCheck)?))
            .await
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str(&json).ok());
    loop {
        if *shutdown.borrow() {
            return;
        }
        let v = vault.clone();
        let batch = match blocking(move || Ok(v.replication().due(64)?)).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the replication queue");
                Vec::new()
            }
        };
        if batch.is_empty() && check_due(last_check.as_ref(), vault.now_ms(), check_every) {
            let check = tokio::select! {
                check = check_replica(&vault, &replicator) => check,
                _ = shutdown.changed() => return,
            };
            let (v, json) = (
                vault.clone(),
                serde_json::to_string(&check).unwrap_or_default(),
            );
            if let Err(e) =
                blocking(move || Ok(v.set_copy_record(CopyRecord::LastReplicaCheck, Some(&json))?))
                    .await
            {
                tracing::error!(error = %e, "cannot record the replica check");
            }
            last_check = Some(check);
            continue;
        }
        if batch.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let concurrency = replicator.target.concurrency.max(1);
        let results = futures_util::stream::iter(batch)
            .map(|task| {
                let (vault, replicator) = (vault.clone(), replicator.clone());
                async move {
                    let outcome = replicate(&vault, &replicator, &task).await;
                    (task, outcome)
                }
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut unrecorded = None;
        for (task, outcome) in results {
            let v = vault.clone();
            let recorded = match outcome {
                Ok(()) => {
                    if failing || task.attempts > 0 {
                        tracing::info!("replication recovered");
                        failing = false;
                    }
                    blocking(move || Ok(v.replication().complete(&task)?)).await
                }
                Err(e) => {
                    if !failing || task.attempts == 0 {
                        tracing::warn!(error = %e, attempts = task.attempts + 1, "replication failed; will retry");
                    }
                    failing = true;
                    let message = e.to_string();
                    let delay = backoff_ms(task.attempts);
                    blocking(move || Ok(v.replication().failed(&task, &message, delay)?)).await
                }
            };
            if let Err(e) = recorded {
                unrecorded = Some(e);
            }
        }
        match unrecorded {
            Some(e) => {
                unrecorded_passes = unrecorded_passes.saturating_add(1);
                let pause = unrecorded_pause(unrecorded_passes);
                tracing::error!(error = %e, pause_s = pause.as_secs(), "cannot update the replication queue; pausing");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
            }
            None if unrecorded_passes > 0 => {
                tracing::info!("the replication queue can be updated again");
                unrecorded_passes = 0;
            }
            None => {}
        }
    }
}

/// Lists every blob whose replica is missing or differs from the committed file (size, or the
/// SHA-256 recorded with it); blobs still waiting in the queue are listed as pending. With
/// `repair`, the upload of each such blob is queued again, recorded as `actor`'s
/// `replica.requeue`.
pub async fn verify(
    vault: &Vault,
    replicator: &Replicator,
    repair: Option<Actor>,
) -> Result<ReplicaVerifyReport, BackupError> {
    let v = vault.clone();
    let (blobs, queue) =
        blocking(move || Ok((v.replication().sealed_blobs()?, v.replication().all()?))).await?;
    let pending: HashMap<String, ReplicaOp> =
        queue.iter().map(|t| (t.object_key(), t.op)).collect();
    let remote = replicator.list().await?;
    let mut report = ReplicaVerifyReport {
        blobs: blobs.len() as u64,
        replicas_ok: 0,
        findings: Vec::new(),
        requeued: 0,
    };
    let mut faulty = Vec::new();
    let mut fault = |report: &mut ReplicaVerifyReport, blob: SealedBlobInfo, problem, detail| {
        faulty.push(blob.blob);
        report.findings.push(ReplicaFinding {
            key: blob.key,
            problem,
            detail,
        });
    };
    let mut to_hash = Vec::new();
    for blob in blobs {
        let queued = pending.get(&blob.key) == Some(&ReplicaOp::Upload);
        match remote.get(&blob.key) {
            _ if queued => report.findings.push(ReplicaFinding {
                key: blob.key,
                problem: ReplicaProblem::Pending,
                detail: "queued for upload".into(),
            }),
            None => fault(
                &mut report,
                blob,
                ReplicaProblem::Missing,
                "no replica".into(),
            ),
            Some(&size) if size != blob.sealed_len => {
                let detail = format!("replica has {size} bytes, the blob {}", blob.sealed_len);
                fault(&mut report, blob, ReplicaProblem::Differs, detail)
            }
            Some(_) => to_hash.push(blob),
        }
    }
    let checked = futures_util::stream::iter(to_hash)
        .map(|blob| async move {
            let recorded = replicator.recorded_sha256(&blob.key).await;
            (blob, recorded)
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for (blob, recorded) in checked {
        match recorded {
            Ok(Some(Some(hash))) if hash == blob.sealed_sha256 => report.replicas_ok += 1,
            Ok(Some(Some(_))) => fault(
                &mut report,
                blob,
                ReplicaProblem::Differs,
                "replica's recorded SHA-256 differs".into(),
            ),
            Ok(Some(None)) => fault(
                &mut report,
                blob,
                ReplicaProblem::Differs,
                "replica has no recorded SHA-256".into(),
            ),
            Ok(None) => fault(
                &mut report,
                blob,
                ReplicaProblem::Missing,
                "listed, then gone".into(),
            ),
            // The store did not answer for this one: unchecked, and not queued again.
            Err(e) => report.findings.push(ReplicaFinding {
                key: blob.key,
                problem: ReplicaProblem::Unchecked,
                detail: e.to_string(),
            }),
        }
    }
    report.findings.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(actor) = repair
        && !faulty.is_empty()
    {
        let v = vault.clone();
        report.requeued =
            blocking(move || Ok(v.replication().requeue_uploads(&faulty, actor)?)).await?;
    }
    Ok(report)
}

/// The worker's periodic check of the whole replica: [`verify`] with repair by the system, its
/// outcome kept for the status API. A replica found short is logged as a warning: something
/// outside the appliance lost or changed what it had acknowledged.
async fn check_replica(vault: &Vault, replicator: &Replicator) -> ReplicaCheck {
    let at_ms = vault.now_ms();
    let check = match verify(vault, replicator, Some(Actor::System)).await {
        Ok(report) => ReplicaCheck {
            at_ms,
            blobs: report.blobs,
            replicas_ok: report.replicas_ok,
            requeued: report.requeued,
            error: None,
        },
        Err(e) => ReplicaCheck {
            at_ms,
            error: Some(e.to_string()),
            ..ReplicaCheck::default()
        },
    };
    match (&check.error, check.requeued) {
        (Some(error), _) => tracing::warn!(%error, "the replica could not be checked; will retry"),
        (None, 0) => tracing::info!(
            blobs = check.blobs,
            intact = check.replicas_ok,
            "replica checked: nothing to queue again"
        ),
        (None, requeued) => tracing::warn!(
            blobs = check.blobs,
            requeued,
            "replica checked: blobs missing or different there were queued for upload again"
        ),
    }
    check
}

/// A check that could not be made (the store down, say) is tried again this soon: a failed one
/// marks the status line failing, which must not outlast the outage by long.
const CHECK_RETRY_MS: i64 = 5 * 60_000;

/// Whether the periodic check is due: `every` after the last one, or five minutes after one that
/// could not be made.
fn check_due(last: Option<&ReplicaCheck>, now_ms: i64, every: Duration) -> bool {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    match last {
        None => true,
        Some(c) if c.error.is_some() => now_ms - c.at_ms >= every_ms.min(CHECK_RETRY_MS),
        Some(c) => now_ms - c.at_ms >= every_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replica_is_checked_weekly_and_soon_again_after_a_check_that_failed() {
        let week = Duration::from_secs(7 * 86_400);
        let (minute, day) = (60_000, 86_400_000);
        let now = 1_800_000_000_000;
        let check = |ago: i64, error: Option<&str>| ReplicaCheck {
            at_ms: now - ago,
            error: error.map(str::to_owned),
            ..ReplicaCheck::default()
        };
        assert!(check_due(None, now, week));
        assert!(!check_due(Some(&check(6 * day, None)), now, week));
        assert!(check_due(Some(&check(7 * day, None)), now, week));
        assert!(!check_due(Some(&check(minute, Some("refused"))), now, week));
        assert!(check_due(
            Some(&check(5 * minute, Some("refused"))),
            now,
            week
        ));
        // An interval shorter than the retry is kept either way.
        let second = Duration::from_secs(1);
        assert!(check_due(Some(&check(1_000, Some("refused"))), now, second));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(3), 8000);
        assert_eq!(backoff_ms(30), 256_000);
    }

    #[test]
    fn a_pass_that_cannot_record_its_results_pauses_the_worker_for_longer_each_time() {
        let pauses: Vec<u64> = (1..=8).map(|n| unrecorded_pause(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_the_request_instead_of_hanging() {
        // Reads every request and answers none: a half-open connection, a hung front end.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                held.push(tokio::spawn(async move {
                    let mut sink = [0u8; 4096];
                    while tokio::io::AsyncReadExt::read(&mut socket, &mut sink)
                        .await
                        .is_ok_and(|n| n > 0)
                    {}
                }));
            }
        });
        let replicator = Replicator::new(ReplicaTarget {
            endpoint,
            region: "us-east-1".into(),
            bucket: "vault".into(),
            prefix: String::new(),
            access_key_id: "id".into(),
            secret_access_key: "secret".into(),
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            concurrency: 1,
            attempt_timeout: Duration::from_millis(300),
        });
        let answer = tokio::time::timeout(Duration::from_secs(30), replicator.delete("blobs/x"))
            .await
            .expect("the request hung");
        assert!(answer.is_err());
        // Nor is a store that does not answer taken to have lost the object.
        let head = tokio::time::timeout(
            Duration::from_secs(30),
            replicator.recorded_sha256("blobs/x"),
        )
        .await
        .expect("the request hung");
        assert!(head.is_err(), "{head:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deleted_replica_leaves_no_version_behind_in_a_versioned_bucket() {
        use studiovault_e2e::s3::{ACCESS_KEY_ID, S3Server, SECRET_ACCESS_KEY};
        let s3 = S3Server::start();
        let replicator = |bucket: &str| {
            Replicator::new(ReplicaTarget {
                endpoint: s3.endpoint(),
                region: "us-east-1".into(),
                bucket: bucket.into(),
                prefix: String::new(),
                access_key_id: ACCESS_KEY_ID.into(),
                secret_access_key: SECRET_ACCESS_KEY.into(),
                multipart_threshold: 16 << 20,
                part_size: 8 << 20,
                concurrency: 1,
                attempt_timeout: Duration::from_secs(30),
            })
        };
        let versions = |r: &Replicator, key: &'static str| {
            let (client, bucket) = (r.client.clone(), r.target.bucket.clone());
            async move {
                let page = client
                    .list_object_versions()
                    .bucket(bucket)
                    .prefix(key)
                    .send()
                    .await
                    .unwrap();
                page.versions().len() + page.delete_markers().len()
            }
        };
        let put = |r: &Replicator, key: &'static str, body: &'static [u8]| {
            let (client, bucket) = (r.client.clone(), r.target.bucket.clone());
            async move {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from_static(body))
                    .send()
                    .await
                    .unwrap();
            }
        };

        // B2's way: every bucket keeps versions. A blob written twice (a retried upload),
        // then deleted, keeps nothing, not even a delete marker.
        let versioned = replicator("replica");
        versioned
            .client
            .put_bucket_versioning()
            .bucket("replica")
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        put(&versioned, "blobs/o/b1", b"sealed once").await;
        put(&versioned, "blobs/o/b1", b"sealed twice").await;
        put(&versioned, "blobs/o/b10", b"another blob").await;
        assert_eq!(versions(&versioned, "blobs/o/b1").await, 3);
        versioned.delete("blobs/o/b1").await.unwrap();
        assert_eq!(
            versions(&versioned, "blobs/o/b1").await,
            1,
            "only b10 is left"
        );
        assert_eq!(versions(&versioned, "blobs/o/b10").await, 1);

        // A bucket that keeps no versions: the plain delete.
        let plain = replicator("restic");
        put(&plain, "blobs/o/b2", b"sealed").await;
        // Written without our record, then gone: `verify` tells "differs" from "missing" by
        // the store's own answers.
        assert_eq!(
            plain.recorded_sha256("blobs/o/b2").await.unwrap(),
            Some(None)
        );
        plain.delete("blobs/o/b2").await.unwrap();
        assert_eq!(versions(&plain, "blobs/o/b2").await, 0);
        assert_eq!(plain.recorded_sha256("blobs/o/b2").await.unwrap(), None);
    }

    #[test]
    fn attempts_get_time_for_their_largest_body() {
        let default = ReplicaTarget::attempt_timeout_for(16 << 20, 8 << 20);
        assert_eq!(default, Duration::from_secs(256));
        assert_eq!(
            ReplicaTarget::attempt_timeout_for(1 << 20, 5 << 20),
            SHORTEST_ATTEMPT
        );
    }

    #[test]
    fn etags_compare_without_quotes_or_case() {
        let md5 = Md5::digest(b"abc").to_vec();
        assert!(etag_is(Some("\"900150983CD24FB0D6963F7D28E17F72\""), &md5));
        assert!(!etag_is(Some("\"00\""), &md5));
        assert!(!etag_is(None, &md5));
    }
}

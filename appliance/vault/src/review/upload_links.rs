//! Upload links: an owner hands a client a link through which the client sends audio into a
//! folder of the owner's library, within the link's expiry, file count and size caps (and the
//! owner's quota), behind an optional password. Files go through the same checks and commit
//! as the owner's own uploads ([`Library::commit_new_track`]); the audit record names the link
//! as the actor, and the link's counters move in the same transaction.
//!
//! The link's token is its id plus an HMAC tag under the appliance's link key (as a share
//! link's is), so it can be shown again without being stored.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::notifications::{NotificationDraft, NotificationKind, notify};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::blob::{BlobWriter, SealedBlob};
use crate::error::{Result, VaultError};
use crate::ids::{TrackId, UploadLinkId, UserId};
use crate::library::{Placement, TrackInfo, TrackRecord, clean_text};
use crate::records::{get_user, read_tenant_key};
use crate::scope::OwnerScope;
use crate::shares::{b64, tag};
use crate::store::{UPLOAD_LINKS, USERS, decode, encode};
use crate::users::{audit_failure, link_password_hash, password_matches};
use crate::{ClientInfo, Vault};

const MAX_NAME_CHARS: usize = 100;
const DEFAULT_DAYS: i64 = 7;
const DEFAULT_MAX_FILES: u32 = 20;
const MAX_MAX_FILES: u32 = 500;
const DEFAULT_MAX_BYTES: u64 = 5 << 30;
const MS_PER_DAY: i64 = 86_400_000;

#[derive(Clone, Serialize, Deserialize)]
pub struct UploadLinkRecord {
    pub id: UploadLinkId,
    pub owner: UserId,
    pub name: String,
    pub folder: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub max_files: u32,
    pub max_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_hash: Option<String>,
    pub files_received: u32,
    pub bytes_received: u64,
    pub tracks: Vec<TrackId>,
    pub revoked_at_ms: Option<i64>,
}

impl std::fmt::Debug for UploadLinkRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadLinkRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("files_received", &self.files_received)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .finish_non_exhaustive()
    }
}

impl UploadLinkRecord {
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// `active`, `expired`, `full` or `revoked`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at_ms.is_some() {
            "revoked"
        } else if now >= self.expires_at_ms {
            "expired"
        } else if self.files_received >= self.max_files || self.bytes_received >= self.max_bytes {
            "full"
        } else {
            "active"
        }
    }

    pub fn files_left(&self) -> u32 {
        self.max_files.saturating_sub(self.files_received)
    }

    pub fn bytes_left(&self) -> u64 {
        self.max_bytes.saturating_sub(self.bytes_received)
    }
}

/// What an upload link still takes, all files together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRoom {
    pub files: u32,
    pub bytes: u64,
}

/// What an owner asks for.
#[derive(Debug, Clone, Default)]
pub struct NewUploadLink {
    pub name: String,
    pub folder: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub max_files: Option<u32>,
    pub max_bytes: Option<u64>,
    pub password: Option<String>,
}

fn read_link(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    owner: UserId,
    id: UploadLinkId,
) -> Result<UploadLinkRecord> {
    let row = table
        .get((owner.raw(), id.raw()))?
        .ok_or(VaultError::NotFound)?;
    decode("upload_links", row.value())
}

fn put_link(txn: &WriteTransaction, link: &UploadLinkRecord) -> Result<()> {
    txn.open_table(UPLOAD_LINKS)?
        .insert((link.owner.raw(), link.id.raw()), encode(link).as_slice())?;
    Ok(())
}

/// The owner's handle on their upload links.
#[derive(Debug)]
pub struct UploadLinks<'a> {
    vault: &'a Vault,
    owner: UserId,
}

impl Vault {
    pub fn upload_links<'a>(&'a self, scope: &OwnerScope) -> UploadLinks<'a> {
        UploadLinks {
            vault: self,
            owner: scope.owner(),
        }
    }

    /// The link's token: the owner's id, the link's id and a 128-bit tag.
    pub fn upload_link_token(&self, owner: UserId, id: UploadLinkId) -> String {
        let t = tag(
            &self.link_key(),
            &[b"upload", &owner.to_bytes(), &id.to_bytes()],
        );
        let mut raw = owner.to_bytes().to_vec();
        raw.extend_from_slice(&id.to_bytes());
        raw.extend_from_slice(&t[..16]);
        base64::Engine::encode(&b64(), raw)
    }

    /// Checks a token and the link's state; `NotFound` for a malformed, forged, unknown,
    /// revoked or expired link alike, and for one whose owner is no longer active.
    pub fn open_upload_link(&self, token: &str) -> Result<UploadGrant> {
        let raw = base64::Engine::decode(&b64(), token.as_bytes()).unwrap_or_default();
        if raw.len() != 48 {
            return Err(VaultError::NotFound);
        }
        let owner_bytes: [u8; 16] = raw[..16].try_into().map_err(|_| VaultError::NotFound)?;
        let id_bytes: [u8; 16] = raw[16..32].try_into().map_err(|_| VaultError::NotFound)?;
        let expected = tag(&self.link_key(), &[b"upload", &owner_bytes, &id_bytes]);
        if !bool::from(expected[..16].ct_eq(&raw[32..])) {
            return Err(VaultError::NotFound);
        }
        let grant = UploadGrant {
            owner: UserId::from_raw(u128::from_be_bytes(owner_bytes)),
            link: UploadLinkId::from_raw(u128::from_be_bytes(id_bytes)),
        };
        grant.live(self)?;
        Ok(grant)
    }
}

impl UploadLinks<'_> {
    /// Every link of the owner with its token, newest first.
    pub fn list(&self) -> Result<Vec<(UploadLinkRecord, String)>> {
        let txn = self.vault.db().begin_read()?;
        let mut all: Vec<UploadLinkRecord> =
            super::rows_of(&txn.open_table(UPLOAD_LINKS)?, "upload_links", self.owner)?;
        all.sort_by_key(|l| std::cmp::Reverse(l.created_at_ms));
        Ok(all
            .into_iter()
            .map(|l| {
                let token = self.vault.upload_link_token(self.owner, l.id);
                (l, token)
            })
            .collect())
    }

    pub fn create(
        &self,
        new: NewUploadLink,
        client: &ClientInfo,
    ) -> Result<(UploadLinkRecord, String)> {
        let name = clean_text(&new.name, MAX_NAME_CHARS);
        if name.is_empty() {
            return Err(VaultError::invalid("name", "must not be empty"));
        }
        let folder = new
            .folder
            .as_deref()
            .map(|f| clean_text(f, MAX_NAME_CHARS))
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| format!("From {name}"));
        let max_files = new.max_files.unwrap_or(DEFAULT_MAX_FILES);
        if !(1..=MAX_MAX_FILES).contains(&max_files) {
            return Err(VaultError::invalid(
                "max_files",
                format!("must be 1 to {MAX_MAX_FILES}"),
            ));
        }
        let max_bytes = new.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        if max_bytes == 0 {
            return Err(VaultError::invalid("max_bytes", "must be at least 1"));
        }
        let now = self.vault.now_ms();
        let longest = self.vault.policy().shares.max_expiry_days;
        let expires_at_ms = match new.expires_at_ms {
            None => now + DEFAULT_DAYS * MS_PER_DAY,
            Some(at) if at <= now => {
                return Err(VaultError::invalid("expires_at", "is in the past"));
            }
            Some(at) if at > now + longest * MS_PER_DAY => {
                return Err(VaultError::invalid(
                    "expires_at",
                    format!("is beyond this appliance's limit of {longest} days"),
                ));
            }
            Some(at) => at,
        };
        let password_hash = link_password_hash(self.vault, new.password.as_deref())?;
        let link = UploadLinkRecord {
            id: UploadLinkId::random(),
            owner: self.owner,
            name,
            folder,
            created_at_ms: now,
            expires_at_ms,
            max_files,
            max_bytes,
            password_hash,
            files_received: 0,
            bytes_received: 0,
            tracks: Vec::new(),
            revoked_at_ms: None,
        };
        self.vault.audited(Some(client), |txn, _| {
            let user =
                get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
            if !user.is_active() {
                return Err(VaultError::AccountInactive("no longer active"));
            }
            put_link(txn, &link)?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::UploadLinkCreate)
                .object(format!("upload_link/{}", link.id))
                .detail(format!(
                    "{} files {} bytes until {}",
                    link.max_files, link.max_bytes, link.expires_at_ms
                ));
            Ok(((), event))
        })?;
        let token = self.vault.upload_link_token(self.owner, link.id);
        Ok((link, token))
    }

    pub fn revoke(&self, id: UploadLinkId, client: &ClientInfo) -> Result<UploadLinkRecord> {
        self.vault.audited(Some(client), |txn, now| {
            let mut link = read_link(&txn.open_table(UPLOAD_LINKS)?, self.owner, id)?;
            link.revoked_at_ms.get_or_insert(now);
            put_link(txn, &link)?;
            let event = AuditEvent::by_owner(self.owner, AuditAction::UploadLinkRevoke)
                .object(format!("upload_link/{id}"));
            Ok((link, event))
        })
    }
}

/// Proof that a request comes through a live upload link. Built only by
/// [`Vault::open_upload_link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    owner: UserId,
    link: UploadLinkId,
}

impl UploadGrant {
    pub fn link(&self) -> UploadLinkId {
        self.link
    }

    /// The link, if it is live: not revoked, not expired, its owner active. A full link is
    /// live (its page says it is full).
    pub fn live(&self, vault: &Vault) -> Result<UploadLinkRecord> {
        let txn = vault.db().begin_read()?;
        let link = read_link(&txn.open_table(UPLOAD_LINKS)?, self.owner, self.link)?;
        let owner_active =
            get_user(&txn.open_table(USERS)?, self.owner)?.is_some_and(|u| u.is_active());
        let status = link.status(vault.now_ms());
        if !owner_active || status == "revoked" || status == "expired" {
            return Err(VaultError::NotFound);
        }
        Ok(link)
    }

    /// The name the owner is shown by on the link's page.
    pub fn owner_name(&self, vault: &Vault) -> Result<String> {
        let txn = vault.db().begin_read()?;
        let user = get_user(&txn.open_table(USERS)?, self.owner)?.ok_or(VaultError::NotFound)?;
        Ok(user.display_name.unwrap_or_else(|| "the studio".into()))
    }

    /// Checks the link's password (none needed when it has none). A wrong one is audited for
    /// the owner to see.
    pub fn check_password(
        &self,
        vault: &Vault,
        password: Option<&str>,
        client: &ClientInfo,
    ) -> Result<()> {
        let link = self.live(vault)?;
        let Some(hash) = &link.password_hash else {
            return Ok(());
        };
        if password.is_some_and(|p| password_matches(p, hash)) {
            return Ok(());
        }
        audit_failure(
            vault,
            client,
            AuditEvent::new(
                Actor::UploadLink(self.link),
                Some(self.owner),
                AuditAction::UploadLinkUnlockFailed,
            )
            .object(format!("upload_link/{}", self.link)),
        );
        Err(VaultError::BadCredentials)
    }

    /// What the link still takes: its files left, and its bytes left within the owner's quota
    /// left. `LimitReached` when it takes nothing more.
    pub fn room(&self, vault: &Vault) -> Result<LinkRoom> {
        let link = self.live(vault)?;
        if link.files_left() == 0 || link.bytes_left() == 0 {
            return Err(VaultError::LimitReached("files"));
        }
        let quota_left = vault
            .library(&OwnerScope::new(self.owner))
            .remaining_quota()?;
        Ok(LinkRoom {
            files: link.files_left(),
            bytes: link.bytes_left().min(quota_left),
        })
    }

    /// An encrypting writer for one file, under the owner's key, in the temp directory.
    pub fn begin_upload(&self, vault: &Vault) -> Result<BlobWriter> {
        self.live(vault)?;
        let blob = crate::ids::BlobId::random();
        let key = read_tenant_key(vault, self.owner)?;
        BlobWriter::create(&vault.tmp_dir(), self.owner, blob, key.blob_key(blob))
    }

    /// Commits a received file into the link's folder, counting it against the link in the
    /// same transaction (the caps are checked again there), audited with the link as actor;
    /// the owner is notified.
    pub fn commit_upload(
        &self,
        vault: &Vault,
        sealed: SealedBlob,
        info: TrackInfo,
        client: &ClientInfo,
    ) -> Result<(TrackRecord, UploadLinkRecord)> {
        let link = self.live(vault)?;
        let scope = OwnerScope::new(self.owner);
        let mut after = None;
        let placement = Placement {
            version_of: None,
            folder: Some(link.folder.clone()),
        };
        let rec = vault.library(&scope).commit_new_track(
            sealed,
            info,
            placement,
            client,
            |txn, rec| {
                let mut link = read_link(&txn.open_table(UPLOAD_LINKS)?, self.owner, self.link)?;
                let status = link.status(vault.now_ms());
                if status != "active" {
                    return Err(if status == "full" {
                        VaultError::LimitReached("files")
                    } else {
                        VaultError::NotFound
                    });
                }
                if rec.size_bytes > link.bytes_left() {
                    return Err(VaultError::LimitReached("bytes"));
                }
                link.files_received += 1;
                link.bytes_received += rec.size_bytes;
                link.tracks.push(rec.id);
                put_link(txn, &link)?;
                notify(
                    txn,
                    self.owner,
                    NotificationDraft {
                        kind: NotificationKind::Uploaded,
                        summary: format!(
                            "{} sent {} through an upload link (folder {})",
                            link.name, rec.info.name, link.folder
                        ),
                        share: None,
                        track: Some(rec.id),
                        comment: None,
                    },
                    rec.created_at_ms,
                )?;
                let event = AuditEvent::new(
                    Actor::UploadLink(self.link),
                    Some(self.owner),
                    AuditAction::UploadLinkReceive,
                )
                .object(format!("track/{}", rec.id))
                .detail(format!(
                    "blob {} {} bytes sha256 {}",
                    rec.blob, rec.size_bytes, rec.sha256
                ));
                after = Some(link);
                Ok(event)
            },
        )?;
        let link = after.ok_or(VaultError::NotFound)?;
        Ok((rec, link))
    }
}

//! Key hierarchy (invariant 3).
//!
//! ```text
//! master key (file, 0600)
//!  ├─ HKDF "key-wrap"          → AES-256-GCM wrapping each tenant's data key
//!  ├─ HKDF "audit-checkpoint"  → ed25519 key signing audit checkpoints
//!  ├─ HKDF "watermark"         → the key of every forensic watermark this appliance makes
//!  └─ HKDF "share links"       → HMAC key of share links, unlock cookies and media URLs
//! tenant data key (random, stored wrapped)
//!  ├─ HKDF "blob" ‖ blob id    → AES-256-GCM key of that one blob
//!  └─ HKDF "secrets"           → AES-256-GCM for the tenant's TOTP secret
//! ```
//!
//! A key per blob lets chunk nonces be plain counters without any risk of reuse. Destroying a
//! tenant's wrapped key makes every copy of that tenant's blobs unreadable.

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use hkdf::Hkdf;
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Result, VaultError};
use crate::fsutil;
use crate::ids::{BlobId, UserId};

const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

fn derive(ikm: &[u8; 32], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(None, ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expansion cannot fail.
    let _ = hk.expand_multi_info(info, out.as_mut());
    out
}

fn random_key() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

/// AES-256-GCM. ring's implementation (AES-NI/VAES and CLMUL assembly) runs at about 9 GB/s
/// on the reference machine, six times the pure-Rust `aes-gcm` crate, which makes decryption
/// no longer the bottleneck of playback (docs/BENCHMARKS.md).
#[derive(Clone)]
pub(crate) struct Cipher(Arc<LessSafeKey>);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is exactly what AES-256 takes; `new` fails only on other lengths.
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .unwrap_or_else(|_| unreachable!("AES-256 key of 32 bytes"));
        Self(Arc::new(LessSafeKey::new(unbound)))
    }

    /// Encrypts `buf` in place and answers the tag. The caller guarantees `nonce` is never
    /// reused with this key.
    pub(crate) fn seal_in_place(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .ok()?;
        tag.as_ref().try_into().ok()
    }

    /// Authenticates and decrypts `ciphertext ‖ tag` in place; answers the plaintext length.
    pub(crate) fn open_in_place(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .ok()
            .map(|p| p.len())
    }
}

/// `nonce ‖ ciphertext ‖ tag` under a random nonce: for the few, small values sealed per key.
fn seal(cipher: &Cipher, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    out.extend_from_slice(plaintext);
    let tag = cipher
        .seal_in_place(nonce, aad, &mut out[NONCE_LEN..])
        .ok_or_else(|| VaultError::MasterKey("encryption failed".into()))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn open(cipher: &Cipher, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let nonce: [u8; NONCE_LEN] = sealed.get(..NONCE_LEN)?.try_into().ok()?;
    let mut buf = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
    let len = cipher.open_in_place(nonce, aad, &mut buf)?;
    buf.truncate(len);
    Some(buf)
}

/// The appliance master key. Only ever held in memory while the server runs.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Reads the key file (64 hex digits), or creates it with mode 0600 when absent.
    /// Refuses a key file that other users can read.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if fsutil::is_shared(path)? {
                    return Err(VaultError::MasterKey(format!(
                        "{} is readable by other users; run `chmod 600` on it",
                        path.display()
                    )));
                }
                Self::from_hex(text.trim()).map(|k| (k, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key();
                let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_ref())));
                fsutil::write_private_file(path, text.as_bytes())?;
                Ok((Self(key), true))
            }
            Err(e) => Err(VaultError::MasterKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn from_hex(text: &str) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, key.as_mut()).map_err(|_| {
            VaultError::MasterKey("the key file must hold exactly 64 hex digits".into())
        })?;
        Ok(Self(key))
    }

    fn wrapping_cipher(&self) -> Cipher {
        Cipher::new(&derive(&self.0, &[b"studiovault key-wrap v1"]))
    }

    pub(crate) fn wrap(&self, owner: UserId, key: &TenantKey) -> Result<Vec<u8>> {
        seal(&self.wrapping_cipher(), &wrap_aad(owner), key.0.as_ref())
    }

    pub(crate) fn unwrap(&self, owner: UserId, wrapped: &[u8]) -> Result<TenantKey> {
        let plain = open(&self.wrapping_cipher(), &wrap_aad(owner), wrapped).ok_or_else(|| {
            VaultError::MasterKey(format!(
                "the data key of tenant {owner} does not open with this master key"
            ))
        })?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| {
            VaultError::MasterKey(format!("the data key of tenant {owner} has a bad length"))
        })?;
        Ok(TenantKey(Zeroizing::new(bytes)))
    }

    /// A value only this key can open, kept in the store to recognise a wrong key at start-up.
    pub(crate) fn check_value(&self) -> Result<Vec<u8>> {
        seal(&self.wrapping_cipher(), KEY_CHECK_AAD, KEY_CHECK_AAD)
    }

    pub(crate) fn opens_check_value(&self, sealed: &[u8]) -> bool {
        open(&self.wrapping_cipher(), KEY_CHECK_AAD, sealed)
            .is_some_and(|p| p.as_slice() == KEY_CHECK_AAD)
    }

    /// The appliance's watermark key: marks made with it can be read back only with it.
    pub fn watermark_key(&self) -> Zeroizing<[u8; 32]> {
        derive(&self.0, &[b"studiovault watermark v1"])
    }

    /// A short name of this key that reveals nothing of it (a derivation of its own), for
    /// records that must say which key they are about without holding it: 16 hex digits.
    pub fn fingerprint(&self) -> String {
        hex::encode(&derive(&self.0, &[b"studiovault key fingerprint v1"])[..8])
    }

    /// The key that signs share links, unlock cookies and media URLs.
    pub(crate) fn share_link_key(&self) -> Zeroizing<[u8; 32]> {
        derive(&self.0, &[b"studiovault share links v1"])
    }

    /// Reads an existing key file; never creates one.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(VaultError::MasterKey(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Self::load_or_create(path).map(|(key, _)| key)
    }

    pub(crate) fn audit_signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&derive(&self.0, &[b"studiovault audit-checkpoint v1"]))
    }
}

const KEY_CHECK_AAD: &[u8] = b"studiovault master-key check v1";

fn wrap_aad(owner: UserId) -> Vec<u8> {
    let mut aad = b"studiovault tenant-key v1".to_vec();
    aad.extend_from_slice(&owner.to_bytes());
    aad
}

/// One tenant's data key.
pub(crate) struct TenantKey(Zeroizing<[u8; 32]>);

impl TenantKey {
    pub(crate) fn generate() -> Self {
        Self(random_key())
    }

    pub(crate) fn blob_key(&self, blob: BlobId) -> Zeroizing<[u8; 32]> {
        derive(&self.0, &[b"studiovault blob v1", &blob.to_bytes()])
    }

    pub(crate) fn blob_cipher(&self, blob: BlobId) -> Cipher {
        Cipher::new(&self.blob_key(blob))
    }

    fn secrets_cipher(&self) -> Cipher {
        Cipher::new(&derive(&self.0, &[b"studiovault secrets v1"]))
    }

    pub(crate) fn seal_secret(&self, purpose: &[u8], secret: &[u8]) -> Result<Vec<u8>> {
        seal(&self.secrets_cipher(), purpose, secret)
    }

    pub(crate) fn open_secret(&self, purpose: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open(&self.secrets_cipher(), purpose, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_unwrap_only_for_their_owner_and_master() {
        let master = MasterKey(random_key());
        let other = MasterKey(random_key());
        let (alice, bob) = (UserId::random(), UserId::random());
        let key = TenantKey::generate();
        let wrapped = master.wrap(alice, &key).unwrap();
        assert_eq!(
            master.unwrap(alice, &wrapped).unwrap().0.as_ref(),
            key.0.as_ref()
        );
        assert!(master.unwrap(bob, &wrapped).is_err());
        assert!(other.unwrap(alice, &wrapped).is_err());
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert!(master.unwrap(alice, &flipped).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (created, was_new) = MasterKey::load_or_create(&path).unwrap();
        assert!(was_new);
        assert!(!fsutil::is_shared(&path).unwrap());
        let (loaded, was_new) = MasterKey::load_or_create(&path).unwrap();
        assert!(!was_new);
        assert_eq!(created.0.as_ref(), loaded.0.as_ref());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(MasterKey::load_or_create(&path).is_err());
    }

    #[test]
    fn fingerprints_name_a_key_without_showing_it() {
        let key = MasterKey(random_key());
        let print = key.fingerprint();
        assert_eq!(print.len(), 16);
        assert_eq!(print, key.fingerprint());
        assert_ne!(print, MasterKey(random_key()).fingerprint());
        assert!(!hex::encode(key.0.as_ref()).contains(&print));
    }
}

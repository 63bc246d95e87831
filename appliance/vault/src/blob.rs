//! The encrypted blob format (invariant 3).
//!
//! ```text
//! header (32 bytes): "SVB1" | version u8 = 1 | 3 zero bytes | chunk size u32 BE | blob id (16) | 4 zero bytes
//! chunk i:           AES-256-GCM(blob key, nonce = 0u32 ‖ i u64 BE,
//!                                aad = "SVB1" ‖ blob id ‖ i u64 BE ‖ last u8) ‖ tag (16)
//! ```
//!
//! Every chunk holds [`CHUNK_SIZE`] plaintext bytes except the last, which holds the rest (an
//! empty blob is one empty last chunk). The index and last-chunk flag in the AAD make reordering,
//! dropping and truncating chunks fail authentication, and the blob id makes chunks from another
//! blob fail; so a Range read decrypts only the chunks it serves and still trusts them.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, VaultError};
use crate::fsutil;
use crate::ids::{BlobId, UserId};
use crate::keys::{Cipher, TAG_LEN};

pub const CHUNK_SIZE: usize = 64 * 1024;
const HEADER_LEN: u64 = 32;
const MAGIC: &[u8; 4] = b"SVB1";
const VERSION: u8 = 1;

/// Size on disk of a blob holding `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    HEADER_LEN + chunk_count(plaintext_len) * TAG_LEN as u64 + plaintext_len
}

fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK_SIZE as u64).max(1)
}

fn header(blob: BlobId) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[8..12].copy_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    h[12..28].copy_from_slice(&blob.to_bytes());
    h
}

fn nonce(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

fn aad(blob: BlobId, index: u64, last: bool) -> [u8; 29] {
    let mut a = [0u8; 29];
    a[..4].copy_from_slice(MAGIC);
    a[4..20].copy_from_slice(&blob.to_bytes());
    a[20..28].copy_from_slice(&index.to_be_bytes());
    a[28] = u8::from(last);
    a
}

/// Streams plaintext into an encrypted temp file, hashing it on the way.
pub struct BlobWriter {
    owner: UserId,
    file: File,
    tmp_path: PathBuf,
    blob: BlobId,
    /// The blob's own key: what a sandboxed process needs to read it ([`SealedBlob::access`]).
    key: zeroize::Zeroizing<[u8; 32]>,
    cipher: Cipher,
    pending: Vec<u8>,
    index: u64,
    hasher: Sha256,
    /// Hash of the bytes on disk (header and sealed chunks): what replicas and backups hold.
    sealed_hasher: Sha256,
    plaintext_len: u64,
    done: bool,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("blob", &self.blob)
            .field("len", &self.plaintext_len)
            .finish()
    }
}

impl BlobWriter {
    pub(crate) fn create(
        tmp_dir: &Path,
        owner: UserId,
        blob: BlobId,
        key: zeroize::Zeroizing<[u8; 32]>,
    ) -> Result<Self> {
        let cipher = Cipher::new(&key);
        let tmp_path = tmp_dir.join(format!("{blob}.partial"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)?;
        let header = header(blob);
        file.write_all(&header)?;
        let mut sealed_hasher = Sha256::new();
        sealed_hasher.update(header);
        Ok(Self {
            owner,
            file,
            tmp_path,
            blob,
            key,
            cipher,
            pending: Vec::with_capacity(CHUNK_SIZE),
            index: 0,
            hasher: Sha256::new(),
            sealed_hasher,
            plaintext_len: 0,
            done: false,
        })
    }

    /// Plaintext bytes written so far.
    pub fn len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn is_empty(&self) -> bool {
        self.plaintext_len == 0
    }

    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.plaintext_len += data.len() as u64;
        while !data.is_empty() {
            // A full chunk is sealed only once more data shows it is not the last one.
            if self.pending.len() == CHUNK_SIZE {
                self.seal_pending(false)?;
            }
            let take = (CHUNK_SIZE - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    fn seal_pending(&mut self, last: bool) -> Result<()> {
        let tag = self
            .cipher
            .seal_in_place(
                nonce(self.index),
                &aad(self.blob, self.index, last),
                &mut self.pending,
            )
            .ok_or_else(|| VaultError::Integrity {
                blob: self.blob.to_string(),
                reason: "encryption failed".into(),
            })?;
        self.pending.extend_from_slice(&tag);
        self.sealed_hasher.update(&self.pending);
        self.file.write_all(&self.pending)?;
        self.pending.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the last chunk and fsyncs the temp file. Nothing is visible yet.
    pub fn finish(mut self) -> Result<SealedBlob> {
        self.seal_pending(true)?;
        self.file.sync_all()?;
        self.done = true;
        let sha256: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        let sealed_sha256: [u8; 32] = std::mem::take(&mut self.sealed_hasher).finalize().into();
        Ok(SealedBlob {
            owner: self.owner,
            tmp_path: Some(std::mem::take(&mut self.tmp_path)),
            blob: self.blob,
            key: self.key.clone(),
            cipher: self.cipher.clone(),
            plaintext_len: self.plaintext_len,
            sha256,
            sealed_sha256,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// A complete, fsynced blob still in the temp directory: readable for validation, and removed
/// on drop unless [`persist`](SealedBlob::persist)ed.
pub struct SealedBlob {
    /// The tenant whose key sealed it: only that tenant's library commits it.
    pub(crate) owner: UserId,
    tmp_path: Option<PathBuf>,
    pub(crate) blob: BlobId,
    key: zeroize::Zeroizing<[u8; 32]>,
    cipher: Cipher,
    pub(crate) plaintext_len: u64,
    pub(crate) sha256: [u8; 32],
    /// SHA-256 of the ciphertext file.
    pub(crate) sealed_sha256: [u8; 32],
}

impl std::fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedBlob")
            .field("blob", &self.blob)
            .field("len", &self.plaintext_len)
            .finish()
    }
}

impl SealedBlob {
    pub fn len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn is_empty(&self) -> bool {
        self.plaintext_len == 0
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Decrypting reader over the sealed bytes, e.g. to probe the audio before committing.
    pub fn reader(&self) -> Result<BlobReader> {
        let path = self.tmp_path.as_deref().ok_or(VaultError::NotFound)?;
        BlobReader::open(path, self.blob, self.cipher.clone(), self.plaintext_len)
    }

    /// The sealed file's path and key, for a sandboxed process that probes it before it is
    /// committed (a hostile file's decoder may then exhaust that process, not the server).
    pub fn access(&self) -> Result<BlobAccess> {
        let path = self.tmp_path.clone().ok_or(VaultError::NotFound)?;
        Ok(BlobAccess::new(
            path,
            self.blob,
            self.plaintext_len,
            self.key.clone(),
        ))
    }

    /// Renames the blob to its final path (its directories made durably) and fsyncs both
    /// directories.
    pub(crate) fn persist(mut self, final_path: &Path) -> Result<()> {
        let tmp = self.tmp_path.take().ok_or(VaultError::NotFound)?;
        let dir = final_path.parent().unwrap_or(Path::new("."));
        if let Err(e) =
            fsutil::create_dir_durably(dir).and_then(|()| std::fs::rename(&tmp, final_path))
        {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        fsutil::sync_dir(dir)?;
        if let Some(tmp_dir) = tmp.parent() {
            fsutil::sync_dir(tmp_dir)?;
        }
        Ok(())
    }
}

impl Drop for SealedBlob {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp_path {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Decrypting, seekable reader over one blob; each chunk is authenticated before any of its
/// bytes are returned.
pub struct BlobReader {
    file: File,
    blob: BlobId,
    cipher: Cipher,
    plaintext_len: u64,
    chunks: u64,
    pos: u64,
    /// Index of the chunk whose plaintext is in `buf`.
    loaded: Option<u64>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("blob", &self.blob)
            .field("pos", &self.pos)
            .finish()
    }
}

/// Everything needed to read one blob, and nothing more: its file, id, length and its own key
/// (never the tenant's). For handing one file to a sandboxed process, such as an analysis
/// worker with a memory limit.
pub struct BlobAccess {
    pub path: PathBuf,
    pub blob: BlobId,
    pub len: u64,
    key: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BlobAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobAccess")
            .field("blob", &self.blob)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl BlobAccess {
    pub(crate) fn new(
        path: PathBuf,
        blob: BlobId,
        len: u64,
        key: zeroize::Zeroizing<[u8; 32]>,
    ) -> Self {
        Self {
            path,
            blob,
            len,
            key,
        }
    }

    /// The blob key as hex, for the receiving process.
    pub fn key_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(hex::encode(self.key.as_ref()))
    }

    /// Rebuilds an access from its parts (the receiving side of [`BlobAccess::key_hex`]).
    pub fn from_parts(path: PathBuf, blob: &str, len: u64, key_hex: &str) -> Result<Self> {
        let blob =
            BlobId::parse(blob).ok_or_else(|| VaultError::invalid("blob", "not a blob id"))?;
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(key_hex, key.as_mut())
            .map_err(|_| VaultError::invalid("key", "not 64 hex digits"))?;
        Ok(Self {
            path,
            blob,
            len,
            key,
        })
    }

    pub fn open(&self) -> Result<BlobReader> {
        BlobReader::open(&self.path, self.blob, Cipher::new(&self.key), self.len)
    }
}

impl BlobReader {
    pub(crate) fn open(
        path: &Path,
        blob: BlobId,
        cipher: Cipher,
        plaintext_len: u64,
    ) -> Result<Self> {
        let integrity = |reason: &str| VaultError::Integrity {
            blob: blob.to_string(),
            reason: reason.into(),
        };
        let mut file = File::open(path)?;
        let on_disk = file.metadata()?.len();
        if on_disk != ciphertext_len(plaintext_len) {
            return Err(integrity(&format!(
                "{on_disk} bytes on disk, {} expected",
                ciphertext_len(plaintext_len)
            )));
        }
        let mut head = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut head)?;
        if head != header(blob) {
            return Err(integrity("bad header"));
        }
        Ok(Self {
            file,
            blob,
            cipher,
            plaintext_len,
            chunks: chunk_count(plaintext_len),
            pos: 0,
            loaded: None,
            buf: Vec::with_capacity(CHUNK_SIZE + TAG_LEN),
        })
    }

    pub fn len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn is_empty(&self) -> bool {
        self.plaintext_len == 0
    }

    fn authentication_failed(&self, index: u64) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("blob {} chunk {index} failed authentication", self.blob),
        )
    }

    fn load(&mut self, index: u64) -> std::io::Result<()> {
        if self.loaded == Some(index) {
            return Ok(());
        }
        self.loaded = None;
        let last = index + 1 == self.chunks;
        let plain_len = if last {
            (self.plaintext_len - index * CHUNK_SIZE as u64) as usize
        } else {
            CHUNK_SIZE
        };
        self.file.seek(SeekFrom::Start(
            HEADER_LEN + index * (CHUNK_SIZE + TAG_LEN) as u64,
        ))?;
        self.buf.resize(plain_len + TAG_LEN, 0);
        self.file.read_exact(&mut self.buf)?;
        let n = self
            .cipher
            .open_in_place(nonce(index), &aad(self.blob, index, last), &mut self.buf)
            .ok_or_else(|| self.authentication_failed(index))?;
        self.buf.truncate(n);
        self.loaded = Some(index);
        Ok(())
    }

    /// Plaintext from `start`, at most `max_len` bytes (fewer at the end of the blob), read
    /// with a single read of whole chunks and decrypted in place: the streaming path, with no
    /// copy beyond the kernel's. Answers the buffer and the range of it holding those bytes.
    pub fn read_span(
        &mut self,
        start: u64,
        max_len: usize,
    ) -> std::io::Result<(Vec<u8>, Range<usize>)> {
        if start >= self.plaintext_len || max_len == 0 {
            return Ok((Vec::new(), 0..0));
        }
        let end = start.saturating_add(max_len as u64).min(self.plaintext_len);
        let first = start / CHUNK_SIZE as u64;
        let last = (end - 1) / CHUNK_SIZE as u64;
        let stride = (CHUNK_SIZE + TAG_LEN) as u64;
        let from = HEADER_LEN + first * stride;
        let to = if last + 1 == self.chunks {
            ciphertext_len(self.plaintext_len)
        } else {
            HEADER_LEN + (last + 1) * stride
        };
        let want = (to - from) as usize;
        let mut buf = Vec::with_capacity(want);
        self.file.seek(SeekFrom::Start(from))?;
        (&mut self.file).take(want as u64).read_to_end(&mut buf)?;
        if buf.len() != want {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("blob {} is shorter than its record", self.blob),
            ));
        }
        let mut plain_end = 0;
        for (k, index) in (first..=last).enumerate() {
            let at = k * stride as usize;
            let segment = at..(at + stride as usize).min(buf.len());
            let n = self
                .cipher
                .open_in_place(
                    nonce(index),
                    &aad(self.blob, index, index + 1 == self.chunks),
                    &mut buf[segment],
                )
                .ok_or_else(|| self.authentication_failed(index))?;
            // Close the gap the tags leave so the plaintext is contiguous.
            buf.copy_within(at..at + n, plain_end);
            plain_end += n;
        }
        buf.truncate(plain_end);
        let offset = (start - first * CHUNK_SIZE as u64) as usize;
        Ok((buf, offset..offset + (end - start) as usize))
    }
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.plaintext_len || out.is_empty() {
            return Ok(0);
        }
        let index = self.pos / CHUNK_SIZE as u64;
        self.load(index)?;
        let offset = (self.pos - index * CHUNK_SIZE as u64) as usize;
        let n = (self.buf.len() - offset).min(out.len());
        out[..n].copy_from_slice(&self.buf[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.plaintext_len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> Cipher {
        Cipher::new(&[byte; 32])
    }

    fn key(byte: u8) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new([byte; 32])
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Writes `data` in uneven pieces and persists it; returns the path.
    fn store(dir: &Path, blob: BlobId, data: &[u8]) -> PathBuf {
        let mut w = BlobWriter::create(dir, UserId::random(), blob, key(7)).unwrap();
        for piece in data.chunks(10_007) {
            w.write(piece).unwrap();
        }
        let sealed = w.finish().unwrap();
        assert_eq!(sealed.sha256, <[u8; 32]>::from(Sha256::digest(data)));
        let path = dir.join(format!("{blob}.blob"));
        sealed.persist(&path).unwrap();
        path
    }

    fn read_all(path: &Path, blob: BlobId, len: u64) -> std::io::Result<Vec<u8>> {
        let mut r = BlobReader::open(path, blob, cipher(7), len).map_err(std::io::Error::other)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE,
            200_000,
        ] {
            let blob = BlobId::random();
            let data = pattern(len);
            let path = store(dir.path(), blob, &data);
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                ciphertext_len(len as u64)
            );
            assert_eq!(
                read_all(&path, blob, len as u64).unwrap(),
                data,
                "len {len}"
            );
        }
    }

    #[test]
    fn ranges_decrypt_only_what_they_serve() {
        let dir = tempfile::tempdir().unwrap();
        let blob = BlobId::random();
        let data = pattern(5 * CHUNK_SIZE + 123);
        let path = store(dir.path(), blob, &data);
        let mut r = BlobReader::open(&path, blob, cipher(7), data.len() as u64).unwrap();
        for (start, len) in [
            (0, 10),
            (CHUNK_SIZE - 3, 7),
            (4 * CHUNK_SIZE + 5, CHUNK_SIZE + 118),
        ] {
            r.seek(SeekFrom::Start(start as u64)).unwrap();
            let mut got = vec![0u8; len];
            r.read_exact(&mut got).unwrap();
            assert_eq!(got, data[start..start + len]);
        }
        // Corrupt chunk 2: ranges elsewhere still read, chunk 2 fails.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN as usize + 2 * (CHUNK_SIZE + TAG_LEN) + 9] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let mut r = BlobReader::open(&path, blob, cipher(7), data.len() as u64).unwrap();
        let mut got = vec![0u8; 100];
        r.read_exact(&mut got).unwrap();
        r.seek(SeekFrom::Start(2 * CHUNK_SIZE as u64 + 1)).unwrap();
        assert_eq!(
            r.read(&mut got).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn spans_match_the_plaintext_at_every_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let blob = BlobId::random();
        let data = pattern(4 * CHUNK_SIZE + 777);
        let path = store(dir.path(), blob, &data);
        let mut r = BlobReader::open(&path, blob, cipher(7), data.len() as u64).unwrap();
        for (start, max) in [
            (0, 1),
            (0, CHUNK_SIZE),
            (5, CHUNK_SIZE),
            (CHUNK_SIZE - 1, 2),
            (3 * CHUNK_SIZE + 9, 1 << 20),
            (data.len() - 1, 10),
        ] {
            let (buf, range) = r.read_span(start as u64, max).unwrap();
            let end = (start + max).min(data.len());
            assert_eq!(&buf[range], &data[start..end], "start {start} max {max}");
        }
        assert!(r.read_span(data.len() as u64, 10).unwrap().1.is_empty());
        // A flipped bit anywhere in the span fails it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN as usize + (CHUNK_SIZE + TAG_LEN) * 3 + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let mut r = BlobReader::open(&path, blob, cipher(7), data.len() as u64).unwrap();
        assert!(r.read_span(0, 2 * CHUNK_SIZE).is_ok());
        assert_eq!(
            r.read_span(0, 5 * CHUNK_SIZE).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn reordered_truncated_or_foreign_chunks_fail() {
        let dir = tempfile::tempdir().unwrap();
        let blob = BlobId::random();
        let len = 3 * CHUNK_SIZE;
        let path = store(dir.path(), blob, &pattern(len));
        let good = std::fs::read(&path).unwrap();
        let chunk = |i: usize| {
            let start = HEADER_LEN as usize + i * (CHUNK_SIZE + TAG_LEN);
            good[start..start + CHUNK_SIZE + TAG_LEN].to_vec()
        };

        // Swap chunks 0 and 1.
        let mut swapped = good[..HEADER_LEN as usize].to_vec();
        for i in [1, 0, 2] {
            swapped.extend(chunk(i));
        }
        std::fs::write(&path, &swapped).unwrap();
        assert!(read_all(&path, blob, len as u64).is_err());

        // Drop the last chunk and claim the blob was shorter: chunk 1 is not flagged last.
        let truncated = good[..good.len() - (CHUNK_SIZE + TAG_LEN)].to_vec();
        std::fs::write(&path, &truncated).unwrap();
        assert!(read_all(&path, blob, 2 * CHUNK_SIZE as u64).is_err());
        // A length that does not match the file is refused before decrypting anything.
        assert!(BlobReader::open(&path, blob, cipher(7), len as u64).is_err());

        // The same bytes under another blob id (header rewritten) do not authenticate.
        std::fs::write(&path, &good).unwrap();
        let other = BlobId::random();
        let mut moved = good.clone();
        moved[12..28].copy_from_slice(&other.to_bytes());
        std::fs::write(&path, &moved).unwrap();
        assert!(read_all(&path, other, len as u64).is_err());

        // The wrong key fails.
        std::fs::write(&path, &good).unwrap();
        let mut r = BlobReader::open(&path, blob, cipher(8), len as u64).unwrap();
        assert!(r.read(&mut [0u8; 16]).is_err());
    }

    #[test]
    fn abandoned_writes_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            BlobWriter::create(dir.path(), UserId::random(), BlobId::random(), key(1)).unwrap();
        w.write(&pattern(100_000)).unwrap();
        drop(w);
        let sealed = {
            let mut w =
                BlobWriter::create(dir.path(), UserId::random(), BlobId::random(), key(1)).unwrap();
            w.write(b"abc").unwrap();
            w.finish().unwrap()
        };
        drop(sealed);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

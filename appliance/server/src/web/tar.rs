//! Tar (ustar) archives written as they are sent: the account export and a track's stems.
//! Tar opens everywhere without a tool of ours, and its length is known up front, so browsers
//! show real progress.

use bytes::Bytes;

pub const BLOCK: u64 = 512;

/// Bytes an entry of `size` bytes takes: its header and its data padded to a block.
pub fn entry_len(size: u64) -> u64 {
    BLOCK + size.div_ceil(BLOCK) * BLOCK
}

/// The two zero blocks that end an archive.
pub fn trailer() -> Bytes {
    Bytes::from(vec![0u8; 2 * BLOCK as usize])
}

/// ASCII letters, digits, `.-_` and spaces; anything else becomes `_`; at most 60 characters.
pub fn safe_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    let start = name.len().saturating_sub(60);
    if name.is_empty() {
        "audio".into()
    } else {
        name[start..].to_owned()
    }
}

/// A ustar header. `path` is split into prefix and name at a `/` when longer than 100 bytes;
/// sizes of 8 GiB and more use the base-256 form GNU tar and libarchive read.
pub fn header(path: &str, size: u64, mtime: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        path.rsplit_once('/').unwrap_or(("", path))
    };
    let put = |h: &mut [u8; 512], at: usize, bytes: &[u8], max: usize| {
        let n = bytes.len().min(max);
        h[at..at + n].copy_from_slice(&bytes[..n]);
    };
    put(&mut h, 0, name.as_bytes(), 100);
    put(&mut h, 100, b"0000644\0", 8);
    put(&mut h, 108, b"0000000\0", 8);
    put(&mut h, 116, b"0000000\0", 8);
    if size < 1 << 33 {
        put(&mut h, 124, format!("{size:011o}\0").as_bytes(), 12);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    put(&mut h, 136, format!("{mtime:011o}\0").as_bytes(), 12);
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0", 6);
    put(&mut h, 263, b"00", 2);
    put(&mut h, 345, prefix.as_bytes(), 155);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes(), 8);
    h
}

pub fn padding(size: u64) -> Bytes {
    Bytes::from(vec![0u8; (size.div_ceil(BLOCK) * BLOCK - size) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_valid_ustar() {
        let h = header("studiovault-export/account.json", 1234, 1_700_000_000);
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(&h[124..136], b"00000002322\0");
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, copy.iter().map(|&b| u32::from(b)).sum::<u32>());
        let long = format!(
            "studiovault-export/audio/{}-{}",
            "a".repeat(32),
            "b".repeat(60)
        );
        let h = header(&long, 1 << 34, 0);
        assert_eq!(&h[345..345 + 24], b"studiovault-export/audio");
        assert_eq!(h[124], 0x80, "base-256 size");
    }

    #[test]
    fn names_are_safe_and_short() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("Ünreleased mix.wav"), "_nreleased mix.wav");
        assert_eq!(safe_name(""), "audio");
        assert_eq!(safe_name(&"x".repeat(80)).len(), 60);
    }
}

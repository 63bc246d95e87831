//! A check of FLAC metadata blocks before symphonia reads them.
//!
//! symphonia 0.5 allocates a Vorbis comment or a picture at the length the file states before
//! reading it, so a few bytes claiming a 4 GB comment make it reserve 4 GB (found by the
//! fuzzer). This walk rejects any length field that exceeds the block holding it.

use std::io::{Read, Seek, SeekFrom};

use crate::error::AnalysisError;

const VORBIS_COMMENT: u8 = 4;
const PICTURE: u8 = 6;
/// Real files hold a handful of blocks; a bound on the walk for hostile ones.
const MAX_BLOCKS: usize = 10_000;

fn corrupt() -> AnalysisError {
    AnalysisError::Corrupt("malformed FLAC metadata".into())
}

/// Whether the `fLaC` marker stands at `at`; leaves `source` at the start.
pub(crate) fn opens_at<R: Read + Seek>(source: &mut R, at: u64) -> std::io::Result<bool> {
    let mut marker = [0u8; 4];
    source.seek(SeekFrom::Start(at))?;
    let found = source.read_exact(&mut marker).is_ok() && &marker == b"fLaC";
    source.seek(SeekFrom::Start(0))?;
    Ok(found)
}

/// Reads the metadata blocks after the `fLaC` marker at `at` (0, or after an ID3v2 tag) and
/// leaves `source` at the start.
pub(crate) fn check<R: Read + Seek>(source: &mut R, at: u64) -> Result<(), AnalysisError> {
    let io = |e: std::io::Error| AnalysisError::Corrupt(format!("read failed: {e}"));
    if !opens_at(source, at).map_err(io)? {
        return Ok(());
    }
    source.seek(SeekFrom::Start(at + 4)).map_err(io)?;
    for _ in 0..MAX_BLOCKS {
        let mut header = [0u8; 4];
        if source.read_exact(&mut header).is_err() {
            // Truncated metadata: let the demuxer report it.
            break;
        }
        let last = header[0] & 0x80 != 0;
        let kind = header[0] & 0x7F;
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        if kind == VORBIS_COMMENT || kind == PICTURE {
            let mut block = Vec::new();
            source
                .by_ref()
                .take(len as u64)
                .read_to_end(&mut block)
                .map_err(io)?;
            let fits = if kind == VORBIS_COMMENT {
                comment_lengths_fit(&block)
            } else {
                picture_lengths_fit(&block)
            };
            if !fits {
                return Err(corrupt());
            }
        } else {
            source.seek(SeekFrom::Current(len as i64)).map_err(io)?;
        }
        if last {
            break;
        }
    }
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(())
}

/// Takes a length-prefixed field of `block` from `at`, if it fits.
fn skip_field(block: &[u8], at: usize, little_endian: bool) -> Option<usize> {
    let bytes: [u8; 4] = block.get(at..at + 4)?.try_into().ok()?;
    let len = if little_endian {
        u32::from_le_bytes(bytes)
    } else {
        u32::from_be_bytes(bytes)
    } as usize;
    let end = (at + 4).checked_add(len)?;
    (end <= block.len()).then_some(end)
}

/// Vorbis comment: vendor string, comment count, then length-prefixed comments (little-endian).
pub(crate) fn comment_lengths_fit(block: &[u8]) -> bool {
    let Some(mut at) = skip_field(block, 0, true) else {
        return false;
    };
    let Some(count) = block.get(at..at + 4).and_then(|b| b.try_into().ok()) else {
        return false;
    };
    at += 4;
    for _ in 0..u32::from_le_bytes(count) {
        match skip_field(block, at, true) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

/// Picture: type, MIME type, description, four dimensions, data (big-endian).
fn picture_lengths_fit(block: &[u8]) -> bool {
    skip_field(block, 4, false)
        .and_then(|at| skip_field(block, at, false))
        .and_then(|at| skip_field(block, at + 16, false))
        .is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn flac_with_comment(comment_len: u32, actual: usize) -> Vec<u8> {
        let mut body = 3u32.to_le_bytes().to_vec();
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&comment_len.to_le_bytes());
        body.extend(std::iter::repeat_n(b'x', actual));
        let mut file = b"fLaC".to_vec();
        file.push(0x80 | VORBIS_COMMENT);
        file.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        file.extend(body);
        file
    }

    #[test]
    fn accepts_a_consistent_comment_and_rejects_an_inflated_one() {
        check(&mut Cursor::new(flac_with_comment(5, 5)), 0).unwrap();
        assert!(check(&mut Cursor::new(flac_with_comment(u32::MAX, 5)), 0).is_err());
    }

    #[test]
    fn checks_the_flac_after_an_id3v2_tag_where_it_starts() {
        let tag = b"ID3\x04\0\0\0\0\0\x05hello".to_vec();
        let mut file = tag.clone();
        file.extend(flac_with_comment(u32::MAX, 5));
        let mut source = Cursor::new(file);
        assert!(opens_at(&mut source, tag.len() as u64).unwrap());
        assert!(!opens_at(&mut source, 0).unwrap());
        assert!(check(&mut source, tag.len() as u64).is_err());
        let mut sound = tag.clone();
        sound.extend(flac_with_comment(5, 5));
        let mut source = Cursor::new(sound);
        check(&mut source, tag.len() as u64).unwrap();
        assert_eq!(source.position(), 0, "left at the start");
    }
}

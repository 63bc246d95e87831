//! A structural check of MP4 files before symphonia reads them.
//!
//! symphonia 0.5's MP4 demuxer reserves memory for a sample table from the entry count the file
//! states (`Vec::with_capacity(count)`), before reading any entry: a 1 KB file claiming four
//! billion chunk offsets makes it ask for 16 GB, and a failed allocation aborts the process
//! (found by the fuzzer). This walk rejects any box larger than what holds it and any sample
//! table whose count needs more bytes than its box has.

use std::io::{Read, Seek, SeekFrom};

use crate::error::AnalysisError;

/// Boxes whose children are boxes.
const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf",
];
/// Sample tables: bytes per entry after the full-box header and the entry count.
const TABLES: [(&[u8; 4], u64); 6] = [
    (b"stco", 4),
    (b"co64", 8),
    (b"stsc", 12),
    (b"stts", 8),
    (b"ctts", 8),
    (b"stss", 4),
];
/// Enough for any real file; a bound on the walk for hostile ones.
const MAX_BOXES: usize = 100_000;

fn corrupt(what: &str) -> AnalysisError {
    AnalysisError::Corrupt(format!("malformed MP4: {what}"))
}

fn read_u32(source: &mut impl Read) -> Result<u32, AnalysisError> {
    let mut bytes = [0u8; 4];
    source
        .read_exact(&mut bytes)
        .map_err(|_| corrupt("a box ends early"))?;
    Ok(u32::from_be_bytes(bytes))
}

fn read_u64(source: &mut impl Read) -> Result<u64, AnalysisError> {
    let mut bytes = [0u8; 8];
    source
        .read_exact(&mut bytes)
        .map_err(|_| corrupt("a box ends early"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Walks the boxes of `source` (`len` bytes) and leaves it at the start.
pub(crate) fn check<R: Read + Seek>(source: &mut R, len: u64) -> Result<(), AnalysisError> {
    let mut boxes = 0;
    walk(source, 0, len, len, &mut boxes)?;
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| AnalysisError::Corrupt(format!("read failed: {e}")))?;
    Ok(())
}

fn walk<R: Read + Seek>(
    source: &mut R,
    start: u64,
    end: u64,
    total: u64,
    boxes: &mut usize,
) -> Result<(), AnalysisError> {
    let mut position = start;
    // A tail too short for a box header is padding, as players treat it.
    while end - position >= 8 {
        *boxes += 1;
        if *boxes > MAX_BOXES {
            return Err(corrupt("too many boxes"));
        }
        source
            .seek(SeekFrom::Start(position))
            .map_err(|e| AnalysisError::Corrupt(format!("read failed: {e}")))?;
        let size32 = read_u32(source)?;
        let mut kind = [0u8; 4];
        source
            .read_exact(&mut kind)
            .map_err(|_| corrupt("a box ends early"))?;
        let (size, header) = match size32 {
            0 => (end - position, 8),
            1 => (read_u64(source)?, 16),
            n => (u64::from(n), 8),
        };
        let nested = CONTAINERS.contains(&&kind)
            || kind == *b"stsz"
            || TABLES.iter().any(|(name, _)| **name == kind);
        if size < header {
            return Err(corrupt("a box is smaller than its header"));
        }
        // A truncated media box at the end of the file still holds playable audio; a box
        // overrunning its parent, or a truncated index, does not.
        let size = match (size > end - position, nested || start > 0) {
            (true, true) => return Err(corrupt("a box is larger than what holds it")),
            (true, false) => end - position,
            (false, _) => size,
        };
        // symphonia reads a handler box's name as its length minus 24, unchecked.
        if &kind == b"hdlr" && size < header + 24 {
            return Err(corrupt("a handler box is too short"));
        }
        let body = position + header;
        let box_end = position + size;
        if CONTAINERS.contains(&&kind) {
            walk(source, body, box_end, total, boxes)?;
        } else if let Some((_, entry_size)) = TABLES.iter().find(|(name, _)| **name == kind) {
            let _version_and_flags = read_u32(source)?;
            let count = u64::from(read_u32(source)?);
            if count.saturating_mul(*entry_size) > box_end.saturating_sub(body + 8) {
                return Err(corrupt("a sample table claims more entries than it holds"));
            }
        } else if &kind == b"stsz" {
            let _version_and_flags = read_u32(source)?;
            let fixed_size = read_u32(source)?;
            let count = u64::from(read_u32(source)?);
            if fixed_size == 0 && count.saturating_mul(4) > box_end.saturating_sub(body + 12) {
                return Err(corrupt(
                    "the sample size table claims more entries than it holds",
                ));
            }
            // symphonia reads each sample at its stated size: none may outgrow the file.
            let mut largest = u64::from(fixed_size);
            if fixed_size == 0 {
                let mut entry = [0u8; 4];
                for _ in 0..count {
                    source
                        .read_exact(&mut entry)
                        .map_err(|_| corrupt("a box ends early"))?;
                    largest = largest.max(u64::from(u32::from_be_bytes(entry)));
                }
            }
            if largest > total {
                return Err(corrupt("a sample is larger than the file"));
            }
        }
        position = box_end;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn file_with_stco(count: u32, entries: usize) -> Vec<u8> {
        let mut stco = vec![0u8; 4];
        stco.extend_from_slice(&count.to_be_bytes());
        stco.extend(std::iter::repeat_n(0u8, entries * 4));
        let stbl = boxed(b"stbl", &boxed(b"stco", &stco));
        let trak = boxed(b"trak", &boxed(b"mdia", &boxed(b"minf", &stbl)));
        let mut file = boxed(b"ftyp", b"M4A \0\0\0\0");
        file.extend(boxed(b"moov", &trak));
        file
    }

    #[test]
    fn accepts_consistent_tables_and_rejects_inflated_ones() {
        let good = file_with_stco(3, 3);
        let len = good.len() as u64;
        check(&mut Cursor::new(good), len).unwrap();

        let hostile = file_with_stco(u32::MAX, 3);
        let len = hostile.len() as u64;
        assert!(check(&mut Cursor::new(hostile), len).is_err());
    }

    #[test]
    fn rejects_a_child_larger_than_its_parent() {
        let mut hdlr = 0x4000_0000u32.to_be_bytes().to_vec();
        hdlr.extend_from_slice(b"hdlr");
        hdlr.extend_from_slice(&[0; 24]);
        let mut file = boxed(b"ftyp", b"M4A \0\0\0\0");
        file.extend(boxed(b"moov", &boxed(b"trak", &boxed(b"mdia", &hdlr))));
        let len = file.len() as u64;
        assert!(check(&mut Cursor::new(file), len).is_err());
    }

    #[test]
    fn rejects_an_index_box_larger_than_the_file() {
        let mut file = boxed(b"ftyp", b"M4A \0\0\0\0");
        file.extend_from_slice(&1_000_000u32.to_be_bytes());
        file.extend_from_slice(b"moov");
        let len = file.len() as u64;
        assert!(check(&mut Cursor::new(file), len).is_err());
    }
}

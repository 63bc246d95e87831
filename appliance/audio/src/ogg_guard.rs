//! A check of the Ogg comment header (Vorbis comment or OpusTags) before symphonia reads it.
//!
//! symphonia 0.5 allocates each comment at the length the header states before reading it, as
//! in FLAC (see [`crate::flac_guard`]). This reassembles the first logical stream's second
//! packet from the opening pages and rejects lengths beyond the packet.

use std::io::{Read, Seek, SeekFrom};

use crate::error::AnalysisError;
use crate::flac_guard::comment_lengths_fit;

/// Headers larger than this (cover art embedded in the comments) are left unchecked.
const MAX_SCAN_BYTES: usize = 64 << 20;
const MAX_PAGES: usize = 4_096;

/// Leaves `source` at the start.
pub(crate) fn check<R: Read + Seek>(source: &mut R) -> Result<(), AnalysisError> {
    let io = |e: std::io::Error| AnalysisError::Corrupt(format!("read failed: {e}"));
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    let comment = second_packet(source);
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    let Some(packet) = comment else {
        return Ok(());
    };
    let body = if let Some(rest) = packet.strip_prefix(b"\x03vorbis") {
        rest
    } else if let Some(rest) = packet.strip_prefix(b"OpusTags") {
        rest
    } else {
        return Ok(());
    };
    if comment_lengths_fit(body) {
        Ok(())
    } else {
        Err(AnalysisError::Corrupt(
            "malformed Ogg comment header".into(),
        ))
    }
}

/// The second packet of the first logical stream, if the opening pages hold it whole.
fn second_packet(source: &mut impl Read) -> Option<Vec<u8>> {
    let mut serial = None;
    let mut packets = 0;
    let mut current = Vec::new();
    let mut scanned = 0usize;
    for _ in 0..MAX_PAGES {
        let mut header = [0u8; 27];
        source.read_exact(&mut header).ok()?;
        if &header[..4] != b"OggS" {
            return None;
        }
        let page_serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        let mut lacing = vec![0u8; usize::from(header[26])];
        source.read_exact(&mut lacing).ok()?;
        let mut data = vec![0u8; lacing.iter().map(|&l| usize::from(l)).sum()];
        source.read_exact(&mut data).ok()?;
        scanned += data.len();
        if scanned > MAX_SCAN_BYTES {
            return None;
        }
        if *serial.get_or_insert(page_serial) != page_serial {
            continue;
        }
        let mut at = 0;
        for &segment in &lacing {
            let end = at + usize::from(segment);
            current.extend_from_slice(&data[at..end]);
            at = end;
            if segment < 255 {
                packets += 1;
                if packets == 2 {
                    return Some(current);
                }
                current.clear();
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn page(packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        let mut data = Vec::new();
        for p in packets {
            let mut left = p.len();
            while left >= 255 {
                lacing.push(255);
                left -= 255;
            }
            lacing.push(left as u8);
            data.extend_from_slice(p);
        }
        let mut out = b"OggS".to_vec();
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(&7u32.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.push(lacing.len() as u8);
        out.extend(lacing);
        out.extend(data);
        out
    }

    fn tags(comment_len: u32) -> Vec<u8> {
        let mut t = b"OpusTags".to_vec();
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&comment_len.to_le_bytes());
        t.extend_from_slice(b"TITLE=x");
        t
    }

    #[test]
    fn checks_the_comment_packet() {
        let good = page(&[b"OpusHead0123456789abc", &tags(7)]);
        check(&mut Cursor::new(good)).unwrap();
        let hostile = page(&[b"OpusHead0123456789abc", &tags(u32::MAX)]);
        assert!(check(&mut Cursor::new(hostile)).is_err());
    }
}

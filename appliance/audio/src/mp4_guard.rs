//! A structural check of MP4 files before symphonia reads them, and the audio track's edit
//! list, which symphonia 0.5 does not apply ([`edit`]).
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

fn read_failed(e: std::io::Error) -> AnalysisError {
    AnalysisError::Corrupt(format!("read failed: {e}"))
}

/// The header of the box at `position` in a parent ending at `end`: its kind, its stated size
/// (a size of 0 runs to `end`) and the header's own length.
fn box_header<R: Read + Seek>(
    source: &mut R,
    position: u64,
    end: u64,
) -> Result<([u8; 4], u64, u64), AnalysisError> {
    source
        .seek(SeekFrom::Start(position))
        .map_err(read_failed)?;
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
    if size < header {
        return Err(corrupt("a box is smaller than its header"));
    }
    Ok((kind, size, header))
}

/// Walks the boxes of `source` (`len` bytes) and leaves it at the start.
pub(crate) fn check<R: Read + Seek>(source: &mut R, len: u64) -> Result<(), AnalysisError> {
    let mut boxes = 0;
    walk(source, 0, len, len, &mut boxes)?;
    source.seek(SeekFrom::Start(0)).map_err(read_failed)?;
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
        let (kind, size, header) = box_header(source, position, end)?;
        let nested = CONTAINERS.contains(&&kind)
            || kind == *b"stsz"
            || TABLES.iter().any(|(name, _)| **name == kind);
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

/// The first audio track's edit (ISO/IEC 14496-12 §8.6.6), which players apply: where its
/// media starts (an AAC encoder's priming, 1024 or 2112 samples a decoder outputs first) and
/// how long it plays. Times are in the track's and the movie's timescales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edit {
    media_start: u64,
    media_timescale: u32,
    duration: u64,
    movie_timescale: u32,
}

impl Edit {
    /// In frames at `rate`: how many to drop from the start, and how many play after them
    /// (`None`: to the end). An edit that starts over a second in is no encoder's priming and
    /// is not applied.
    pub(crate) fn frames(&self, rate: u32) -> Option<(u64, Option<u64>)> {
        let at_rate = |time: u64, timescale: u32| {
            let scaled = (u128::from(time) * u128::from(rate) + u128::from(timescale) / 2)
                / u128::from(timescale.max(1));
            u64::try_from(scaled).unwrap_or(u64::MAX)
        };
        if self.media_timescale == 0 || self.movie_timescale == 0 {
            return None;
        }
        let skip = at_rate(self.media_start, self.media_timescale);
        if skip > u64::from(rate) {
            return None;
        }
        // A zero duration (fragmented files) means the whole media.
        let plays = (self.duration > 0).then(|| at_rate(self.duration, self.movie_timescale));
        Some((skip, plays))
    }
}

/// What one track says of itself, for [`edit`].
#[derive(Default)]
struct TrackFacts {
    is_audio: bool,
    media_timescale: Option<u32>,
    /// The edit list's entries that play media: (duration, media time).
    edits: Option<Vec<(u64, u64)>>,
}

/// Reads the edit of the first audio track of a file [`check`] accepted; `None` when it has
/// none, or one players would apply in several pieces (kept whole here). Leaves `source` at
/// the start.
pub(crate) fn edit<R: Read + Seek>(source: &mut R, len: u64) -> Option<Edit> {
    let found = read_edit(source, len);
    source.seek(SeekFrom::Start(0)).ok()?;
    found.ok().flatten()
}

/// The boxes directly in `start..end`: (kind, body start, end).
fn children<R: Read + Seek>(
    source: &mut R,
    start: u64,
    end: u64,
) -> Result<Vec<([u8; 4], u64, u64)>, AnalysisError> {
    let mut out = Vec::new();
    let mut position = start;
    while end.saturating_sub(position) >= 8 && out.len() < MAX_BOXES {
        let (kind, size, header) = box_header(source, position, end)?;
        let box_end = position.saturating_add(size).min(end);
        out.push((kind, position + header, box_end));
        position = box_end;
    }
    Ok(out)
}

/// A `mvhd` or `mdhd` box's timescale (its layout differs by version only in field widths).
fn timescale<R: Read + Seek>(source: &mut R, body: u64) -> Result<u32, AnalysisError> {
    source.seek(SeekFrom::Start(body)).map_err(read_failed)?;
    let version = read_u32(source)? >> 24;
    // Creation and modification times: 4 bytes each in version 0, 8 in version 1.
    let times = if version == 1 { 16 } else { 8 };
    source.seek(SeekFrom::Current(times)).map_err(read_failed)?;
    read_u32(source)
}

fn read_edit<R: Read + Seek>(source: &mut R, len: u64) -> Result<Option<Edit>, AnalysisError> {
    let Some(&(_, moov, moov_end)) = children(source, 0, len)?
        .iter()
        .find(|(kind, ..)| kind == b"moov")
    else {
        return Ok(None);
    };
    let mut movie_timescale = None;
    for (kind, body, end) in children(source, moov, moov_end)? {
        match &kind {
            b"mvhd" => movie_timescale = Some(timescale(source, body)?),
            b"trak" => {
                let track = track_facts(source, body, end)?;
                if !track.is_audio {
                    continue;
                }
                let (Some(movie_timescale), Some(media_timescale), Some(edits)) =
                    (movie_timescale, track.media_timescale, track.edits)
                else {
                    return Ok(None);
                };
                return Ok(match edits.as_slice() {
                    &[(duration, media_start)] => Some(Edit {
                        media_start,
                        media_timescale,
                        duration,
                        movie_timescale,
                    }),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    Ok(None)
}

fn track_facts<R: Read + Seek>(
    source: &mut R,
    start: u64,
    end: u64,
) -> Result<TrackFacts, AnalysisError> {
    let mut facts = TrackFacts::default();
    for (kind, body, box_end) in children(source, start, end)? {
        match &kind {
            b"edts" => {
                for (kind, body, _) in children(source, body, box_end)? {
                    if &kind == b"elst" {
                        facts.edits = Some(edit_entries(source, body)?);
                    }
                }
            }
            b"mdia" => {
                for (kind, body, _) in children(source, body, box_end)? {
                    match &kind {
                        b"mdhd" => facts.media_timescale = Some(timescale(source, body)?),
                        b"hdlr" => {
                            source
                                .seek(SeekFrom::Start(body + 8))
                                .map_err(read_failed)?;
                            facts.is_audio = read_u32(source)?.to_be_bytes() == *b"soun";
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// An edit list's entries that play media, as (duration, media time); the empty edits that
/// delay a track's start (media time −1) are left out, as no silence is added here.
fn edit_entries<R: Read + Seek>(
    source: &mut R,
    body: u64,
) -> Result<Vec<(u64, u64)>, AnalysisError> {
    source.seek(SeekFrom::Start(body)).map_err(read_failed)?;
    let version = read_u32(source)? >> 24;
    let count = read_u32(source)?;
    let mut entries = Vec::new();
    // More than a few entries is no priming edit: none is applied, so none is read.
    if count > 4 {
        return Ok(entries);
    }
    for _ in 0..count {
        let (duration, media_time) = if version == 1 {
            (read_u64(source)?, read_u64(source)? as i64)
        } else {
            (
                u64::from(read_u32(source)?),
                i64::from(read_u32(source)? as i32),
            )
        };
        let _rate = read_u32(source)?;
        if let Ok(media_time) = u64::try_from(media_time) {
            entries.push((duration, media_time));
        }
    }
    Ok(entries)
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

    /// A movie at 1000 units a second holding a `handler` track at 8 kHz with edit entries of
    /// (duration, media time).
    fn movie(handler: &[u8; 4], entries: &[(u32, i32)]) -> Vec<u8> {
        let header = |timescale: u32| {
            let mut body = vec![0u8; 12];
            body.extend_from_slice(&timescale.to_be_bytes());
            body.extend_from_slice(&0u32.to_be_bytes());
            body
        };
        let mut elst = vec![0u8; 4];
        elst.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for (duration, media_time) in entries {
            elst.extend_from_slice(&duration.to_be_bytes());
            elst.extend_from_slice(&media_time.to_be_bytes());
            elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0; 13]);
        let mut mdia = boxed(b"mdhd", &header(8_000));
        mdia.extend(boxed(b"hdlr", &hdlr));
        let mut trak = boxed(b"edts", &boxed(b"elst", &elst));
        trak.extend(boxed(b"mdia", &mdia));
        let mut moov = boxed(b"mvhd", &header(1_000));
        moov.extend(boxed(b"trak", &trak));
        let mut file = boxed(b"ftyp", b"M4A \0\0\0\0");
        file.extend(boxed(b"moov", &moov));
        file
    }

    fn edit_of(file: Vec<u8>) -> Option<(u64, Option<u64>)> {
        let len = file.len() as u64;
        let mut source = Cursor::new(file);
        check(&mut source, len).unwrap();
        edit(&mut source, len).and_then(|e| e.frames(8_000))
    }

    #[test]
    fn an_audio_tracks_edit_gives_the_priming_to_drop_and_the_length_to_play() {
        // ffmpeg's AAC: 1024 samples of priming, then half a second.
        assert_eq!(
            edit_of(movie(b"soun", &[(500, 1024)])),
            Some((1024, Some(4000)))
        );
        // An empty edit first delays the start; no silence is added, the rest applies.
        assert_eq!(
            edit_of(movie(b"soun", &[(100, -1), (500, 2112)])),
            Some((2112, Some(4000)))
        );
        // A zero duration plays to the end.
        assert_eq!(edit_of(movie(b"soun", &[(0, 1024)])), Some((1024, None)));
        // Applied in several pieces by players: kept whole here. Not priming: kept whole.
        assert_eq!(edit_of(movie(b"soun", &[(200, 0), (300, 4000)])), None);
        assert_eq!(edit_of(movie(b"soun", &[(500, 16_000)])), None);
        // Only an audio track's edit counts.
        assert_eq!(edit_of(movie(b"vide", &[(500, 1024)])), None);
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

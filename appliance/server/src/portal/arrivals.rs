//! The files arriving through each upload link right now. A file is admitted only beside the
//! others still arriving: their count and declared sizes are taken from what the link still
//! takes. Without it, parallel uploads each passed the link's caps alone, every one streamed
//! into the temp space in full, and only the commits refused all but the first few: a link
//! holder could fill the disk with files the link never takes. The commit still checks the
//! caps in its transaction; this only refuses early what could not fit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use studiovault_vault::UploadLinkId;
use studiovault_vault::review::LinkRoom;
use warp::http::StatusCode;

use crate::web::ApiError;

/// What is arriving through each link, in memory: a restart ends every upload anyway.
#[derive(Debug, Default)]
pub struct LinkArrivals(Mutex<HashMap<UploadLinkId, Arriving>>);

#[derive(Debug, Default, Clone, Copy)]
struct Arriving {
    files: u32,
    bytes: u64,
}

/// One admitted file. Its place is given back when it is dropped, whether it was committed,
/// refused or cut off.
#[derive(Debug)]
pub struct Arrival {
    arrivals: Arc<LinkArrivals>,
    link: UploadLinkId,
    bytes: u64,
}

impl Arrival {
    /// The most bytes this file may have: what it was admitted with.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl LinkArrivals {
    /// Admits one file through `link`, which still takes `room`, sent in a request of
    /// `declared` bytes, of which up to `framing` may be the request's own (multipart headers
    /// and boundaries). It holds at most what is left beside the files arriving, and no more
    /// than it declared; a request that declares no length is admitted with all that is left.
    /// Refused with `409 uploads_in_progress` when files already arriving take every file the
    /// link has left, and `413 too_large` when the request cannot fit beside theirs.
    pub fn admit(
        self: &Arc<Self>,
        link: UploadLinkId,
        room: LinkRoom,
        declared: Option<u64>,
        framing: u64,
    ) -> Result<Arrival, ApiError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let arriving = map.get(&link).copied().unwrap_or_default();
        if arriving.files >= room.files {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "uploads_in_progress",
                format!(
                    "this link takes {} more file{}, and as many are arriving now: try again \
                     once they are in",
                    room.files,
                    if room.files == 1 { "" } else { "s" }
                ),
            ));
        }
        let left = room.bytes.saturating_sub(arriving.bytes);
        let bytes = declared.map_or(left, |d| d.min(left));
        if left == 0 || declared.is_some_and(|d| d > left.saturating_add(framing)) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("this link takes {left} more bytes while other files are arriving"),
            ));
        }
        let entry = map.entry(link).or_default();
        entry.files += 1;
        entry.bytes = entry.bytes.saturating_add(bytes);
        Ok(Arrival {
            arrivals: self.clone(),
            link,
            bytes,
        })
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        let mut map = self
            .arrivals
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(arriving) = map.get_mut(&self.link) {
            arriving.files = arriving.files.saturating_sub(1);
            arriving.bytes = arriving.bytes.saturating_sub(self.bytes);
            if arriving.files == 0 {
                map.remove(&self.link);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn room(files: u32, bytes: u64) -> LinkRoom {
        LinkRoom { files, bytes }
    }

    fn link_id(n: u8) -> UploadLinkId {
        UploadLinkId::parse(&format!("{n:032x}")).unwrap()
    }

    #[test]
    fn files_arriving_take_their_files_and_bytes_from_the_room_until_they_end() {
        let arrivals = Arc::new(LinkArrivals::default());
        let link = link_id(1);
        let first = arrivals.admit(link, room(2, 1000), Some(600), 10).unwrap();
        assert_eq!(first.bytes(), 600);

        let too_big = arrivals
            .admit(link, room(2, 1000), Some(411), 10)
            .unwrap_err();
        assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Its framing aside, the file fits in what is left; it may hold no more than that.
        let second = arrivals.admit(link, room(2, 1000), Some(410), 10).unwrap();
        assert_eq!(second.bytes(), 400);
        let busy = arrivals
            .admit(link, room(2, 1000), Some(1), 10)
            .unwrap_err();
        assert_eq!(busy.status, StatusCode::CONFLICT);

        // Another link is not affected.
        arrivals
            .admit(link_id(2), room(1, 10), Some(10), 0)
            .unwrap();

        // A file that ends, committed or not, gives its place back.
        drop(first);
        drop(second);
        assert!(arrivals.0.lock().unwrap().is_empty());
        let undeclared = arrivals.admit(link, room(2, 1000), None, 10).unwrap();
        assert_eq!(undeclared.bytes(), 1000, "no length: all the room");
        let full = arrivals.admit(link, room(2, 1000), None, 10).unwrap_err();
        assert_eq!(full.status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}

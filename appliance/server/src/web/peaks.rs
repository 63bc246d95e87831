//! Waveform peaks for a player's scrubber, in audiowaveform's JSON or `.dat` (version 2), for
//! owners and recipients alike.

use serde::Deserialize;
use studiovault_audio::PeakBits;
use warp::http::header;
use warp::reply::Response;

use super::{ApiError, set};

#[derive(Debug, Deserialize)]
pub struct PeaksQuery {
    zoom: Option<u32>,
    format: Option<String>,
    bits: Option<u8>,
}

/// Answers stored peaks at the zoom, bit depth and format `q` asks for.
pub fn peaks_response(bytes: &[u8], q: &PeaksQuery) -> Result<Response, ApiError> {
    let zoom = q.zoom.unwrap_or(1024);
    let bits = match q.bits.unwrap_or(8) {
        8 => PeakBits::Eight,
        16 => PeakBits::Sixteen,
        _ => return Err(ApiError::bad_request("bits must be 8 or 16")),
    };
    let waveform = crate::analysis::decode_peaks(bytes).ok_or_else(ApiError::internal)?;
    let level = waveform.level(zoom).ok_or_else(|| {
        let zooms: Vec<String> = waveform
            .levels
            .iter()
            .map(|l| l.samples_per_pixel.to_string())
            .collect();
        ApiError::bad_request(format!("zoom must be one of {}", zooms.join(", ")))
    })?;
    let mut res = match q.format.as_deref().unwrap_or("json") {
        "json" => Response::new(level.to_json(bits).into()),
        "dat" => Response::new(level.to_dat(bits).into()),
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown format `{other}` (expected json or dat)"
            )));
        }
    };
    let mime = if q.format.as_deref() == Some("dat") {
        "application/octet-stream"
    } else {
        "application/json"
    };
    set(&mut res, header::CONTENT_TYPE, mime);
    Ok(res)
}

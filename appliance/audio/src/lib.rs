//! Studio Vault's audio engine: decoding, waveform peaks, tempo, key, loudness and
//! melody-to-MIDI.
//!
//! Everything here is pure: callers hand in readers and sample buffers, nothing opens files or
//! sockets, so each piece can be benchmarked and fuzzed on its own.
//!
//! # For the server
//!
//! ```no_run
//! use std::io::Cursor;
//! use std::time::{Duration, Instant};
//! use studiovault_audio::{AnalysisOptions, Container, PeakBits, analyze};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes: Vec<u8> = std::fs::read("take.flac")?; // or any `Read + Seek` over the blob
//! let container = Container::sniff(&bytes).ok_or("not audio")?;
//! let options = AnalysisOptions {
//!     max_duration: Duration::from_secs(3 * 60 * 60),
//!     deadline: Some(Instant::now() + Duration::from_secs(120)),
//!     ..AnalysisOptions::default()
//! };
//! let len = bytes.len() as u64;
//! let analysis = analyze(Cursor::new(bytes), len, container, &options)?;
//! println!("{}", serde_json::to_string(&analysis)?); // tempo, key, loudness, duration…
//! let level = analysis.waveform.level(256).ok_or("no such zoom")?;
//! let dat: Vec<u8> = level.to_dat(PeakBits::Eight); // audiowaveform .dat, version 2
//! let json: String = level.to_json(PeakBits::Sixteen); // audiowaveform JSON, version 2
//! # Ok(())
//! # }
//! ```
//!
//! * [`analyze`] decodes once and computes everything in that pass, in memory bounded by
//!   [`AnalysisOptions::max_duration`]: the decoder holds one packet, the analyses keep about
//!   250 bytes per second of audio (onset envelope, loudness blocks) and the peaks 4 bytes per
//!   pixel and channel (about 700 bytes a second at 256 samples per pixel and 44.1 kHz). It is CPU-bound and synchronous: run it off the request path
//!   (`tokio::task::spawn_blocking` or a worker queue). It takes roughly one second of one core
//!   per 5–10 minutes of audio; see `docs/BENCHMARKS.md`.
//! * Limits: [`AnalysisOptions::max_duration`] fails long streams as soon as the decoder passes
//!   it ([`AnalysisError::TooLong`]); a [`AnalysisOptions::deadline`] or a
//!   [`AnalysisOptions::cancel`] flag is checked between packets. Decoder panics are caught and
//!   reported as [`AnalysisError::Corrupt`]; no input-dependent path panics or hangs.
//! * [`Analysis`] serialises with serde (JSON for `studiovault analyze FILE --json`), without the
//!   waveform, which has its own formats: [`PeakLevel::to_dat`] and [`PeakLevel::to_json`] are
//!   BBC audiowaveform's version 2 formats, which peaks.js / waveform-data.js and wavesurfer.js
//!   read unchanged. Zoom levels come from [`PeaksOptions`] (default 256, 1024 and 4096 samples
//!   per pixel, mono mix; `split_channels` keeps channels apart).
//! * [`extract_melody`] is the on-demand, separate pass that follows the melody (of a full mix
//!   or of an isolated line: a vocal or lead stem) or the bass line, and [`Melody::to_midi`]
//!   writes it as a Standard MIDI File; pass the analysed tempo in [`MelodyOptions::bpm`] so
//!   bars line up in a DAW. It keeps about 9 KB per second of audio (two readings of the
//!   salience, six peaks per 11.6 ms frame): 2 MB for a 4-minute song, 100 MB at a 3-hour
//!   [`MelodyOptions::max_duration`].
//! * [`probe`] is the cheap upload check: it demuxes and decodes the first packets only.
//! * [`analyze_samples`] and [`melody_from_samples`] take PCM already in memory;
//!   [`AudioDecoder`] streams decoded blocks for other uses.
//!
//! # Formats
//!
//! WAV (16/24/32-bit integer, 32-bit float), AIFF, FLAC, MP3, AAC (ADTS or MP4/M4A), ALAC
//! (MP4/M4A) and Ogg Vorbis decode with symphonia; Ogg Opus is demuxed by symphonia and decoded
//! by the pure-Rust `opus-pure` crate. Note that symphonia clamps its Vorbis and MP3 output to
//! ±1.0, so true peaks above 0 dBFS in those files read as at most about 0 dBTP.
//!
//! # Algorithms
//!
//! Analyses run on a mono mix resampled (rubato, FFT resampler) to [`ANALYSIS_RATE`]: tempo from
//! a log spectral-flux onset envelope and an autocorrelation tempogram with a comb and a
//! log-normal tempo prior; key from a tuning-corrected chromagram of spectral peaks against
//! Krumhansl–Kessler and Temperley profiles; loudness per ITU-R BS.1770-4 / EBU R128 (integrated,
//! loudness range per EBU Tech 3342, 4× oversampled true peak) at the source rate; the melody by
//! harmonic-summation pitch salience, pitch contours and their filtering after Salamon & Gómez's
//! Melodia. Each module's documentation gives the details; `bench/melody` and `bench/audio`
//! measure them.

mod analysis;
mod decode;
mod error;
mod flac_guard;
mod key;
mod loudness;
mod melody;
mod midi;
mod mp4_guard;
mod ogg_guard;
mod peaks;
mod probe;
mod resample;
mod stft;
mod tempo;

pub use analysis::{Analysis, AnalysisOptions, analyze, analyze_samples};
pub use decode::{AudioDecoder, Block, ChannelRole, DecodeLimits};
pub use error::AnalysisError;
pub use key::{Key, Mode};
pub use loudness::Loudness;
pub use melody::{Melody, MelodyOptions, MelodyRange, Note, extract_melody, melody_from_samples};
pub use peaks::{PeakBits, PeakLevel, PeaksOptions, Waveform};
pub use probe::{AudioInfo, Container, ProbeError, probe};
pub use resample::ANALYSIS_RATE;
pub use tempo::Tempo;

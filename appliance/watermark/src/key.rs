//! The per-appliance secret and everything derived from it: the tile layout (which tiles
//! carry sync, which carry which code bit, and each tile's keyed ±1 chip) and the keyed
//! functions that scramble and authenticate the payload.

use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;

use crate::code::CODE_BITS;
use crate::geometry::{BANDS, ROWS_PER_CYCLE, TILES_PER_CYCLE};

/// Secret that keys the watermark: without it the mark can be neither read nor forged.
#[derive(Clone, PartialEq, Eq)]
pub struct WatermarkKey([u8; 32]);

impl WatermarkKey {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA-256 under this key, domain-separated by `label`.
    pub(crate) fn prf(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC pads a short key to the hash's 64-byte block; doing it here keeps `new` infallible.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let mut mac = <Hmac<Sha256> as Mac>::new(&block.into());
        mac.update(b"studiovault-watermark/v1/");
        mac.update(label);
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for WatermarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatermarkKey(..)")
    }
}

/// Share of tiles given to the sync pattern; the rest carry code bits.
const SYNC_TILES: usize = TILES_PER_CYCLE / 4;

/// A tile of the cycle: its position and keyed chip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tile {
    pub row: u16,
    pub band: u8,
    /// +1 or −1.
    pub chip: i8,
}

/// Where sync and data live in one watermark cycle, for one key.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub sync: Vec<Tile>,
    /// Data tiles with the code bit each one carries.
    pub data: Vec<(Tile, u16)>,
}

impl Layout {
    pub(crate) fn new(key: &WatermarkKey) -> Self {
        let mut rng = ChaCha20Rng::from_seed(key.prf(b"layout", &[]));
        let mut order: Vec<usize> = (0..TILES_PER_CYCLE).collect();
        order.shuffle(&mut rng);
        let mut chips = vec![0i8; TILES_PER_CYCLE];
        for chip in &mut chips {
            *chip = if rand::Rng::r#gen::<bool>(&mut rng) {
                1
            } else {
                -1
            };
        }
        let tile = |index: usize| Tile {
            row: (index / BANDS) as u16,
            band: (index % BANDS) as u8,
            chip: chips[index],
        };
        let sync = order[..SYNC_TILES].iter().map(|&i| tile(i)).collect();
        let data = order[SYNC_TILES..]
            .iter()
            .enumerate()
            .map(|(n, &i)| (tile(i), (n % CODE_BITS) as u16))
            .collect();
        Self { sync, data }
    }

    /// The ±1 sign each tile of the cycle is pushed towards for this codeword.
    pub(crate) fn signs(&self, codeword: &[bool; CODE_BITS]) -> Vec<i8> {
        let mut signs = vec![0i8; ROWS_PER_CYCLE * BANDS];
        for tile in &self.sync {
            signs[usize::from(tile.row) * BANDS + usize::from(tile.band)] = tile.chip;
        }
        for (tile, bit) in &self.data {
            let value = if codeword[usize::from(*bit)] { 1 } else { -1 };
            signs[usize::from(tile.row) * BANDS + usize::from(tile.band)] = tile.chip * value;
        }
        signs
    }
}

//! Blind detection from any excerpt.
//!
//! The excerpt is mixed to mono and analysed with STFT frames every quarter hop, so one of
//! eight phases lands within 1/16 of a tile row of the embedding grid wherever the excerpt
//! starts. Each tile's log power, minus the mean of its neighbours in time (which removes
//! the music's slow envelope and any fixed EQ), is folded onto one cycle, twice: clipped at
//! ±1 neper (the first detector's reading) and at ±0.05 (the tonal reading, which no note
//! onset in a sparse piece can outvote). The keyed sync tiles then give, for every reading,
//! phase and cycle position, a score that is N(0, 1) without a mark; the best positions are
//! decoded and only a codeword whose keyed check holds is
//! reported, so noise or the wrong key yields "no watermark", not a wrong recipient.

use realfft::RealFftPlanner;
use realfft::num_complex::Complex32;

use crate::Error;
use crate::code::{CODE_BITS, Payload, decode, encode};
use crate::geometry::{BANDS, FRAMES_PER_ROW, Geometry, ROWS_PER_CYCLE, sqrt_hann};
use crate::key::{Layout, WatermarkKey};

/// Analysis frames per embedding hop.
const SUBHOPS: usize = 4;
/// Grid phases tried per tile row.
const PHASES: usize = SUBHOPS * FRAMES_PER_ROW;
/// Whitened tile features are clipped here (natural-log units) so a transient cannot
/// outvote the many tiles around it: per reading, the main bands as the first detector
/// read them, and the tonal reading much tighter. On tonal material a note's onset or end
/// moves a tile by several nepers while the mark moves it by ±0.04 (the tonal floor), so
/// clipping near the mark's own size turns the feature into little more than its sign,
/// which no single transient can outweigh; on busy music this costs little (a sign
/// detector keeps 2/π of a linear one's SNR² under Gaussian noise).
const FEATURE_CLIP: [f32; READINGS] = [1.0, 0.05];

/// Sync positions decoded per assumed speed and reading, best first.
const DECODE_ATTEMPTS: usize = 6;
/// Playback speeds tried when the nominal one finds nothing: ±3 % in 0.2 % steps.
const SPEED_STEP: f64 = 0.002;
const SPEED_RANGE: f64 = 0.03;
/// The speed scan looks at this much audio per candidate before refining the best ones.
const SPEED_SCAN_SECONDS: f64 = 7.0;
/// Speed candidates refined on the whole excerpt.
const SPEED_REFINE_CANDIDATES: usize = 3;
/// Refinement around a coarse candidate, in coarse steps.
const SPEED_REFINE_STEPS: [f64; 5] = [-0.5, -0.25, 0.0, 0.25, 0.5];

/// How hard the detector looks.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// Also try playback speeds within ±3 % when the nominal speed finds nothing
    /// (several times slower on audio that carries no mark).
    pub speed_search: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self { speed_search: true }
    }
}

/// A watermark that was found and whose keyed check holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub payload: Payload,
    /// Normalised correlation of the soft code bits with the decoded codeword, 0–1: 1 means
    /// every code bit came through cleanly; lower values mean a noisier copy (the keyed
    /// check, not this number, is what rules out a wrong payload).
    pub confidence: f32,
    /// Sync score of the position decoded (standard deviations above chance).
    pub sync_score: f32,
    /// Playback speed of the excerpt relative to the marked original (1.0 = unchanged).
    pub speed: f64,
}

/// Soft code bits read at the best sync position: positive leans to 1. Used to score a
/// suspect copy against candidate recipients when the payload itself does not decode,
/// e.g. when several recipients' copies were averaged (collusion).
#[derive(Debug, Clone)]
pub struct SoftBits {
    values: Vec<f32>,
}

impl SoftBits {
    /// Soft bits read elsewhere (e.g. by a CLI that sends them to the appliance for scoring).
    pub fn from_values(values: Vec<f32>) -> Self {
        Self { values }
    }

    /// The soft value of each code bit, scaled to unit RMS.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// How strongly this copy carries `payload`'s codeword, in standard deviations: for an
    /// unrelated payload the score is a Rademacher sum, so P(score ≥ t) ≤ exp(−t²/2).
    pub fn score(&self, key: &WatermarkKey, payload: Payload) -> f64 {
        let codeword = encode(key, payload);
        let dot: f64 = self
            .values
            .iter()
            .zip(codeword)
            .map(|(&v, bit)| if bit { f64::from(v) } else { -f64::from(v) })
            .sum();
        let norm: f64 = self.values.iter().map(|&v| f64::from(v).powi(2)).sum();
        if norm > 0.0 { dot / norm.sqrt() } else { 0.0 }
    }
}

/// Score above which a candidate recipient is named, so that across `candidates` innocent
/// recipients the chance of naming any of them is at most `false_accusation_probability`
/// (union bound over the Hoeffding tail of [`SoftBits::score`]).
pub fn accusation_threshold(candidates: usize, false_accusation_probability: f64) -> f64 {
    let candidates = candidates.max(1) as f64;
    (2.0 * (candidates / false_accusation_probability).ln())
        .max(0.0)
        .sqrt()
}

/// Everything the detector learned from an excerpt.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub detection: Option<Detection>,
    /// Soft bits at the best sync position found, whether or not a payload decoded.
    pub soft_bits: Option<SoftBits>,
    /// Best sync score seen (standard deviations above chance).
    pub sync_score: f32,
}

/// Looks for a watermark under `key`; `Ok(None)` means no watermark was found.
pub fn detect(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    key: &WatermarkKey,
) -> Result<Option<Detection>, Error> {
    Ok(analyze(
        samples,
        sample_rate,
        channels,
        key,
        &DetectOptions::default(),
    )?
    .detection)
}

/// Full detector output: the payload if one decodes, and the soft bits for collusion scoring.
pub fn analyze(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    key: &WatermarkKey,
    options: &DetectOptions,
) -> Result<Analysis, Error> {
    if channels == 0 {
        return Err(Error::NoChannels);
    }
    let channels = usize::from(channels);
    if !samples.len().is_multiple_of(channels) {
        return Err(Error::PartialSampleFrame {
            samples: samples.len(),
            channels,
        });
    }
    Geometry::check_rate(f64::from(sample_rate))?;
    let mono: Vec<f32> = samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let layout = Layout::new(key);
    let rate = f64::from(sample_rate);

    let nominal = Scan::new(&mono, rate, 1.0, &layout)?;
    let mut best = nominal.attempt(key, &layout);
    if best.detection.is_some() || !options.speed_search {
        return Ok(best);
    }

    // A speed change by s looks exactly like the original played at rate/s, so each
    // candidate speed is scanned as an assumed sample rate: first on a short stretch, where
    // a coarse step drifts by less than a tile, then on the whole excerpt around the best.
    let scan_len = ((SPEED_SCAN_SECONDS * rate) as usize).min(mono.len());
    let steps = (SPEED_RANGE / SPEED_STEP).round() as i64;
    let mut coarse = Vec::new();
    for step in -steps..=steps {
        if step == 0 {
            continue;
        }
        let speed = 1.0 + step as f64 * SPEED_STEP;
        let scan = Scan::new(&mono[..scan_len], rate, speed, &layout)?;
        coarse.push((scan.best_score(), speed));
    }
    coarse.sort_by(|a, b| b.0.total_cmp(&a.0));
    for &(_, speed) in coarse.iter().take(SPEED_REFINE_CANDIDATES) {
        let mut refined: Option<Scan> = None;
        for fine in SPEED_REFINE_STEPS {
            let scan = Scan::new(&mono, rate, speed + fine * SPEED_STEP, &layout)?;
            if refined
                .as_ref()
                .is_none_or(|r| scan.best_score() > r.best_score())
            {
                refined = Some(scan);
            }
        }
        if let Some(scan) = refined {
            let analysis = scan.attempt(key, &layout);
            if analysis.detection.is_some() {
                return Ok(analysis);
            }
            if analysis.sync_score > best.sync_score {
                best = analysis;
            }
        }
    }
    Ok(best)
}

/// The two ways the detector reads a cycle, each with its own sync search and decode
/// attempts: features clipped at ±1 neper (the first detector's reading, unchanged) and
/// clipped at ±0.05 (the tonal reading); see [`FEATURE_CLIP`].
const READINGS: usize = 2;

/// A sync position: reading, grid phase and the cycle row of the excerpt's first tile row.
#[derive(Debug, Clone, Copy)]
struct Position {
    reading: usize,
    phase: usize,
    cycle_offset: usize,
    score: f32,
}

/// Whitened tile features of an excerpt folded onto one cycle, for every grid phase, at one
/// assumed playback speed.
struct Scan {
    speed: f64,
    /// `[phase][row][band]`, row-major, [`BANDS`] per row; each cell holds the value of
    /// every reading, side by side, so one sync pass reads both.
    folded: Vec<[f32; READINGS]>,
    /// The best [`DECODE_ATTEMPTS`] positions of each reading, best first.
    positions: Vec<Position>,
}

impl Scan {
    fn new(mono: &[f32], sample_rate: f64, speed: f64, layout: &Layout) -> Result<Self, Error> {
        let geometry = Geometry::new(sample_rate / speed)?;
        let powers = band_powers(mono, &geometry)?;
        let floor = 2e-9 * geometry.window_len as f32;
        let mut folded = vec![[0.0f32; READINGS]; PHASES * ROWS_PER_CYCLE * BANDS];
        let frames_per_row = SUBHOPS * FRAMES_PER_ROW;
        for phase in 0..PHASES {
            // Tile row i of this phase is analysis frames phase + 8i and phase + 8i + 4.
            let rows = (powers.len() + frames_per_row).saturating_sub(phase + SUBHOPS + 1)
                / frames_per_row;
            let features: Vec<[f32; BANDS]> = (0..rows)
                .map(|row| {
                    let first = &powers[phase + row * frames_per_row];
                    let second = &powers[phase + row * frames_per_row + SUBHOPS];
                    std::array::from_fn(|band| (first[band] + second[band] + floor).ln())
                })
                .collect();
            for row in 0..rows {
                let before = features.get(row.wrapping_sub(1));
                let after = features.get(row + 1);
                let offset = (phase * ROWS_PER_CYCLE + row % ROWS_PER_CYCLE) * BANDS;
                for band in 0..BANDS {
                    let neighbours = match (before, after) {
                        (Some(b), Some(a)) => 0.5 * (b[band] + a[band]),
                        (Some(n), None) | (None, Some(n)) => n[band],
                        (None, None) => features[row][band],
                    };
                    let value = features[row][band] - neighbours;
                    let cell = &mut folded[offset + band];
                    for (sum, clip) in cell.iter_mut().zip(FEATURE_CLIP) {
                        *sum += value.clamp(-clip, clip);
                    }
                }
            }
        }
        let positions = sync_positions(&folded, layout);
        Ok(Self {
            speed,
            folded,
            positions,
        })
    }

    fn best_score(&self) -> f32 {
        self.positions
            .first()
            .map_or(f32::NEG_INFINITY, |p| p.score)
    }

    fn cell(&self, position: &Position, cycle_row: usize, band: usize) -> f32 {
        let row = (cycle_row + ROWS_PER_CYCLE - position.cycle_offset) % ROWS_PER_CYCLE;
        self.folded[(position.phase * ROWS_PER_CYCLE + row) * BANDS + band][position.reading]
    }

    fn soft_bits(&self, position: &Position, layout: &Layout) -> [f32; CODE_BITS] {
        let mut soft = [0.0f32; CODE_BITS];
        for (tile, bit) in &layout.data {
            soft[usize::from(*bit)] += f32::from(tile.chip)
                * self.cell(position, usize::from(tile.row), usize::from(tile.band));
        }
        let rms = (soft.iter().map(|v| v * v).sum::<f32>() / CODE_BITS as f32).sqrt();
        if rms > 0.0 {
            soft.iter_mut().for_each(|v| *v /= rms);
        }
        soft
    }

    /// Decodes the best sync positions of both readings, best score first; the first whose
    /// keyed check holds wins.
    fn attempt(&self, key: &WatermarkKey, layout: &Layout) -> Analysis {
        let mut analysis = Analysis {
            detection: None,
            soft_bits: None,
            sync_score: self.best_score(),
        };
        for (rank, position) in self.positions.iter().enumerate() {
            let soft = self.soft_bits(position, layout);
            if rank == 0 {
                analysis.soft_bits = Some(SoftBits {
                    values: soft.to_vec(),
                });
            }
            if let Some(payload) = decode(key, &soft) {
                let codeword = encode(key, payload);
                let agreement: f32 = soft
                    .iter()
                    .zip(codeword)
                    .map(|(&v, bit)| if bit { v } else { -v })
                    .sum();
                analysis.detection = Some(Detection {
                    payload,
                    confidence: agreement / CODE_BITS as f32,
                    sync_score: position.score,
                    speed: self.speed,
                });
                analysis.soft_bits = Some(SoftBits {
                    values: soft.to_vec(),
                });
                break;
            }
        }
        analysis
    }
}

/// Power of each band in analysis frames a quarter hop apart.
fn band_powers(mono: &[f32], geometry: &Geometry) -> Result<Vec<[f32; BANDS]>, Error> {
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(geometry.fft_len);
    let window = sqrt_hann(geometry.window_len);
    let mut time = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = vec![Complex32::default(); fft.get_scratch_len()];
    let step = geometry.hop / SUBHOPS as f64;
    let mut powers = Vec::new();
    for frame in 0usize.. {
        let start = (frame as f64 * step) as usize;
        let Some(segment) = mono.get(start..start + geometry.window_len) else {
            break;
        };
        // The FFT uses its input as scratch, so the zero padding is rewritten every frame.
        time.fill(0.0);
        for ((t, &x), &w) in time.iter_mut().zip(segment).zip(&window) {
            *t = x * w;
        }
        fft.process_with_scratch(&mut time, &mut spectrum, &mut scratch)
            .map_err(|e| Error::Fft(e.to_string()))?;
        let mut bands = [0.0f32; BANDS];
        let bins = &spectrum[geometry.first_bin..][..geometry.band_of_bin.len()];
        for (bin, &band) in bins.iter().zip(&geometry.band_of_bin) {
            bands[usize::from(band)] += bin.norm_sqr();
        }
        powers.push(bands);
    }
    Ok(powers)
}

/// For each reading, every (phase, cycle offset) ranked by its sync score, which is N(0, 1)
/// on unmarked audio; the best [`DECODE_ATTEMPTS`] of each, merged best first.
fn sync_positions(folded: &[[f32; READINGS]], layout: &Layout) -> Vec<Position> {
    const CYCLE: usize = ROWS_PER_CYCLE * BANDS;
    // Two copies of the cycle back to back, so that a tile's cell at any cycle offset is
    // a plain index, without a modulo in the innermost loop.
    let sync: Vec<(usize, f32)> = layout
        .sync
        .iter()
        .map(|t| {
            (
                usize::from(t.row) * BANDS + usize::from(t.band),
                f32::from(t.chip),
            )
        })
        .collect();
    let mut twice = vec![[0.0f32; READINGS]; 2 * CYCLE];
    let mut positions: [Vec<Position>; READINGS] =
        std::array::from_fn(|_| Vec::with_capacity(PHASES * ROWS_PER_CYCLE));
    for phase in 0..PHASES {
        let fold = &folded[phase * CYCLE..][..CYCLE];
        twice[..CYCLE].copy_from_slice(fold);
        twice[CYCLE..].copy_from_slice(fold);
        for cycle_offset in 0..ROWS_PER_CYCLE {
            // Cycle row r of the layout sits at excerpt row r - offset (mod the cycle).
            let shifted = &twice[(ROWS_PER_CYCLE - cycle_offset) * BANDS..][..CYCLE];
            // [dot, energy] of both readings, summed over tiles in 4 independent lanes so
            // that the additions do not wait on each other.
            let mut lanes = [[0.0f32; 4]; 4];
            let mut chunks = sync.chunks_exact(4);
            for chunk in &mut chunks {
                for (lane, &(index, chip)) in lanes.iter_mut().zip(chunk) {
                    let [wide, tonal] = shifted[index];
                    lane[0] += chip * wide;
                    lane[1] += chip * tonal;
                    lane[2] += wide * wide;
                    lane[3] += tonal * tonal;
                }
            }
            for &(index, chip) in chunks.remainder() {
                let [wide, tonal] = shifted[index];
                lanes[0][0] += chip * wide;
                lanes[0][1] += chip * tonal;
                lanes[0][2] += wide * wide;
                lanes[0][3] += tonal * tonal;
            }
            let sum: [f32; 4] = std::array::from_fn(|k| lanes.iter().map(|l| l[k]).sum());
            let dot = [sum[0], sum[1]];
            let energy = [sum[2], sum[3]];
            for (reading, list) in positions.iter_mut().enumerate() {
                let score = if energy[reading] > 0.0 {
                    dot[reading] / energy[reading].sqrt()
                } else {
                    0.0
                };
                list.push(Position {
                    reading,
                    phase,
                    cycle_offset,
                    score,
                });
            }
        }
    }
    let mut best = Vec::with_capacity(READINGS * DECODE_ATTEMPTS);
    for mut list in positions {
        list.sort_by(|a, b| b.score.total_cmp(&a.score));
        best.extend(list.into_iter().take(DECODE_ATTEMPTS));
    }
    best.sort_by(|a, b| b.score.total_cmp(&a.score));
    best
}

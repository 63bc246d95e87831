//! Pitch contours and the melody among them, after Melodia: salient pitches are joined frame
//! to frame into contours; harmonic ghosts, octave duplicates and contours far from the
//! melody's running pitch are dropped; where contours still overlap, the one with the most
//! salience in total is the melody.
//!
//! Two departures from Melodia, both for a [`Reading::Mix`] and chosen on the tuning part of
//! `bench/melody`: a note's attack counts as strong, so its contour starts with the note
//! ([`Class::Attack`]), and of an octave pair the lower contour goes, not the one further from
//! the running pitch ([`drop_octave_duplicates`]).
//!
//! Melodia's voicing filter (dropping contours whose mean salience is under the mean of all
//! minus 0.2 standard deviations) is left out: on the tuning part of `bench/melody` it cost
//! 0.05 of note F1 on mixes and more on isolated lines, where quiet notes are melody too.

use super::salience::{SalienceFrames, SaliencePeak};

/// Peaks under this share of their frame's strongest only continue contours, never start them…
const FRAME_SHARE: f32 = 0.9;
/// …as do peaks more than this many standard deviations under the mean of those left.
const GLOBAL_DEVIATIONS: f32 = 0.9;
/// In a [`Reading::Mix`], a peak at least this share of its frame's strongest, and this many
/// times as salient as anything within half a semitone 2–4 frames (23–46 ms) earlier, is a
/// note's attack.
const ATTACK_SHARE: f32 = 0.7;
const ATTACK_RISE: f32 = 3.0;
const ATTACK_LOOKBACK: std::ops::RangeInclusive<usize> = 2..=4;
/// A contour moves at most this far (semitones) from one frame to the next.
const MAX_STEP: f32 = 0.8;
/// A contour bridges at most this many frames (≈ 100 ms) of weak peaks only.
const MAX_GAP_FRAMES: usize = 9;
/// Shorter contours (≈ 58 ms) are dropped.
const MIN_FRAMES: usize = 5;
/// The melody's running pitch is a mean over this many frames (≈ 5 s).
const PITCH_MEAN_FRAMES: usize = 431;
/// Octave duplicates are this far apart (semitones), give or take half a semitone.
const OCTAVE: f32 = 12.0;
/// Contours further than this (semitones) from the running pitch are outliers.
const OUTLIER: f32 = 12.0;
const FILTER_ROUNDS: usize = 3;

#[derive(Debug, Clone)]
pub(super) struct Contour {
    pub start: usize,
    pub pitches: Vec<f32>,
    pub saliences: Vec<f32>,
}

impl Contour {
    pub fn end(&self) -> usize {
        self.start + self.pitches.len()
    }

    fn total_salience(&self) -> f32 {
        self.saliences.iter().sum()
    }

    fn mean_pitch(&self) -> f32 {
        self.pitches.iter().sum::<f32>() / self.pitches.len().max(1) as f32
    }

    fn mean_salience_over(&self, from: usize, to: usize) -> f32 {
        let slice = &self.saliences[from - self.start..to - self.start];
        slice.iter().sum::<f32>() / slice.len().max(1) as f32
    }

    fn mean_pitch_over(&self, from: usize, to: usize) -> f32 {
        let slice = &self.pitches[from - self.start..to - self.start];
        slice.iter().sum::<f32>() / slice.len().max(1) as f32
    }
}

/// What the salience was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// One voice or instrument: every note is the strongest thing sounding, and nothing else
    /// pulls the running pitch away from it.
    Line,
    /// A full mix: a note's attack builds up under chords that ring on, and the accompaniment
    /// pulls the running pitch down, towards the melody's sub-octave.
    Mix,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// May start or continue a contour.
    Strong,
    /// A note's attack in a mix: continues a contour as a strong peak does, but never starts
    /// one. An attack builds up over the 46 ms window while the chords under it ring on, so it
    /// stays under their share; without this the note's contour would start late.
    Attack,
    /// May only continue one, for a short gap.
    Weak,
    Used,
}

/// Joins the salience peaks into contours.
pub(super) fn track(frames: &SalienceFrames, reading: Reading) -> Vec<Contour> {
    let n = frames.frames();
    let mut class = vec![Class::Weak; frames.peaks.len()];
    let mut frame_of = vec![0usize; frames.peaks.len()];
    for i in 0..n {
        let range = frames.frame(i);
        let strongest = frames.peaks[range.clone()]
            .iter()
            .map(|p| p.salience)
            .fold(0.0, f32::max);
        for k in range {
            frame_of[k] = i;
            let peak = frames.peaks[k];
            if peak.salience >= FRAME_SHARE * strongest {
                class[k] = Class::Strong;
            } else if reading == Reading::Mix
                && peak.salience >= ATTACK_SHARE * strongest
                && is_attack(frames, i, peak)
            {
                class[k] = Class::Attack;
            }
        }
    }
    let strong: Vec<f32> = frames
        .peaks
        .iter()
        .zip(&class)
        .filter(|(_, c)| matches!(c, Class::Strong | Class::Attack))
        .map(|(p, _)| p.salience)
        .collect();
    let (mean, deviation) = mean_and_deviation(&strong);
    let floor = mean - GLOBAL_DEVIATIONS * deviation;
    for (p, c) in frames.peaks.iter().zip(class.iter_mut()) {
        if matches!(c, Class::Strong | Class::Attack) && p.salience < floor {
            *c = Class::Weak;
        }
    }
    let mut order: Vec<usize> = (0..frames.peaks.len())
        .filter(|&k| class[k] == Class::Strong)
        .collect();
    order.sort_by(|&a, &b| {
        frames.peaks[b]
            .salience
            .total_cmp(&frames.peaks[a].salience)
    });

    let mut contours = Vec::new();
    for seed in order {
        if class[seed] != Class::Strong {
            continue;
        }
        class[seed] = Class::Used;
        let at = frame_of[seed];
        let first = frames.peaks[seed];
        let ahead = follow(frames, &mut class, at, first.pitch, 1);
        let behind = follow(frames, &mut class, at, first.pitch, -1);
        let start = at - behind.len();
        let mut peaks: Vec<SaliencePeak> = behind.into_iter().rev().collect();
        peaks.push(first);
        peaks.extend(ahead);
        if peaks.len() >= MIN_FRAMES {
            contours.push(Contour {
                start,
                pitches: peaks.iter().map(|p| p.pitch).collect(),
                saliences: peaks.iter().map(|p| p.salience).collect(),
            });
        }
    }
    contours.sort_by_key(|c| c.start);
    contours
}

/// Whether `peak`, in frame `at`, is much more salient than anything at its pitch shortly
/// before.
fn is_attack(frames: &SalienceFrames, at: usize, peak: SaliencePeak) -> bool {
    let (Some(from), Some(to)) = (
        at.checked_sub(*ATTACK_LOOKBACK.end()),
        at.checked_sub(*ATTACK_LOOKBACK.start()),
    ) else {
        return false;
    };
    let before = (from..=to)
        .flat_map(|j| &frames.peaks[frames.frame(j)])
        .filter(|p| (p.pitch - peak.pitch).abs() <= 0.5)
        .map(|p| p.salience)
        .fold(0.0, f32::max);
    peak.salience >= ATTACK_RISE * before
}

/// Follows a contour from frame `at` in direction `step` (±1); returns the peaks taken, in
/// the order met, ending on the last strong one.
fn follow(
    frames: &SalienceFrames,
    class: &mut [Class],
    at: usize,
    mut pitch: f32,
    step: isize,
) -> Vec<SaliencePeak> {
    let mut taken: Vec<(usize, SaliencePeak)> = Vec::new();
    let mut last_strong = 0;
    let mut i = at;
    while let Some(next) = i.checked_add_signed(step).filter(|&n| n < frames.frames()) {
        i = next;
        let nearest = frames
            .frame(i)
            .filter(|&k| class[k] != Class::Used)
            .map(|k| (k, (frames.peaks[k].pitch - pitch).abs()))
            .filter(|&(_, d)| d <= MAX_STEP)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((k, _)) = nearest else { break };
        let strong = matches!(class[k], Class::Strong | Class::Attack);
        if !strong && taken.len() + 1 - last_strong > MAX_GAP_FRAMES {
            break;
        }
        class[k] = Class::Used;
        pitch = frames.peaks[k].pitch;
        taken.push((k, frames.peaks[k]));
        if strong {
            last_strong = taken.len();
        }
    }
    // Weak peaks after the last strong one were a gap that never closed: give them back.
    for &(k, _) in &taken[last_strong..] {
        class[k] = Class::Weak;
    }
    taken.truncate(last_strong);
    taken.into_iter().map(|(_, p)| p).collect()
}

fn mean_and_deviation(values: &[f32]) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, variance.sqrt() as f32)
}

/// One frame of the melody line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct MelodyFrame {
    /// Semitones on the MIDI scale, fractional.
    pub pitch: f32,
    pub salience: f32,
    /// Which contour it comes from: a change of contour starts a new note.
    pub contour: usize,
}

/// The melody among the contours: per frame, the chosen contour's pitch, or `None` where
/// unvoiced.
pub(super) fn select(
    contours: &[Contour],
    frames: usize,
    reading: Reading,
) -> Vec<Option<MelodyFrame>> {
    let mut alive = vec![true; contours.len()];
    drop_harmonic_ghosts(contours, &mut alive);
    for _ in 0..FILTER_ROUNDS {
        let running = running_pitch(contours, &alive, frames);
        drop_octave_duplicates(contours, &mut alive, &running, reading);
        let running = running_pitch(contours, &alive, frames);
        for (c, keep) in contours.iter().zip(alive.iter_mut()) {
            if *keep && (c.mean_pitch() - mean_over(&running, c.start, c.end())).abs() > OUTLIER {
                *keep = false;
            }
        }
    }
    let mut melody: Vec<Option<MelodyFrame>> = vec![None; frames];
    let mut best_total = vec![0.0f32; frames];
    for (index, c) in contours.iter().enumerate() {
        if !alive[index] {
            continue;
        }
        let total = c.total_salience();
        for (offset, (&p, &s)) in c.pitches.iter().zip(&c.saliences).enumerate() {
            let frame = c.start + offset;
            if melody[frame].is_none() || total > best_total[frame] {
                melody[frame] = Some(MelodyFrame {
                    pitch: p,
                    salience: s,
                    contour: index,
                });
                best_total[frame] = total;
            }
        }
    }
    melody
}

fn mean_over(values: &[f32], from: usize, to: usize) -> f32 {
    let slice = &values[from..to];
    slice.iter().sum::<f32>() / slice.len().max(1) as f32
}

/// The melody's running pitch: per frame, the mean pitch of the live contours weighted by
/// their total salience, held across frames without any, then averaged over ≈ 5 s.
fn running_pitch(contours: &[Contour], alive: &[bool], frames: usize) -> Vec<f32> {
    let mut weighted = vec![0.0f64; frames];
    let mut weight = vec![0.0f64; frames];
    for (c, _) in contours.iter().zip(alive).filter(|(_, a)| **a) {
        let total = f64::from(c.total_salience());
        for (offset, &p) in c.pitches.iter().enumerate() {
            weighted[c.start + offset] += f64::from(p) * total;
            weight[c.start + offset] += total;
        }
    }
    let mut held = Vec::with_capacity(frames);
    let mut last = None;
    for (w, sum) in weight.iter().zip(&weighted) {
        if *w > 0.0 {
            last = Some(sum / w);
        }
        held.push(last);
    }
    // Leading frames before any contour take the first value seen.
    let first = held.iter().flatten().next().copied().unwrap_or(60.0);
    let held: Vec<f64> = held.into_iter().map(|v| v.unwrap_or(first)).collect();
    let mut prefix = Vec::with_capacity(frames + 1);
    prefix.push(0.0f64);
    for v in &held {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    let half = PITCH_MEAN_FRAMES / 2;
    (0..frames)
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(frames));
            ((prefix[b] - prefix[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// How much contours overlap, harmonic ghosts aside: extra contours per voiced frame. Near 0
/// for one voice or instrument alone, 0.3–0.5 for a band.
pub(super) fn polyphony(contours: &[Contour], frames: usize) -> f32 {
    let mut alive = vec![true; contours.len()];
    drop_harmonic_ghosts(contours, &mut alive);
    let mut count = vec![0u32; frames];
    for (c, _) in contours.iter().zip(&alive).filter(|(_, a)| **a) {
        for n in &mut count[c.start..c.end()] {
            *n += 1;
        }
    }
    let voiced = count.iter().filter(|&&n| n > 0).count().max(1);
    let extra: u32 = count.iter().map(|&n| n.saturating_sub(1)).sum();
    extra as f32 / voiced as f32
}

/// Harmonic summation also makes pitches an octave, a twelfth or two octaves above a loud
/// note salient: a contour sitting there over most of its length, weaker than the note
/// beneath, is that note's ghost.
fn drop_harmonic_ghosts(contours: &[Contour], alive: &mut [bool]) {
    let mut ghosts = vec![false; contours.len()];
    for a in 0..contours.len() {
        for b in a + 1..contours.len() {
            let (ca, cb) = (&contours[a], &contours[b]);
            if cb.start >= ca.end() {
                break;
            }
            let (from, to) = (cb.start, ca.end().min(cb.end()));
            let (pa, pb) = (ca.mean_pitch_over(from, to), cb.mean_pitch_over(from, to));
            let (lo, hi, hi_index) = if pa < pb { (ca, cb, b) } else { (cb, ca, a) };
            if 2 * (to - from) < hi.pitches.len() {
                continue;
            }
            let gap = (pa - pb).abs();
            if ![12.0, 19.0, 24.0].iter().any(|h| (gap - h).abs() <= 0.5) {
                continue;
            }
            if lo.mean_salience_over(from, to) >= hi.mean_salience_over(from, to) {
                ghosts[hi_index] = true;
            }
        }
    }
    for (keep, ghost) in alive.iter_mut().zip(ghosts) {
        *keep &= !ghost;
    }
}

/// Of two contours an octave apart over most of their common frames, drops one: in a line, the
/// one further from the running pitch (Melodia's rule); in a mix, the lower. Harmonic summation
/// credits half a note's pitch with every other partial of the note, and in a mix the
/// accompaniment's partials fill in the rest, so a note's sub-octave is often salient, and the
/// accompaniment pulls the running pitch down towards it. Where the lower contour is the note, it
/// is the more salient and [`drop_harmonic_ghosts`] has already dropped the upper.
fn drop_octave_duplicates(
    contours: &[Contour],
    alive: &mut [bool],
    running: &[f32],
    reading: Reading,
) {
    for a in 0..contours.len() {
        if !alive[a] {
            continue;
        }
        for b in a + 1..contours.len() {
            let (ca, cb) = (&contours[a], &contours[b]);
            if cb.start >= ca.end() {
                // Sorted by start: no later contour overlaps `a` either.
                break;
            }
            if !alive[b] {
                continue;
            }
            let (from, to) = (cb.start, ca.end().min(cb.end()));
            let shorter = ca.pitches.len().min(cb.pitches.len());
            if 2 * (to - from) < shorter {
                continue;
            }
            let gap = ca.mean_pitch_over(from, to) - cb.mean_pitch_over(from, to);
            if (gap.abs() - OCTAVE).abs() > 0.5 {
                continue;
            }
            let drop_a = match reading {
                Reading::Line => {
                    let distance =
                        |c: &Contour| (c.mean_pitch() - mean_over(running, c.start, c.end())).abs();
                    distance(ca) > distance(cb)
                }
                Reading::Mix => gap < 0.0,
            };
            if drop_a {
                alive[a] = false;
                break;
            }
            alive[b] = false;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Salience frames from each frame's (pitch, salience) peaks.
    fn salience_frames(per_frame: &[Vec<(f32, f32)>]) -> SalienceFrames {
        let mut frames = SalienceFrames::default();
        for peaks in per_frame {
            frames.peaks.extend(
                peaks
                    .iter()
                    .map(|&(pitch, salience)| SaliencePeak { pitch, salience }),
            );
            frames.starts.push(frames.peaks.len() as u32);
        }
        frames
    }

    fn steady(pitch: f32, salience: f32, start: usize, len: usize) -> Contour {
        Contour {
            start,
            pitches: vec![pitch; len],
            saliences: vec![salience; len],
        }
    }

    #[test]
    fn in_a_mix_a_notes_contour_starts_with_its_attack() {
        // A chord's C4 rings on; at frame 10 an E5 starts, building up for four frames to just
        // under the chord's share, then stays louder. A quieter chord follows alone, so the
        // spread of the strong peaks is that of music rather than of two constants.
        let mut per_frame: Vec<Vec<(f32, f32)>> = (0..60)
            .map(|i| {
                let e5 = match i {
                    10 => Some(0.2),
                    11 => Some(0.5),
                    12 => Some(0.8),
                    13 => Some(0.85),
                    14..=30 => Some(0.95),
                    _ => None,
                };
                std::iter::once((60.0, 1.0))
                    .chain(e5.map(|s| (76.0, s)))
                    .collect()
            })
            .collect();
        per_frame.extend((0..60).map(|_| vec![(55.0, 0.4)]));
        let frames = salience_frames(&per_frame);
        let e5_starts = |reading| {
            track(&frames, reading)
                .iter()
                .find(|c| (c.mean_pitch() - 76.0).abs() < 0.5)
                .map(|c| c.start)
        };
        // Frame 12 rose fourfold on frame 10: the attack. Frames 10 and 11 are too weak still.
        assert_eq!(e5_starts(Reading::Mix), Some(12));
        assert_eq!(e5_starts(Reading::Line), Some(14));
    }

    #[test]
    fn in_a_mix_the_lower_of_an_octave_pair_goes() {
        // E5 and its weaker sub-octave over the same frames, and an E3 part that pulls the
        // running pitch down to the sub-octave's side.
        let contours = [
            steady(76.0, 1.0, 0, 50),
            steady(64.0, 0.7, 0, 50),
            steady(52.0, 0.5, 0, 50),
        ];
        let melody_at_25 = |reading| select(&contours, 50, reading)[25].map(|f| f.pitch);
        assert_eq!(melody_at_25(Reading::Mix), Some(76.0));
        // In a line there is no accompaniment to pull the running pitch: Melodia's rule.
        assert_eq!(melody_at_25(Reading::Line), Some(64.0));
    }
}

//! The melody's frame-by-frame pitch cut into notes: a note ends where the line falls silent,
//! passes to another contour, settles on another semitone, or is struck again (its salience
//! jumps after a dip, or, in an isolated line, at an onset: a peak of the spectral flux).

use super::Note;
use super::contours::MelodyFrame;
use super::salience::SalienceFrames;

/// A new semitone must hold this many frames (≈ 46 ms) to start a note: slides and vibrato
/// pass through others on the way.
const SETTLE_FRAMES: usize = 4;
/// A rise of the line's salience by this factor over its lowest in the last few frames is a
/// new attack of the same pitch.
const REATTACK: f32 = 3.5;
const REATTACK_LOOKBACK: usize = 6;
/// An onset is the strongest within this many frames (≈ 35 ms) either side…
const ONSET_REACH: usize = 3;
/// …and stands out from the ≈ 0.5 s around it…
const ONSET_CONTEXT: usize = 20;
/// …by this many times the recording's median onset strength.
const ONSET_MARGIN: f32 = 2.0;
/// An onset strikes the note again only if it is at least this share of the note's own attack:
/// a tremolo's swells (an eighth of the attack on a GM flute) do not.
const RESTRIKE_SHARE: f32 = 0.3;
const MIN_NOTE_FRAMES: usize = 5;
/// Notes shorter than this (≈ 93 ms) running straight into a longer one are its attack.
const ATTACK_FRAMES: usize = 8;
/// Notes start this long before the centre of their first frame: the window hears an attack
/// before its centre reaches it.
const ONSET_LEAD_SECS: f64 = 0.03;

/// Frame pitches corrected by the recording's tuning (the circular mean of every voiced
/// frame's distance from the nearest semitone), so an orchestra tuned to 435 Hz stays on its
/// notes.
fn tuned(melody: &[Option<MelodyFrame>]) -> Vec<Option<MelodyFrame>> {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for frame in melody.iter().flatten() {
        let phase = std::f64::consts::TAU * f64::from(frame.pitch);
        let weight = f64::from(frame.salience);
        re += weight * phase.cos();
        im += weight * phase.sin();
    }
    let offset = if re == 0.0 && im == 0.0 {
        0.0
    } else {
        (im.atan2(re) / std::f64::consts::TAU) as f32
    };
    melody
        .iter()
        .map(|f| {
            f.map(|frame| MelodyFrame {
                pitch: frame.pitch - offset,
                ..frame
            })
        })
        .collect()
}

/// Frames where a note starts: peaks of the onset strength over their ±`ONSET_REACH`
/// neighbours that stand above the median of the ±`ONSET_CONTEXT` frames around them by
/// `ONSET_MARGIN` times the median of the whole recording.
fn onsets(flux: &[f32]) -> Vec<bool> {
    let mut sorted = flux.to_vec();
    sorted.sort_by(f32::total_cmp);
    let typical = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    (0..flux.len())
        .map(|i| {
            let near = &flux[i.saturating_sub(ONSET_REACH)..(i + ONSET_REACH + 1).min(flux.len())];
            if near.iter().any(|&f| f > flux[i]) {
                return false;
            }
            let mut around = flux
                [i.saturating_sub(ONSET_CONTEXT)..(i + ONSET_CONTEXT + 1).min(flux.len())]
                .to_vec();
            around.sort_by(f32::total_cmp);
            flux[i] > around[around.len() / 2] + ONSET_MARGIN * typical
        })
        .collect()
}

/// `flux`: the onset strength of each frame for an isolated line, empty for a mix.
pub(super) fn segment(melody: &[Option<MelodyFrame>], flux: &[f32]) -> Vec<Note> {
    let onsets = onsets(flux);
    struct Open {
        start: usize,
        semitone: i32,
        contour: usize,
        peak: f32,
        pitches: Vec<f32>,
    }
    let melody = tuned(melody);
    let loudest = melody
        .iter()
        .flatten()
        .map(|f| f.salience)
        .fold(0.0f32, f32::max);
    let mut notes = Vec::new();
    let close = |note: &Open, end: usize, notes: &mut Vec<Note>| {
        if end - note.start < MIN_NOTE_FRAMES {
            return;
        }
        let start = (SalienceFrames::frame_secs(note.start) - ONSET_LEAD_SECS).max(0.0);
        let duration = (end - note.start) as f64 * SalienceFrames::hop_secs();
        let mut pitches = note.pitches.clone();
        pitches.sort_by(f32::total_cmp);
        let pitch = pitches[pitches.len() / 2].round() as i32;
        let db = 20.0 * (note.peak / loudest).max(1e-6).log10();
        // −40 dB under the loudest note → 20, the loudest → 110.
        let velocity = (110.0 + db * 90.0 / 40.0).clamp(20.0, 110.0) as u8;
        notes.push(Note {
            start_secs: (start * 1000.0).round() / 1000.0,
            duration_secs: (duration * 1000.0).round() / 1000.0,
            pitch: pitch.clamp(0, 127) as u8,
            velocity,
        });
    };
    let semitone_at = |i: usize| melody[i].map(|f| f.pitch.round() as i32);
    let mut open: Option<Open> = None;
    for i in 0..melody.len() {
        let Some(MelodyFrame {
            pitch,
            salience,
            contour,
        }) = melody[i]
        else {
            if let Some(note) = open.take() {
                close(&note, i, &mut notes);
            }
            continue;
        };
        let semitone = semitone_at(i).unwrap_or_default();
        if let Some(note) = &mut open {
            let settled = (i..(i + SETTLE_FRAMES).min(melody.len())).all(|j| {
                semitone_at(j) == Some(semitone) && melody[j].map(|f| f.contour) == Some(contour)
            });
            let moved = semitone != note.semitone && settled;
            let dip = melody[i.saturating_sub(REATTACK_LOOKBACK)..i]
                .iter()
                .flatten()
                .filter(|f| f.contour == contour)
                .map(|f| f.salience)
                .fold(f32::INFINITY, f32::min);
            let attack = flux
                .get(
                    note.start.saturating_sub(ONSET_REACH)
                        ..(note.start + ONSET_REACH + 1).min(flux.len()),
                )
                .unwrap_or(&[])
                .iter()
                .copied()
                .fold(0.0f32, f32::max);
            let restruck = onsets.get(i) == Some(&true)
                && flux.get(i).is_some_and(|&f| f >= RESTRIKE_SHARE * attack);
            let struck =
                (salience > REATTACK * dip || restruck) && i - note.start >= MIN_NOTE_FRAMES;
            if contour != note.contour || moved || struck {
                let Some(done) = open.take() else { continue };
                close(&done, i, &mut notes);
            } else {
                note.peak = note.peak.max(salience);
                note.pitches.push(pitch);
                continue;
            }
        }
        open = Some(Open {
            start: i,
            semitone,
            contour,
            peak: salience,
            pitches: vec![pitch],
        });
    }
    if let Some(note) = open {
        close(&note, melody.len(), &mut notes);
    }
    merge_attacks(&mut notes);
    notes
}

/// An instrument's attack is often broadband for a few frames before its partials settle, and
/// reads as a short note at some other pitch: a short note that runs straight into a longer
/// one is folded into it, lending it its start.
fn merge_attacks(notes: &mut Vec<Note>) {
    let hop = SalienceFrames::hop_secs();
    let short = ATTACK_FRAMES as f64 * hop;
    let mut merged: Vec<Note> = Vec::with_capacity(notes.len());
    for note in notes.drain(..) {
        if let Some(last) = merged.last_mut() {
            let last_end = last.start_secs + last.duration_secs;
            if last.duration_secs < short
                && note.start_secs - last_end <= 2.5 * hop
                && note.duration_secs > last.duration_secs
            {
                let end = note.start_secs + note.duration_secs;
                *last = Note {
                    start_secs: last.start_secs,
                    duration_secs: ((end - last.start_secs) * 1000.0).round() / 1000.0,
                    ..note
                };
                continue;
            }
        }
        merged.push(note);
    }
    *notes = merged;
}

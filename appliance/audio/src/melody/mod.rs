//! Melody or bass line to MIDI.
//!
//! The melody is found the way Melodia does (Salamon & Gómez, 2012), so it works on a full mix
//! as well as on an isolated line: pitch salience by harmonic summation ([`salience`]), pitch
//! contours with harmonic-ghost, octave-duplicate and outlier filtering ([`contours`]), then
//! notes ([`notes`]). The bass line
//! is the McLeod pitch of a low-passed signal per 11.6 ms frame (the `pitch-detection` crate),
//! median-smoothed, segmented into notes where the pitch moves by more than ¾ of a semitone,
//! the signal drops out, or the level jumps (a re-attack).

mod contours;
mod notes;
mod salience;

use std::io::{Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use pitch_detection::detector::PitchDetector;
use pitch_detection::detector::mcleod::McLeodDetector;
use serde::{Deserialize, Serialize};

use crate::analysis::mix_to_mono;
use crate::decode::{AudioDecoder, DecodeLimits};
use crate::error::AnalysisError;
use crate::midi::{TimedNote, write_smf};
use crate::probe::Container;
use crate::resample::{ANALYSIS_RATE, MonoResampler};
use contours::Reading;

// The bass tracker's frames and note rules.
const HOP: usize = 128;
const WINDOW: usize = 1_024;
/// Frames below this RMS (−50 dBFS) are unvoiced.
const SILENCE_RMS: f32 = 0.003_16;
const MIN_NOTE_SECS: f64 = 0.07;
/// Pitch moves larger than this (semitones) start a new note.
const NOTE_TOLERANCE: f32 = 0.75;
/// A level rise of this factor between frames is a re-attack (≈ 6 dB).
const REATTACK: f32 = 2.0;

/// Which line to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelodyRange {
    /// The lead line, 55 Hz – 1.76 kHz (A1–A6): the voice or instrument out front of a mix.
    Melody,
    /// Bass line, 30–350 Hz (B0–F4), after a low-pass that keeps the bass ahead of the rest.
    Bass,
}

/// Contours overlapping (other than a note's harmonics) for this share of the voiced time
/// make a mix rather than an isolated line.
const POLYPHONIC: f32 = 0.2;

/// The bass line's range, 30–350 Hz (B0–F4).
const BASS_HZ: (f32, f32) = (30.0, 350.0);

#[derive(Debug, Clone)]
pub struct MelodyOptions {
    pub range: MelodyRange,
    /// Tempo written into the MIDI file (e.g. from [`crate::Analysis::tempo`]); 120 if `None`.
    pub bpm: Option<f64>,
    pub max_duration: Duration,
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for MelodyOptions {
    fn default() -> Self {
        Self {
            range: MelodyRange::Melody,
            bpm: None,
            max_duration: Duration::from_secs(3 * 60 * 60),
            deadline: None,
            cancel: None,
        }
    }
}

/// A note of the extracted line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub start_secs: f64,
    pub duration_secs: f64,
    /// MIDI note number, 60 = middle C.
    pub pitch: u8,
    pub velocity: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Melody {
    pub range: MelodyRange,
    pub bpm: f64,
    pub notes: Vec<Note>,
}

impl Melody {
    /// A Standard MIDI File (format 0, 480 ticks per quarter) of the notes at the melody's tempo.
    pub fn to_midi(&self) -> Vec<u8> {
        let notes: Vec<TimedNote> = self
            .notes
            .iter()
            .map(|n| TimedNote {
                start_secs: n.start_secs,
                duration_secs: n.duration_secs,
                pitch: n.pitch,
                velocity: n.velocity,
            })
            .collect();
        let (name, program) = match self.range {
            MelodyRange::Melody => ("Studio Vault melody", 0),
            // General MIDI program 34, electric bass (finger).
            MelodyRange::Bass => ("Studio Vault bass", 33),
        };
        write_smf(&notes, self.bpm, name, program, 0)
    }
}

/// One frame's pitch estimate: semitones (MIDI scale) if voiced, and RMS.
#[derive(Debug, Clone, Copy)]
struct Frame {
    pitch: Option<f32>,
    rms: f32,
}

/// Runs the pitch detector over a streamed mono signal at the analysis rate, for the bass.
struct BassTracker {
    detector: McLeodDetector<f32>,
    pending: Vec<f32>,
    window: Vec<f32>,
    frames: Vec<Frame>,
    /// Two cascaded one-pole low-passes, so the bass stays ahead of the rest.
    lowpass: (f32, f32, f32),
}

impl std::fmt::Debug for BassTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BassTracker")
            .field("frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

impl BassTracker {
    fn new() -> Self {
        let cutoff = 400.0;
        let coefficient = 1.0 - (-2.0 * std::f32::consts::PI * cutoff / ANALYSIS_RATE as f32).exp();
        Self {
            detector: McLeodDetector::new(WINDOW, WINDOW / 2),
            pending: Vec::new(),
            window: vec![0.0; WINDOW],
            frames: Vec::new(),
            lowpass: (coefficient, 0.0, 0.0),
        }
    }

    fn push(&mut self, samples: &[f32]) {
        let (k, a, b) = &mut self.lowpass;
        self.pending.extend(samples.iter().map(|&x| {
            *a += *k * (x - *a);
            *b += *k * (*a - *b);
            *b
        }));
        let (lo, hi) = BASS_HZ;
        let mut start = 0;
        while self.pending.len() - start >= WINDOW {
            self.window
                .copy_from_slice(&self.pending[start..start + WINDOW]);
            let energy: f32 = self.window.iter().map(|s| s * s).sum();
            let rms = (energy / WINDOW as f32).sqrt();
            let pitch = if rms >= SILENCE_RMS && rms.is_finite() {
                self.detector
                    .get_pitch(&self.window, ANALYSIS_RATE as usize, 0.0, 0.7)
                    .map(|p| p.frequency)
                    .filter(|hz| (lo..=hi).contains(hz))
                    .map(|hz| 69.0 + 12.0 * (hz / 440.0).log2())
            } else {
                None
            };
            self.frames.push(Frame { pitch, rms });
            start += HOP;
        }
        self.pending.drain(..start);
    }

    fn finish(self) -> Vec<Note> {
        segment(&smooth(&self.frames))
    }
}

/// Follows the line a [`MelodyRange`] asks for over a streamed mono signal.
#[derive(Debug)]
enum Tracker {
    Lead(Box<salience::SalienceTracker>),
    Bass(BassTracker),
}

impl Tracker {
    fn new(range: MelodyRange) -> Self {
        match range {
            MelodyRange::Melody => Self::Lead(Box::new(salience::SalienceTracker::new())),
            MelodyRange::Bass => Self::Bass(BassTracker::new()),
        }
    }

    fn push(&mut self, samples: &[f32]) {
        match self {
            Self::Lead(t) => t.push(samples),
            Self::Bass(t) => t.push(samples),
        }
    }

    fn finish(self) -> Vec<Note> {
        match self {
            Self::Lead(t) => {
                let salience = t.finish();
                // An isolated line is followed in the plain reading; a mix, where contours
                // overlap, in the loudness-weighted one. In an isolated line every onset is
                // the line's own, so notes also split there; in a mix most onsets belong to
                // the drums and the accompaniment.
                let plain = contours::track(&salience.plain, Reading::Line);
                let (reading, frames, lines, flux) =
                    if contours::polyphony(&plain, salience.plain.frames()) < POLYPHONIC {
                        (Reading::Line, &salience.plain, plain, &salience.flux[..])
                    } else {
                        let weighted = contours::track(&salience.weighted, Reading::Mix);
                        (Reading::Mix, &salience.weighted, weighted, &[][..])
                    };
                notes::segment(&contours::select(&lines, frames.frames(), reading), flux)
            }
            Self::Bass(t) => t.finish(),
        }
    }
}

/// Median of each voiced frame's pitch with its voiced neighbours (5 frames).
fn smooth(frames: &[Frame]) -> Vec<Frame> {
    (0..frames.len())
        .map(|i| {
            let Some(_) = frames[i].pitch else {
                return frames[i];
            };
            let mut around: Vec<f32> = frames[i.saturating_sub(2)..(i + 3).min(frames.len())]
                .iter()
                .filter_map(|f| f.pitch)
                .collect();
            around.sort_by(f32::total_cmp);
            Frame {
                pitch: around.get(around.len() / 2).copied(),
                rms: frames[i].rms,
            }
        })
        .collect()
}

fn frame_secs() -> f64 {
    HOP as f64 / f64::from(ANALYSIS_RATE)
}

fn segment(frames: &[Frame]) -> Vec<Note> {
    struct Open {
        start: usize,
        pitches: Vec<f32>,
        peak_rms: f32,
    }
    let mut notes = Vec::new();
    let mut open: Option<Open> = None;
    let close = |note: Open, end: usize, notes: &mut Vec<Note>| {
        let duration = (end - note.start) as f64 * frame_secs();
        if duration < MIN_NOTE_SECS {
            return;
        }
        let mut pitches = note.pitches;
        pitches.sort_by(f32::total_cmp);
        let Some(&median) = pitches.get(pitches.len() / 2) else {
            return;
        };
        let db = 20.0 * note.peak_rms.max(1e-6).log10();
        // −50 dBFS → 20, −6 dBFS and above → 127.
        let velocity = (20.0 + (db + 50.0) / 44.0 * 107.0).clamp(1.0, 127.0) as u8;
        notes.push(Note {
            start_secs: (note.start as f64 * frame_secs() * 1000.0).round() / 1000.0,
            duration_secs: (duration * 1000.0).round() / 1000.0,
            pitch: median.round().clamp(0.0, 127.0) as u8,
            velocity,
        });
    };
    for (i, frame) in frames.iter().enumerate() {
        let reattack = i > 0 && frame.rms > REATTACK * frames[i - 1].rms.max(SILENCE_RMS);
        match (frame.pitch, open.take()) {
            (Some(p), Some(mut note)) => {
                let centre = note.pitches.iter().sum::<f32>() / note.pitches.len() as f32;
                if (p - centre).abs() > NOTE_TOLERANCE || reattack {
                    close(note, i, &mut notes);
                    open = Some(Open {
                        start: i,
                        pitches: vec![p],
                        peak_rms: frame.rms,
                    });
                } else {
                    note.pitches.push(p);
                    note.peak_rms = note.peak_rms.max(frame.rms);
                    open = Some(note);
                }
            }
            (Some(p), None) => {
                open = Some(Open {
                    start: i,
                    pitches: vec![p],
                    peak_rms: frame.rms,
                });
            }
            (None, Some(note)) => close(note, i, &mut notes),
            (None, None) => {}
        }
    }
    if let Some(note) = open {
        close(note, frames.len(), &mut notes);
    }
    notes
}

/// Extracts a monophonic line from `source` (a separate decode pass, on demand only).
pub fn extract_melody<R>(
    source: R,
    len: u64,
    container: Container,
    options: &MelodyOptions,
) -> Result<Melody, AnalysisError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    catch_unwind(AssertUnwindSafe(|| {
        extract(source, len, container, options)
    }))
    .unwrap_or_else(|_| {
        Err(AnalysisError::Corrupt(
            "the melody extraction failed on this stream".into(),
        ))
    })
}

fn extract<R>(
    source: R,
    len: u64,
    container: Container,
    options: &MelodyOptions,
) -> Result<Melody, AnalysisError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let limits = DecodeLimits {
        max_duration: Some(options.max_duration),
        deadline: options.deadline,
        cancel: options.cancel.clone(),
    };
    let mut decoder = AudioDecoder::open(source, len, container, limits)?;
    let mut tracker = Tracker::new(options.range);
    let mut resampler: Option<MonoResampler> = None;
    let mut mono = Vec::new();
    while let Some(block) = decoder.next_block()? {
        let resampler = match &mut resampler {
            Some(r) => r,
            None => resampler.insert(MonoResampler::new(block.sample_rate)?),
        };
        mix_to_mono(block.samples, block.channels, &mut mono);
        resampler.push(&mono, &mut |chunk| tracker.push(chunk))?;
    }
    if let Some(r) = resampler {
        r.finish(&mut |chunk| tracker.push(chunk))?;
    }
    Ok(Melody {
        range: options.range,
        bpm: options.bpm.unwrap_or(120.0),
        notes: tracker.finish(),
    })
}

/// [`extract_melody`] for a mono signal already in memory at `sample_rate`.
pub fn melody_from_samples(
    mono: &[f32],
    sample_rate: u32,
    options: &MelodyOptions,
) -> Result<Melody, AnalysisError> {
    let mut tracker = Tracker::new(options.range);
    let mut resampler = MonoResampler::new(sample_rate)?;
    for chunk in mono.chunks(4096) {
        resampler.push(chunk, &mut |c| tracker.push(c))?;
    }
    resampler.finish(&mut |c| tracker.push(c))?;
    Ok(Melody {
        range: options.range,
        bpm: options.bpm.unwrap_or(120.0),
        notes: tracker.finish(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A sequence of (MIDI note, seconds) as harmonic tones with short gaps.
    fn tune(notes: &[(u8, f64)], rate: u32) -> Vec<f32> {
        let mut out = Vec::new();
        for &(note, secs) in notes {
            let hz = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
            let n = (secs * f64::from(rate)) as usize;
            let gap = n / 10;
            for i in 0..n {
                let t = i as f64 / f64::from(rate);
                let env = if i < n - gap { 0.3 } else { 0.0 };
                let s = (1..=3)
                    .map(|h| (2.0 * std::f64::consts::PI * hz * h as f64 * t).sin() / h as f64)
                    .sum::<f64>();
                out.push((env * s) as f32);
            }
        }
        out
    }

    /// Sustained notes (MIDI, start s, length s, amplitude) with six harmonics each, summed.
    fn parts(notes: &[(u8, f64, f64, f64)], secs: f64, rate: u32) -> Vec<f32> {
        let mut out = vec![0.0f32; (secs * f64::from(rate)) as usize];
        for &(note, start, length, amplitude) in notes {
            let hz = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
            let first = (start * f64::from(rate)) as usize;
            let n = (length * f64::from(rate)) as usize;
            for (i, sample) in out.iter_mut().skip(first).take(n).enumerate() {
                let t = i as f64 / f64::from(rate);
                // 10 ms attack and release, so notes do not click.
                let edge = (t / 0.01).min((length - t) / 0.01).clamp(0.0, 1.0);
                let s: f64 = (1..=6)
                    .map(|h| (std::f64::consts::TAU * hz * h as f64 * t).sin() / h as f64)
                    .sum();
                *sample += (amplitude * edge * s) as f32;
            }
        }
        out
    }

    /// A4 with five harmonics at time `t`.
    fn a4(t: f64) -> f64 {
        (1..=5)
            .map(|h| (std::f64::consts::TAU * 440.0 * h as f64 * t).sin() / h as f64)
            .sum()
    }

    /// Every note starts within 50 ms of `onset(its index)`.
    fn assert_onsets(got: &Melody, onset: impl Fn(f64) -> f64) {
        for (note, i) in got.notes.iter().zip(0..) {
            let expected = onset(f64::from(i));
            assert!(
                (note.start_secs - expected).abs() < 0.05,
                "{note:?} vs {expected}"
            );
        }
    }

    #[test]
    fn follows_the_melody_over_chords_and_a_bass() {
        let tune = [72, 74, 76, 79, 77, 76, 74, 72];
        let mut notes: Vec<(u8, f64, f64, f64)> = tune
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, 0.5 + i as f64 * 0.4, 0.36, 0.12))
            .collect();
        // A held C major triad under it, a bass walking in half notes, all about as loud.
        for (n, amplitude) in [(48, 0.08), (52, 0.08), (55, 0.08)] {
            notes.push((n, 0.0, 4.0, amplitude));
        }
        for (i, n) in [36, 43, 41, 36].into_iter().enumerate() {
            notes.push((n, i as f64, 0.95, 0.15));
        }
        let mix = parts(&notes, 4.0, 44_100);
        let got = melody_from_samples(&mix, 44_100, &MelodyOptions::default()).unwrap();
        let pitches: Vec<u8> = got.notes.iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, tune, "{got:?}");
        assert_onsets(&got, |i| 0.5 + i * 0.4);
    }

    #[test]
    fn a_note_struck_again_at_the_same_pitch_is_a_new_note() {
        // Eight A4s played legato, as an organ or a bowed string repeats a note: each sinks by
        // 3 dB and the next starts back at full level, with no silence between them.
        let rate = 44_100;
        let (count, length) = (8, 0.25);
        let n = (length * f64::from(rate)) as usize;
        let samples: Vec<f32> = (0..count * n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let within = (i % n) as f64 / f64::from(rate);
                let level = 0.3 * (-within / length * 0.5 * std::f64::consts::LN_2).exp();
                (level * a4(t)) as f32
            })
            .collect();
        let got = melody_from_samples(&samples, rate, &MelodyOptions::default()).unwrap();
        assert_eq!(got.notes.len(), count, "{got:?}");
        assert!(got.notes.iter().all(|n| n.pitch == 69), "{got:?}");
        assert_onsets(&got, |i| i * length);
    }

    #[test]
    fn a_tremolo_does_not_split_a_note() {
        // A4 held for two seconds, its level swelling and sinking by ±4 dB ten times a second.
        let rate = 44_100;
        let samples: Vec<f32> = (0..2 * rate)
            .map(|i| {
                let t = f64::from(i) / f64::from(rate);
                let level = 0.2 * (1.0 + 0.45 * (std::f64::consts::TAU * 10.0 * t).sin());
                (level * a4(t)) as f32
            })
            .collect();
        let got = melody_from_samples(&samples, rate, &MelodyOptions::default()).unwrap();
        assert_eq!(got.notes.len(), 1, "{got:?}");
        assert_eq!(got.notes[0].pitch, 69);
    }

    #[test]
    fn transcribes_a_melody_and_a_bass_line() {
        let melody = [(60, 0.4), (62, 0.4), (64, 0.4), (67, 0.8)];
        let got =
            melody_from_samples(&tune(&melody, 44_100), 44_100, &MelodyOptions::default()).unwrap();
        let pitches: Vec<u8> = got.notes.iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, vec![60, 62, 64, 67], "{got:?}");
        assert!((got.notes[3].start_secs - 1.2).abs() < 0.08, "{got:?}");

        let bass = [(40, 0.5), (45, 0.5), (43, 0.5)];
        let options = MelodyOptions {
            range: MelodyRange::Bass,
            ..MelodyOptions::default()
        };
        let got = melody_from_samples(&tune(&bass, 22_050), 22_050, &options).unwrap();
        let pitches: Vec<u8> = got.notes.iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, vec![40, 45, 43], "{got:?}");
        assert_eq!(&got.to_midi()[..4], b"MThd");
    }
}

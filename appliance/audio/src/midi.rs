//! Standard MIDI File writer (format 0, one track), enough for DAWs to open a melody.

/// Ticks per quarter note.
pub(crate) const DIVISION: u16 = 480;

/// One note, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimedNote {
    pub start_secs: f64,
    pub duration_secs: f64,
    pub pitch: u8,
    pub velocity: u8,
}

fn variable_length(mut value: u32, out: &mut Vec<u8>) {
    let mut bytes = [0u8; 5];
    let mut n = 0;
    loop {
        bytes[n] = (value & 0x7F) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(bytes[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// A format-0 file: track name, tempo, 4/4, program, then the notes on `channel`.
pub(crate) fn write_smf(
    notes: &[TimedNote],
    bpm: f64,
    name: &str,
    program: u8,
    channel: u8,
) -> Vec<u8> {
    let bpm = if bpm.is_finite() && bpm > 0.0 {
        bpm
    } else {
        120.0
    };
    let ticks_per_sec = bpm / 60.0 * f64::from(DIVISION);
    let to_ticks = |secs: f64| {
        (secs.max(0.0) * ticks_per_sec)
            .round()
            .min(f64::from(u32::MAX >> 4)) as u32
    };
    let channel = channel & 0x0F;

    // (tick, order, bytes): note-offs sort before note-ons at the same tick.
    let mut events: Vec<(u32, u8, [u8; 3])> = Vec::with_capacity(notes.len() * 2);
    for n in notes {
        let on = to_ticks(n.start_secs);
        let off = to_ticks(n.start_secs + n.duration_secs).max(on + 1);
        let pitch = n.pitch.min(127);
        events.push((on, 1, [0x90 | channel, pitch, n.velocity.clamp(1, 127)]));
        events.push((off, 0, [0x80 | channel, pitch, 0]));
    }
    events.sort_by_key(|e| (e.0, e.1));

    let mut track = Vec::new();
    let name = name.as_bytes();
    track.extend_from_slice(&[0x00, 0xFF, 0x03]);
    variable_length(name.len() as u32, &mut track);
    track.extend_from_slice(name);
    let micros_per_quarter = (60_000_000.0 / bpm).round().clamp(1.0, 16_777_215.0) as u32;
    track.extend_from_slice(&[0x00, 0xFF, 0x51, 0x03]);
    track.extend_from_slice(&micros_per_quarter.to_be_bytes()[1..]);
    track.extend_from_slice(&[0x00, 0xFF, 0x58, 0x04, 4, 2, 24, 8]);
    track.extend_from_slice(&[0x00, 0xC0 | channel, program & 0x7F]);
    let mut now = 0;
    for (tick, _, bytes) in events {
        variable_length(tick - now, &mut track);
        track.extend_from_slice(&bytes);
        now = tick;
    }
    track.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);

    let mut out = Vec::with_capacity(22 + track.len());
    out.extend_from_slice(b"MThd");
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&DIVISION.to_be_bytes());
    out.extend_from_slice(b"MTrk");
    out.extend_from_slice(&(track.len() as u32).to_be_bytes());
    out.extend_from_slice(&track);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn variable_length_quantities() {
        for (value, want) in [
            (0u32, vec![0x00]),
            (0x7F, vec![0x7F]),
            (0x80, vec![0x81, 0x00]),
            (0x3FFF, vec![0xFF, 0x7F]),
            (0x0FFF_FFFF, vec![0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            variable_length(value, &mut out);
            assert_eq!(out, want, "{value:#x}");
        }
    }

    #[test]
    fn writes_a_well_formed_file() {
        let notes = [
            TimedNote {
                start_secs: 0.0,
                duration_secs: 0.5,
                pitch: 60,
                velocity: 100,
            },
            TimedNote {
                start_secs: 0.5,
                duration_secs: 0.25,
                pitch: 64,
                velocity: 90,
            },
        ];
        let smf = write_smf(&notes, 120.0, "melody", 0, 0);
        assert_eq!(&smf[..14], b"MThd\0\0\0\x06\0\0\0\x01\x01\xE0");
        assert_eq!(&smf[14..18], b"MTrk");
        let len = u32::from_be_bytes([smf[18], smf[19], smf[20], smf[21]]) as usize;
        assert_eq!(smf.len(), 22 + len);
        let track = &smf[22..];
        // Tempo: 500000 µs per quarter at 120 BPM.
        assert!(
            track
                .windows(7)
                .any(|w| w == [0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, 0x00])
        );
        // At 120 BPM and 480 PPQ one second is 960 ticks: note 1 ends at 480, note 2 starts
        // there (off first), and ends 240 ticks later.
        let notes_part = &track[track.len() - 4 - 18..track.len() - 4];
        assert_eq!(
            notes_part,
            [
                0x00, 0x90, 60, 100, 0x83, 0x60, 0x80, 60, 0, 0x00, 0x90, 64, 90, 0x81, 0x70, 0x80,
                64, 0
            ]
        );
        assert_eq!(&track[track.len() - 4..], [0x00, 0xFF, 0x2F, 0x00]);
    }
}

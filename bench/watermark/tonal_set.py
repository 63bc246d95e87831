#!/usr/bin/env python3
"""Renders the watermark benchmark's tonal set here, deterministically (nothing downloaded).

    tonal_set.py OUT_DIR

From the General MIDI songs of Debian's openttd-openmsx (sorted by file name, drums dropped):

  piano-NN  songs 0, 3, 6, .., 27: solo piano. Even picks play every non-drum channel on
            program 0 (acoustic grand); odd picks play the melody channel alone on program 0
            (a one-finger tune, with the gaps the melody leaves).
  voice-NN  songs 1, 4, 7, .., 28: solo voice. Picks 0-5 play the melody channel on GM
            "Voice Oohs" (53) and "Choir Aahs" (52) in turn; picks 6-9 are espeak-ng "sung"
            lines, one espeak-ng call per word with its pitch following the melody channel's
            notes, over silence between phrases.

The melody channel is the non-drum channel with the highest mean note among those with at
least 40 % of the busiest channel's notes. Rendering: fluidsynth, FluidR3_GM, 44.1 kHz,
reverb and chorus off; leading and trailing silence cut, at most MAX_SECONDS kept; peak
normalised to -3 dBFS; written as 16-bit stereo WAV. Needs numpy, scipy, soundfile, mido.
"""

import glob
import os
import subprocess
import sys
import tempfile

import mido
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 44100
MIDI_DIR = "/usr/share/games/openttd/baseset/openmsx"
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
MAX_SECONDS = 90
PEAK = 10 ** (-3 / 20)
LYRICS = [
    "the night is long and the road is cold",
    "I kept your letters in a box of gold",
    "and every morning light comes slow",
    "I never told you so",
    "sing me the song we used to know",
    "rivers run where the willows grow",
]


def melody_channel(mid):
    counts, pitch = {}, {}
    for msg in mido.merge_tracks(mid.tracks):
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
            counts[msg.channel] = counts.get(msg.channel, 0) + 1
            pitch[msg.channel] = pitch.get(msg.channel, 0) + msg.note
    busiest = max(counts.values())
    candidates = [c for c in counts if counts[c] >= 0.4 * busiest]
    return max(candidates, key=lambda c: (pitch[c] / counts[c], -c))


def piano_midi(mid, program, only_channel=None):
    """Type-0 copy: drums (and other channels when only_channel is set) dropped, every
    program change replaced by `program`, which is also set at the start."""
    out = mido.MidiFile(type=0, ticks_per_beat=mid.ticks_per_beat)
    track = mido.MidiTrack()
    for ch in range(16):
        if ch != 9:
            track.append(mido.Message("program_change", channel=ch, program=program, time=0))
    pending = 0
    for msg in mido.merge_tracks(mid.tracks):
        pending += msg.time
        if not msg.is_meta and hasattr(msg, "channel"):
            if msg.channel == 9 or (only_channel is not None and msg.channel != only_channel):
                continue
            if msg.type == "program_change":
                msg = msg.copy(program=program)
        elif msg.type == "end_of_track":
            continue
        track.append(msg.copy(time=pending))
        pending = 0
    track.append(mido.MetaMessage("end_of_track", time=pending))
    out.tracks.append(track)
    return out


def render(mid, tmp):
    path_mid, path_wav = os.path.join(tmp, "song.mid"), os.path.join(tmp, "song.wav")
    mid.save(path_mid)
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR),
                    "-O", "float", "-T", "wav", "-F", path_wav, SOUNDFONT, path_mid],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, sr = sf.read(path_wav, dtype="float64", always_2d=True)
    assert sr == SR, sr
    return x[:, :2] if x.shape[1] >= 2 else np.repeat(x, 2, axis=1)


def melody_notes(mid, channel):
    """(start seconds, MIDI note) of each note of `channel`, in order."""
    notes, t = [], 0.0
    for msg in mid:  # iterating a MidiFile yields delta times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel == channel:
            notes.append((t, msg.note))
    return notes


def espeak_word(word, pitch, tmp):
    wav = os.path.join(tmp, "word.wav")
    subprocess.run(["espeak-ng", "-v", "en", "-p", str(pitch), "-s", "95", "-a", "100", "-w", wav, word],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, sr = sf.read(wav, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    g = np.gcd(sr, SR)
    x = resample_poly(x, SR // g, sr // g)
    nz = np.nonzero(np.abs(x) > 1e-4)[0]
    return x[nz[0]:nz[-1] + 1] if len(nz) else x[:0]


def sung(mid, channel, pick, tmp):
    """Words placed at the melody's note starts (a new phrase after every 4 s gap or every
    line), the espeak-ng pitch (0-99) following the note."""
    notes = melody_notes(mid, channel)
    base = int(np.median([n for _, n in notes]))
    out = np.zeros(int((notes[-1][0] + 3) * SR))
    words = " ".join(LYRICS[pick:] + LYRICS[:pick]).split()
    w = 0
    busy_until = 0.0
    for start, note in notes:
        if start < busy_until:
            continue
        seg = espeak_word(words[w % len(words)], min(99, max(0, 50 + 4 * (note - base))), tmp)
        w += 1
        fade = min(256, len(seg) // 2)
        if fade:
            seg[:fade] *= np.linspace(0, 1, fade)
            seg[-fade:] *= np.linspace(1, 0, fade)
        i = int(start * SR)
        seg = seg[:len(out) - i]
        out[i:i + len(seg)] += seg
        busy_until = start + len(seg) / SR + 0.05
    return np.stack([out, out], axis=1)


def finish(x, path):
    level = np.abs(x).max(axis=1)
    loud = np.nonzero(level > 1e-3)[0]
    x = x[loud[0]:loud[-1] + 1][: MAX_SECONDS * SR]
    x = x * (PEAK / np.abs(x).max())
    fade = int(0.02 * SR)
    x[-fade:] *= np.linspace(1, 0, fade)[:, None]
    sf.write(path, x, SR, subtype="PCM_16")
    return len(x) / SR


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    songs = sorted(glob.glob(os.path.join(MIDI_DIR, "*.mid")))
    if len(songs) < 29:
        sys.exit(f"expected the 31 openttd-openmsx songs in {MIDI_DIR} (apt-get install openttd-openmsx)")
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(10):
            song = songs[3 * k]
            mid = mido.MidiFile(song)
            name = os.path.basename(song)[:-4]
            if k % 2 == 0:
                kind, x = "full", render(piano_midi(mid, 0), tmp)
            else:
                kind, x = "melody", render(piano_midi(mid, 0, melody_channel(mid)), tmp)
            seconds = finish(x, os.path.join(out_dir, f"piano-{k:02d}.wav"))
            print(f"piano-{k:02d}\t{name}\tpiano {kind}\t{seconds:.1f} s", flush=True)
        for k in range(10):
            song = songs[3 * k + 1]
            mid = mido.MidiFile(song)
            name = os.path.basename(song)[:-4]
            channel = melody_channel(mid)
            if k < 6:
                program = 53 if k % 2 == 0 else 52
                kind, x = f"GM program {program}", render(piano_midi(mid, program, channel), tmp)
            else:
                kind, x = "espeak-ng sung", sung(mid, channel, k, tmp)
            seconds = finish(x, os.path.join(out_dir, f"voice-{k:02d}.wav"))
            print(f"voice-{k:02d}\t{name}\t{kind}\t{seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()

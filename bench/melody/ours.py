#!/usr/bin/env python3
"""Runs our audio engine's binaries on the labelled set (never cached: the binaries change).

    ours.py [--set DIR] [--out FILE] [--split tune|report|all]

MELODY_BIN (default $HOME/.cache/studiovault-target/release/examples/melody_to_midi):
`melody_to_midi IN OUT.mid` on every melody song's lead.wav and mix.wav; the Standard MIDI File
it writes is read back with mido, whose playback iteration applies the file's tempo events, so
note times are in seconds.
ANALYZE_BIN (default .../examples/bench_analyze): `bench_analyze FILE...` on every openmsx
song's mix.wav, every immich-memories-music track, chorale and classical movement; the key is
the JSON line's analysis.key (tonic 0-11, mode major/minor).
Writes FILE (default bench/melody/out/ours.json). Exits 3 when a binary is missing.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import mido

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(os.path.expanduser("~"), ".cache/studiovault-target/release/examples")
PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def midi_notes_seconds(path, channel=None):
    """[[onset s, offset s, MIDI pitch]] of every note in a MIDI file (or of one channel's),
    tempo map applied."""
    t, active, out = 0.0, {}, []
    for msg in mido.MidiFile(path):
        t += msg.time
        if channel is not None and getattr(msg, "channel", None) != channel:
            continue
        if msg.type == "note_on" and msg.velocity > 0:
            k = (msg.channel, msg.note)
            if k in active:
                out.append([active.pop(k), t, k[1]])
            active[k] = t
        elif msg.type in ("note_off", "note_on"):
            k = (msg.channel, msg.note)
            if k in active:
                out.append([active.pop(k), t, k[1]])
    out += [[s, t, k[1]] for k, s in active.items()]
    return sorted([round(s, 6), round(e, 6), p] for s, e, p in out)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser(description="Our melody and key binaries on the labelled set.")
    ap.add_argument("--set", default=os.path.join(os.path.expanduser("~"), ".cache/studiovault-tools/melody-set"))
    ap.add_argument("--out", default=os.path.join(HERE, "out", "ours.json"))
    ap.add_argument("--split", default="all", choices=["tune", "report", "all"])
    a = ap.parse_args()
    melody_bin = os.environ.get("MELODY_BIN", os.path.join(TARGET, "melody_to_midi"))
    analyze_bin = os.environ.get("ANALYZE_BIN", os.path.join(TARGET, "bench_analyze"))
    missing = [b for b in (melody_bin, analyze_bin) if not os.access(b, os.X_OK)]
    if missing:
        print("our binaries are missing: " + ", ".join(missing) + "\n  build them with `cargo build --release "
              "-p studiovault-audio --example melody_to_midi --example bench_analyze` (CARGO_TARGET_DIR="
              "$HOME/.cache/studiovault-target), or point MELODY_BIN / ANALYZE_BIN at them", file=sys.stderr)
        sys.exit(3)
    with open(os.path.join(a.set, "index.json")) as f:
        index = json.load(f)
    keep = lambda s: a.split == "all" or s["split"] == a.split
    result = {"melody_bin": melody_bin, "melody_bin_sha256": sha(melody_bin),
              "melody_bin_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(melody_bin))),
              "analyze_bin": analyze_bin, "analyze_bin_sha256": sha(analyze_bin), "melody": {}, "key": {}}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="sv-melody-ours-") as tmp:
        for s in index["openmsx"]:
            if not (s["melody"] and keep(s)):
                continue
            row = {}
            for part in ("lead", "mix"):
                mid = os.path.join(tmp, f"{s['song']}-{part}.mid")
                c0 = os.times()
                proc = subprocess.run([melody_bin, os.path.join(s["dir"], part + ".wav"), mid],
                                      capture_output=True, text=True)
                c1 = os.times()
                cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
                if proc.returncode != 0 or not os.path.exists(mid):
                    row[part] = {"error": (proc.stderr or proc.stdout).strip()[-500:], "notes": []}
                else:
                    row[part] = {"notes": midi_notes_seconds(mid), "stdout": proc.stdout.strip(), "cpu_s": round(cpu, 3)}
                print(f"ours {s['song']} {part}: {len(row[part]['notes'])} notes"
                      f"{' ERROR ' + row[part]['error'] if 'error' in row[part] else ''}", file=sys.stderr)
            result["melody"][s["song"]] = row
    result["melody_wall_s"] = round(time.time() - t0, 1)
    items = [(s["song"], os.path.join(s["dir"], "mix.wav")) for s in index["openmsx"] if keep(s)]
    items += [(s["song"], s["path"]) for part in ("immich", "chorales", "classical") for s in index.get(part, [])
              if keep(s)]
    t0 = time.time()
    if items:
        proc = subprocess.run([analyze_bin] + [p for _, p in items], capture_output=True, text=True)
        by_file = {}
        for line in proc.stdout.splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            by_file[d.get("file")] = d
        for name, path in items:
            d = by_file.get(path, {})
            k = (d.get("analysis") or {}).get("key")
            result["key"][name] = {"key": f"{PITCH_NAMES[k['tonic']]} {k['mode']}" if k else None,
                                   "name": k.get("name") if k else None,
                                   "confidence": k.get("confidence") if k else None,
                                   "error": d.get("error")}
    result["key_wall_s"] = round(time.time() - t0, 1)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

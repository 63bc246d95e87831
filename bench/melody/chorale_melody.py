#!/usr/bin/env python3
"""Melody of four-part chorales: ours and Basic Pitch's skyline against the soprano.

    chorale_melody.py [--set DIR] [--split tune|report] [--count N]

Not part of `run`'s report: a look at a texture where no voice is louder than the others. The
first N chorales of the split (sorted by name) from the chorale part of the labelled set
(`labelled_set.py` builds it, with each chorale's soprano as `NAME.melody.json`); ours is
MELODY_BIN (default ~/.cache/studiovault-target/release/examples/melody_to_midi), Basic Pitch
runs as in `references.py` (cached the same way), both scored by `score.prf`, Basic Pitch as
its skyline. Prints per-timbre means of F1.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ours import midi_notes_seconds  # noqa: E402
from references import BasicPitch, cached  # noqa: E402
from score import prf, skyline  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default=os.path.join(os.path.expanduser("~"), ".cache/studiovault-tools/melody-set"))
    ap.add_argument("--split", default="tune", choices=["tune", "report"])
    ap.add_argument("--count", type=int, default=24)
    a = ap.parse_args()
    melody_bin = os.environ.get("MELODY_BIN", os.path.expanduser(
        "~/.cache/studiovault-target/release/examples/melody_to_midi"))
    if not os.access(melody_bin, os.X_OK):
        sys.exit(f"our binary is missing: {melody_bin} (cargo build --release -p studiovault-audio --examples)")
    with open(os.path.join(a.set, "index.json")) as f:
        chorales = sorted((c for c in json.load(f).get("chorales", []) if c["split"] == a.split),
                          key=lambda c: c["song"])[:a.count]
    if not chorales:
        sys.exit("no chorales in the set: run bench/melody/run (or labelled_set.py) with music21 installed")
    bp = BasicPitch(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sv-chorale-melody-") as tmp:
        for c in chorales:
            with open(c["melody"]) as f:
                truth = json.load(f)["notes"]
            out = os.path.join(tmp, c["song"] + ".mid")
            subprocess.run([melody_bin, c["path"], out], check=True, capture_output=True)
            ours = [n[:3] for n in midi_notes_seconds(out)]
            with contextlib.redirect_stdout(sys.stderr):  # Basic Pitch prints each file it reads
                theirs = cached("basic_pitch", c["path"], bp.cache_settings, bp)[0]["notes"]
            theirs = skyline([n[:3] for n in theirs])
            rows.append((c["timbre"], prf(truth, ours)[2], prf(truth, theirs)[2]))
            print(f"{c['song']} ({c['timbre']}, {len(truth)} notes): ours {rows[-1][1]:.2f}, "
                  f"Basic Pitch skyline {rows[-1][2]:.2f}", file=sys.stderr)
    print(f"| chorales ({a.split}, first {len(rows)}) | count | ours | Basic Pitch skyline |")
    print("|---|---|---|---|")
    for timbre in ("all", "piano", "organ", "choir"):
        got = [r for r in rows if timbre in ("all", r[0])]
        if got:
            print(f"| {timbre} | {len(got)} | {statistics.mean(r[1] for r in got):.3f} | "
                  f"{statistics.mean(r[2] for r in got):.3f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Scores stem estimates against the ground-truth set; prints markdown tables.

    score.py --set DIR [--builtin DIR] [--reference DIR] [--songs N] [--jobs N] [--json FILE]

Estimates are read from DIR/<song>/<stem>.wav: --builtin holds the built-in backend's
vocals/drums/bass/other, --reference the numpy Spleeter reference's vocals/accompaniment.
Two oracle-free rows are always computed here: the mixture itself as every stem's estimate
(the floor) and the ideal ratio mask (IRM, the bound of a mask on this STFT: |S_i|^2/sum|S_j|^2
from the true stems, applied to the mixture's STFT, per channel; spleeter_numpy's STFT).

Measures, per (track, stem):
  SDR   museval's BSS Eval v4 (1 s windows, no overlap), the median over the windows of a
        track; then the median over tracks, as SiSEC 2018 reports it;
  uSDR  10 log10(sum ref^2 / sum (ref - est)^2) over the whole track; median over tracks.
A (track, stem) whose reference is silent (a song with no bass part, say) is left out.

Table 2 compares the 2-stem outputs: vocals and accompaniment (drums + bass + other) of the
numpy reference and of the built-in, and their difference in dB (the aim: |diff| <= 0.1 dB);
its "agreement" column is the SNR of the built-in's output against the reference's.
"""
import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import soundfile as sf

import spleeter_numpy as sn

STEMS = ("vocals", "drums", "bass", "other")
SILENT = 1e-8  # mean square below which a reference counts as silent


def read(path):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return x, sr


def usdr(ref, est):
    num = np.sum(ref ** 2)
    den = np.sum((ref - est) ** 2)
    return float(10 * np.log10((num + 1e-12) / (den + 1e-12)))


def museval_sdr(ref, est, sr):
    import museval
    sdr, _, _, _ = museval.evaluate(ref[None], est[None], win=sr, hop=sr, mode="v4")
    v = sdr[0]
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else float("nan")


def irm(mix, sources):
    """Ideal ratio mask estimates of `sources` (list of (L, C)) from `mix` (L, C)."""
    L, C = mix.shape
    outs = [np.zeros((L, C)) for _ in sources]
    for c in range(C):
        X = sn.stft(mix[:, c])
        P = [np.abs(sn.stft(s[:, c])) ** 2 for s in sources]
        tot = sum(P) + 1e-20
        for o, p in zip(outs, P):
            o[:, c] = sn.istft(X * (p / tot), L)
    return outs


def fit(x, L, C):
    """Estimates of the wrong length or channel count would be a bug of the backend: say so."""
    if x.shape != (L, C):
        raise ValueError(f"estimate has shape {x.shape}, the reference {(L, C)}")
    return x


def score_song(args):
    song_dir, builtin, reference, use_museval = args
    song = os.path.basename(os.path.normpath(song_dir))
    truth = {}
    for s in ("mixture",) + STEMS:
        truth[s], sr = read(os.path.join(song_dir, s + ".wav"))
    L, C = truth["mixture"].shape
    truth["accompaniment"] = truth["drums"] + truth["bass"] + truth["other"]
    est = {"mixture": {s: truth["mixture"] for s in STEMS + ("accompaniment",)}}
    est["irm"] = dict(zip(STEMS, irm(truth["mixture"], [truth[s] for s in STEMS])))
    est["irm2"] = dict(zip(("vocals", "accompaniment"),
                           irm(truth["mixture"], [truth["vocals"], truth["accompaniment"]])))
    errors = []
    if builtin:
        d = os.path.join(builtin, song)
        try:
            b = {s: fit(read(os.path.join(d, s + ".wav"))[0], L, C) for s in STEMS}
            b["accompaniment"] = b["drums"] + b["bass"] + b["other"]
            est["builtin"] = b
        except (OSError, RuntimeError, ValueError) as e:
            errors.append(f"{song}: built-in: {e}")
    if reference:
        d = os.path.join(reference, song)
        try:
            est["reference"] = {s: fit(read(os.path.join(d, s + ".wav"))[0], L, C)
                                for s in ("vocals", "accompaniment")}
        except (OSError, RuntimeError, ValueError) as e:
            errors.append(f"{song}: reference: {e}")
    res = {}
    for row, stems in est.items():
        for s, e in stems.items():
            ref = truth[s]
            if np.mean(ref ** 2) < SILENT:
                continue
            r = {"usdr": usdr(ref, e)}
            if use_museval:
                r["sdr"] = museval_sdr(ref, e, sr)
            res[f"{row}/{s}"] = r
    if "builtin" in est and "reference" in est:
        for s in ("vocals", "accompaniment"):
            res[f"agreement/{s}"] = {"usdr": usdr(est["reference"][s], est["builtin"][s])}
    return song, res, errors


def median(xs):
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.median(xs)) if xs else None


def fmt(x):
    return "–" if x is None else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser(description="Scores stem estimates (museval SDR and uSDR).")
    ap.add_argument("--set", required=True, help="ground truth: DIR/<song>/{mixture,vocals,drums,bass,other}.wav")
    ap.add_argument("--builtin", help="the built-in's estimates: DIR/<song>/{vocals,drums,bass,other}.wav")
    ap.add_argument("--reference", help="the numpy reference's: DIR/<song>/{vocals,accompaniment}.wav")
    ap.add_argument("--songs", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-museval", action="store_true", help="uSDR only (fast)")
    ap.add_argument("--json", help="write per-track figures here")
    a = ap.parse_args()
    songs = sorted(d for d in (os.path.join(a.set, n) for n in os.listdir(a.set))
                   if os.path.exists(os.path.join(d, "mixture.wav")))
    if a.songs > 0:
        songs = songs[:a.songs]
    if not songs:
        sys.exit(f"no songs in {a.set}")
    jobs = [(d, a.builtin, a.reference, not a.no_museval) for d in songs]
    per_track = {}
    errors = []
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for song, res, errs in ex.map(score_song, jobs):
            per_track[song] = res
            errors += errs
    for e in errors:
        print(f"warning: {e}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(per_track, f, indent=1, sort_keys=True)

    def agg(key, measure):
        return median([r[key][measure] for r in per_track.values() if key in r and measure in r[key]])

    def count(key):
        return sum(1 for r in per_track.values() if key in r)

    m = not a.no_museval
    print(f"Tracks: {len(songs)}. Cells: " + ("SDR (museval v4, median of 1 s frames, median over tracks) / " if m else "")
          + "uSDR (whole track, median over tracks), dB. Higher is better.\n")
    rows = [("built-in (Spleeter 2-stem U-Nets + DSP split)", "builtin"),
            ("mixture as the estimate (floor)", "mixture"),
            ("ideal ratio mask (oracle bound)", "irm")]
    print("| estimate | " + " | ".join(STEMS) + " | mean of 4 |")
    print("|---|" + "---|" * (len(STEMS) + 1))
    for label, row in rows:
        if not any(f"{row}/{s}" in r for r in per_track.values() for s in STEMS):
            if row == "builtin":
                print(f"| {label} | " + " | ".join(["not run"] * len(STEMS)) + " | |")
            continue
        cells, means = [], {"sdr": [], "usdr": []}
        for s in STEMS:
            k = f"{row}/{s}"
            u, d = agg(k, "usdr"), agg(k, "sdr") if m else None
            means["usdr"].append(u)
            means["sdr"].append(d)
            cells.append((f"{fmt(d)} / " if m else "") + fmt(u))
        mean = lambda v: None if any(x is None for x in v) else float(np.mean(v))  # noqa: E731
        print(f"| {label} | " + " | ".join(cells) + " | "
              + (f"{fmt(mean(means['sdr']))} / " if m else "") + f"{fmt(mean(means['usdr']))} |")
    silent = {s: len(songs) - count(f"mixture/{s}") for s in STEMS}
    if any(silent.values()):
        print("\nLeft out for a silent reference: " + ", ".join(f"{s} in {n} track(s)" for s, n in silent.items() if n))

    print("\n2-stem outputs (accompaniment = drums + bass + other):\n")
    print("| estimate | vocals | accompaniment |")
    print("|---|---|---|")
    rows2 = [("numpy Spleeter reference", "reference"), ("built-in", "builtin"),
             ("mixture as the estimate (floor)", "mixture"), ("ideal ratio mask, 2 sources (oracle)", "irm2")]
    have = {}
    for label, row in rows2:
        vals = {s: (agg(f"{row}/{s}", "sdr") if m else None, agg(f"{row}/{s}", "usdr")) for s in ("vocals", "accompaniment")}
        have[row] = vals
        if all(v[1] is None for v in vals.values()):
            print(f"| {label} | not run | not run |")
            continue
        print(f"| {label} | " + " | ".join((f"{fmt(vals[s][0])} / " if m else "") + fmt(vals[s][1])
                                          for s in ("vocals", "accompaniment")) + " |")
    ref, blt = have.get("reference"), have.get("builtin")
    if ref and blt and all(v[1] is not None for v in list(ref.values()) + list(blt.values())):
        diffs = []
        cells = []
        for s in ("vocals", "accompaniment"):
            dd = [None if (blt[s][i] is None or ref[s][i] is None) else blt[s][i] - ref[s][i] for i in (0, 1)]
            diffs += [x for x in dd if x is not None]
            cells.append((f"{dd[0]:+.3f} / " if m and dd[0] is not None else "") + f"{dd[1]:+.3f}")
        print("| built-in − reference | " + " | ".join(cells) + " |")
        agree = {s: agg(f"agreement/{s}", "usdr") for s in ("vocals", "accompaniment")}
        worst = max(abs(x) for x in diffs)
        print(f"\nBuilt-in against the reference: largest difference {worst:.3f} dB "
              f"({'within' if worst <= 0.1 else 'NOT within'} the 0.1 dB aim); agreement (SNR of the "
              f"built-in's output against the reference's, median over tracks): vocals "
              f"{fmt(agree['vocals'])} dB, accompaniment {fmt(agree['accompaniment'])} dB.")


if __name__ == "__main__":
    main()

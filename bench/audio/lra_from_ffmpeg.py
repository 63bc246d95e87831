#!/usr/bin/env python3
"""LRA per EBU Tech 3342 (nearest-rank 10th/95th percentiles of the gated 3 s short-term
loudness) computed from the short-term values ffmpeg's ebur128 filter prints every 100 ms,
beside the LRA of ffmpeg's own summary.

Usage: lra_from_ffmpeg.py FILE...
"""
import math
import re
import subprocess
import sys

for path in sys.argv[1:]:
    log = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", path, "-af", "ebur128", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    short_term = [float(m) for m in re.findall(r"TARGET:.*? S: *(-?[\d.]+)", log)]
    gated = [s for s in short_term if s > -70]
    mean = sum(10 ** ((s + 0.691) / 10) for s in gated) / len(gated)
    kept = sorted(s for s in gated if s > -0.691 + 10 * math.log10(mean) - 20)
    rank = lambda p: kept[round((len(kept) - 1) * p)]
    summary = re.search(r"LRA:\s+([\d.]+)", log[log.rfind("Summary:"):]).group(1)
    print(f"{path}: Tech 3342 from ffmpeg's short-term values {rank(0.95) - rank(0.10):.2f} LU, ffmpeg's summary {summary} LU")

#!/usr/bin/env python3
"""Prints ViSQOL (audio mode) MOS-LQO of each DEGRADED file against REFERENCE.

Needs the `visqol-python` package (a pure-Python port of Google's ViSQOL v3).
usage: visqol_score.py REFERENCE.wav DEGRADED.wav..
"""

import sys

from visqol import VisqolApi

api = VisqolApi()
api.create(mode="audio")
for degraded in sys.argv[2:]:
    print(f"{degraded}\t{api.measure(sys.argv[1], degraded).moslqo:.3f}", flush=True)

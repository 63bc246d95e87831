#!/usr/bin/env python3
"""Reference detectors for the audio engine benchmark, run over the same tracks.

For each track: essentia RhythmExtractor2013 (multifeature) for tempo,
essentia KeyExtractor with three key profiles (edma, bgate, temperley), aubio's `aubio tempo`,
ffmpeg's ebur128 filter (integrated, LRA, true peak) and whether ffmpeg and sox decode the file.
Timings are CPU time (this process's for essentia, the child's rusage for aubio and for ffmpeg's
decoding), so a busy machine does not inflate them; run.sh also pins everything to one core.

Usage: references.py OUT.jsonl FILE...
"""
import json
import re
import resource
import subprocess
import sys
import time

import essentia
import numpy
import essentia.standard as es

essentia.log.infoActive = False
essentia.log.warningActive = False


def ffmpeg_loudness(path):
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", path, "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True)
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    grab = lambda name: (m := re.search(name + r":\s+(-?[\d.]+|-inf)", summary)) and float(m.group(1))
    return {"ok": proc.returncode == 0 and "Summary:" in proc.stderr,
            "integrated": grab("I"), "lra": grab("LRA"), "true_peak": grab("Peak")}


def child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decodes(cmd):
    return subprocess.run(cmd, capture_output=True).returncode == 0


def main():
    out_path, files = sys.argv[1], sys.argv[2:]
    rhythm = es.RhythmExtractor2013(method="multifeature")
    keys = {p: es.KeyExtractor(profileType=p) for p in ("edma", "bgate", "temperley")}
    with open(out_path, "w") as out:
        for path in files:
            row = {"file": path}
            t0 = child_cpu()
            # essentia's wheel bundles no Vorbis/Opus decoder: ffmpeg decodes to 44.1 kHz mono.
            pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", "44100",
                                  "-f", "f32le", "-"], capture_output=True, check=True).stdout
            audio = numpy.frombuffer(pcm, dtype=numpy.float32).copy()
            load_secs = child_cpu() - t0
            t1 = time.process_time()
            bpm = rhythm(audio)[0]
            t2 = time.process_time()
            key, scale, strength = keys["edma"](audio)
            t3 = time.process_time()
            row["duration"] = len(audio) / 44100
            row["essentia"] = {"bpm": float(bpm), "key": f"{key} {scale}", "strength": float(strength),
                               "load_secs": load_secs, "tempo_secs": t2 - t1, "key_secs": t3 - t2}
            for profile in ("bgate", "temperley"):
                k, s, _ = keys[profile](audio)
                row[f"essentia_key_{profile}"] = f"{k} {s}"
            t0 = child_cpu()
            proc = subprocess.run(["aubio", "tempo", "-i", path], capture_output=True, text=True)
            t1 = child_cpu()
            m = re.search(r"([\d.]+) bpm", proc.stdout)
            row["aubio"] = {"bpm": float(m.group(1)) if m else None, "secs": t1 - t0}
            row["ffmpeg"] = ffmpeg_loudness(path)
            row["ffmpeg_decodes"] = decodes(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"])
            row["sox_decodes"] = decodes(["sox", path, "-n", "stat"])
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(path, row["essentia"]["bpm"], row["aubio"]["bpm"], row["essentia"]["key"], file=sys.stderr)


if __name__ == "__main__":
    main()

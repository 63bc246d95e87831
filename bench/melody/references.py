#!/usr/bin/env python3
"""Reference systems on the labelled set, cached per input file.

    references.py [--set DIR] [--out FILE] [--split tune|report|all] [--threads N]
                  [--no-basic-pitch] [--no-essentia]

Melody: Spotify's Basic Pitch (PyPI basic-pitch 0.4.0, the ICASSP 2022 model) on every melody
song's lead.wav and mix.wav, run with onnxruntime on the ONNX export the wheel ships
(basic_pitch/saved_models/icassp_2022/nmp.onnx). basic_pitch.inference.Model tries, in order,
TensorFlow, CoreML, TFLite and ONNX and takes the first that loads the path it is given; with
tensorflow absent from the venv (run installs basic-pitch with --no-deps for that reason) and
the .onnx path passed explicitly, ONNX is the one. The session is replaced by one with
--threads intra-op threads (default 1) so runs are comparable on a shared machine. predict()
is called with its defaults (onset threshold 0.5, frame threshold 0.3, minimum note length
127.7 ms, melodia trick on, no frequency limits); its note events (start s, end s, MIDI pitch,
amplitude) are stored as they are; score.py derives the "skyline" from them.
Key: essentia KeyExtractor with the profiles edma, bgate and temperley (score.py reports edma
as "essentia"), on the openmsx songs' mix.wav, the chorales' and classical movements' FLACs
(read with soundfile, channels averaged) and the immich-memories-music tracks (decoded to
44.1 kHz mono by ffmpeg, as bench/audio does).

Cache: $HOME/.cache/studiovault-tools/melody-refs/<system>/<sha256 of the input's bytes and
the settings>.json, so a changed file or setting is recomputed and nothing else is.
Writes FILE (default bench/melody/out/references.json): {system: {item: result}}.
"""
import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(os.path.expanduser("~"), ".cache/studiovault-tools/melody-refs")
BP_SETTINGS = {"onset_threshold": 0.5, "frame_threshold": 0.3, "minimum_note_length": 127.70,
               "melodia_trick": True, "model": "icassp_2022 nmp.onnx", "cache_version": 1}
ESS_PROFILES = ("edma", "bgate", "temperley")


def file_hash(path, settings):
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:24]


def cached(system, path, settings, compute):
    d = os.path.join(CACHE, system)
    os.makedirs(d, exist_ok=True)
    c = os.path.join(d, file_hash(path, settings) + ".json")
    if os.path.exists(c):
        with open(c) as f:
            return json.load(f), True
    result = compute(path)
    tmp = c + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, c)
    return result, False


class BasicPitch:
    def __init__(self, threads):
        logging.disable(logging.WARNING)  # basic_pitch warns about every backend it lacks
        import basic_pitch
        import onnxruntime as ort
        from basic_pitch import inference
        logging.disable(logging.NOTSET)
        if basic_pitch.TF_PRESENT:
            sys.exit("tensorflow is installed in this venv: remove it, the benchmark runs Basic Pitch on onnxruntime")
        path = basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx)
        self.model = inference.Model(path)
        assert self.model.model_type == inference.Model.MODEL_TYPES.ONNX, self.model.model_type
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.model.model = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.inference = inference
        self.version = {"basic_pitch": _version("basic-pitch"), "onnxruntime": ort.__version__,
                        "model": str(path.name), "threads": threads}
        # What a cached result depends on: the thread count changes only the time taken.
        self.cache_settings = dict(BP_SETTINGS, **{k: v for k, v in self.version.items() if k != "threads"})

    def __call__(self, wav):
        t0 = time.process_time()
        _, _, events = self.inference.predict(
            wav, self.model, onset_threshold=BP_SETTINGS["onset_threshold"],
            frame_threshold=BP_SETTINGS["frame_threshold"],
            minimum_note_length=BP_SETTINGS["minimum_note_length"], melodia_trick=BP_SETTINGS["melodia_trick"])
        cpu = time.process_time() - t0
        notes = sorted([round(float(s), 6), round(float(e), 6), int(p), round(float(a), 4)] for s, e, p, a, *_ in events)
        return {"notes": notes, "cpu_s": round(cpu, 3)}


class Essentia:
    def __init__(self):
        import essentia
        import essentia.standard as es
        essentia.log.infoActive = False
        essentia.log.warningActive = False
        self.keys = {p: es.KeyExtractor(profileType=p) for p in ESS_PROFILES}
        self.version = {"essentia": essentia.__version__}

    @staticmethod
    def load(path):
        if path.endswith((".wav", ".flac")):
            import soundfile as sf
            x, sr = sf.read(path, dtype="float32", always_2d=True)
            assert sr == 44100, sr
            return x.mean(axis=1).astype(np.float32)
        pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", "44100", "-f", "f32le", "-"],
                             capture_output=True, check=True).stdout
        return np.frombuffer(pcm, dtype=np.float32).copy()

    def __call__(self, path):
        audio = self.load(path)
        out = {}
        t0 = time.process_time()
        for p, k in self.keys.items():
            key, scale, strength = k(audio)
            out[p] = {"key": f"{key} {scale}", "strength": round(float(strength), 4)}
        out["cpu_s"] = round(time.process_time() - t0, 3)
        return out


def _version(dist):
    import importlib.metadata
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def main():
    ap = argparse.ArgumentParser(description="Basic Pitch and essentia on the labelled set (cached).")
    ap.add_argument("--set", default=os.path.join(os.path.expanduser("~"), ".cache/studiovault-tools/melody-set"))
    ap.add_argument("--out", default=os.path.join(HERE, "out", "references.json"))
    ap.add_argument("--split", default="all", choices=["tune", "report", "all"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-basic-pitch", action="store_true")
    ap.add_argument("--no-essentia", action="store_true")
    a = ap.parse_args()
    with open(os.path.join(a.set, "index.json")) as f:
        index = json.load(f)
    keep = lambda s: a.split == "all" or s["split"] == a.split
    result = {"versions": {}, "basic_pitch": {}, "essentia": {}}
    t_start = time.time()
    if not a.no_basic_pitch:
        bp = BasicPitch(a.threads)
        result["versions"]["basic_pitch"] = bp.version
        settings = bp.cache_settings
        for s in index["openmsx"]:
            if not (s["melody"] and keep(s)):
                continue
            row = {}
            for part in ("lead", "mix"):
                r, hit = cached("basic_pitch", os.path.join(s["dir"], part + ".wav"), settings, bp)
                row[part] = r
                print(f"basic pitch {s['song']} {part}: {len(r['notes'])} notes"
                      f"{' (cached)' if hit else ', %.1f s CPU' % r['cpu_s']}", file=sys.stderr)
            result["basic_pitch"][s["song"]] = row
    if not a.no_essentia:
        ess = Essentia()
        result["versions"]["essentia"] = ess.version
        settings = dict(ess.version, profiles=ESS_PROFILES, cache_version=1)
        items = [(s["song"], os.path.join(s["dir"], "mix.wav")) for s in index["openmsx"] if keep(s)]
        items += [(s["song"], s["path"]) for part in ("immich", "chorales", "classical")
                  for s in index.get(part, []) if keep(s)]
        for name, path in items:
            r, hit = cached("essentia", path, settings, ess)
            result["essentia"][name] = r
            print(f"essentia {name}: {r['edma']['key']}{' (cached)' if hit else ''}", file=sys.stderr)
    result["wall_s"] = round(time.time() - t_start, 1)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

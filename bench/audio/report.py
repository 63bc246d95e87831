#!/usr/bin/env python3
"""Builds the audio engine's benchmark report (Markdown) from the JSON lines that run.sh writes.

Usage: report.py OURS.jsonl REFERENCES.jsonl EBU_OURS.jsonl EBU_EXPECTED.json LABELS_FILE
"""
import json
import re
import statistics
import sys

from references import ffmpeg_loudness

PITCH = {"C": 0, "B#": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "Fb": 4, "E#": 5,
         "F": 5, "F#": 6, "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11,
         "Cb": 11}


def parse_key(text):
    if not text:
        return None
    tonic, mode = text.split()
    return PITCH[tonic], mode.lower()


def mirex(ref, est):
    """MIREX / mir_eval weighted key score (fifth above, relative, parallel)."""
    if est is None:
        return 0.0
    (rt, rm), (et, em) = ref, est
    if (rt, rm) == (et, em):
        return 1.0
    if rm == em and (et - rt) % 12 == 7:
        return 0.5
    if rm == "major" and em == "minor" and (et - rt) % 12 == 9:
        return 0.3
    if rm == "minor" and em == "major" and (et - rt) % 12 == 3:
        return 0.3
    if rt == et and rm != em:
        return 0.2
    return 0.0


def acc1(ref, est):
    return est is not None and abs(est - ref) <= 0.04 * ref


def acc2(ref, est):
    return est is not None and any(acc1(ref * f, est) for f in (1, 2, 0.5, 3, 1 / 3))


def tempo_consensus(essentia, aubio):
    """The mean of essentia's and aubio's tempo where they agree within 4 %."""
    if essentia and aubio and abs(essentia - aubio) <= 0.04 * essentia:
        return (essentia + aubio) / 2
    return None


def key_consensus(keys):
    keys = [k for k in keys if k]
    for k in keys:
        if keys.count(k) >= 2:
            return k
    return None


def labels(path):
    """Tempo and key per track from the music package's LICENSE-MUSIC."""
    out = {}
    for line in open(path):
        m = re.match(r"\s+(\S+\.opus)\s+(\d+) bpm\s+([A-G][#b]?) (major|minor)", line)
        if m:
            out[m.group(1)] = (float(m.group(2)), (PITCH[m.group(3)], m.group(4)))
    return out


def name(path):
    return path.rsplit("/", 1)[-1]


def main():
    ours_path, refs_path, ebu_path, ebu_expected_path, labels_path = sys.argv[1:6]
    ours = {name(d["file"]): d for d in map(json.loads, open(ours_path))}
    refs = {name(d["file"]): d for d in map(json.loads, open(refs_path))}
    truth = labels(labels_path)
    tracks = sorted(refs)
    w = print

    # Decoding.
    decodable = [t for t in tracks if refs[t]["ffmpeg_decodes"] or refs[t]["sox_decodes"]]
    decoded = [t for t in decodable if t in ours and "analysis" in ours[t]]
    w(f"Decoding: {len(decoded)} of the {len(decodable)} tracks that ffmpeg or sox decode "
      f"({len(tracks)} in all) decoded and analysed.")
    dur_err = [abs(ours[t]["analysis"]["duration_secs"] - refs[t]["duration"]) for t in decoded]
    w(f"Largest difference from ffmpeg's decoded duration: {max(dur_err):.3f} s.\n")

    def est_tempo(t):
        a = ours.get(t, {}).get("analysis", {})
        return (a.get("tempo") or {}).get("bpm")

    def est_key(t):
        k = ours.get(t, {}).get("analysis", {}).get("key")
        return (k["tonic"], k["mode"]) if k else None

    # Tempo.
    w("### Tempo\n")
    w("| set | reference | tracks | ours Acc1 | ours Acc2 | essentia Acc1 | essentia Acc2 | aubio Acc1 | aubio Acc2 |")
    w("|---|---|---|---|---|---|---|---|---|")
    sets = {"wesnoth (41)": [t for t in tracks if t.endswith(".ogg")],
            "immich-memories-music (28)": [t for t in tracks if t.endswith(".opus")]}
    sets["all (69)"] = tracks
    rows = []
    for set_name, members in sets.items():
        cons = {t: tempo_consensus(refs[t]["essentia"]["bpm"], refs[t]["aubio"]["bpm"]) for t in members}
        with_cons = [t for t in members if cons[t]]
        rows.append((set_name, "consensus", with_cons, cons))
        if set_name.startswith("immich"):
            rows.append((set_name, "labels", members, {t: truth[t][0] for t in members}))
    for set_name, ref_name, members, ref in rows:
        def score(f, est):
            return f"{sum(f(ref[t], est(t)) for t in members) / len(members):.2f}" if members else "–"
        ess = lambda t: refs[t]["essentia"]["bpm"]
        aub = lambda t: refs[t]["aubio"]["bpm"]
        cols = [score(acc1, est_tempo), score(acc2, est_tempo), score(acc1, ess), score(acc2, ess)]
        cols += [score(acc1, aub), score(acc2, aub)] if ref_name == "labels" else ["(in consensus)"] * 2
        w(f"| {set_name} | {ref_name} | {len(members)} | " + " | ".join(cols) + " |")
    w("\nConsensus: the mean of essentia RhythmExtractor2013 (multifeature) and `aubio tempo` where the two "
      "agree within 4 %; tracks where they disagree are left out.\n")

    # Key.
    w("### Key\n")
    w("| set | reference | tracks | ours exact | ours MIREX | essentia (edma) exact | essentia (edma) MIREX |")
    w("|---|---|---|---|---|---|---|")
    for set_name, members in sets.items():
        cons = {t: key_consensus([parse_key(refs[t]["essentia"]["key"]),
                                  parse_key(refs[t]["essentia_key_bgate"]),
                                  parse_key(refs[t]["essentia_key_temperley"])]) for t in members}
        targets = [("consensus", [t for t in members if cons[t]], cons)]
        if set_name.startswith("immich"):
            targets.append(("labels", members, {t: truth[t][1] for t in members}))
        for ref_name, ms, ref in targets:
            ess = lambda t: parse_key(refs[t]["essentia"]["key"])
            exact = lambda est: sum(ref[t] == est(t) for t in ms) / len(ms)
            weighted = lambda est: sum(mirex(ref[t], est(t)) for t in ms) / len(ms)
            w(f"| {set_name} | {ref_name} | {len(ms)} | {exact(est_key):.2f} | {weighted(est_key):.2f} | "
              f"{exact(ess):.2f} | {weighted(ess):.2f} |")
    w("\nConsensus: the key at least two of essentia KeyExtractor's edma, bgate and temperley profiles "
      "agree on. MIREX weights: same key 1, fifth above 0.5, relative 0.3, parallel 0.2.\n")

    # Loudness against ffmpeg.
    w("### Loudness against ffmpeg's ebur128 filter\n")
    diffs = {"integrated (LU)": [], "range (LU)": [], "true peak (dB)": []}
    for t in decoded:
        f = refs[t]["ffmpeg"]
        l = ours[t]["analysis"]["loudness"]
        for key, ours_key, ref_key in (("integrated (LU)", "integrated_lufs", "integrated"),
                                       ("range (LU)", "range_lu", "lra"),
                                       ("true peak (dB)", "true_peak_dbtp", "true_peak")):
            if l[ours_key] is not None and f[ref_key] is not None:
                diffs[key].append(abs(l[ours_key] - f[ref_key]))
    w("| figure | tracks | mean abs diff | max abs diff | within 0.1 |")
    w("|---|---|---|---|---|")
    for key, d in diffs.items():
        w(f"| {key} | {len(d)} | {statistics.mean(d):.3f} | {max(d):.3f} | {sum(x <= 0.1 for x in d)} |")
    w("\nffmpeg prints integrated loudness and LRA to 0.1 LU, so differences up to 0.05 are rounding.\n")
    over = [t for t in decoded if (refs[t]["ffmpeg"]["true_peak"] or -99) > 0]
    rest = [abs(ours[t]["analysis"]["loudness"]["true_peak_dbtp"] - refs[t]["ffmpeg"]["true_peak"])
            for t in decoded if t not in over and ours[t]["analysis"]["loudness"]["true_peak_dbtp"] is not None
            and refs[t]["ffmpeg"]["true_peak"] is not None]
    w(f"True peak: {len(over)} tracks (all Vorbis) peak above 0 dBTP in ffmpeg's decode; symphonia clamps "
      f"Vorbis and MP3 output to ±1.0, so ours reads them at about 0 dBTP. On the other {len(rest)} tracks "
      f"the largest difference is {max(rest):.2f} dB and {sum(x <= 0.1 for x in rest)} are within 0.1 dB.\n")
    lra_off = [t for t in decoded if ours[t]["analysis"]["loudness"]["range_lu"] is not None
               and refs[t]["ffmpeg"]["lra"] is not None
               and abs(ours[t]["analysis"]["loudness"]["range_lu"] - refs[t]["ffmpeg"]["lra"]) > 0.1]
    if lra_off:
        w("LRA beyond 0.1 LU: " + ", ".join(
            f"{t} ({ours[t]['analysis']['duration_secs']:.0f} s: ours {ours[t]['analysis']['loudness']['range_lu']}, "
            f"ffmpeg {refs[t]['ffmpeg']['lra']})" for t in lra_off) + ".\n")

    # EBU cases.
    w("### EBU Tech 3341 / 3342 test signals (generated with sox)\n")
    expected = json.load(open(ebu_expected_path))
    w("| case | figure | expected | ours | ffmpeg | ours − expected |")
    w("|---|---|---|---|---|---|")
    for d in map(json.loads, open(ebu_path)):
        case = name(d["file"]).removesuffix(".wav")
        figure, want = expected[case]
        got = d["analysis"]["loudness"]["integrated_lufs" if figure == "I" else "range_lu"]
        ff = ffmpeg_loudness(d["file"])["integrated" if figure == "I" else "lra"]
        w(f"| {case} | {'integrated' if figure == 'I' else 'LRA'} | {want} | {got} | {ff} | {got - want:+.2f} |")
    w("")

    # Speed.
    w("### Speed (CPU time on one core, × real time)\n")
    dur = sum(ours[t]["analysis"]["duration_secs"] for t in decoded)
    ours_all = sum(ours[t]["analyze_secs"] for t in decoded)
    ours_dsp = sum(ours[t]["dsp_secs"] for t in decoded)
    ours_dec = sum(ours[t]["decode_secs"] for t in decoded)
    ess_tk = sum(refs[t]["essentia"]["tempo_secs"] + refs[t]["essentia"]["key_secs"] for t in decoded)
    ess_load = sum(refs[t]["essentia"]["load_secs"] for t in decoded)
    aub = sum(refs[t]["aubio"]["secs"] for t in decoded)
    w("| what | × real time |")
    w("|---|---|")
    w(f"| ours: decode + peaks + tempo + key + loudness, one pass (`analyze`) | {dur / ours_all:.0f} |")
    w(f"| ours: peaks + tempo + key + loudness on decoded PCM (`analyze_samples`) | {dur / ours_dsp:.0f} |")
    w(f"| ours: decode only | {dur / ours_dec:.0f} |")
    w(f"| essentia: tempo (RhythmExtractor2013) + key (KeyExtractor), on decoded 44.1 kHz mono | {dur / ess_tk:.0f} |")
    w(f"| essentia: the same plus ffmpeg decoding to 44.1 kHz mono | {dur / (ess_tk + ess_load):.0f} |")
    w(f"| aubio: `aubio tempo` (decode + tempo) | {dur / aub:.0f} |")
    w(f"\nOver {len(decoded)} tracks, {dur / 60:.1f} minutes of audio.\n")
    four = [t for t in decoded if 200 <= ours[t]["analysis"]["duration_secs"] <= 280 and ours[t]["analysis"]["channels"] == 2]
    if four:
        w("Tracks of 3:20–4:40 (stereo):\n")
        w("| track | length | ours `analyze` | ours `analyze_samples` | essentia tempo + key | aubio tempo |")
        w("|---|---|---|---|---|---|")
        for t in four:
            d = ours[t]["analysis"]["duration_secs"]
            e = refs[t]["essentia"]
            w(f"| {t} | {d:.0f} s | {d / ours[t]['analyze_secs']:.0f}× | {d / ours[t]['dsp_secs']:.0f}× | "
              f"{d / (e['tempo_secs'] + e['key_secs']):.0f}× | {d / refs[t]['aubio']['secs']:.0f}× |")
        w("")


if __name__ == "__main__":
    main()

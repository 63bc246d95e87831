#!/usr/bin/env python3
"""Turns the per-track results of bench/watermark/run.sh into markdown tables."""

import glob
import os
import re
import statistics
import sys

# silence.ogg is 10 s at -91 dBFS RMS: there is no music to hide a mark under, for either system.
EXCLUDED = {"silence"}
ATTACKS = [
    ("crop", "crop at an arbitrary sample (no other change)"),
    ("mp3-128", "MP3 128 kbps (lame)"),
    ("mp3-64", "MP3 64 kbps (lame)"),
    ("aac-128", "AAC 128 kbps (ffmpeg)"),
    ("opus-64", "Opus 64 kbps (ffmpeg, decoded at 48 kHz)"),
    ("vorbis-q2", "Ogg Vorbis q2 (ffmpeg)"),
    ("resample-48k", "resample 44.1 → 48 kHz (sox)"),
    ("vol+6", "volume +6 dB (clipping)"),
    ("vol-6", "volume −6 dB"),
    ("lowpass", "low-pass at 10 % of the rate (4.41 kHz)"),
    ("eq", "EQ: bass +6, treble −6, ±4 dB peaks"),
    ("pink-noise-20db", "pink noise at 20 dB SNR"),
    ("mono", "mono downmix"),
    ("speed+2", "speed +2 % (sox speed)"),
    ("speed-2", "speed −2 % (sox speed)"),
    ("10s-mp3", "10 s excerpt after MP3 128 kbps"),
    ("5s", "5 s excerpt, untouched"),
]


def fields(text):
    return dict(re.findall(r"(\w+)=([^\s]+)", text))


def load(work):
    rows = []
    for path in glob.glob(os.path.join(work, "results", "*.tsv")):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4 and parts[0] not in EXCLUDED:
                    rows.append(parts)
    return rows


def share(verdicts):
    if not verdicts:
        return "–"
    ok = sum(v == "ok" for v in verdicts)
    wrong = sum(v == "WRONG" for v in verdicts)
    text = f"{ok}/{len(verdicts)}"
    if wrong:
        text += f" (**{wrong} wrong**)"
    return text


def main(work):
    rows = load(work)
    groups = {"wesnoth": lambda n: not n.startswith("synth-"), "synthetic": lambda n: n.startswith("synth-")}
    has_awm = any(r[1] == "awm" for r in rows)
    out = []

    out.append("### Exact payload recovery from a 30 s excerpt\n")
    header = "| attack | ours, wesnoth | ours, synthetic |"
    rule = "| --- | --- | --- |"
    if has_awm:
        header += " audiowmark, wesnoth | audiowmark, synthetic |"
        rule += " --- | --- |"
    out += [header, rule]
    for key, label in ATTACKS:
        cells = []
        for system in ["ours", "awm"] if has_awm else ["ours"]:
            for group in groups.values():
                verdicts = [r[3].split()[0] for r in rows if r[1] == system and r[2] == key and group(r[0])]
                cells.append(share(verdicts))
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    out.append("\n### False positives (a payload reported where none should be)\n")
    out.append("| excerpts | searched with | reported |")
    out.append("| --- | --- | --- |")
    for test, label in [("unmarked", "unmarked 30 s excerpts (one per track)"), ("wrong-key", "30 s excerpts marked with another key")]:
        verdicts = [r[3].split()[0] for r in rows if r[1] == "ours" and r[2] == test]
        out.append(f"| {label} | ours | {sum(v == 'WRONG' for v in verdicts)}/{len(verdicts)} |")
    for name, label in [("fp-unmarked-*.txt", "unmarked 10 s excerpts, arbitrary offsets"), ("fp-wrong-key.txt", "10 s excerpts of tracks marked with another key")]:
        total = found = 0
        worst = []
        for path in glob.glob(os.path.join(work, "results", name)):
            with open(path) as f:
                values = fields(f.read())
            total += int(values.get("excerpts", 0))
            found += int(values.get("found", 0))
            worst.append(float(values.get("max_sync", "nan")))
        if total:
            out.append(f"| {label} | ours | {found}/{total} (highest sync score {max(worst):.1f}) |")

    collusion = [r for r in rows if r[2].startswith("collusion-")]
    if collusion:
        out.append("\n### Collusion: suspect copy scored against every candidate (after MP3 128 kbps, 30 s)\n")
        out.append("| copies | tests | a colluder named | innocents named (of 1 000 each) | lowest best-colluder score | highest innocent score | threshold |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for kind, label in [("avg2", "2 averaged"), ("avg3", "3 averaged"), ("splice2", "2 spliced (4 s turns)"), ("splice3", "3 spliced (4 s turns)")]:
            tests = [fields(r[3]) for r in collusion if r[2] == f"collusion-{kind}"]
            if not tests:
                continue
            named = sum(int(t.get("colluders_named", 0)) >= 1 for t in tests)
            innocents = sum(int(t.get("innocents_named", 0)) for t in tests)
            best = [max(float(s) for s in t["colluder_scores"].split(",")) for t in tests if "colluder_scores" in t]
            innocent_max = max(float(t.get("innocent_max", "nan")) for t in tests)
            threshold = tests[0].get("threshold", "?")
            out.append(f"| {label} | {len(tests)} | {named}/{len(tests)} | {innocents} | {min(best):.1f} | {innocent_max:.1f} | {threshold} |")

    out.append("\n### Inaudibility: SNR of the marked track against the original\n")
    out.append("| system | tracks | SNR min / median / max (dB) | worst 1-s stretch (dB, above −60 dBFS) |")
    out.append("| --- | --- | --- | --- |")
    for system, test in [("ours", "snr"), ("awm", "embed")]:
        values = [fields(r[3]) for r in rows if r[1] == system and r[2] == test]
        snr = [float(v["snr_db"]) for v in values if "snr_db" in v]
        worst = [float(v["worst_second_snr_db"]) for v in values if "worst_second_snr_db" in v]
        if snr:
            name = "ours" if system == "ours" else "audiowmark"
            out.append(f"| {name} | {len(snr)} | {min(snr):.1f} / {statistics.median(snr):.1f} / {max(snr):.1f} | {min(worst):.1f} |")

    out.append("\n### Speed (CPU time on one core)\n")
    out.append("| system | embed (× real time) | detect a marked 30 s excerpt (s) | detect after ±2 % speed (s) | detect an unmarked 30 s excerpt (s) |")
    out.append("| --- | --- | --- | --- | --- |")
    ours_embed = [fields(r[3]) for r in rows if r[1] == "ours" and r[2] == "embed"]
    audio = sum(float(e["audio_seconds"]) for e in ours_embed)
    cpu = sum(float(e["embed_cpu_seconds"]) for e in ours_embed)

    def mean_cpu(system, tests):
        values = [float(r[3].split()[1]) for r in rows if r[1] == system and r[2] in tests and len(r[3].split()) > 1]
        return f"{statistics.mean(values):.2f}" if values else "–"

    marked_tests = {"crop", "mp3-128", "aac-128"}
    out.append(
        f"| ours (library, in-process) | {audio / cpu:.0f} | {mean_cpu('ours', marked_tests)} | "
        f"{mean_cpu('ours', {'speed+2', 'speed-2'})} | {mean_cpu('ours', {'unmarked'})} |"
    )
    if has_awm:
        awm_embed = [fields(r[3]) for r in rows if r[1] == "awm" and r[2] == "embed"]
        audio = sum(float(e["audio_seconds"]) for e in awm_embed)
        cpu = sum(float(e["embed_process_cpu_seconds"]) for e in awm_embed)
        out.append(
            f"| audiowmark (whole process, incl. WAV I/O) | {audio / cpu:.0f} | {mean_cpu('awm', marked_tests)} | "
            f"{mean_cpu('awm', {'speed+2', 'speed-2'})} (`--detect-speed`) | – |"
        )
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/studiovault-wm-bench")

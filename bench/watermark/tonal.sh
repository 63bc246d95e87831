#!/usr/bin/env bash
# Forensic watermark on quiet tonal music: 10 solo piano and 10 solo voice pieces rendered
# here by tonal_set.py (openttd-openmsx General MIDI songs through fluidsynth, espeak-ng),
# plus wmtool's 3 synthetic pieces (sine melody, piano-like decays, sparse notes).
# Each piece is marked whole, a 30 s excerpt is cut at an arbitrary sample offset, attacked,
# and detected; the table counts exact / wrong payloads per set and attack, with the SNR of
# the marked pieces. Also: 1 000 unmarked 10 s excerpts of the tonal set (false positives),
# and, with VISQOL_PYTHON set, ViSQOL MOS-LQO of marked against original 10 s passages.
#
#   bench/watermark/tonal.sh                        # about 2 min on 2 cores, +6 for the 1 000
#                                                   # false-positive excerpts, +10 with ViSQOL
#   ATTACKS="mp3-128" FP_EXCERPTS=0 bench/watermark/tonal.sh   # quick look
#   EMBED_ARGS="--v1" bench/watermark/tonal.sh      # the first embedding (layout 1) instead
#
# Needs fluidsynth, fluid-soundfont-gm, openttd-openmsx, espeak-ng, lame, ffmpeg, sox and a
# Python with numpy, scipy, soundfile and mido (PYTHON=..., default python3).
# audiowmark is run beside ours only when an `audiowmark` binary is on PATH.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/studiovault-wm-tonal}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-2}
ATTACKS=${ATTACKS:-"crop mp3-128 mp3-64 aac-128"}
FP_EXCERPTS=${FP_EXCERPTS:-1000}
EMBED_ARGS=${EMBED_ARGS:-}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TOOL=$WORK/wmtool
KEY=7d1c0f3a5b2e4d6c8a9b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7

# shellcheck source=attacks.sh
source "$HERE/attacks.sh"

piece_job() { # piece_job INDEX NAME
    local index=$1 name=$2 dir=$WORK/pieces/$2 orig=$WORK/corpus/$2.wav results=$WORK/results/$2.tsv
    rm -rf "$dir"
    mkdir -p "$dir"
    : >"$results"
    local id rate frames excerpt_frames start a out verdict
    id=$((0x7a00000000 + index * 7919))
    rate=$(soxi -r "$orig")
    frames=$(soxi -s "$orig")
    excerpt_frames=$((30 * rate))
    [ "$frames" -lt "$excerpt_frames" ] && excerpt_frames=$frames
    start=$(((index * 1000003 + 12345) % (frames - excerpt_frames + 1)))
    # shellcheck disable=SC2086
    out=$("$TOOL" embed "$orig" "$dir/marked.wav" --key "$KEY" --id "$id" $EMBED_ARGS)
    printf '%s\tembed\t%s\n' "$name" "$out" >>"$results"
    printf '%s\tsnr\t%s\n' "$name" "$("$TOOL" snr "$orig" "$dir/marked.wav")" >>"$results"
    sox "$dir/marked.wav" "$dir/ex.wav" trim "${start}s" "${excerpt_frames}s"
    for a in $ATTACKS; do
        attack "$a" "$dir/ex.wav" "$dir/$a.wav"
        out=$("$TOOL" detect "$dir/$a.wav" --key "$KEY")
        if [[ $out == *result=found* ]]; then
            if [[ $out == *"id=$id "* ]]; then verdict=ok; else verdict=WRONG; fi
        else
            verdict=miss
        fi
        printf '%s\t%s\t%s\t%s\n' "$name" "$a" "$verdict" "$out" >>"$results"
    done
    rm -f "$dir"/*.mp3 "$dir"/*.m4a "$dir"/ex.wav "$dir"/[a-z]*-*.wav "$dir"/crop.wav
}

if [ "${1:-}" = piece ]; then
    piece_job "$2" "$3"
    exit 0
fi

echo "building wmtool (release)..." >&2
(cd "$ROOT" && cargo build --quiet --release -p studiovault-watermark --example wmtool)
mkdir -p "$WORK/corpus" "$WORK/results" "$WORK/pieces"
cp "$CARGO_TARGET_DIR/release/examples/wmtool" "$TOOL.new" && mv -f "$TOOL.new" "$TOOL"
rm -f "$WORK"/results/*
if ! command -v audiowmark >/dev/null 2>&1; then
    echo "audiowmark not on PATH: benchmarking studiovault-watermark alone" >&2
fi

[ -f "$WORK/corpus/voice-09.wav" ] || "$PYTHON" "$HERE/tonal_set.py" "$WORK/corpus" >&2
for kind in sine-melody piano sparse; do
    [ -f "$WORK/corpus/synth-$kind.wav" ] || "$TOOL" synth "$WORK/corpus/synth-$kind.wav" --kind "$kind" --seconds 60 >/dev/null
done
names=()
for f in "$WORK"/corpus/*.wav; do names+=("$(basename "$f" .wav)"); done
for index in "${!names[@]}"; do echo "$index ${names[$index]}"; done | xargs -P "$JOBS" -n 2 "$0" piece

if [ "$FP_EXCERPTS" -gt 0 ]; then
    half=$((FP_EXCERPTS / 2))
    "$TOOL" false-positives --key "$KEY" --count "$half" --seconds 10 "$WORK"/corpus/*.wav >"$WORK/results/fp-a.txt" &
    "$TOOL" false-positives --key "$KEY" --count $((FP_EXCERPTS - half)) --first "$half" --seconds 10 "$WORK"/corpus/*.wav >"$WORK/results/fp-b.txt"
    wait
fi

{
    echo "Tonal set, 30 s excerpts at an arbitrary offset ($(date -u +%Y-%m-%d), wmtool embed ${EMBED_ARGS:-default}):"
    echo
    printf '| attack | piano | voice | synthetic | wrong payloads |\n| --- | --- | --- | --- | --- |\n'
    for a in $ATTACKS; do
        cat "$WORK"/results/*.tsv | awk -F'\t' -v a="$a" '
            $2 == a { set = substr($1, 1, index($1, "-") - 1); n[set]++; if ($3 == "ok") ok[set]++; if ($3 == "WRONG") wrong++ }
            END { printf "| %s | %d/%d | %d/%d | %d/%d | %d |\n", a, ok["piano"], n["piano"], ok["voice"], n["voice"], ok["synth"], n["synth"], wrong }'
    done
    echo
    printf '| piece | SNR (dB) | worst 1 s (dB) | %s |\n| --- | --- | --- |%s\n' "$(echo $ATTACKS | sed 's/ / | /g')" "$(for a in $ATTACKS; do printf ' --- |'; done)"
    for f in "$WORK"/results/*.tsv; do
        awk -F'\t' '
            $2 == "snr" { split($3, kv, /[ =]/); snr = kv[2]; worst = kv[4] }
            $2 != "snr" && $2 != "embed" { v = v " | " $3; if (match($4, /sync=[-0-9.]+/)) v = v " (" substr($4, RSTART + 5, RLENGTH - 5) ")" }
            END { printf "| %s | %s | %s%s |\n", FILENAME, snr, worst, v }' "$f" | sed "s#$WORK/results/##; s#\.tsv##"
    done
    echo
    cat "$WORK"/results/*.tsv | awk -F'\t' '$2 == "embed" { for (i = 1; i <= split($3, f, " "); i++) { split(f[i], kv, "="); if (kv[1] == "audio_seconds") s += kv[2]; if (kv[1] == "embed_cpu_seconds") c += kv[2] } }
        END { if (c > 0) printf "embed: %.0f s of audio in %.2f CPU-s = %.0fx real time on one core\n", s, c, s / c }'
    if [ "$FP_EXCERPTS" -gt 0 ]; then
        cat "$WORK"/results/fp-*.txt | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } n += v["excerpts"]; f += v["found"]; if (v["max_sync"] > m) m = v["max_sync"] }
            END { printf "false positives: %d of %d unmarked 10 s excerpts of the tonal set (highest sync score %.2f)\n", f, n, m }'
    fi
} | tee "$WORK/summary.md"

if [ -n "${VISQOL_PYTHON:-}" ]; then
    Q=$WORK/quality
    mkdir -p "$Q"
    echo
    echo "| passage (10 s from 20 s) | SNR (dB) | ViSQOL MOS-LQO |"
    echo "| --- | --- | --- |"
    for name in synth-sine-melody synth-piano synth-sparse piano-01 piano-02 voice-00 voice-07; do
        "$TOOL" embed "$WORK/corpus/$name.wav" "$Q/$name.marked.wav" --key "$KEY" --id 424242 $EMBED_ARGS >/dev/null
        sox "$WORK/corpus/$name.wav" -r 48000 -b 24 "$Q/$name.o.wav" trim 20 10
        sox "$Q/$name.marked.wav" -r 48000 -b 24 "$Q/$name.m.wav" trim 20 10
        snr=$("$TOOL" snr "$Q/$name.o.wav" "$Q/$name.m.wav" | sed -n 's/^snr_db=\([-0-9.]*\).*/\1/p')
        mos=$("$VISQOL_PYTHON" "$HERE/visqol_score.py" "$Q/$name.o.wav" "$Q/$name.m.wav" | cut -f2)
        echo "| $name | $snr | $mos |"
    done | tee -a "$WORK/summary.md"
fi

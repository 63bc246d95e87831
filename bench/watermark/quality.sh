#!/usr/bin/env bash
# Perceptual check of the passages where a mark is easiest to hear: a bare sine melody,
# piano-like decays, sparse notes over silence, a quiet intro (-44 dBFS) and a track's
# ending, plus one busy passage for contrast. For each: SNR and ViSQOL MOS-LQO (audio mode,
# 1-5, 4.73 = identical) of the marked excerpt against the original, for studiovault-watermark
# and (when on PATH) audiowmark; an MP3 128 kbps copy of the busy passage anchors the scale.
#
# Run after bench/watermark/run.sh (it reuses its corpus and wmtool copy). Needs a Python
# with `visqol-python` installed, given as VISQOL_PYTHON (ViSQOL takes ~1 min per pair).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/studiovault-wm-bench}
VISQOL_PYTHON=${VISQOL_PYTHON:-python3}
TOOL=$WORK/wmtool
KEY=7d1c0f3a5b2e4d6c8a9b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7
Q=$WORK/quality
mkdir -p "$Q"

# name start_seconds (negative: from the end) label
ITEMS="synth-sine-melody:20:sine melody
synth-piano:20:piano-like decays
synth-sparse:20:sparse notes over silence
silvan_sanctuary:0:quiet intro (-44 dBFS RMS)
journeys_end:-12:track ending
battle:60:busy orchestral passage"

echo "| passage | system | SNR (dB) | ViSQOL MOS-LQO |"
echo "| --- | --- | --- | --- |"
while IFS=: read -r name start label; do
    orig=$WORK/corpus/$name.wav
    if [ "$start" -lt 0 ]; then
        start=$(python3 -c "print(max(0, $(soxi -D "$orig") + $start))")
    fi
    "$TOOL" embed "$orig" "$Q/$name.ours.wav" --key "$KEY" --id 424242 >/dev/null
    systems="original ours"
    if command -v audiowmark >/dev/null 2>&1; then
        [ -f "$WORK/awm.key" ] || audiowmark gen-key "$WORK/awm.key" >/dev/null
        audiowmark add --key "$WORK/awm.key" "$orig" "$Q/$name.awm.wav" 0123456789abcdef0123456789abcdef >/dev/null 2>&1
        systems="$systems awm"
    fi
    for s in $systems; do
        src=$orig
        [ "$s" != original ] && src=$Q/$name.$s.wav
        # ViSQOL's audio mode works at 48 kHz.
        sox "$src" -r 48000 -b 24 "$Q/$name.$s.10s.wav" trim "$start" 10
    done
    degraded=("$Q/$name.ours.10s.wav")
    [ -f "$Q/$name.awm.10s.wav" ] && degraded+=("$Q/$name.awm.10s.wav")
    if [ "$name" = battle ]; then
        lame --quiet -b 128 "$Q/$name.original.10s.wav" "$Q/$name.mp3"
        lame --quiet --decode "$Q/$name.mp3" "$Q/$name.mp3dec.wav"
        sox "$Q/$name.mp3dec.wav" -r 48000 -b 24 "$Q/$name.mp3.10s.wav"
        degraded+=("$Q/$name.mp3.10s.wav")
    fi
    while IFS=$'\t' read -r file mos; do
        system=$(basename "$file" .10s.wav)
        system=${system##*.}
        snr=$("$TOOL" snr "$Q/$name.original.10s.wav" "$file" | sed -n 's/^snr_db=\([-0-9.]*\).*/\1/p')
        case $system in
        ours) system=studiovault ;;
        awm) system=audiowmark ;;
        mp3) system="MP3 128 kbps (anchor)" snr="– (codec delay)" ;;
        esac
        echo "| $label | $system | $snr | $mos |"
    done < <("$VISQOL_PYTHON" "$HERE/visqol_score.py" "$Q/$name.original.10s.wav" "${degraded[@]}")
done <<<"$ITEMS"

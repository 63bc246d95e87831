#!/usr/bin/env bash
# Shortest excerpt: share of excerpts of each length (untouched, arbitrary sample offsets)
# from which studiovault-watermark reads the exact payload. Run after run.sh: it uses the
# tracks that run marked (kept as $WORK/tracks/NAME/ours.wav) and its wmtool copy.
set -euo pipefail
WORK=${WORK:-/tmp/studiovault-wm-bench}
TOOL=$WORK/wmtool
MUSIC=${MUSIC:-/usr/share/games/wesnoth/1.16/data/core/music}
KEY=7d1c0f3a5b2e4d6c8a9b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7
# Track order, hence payload ids, exactly as run.sh assigns them.
names=()
for f in "$MUSIC"/*.ogg; do names+=("$(basename "$f" .ogg)"); done
names+=(synth-sine-melody synth-piano synth-sparse)
LENGTHS=${LENGTHS:-"3.5 4 5 7.5 10"}
OFFSETS=${OFFSETS:-4}

echo "| excerpt | exact payload | wrong payload |"
echo "| --- | --- | --- |"
for len in $LENGTHS; do
    ok=0 wrong=0 total=0
    for index in "${!names[@]}"; do
        name=${names[$index]}
        marked=$WORK/tracks/$name/ours.wav
        [ "$name" = silence ] || [ ! -f "$marked" ] && continue
        seconds=$(soxi -D "$marked")
        expected=$((0x5d00000000 + index * 7919))
        for k in $(seq 1 "$OFFSETS"); do
            start=$(python3 -c "print(f'{(($k * 7.919 + $index * 1.37) % max(0.001, $seconds - $len)):.5f}')")
            python3 -c "import sys; sys.exit(0 if $seconds >= $len else 1)" || continue
            out=$("$TOOL" detect "$marked" --key "$KEY" --start "$start" --seconds "$len")
            total=$((total + 1))
            if [[ $out == *result=found* ]]; then
                if [[ $out == *"id=$expected "* ]]; then ok=$((ok + 1)); else wrong=$((wrong + 1)); fi
            fi
        done
    done
    echo "| $len s | $ok/$total | $wrong |"
done

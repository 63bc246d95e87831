#!/usr/bin/env bash
# How fast a share recipient's watermarked copy is made: `studiovault watermark embed` (decode,
# embed the recipient's mark, FLAC-encode, exactly what a render job does) beside a plain
# `ffmpeg -i SONG -c:a flac` transcode of the same songs in the same run, one core each.
#
#   bench/share-render.sh [TRACK.ogg ...]     default: five songs of wesnoth-1.16-music
#
# Needs: ffmpeg, Debian's wesnoth-1.16-music. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
MUSIC=/usr/share/games/wesnoth/1.16/data/core/music
TRACKS=("$@")
[ $# -gt 0 ] || TRACKS=("$MUSIC"/battle.ogg "$MUSIC"/elvish-theme.ogg "$MUSIC"/knolls.ogg "$MUSIC"/heroes_rite.ogg "$MUSIC"/the_city_falls.ogg)
work=$(mktemp -d /tmp/sv-render.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p studiovault
BIN=${CARGO_TARGET_DIR:-target}/release/studiovault
# A data directory with a master key, whose watermark key the CLI uses.
timeout 5 "$BIN" serve --data-dir "$work/data" --listen 127.0.0.1:18490 >/dev/null 2>&1 || true

secs() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
now() { date +%s.%N; }

printf '%-24s %8s %12s %12s %8s\n' track "audio s" "ours ×RT" "ffmpeg ×RT" ratio
total_audio=0; total_ours=0; total_peer=0
for t in "${TRACKS[@]}"; do
    audio=$(secs "$t")
    start=$(now)
    taskset -c 0 "$BIN" --data-dir "$work/data" watermark embed "$t" "$work/marked.flac" --payload 0123456789abcdef >/dev/null
    ours=$(echo "$(now) - $start" | bc -l)
    start=$(now)
    taskset -c 0 ffmpeg -v error -y -threads 1 -i "$t" -c:a flac "$work/plain.flac"
    peer=$(echo "$(now) - $start" | bc -l)
    printf '%-24s %8.1f %12.0f %12.0f %8.2f\n' "$(basename "$t")" "$audio" \
        "$(echo "$audio / $ours" | bc -l)" "$(echo "$audio / $peer" | bc -l)" "$(echo "$peer / $ours" | bc -l)"
    total_audio=$(echo "$total_audio + $audio" | bc -l)
    total_ours=$(echo "$total_ours + $ours" | bc -l)
    total_peer=$(echo "$total_peer + $peer" | bc -l)
done
printf '%-24s %8.1f %12.0f %12.0f %8.2f\n' all "$total_audio" \
    "$(echo "$total_audio / $total_ours" | bc -l)" "$(echo "$total_audio / $total_peer" | bc -l)" \
    "$(echo "$total_peer / $total_ours" | bc -l)"

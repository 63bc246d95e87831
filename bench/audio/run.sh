#!/usr/bin/env bash
# Reproduces the audio engine's accuracy and speed report (docs/BENCHMARKS.md, "Audio engine").
#
# Needs: Debian's wesnoth-1.16-music, aubio-tools, ffmpeg and sox; PyPI's essentia, numpy and
# immich-memories-music. Writes bench/audio/results/ and prints the report.
#
#   bash bench/audio/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$here/results
mkdir -p "$out/ebu"

for tool in ffmpeg sox aubio python3 taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install ffmpeg sox aubio-tools)" >&2; exit 1; }
done
python3 -c 'import essentia, numpy, immich_memories_music' 2>/dev/null ||
  { echo "missing Python packages: pip install essentia numpy immich-memories-music" >&2; exit 1; }
wesnoth=/usr/share/games/wesnoth/1.16/data/core/music
[ -d "$wesnoth" ] || { echo "missing $wesnoth (apt-get install wesnoth-1.16-music)" >&2; exit 1; }
immich=$(python3 -c 'import immich_memories_music as m; print(m.tracks_dir())')
labels=$(python3 -c 'import importlib.metadata as m; print([f.locate() for f in m.files("immich-memories-music") if f.name == "LICENSE-MUSIC"][0])')

export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -p studiovault-audio --example bench_analyze)
ours=$CARGO_TARGET_DIR/release/examples/bench_analyze

# EBU Tech 3341 cases 1-5 and Tech 3342 cases 1-4: stereo 1 kHz sines, 48 kHz, 24-bit, in
# segments of (seconds, dBFS).
declare -A cases=(
  [3341-1]="20:-23" [3341-2]="20:-33" [3341-3]="10:-36 60:-23 10:-36"
  [3341-4]="10:-72 10:-36 60:-23 10:-36 10:-72" [3341-5]="20:-26 20.1:-20 20:-26"
  [3342-1]="20:-20 20:-30" [3342-2]="20:-20 20:-15" [3342-3]="20:-40 20:-20"
  [3342-4]="20:-50 20:-35 20:-20 20:-35 20:-50"
)
echo '{"3341-1": ["I", -23.0], "3341-2": ["I", -33.0], "3341-3": ["I", -23.0], "3341-4": ["I", -23.0],
 "3341-5": ["I", -23.0], "3342-1": ["LRA", 10.0], "3342-2": ["LRA", 5.0], "3342-3": ["LRA", 20.0],
 "3342-4": ["LRA", 15.0]}' > "$out/ebu/expected.json"
for case in "${!cases[@]}"; do
  parts=()
  i=0
  for segment in ${cases[$case]}; do
    part=$out/ebu/part-$i.wav
    sox -n -r 48000 -b 24 -c 2 "$part" synth "${segment%%:*}" sine 1000 vol "${segment#*:}dB"
    parts+=("$part")
    i=$((i + 1))
  done
  if [ ${#parts[@]} -eq 1 ]; then mv "${parts[0]}" "$out/ebu/$case.wav"; else sox "${parts[@]}" "$out/ebu/$case.wav"; rm -f "${parts[@]}"; fi
done

tracks=("$wesnoth"/*.ogg "$immich"/*/*.opus)
taskset -c 0 "$ours" "$out"/ebu/3341-*.wav "$out"/ebu/3342-*.wav > "$out/ebu_ours.jsonl"
taskset -c 0 "$ours" "${tracks[@]}" > "$out/ours.jsonl"
taskset -c 0 python3 "$here/references.py" "$out/references.jsonl" "${tracks[@]}" 2> "$out/references.log"
(cd "$here" && python3 report.py "$out/ours.jsonl" "$out/references.jsonl" "$out/ebu_ours.jsonl" \
  "$out/ebu/expected.json" "$labels") | tee "$out/report.md"

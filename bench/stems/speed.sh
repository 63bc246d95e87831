#!/usr/bin/env bash
# Speed and memory of `studiovault stems separate --backend builtin`: × real time on one core
# (--threads 1 under taskset -c 0) and on two (--threads 2 under taskset -c 0,1), and the peak
# RSS from /usr/bin/time -v, for tracks of 1, 5 and 10 minutes made by concatenating the
# ground truth's mixtures (looped as needed), so that one can see memory stay flat in length.
#
#   bench/stems/speed.sh SET_DIR [MINUTES ...]      default minutes: 1 5 10
#
# Env: STUDIOVAULT_BIN (default $CARGO_TARGET_DIR/release/studiovault, CARGO_TARGET_DIR
# defaulting to target/ at the repository root), STEMS_MODELS_DIR (passed as --models-dir when
# set), PYTHON (a python with numpy and soundfile; default the bench venv's), RUNS (default 1:
# the best of RUNS runs is kept). Exits 3 when the binary is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
set_dir=${1:?usage: speed.sh SET_DIR [MINUTES ...]}
shift
minutes=("$@")
[ ${#minutes[@]} -gt 0 ] || minutes=(1 5 10)
PYTHON=${PYTHON:-$HOME/.cache/studiovault-tools/bench-venv/bin/python}
RUNS=${RUNS:-1}
target=${CARGO_TARGET_DIR:-$root/target}
BIN=${STUDIOVAULT_BIN:-$target/release/studiovault}
if [ ! -x "$BIN" ]; then
    echo "speed.sh: the studiovault binary is missing at $BIN" >&2
    echo "  build it (cargo build --release -p studiovault) or point STUDIOVAULT_BIN at it" >&2
    exit 3
fi
[ -x /usr/bin/time ] || { echo "speed.sh: /usr/bin/time is missing: apt-get install -y time" >&2; exit 1; }
command -v taskset >/dev/null || { echo "speed.sh: taskset is missing (util-linux)" >&2; exit 1; }
models=()
[ -n "${STEMS_MODELS_DIR:-}" ] && models=(--models-dir "$STEMS_MODELS_DIR")

work=${SPEED_WORK:-$here/out/speed}
mkdir -p "$work"

# Long inputs, cached: the mixtures one after another, looped to the length.
for m in "${minutes[@]}"; do
    f="$work/long-${m}min.wav"
    [ -s "$f" ] && continue
    HERE="$here" "$PYTHON" - "$set_dir" "$m" "$f" <<'PY'
import glob, os, sys
import numpy as np
import soundfile as sf
sys.path.insert(0, os.environ.get("HERE", "."))
from wavio import write_f32
set_dir, minutes, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
files = sorted(glob.glob(os.path.join(set_dir, "*", "mixture.wav")))
if not files:
    sys.exit(f"no mixtures in {set_dir}")
sr = sf.info(files[0]).samplerate
need = int(minutes * 60 * sr)
parts, have, i = [], 0, 0
while have < need:
    x, _ = sf.read(files[i % len(files)], dtype="float32", always_2d=True)
    parts.append(x[:need - have])
    have += len(parts[-1])
    i += 1
write_f32(out, np.concatenate(parts), sr)
PY
done

echo "Binary: $BIN ($("$BIN" --version 2>/dev/null || echo 'version unknown')); CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo
echo "| length | 1 thread (taskset -c 0): × real time | peak RSS | 2 threads: × real time | peak RSS |"
echo "|---|---|---|---|---|"
status=0
for m in "${minutes[@]}"; do
    f="$work/long-${m}min.wav"
    dur=$("$PYTHON" -c "import soundfile as sf, sys; i = sf.info(sys.argv[1]); print(i.frames / i.samplerate)" "$f")
    cells=()
    for threads in 1 2; do
        cpus=0
        [ "$threads" -gt 1 ] && cpus=0-$((threads - 1))
        best_wall="" best_rss=""
        for _ in $(seq "$RUNS"); do
            out="$work/out-${m}min-t$threads"
            rm -rf "$out"
            log="$work/time-${m}min-t$threads.txt"
            t0=$(date +%s.%N)
            if ! taskset -c "$cpus" /usr/bin/time -v -o "$log" \
                "$BIN" stems separate "$f" "$out" --backend builtin --threads "$threads" "${models[@]}" \
                >"$work/stdout-${m}min-t$threads.txt" 2>"$work/stderr-${m}min-t$threads.txt"; then
                echo "speed.sh: separation failed for $f (--threads $threads):" >&2
                tail -5 "$work/stderr-${m}min-t$threads.txt" >&2
                status=1
                continue
            fi
            t1=$(date +%s.%N)
            wall=$(echo "$t1 - $t0" | bc -l)
            rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$log")
            if [ -z "$best_wall" ] || [ "$(echo "$wall < $best_wall" | bc -l)" = 1 ]; then best_wall=$wall; fi
            if [ -z "$best_rss" ] || [ "$rss" -lt "$best_rss" ]; then best_rss=$rss; fi
        done
        if [ -z "$best_wall" ]; then
            cells+=("failed" "–")
        else
            cells+=("$(printf '%.1f×' "$(echo "$dur / $best_wall" | bc -l)")" "$(printf '%.0f MiB' "$(echo "$best_rss / 1024" | bc -l)")")
        fi
    done
    echo "| $m min | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} |"
done
exit $status

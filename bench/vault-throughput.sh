#!/usr/bin/env bash
# Upload and download throughput of the vault on loopback, beside nginx serving (and accepting
# by WebDAV PUT) the same file from disk in the same run, plus the server's peak RSS.
#
#   bench/vault-throughput.sh [SIZE_MIB ...]     default: 256 2048
#
# Needs: curl, nginx (Debian's nginx-light), python3. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-256 2048}")
[ $# -gt 0 ] || SIZES=(256 2048)
RUNS=${RUNS:-3}
PASSWORD="a long benchmark passphrase"
work=$(mktemp -d /tmp/sv-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
    [ -n "${sv_pid:-}" ] && kill "$sv_pid" 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }
cargo build --release -q -p studiovault
BIN=${CARGO_TARGET_DIR:-target}/release/studiovault
SV_PORT=18480
NGINX_PORT=18481

# nginx: static files with sendfile, and WebDAV PUT for the upload baseline.
mkdir -p "$work/www/up" "$work/nginx-tmp"
chmod 777 "$work/www/up" "$work/nginx-tmp"   # nginx's workers run as nobody
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $work/nginx-tmp;
    proxy_temp_path $work/nginx-tmp;
    fastcgi_temp_path $work/nginx-tmp;
    uwsgi_temp_path $work/nginx-tmp;
    scgi_temp_path $work/nginx-tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $work/www;
        location /up/ { dav_methods PUT; client_max_body_size 0; create_full_put_path on; }
    }
}
CONF
nginx -c "$work/nginx.conf"

"$BIN" serve --data-dir "$work/data" --listen 127.0.0.1:$SV_PORT 2>"$work/sv.log" &
sv_pid=$!
for _ in $(seq 100); do [ -S "$work/data/admin.sock" ] && break; sleep 0.1; done
echo "$PASSWORD" | "$BIN" --data-dir "$work/data" user add bench@studio.test --plan max --password-stdin >/dev/null
curl -s -c "$work/jar" -H 'content-type: application/json' \
    -d "{\"email\":\"bench@studio.test\",\"password\":\"$PASSWORD\"}" "http://127.0.0.1:$SV_PORT/api/session" >/dev/null

# curl timing that fails loudly when a transfer is short: prints seconds.
timed() {
    local expect=$1; shift
    local out
    out=$(curl -s -w '%{http_code} %{size_download} %{size_upload} %{time_total}' "$@")
    read -r code down up secs <<<"$out"
    if [ "$code" -ge 300 ] || { [ "$down" -ne "$expect" ] && [ "$up" -lt "$expect" ]; }; then
        echo "transfer failed: HTTP $code, $down down / $up up, expected $expect: curl $*" >&2
        exit 1
    fi
    echo "$secs"
}
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$sv_pid/status"; }
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$sv_pid/status"; }
best() { sort -g | tail -1; }                     # highest MB/s of the runs
mbps() { python3 -c "import sys; print(f'{$1/1048576/float(sys.argv[1]):.0f}')" "$2"; }

printf '%-9s %-22s %10s %10s %7s\n' size measure vault nginx ratio
for mib in "${SIZES[@]}"; do
    file="$work/www/track-$mib.wav"
    python3 - "$file" "$mib" <<'PY'
import os, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
data = mib * 1048576 - 44
with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 176400, 4, 16))
    f.write(b"data" + struct.pack("<I", data))
    chunk = os.urandom(1 << 20)
    left = data
    while left:
        n = min(left, len(chunk)); f.write(chunk[:n]); left -= n
PY
    bytes=$(stat -c %s "$file")
    up_sv=(); up_ng=(); down_sv=(); down_ng=(); range_sv=(); range_ng=()
    rss_before=$(rss)
    for _ in $(seq "$RUNS"); do
        t=$(timed "$bytes" -b "$work/jar" -o "$work/up.json" -F "file=@$file" "http://127.0.0.1:$SV_PORT/api/tracks")
        up_sv+=("$(mbps "$bytes" "$t")")
        t=$(timed "$bytes" -o /dev/null -T "$file" "http://127.0.0.1:$NGINX_PORT/up/copy.wav")
        up_ng+=("$(mbps "$bytes" "$t")")
    done
    up_hwm=$(hwm)
    id=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$work/up.json")
    half=$((bytes / 2))
    for _ in $(seq "$RUNS"); do
        t=$(timed "$bytes" -b "$work/jar" -o /dev/null "http://127.0.0.1:$SV_PORT/api/tracks/$id/audio")
        down_sv+=("$(mbps "$bytes" "$t")")
        t=$(timed "$bytes" -o /dev/null "http://127.0.0.1:$NGINX_PORT/track-$mib.wav")
        down_ng+=("$(mbps "$bytes" "$t")")
        t=$(timed $((bytes - half)) -b "$work/jar" -o /dev/null -H "Range: bytes=$half-" "http://127.0.0.1:$SV_PORT/api/tracks/$id/audio")
        range_sv+=("$(mbps $((bytes - half)) "$t")")
        t=$(timed $((bytes - half)) -o /dev/null -H "Range: bytes=$half-" "http://127.0.0.1:$NGINX_PORT/track-$mib.wav")
        range_ng+=("$(mbps $((bytes - half)) "$t")")
    done
    down_hwm=$(hwm)
    row() {
        local name=$1 a b
        a=$(printf '%s\n' "${@:2:$RUNS}" | best)
        b=$(printf '%s\n' "${@:$((2 + RUNS))}" | best)
        printf '%-9s %-22s %7s MB/s %5s MB/s %6sx\n' "${mib}MiB" "$name" "$a" "$b" "$(python3 -c "print(f'{$a/$b:.2f}')")"
    }
    row "upload" "${up_sv[@]}" "${up_ng[@]}"
    row "download (whole)" "${down_sv[@]}" "${down_ng[@]}"
    row "download (Range 2nd half)" "${range_sv[@]}" "${range_ng[@]}"
    printf '%-9s %-22s RSS before %s MiB, peak after uploads %s MiB, peak after downloads %s MiB\n' "${mib}MiB" "memory" "$rss_before" "$up_hwm" "$down_hwm"
    rm -f "$file" "$work/www/up/copy.wav"
done
echo "(best of $RUNS runs each; vault uploads are fsynced, hashed, encrypted and probed; nginx PUT writes without fsync)"

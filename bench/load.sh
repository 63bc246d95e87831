#!/usr/bin/env bash
# The appliance under load on loopback, beside nginx serving the same files in the same run:
# STREAMS concurrent Range streams (players seeking through tracks, 256 KiB a request), API
# reads, UPLOADS concurrent uploads and a sign-in flood of FLOOD clients (each sign-in one
# bcrypt at cost 12), first playback alone, then all at once. Prints p50/p99 latency and
# throughput of playback and of the API, sign-ins and uploads done, and the server's peak RSS.
# The aim: the sign-in flood must not starve playback (bcrypt stays off the reactor, bounded).
#
#   bench/load.sh          DURATION=20s STREAMS=32 UPLOADS=4 FLOOD=32 to change;
#                          BIN=path/to/studiovault to measure another build
#
# Every client is on loopback, one address: the sign-in throttle's limits are raised so the
# flood stands for one from many addresses, which the throttle would not stop.
#
# Needs: wrk, nginx (Debian's nginx-light), curl, python3. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20s}
STREAMS=${STREAMS:-32}
UPLOADS=${UPLOADS:-4}
FLOOD=${FLOOD:-32}
PASSWORD="a long benchmark passphrase"
SV_PORT=18680
NGINX_PORT=18681
work=$(mktemp -d /tmp/sv-load.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "${sv_pid:-}" ] && kill "$sv_pid" 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in wrk nginx curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install wrk nginx-light curl python3)" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p studiovault
    BIN=${CARGO_TARGET_DIR:-target}/release/studiovault
fi

# Four 30-second stereo tracks (5 MiB each) for playback, and one for the uploads.
mkdir -p "$work/www" "$work/nginx-tmp"
chmod 777 "$work/nginx-tmp"
python3 - "$work/www" <<'PY'
import math, random, struct, sys, wave
for n in range(5):
    rnd = random.Random(n)
    with wave.open(f"{sys.argv[1]}/track-{n}.wav", "wb") as w:
        w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)
        f = 220 * (1 + n / 4)
        frames = bytearray()
        for i in range(30 * 44100):
            s = int(6000 * math.sin(2 * math.pi * f * i / 44100) + rnd.randint(-800, 800))
            frames += struct.pack("<hh", s, s)
        w.writeframes(bytes(frames))
PY
size=$(stat -c %s "$work/www/track-0.wav")

cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $work/nginx-tmp;
    proxy_temp_path $work/nginx-tmp;
    fastcgi_temp_path $work/nginx-tmp;
    uwsgi_temp_path $work/nginx-tmp;
    scgi_temp_path $work/nginx-tmp;
    server { listen 127.0.0.1:$NGINX_PORT; root $work/www; }
}
CONF
nginx -c "$work/nginx.conf"

STUDIOVAULT_LOGIN__MAX_FAILURES_PER_ACCOUNT=1000000 \
STUDIOVAULT_LOGIN__MAX_FAILURES_PER_ACCOUNT_ALL_CLIENTS=1000000 \
STUDIOVAULT_LOGIN__MAX_FAILURES_PER_CLIENT=1000000 \
STUDIOVAULT_LOG=warn "$BIN" serve --data-dir "$work/data" --listen 127.0.0.1:$SV_PORT 2>"$work/sv.log" &
sv_pid=$!
for _ in $(seq 100); do [ -S "$work/data/admin.sock" ] && break; sleep 0.1; done
for who in player flood uploader; do
    echo "$PASSWORD" | "$BIN" --data-dir "$work/data" user add "$who@studio.test" --plan pro --password-stdin >/dev/null
done
origin="http://127.0.0.1:$SV_PORT"
sign_in() { # EMAIL JAR
    curl -sf -c "$2" -H "Origin: $origin" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$PASSWORD\"}" "$origin/api/session" >/dev/null
}
sign_in player@studio.test "$work/player.jar"
sign_in uploader@studio.test "$work/uploader.jar"
# curl marks HttpOnly cookies with a `#HttpOnly_` prefix on the line.
cookie=$(sed 's/^#HttpOnly_//' "$work/player.jar" | awk '!/^#/ && NF >= 7 {print $6 "=" $7}' | head -n 1)
paths=()
for n in 0 1 2 3; do
    id=$(curl -sf -b "$work/player.jar" -H "Origin: $origin" -F "file=@$work/www/track-$n.wav" "$origin/api/tracks" |
        python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
    paths+=("/api/tracks/$id/audio")
done

# wrk: each request a random 256 KiB Range of one of the tracks.
cat >"$work/range.lua" <<'LUA'
local paths = {}
for p in string.gmatch(os.getenv("PATHS"), "%S+") do table.insert(paths, p) end
local size = tonumber(os.getenv("SIZE"))
local chunk = 262144
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
request = function()
    local start = math.random(0, size - chunk - 1)
    local h = { ["Range"] = "bytes=" .. start .. "-" .. (start + chunk - 1) }
    if os.getenv("COOKIE") ~= "" then h["Cookie"] = os.getenv("COOKIE") end
    return wrk.format("GET", paths[math.random(#paths)], h)
end
response = function(status)
    if status ~= 206 then io.stderr:write("unexpected status " .. status .. "\n") end
end
LUA
cat >"$work/signin.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "$origin"
wrk.body = '{"email":"flood@studio.test","password":"$PASSWORD"}'
response = function(status) io.stderr:write(status .. "\n") end
LUA
# Latencies (ms) and rates of one wrk report on standard input: "p50 p99 requests/s MB/s".
cat >"$work/wrk_summary.py" <<'PY'
import re, sys
text = sys.stdin.read()
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
tps = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", text)
mb = float(tps.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}[tps.group(2)] if tps else 0
print("%.1f %.1f %.0f %.0f" % (ms("50%"), ms("99%"), float(rps.group(1)) if rps else 0, mb))
PY

# "p50 p99 requests/s MB/s" of one wrk run.
measure() { # PORT CONNECTIONS SCRIPT-OR-- PATH [env...]
    local port=$1 conns=$2 script=$3 path=$4
    shift 4
    local args=(-t2 "-c$conns" "-d$DURATION" --latency --timeout 30s)
    [ "$script" = - ] || args+=(-s "$script")
    env "$@" wrk "${args[@]}" "http://127.0.0.1:$port$path" 2>>"$work/wrk.err" | python3 "$work/wrk_summary.py"
}
playback() { # PORT: the Range streams against the appliance or nginx
    if [ "$1" = $SV_PORT ]; then
        measure "$1" "$STREAMS" "$work/range.lua" / PATHS="${paths[*]}" SIZE="$size" COOKIE="$cookie"
    else
        measure "$1" "$STREAMS" "$work/range.lua" / PATHS="/track-0.wav /track-1.wav /track-2.wav /track-3.wav" SIZE="$size" COOKIE=""
    fi
}

# Everything else at once: the sign-in flood, the uploads and API reads, for DURATION.
background_load() {
    local seconds=${DURATION%s}
    wrk -t1 "-c$FLOOD" "-d$((seconds + 2))s" --latency --timeout 60s -s "$work/signin.lua" \
        "$origin/api/session" >"$work/flood.out" 2>"$work/flood.status" &
    pids+=($!)
    for u in $(seq "$UPLOADS"); do
        (
            end=$((SECONDS + seconds))
            while [ "$SECONDS" -lt "$end" ]; do
                curl -s -o /dev/null -w '%{http_code}\n' -b "$work/uploader.jar" -H "Origin: $origin" \
                    -F "file=@$work/www/track-4.wav" "$origin/api/tracks" >>"$work/uploads.$u"
            done
        ) &
        pids+=($!)
    done
}

cat >"$work/api.lua" <<LUA
wrk.headers["Cookie"] = "$cookie"
LUA

echo "loopback, $(nproc) cores; $STREAMS Range streams (256 KiB each), $DURATION a phase; under load: $FLOOD sign-in clients (bcrypt cost 12), $UPLOADS upload loops (5 MiB WAV), API reads"
printf '%-34s %10s %10s %8s %8s\n' "" "p50 ms" "p99 ms" "req/s" "MB/s"
row() { printf '%-34s %10s %10s %8s %8s\n' "$1" $2; }
row "playback alone, nginx" "$(playback $NGINX_PORT)"
row "playback alone, studiovault" "$(playback $SV_PORT)"
row "API reads alone (GET /api/tracks)" "$(measure $SV_PORT 8 "$work/api.lua" /api/tracks)"
rss_idle=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$sv_pid/status")

background_load
sleep 1
row "playback under load, nginx" "$(playback $NGINX_PORT)"
background_load
sleep 1
row "playback under load, studiovault" "$(playback $SV_PORT)"
background_load
sleep 1
row "API reads under load" "$(measure $SV_PORT 8 "$work/api.lua" /api/tracks)"
wait "${pids[@]}" 2>/dev/null || true
pids=()
signins=$(grep -c '^200$' "$work/flood.status" || true)
busy=$(grep -c '^503$' "$work/flood.status" || true)
flood_p99=$(awk '$1 == "99%" {print $2}' "$work/flood.out")
uploads_ok=$(cat "$work"/uploads.* 2>/dev/null | grep -c '^201$' || true)
uploads_refused=$(cat "$work"/uploads.* 2>/dev/null | grep -vc '^201$' || true)
echo
echo "sign-ins in the last phase: $signins done, $busy answered 503 busy (p99 $flood_p99); uploads over the three phases: $uploads_ok stored, $uploads_refused refused"
echo "studiovault peak RSS: $rss_idle MiB after playback alone, $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$sv_pid/status") MiB at the end"
if [ -s "$work/wrk.err" ]; then
    echo "wrk reported: $(sort "$work/wrk.err" | uniq -c | head -n 5)"
fi

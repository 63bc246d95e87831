#!/usr/bin/env bash
# HTTPS on loopback beside nginx with the same certificate, in the same run: full TLS 1.3
# handshakes per second (wrk with `Connection: close`, so every request is a new connection and
# a full handshake: neither server resumes sessions here) and small keep-alive HTTPS requests per
# second (GET /api/health against an nginx `return 200` of the same size). Prints ratios.
#
#   bench/tls-handshakes.sh            DURATION=10s CONNECTIONS=32 RUNS=3 to change
#
# Needs: wrk, nginx (Debian's nginx-light), openssl. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
RUNS=${RUNS:-3}
THREADS=$(nproc)
work=$(mktemp -d /tmp/sv-tls-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
    [ -n "${sv_pid:-}" ] && kill "$sv_pid" 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in wrk nginx openssl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install wrk nginx-light openssl)" >&2; exit 1; }
done
cargo build --release -q -p studiovault
BIN=${CARGO_TARGET_DIR:-target}/release/studiovault
SV_PORT=18580
SV_HTTP_PORT=18581
NGINX_PORT=18582

# One ECDSA P-256 certificate for both servers (what Let's Encrypt issues by default for ECDSA
# accounts), from a throwaway CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$work/ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/ext" -out "$work/leaf.pem" 2>/dev/null
cat "$work/leaf.pem" "$work/ca.pem" >"$work/chain.pem"
chmod 644 "$work"/*.pem

mkdir -p "$work/nginx-tmp"
chmod 777 "$work/nginx-tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx-tmp;
    proxy_temp_path $work/nginx-tmp;
    fastcgi_temp_path $work/nginx-tmp;
    uwsgi_temp_path $work/nginx-tmp;
    scgi_temp_path $work/nginx-tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl http2;
        ssl_certificate $work/chain.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        keepalive_requests 100000;
        location = /api/health {
            default_type application/json;
            add_header Strict-Transport-Security "max-age=31536000" always;
            return 200 '{"status":"ok","version":"0.1.0"}';
        }
    }
}
CONF
nginx -c "$work/nginx.conf"

STUDIOVAULT_TLS__MODE=files STUDIOVAULT_TLS__FILES__CERT="$work/chain.pem" \
STUDIOVAULT_TLS__FILES__KEY="$work/key.pem" STUDIOVAULT_TLS__HTTPS_LISTEN=127.0.0.1:$SV_PORT \
STUDIOVAULT_TLS__HTTP_LISTEN=127.0.0.1:$SV_HTTP_PORT STUDIOVAULT_LOG=warn \
    "$BIN" serve --data-dir "$work/data" 2>"$work/sv.log" &
sv_pid=$!
for _ in $(seq 100); do [ -S "$work/data/admin.sock" ] && break; sleep 0.1; done

check() {
    curl -sf --cacert "$work/ca.pem" "https://localhost:$1/api/health" >/dev/null ||
        { echo "no HTTPS answer on port $1" >&2; cat "$work/sv.log" "$work/nginx-error.log" >&2; exit 1; }
}
check $SV_PORT
check $NGINX_PORT

# Requests per second reported by wrk, best of RUNS.
rate() {
    local port=$1 best=0 r
    shift
    for _ in $(seq "$RUNS"); do
        r=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" "https://localhost:$port/api/health" |
            awk '/^Requests\/sec/ {print int($2)}')
        [ "$r" -gt "$best" ] && best=$r
    done
    echo "$best"
}

echo "loopback, $THREADS wrk threads, $CONNECTIONS connections, $DURATION x $RUNS runs (best), ECDSA P-256, TLS 1.3"
printf '%-36s %12s %12s %8s\n' "" "studiovault" "nginx" "ratio"
for kind in handshakes requests; do
    if [ "$kind" = handshakes ]; then
        args=(-H "Connection: close")
        label="full handshakes/s (Connection: close)"
    else
        args=()
        label="small HTTPS requests/s (keep-alive)"
    fi
    sv=$(rate $SV_PORT "${args[@]}")
    ng=$(rate $NGINX_PORT "${args[@]}")
    printf '%-36s %12s %12s %8s\n' "$label" "$sv" "$ng" "$(awk -v a="$sv" -v b="$ng" 'BEGIN {printf "%.2f", a / b}')x"
done

# A cross-check that cannot resume: openssl s_time -new (one client process, full handshakes
# only), connections per real second.
stime() {
    openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 -time 8 2>/dev/null |
        awk '/connections in .* real seconds/ {printf "%d", $1 / $4}'
}
sv=$(stime $SV_PORT)
ng=$(stime $NGINX_PORT)
printf '%-36s %12s %12s %8s\n' "full handshakes/s (s_time -new)" "$sv" "$ng" "$(awk -v a="$sv" -v b="$ng" 'BEGIN {printf "%.2f", a / b}')x"

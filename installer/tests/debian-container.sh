#!/usr/bin/env bash
# The installer's test, on the shape studios deploy: a fresh Debian 12 booted with systemd in a
# container (systemd-nspawn, private network). In it, one command installs the package and sets
# the appliance up unattended in self-signed mode; then it checks that the service is active,
# HTTPS (HTTP/2) answers with HSTS, the first owner signs in and uploads a track that gets
# analysed, the backup and drill timers are listed, `studiovault doctor` passes,
# `systemd-analyze security` rates the service at most 2.0, and a second install run changes
# nothing. Then it upgrades to a build that migrates the store and never becomes healthy (it
# must be rolled back, the store as it was), to a build with one more migration (it must
# succeed), and uninstalls (the data must stay).
#
#   installer/tests/debian-container.sh
#
# It builds the "next release" binary with cargo first (feature installer-test-migration; the
# broken release is the same binary with INSTALLER_TEST_UNHEALTHY in the unit's
# environment file), then needs root (or sudo -n) for the
# container. The Debian root file system is made once with debootstrap and cached in
# ~/.cache/studiovault-tools (STUDIOVAULT_ROOTFS_CACHE); each run boots a fresh copy of it.
# Where containers cannot run it says why and exits 0. Everything it starts is stopped on every
# path out.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
rootfs_cache=${STUDIOVAULT_ROOTFS_CACHE:-$HOME/.cache/studiovault-tools/debian-12-rootfs}
# What the cached root file system holds besides minbase: systemd to boot, and the package's
# dependencies (restic, ca-certificates) plus curl, so the install needs no network: the
# container has none.
rootfs_packages=systemd,systemd-sysv,dbus,ca-certificates,restic,curl
owner=ana@studio.example

# Each step says how long this test has run, so a slow one shows in CI's log.
step() { printf '\n--> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
skip() {
    echo "SKIP the installer's container test: $*"
    exit 0
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    skip "booting a container needs root or passwordless sudo"
fi
for tool in systemd-nspawn debootstrap nsenter script dpkg-deb; do
    command -v "$tool" >/dev/null || skip "$tool is missing (apt install systemd-container debootstrap)"
done

work=$(mktemp -d /var/tmp/studiovault-installer-test.XXXXXX)
nspawn_pid=""
mounted_nspawn_dir=no
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ "${STUDIOVAULT_KEEP_CONTAINER:-}" = 1 ] && [ -n "${init_pid:-}" ]; then
        echo "kept for a look: nsenter -t $init_pid -a bash; then kill $nspawn_pid; rm -rf $work" >&2
        exit "$status"
    fi
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM asks the container's systemd to power off; SIGKILL if it does not in time.
        "${as_root[@]}" kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.5
        done
        "${as_root[@]}" kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$work/console.log" ]; then
        echo "--- the container's console, up to its shutdown (last 30 lines) ---" >&2
        tr -d '\r' <"$work/console.log" | sed '/Stopped target.*graphical/,$d' | tail -n 30 >&2
    fi
    [ "$mounted_nspawn_dir" = yes ] && "${as_root[@]}" umount /run/systemd/nspawn 2>/dev/null
    "${as_root[@]}" rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Where it runs, for STUDIOVAULT_KEEP_CONTAINER=1 (keep the container after a failure).
init_pid=""

# The packages: this build, the next release (one more store migration) and a broken next
# release (it migrates, then never serves).
current_binary="$target/debug/studiovault"
[ -x "$current_binary" ] || fail "no binary at $current_binary: cargo build --workspace --bins first"
mkdir -p "$work/bin/current" "$work/bin/next" "$work/bin/broken" "$work/debs"
cp "$current_binary" "$work/bin/current/studiovault"
step "building the next release (cargo build --features studiovault/installer-test-migration)"
# Built as scripts/test builds (the workspace's binaries), so the dependencies' features unify
# as they did there and only the crates the feature touches compile again; `-p studiovault`
# alone would resolve other features for shared dependencies and rebuild most of them. The
# broken release is the same binary: the environment file makes it broken (below).
build_bins() { (cd "$repo" && cargo build --locked --quiet --workspace --bins "$@"); }
build_bins --features studiovault/installer-test-migration
cp "$current_binary" "$work/bin/broken/studiovault"
cp "$current_binary" "$work/bin/next/studiovault"
# Back to this build's binary for whatever runs after this test (cargo still has it).
build_bins
version=$("$work/bin/current/studiovault" --version | awk '{print $2}')
deb() { # NAME VERSION: the package's path
    "$repo/installer/build-deb.sh" --fast --binary "$work/bin/$1/studiovault" --version "$2" --out "$work/debs/$1"
}
current_deb=$(deb current "$version")
broken_deb=$(deb broken "$version+broken1")
next_deb=$(deb next "$version+next1")

step "the Debian 12 root file system"
stamp="$rootfs_cache/.studiovault-rootfs"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$rootfs_packages" ]; then
    mirror=$(grep -rhoE 'https?://deb\.debian\.org/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 || true)
    mirror=${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
    echo "debootstrap bookworm from $mirror into $rootfs_cache (once)"
    "${as_root[@]}" rm -rf "$rootfs_cache.partial"
    mkdir -p "$(dirname "$rootfs_cache")"
    "${as_root[@]}" debootstrap --variant=minbase --include="$rootfs_packages" bookworm \
        "$rootfs_cache.partial" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        skip "debootstrap failed (no Debian mirror reachable?): $(tail -n 3 "$work/debootstrap.log")"
    echo "$rootfs_packages" | "${as_root[@]}" tee "$rootfs_cache.partial/.studiovault-rootfs" >/dev/null
    "${as_root[@]}" rm -rf "$rootfs_cache"
    "${as_root[@]}" mv "$rootfs_cache.partial" "$rootfs_cache"
else
    echo "cached in $rootfs_cache"
fi
root="$work/root"
"${as_root[@]}" cp -a --reflink=auto "$rootfs_cache" "$root"
"${as_root[@]}" install -d -m 0700 "$root/root/test"
"${as_root[@]}" cp "$current_deb" "$broken_deb" "$next_deb" "$repo/installer/install.sh" "$root/root/test/"
# A five-second stereo tone for the owner to upload.
python3 - "$work/tone.wav" <<'EOF'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)
    frames = (int(8000 * math.sin(2 * math.pi * f * i / 44100)) for i in range(5 * 44100) for f in (440, 660))
    w.writeframes(b"".join(struct.pack("<h", s) for s in frames))
EOF
"${as_root[@]}" cp "$work/tone.wav" "$root/root/test/tone.wav"

step "booting the container"
"${as_root[@]}" mkdir -p /run/systemd/nspawn
if ! mountpoint -q /run/systemd/nspawn; then
    "${as_root[@]}" mount -t tmpfs tmpfs /run/systemd/nspawn || skip "cannot mount a tmpfs on /run/systemd/nspawn"
    mounted_nspawn_dir=yes
fi
machine="svtest-$$"
# nspawn needs a terminal: `script` gives it one and keeps the console's output.
"${as_root[@]}" env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 script -qfec \
    "systemd-nspawn -D $root --boot --register=no --keep-unit --private-network --machine=$machine" \
    "$work/console.log" >/dev/null 2>&1 &
for _ in $(seq 1 60); do
    nspawn_pid=$(pgrep -f "^systemd-nspawn -D $root " | head -n 1 || true)
    [ -n "$nspawn_pid" ] && init_pid=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1 || true)
    [ -n "$init_pid" ] && break
    sleep 0.5
done
[ -n "$init_pid" ] || skip "systemd-nspawn did not boot a container here: $(tr -d '\r' <"$work/console.log" | tail -n 3)"

inside() { # COMMAND...: runs it in the container, as its root, with a clean environment
    "${as_root[@]}" nsenter -t "$init_pid" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}
state=$(timeout 120 "${as_root[@]}" nsenter -t "$init_pid" -a -- systemctl is-system-running --wait 2>/dev/null || true)
case "$state" in
running | degraded) echo "the container's systemd is $state" ;;
*) skip "the container's systemd did not come up (state '${state:-none}')" ;;
esac

step "one command installs the package and sets the appliance up"
deb_name=$(basename "$current_deb")
inside bash /root/test/install.sh "/root/test/$deb_name" --unattended --tls self-signed \
    --owner "$owner" --backups-repository /srv/studiovault-backups | tee "$work/setup.log"
password=$(sed -n 's/.*one-time password, shown once: \([^ ]*\).*/\1/p' "$work/setup.log")
ca=$(sed -n "s/.*signed by this appliance's own CA: \([^ ]*\).*/\1/p" "$work/setup.log")
[ -n "$password" ] || fail "setup printed no one-time password for $owner"
[ -n "$ca" ] || fail "setup printed no local CA root certificate"
[ "$(inside systemctl is-active studiovault.service)" = active ] || fail "studiovault.service is not active"

# The owner's browser: HTTPS with HTTP/2, trusting the appliance's own CA and nothing else.
curl_as_owner() {
    inside curl --silent --show-error --http2 --cacert "$ca" --cookie /root/test/jar \
        --cookie-jar /root/test/jar -H "Origin: https://localhost" "$@"
}
step "HTTPS answers on 443 with HTTP/2 and HSTS"
headers=$(curl_as_owner --dump-header - --output /dev/null https://localhost/)
echo "$headers" | tr -d '\r' | grep -E '^HTTP/2 200' >/dev/null || fail "https://localhost/ did not answer 200 over HTTP/2: $headers"
echo "$headers" | tr -d '\r' | grep -iE '^strict-transport-security: max-age=[0-9]+' >/dev/null || fail "no HSTS header: $headers"

step "a studio machine reaches it by the box's host name, under the unit's hardening"
host=$(inside hostname)
[ -n "$host" ] || fail "the container has no host name"
inside curl --silent --show-error --output /dev/null --cacert "$ca" \
    --resolve "$host:443:127.0.0.1" "https://$host/" ||
    fail "https://$host/ failed: the self-signed certificate does not name the host"

step "the owner signs in with the one-time password and uploads"
login=$(curl_as_owner --write-out '\n%{http_code}' -H 'Content-Type: application/json' \
    --data "{\"email\":\"$owner\",\"password\":\"$password\"}" https://localhost/api/session)
[ "$(tail -n 1 <<<"$login")" = 200 ] || fail "sign-in: $login"
upload=$(curl_as_owner --write-out '\n%{http_code}' -F "file=@/root/test/tone.wav" https://localhost/api/tracks)
[ "$(tail -n 1 <<<"$upload")" = 201 ] || fail "upload: $upload"
track=$(head -n 1 <<<"$upload" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$track" ] || fail "the upload answered no track id: $upload"
analysis=""
for _ in $(seq 1 60); do
    analysis=$(curl_as_owner "https://localhost/api/tracks/$track" | sed -n 's/.*"analysis":{"state":"\([a-z]*\)".*/\1/p')
    [ "$analysis" = pending ] || break
    sleep 1
done
[ "$analysis" = done ] || fail "the track's analysis ended '$analysis' in the sandboxed child"
tone_sha=$(sha256sum <"$work/tone.wav" | cut -d' ' -f1)
same_audio() { # the owner's track plays back byte for byte as uploaded
    [ "$(curl_as_owner "https://localhost/api/tracks/$track/audio" | sha256sum | cut -d' ' -f1)" = "$tone_sha" ]
}
same_audio || fail "the track does not play back as uploaded"

step "the backup and drill timers are listed"
timers=$(inside systemctl list-timers --all --no-legend --no-pager)
for timer in studiovault-backup-hourly studiovault-backup-daily studiovault-backup-weekly studiovault-drill; do
    grep -q "$timer.timer" <<<"$timers" || fail "$timer.timer is not listed: $timers"
done

step "the timers' units run: a snapshot and a drill, as the service user without network"
inside systemctl start studiovault-backup@hourly.service || fail "the hourly snapshot unit failed: $(inside journalctl --namespace=studiovault -u studiovault-backup@hourly --no-pager | tail -n 5)"
inside systemctl start studiovault-drill.service || fail "the drill unit failed: $(inside journalctl --namespace=studiovault -u studiovault-drill --no-pager | tail -n 5)"

step "studiovault doctor passes"
inside studiovault doctor --key-backed-up || fail "studiovault doctor found something wrong"
exposure=$(inside systemd-analyze security --no-pager studiovault.service | sed -n 's/.*Overall exposure level for studiovault.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security rates studiovault.service $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' || fail "exposure $exposure is above 2.0"

# What an install run may change: files, units, the package, the running service.
fingerprint() {
    inside bash -c 'find /etc/studiovault /etc/systemd/system /var/lib/studiovault-installer /usr/bin/studiovault \
            -type f -exec sha256sum {} + | sort
        stat -c "%n %a %U:%G" /var/lib/studiovault /etc/studiovault /etc/studiovault/*
        dpkg-query -W studiovault
        systemctl show -p MainPID -p ActiveEnterTimestampMonotonic studiovault.service'
}
step "a second install run changes nothing"
before=$(fingerprint)
inside bash /root/test/install.sh "/root/test/$deb_name" --unattended --tls self-signed \
    --owner "$owner" --backups-repository /srv/studiovault-backups | tee "$work/again.log"
grep -q "nothing changed" "$work/again.log" || fail "the second run did not say it changed nothing"
[ "$before" = "$(fingerprint)" ] || fail "the second run changed something: $(diff <(echo "$before") <(fingerprint))"

schema() {
    inside studiovault status --json | sed -n 's/.*"store_schema": \([0-9]*\).*/\1/p'
}
schema_before=$(schema)
[ -n "$schema_before" ] || fail "studiovault status --json gives no store_schema"

step "an upgrade to a build that never becomes healthy is rolled back"
# What makes the test build the broken one: the service's environment says so.
inside bash -c 'echo INSTALLER_TEST_UNHEALTHY=1 >>/etc/studiovault/environment'
set +e
inside bash /root/test/install.sh --upgrade "/root/test/$(basename "$broken_deb")" --health-timeout 20 \
    >"$work/broken.log" 2>&1
broken_status=$?
set -e
cat "$work/broken.log"
[ "$broken_status" -eq 1 ] || fail "the failed upgrade exited $broken_status, not 1 (rolled back)"
grep -q "rolled back to studiovault $version" "$work/broken.log" || fail "the installer did not say it rolled back"
grep -q "store migrated from schema $schema_before" "$work/broken.log" || fail "the broken build did not migrate the store (the test would prove nothing)"
[ "$(inside dpkg-query -W -f='${Version}' studiovault)" = "$version" ] || fail "the package was not rolled back"
[ "$(inside cat /var/lib/studiovault-installer/version)" = "$version" ] || fail "the failed build's version was recorded"
[ "$(inside systemctl is-active studiovault.service)" = active ] || fail "the previous build is not running again"
[ "$(schema)" = "$schema_before" ] || fail "the store is at schema $(schema), not $schema_before as before"
same_audio || fail "after the rollback the owner's session or track is gone"
inside sed -i '/^INSTALLER_TEST_UNHEALTHY=/d' /etc/studiovault/environment ||
    fail "the environment file written before the broken upgrade is gone"

step "an upgrade to a build with one more migration succeeds"
inside bash /root/test/install.sh --upgrade "/root/test/$(basename "$next_deb")" | tee "$work/next.log"
grep -q "store migrated from schema $schema_before to $((schema_before + 1))" "$work/next.log" ||
    fail "the upgrade did not migrate the store"
[ "$(inside cat /var/lib/studiovault-installer/version)" = "$version+next1" ] || fail "the new version was not recorded"
[ "$(schema)" = "$((schema_before + 1))" ] || fail "the running build's store is not at schema $((schema_before + 1))"
same_audio || fail "after the upgrade the owner's session or track is gone"
inside studiovault doctor || fail "studiovault doctor fails after the upgrade"

step "uninstall keeps the data and says where it is"
inside bash /root/test/install.sh --uninstall | tee "$work/uninstall.log"
grep -q "/var/lib/studiovault" "$work/uninstall.log" || fail "uninstall did not say where the data is"
[ -z "$(inside dpkg-query -W -f='${db:Status-Status}' studiovault 2>/dev/null | grep -x installed)" ] ||
    fail "the package is still installed"
inside systemctl is-active --quiet studiovault.service && fail "the service still runs"
inside test -s /var/lib/studiovault/vault.redb || fail "the store is gone"
inside test -s /var/lib/studiovault/master.key || fail "the master key is gone"
inside test -s /etc/studiovault/studiovault.toml || fail "the configuration is gone"

echo
echo "PASS the installer in a booted Debian 12: install, set-up, HTTPS upload, doctor, idempotence, rollback, upgrade, uninstall"

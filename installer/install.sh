#!/usr/bin/env bash
# Studio Vault's installer for Debian 12 or 13 and Ubuntu LTS: installs the package with its
# dependencies and sets the appliance up, upgrades it (rolling back when the new build does
# not become healthy), or removes it.
#
#   sudo installer/install.sh [PACKAGE.deb] [SETUP OPTIONS...]
#       Installs PACKAGE (built from this source tree when none is given), then runs
#       `studiovault setup` with the options (`studiovault setup --help`), e.g.
#       --unattended --tls self-signed --owner ana@studio.example. Running it again changes
#       nothing.
#   sudo installer/install.sh --upgrade PACKAGE.deb [--health-timeout SECONDS] [--skip-snapshot]
#       Snapshot (when backups are configured), stop, replace, migrate, start, wait for health;
#       on any failure the previous build and the store as it was come back.
#   sudo installer/install.sh --uninstall [--purge [--yes]]
#       Removes the package and keeps the data; --purge deletes the data too (asks first).
set -euo pipefail

readonly DATA_DIR=/var/lib/studiovault
readonly CONFIG_DIR=/etc/studiovault
# The installer's records: the installed build's package (to roll back to) and its version,
# written once that build is healthy; during an upgrade, the store as it was.
readonly STATE_DIR=/var/lib/studiovault-installer
readonly UNIT=studiovault.service
repo=$(cd "$(dirname "$0")/.." && pwd)

step() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades \
        -o Dpkg::Options::=--force-confold "$@"
}

# The installed package's version, or nothing.
installed_version() {
    { dpkg-query -W -f='${db:Status-Status} ${Version}' studiovault 2>/dev/null || true; } |
        awk '$1 == "installed" {print $2}'
}

# Whether PACKAGE holds exactly the files of the installed build.
same_build_installed() {
    local installed=/var/lib/dpkg/info/studiovault.md5sums
    [ -f "$installed" ] && cmp -s <(dpkg-deb --ctrl-tarfile "$1" | tar -xO ./md5sums) "$installed"
}

record() { # FILE CONTENT: writes it only when it differs (a second run changes nothing)
    [ -f "$1" ] && [ "$(cat "$1")" = "$2" ] && return 0
    install -d -m 0700 "$STATE_DIR"
    printf '%s\n' "$2" >"$1"
}

record_build() { # PACKAGE: the build that is now installed and healthy
    install -d -m 0700 "$STATE_DIR"
    cmp -s "$1" "$STATE_DIR/current.deb" || install -m 0600 "$1" "$STATE_DIR/current.deb"
    record "$STATE_DIR/version" "$(dpkg-deb -f "$1" Version)"
}

require_system() {
    [ "$(id -u)" -eq 0 ] || die "run it as root (sudo $0 ...)"
    command -v dpkg >/dev/null && command -v apt-get >/dev/null ||
        die "this installer is for Debian and Ubuntu (dpkg and apt)"
    [ -d /run/systemd/system ] || die "systemd is not running: the appliance is a systemd service"
}

# Builds the package from this source tree, as the user who ran sudo when cargo is theirs.
build_from_source() {
    [ -f "$repo/Cargo.toml" ] || die "no package given and no source tree at $repo"
    local build="cd '$repo' && cargo build --release --locked -p studiovault"
    step "building Studio Vault from $repo (cargo build --release)" >&2
    if command -v cargo >/dev/null; then
        bash -c "$build" >&2
    elif [ -n "${SUDO_USER:-}" ]; then
        runuser -u "$SUDO_USER" -- bash -lc "$build" >&2
    else
        die "cargo is missing: install Rust (https://rustup.rs) or give a package"
    fi
    CARGO_TARGET_DIR="$repo/target" "$repo/installer/build-deb.sh" --out "$repo/target/debian"
}

install_and_set_up() {
    local package=$1
    shift
    local version installed
    version=$(dpkg-deb -f "$package" Version)
    installed=$(installed_version)
    if [ -z "$installed" ]; then
        step "installing studiovault $version and its dependencies"
        apt-get update -qq || echo "install.sh: could not refresh the package lists; using the ones present" >&2
        apt_install "$package"
    elif [ "$installed" = "$version" ] && same_build_installed "$package"; then
        step "studiovault $version is installed"
    else
        die "studiovault $installed is installed: to move to $version, run $0 --upgrade $package"
    fi
    step "setting up"
    studiovault setup "$@"
    studiovault health --wait 60 >/dev/null || die "the service is not healthy: studiovault doctor"
    record_build "$package"
    step "done: studiovault doctor checks it any time"
}

# Whether restic snapshots are configured (the running server says).
backups_configured() {
    studiovault backup status --json 2>/dev/null | grep -q '"snapshots_configured": true'
}

# Puts the recorded build and the saved store back, and starts it.
roll_back() {
    local why=$1 previous
    previous=$(cat "$STATE_DIR/version")
    echo "install.sh: the upgrade failed: $why" >&2
    step "rolling back to studiovault $previous"
    systemctl stop "$UNIT" || true
    systemctl reset-failed "$UNIT" 2>/dev/null || true
    apt_install "$STATE_DIR/current.deb"
    # The store as it was; blobs the new build removed come back as links, blobs it added go
    # at the next start (the server removes blobs its store does not name).
    cp -a "$STATE_DIR/rollback/vault.redb" "$DATA_DIR/vault.redb"
    if [ -d "$STATE_DIR/rollback/blobs" ]; then
        cp -a -l -n "$STATE_DIR/rollback/blobs/." "$DATA_DIR/blobs/"
    fi
    systemctl start "$UNIT"
    if ! studiovault health --wait "$health_timeout"; then
        echo "install.sh: ROLLBACK FAILED: studiovault $previous does not come up either." >&2
        echo "install.sh: the store before the upgrade is kept in $STATE_DIR/rollback" >&2
        exit 2
    fi
    rm -rf "$STATE_DIR/rollback"
    echo "install.sh: rolled back to studiovault $previous with the store as it was before the" \
        "upgrade. The failed build's log: journalctl --namespace=studiovault -u studiovault" >&2
    exit 1
}

upgrade() {
    local package=$1 version installed
    [ -f "$package" ] || die "no package at $package"
    version=$(dpkg-deb -f "$package" Version)
    installed=$(installed_version)
    [ -n "$installed" ] || die "studiovault is not installed: run $0 $package"
    [ -f "$STATE_DIR/current.deb" ] && [ -f "$STATE_DIR/version" ] ||
        die "no record of the installed build in $STATE_DIR to roll back to: install it with $0 first"
    [ "$version" != "$installed" ] || die "studiovault $version is installed already: nothing to upgrade"
    if dpkg --compare-versions "$version" lt "$installed"; then
        echo "install.sh: $version is older than the installed $installed: a downgrade works only" \
            "while the store has no migration that $version lacks; otherwise it is rolled back." >&2
    fi
    studiovault health --wait 10 >/dev/null ||
        die "the running appliance is not healthy: fix it before upgrading (studiovault doctor)"

    if [ "$skip_snapshot" = no ] && backups_configured; then
        step "taking a snapshot of the vault before the upgrade"
        studiovault backup run --tier daily ||
            die "the snapshot failed, nothing was changed (--skip-snapshot upgrades without one)"
    fi
    step "stopping studiovault $installed"
    systemctl stop "$UNIT"
    step "saving the store as it is"
    rm -rf "$STATE_DIR/rollback"
    install -d -m 0700 "$STATE_DIR/rollback"
    cp -a "$DATA_DIR/vault.redb" "$STATE_DIR/rollback/vault.redb"
    # Blob files never change once written: links keep each one the new build might delete.
    if [ -d "$DATA_DIR/blobs" ] && ! cp -a -l "$DATA_DIR/blobs" "$STATE_DIR/rollback/blobs" 2>/dev/null; then
        rm -rf "$STATE_DIR/rollback/blobs"
        echo "install.sh: $STATE_DIR is on another file system than $DATA_DIR: blobs are not kept" >&2
    fi

    step "installing studiovault $version"
    apt_install "$package" || roll_back "the package did not install"
    step "migrating the store"
    runuser -u studiovault -g studiovault-admin -- studiovault migrate ||
        roll_back "the store's migration failed"
    step "starting studiovault $version"
    systemctl reset-failed "$UNIT" 2>/dev/null || true
    systemctl start "$UNIT" || roll_back "the service did not start"
    studiovault health --wait "$health_timeout" ||
        roll_back "the service did not become healthy within $health_timeout s"
    record_build "$package"
    rm -rf "$STATE_DIR/rollback"
    step "studiovault $version is running (upgraded from $installed)"
}

uninstall() {
    if [ "$purge" = yes ] && [ "$assume_yes" = no ]; then
        [ -t 0 ] || die "--purge deletes every track: confirm with --yes"
        echo "This deletes the vault ($DATA_DIR): every track, account and its master key, and the"
        echo "configuration with the secrets ($CONFIG_DIR), the backup repository's password"
        echo "among them; backups elsewhere become unreadable without copies of both."
        read -r -p "Type 'purge' to delete them: " answer
        [ "$answer" = purge ] || die "nothing was removed"
    fi
    if [ -n "$(installed_version)" ]; then
        step "removing the studiovault package"
        DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq studiovault
    fi
    rm -rf "$STATE_DIR"
    if [ "$purge" = yes ]; then
        step "deleting the data, the configuration, the logs and the studiovault user"
        dpkg-query -W studiovault >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq studiovault
        rm -rf "$DATA_DIR" "$CONFIG_DIR" /var/log/journal/*.studiovault
        userdel studiovault 2>/dev/null || true
        groupdel studiovault-admin 2>/dev/null || true
        step "Studio Vault is gone, data and all"
    else
        step "Studio Vault is removed; its data is kept:"
        echo "    $DATA_DIR     the vault: tracks, accounts, audit log, and master.key"
        echo "    $CONFIG_DIR   the configuration and the secret files"
        echo "  Installing again brings the appliance back with all of it;"
        echo "  $0 --uninstall --purge deletes it."
    fi
}

mode=install
package=""
health_timeout=120
skip_snapshot=no
purge=no
assume_yes=no
setup_args=()
while (($#)); do
    case "$1" in
    --upgrade) mode=upgrade; package=${2:?--upgrade needs a package}; shift 2 ;;
    --uninstall) mode=uninstall; shift ;;
    --purge) purge=yes; shift ;;
    --yes) assume_yes=yes; shift ;;
    --health-timeout) health_timeout=${2:?--health-timeout needs seconds}; shift 2 ;;
    --skip-snapshot) skip_snapshot=yes; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *.deb) package=$1; shift ;;
    *) setup_args+=("$1"); shift ;;
    esac
done

require_system
case "$mode" in
install)
    [ -n "$package" ] || package=$(build_from_source)
    [ -f "$package" ] || die "no package at $package"
    install_and_set_up "$(realpath "$package")" "${setup_args[@]}"
    ;;
upgrade) upgrade "$(realpath "$package")" ;;
uninstall) uninstall ;;
esac

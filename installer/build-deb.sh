#!/usr/bin/env bash
# Builds the Debian package of the appliance from a built `studiovault` binary, with dpkg-deb
# alone (part of dpkg on every Debian and Ubuntu machine): the binary, the systemd units and
# timers, the journal namespace's settings, the service's user, the commented default
# configuration, the installer, the docs and the maintainer scripts.
#
#   installer/build-deb.sh [--binary FILE] [--version VERSION] [--out DIR] [--fast]
#
# --binary defaults to the release build ($CARGO_TARGET_DIR or target/, then release/);
# --version to what the binary says it is; --out to the binary's directory. --fast compresses
# with gzip -1 instead of xz (for tests). Prints the package's path.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
binary="${CARGO_TARGET_DIR:-$repo/target}/release/studiovault"
version=""
out=""
compression=(-Zxz)

while (($#)); do
    case "$1" in
    --binary) binary=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --fast) compression=(-Zgzip -z1); shift ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

[ -x "$binary" ] || { echo "build-deb.sh: no binary at $binary (cargo build --release first)" >&2; exit 1; }
[ -n "$version" ] || version=$("$binary" --version | awk '{print $2}')
[ -n "$out" ] || out=$(dirname "$binary")
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"

install -D -m 0755 "$binary" "$stage/usr/bin/studiovault"
# Debug sections are for the developer's build, not the appliance's disk.
strip --strip-debug "$stage/usr/bin/studiovault"
install -d "$stage/usr/lib/systemd/system"
install -m 0644 "$repo"/systemd/*.service "$repo"/systemd/*.timer "$stage/usr/lib/systemd/system/"
install -D -m 0644 "$repo/systemd/journald@studiovault.conf" "$stage/etc/systemd/journald@studiovault.conf"
install -D -m 0644 "$repo/installer/debian/studiovault.sysusers" "$stage/usr/lib/sysusers.d/studiovault.conf"
install -D -m 0644 "$repo/installer/studiovault.toml" "$stage/usr/share/studiovault/studiovault.toml"
install -D -m 0755 "$repo/installer/install.sh" "$stage/usr/share/studiovault/install.sh"
docs="$stage/usr/share/doc/studiovault"
install -d "$docs"
install -m 0644 "$repo/README.md" "$repo/docs/OPERATIONS.md" "$repo/docs/SECURITY.md" "$docs/"
install -m 0644 "$repo/installer/README.md" "$docs/INSTALL.md"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: studiovault"
    echo
    echo "Files: *"
    echo "License: MIT or Apache-2.0"
    echo
    echo "License: MIT"
    sed 's/^$/./; s/^/ /' "$repo/LICENSE-MIT"
    echo
    echo "License: Apache-2.0"
    echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
} >"$docs/copyright"

install -d "$stage/DEBIAN"
install -m 0755 "$repo"/installer/debian/{postinst,prerm,postrm} "$stage/DEBIAN/"
echo /etc/systemd/journald@studiovault.conf >"$stage/DEBIAN/conffiles"
# The newest glibc symbol version the binary needs is the libc6 it depends on.
glibc=$(objdump -T "$stage/usr/bin/studiovault" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
cat >"$stage/DEBIAN/control" <<EOF
Package: studiovault
Version: $version
Architecture: $arch
Maintainer: Studio Vault maintainers <studiovault@example.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: libc6 (>= $glibc), libgcc-s1, systemd (>= 247), restic, ca-certificates
Section: admin
Priority: optional
Homepage: https://example.invalid/studiovault
Description: private, accountable vault for a studio's unreleased audio
 Studio Vault keeps artists' unreleased recordings encrypted on hardware the
 studio owns, shares them accountably with per-recipient watermarks, and
 backs them up with restic. One binary, one data directory, administered
 from a terminal. After installing: sudo studiovault setup.
EOF
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/studiovault_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compression[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"

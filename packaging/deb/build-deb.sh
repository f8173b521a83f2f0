#!/usr/bin/env bash
# Builds hearth_<version>_<arch>.deb from an already built binary.
#
#   packaging/deb/build-deb.sh [--arch ARCH] [--fast] BINARY OUTDIR
#
# Why dpkg-deb and not cargo-deb: dpkg-deb is part of dpkg, on every Debian machine and
# in every CI image, and is Debian's own tool for building a .deb from a tree. cargo-deb
# is not in Debian 12, so it would be compiled from source on every CI run (minutes on
# this machine's 2 cores) and is one more tool to keep current, for what is here ~100
# lines: a staging tree,
# a control file with the dependencies read from the binary, md5sums, conffiles, and
# the maintainer scripts beside this file. `make deb` runs it on the release binary;
# `make package-test` on the debug one (with the web app embedded, `--features
# embed-web`).
#
# --arch: the Debian architecture (default: this machine's; arm64 for a cross-compiled
# Raspberry Pi binary, see docs/deploy.md). --fast: no debug info in the packaged copy
# and gzip -1 instead of xz (the test's debug binary is 300+ MB of debug info).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
arch=$(dpkg --print-architecture)
fast=
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift 2 ;;
        --fast) fast=1; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--arch ARCH] [--fast] BINARY OUTDIR" >&2; exit 2; }
binary=$1
outdir=$2
[ -x "$binary" ] || { echo "$binary: no such executable" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "missing dpkg-deb (package dpkg)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
[ -n "$version" ] || { echo "no version in $root/Cargo.toml" >&2; exit 1; }
debversion="$version-1"

stage=$(mktemp -d "${TMPDIR:-/tmp}/hearth-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
umask 022

install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/hearth" \
    "$stage/usr/share/doc/hearth/nginx" "$stage/usr/share/doc/hearth/grafana" \
    "$stage/usr/share/lintian/overrides"
if [ -n "$fast" ]; then
    objcopy --strip-debug "$binary" "$stage/usr/bin/hearth"
    chmod 0755 "$stage/usr/bin/hearth"
else
    install -m 0755 "$binary" "$stage/usr/bin/hearth"
fi
install -m 0644 "$here/hearth.service" "$stage/lib/systemd/system/hearth.service"
# 0644 in the archive (it holds no secret yet); the postinst makes it root:hearth 0640.
install -m 0644 "$here/hearth.toml" "$stage/etc/hearth/hearth.toml"
doc="$stage/usr/share/doc/hearth"
install -m 0644 "$here/copyright" "$doc/copyright"
gzip -9n <"$here/changelog" >"$doc/changelog.Debian.gz"
install -m 0644 "$root/docs/deploy.md" "$doc/deploy.md"
install -m 0644 "$root/hearth.example.toml" "$doc/hearth.example.toml"
install -m 0644 "$root/packaging/nginx/hearth.conf" "$doc/nginx/hearth.conf"
install -m 0644 "$root/packaging/grafana/hearth-dashboard.json" "$doc/grafana/hearth-dashboard.json"
install -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/hearth"
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$stage/DEBIAN/$script"
done
echo /etc/hearth/hearth.toml >"$stage/DEBIAN/conffiles"

# The C library versions the binary asks for (readelf reads any architecture's ELF).
glibc=$(readelf -W --dyn-syms "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' |
    sort -V | tail -1)
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: hearth
Version: $debversion
Architecture: $arch
Maintainer: The Hearth maintainers <maintainers@example.invalid>
Installed-Size: $installed_size
Depends: libc6 (>= ${glibc:-2.31}), libgcc-s1, adduser
Suggests: nginx, postgresql
Section: net
Priority: optional
Homepage: https://example.invalid/hearth
Description: self-hosted smart-home and IoT hub
 Hearth is one program for a household: an MQTT broker (3.1.1 and 5, TCP,
 TLS and WebSocket), the device registry, history in SQLite or PostgreSQL,
 automations and alerts, an HTTP API and a web app.
 .
 This package runs it as the sandboxed systemd service hearth.service under
 the hearth system user, configured by /etc/hearth/hearth.toml, with its data
 in /var/lib/hearth.
CONTROL
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
    sed 's|^\./||' | sort | xargs md5sum >DEBIAN/md5sums)

mkdir -p "$outdir"
out="$outdir/hearth_${debversion}_${arch}.deb"
if [ -n "$fast" ]; then
    dpkg-deb --root-owner-group -Zgzip -z1 --build "$stage" "$out" >/dev/null
else
    dpkg-deb --root-owner-group --build "$stage" "$out" >/dev/null
fi
echo "$out"

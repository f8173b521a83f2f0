#!/usr/bin/env bash
# The Debian package, built and used as an administrator would:
#
#   packaging/tests/package-test.sh BINARY
#
# builds hearth_*.deb from BINARY (`make package-test` passes the debug binary built
# with `--features embed-web`), checks its contents and the unit's sandboxing score;
# then, as root (CI and the dev machine are), installs it with dpkg -i, runs the
# INSTALLED /usr/bin/hearth as the packaged user with the packaged
# /etc/hearth/hearth.toml (no systemd in CI containers: setpriv does what User= does;
# the listeners move to free ports through HEARTH_* variables), registers a device with
# the installed CLI, publishes a reading with mosquitto_pub, reads it back through the
# API as the owner with the one-time password from the log, stops the hub by PID, then
# removes and purges the package and checks that nothing is left. It refuses to run
# where a hearth package or user already exists (it would purge someone's data).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
binary=$(readlink -f "$1")
for tool in dpkg-deb objcopy readelf curl python3 mosquitto_pub setpriv systemd-analyze lintian; do
    need "$tool" "see .ci/run"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-package-test.XXXXXX")
chmod 0755 "$work"
installed=
hub=
cleanup() {
    [ -n "$hub" ] && stop_pid "$hub"
    if [ -n "$installed" ]; then
        dpkg --purge hearth >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- the package file ---------------------------------------------------------------
deb=$("$root/packaging/deb/build-deb.sh" --fast "$binary" "$work")
[ -f "$deb" ] || fail "build-deb.sh made no package"
ok "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" >"$work/info"
dpkg-deb --contents "$deb" >"$work/contents"
grep -q "^ Package: hearth$" "$work/info" || fail "control has no Package: hearth"
grep -q "^ Depends: libc6 (>= 2\.[0-9]*)" "$work/info" || fail "no libc6 dependency: $(cat "$work/info")"
for path in ./usr/bin/hearth ./lib/systemd/system/hearth.service ./etc/hearth/hearth.toml \
    ./usr/share/doc/hearth/copyright ./usr/share/doc/hearth/changelog.Debian.gz \
    ./usr/share/doc/hearth/deploy.md ./usr/share/doc/hearth/nginx/hearth.conf \
    ./usr/share/doc/hearth/grafana/hearth-dashboard.json; do
    grep -q " $path\$" "$work/contents" || fail "$path is not in the package"
done
grep -q '^-rwxr-xr-x root/root .* ./usr/bin/hearth$' "$work/contents" ||
    fail "/usr/bin/hearth is not root-owned 0755"
grep -q '^-rw-r--r-- root/root .* ./etc/hearth/hearth.toml$' "$work/contents" ||
    fail "/etc/hearth/hearth.toml is not 0644 in the archive (the postinst narrows it)"
# The packaged configuration opens nothing beyond this machine.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/hearth/hearth.toml >"$work/packaged.toml"
listeners=$(grep -cE '^(http|listen|ws_listen) = "127\.0\.0\.1:[0-9]+"$' "$work/packaged.toml" || true)
[ "$listeners" = 3 ] || fail "the packaged hearth.toml does not keep http, listen and ws_listen on loopback"
grep -E '^[a-z_]*listen[a-z_]* = |^http = ' "$work/packaged.toml" | grep -v '"127\.0\.0\.1:' &&
    fail "the packaged hearth.toml opens a listener beyond loopback"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles"
grep -qx /etc/hearth/hearth.toml "$work/conffiles" || fail "hearth.toml is not a conffile"
for script in postinst prerm postrm; do
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$script" | sh -n || fail "$script does not parse"
done
ok "contents, modes, conffiles and maintainer scripts"

# Debian's own checks; the accepted exceptions are packaging/deb/lintian-overrides.
lintian --fail-on error,warning --tag-display-limit 0 "$deb" >"$work/lintian" 2>&1 ||
    fail "lintian: $(grep -v 'root privileges' "$work/lintian")"
ok "lintian: no errors or warnings"

# The unit's sandboxing, as systemd itself rates it (0 = locked down, 10 = exposed).
score=$(systemd-analyze security --offline=yes --no-pager \
    "$root/packaging/deb/hearth.service" 2>&1 | sed -n 's/.*Overall exposure level for hearth.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "systemd-analyze security gave no score"
python3 -c "import sys; sys.exit(0 if float('$score') <= 2.0 else 1)" ||
    fail "the unit's exposure is $score (docs/deploy.md records 1.1)"
ok "systemd-analyze security: exposure $score"

if [ "$(id -u)" -ne 0 ]; then
    echo "NOTE: not root: the install half of the package test (dpkg -i) needs root; CI runs it."
    exit 0
fi

# --- installed ----------------------------------------------------------------------
if dpkg-query -W -f='${Status}' hearth 2>/dev/null | grep -q installed; then
    fail "a hearth package is installed on this machine; the test would purge it (and its data)"
fi
getent passwd hearth >/dev/null && fail "a user hearth exists without the package; remove it first"
[ -e /var/lib/hearth ] && fail "/var/lib/hearth exists without the package; move it away first"
installed=1
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || fail "dpkg -i: $(cat "$work/dpkg-i.log")"
uid=$(id -u hearth) || fail "postinst made no user hearth"
[ "$uid" -lt 1000 ] || fail "hearth is not a system user (uid $uid)"
[ "$(stat -c '%U:%G %a' /var/lib/hearth)" = "hearth:hearth 750" ] ||
    fail "/var/lib/hearth is $(stat -c '%U:%G %a' /var/lib/hearth)"
[ "$(stat -c '%U:%G %a' /etc/hearth/hearth.toml)" = "root:hearth 640" ] ||
    fail "/etc/hearth/hearth.toml is $(stat -c '%U:%G %a' /etc/hearth/hearth.toml)"
systemd-analyze verify /lib/systemd/system/hearth.service >"$work/verify" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$work/verify")"
/usr/bin/hearth --version | grep -q '^hearth ' || fail "the installed binary does not run"
ok "installed: user hearth ($uid), /var/lib/hearth 0750, config root:hearth 0640, unit verifies"

# What the unit's User=, WorkingDirectory=, NoNewPrivileges= and empty
# CapabilityBoundingSet= do, without systemd.
setpriv_hearth=(setpriv --reuid hearth --regid hearth --init-groups --no-new-privs
    --inh-caps=-all --bounding-set=-all --)
as_hearth() {
    (cd /var/lib/hearth && exec "${setpriv_hearth[@]}" "$@")
}

# The installed CLI with the packaged config, as the service's user: a home, its
# application, a device.
cli() {
    as_hearth /usr/bin/hearth --config /etc/hearth/hearth.toml "$@" 2>"$work/cli.err" ||
        fail "hearth $*: $(cat "$work/cli.err")"
}
cli group add pkg-test-home >/dev/null
cli app add pkg-test-app --group pkg-test-home >/dev/null
cli device add pkg-test-sensor --app pkg-test-app --kind sensor --json >"$work/device.json"
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$work/device.json")

(
    cd /var/lib/hearth
    export HEARTH_MQTT=127.0.0.1:0 HEARTH_WS=127.0.0.1:0 HEARTH_HTTP=127.0.0.1:0
    exec "${setpriv_hearth[@]}" /usr/bin/hearth serve --config /etc/hearth/hearth.toml --print-addrs
) >"$work/addrs" 2>"$work/addrs.err" &
hub=$!
wait_ready "$work/addrs" "$hub"
http=$(addr "$work/addrs" http)
mqtt=$(addr "$work/addrs" mqtt)
[ "$(ps -o user= -p "$hub")" = hearth ] || fail "the hub runs as $(ps -o user= -p "$hub")"
curl -fsS "http://$http/healthz" >"$work/healthz" || fail "/healthz did not answer"
ok "the installed hub runs as hearth: /healthz $(head -c 80 "$work/healthz")"

# The web app comes from inside the binary, not from a source tree beside it.
curl -fsS "http://$http/" >"$work/index.html" || fail "GET / failed"
grep -q "web app not built" "$work/index.html" && fail "the installed binary serves the placeholder, not the web app"
python3 - "$work/index.html" /usr/bin/hearth <<'PY' || fail "the served index.html is not embedded in /usr/bin/hearth"
import sys
page = open(sys.argv[1], "rb").read()
sys.exit(0 if page and page in open(sys.argv[2], "rb").read() else 1)
PY
ok "GET / serves the web app embedded in /usr/bin/hearth"

mosquitto_pub -h "${mqtt%:*}" -p "${mqtt##*:}" -V mqttv311 -q 1 -i pkg-test-sensor \
    -u pkg-test-sensor -P "$secret" -t devices/pkg-test-sensor/data -m '{"temperature": 21.5}' ||
    fail "the registered device could not publish"

password=$(sed -n 's/.*one-time password \([^ ]*\) .*/\1/p' "$work/addrs.err" | head -1)
owner=$(sed -n 's/.*created the owner account `\([^`]*\)`.*/\1/p' "$work/addrs.err" | head -1)
[ -n "$password" ] && [ -n "$owner" ] || fail "no one-time owner password in the log: $(head -c 2000 "$work/addrs.err")"
python3 - "$owner" "$password" >"$work/login.json" <<'PY'
import json, sys
print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))
PY
curl -fsS -c "$work/cookies" -H 'content-type: application/json' --data @"$work/login.json" \
    "http://$http/api/v1/auth/login" >/dev/null || fail "the owner could not log in with the logged password"
curl -fsS -b "$work/cookies" "http://$http/api/v1/devices/pkg-test-sensor" >"$work/device-state.json" ||
    fail "GET /api/v1/devices/pkg-test-sensor"
grep -q '21\.5' "$work/device-state.json" || fail "the reading is not in the device's state: $(cat "$work/device-state.json")"
ok "device added with the installed CLI published; the owner reads 21.5 through the API"

leftover=$(find /var/lib/hearth ! -user hearth)
[ -z "$leftover" ] || fail "files in /var/lib/hearth not owned by hearth: $leftover"
stop_pid "$hub"
hub=
ok "stopped by PID; every file in /var/lib/hearth belongs to hearth"

# --- removed, then purged -----------------------------------------------------------
dpkg -r hearth >"$work/dpkg-r.log" 2>&1 || fail "dpkg -r: $(cat "$work/dpkg-r.log")"
[ ! -e /usr/bin/hearth ] || fail "dpkg -r left /usr/bin/hearth"
[ -f /etc/hearth/hearth.toml ] || fail "dpkg -r removed the configuration (only purge may)"
[ -d /var/lib/hearth ] || fail "dpkg -r removed the data (only purge may)"
getent passwd hearth >/dev/null || fail "dpkg -r removed the user (only purge may)"
dpkg --purge hearth >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/dpkg-purge.log")"
installed=
for path in /var/lib/hearth /etc/hearth /lib/systemd/system/hearth.service /usr/share/doc/hearth \
    /etc/systemd/system/multi-user.target.wants/hearth.service; do
    [ ! -e "$path" ] && [ ! -L "$path" ] || fail "purge left $path"
done
getent passwd hearth >/dev/null && fail "purge left the user hearth"
getent group hearth >/dev/null && fail "purge left the group hearth"
if ls /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep -q hearth; then
    fail "purge left deb-systemd-helper state"
fi
ok "removed (configuration, data and user kept), purged (all gone)"

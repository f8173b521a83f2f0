#!/usr/bin/env bash
# What can be tested of the container without a container engine (none on the machine
# this was written on, and none in CI):
#
#   packaging/tests/container-test.sh BINARY
#
# container_check.py parses the Containerfile and compose.yaml (PyYAML) and checks them
# against the repository and each other (COPY sources exist, ports, the data volume,
# the PostgreSQL service and its health check); then BINARY runs with the runtime
# stage's exact command line and environment (ENV + compose's), where only the
# addresses become 127.0.0.1:0, the data dir a throw-away one and the database URL a
# fresh schema of the test PostgreSQL (HEARTH_TEST_POSTGRES, or a throw-away cluster
# from scripts/test-postgres.sh); the image's HEALTHCHECK command must then pass, and
# /healthz must say PostgreSQL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
binary=$(readlink -f "$1")
for tool in curl python3 psql; do need "$tool" "see .ci/run"; done
python3 -c 'import yaml' 2>/dev/null || fail "missing PyYAML: python3 -m pip install PyYAML (.ci/run does)"

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-container-test.XXXXXX")
hub=
pg_state=
schema=
cleanup() {
    [ -n "$hub" ] && stop_pid "$hub"
    [ -n "$schema" ] && psql -q "$HEARTH_TEST_POSTGRES" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1
    [ -n "$pg_state" ] && HEARTH_TEST_POSTGRES= HEARTH_PG_STATE=$pg_state "$root/scripts/test-postgres.sh" stop
    rm -rf "$work"
}
trap cleanup EXIT

python3 "$here/container_check.py" "$root" "$work"

if [ -z "${HEARTH_TEST_POSTGRES:-}" ]; then
    pg_state="$work/pg.state"
    HEARTH_TEST_POSTGRES=$(HEARTH_PG_STATE=$pg_state "$root/scripts/test-postgres.sh" start)
fi
export HEARTH_TEST_POSTGRES
schema="container_$$_$RANDOM"
psql -q "$HEARTH_TEST_POSTGRES" -c "CREATE SCHEMA $schema" >/dev/null
separator='?'
case "$HEARTH_TEST_POSTGRES" in *\?*) separator='&' ;; esac
database="$HEARTH_TEST_POSTGRES${separator}options=-c%20search_path%3D$schema"

# The container's environment, with this machine's stand-ins.
env_args=()
while IFS= read -r line; do
    key=${line%%=*}
    value=${line#*=}
    case "$key" in
        HEARTH_DATA_DIR) value="$work/data" ;;
        HEARTH_DATABASE) value="$database" ;;
    esac
    [[ "$value" =~ ^0\.0\.0\.0:[0-9]+$ ]] && value=127.0.0.1:0
    env_args+=("$key=$value")
done <"$work/env"
mapfile -t argv <"$work/argv"
[ "${argv[0]}" = /usr/bin/hearth ] || fail "the entrypoint is ${argv[0]}, not /usr/bin/hearth"
mkdir -p "$work/data"
(cd "$work/data" && exec env -i PATH="$PATH" "${env_args[@]}" "$binary" "${argv[@]:1}" --print-addrs) \
    >"$work/addrs" 2>"$work/addrs.err" &
hub=$!
wait_ready "$work/addrs" "$hub"
http=$(addr "$work/addrs" http)
for name in mqtt ws http; do
    [ -n "$(addr "$work/addrs" $name)" ] || fail "the container's command started no $name listener"
done
check=$(sed "s|127.0.0.1:8080|$http|" "$work/healthcheck")
sh -c "$check" >"$work/health" || fail "the HEALTHCHECK command failed: $check"
grep -q '"backend":"postgres"' "$work/health" || fail "the hub is not on PostgreSQL: $(cat "$work/health")"
ok "the container's command and environment run the hub on PostgreSQL; its HEALTHCHECK passes"

#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests.
#
#   scripts/test-postgres.sh start   # prints the URL to export as HEARTH_TEST_POSTGRES
#   scripts/test-postgres.sh url     # prints it again
#   scripts/test-postgres.sh stop    # stops exactly that cluster and removes its files
#
# When HEARTH_TEST_POSTGRES is already set, every command does nothing (start and url
# print it back). The cluster lives in a temporary directory, listens on a free port of
# 127.0.0.1 only (its Unix socket inside that directory), trusts local connections and
# holds one database, hearth_test. As root, it runs as the `postgres` OS user (initdb
# refuses root). Its location is kept in $HEARTH_PG_STATE (default
# ${TMPDIR:-/tmp}/hearth-test-postgres.state) so that `stop` finds it.
set -euo pipefail

STATE="${HEARTH_PG_STATE:-${TMPDIR:-/tmp}/hearth-test-postgres.state}"

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$dir" ]] && command -v pg_ctl >/dev/null 2>&1; then
        # A symlink in /usr/local/bin: the other tools sit beside its target.
        dir=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
    fi
    if [[ -z "$dir" ]]; then
        echo "PostgreSQL server binaries not found: apt-get install postgresql (or set PG_BIN)" >&2
        exit 1
    fi
    echo "$dir"
}

# Runs a command as the cluster's owner.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url_of() { echo "postgres://postgres@127.0.0.1:$1/hearth_test"; }

start() {
    if [[ -f "$STATE" ]]; then
        # shellcheck disable=SC1090
        source "$STATE"
        if [[ -n "${DATA_DIR:-}" && -f "$DATA_DIR/postmaster.pid" ]]; then
            echo "a test cluster is already running ($DATA_DIR): scripts/test-postgres.sh stop" >&2
            exit 1
        fi
    fi
    local bin base port
    bin=$(find_bin)
    base=$(mktemp -d "${TMPDIR:-/tmp}/hearth-pg.XXXXXX")
    chmod 755 "$base"
    mkdir "$base/data" "$base/socket"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$base/data" "$base/socket"; fi
    as_owner "$bin/initdb" -D "$base/data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C >"$base/initdb.log" 2>&1 || { cat "$base/initdb.log" >&2; exit 1; }
    port=$(free_port)
    cat >"$STATE" <<STATE_EOF
BASE_DIR='$base'
DATA_DIR='$base/data'
PORT='$port'
BIN='$bin'
STATE_EOF
    if ! as_owner "$bin/pg_ctl" -D "$base/data" -w -t 60 -l "$base/data/server.log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $base/socket -c max_connections=200" \
        start >/dev/null; then
        cat "$base/data/server.log" >&2 || true
        exit 1
    fi
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres hearth_test
    url_of "$port"
}

stop() {
    [[ -f "$STATE" ]] || return 0
    # shellcheck disable=SC1090
    source "$STATE"
    if [[ -f "$DATA_DIR/postmaster.pid" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null || {
            # pg_ctl failed: stop exactly this cluster's postmaster by its pid.
            local pid
            pid=$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)
            [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
        }
    fi
    case "$BASE_DIR" in
        "${TMPDIR:-/tmp}"/hearth-pg.*) rm -rf "$BASE_DIR" ;;
    esac
    rm -f "$STATE"
}

url() {
    [[ -f "$STATE" ]] || { echo "no test cluster: scripts/test-postgres.sh start" >&2; exit 1; }
    # shellcheck disable=SC1090
    source "$STATE"
    url_of "$PORT"
}

if [[ -n "${HEARTH_TEST_POSTGRES:-}" ]]; then
    case "${1:-}" in
        start | url) echo "$HEARTH_TEST_POSTGRES" ;;
        stop) ;;
        *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
    esac
    exit 0
fi

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A throw-away MariaDB server for the tests.
#
#   scripts/test-mariadb.sh start [--durable]  # prints the URL to export as HEARTH_TEST_MARIADB
#   scripts/test-mariadb.sh url                # prints it again
#   scripts/test-mariadb.sh stop               # stops exactly that server and removes its files
#
# When HEARTH_TEST_MARIADB is already set, every command does nothing (start and url
# print it back). The server lives in a temporary directory, listens on a free port of
# 127.0.0.1 only (its Unix socket inside that directory), and has one user, hearth
# (password hearth, every privilege: each test makes its own database), and one
# database, hearth_test (utf8mb4, binary collation: ids are case-sensitive). Its
# location is kept in $HEARTH_MARIADB_STATE (default
# ${TMPDIR:-/tmp}/hearth-test-mariadb.state) so that `stop` finds it.
#
# Speed: every test makes a database and applies all migrations (about 55 DDL
# statements), and MariaDB makes each DDL statement durable whatever the settings: about
# 650 fdatasync calls per database (its DDL recovery log, redo log, .frm and tablespace
# files). Nothing here needs to survive a crash of the machine (tests stop Hearth, never
# MariaDB), so by default the server runs under eatmydata (which turns fsync and
# fdatasync into no-ops) and does not sync what it would sync anyway: no flush at
# commit, no doublewrite buffer, one shared tablespace instead of a file per table, no
# .frm sync, no binary log. Measured on a 2-core VM with cheap fsync: about 80 ms per
# database with all of that, 140 ms with the settings but without eatmydata, 170 ms or
# more with MariaDB's defaults; on a disk with slow fsync the difference is larger.
# `start --durable` keeps MariaDB's durable defaults and no eatmydata, for benchmarks
# that should see what a real installation pays.
#
# Needs the MariaDB server (apt-get install mariadb-server; 10.11 is Debian 12's), or
# set MARIADB_BIN to the directory holding mariadbd, mariadb-install-db and mariadb;
# and, except with --durable, eatmydata (apt-get install eatmydata).
set -euo pipefail

STATE="${HEARTH_MARIADB_STATE:-${TMPDIR:-/tmp}/hearth-test-mariadb.state}"

find_tool() {
    local name=$1 dir
    for dir in "${MARIADB_BIN:-}" /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
        if [[ -n "$dir" && -x "$dir/$name" ]]; then
            echo "$dir/$name"
            return
        fi
    done
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
    echo "MariaDB's $name not found: apt-get install mariadb-server (or set MARIADB_BIN)" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url_of() { echo "mysql://hearth:hearth@127.0.0.1:$1/hearth_test"; }

# Is the process in the pid file alive (and a MariaDB server)?
server_running() {
    local pid
    [[ -f "$1" ]] || return 1
    pid=$(head -n 1 "$1" 2>/dev/null || true)
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

start() {
    local durable=0
    case "${1:-}" in
        "") ;;
        --durable) durable=1 ;;
        *) echo "usage: $0 start [--durable]" >&2; exit 2 ;;
    esac
    if [[ -f "$STATE" ]]; then
        # shellcheck disable=SC1090
        source "$STATE"
        if [[ -n "${PID_FILE:-}" ]] && server_running "$PID_FILE"; then
            echo "a test server is already running ($BASE_DIR): scripts/test-mariadb.sh stop" >&2
            exit 1
        fi
    fi
    local mariadbd install_db client base port user wrap=()
    if [[ $durable -eq 0 ]]; then
        if ! command -v eatmydata >/dev/null 2>&1; then
            echo "eatmydata not found: apt-get install eatmydata (or start --durable, slower)" >&2
            exit 1
        fi
        wrap=(eatmydata)
    fi
    mariadbd=$(find_tool mariadbd)
    install_db=$(find_tool mariadb-install-db)
    client=$(find_tool mariadb)
    base=$(mktemp -d "${TMPDIR:-/tmp}/hearth-mariadb.XXXXXX")
    mkdir "$base/data"
    # mariadbd refuses to run as root unless told to; as root it simply stays root (the
    # files are in a private temporary directory, nothing to chown).
    user=$(id -un)
    "$install_db" --no-defaults --datadir="$base/data" --user="$user" \
        --auth-root-authentication-method=normal --skip-test-db \
        >"$base/install.log" 2>&1 || { cat "$base/install.log" >&2; exit 1; }
    port=$(free_port)
    cat >"$STATE" <<STATE_EOF
BASE_DIR='$base'
PID_FILE='$base/mariadbd.pid'
SOCKET='$base/mariadbd.sock'
PORT='$port'
CLIENT='$client'
STATE_EOF
    local speed=()
    if [[ $durable -eq 0 ]]; then
        speed=(--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0
            --innodb-file-per-table=OFF --skip-sync-frm)
    fi
    # setsid: the server does not die with the shell that started it (nor get its ^C);
    # -w: should setsid have to fork, $! still lives exactly as long as the server.
    setsid -w "${wrap[@]}" "$mariadbd" --no-defaults --user="$user" --datadir="$base/data" \
        --pid-file="$base/mariadbd.pid" --socket="$base/mariadbd.sock" \
        --bind-address=127.0.0.1 --port="$port" --skip-name-resolve --skip-log-bin \
        --log-error="$base/error.log" --max-connections=1000 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
        --innodb-buffer-pool-size=256M --performance-schema=OFF \
        "${speed[@]}" </dev/null >"$base/stdout.log" 2>&1 &
    local deadline=$((SECONDS + 60))
    until "$client" --no-defaults --protocol=socket --socket="$base/mariadbd.sock" -uroot \
        -e 'SELECT 1' >/dev/null 2>&1; do
        if ((SECONDS >= deadline)) || ! kill -0 $! 2>/dev/null; then
            echo "MariaDB did not start; its log ($base/error.log):" >&2
            cat "$base/error.log" "$base/stdout.log" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    "$client" --no-defaults --protocol=socket --socket="$base/mariadbd.sock" -uroot <<'SQL'
CREATE USER 'hearth'@'127.0.0.1' IDENTIFIED WITH mysql_native_password USING PASSWORD('hearth');
CREATE USER 'hearth'@'localhost' IDENTIFIED WITH mysql_native_password USING PASSWORD('hearth');
GRANT ALL PRIVILEGES ON *.* TO 'hearth'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'hearth'@'localhost';
CREATE DATABASE hearth_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
SQL
    url_of "$port"
}

stop() {
    [[ -f "$STATE" ]] || return 0
    # shellcheck disable=SC1090
    source "$STATE"
    if server_running "$PID_FILE"; then
        # Exactly this server, by the pid it wrote; SIGTERM is a clean shutdown.
        local pid deadline=$((SECONDS + 60))
        pid=$(head -n 1 "$PID_FILE")
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                kill -9 "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    fi
    case "$BASE_DIR" in
        "${TMPDIR:-/tmp}"/hearth-mariadb.*) rm -rf "$BASE_DIR" ;;
    esac
    rm -f "$STATE"
}

url() {
    [[ -f "$STATE" ]] || { echo "no test server: scripts/test-mariadb.sh start" >&2; exit 1; }
    # shellcheck disable=SC1090
    source "$STATE"
    url_of "$PORT"
}

if [[ -n "${HEARTH_TEST_MARIADB:-}" ]]; then
    case "${1:-}" in
        start | url) echo "$HEARTH_TEST_MARIADB" ;;
        stop) ;;
        *) echo "usage: $0 start [--durable]|stop|url" >&2; exit 2 ;;
    esac
    exit 0
fi

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start [--durable]|stop|url" >&2; exit 2 ;;
esac

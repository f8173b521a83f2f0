#!/usr/bin/env bash
# Durable ingest end to end beside the store's own ceiling, on SQLite, PostgreSQL and
# MariaDB (issues 6 and 22). Each run: 1,000 simulated devices on real MQTT connections
# publish QoS 1 readings for SECONDS; a PUBACK means committed; then the same rows are
# written straight to a fresh store. Prints one table per run (see
# docs/ingest-performance.md).
#
#   bench/ingest.sh [RUNS] [SECONDS]
#   BACKENDS="sqlite mariadb" bench/ingest.sh 1 10    # only some backends
#
# A failed run prints the end of its log and the others go on.
#
# Runs go in rounds (run 1 of every backend, then run 2, ...) rather than all of one
# backend first, so that a burst of other work on this shared machine hits the backends
# alike and the ratios between them stay comparable.
#
# PostgreSQL and MariaDB are throw-away servers started here and stopped on exit (or
# HEARTH_TEST_POSTGRES / HEARTH_BENCH_MARIADB to use one you started). MariaDB runs with
# its durable defaults (scripts/test-mariadb.sh start --durable): the tests' server
# turns fsync off, which would measure nothing worth reporting, so HEARTH_TEST_MARIADB is
# deliberately not used. Every run gets fresh databases (PostgreSQL: schemas), dropped
# afterwards, so every run starts from empty tables.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
SECONDS_PER_RUN="${2:-20}"
BACKENDS="${BACKENDS:-sqlite postgres mariadb}"
for backend in $BACKENDS; do
    case "$backend" in
        sqlite | postgres | mariadb) ;;
        *) echo "unknown backend $backend in BACKENDS (sqlite, postgres, mariadb)" >&2; exit 2 ;;
    esac
done
wants() { [[ " $BACKENDS " == *" $1 "* ]]; }

cargo build --release -p hearth >/dev/null
ulimit -n 20000 || true
HEARTH=target/release/hearth
BENCH=(bench ingest --devices 1000 --window 16 --seconds "$SECONDS_PER_RUN")

export HEARTH_PG_STATE="${TMPDIR:-/tmp}/hearth-bench-ingest-pg.$$.state"
export HEARTH_MARIADB_STATE="${TMPDIR:-/tmp}/hearth-bench-ingest-mariadb.$$.state"
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-ingest.XXXXXX")
echo "progress and errors of each run: $LOG_DIR"
started_pg=0
started_mariadb=0
cleanup() {
    if [[ $started_pg == 1 ]]; then scripts/test-postgres.sh stop >/dev/null || true; fi
    if [[ $started_mariadb == 1 ]]; then
        HEARTH_TEST_MARIADB='' scripts/test-mariadb.sh stop >/dev/null || true
    fi
}
trap cleanup EXIT

if wants postgres && [[ -z "${HEARTH_TEST_POSTGRES:-}" ]]; then
    HEARTH_TEST_POSTGRES=$(scripts/test-postgres.sh start)
    started_pg=1
fi
MARIADB_URL="${HEARTH_BENCH_MARIADB:-}"
if wants mariadb && [[ -z "$MARIADB_URL" ]]; then
    started_mariadb=1
    MARIADB_URL=$(HEARTH_TEST_MARIADB='' scripts/test-mariadb.sh start --durable)
fi

# mysql://USER:PASSWORD@HOST:PORT/DB -> the pieces the mariadb client needs.
mariadb_sql() {
    local re='^(mysql|mariadb)://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/'
    [[ "$MARIADB_URL" =~ $re ]] || { echo "cannot parse $MARIADB_URL" >&2; exit 1; }
    MYSQL_PWD="${BASH_REMATCH[3]}" mariadb --no-defaults --protocol=tcp \
        -h "${BASH_REMATCH[4]}" -P "${BASH_REMATCH[5]}" -u "${BASH_REMATCH[2]}" \
        --batch --skip-column-names -e "$1"
}
# The same server with another database in the URL.
mariadb_url() { echo "${MARIADB_URL%/*}/$1"; }

if wants mariadb; then
    # Evidence of what "durable" means on this server, printed with the results.
    echo "## MariaDB settings"
    mariadb_sql "SELECT CONCAT('version ', VERSION(),
        ', innodb_flush_log_at_trx_commit=', @@innodb_flush_log_at_trx_commit,
        ', innodb_doublewrite=', @@innodb_doublewrite,
        ', innodb_flush_method=', @@innodb_flush_method,
        ', innodb_buffer_pool_size=', @@innodb_buffer_pool_size DIV 1048576, 'M',
        ', innodb_log_file_size=', @@innodb_log_file_size DIV 1048576, 'M',
        ', log_bin=', @@log_bin)"
    echo
fi

run_sqlite() {
    "$HEARTH" "${BENCH[@]}"
}

run_postgres() {
    # A fresh schema per run, so that every run starts from empty tables.
    local schema="bench_${1}_$$"
    psql "$HEARTH_TEST_POSTGRES" -qc "CREATE SCHEMA ${schema}_e2e; CREATE SCHEMA ${schema}_ceiling" >/dev/null
    local url="${HEARTH_TEST_POSTGRES}?options=-c%20search_path%3D${schema}_e2e"
    local ceiling_url="${HEARTH_TEST_POSTGRES}?options=-c%20search_path%3D${schema}_ceiling"
    local status=0
    "$HEARTH" "${BENCH[@]}" --database "$url" --ceiling-database "$ceiling_url" || status=$?
    PGOPTIONS="-c client_min_messages=warning" psql "$HEARTH_TEST_POSTGRES" -qc "DROP SCHEMA ${schema}_e2e CASCADE; DROP SCHEMA ${schema}_ceiling CASCADE" >/dev/null
    return $status
}

run_mariadb() {
    # Two fresh databases per run (the end-to-end store and the ceiling's), as the
    # tests' server makes them: utf8mb4 with the binary collation.
    local db="bench_${1}_$$"
    mariadb_sql "CREATE DATABASE ${db}_e2e CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE DATABASE ${db}_ceiling CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    local status=0
    "$HEARTH" "${BENCH[@]}" --database "$(mariadb_url "${db}_e2e")" \
        --ceiling-database "$(mariadb_url "${db}_ceiling")" || status=$?
    mariadb_sql "DROP DATABASE ${db}_e2e; DROP DATABASE ${db}_ceiling"
    return $status
}

for run in $(seq 1 "$RUNS"); do
    for backend in $BACKENDS; do
        case "$backend" in
            sqlite) echo "## SQLite, run $run" ;;
            postgres) echo "## PostgreSQL, run $run" ;;
            mariadb) echo "## MariaDB, run $run" ;;
        esac
        # The bench's progress lines and any error go to a log, shown when a run fails.
        log="$LOG_DIR/$backend-$run.log"
        started=$SECONDS
        if "run_$backend" "$run" 2>"$log"; then
            echo "($((SECONDS - started)) s)"
        else
            echo "FAILED after $((SECONDS - started)) s; the end of $log:"
            tail -n 20 "$log"
        fi
        echo
    done
done

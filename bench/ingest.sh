#!/usr/bin/env bash
# Durable ingest end to end beside the store's own ceiling, on SQLite and PostgreSQL
# (issue 6). Each run: 1,000 simulated devices on real MQTT connections publish QoS 1
# readings for SECONDS; a PUBACK means committed; then the same rows are written
# straight to a fresh store. Prints one table per run (see docs/performance.md).
#
#   bench/ingest.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
SECONDS_PER_RUN="${2:-20}"
cargo build --release -p hearth >/dev/null
ulimit -n 20000 || true
HEARTH=target/release/hearth

export HEARTH_PG_STATE="${TMPDIR:-/tmp}/hearth-bench-ingest-pg.$$.state"
started_pg=0
if [[ -z "${HEARTH_TEST_POSTGRES:-}" ]]; then
    HEARTH_TEST_POSTGRES=$(scripts/test-postgres.sh start)
    started_pg=1
fi
cleanup() { if [[ $started_pg == 1 ]]; then scripts/test-postgres.sh stop >/dev/null || true; fi; }
trap cleanup EXIT

for run in $(seq 1 "$RUNS"); do
    echo "## SQLite, run $run"
    "$HEARTH" bench ingest --devices 1000 --window 16 --seconds "$SECONDS_PER_RUN" 2>/dev/null
    echo
done
for run in $(seq 1 "$RUNS"); do
    echo "## PostgreSQL, run $run"
    # A fresh schema per run, so that every run starts from empty tables.
    schema="bench_${run}_$$"
    psql "$HEARTH_TEST_POSTGRES" -qc "CREATE SCHEMA ${schema}_e2e; CREATE SCHEMA ${schema}_ceiling" >/dev/null
    url="${HEARTH_TEST_POSTGRES}?options=-c%20search_path%3D${schema}_e2e"
    ceiling_url="${HEARTH_TEST_POSTGRES}?options=-c%20search_path%3D${schema}_ceiling"
    "$HEARTH" bench ingest --devices 1000 --window 16 --seconds "$SECONDS_PER_RUN" \
        --database "$url" --ceiling-database "$ceiling_url" 2>/dev/null
    PGOPTIONS="-c client_min_messages=warning" psql "$HEARTH_TEST_POSTGRES" -qc "DROP SCHEMA ${schema}_e2e CASCADE; DROP SCHEMA ${schema}_ceiling CASCADE" >/dev/null
    echo
done

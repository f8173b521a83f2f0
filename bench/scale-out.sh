#!/usr/bin/env bash
# Scale-out benchmark (issue 21, docs/scale.md "Sizing a cluster"): Debian's Mosquitto
# and PostgreSQL on loopback, and 1, then 2, then 3 release-built `hearth serve` nodes in
# external mode sharing the devices' messages ($share/hearth/devices/+/+). For each node
# count, DEVICES devices (bench/scale_out.py, real MQTT connections logged in at
# Mosquitto) publish MESSAGES QoS 1 readings each; the clock stops when the nodes'
# hearth_ingest_stored_total adds up to all of them (stored in PostgreSQL). Prints a
# table: stored messages/s, CPU seconds per 1,000 messages of the Hearth nodes (sum of
# /proc/<pid>/stat utime+stime), of Mosquitto and of PostgreSQL (the postmaster, its
# backends and the backends it reaped), PostgreSQL transactions and inserted rows per
# 1,000 messages (pg_stat_database deltas), each node count against one node.
#
#   bench/scale-out.sh [--devices 200] [--messages 500] [--window 10] [--nodes "1 2 3"]
#                      [--no-build] [--out DIR]
#
# Mosquitto checks device logins with a password file (the registry's secrets, written
# by `hearth device import`) and an ACL (`pattern readwrite devices/%u/#`): the
# dynamic-security plugin checks the same things and is tested by
# crates/hearth/tests/external/three_nodes.rs; here it would only add the cost of
# syncing the fleet before each run. Each node count gets a fresh schema, Mosquitto
# and data directories. Bounded: each run's devices stop after 300 s, the wait for
# storage after another 120 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEVICES=200
MESSAGES=500
WINDOW=10
NODE_COUNTS="1 2 3"
BUILD=1
OUT=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --devices) DEVICES=$2; shift 2 ;;
        --messages) MESSAGES=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --nodes) NODE_COUNTS=$2; shift 2 ;;
        --no-build) BUILD=; shift ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=release
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
if [[ -n $BUILD ]]; then
    build_hearth >&2
else
    HEARTH=$TARGET_DIR/$PROFILE/hearth
fi
command -v mosquitto >/dev/null || { echo "needs Debian's mosquitto package" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" || true
TOTAL=$((DEVICES * MESSAGES))
TICK=$(getconf CLK_TCK)
NODE_PASSWORD=bench-node-password

make_work_dir scale-out
PIDS=()
PG_STATE=$WORK/pg.state
stop_run() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    if [[ -n $BROKER_PID ]]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
        BROKER_PID=
    fi
}
finish() {
    stop_run
    HEARTH_PG_STATE=$PG_STATE "$ROOT/scripts/test-postgres.sh" stop >/dev/null 2>&1 || true
    cleanup
}
trap finish EXIT

# Our own PostgreSQL (not HEARTH_TEST_POSTGRES): its processes are measured alone.
PG_URL=$(env -u HEARTH_TEST_POSTGRES HEARTH_PG_STATE=$PG_STATE "$ROOT/scripts/test-postgres.sh" start)
# shellcheck disable=SC1090
source "$PG_STATE"
PG_PID=$(head -n 1 "$DATA_DIR/postmaster.pid")

# utime+stime in ticks of the processes $@ (gone ones count 0).
ticks() {
    local pid total=0 fields
    for pid in "$@"; do
        if fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null); then
            # After the command name: state is field 1, utime 12, stime 13.
            total=$((total + $(awk '{print $12 + $13}' <<<"$fields")))
        fi
    done
    echo "$total"
}

# PostgreSQL: the postmaster, its live children, and its reaped children (cutime+cstime).
pg_ticks() {
    local children own reaped
    children=$(awk -v parent="$PG_PID" '$4 == parent {print $1}' /proc/[0-9]*/stat 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    own=$(ticks "$PG_PID" $children)
    reaped=$(sed 's/^.*) //' "/proc/$PG_PID/stat" | awk '{print $14 + $15}')
    echo $((own + reaped))
}

pg_stats() {
    psql "$PG_URL" -Atc "SELECT xact_commit, tup_inserted FROM pg_stat_database WHERE datname = current_database()"
}

stored_total() {
    local node sum=0 value
    for node in "${HTTP_ADDRS[@]}"; do
        value=$(curl -s "http://$node/metrics" | awk '/^hearth_ingest_stored_total /{print int($2)}')
        sum=$((sum + ${value:-0}))
    done
    echo "$sum"
}

printf '| nodes | stored msg/s | vs 1 node | Hearth CPU s / 1k msg | Mosquitto CPU s / 1k | PostgreSQL CPU s / 1k | PG transactions / 1k | PG rows inserted / 1k |\n'
printf '|---|---|---|---|---|---|---|---|\n'
BASE_RATE=
for nodes in $NODE_COUNTS; do
    run=$WORK/nodes-$nodes
    mkdir -p "$run"
    schema="scale_${nodes}_$$"
    psql "$PG_URL" -qc "CREATE SCHEMA $schema" >/dev/null
    url="${PG_URL}?options=-c%20search_path%3D${schema}"

    # The fleet in the registry, and the same logins for Mosquitto.
    {
        echo id
        for i in $(seq 1 "$DEVICES"); do printf 'scale-%05d\n' "$i"; done
    } >"$run/devices.csv"
    admin=("$HEARTH" --database "$url" --data-dir "$run/admin")
    "${admin[@]}" group add bench >/dev/null 2>>"$run/import.log"
    "${admin[@]}" app add bench --group bench >/dev/null 2>>"$run/import.log"
    "${admin[@]}" device import "$run/devices.csv" --app bench --output "$run/secrets.csv" \
        >/dev/null 2>>"$run/import.log" || { cat "$run/import.log" >&2; exit 1; }
    tail -n +1 "$run/secrets.csv" | grep -v '^id,' | tr ',' ':' >"$run/credentials"
    { cat "$run/credentials"; echo "hearth:$NODE_PASSWORD"; } >"$run/passwd"
    mosquitto_passwd -U "$run/passwd"
    printf 'user hearth\ntopic readwrite #\n\npattern readwrite devices/%%u/#\n' >"$run/acl"
    port=$(free_port)
    cat >"$run/mosquitto.conf" <<CONF
user $(id -un)
listener $port 127.0.0.1
allow_anonymous false
password_file $run/passwd
acl_file $run/acl
persistence false
max_inflight_messages 1000
max_queued_messages 0
CONF
    mosquitto -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    wait_for_port "$port" "$BROKER_PID" "$run/mosquitto.log"

    HTTP_ADDRS=()
    NODE_PIDS=()
    for n in $(seq 1 "$nodes"); do
        dir=$run/node-$n
        mkdir -p "$dir"
        printf '[mqtt]\nmode = "external"\n\n[mqtt.external]\nurl = "mqtt://127.0.0.1:%s"\nusername = "hearth"\npassword = "%s"\n' \
            "$port" "$NODE_PASSWORD" >"$dir/hearth.toml"
        "$HEARTH" serve --print-addrs --http 127.0.0.1:0 --config "$dir/hearth.toml" \
            --database "$url" --data-dir "$dir" >"$dir/stdout" 2>"$dir/stderr" &
        pid=$!
        PIDS+=("$pid")
        NODE_PIDS+=("$pid")
        for _ in $(seq 600); do
            grep -qx ready "$dir/stdout" 2>/dev/null && break
            kill -0 "$pid" 2>/dev/null || { cat "$dir/stderr" >&2; exit 1; }
            sleep 0.1
        done
        grep -qx ready "$dir/stdout" || { echo "node $n not ready" >&2; exit 1; }
        HTTP_ADDRS+=("$(sed -n 's/^http=//p' "$dir/stdout")")
    done

    sleep 2
    read -r xact0 rows0 < <(pg_stats | tr '|' ' ')
    # shellcheck disable=SC2086
    hearth0=$(ticks "${NODE_PIDS[@]}"); mosquitto0=$(ticks "$BROKER_PID"); pg0=$(pg_ticks)
    start=$(date +%s.%N)
    python3 "$ROOT/bench/scale_out.py" --port "$port" --credentials "$run/credentials" \
        --devices "$DEVICES" --messages "$MESSAGES" --window "$WINDOW" --deadline 300 \
        >"$run/devices.json"
    for _ in $(seq 1200); do
        (($(stored_total) >= TOTAL)) && break
        sleep 0.1
    done
    end=$(date +%s.%N)
    stored=$(stored_total)
    hearth1=$(ticks "${NODE_PIDS[@]}"); mosquitto1=$(ticks "$BROKER_PID"); pg1=$(pg_ticks)
    # PostgreSQL publishes a backend's counters when it goes idle, within a second.
    sleep 2
    read -r xact1 rows1 < <(pg_stats | tr '|' ' ')
    if ((stored < TOTAL)); then
        echo "nodes=$nodes: only $stored of $TOTAL stored; devices: $(cat "$run/devices.json")" >&2
    fi
    per_node=""
    for addr in "${HTTP_ADDRS[@]}"; do
        per_node+="$(curl -s "http://$addr/metrics" | awk '/^hearth_ingest_stored_total /{print int($2)}') "
    done
    echo "nodes=$nodes: stored per node: $per_node(duplicates: $((stored - TOTAL)))" >&2
    stop_run
    psql "$PG_URL" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null

    python3 - "$nodes" "$TOTAL" "$start" "$end" "$TICK" \
        "$((hearth1 - hearth0))" "$((mosquitto1 - mosquitto0))" "$((pg1 - pg0))" \
        "$((xact1 - xact0))" "$((rows1 - rows0))" "${BASE_RATE:-0}" >"$run/row" <<'PY'
import sys
nodes, total, start, end, tick, hearth, mosquitto, pg, xact, rows, base = sys.argv[1:]
total, tick = int(total), int(tick)
rate = total / (float(end) - float(start))
per_k = lambda ticks: int(ticks) / tick / total * 1000
ratio = rate / float(base) if float(base) else 1.0
print(f"| {nodes} | {rate:,.0f} | {ratio:.2f} | {per_k(hearth):.3f} | {per_k(mosquitto):.3f} "
      f"| {per_k(pg):.3f} | {int(xact) / total * 1000:.0f} | {int(rows) / total * 1000:.0f} |")
print(rate)
PY
    head -n 1 "$run/row"
    if [[ -z $BASE_RATE ]]; then BASE_RATE=$(tail -n 1 "$run/row"); fi
done
echo
echo "$DEVICES devices x $MESSAGES QoS 1 readings (window $WINDOW) per run, $(nproc) CPUs; $(mosquitto -h | head -n 1); $("$HEARTH" --version)"

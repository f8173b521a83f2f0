#!/usr/bin/env bash
# Hearth and Mosquitto side by side on this machine, with the same load generator
# (`hearth bench broker`), the median of several runs and their ratio. See
# docs/performance.md for what each scenario measures.
#
# usage: bench/broker-vs-mosquitto.sh [--runs R] [--smoke] [--debug] [--out DIR]
#                                     [--scenario LIST] [--messages N]
#                                     [--connections N] [--duration-secs S]
#
#   --runs R      runs per broker (default 3); the table shows medians
#   --smoke       tiny counts, one run, debug build: checks that everything still works
#   --debug       use the debug build instead of release (numbers are then meaningless)
#   --out DIR     keep every run's JSON, the broker logs and the table in DIR
#   other flags   passed to `hearth bench broker`
#
# Both brokers run one after the other (never at once) on loopback ports chosen here,
# Mosquitto with a generated configuration: unlimited queues and in-flight windows,
# TCP_NODELAY, no persistence. Every broker started here is stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

RUNS=3
SCENARIOS=all
PROFILE=release
OUT=
LOAD_ARGS=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --smoke) RUNS=1; PROFILE=debug; LOAD_ARGS+=(--messages 2000 --connections 200 --duration-secs 10); shift ;;
        --debug) PROFILE=debug; shift ;;
        --out) OUT=$2; shift 2 ;;
        --scenario) SCENARIOS=$2; shift 2 ;;
        --messages | --connections | --duration-secs) LOAD_ARGS+=("$1" "$2"); shift 2 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ -x $MOSQUITTO ]] || { echo "missing $MOSQUITTO: apt-get install mosquitto" >&2; exit 1; }

# Ten thousand idle connections need ten thousand descriptors in each process; the
# brokers and the generator inherit this limit.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then ulimit -n 1048576 2>/dev/null || true; else ulimit -n "$hard"; fi
echo "open files: $(ulimit -n)" >&2

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
build_hearth
make_work_dir hearth-bench

start_mosquitto() {
    local port=$1 run=$2
    local conf=$WORK/mosquitto-$run.conf
    # Mosquitto 2.0 semantics: max_queued_messages 0 and max_inflight_messages 0 mean no
    # limit; max_queued_bytes and max_inflight_bytes are unlimited at 0 (their
    # default); max_connections -1 is unlimited.
    cat >"$conf" <<CONF
per_listener_settings false
listener $port 127.0.0.1
max_connections -1
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
max_inflight_bytes 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
connection_messages false
CONF
    "$MOSQUITTO" -c "$conf" 2>"$WORK/mosquitto-$run.log" &
    BROKER_PID=$!
    wait_for_port "$port" "$BROKER_PID" "$WORK/mosquitto-$run.log" 100
}

start_hearth() {
    local port=$1 run=$2
    local out=$WORK/hearth-$run.out
    "$HEARTH" --log warn serve --allow-anonymous --mqtt "127.0.0.1:$port" --ws off --http off \
        --data-dir "$WORK/hearth-data-$run" --print-addrs >"$out" 2>"$WORK/hearth-$run.log" &
    BROKER_PID=$!
    for _ in $(seq 300); do
        if grep -qx ready "$out" 2>/dev/null; then
            return
        fi
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "hearth exited during start-up:" >&2
            cat "$WORK/hearth-$run.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "hearth did not print ready within 30 s" >&2
    return 1
}

stop_broker() {
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}

# One broker, one set of scenarios, on a fresh instance.
bench_one() {
    local name=$1 run=$2 part=$3 scenarios=$4 port
    port=$(free_port)
    "start_$name" "$port" "$run-$part"
    echo "== $name, run $run of $RUNS ($scenarios), port $port, pid $BROKER_PID" >&2
    "$HEARTH" bench broker --host 127.0.0.1 --port "$port" --broker-pid "$BROKER_PID" --json \
        --scenario "$scenarios" ${LOAD_ARGS[@]+"${LOAD_ARGS[@]}"} >"$WORK/$name-$run-$part.json"
    stop_broker
}

# The message scenarios on one broker instance; idle connections on a fresh one, so
# that heap the message scenarios grew and freed does not hide what connections cost.
[[ $SCENARIOS == all ]] && SCENARIOS=fanin-qos0,fanin-qos1,fanout,latency,connections
MESSAGE_SCENARIOS=
CONNECTION_SCENARIOS=
IFS=, read -ra wanted <<<"$SCENARIOS"
for scenario in "${wanted[@]}"; do
    if [[ $scenario == connections ]]; then
        CONNECTION_SCENARIOS=connections
    else
        MESSAGE_SCENARIOS+=${MESSAGE_SCENARIOS:+,}$scenario
    fi
done

# Alternate the brokers so that a slow patch of a shared machine hits both.
for run in $(seq "$RUNS"); do
    for name in mosquitto hearth; do
        if [[ -n $MESSAGE_SCENARIOS ]]; then
            bench_one "$name" "$run" messages "$MESSAGE_SCENARIOS"
        fi
        if [[ -n $CONNECTION_SCENARIOS ]]; then
            bench_one "$name" "$run" connections "$CONNECTION_SCENARIOS"
        fi
    done
done

{
    echo "Hearth $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') ($PROFILE) vs $("$MOSQUITTO" -h | head -1);"
    echo "$(nproc) cores, $(uname -r), $RUNS run(s) each; ratios above 1 mean Hearth did better."
    echo
    "$HEARTH" bench compare --baseline-name Mosquitto --candidate-name Hearth \
        --baseline "$WORK"/mosquitto-*.json --candidate "$WORK"/hearth-*.json
} | tee "$WORK/table.md"

#!/usr/bin/env bash
# A flooding client beside 1,000 well-behaved ones (issue 16; docs/limits.md,
# docs/performance.md). For each of two hubs, one with [mqtt.rate_limits] on (anonymous
# clients given the device defaults, 20 messages/s, burst 200) and one with them off,
# runs bench/flood.py without and then with a flooder, and prints the well-behaved
# clients' publish -> PUBACK latency and throughput side by side.
#
#   bench/flood.sh [--clients 1000] [--duration 30] [--debug] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=1000
DURATION=30
PROFILE=release
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) CLIENTS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --debug) PROFILE=debug; shift ;;
        --no-build) BUILD=; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
TARGET=${CARGO_TARGET_DIR:-target}
HEARTH=$TARGET/$PROFILE/hearth
if [ -n "$BUILD" ]; then
    if [ "$PROFILE" = release ]; then cargo build --release -p hearth >&2; else cargo build -p hearth >&2; fi
fi
ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d)
HUB_PID=
cleanup() {
    if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

start_hub() { # $1 = config file; sets PORT and HUB_PID
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    rm -rf "$WORK/data"
    "$HEARTH" --config "$1" --log warn serve --allow-anonymous --mqtt "127.0.0.1:$PORT" \
        --ws off --http off --data-dir "$WORK/data" --print-addrs >"$WORK/out" 2>"$WORK/hub.log" &
    HUB_PID=$!
    for _ in $(seq 300); do
        grep -qx ready "$WORK/out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "hearth did not print ready" >&2; cat "$WORK/hub.log" >&2; exit 1
}

stop_hub() {
    kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=
}

cat >"$WORK/limits.toml" <<'TOML'
[mqtt.rate_limits.anonymous]
messages_rate = 20
messages_burst = 200
bytes_rate = 262144
bytes_burst = 2097152
TOML
cat >"$WORK/nolimits.toml" <<'TOML'
[mqtt.rate_limits]
enabled = false
TOML

echo "| rate limits | flooder (msg/s through) | well-behaved acked/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|"
for mode in limits nolimits; do
    for flood in "" --flood; do
        start_hub "$WORK/$mode.toml"
        result=$(python3 bench/flood.py --port "$PORT" --clients "$CLIENTS" --duration "$DURATION" $flood)
        stop_hub
        python3 - "$mode" "$flood" "$result" <<'PY'
import json, sys
mode, flood, result = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {'on' if mode == 'limits' else 'off'} | {result['flooder_per_sec'] if flood else 'none'} | {result['acked_per_sec']} | {result['p50_ms']} | {result['p99_ms']} | {result['errors']} |")
PY
    done
done

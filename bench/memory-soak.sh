#!/usr/bin/env bash
# The hub's memory under sustained full-rate ingest, and the ingest rate as the store
# grows (issue 19; docs/history-performance.md, "Memory"). Starts a release `hearth serve`
# on a fresh data directory with rate limits off, registers DEVICES devices, runs
# `hearth bench ingest --hub` (every device on its own MQTT connection, QoS 1, WINDOW in
# flight) for DURATION seconds or MESSAGES messages, samples the hub's VmRSS every
# second, keeps sampling for AFTER seconds once the load stopped, and prints peak,
# level-off and after-load RSS, the rate per 10 s and per million messages, and the
# memory bound the hub printed at start.
#
#   bench/memory-soak.sh                       # 10 minutes of load, 150 s after
#   DURATION=60 AFTER=30 bench/memory-soak.sh  # a quick run
#   MESSAGES=10000000 AFTER=0 bench/memory-soak.sh   # rate vs stored count to 10 M
#   HEARTH=/path/to/hearth bench/memory-soak.sh --no-build   # another binary
#
# Environment: DURATION (s, default 600), AFTER (s, default 150), MESSAGES (default 0:
# by time), DEVICES (1000), WINDOW (16), HUB_HEARTH (another binary for the hub only:
# an older build against the same load generator), HUB_ENV (e.g. "MALLOC_ARENA_MAX=2", given to the
# hub only), HUB_CONFIG (extra TOML appended to the hub's config), PREPARE_SQL (run with
# sqlite3 on the fresh database before the hub starts, e.g. "DROP INDEX points_by_time"
# to measure what an index costs), OUT (directory that keeps the JSON report, hub log and
# RSS samples).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
AFTER=${AFTER:-150}
MESSAGES=${MESSAGES:-0}
DEVICES=${DEVICES:-1000}
WINDOW=${WINDOW:-16}
BUILD=1
[ "${1:-}" = --no-build ] && BUILD=
if [ -z "${HEARTH:-}" ]; then
    HEARTH=${CARGO_TARGET_DIR:-target}/release/hearth
    if [ -n "$BUILD" ]; then cargo build --release -p hearth >&2; fi
fi
ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/memory-soak.XXXXXX")
HUB_PID=
cleanup() {
    if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; fi
    if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$WORK"/*.json "$WORK"/*.log "$OUT"/ 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The devices: registered through the CLI, as an installer would.
{
    echo id
    for i in $(seq 1 "$DEVICES"); do printf 'soak-%05d\n' "$i"; done
} >"$WORK/ids.csv"
# The hub's own binary registers them: another build may have other migrations.
HUB=${HUB_HEARTH:-$HEARTH}
"$HUB" --data-dir "$WORK/data" --log warn group add soak >/dev/null
"$HUB" --data-dir "$WORK/data" --log warn app add --group soak soak >/dev/null 2>&1
"$HUB" --data-dir "$WORK/data" --log warn device import "$WORK/ids.csv" --app soak \
    --output "$WORK/credentials.csv" >/dev/null

if [ -n "${PREPARE_SQL:-}" ]; then sqlite3 "$WORK/data/hearth.db" "$PREPARE_SQL"; fi

# Load tests switch the per-device rate limits off (docs/limits.md).
{
    printf '[mqtt.rate_limits]\nenabled = false\n'
    printf '%s\n' "${HUB_CONFIG:-}"
} >"$WORK/hub.toml"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env ${HUB_ENV:-} "$HUB" --config "$WORK/hub.toml" --log info serve --mqtt "127.0.0.1:$PORT" \
    --ws off --http off --data-dir "$WORK/data" --print-addrs >"$WORK/out.log" 2>"$WORK/hub.log" &
HUB_PID=$!
for _ in $(seq 300); do
    grep -qx ready "$WORK/out.log" 2>/dev/null && break
    kill -0 "$HUB_PID" 2>/dev/null || { cat "$WORK/hub.log" >&2; exit 1; }
    sleep 0.1
done
grep -qx ready "$WORK/out.log" || { echo "hearth did not print ready" >&2; exit 1; }
sleep 2 # the start-up settles before the baseline is taken
grep -o 'memory bound.*' "$WORK/hub.log" | head -1 || echo "(no memory bound line in the hub's log)"

SECONDS_ARG=$DURATION
[ "$MESSAGES" != 0 ] && SECONDS_ARG=86400
"$HEARTH" --log warn bench ingest --hub "127.0.0.1:$PORT" --hub-pid "$HUB_PID" \
    --credentials "$WORK/credentials.csv" --devices "$DEVICES" --window "$WINDOW" \
    --seconds "$SECONDS_ARG" --messages "$MESSAGES" --after-secs "$AFTER" --json \
    >"$WORK/report.json"
python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mib = lambda v: "-" if v is None else f"{v:.0f}"
print(f"devices {r['devices']}, window {r['window']}: {r['acked']} messages in {r['load_secs']:.0f} s, "
      f"{r['acked_per_sec']:.0f}/s, refused {r['refused']}")
print(f"hub RSS MiB: before {mib(r['rss_before_mib'])}, peak {mib(r['rss_peak_mib'])}, "
      f"level (last minute of load) {mib(r['rss_level_mib'])}, after {mib(r['rss_after_mib'])}")
s = r["samples"]
print("hub RSS MiB every 10 s (| = load stopped):",
      " ".join(("| " if i > 0 and s[i - 10]["loaded"] and not x["loaded"] else "") + mib(x["rss_mib"])
               for i, x in enumerate(s) if i % 10 == 0))
print("msg/s per 10 s:", " ".join(f"{v / 1000:.0f}k" for v in r["rate_per_10s"]))
if r["rate_per_million"]:
    m = r["rate_per_million"]
    print("msg/s per million stored:", " ".join(f"{v / 1000:.1f}k" for v in m))
    print(f"last million / first million: {m[-1] / m[0]:.2f}")
if r.get("hub_cpu_us_per_million"):
    c = r["hub_cpu_us_per_million"]
    print("hub CPU µs per message, per million:", " ".join(f"{v:.1f}" for v in c))
PY
if [ -n "${OUT:-}" ]; then
    # One line per second, for plotting: t acked rss_mib loaded
    python3 -c 'import json,sys; [print(x["t"], x["acked"], x["rss_mib"], int(x["loaded"])) for x in json.load(open(sys.argv[1]))["samples"]]' \
        "$WORK/report.json" >"$WORK/rss.log"
fi

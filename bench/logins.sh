#!/usr/bin/env bash
# Logins per second with credentials, Hearth's registry beside Mosquitto's password file,
# in one run on this machine, with the broker's CPU per 1,000 logins. See
# docs/performance.md ("Logins").
#
# usage: bench/logins.sh [--devices N] [--runs R] [--concurrency C] [--debug] [--out DIR]
#
#   --devices N      registered devices, and Mosquitto users (default 1000)
#   --runs R         rounds (default 3); the table shows medians
#   --concurrency C  handshakes in flight (default 64)
#   --debug          use the debug build (numbers are then meaningless)
#   --out DIR        keep the JSON lines, logs and the table in DIR
#
# Each round, one broker at a time, every user logs in once (CONNECT → CONNACK, client
# id = user name), on a freshly started broker, so no login is helped by a cache:
#   mosquitto  Mosquitto with a password file of the same users (mosquitto_passwd -U:
#              PBKDF2-SHA512, its default);
#   argon2id   a new hub whose devices' secrets are stored as light argon2id (the
#              baseline: what a device login cost), which it rehashes meanwhile;
#   fast       the same hub restarted: every secret now a salted HMAC.
# Servers listen on 127.0.0.1 only and are stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
MOSQUITTO_PASSWD=${MOSQUITTO_PASSWD:-mosquitto_passwd}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

DEVICES=1000
RUNS=3
CONCURRENCY=64
PROFILE=release
OUT=
while [[ $# -gt 0 ]]; do
    case $1 in
        --devices) DEVICES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --debug) PROFILE=debug; shift ;;
        --out) OUT=$2; shift 2 ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ -x $MOSQUITTO ]] || { echo "missing $MOSQUITTO: apt-get install mosquitto" >&2; exit 1; }
command -v "$MOSQUITTO_PASSWD" >/dev/null || { echo "missing mosquitto_passwd" >&2; exit 1; }

hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then ulimit -n 65536 2>/dev/null || true; else ulimit -n "$hard"; fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
build_hearth
make_work_dir hearth-logins

start_mosquitto() {
    local port=$1 name=$2
    cat >"$WORK/$name.conf" <<CONF
per_listener_settings false
user $(id -un)
listener $port 127.0.0.1
max_connections -1
allow_anonymous false
password_file $WORK/mosquitto.passwd
persistence false
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
connection_messages false
CONF
    "$MOSQUITTO" -c "$WORK/$name.conf" 2>"$WORK/$name.log" &
    BROKER_PID=$!
    wait_for_port "$port" "$BROKER_PID" "$WORK/$name.log"
}

start_hearth() {
    local port=$1 name=$2 data=$3
    "$HEARTH" --log warn serve --mqtt "127.0.0.1:$port" --ws off --http off \
        --data-dir "$data" >"$WORK/$name.out" 2>"$WORK/$name.log" &
    BROKER_PID=$!
    wait_for_port "$port" "$BROKER_PID" "$WORK/$name.log"
}

stop_broker() {
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}

# One broker instance, every user once.
measure() {
    local label=$1 run=$2 port=$3
    echo "== $label, round $run of $RUNS, port $port, pid $BROKER_PID" >&2
    "$HEARTH" bench logins --port "$port" --credentials "$WORK/credentials" \
        --broker-pid "$BROKER_PID" --concurrency "$CONCURRENCY" --label "$label" --json \
        | tee -a "$WORK/results.jsonl" >&2
}

for run in $(seq "$RUNS"); do
    data=$WORK/hub-$run
    "$HEARTH" bench login-fleet --data-dir "$data" --devices "$DEVICES" --hash argon2id \
        --credentials "$WORK/credentials"
    cp "$WORK/credentials" "$WORK/mosquitto.passwd"
    "$MOSQUITTO_PASSWD" -U "$WORK/mosquitto.passwd"

    port=$(free_port)
    start_mosquitto "$port" "mosquitto-$run"
    measure mosquitto "$run" "$port"
    stop_broker

    port=$(free_port)
    start_hearth "$port" "hearth-argon2id-$run" "$data"
    measure argon2id "$run" "$port"
    stop_broker
    "$HEARTH" bench login-fleet --data-dir "$data" --inspect | tee -a "$WORK/rehashed.jsonl" >&2

    port=$(free_port)
    start_hearth "$port" "hearth-fast-$run" "$data"
    measure fast "$run" "$port"
    stop_broker
done

{
    echo "Hearth $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') ($PROFILE) vs $("$MOSQUITTO" -h | head -1);"
    echo "$(nproc) cores, $(uname -r); $DEVICES users, $CONCURRENCY handshakes in flight, $RUNS round(s), medians."
    echo "Mosquitto's password file: $(cut -d: -f2 "$WORK/mosquitto.passwd" | head -1 | cut -d'$' -f2-3 | sed 's/^7\$/PBKDF2-SHA512, iterations /')."
    echo
    python3 - "$WORK/results.jsonl" "$WORK/rehashed.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rehashed = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
def median(label, key):
    values = [row[key] for row in rows if row["label"] == label and row.get(key) is not None]
    return statistics.median(values) if values else float("nan")
names = {
    "mosquitto": "Mosquitto, password file",
    "argon2id": "Hearth, secrets stored as argon2id (before)",
    "fast": "Hearth, secrets stored as salted HMAC (after)",
}
base = median("mosquitto", "logins_per_sec")
print("| broker | logins/s | × Mosquitto | broker CPU s per 1,000 logins | failed |")
print("|---|---:|---:|---:|---:|")
for label in ["mosquitto", "argon2id", "fast"]:
    rate = median(label, "logins_per_sec")
    cpu = median(label, "broker_cpu_secs_per_1000")
    failed = sum(row["failed"] for row in rows if row["label"] == label)
    print(f"| {names[label]} | {rate:,.0f} | {rate / base:.2f} | {cpu:.3f} | {failed} |")
print()
print("Rehashed at the argon2id round (fast/all, each round): "
      + ", ".join(f"{r['fast']}/{r['devices']}" for r in rehashed))
PY
} | tee "$WORK/table.md"

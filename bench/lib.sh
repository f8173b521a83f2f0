# Shared by the benchmark scripts: building the hub, a work directory that is kept in
# --out and removed on exit (stopping the broker a script started, by PID), free ports
# and waiting for a broker to listen. Sourced after the script has set ROOT, CARGO,
# TARGET_DIR, PROFILE and OUT; it sets HEARTH, WORK and BROKER_PID.

# Builds `hearth` in $PROFILE and sets HEARTH to the binary.
build_hearth() {
    if [[ $PROFILE == release ]]; then
        (cd "$ROOT" && "$CARGO" build --release -p hearth)
    else
        (cd "$ROOT" && "$CARGO" build -p hearth)
    fi
    HEARTH=$TARGET_DIR/$PROFILE/hearth
}

# A temporary directory named after $1, copied to $OUT (when set) and removed on exit,
# after the broker in BROKER_PID (if any) was stopped.
make_work_dir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    BROKER_PID=
    trap cleanup EXIT
}

cleanup() {
    if [[ -n $BROKER_PID ]]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ -n $OUT ]]; then
        mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/
    fi
    rm -rf "$WORK"
}

# A port below the ephemeral range (32768 and up on Linux), so that a load generator's
# own client ports never collide with it, that nothing answers on yet.
free_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Waits until something listens on $1, failing (with the log $3) if process $2 exits
# first or after $4 tenths of a second (default 300).
wait_for_port() {
    local port=$1 pid=$2 log=$3 tries=${4:-300}
    for _ in $(seq "$tries"); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "broker exited during start-up:" >&2
            cat "$log" >&2
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return
        fi
        sleep 0.1
    done
    echo "broker not listening on $port after $((tries / 10)) s" >&2
    return 1
}

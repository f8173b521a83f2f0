# Helpers for the packaging tests (sourced). Every failure is a failure, never a skip.

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

ok() {
    echo "ok: $*"
}

need() {
    command -v "$1" >/dev/null || fail "missing $1 ($2; .ci/run installs it)"
}

# wait_ready FILE PID: waits for `ready` in a hub's --print-addrs output (the hub prints
# it once every listener is bound), failing if the hub exits first.
wait_ready() {
    local file=$1 pid=$2 i
    for i in $(seq 1 600); do
        grep -qx ready "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || fail "the hub exited before it was ready: $(cat "$file.err" 2>/dev/null | tail -20)"
        sleep 0.1
    done
    fail "the hub was not ready after 60 s"
}

# addr FILE NAME: the address a --print-addrs line names, e.g. `http`.
addr() {
    sed -n "s/^$2=//p" "$1" | head -1
}

# free_port: a loopback port nobody listens on now (for nginx, which cannot take port 0).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# stop_pid PID: SIGTERM, then waits for the process (a child of this shell) to end.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    wait "$pid" 2>/dev/null || true
}

# Ctrl-C and kill end the script through its EXIT trap, which stops what it started.
trap 'exit 130' INT TERM

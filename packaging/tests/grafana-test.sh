#!/usr/bin/env bash
# The Grafana dashboard cannot rot: every metric its queries name is one that a real
# hub exports.
#
#   packaging/tests/grafana-test.sh BINARY
#
# Starts BINARY on ports 0 with a throw-away data dir, makes it do a little of
# everything the dashboard shows (an HTTP request, an MQTT client, a device reading),
# fetches /metrics, and checks packaging/grafana/hearth-dashboard.json: valid JSON,
# unique panel ids, every target with an expression, every hearth_* and process_*
# name in an expression or variable query present in /metrics.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
binary=$(readlink -f "$1")
for tool in curl python3 mosquitto_pub; do need "$tool" "see .ci/run"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-grafana-test.XXXXXX")
hub=
cleanup() {
    [ -n "$hub" ] && stop_pid "$hub"
    rm -rf "$work"
}
trap cleanup EXIT

"$binary" --data-dir "$work/data" group add g >/dev/null
"$binary" --data-dir "$work/data" app add a --group g >/dev/null
"$binary" --data-dir "$work/data" device add d --app a --json >"$work/device.json"
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$work/device.json")
"$binary" serve --data-dir "$work/data" --mqtt 127.0.0.1:0 --ws 127.0.0.1:0 --http 127.0.0.1:0 \
    --print-addrs >"$work/addrs" 2>"$work/addrs.err" &
hub=$!
wait_ready "$work/addrs" "$hub"
http=$(addr "$work/addrs" http)
mqtt=$(addr "$work/addrs" mqtt)
curl -fsS "http://$http/healthz" >/dev/null
mosquitto_pub -h "${mqtt%:*}" -p "${mqtt##*:}" -q 1 -i d -u d -P "$secret" -t devices/d/data \
    -m '{"temperature": 20}'
curl -fsS "http://$http/metrics" >"$work/metrics"

python3 - "$root/packaging/grafana/hearth-dashboard.json" "$work/metrics" <<'PY'
import json, re, sys

dashboard = json.load(open(sys.argv[1]))
exported = set()
for line in open(sys.argv[2]):
    match = re.match(r"#\s*TYPE\s+(\S+)", line) or re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
    if match:
        exported.add(match.group(1))

def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))

queries, ids, problems = [], set(), []
for panel in panels(dashboard["panels"]):
    if panel["id"] in ids:
        problems.append(f"panel id {panel['id']} twice")
    ids.add(panel["id"])
    if panel["type"] == "row":
        continue
    if not panel.get("targets"):
        problems.append(f"panel {panel['title']!r} has no queries")
    for target in panel.get("targets", []):
        if not target.get("expr"):
            problems.append(f"panel {panel['title']!r}: a target without expr")
        queries.append((panel["title"], target.get("expr", "")))
for variable in dashboard["templating"]["list"]:
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query", "")
    if variable["type"] == "query":
        queries.append((f"variable {variable['name']}", query))

names = 0
for where, expr in queries:
    for name in re.findall(r"\b((?:hearth|process)_[a-z0-9_]+)\b", expr):
        names += 1
        if name not in exported:
            problems.append(f"{where}: {name} is not in the hub's /metrics")
if problems:
    sys.exit("\n".join(problems))
print(f"ok: {len(queries)} queries name {names} metrics, all exported by the hub")
PY

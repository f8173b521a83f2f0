#!/usr/bin/env bash
# The benchmarks in miniature, for CI: one run per broker with tiny counts on the debug
# build, so that the generator, the CLI and the comparison script cannot rot; then the
# automations benchmark (issue 14) with 20 devices, 200 automations, one 1 s round per
# hub and 20 timed triggers; then the history benchmark (issue 19) with one day of 3
# devices, whose JSON must carry its keys. It checks that everything runs; the numbers
# mean nothing and nothing fails on them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/bench/broker-vs-mosquitto.sh" --smoke "$@"
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth" --log warn bench automations \
    --devices 20 --seconds 1 --rounds 1 --triggers 20
HISTORY_JSON=$(mktemp)
trap 'rm -f "$HISTORY_JSON"' EXIT
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth" --log warn bench history \
    --days 1 --devices 3 --samples 3 --json >"$HISTORY_JSON"
python3 - "$HISTORY_JSON" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
keys = ["bytes_per_reading", "message_bytes_ratio", "readings", "compact_secs", "queries",
        "year_total_gb_100_devices", "peak_rss_mib"]
missing = [key for key in keys if key not in report]
assert not missing, f"bench history JSON lacks {missing}"
assert report["readings"] == 3 * 3 * 8640, report["readings"]
names = {query["name"] for query in report["queries"]}
assert {"chart_day", "chart_month", "chart_year", "latest_points", "device_list"} <= names, names
print(f"bench history smoke: {report['bytes_per_reading']:.2f} B/reading")
PY

#!/usr/bin/env bash
# The benchmarks in miniature, for CI: one run per broker with tiny counts on the debug
# build, so that the generator, the CLI and the comparison script cannot rot; then the
# automations benchmark (issue 14) with 20 devices, 200 automations, one 1 s round per
# hub and 20 timed triggers. It checks that everything runs; the numbers mean nothing
# and nothing fails on them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/bench/broker-vs-mosquitto.sh" --smoke "$@"
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth" --log warn bench automations \
    --devices 20 --seconds 1 --rounds 1 --triggers 20

#!/usr/bin/env bash
# The bridge's benchmark (issue 20, docs/bridge.md): catch-up of 100,000 queued
# messages and live messages per second through the link, two hubs on loopback.
# Sizes: BRIDGE_BENCH_QUEUED, BRIDGE_BENCH_DEVICES, BRIDGE_BENCH_PER_DEVICE.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -q -p hearth --example bridge_bench

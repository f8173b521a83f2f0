#!/usr/bin/env bash
# The bridge's benchmark (issue 20, docs/bridge.md): catch-up of 100,000 queued
# messages and live messages per second through the link, two hubs on loopback.
# Sizes: BRIDGE_BENCH_QUEUED, BRIDGE_BENCH_DEVICES, BRIDGE_BENCH_PER_DEVICE,
# BRIDGE_BENCH_WINDOW.
set -euo pipefail
cd "$(dirname "$0")/.."
# Twice: with the cloud's default rate limit for sites (what a home meets after an
# outage), then without it (what the link itself carries).
cargo build --release -q -p hearth --example bridge_bench
cargo run --release -q -p hearth --example bridge_bench
BRIDGE_BENCH_SITE_LIMIT=off cargo run --release -q -p hearth --example bridge_bench

#!/usr/bin/env bash
# The broker benchmark in miniature, for CI: one run per broker with tiny counts on the
# debug build, so that the generator, the CLI and the comparison script cannot rot.
# It checks that everything runs; the numbers mean nothing and nothing fails on them.
set -euo pipefail
exec "$(dirname "$0")/broker-vs-mosquitto.sh" --smoke "$@"

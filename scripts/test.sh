#!/usr/bin/env bash
# README's second command (and CI's): install, build, run every test, run every benchmark
# in its seconds-long smoke mode (so bench/ does not rot; no figure is judged), then fuzz
# the hostile-input parsers for a bounded time (RUNYARD_FUZZ_SECONDS per target, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")
RUNYARD_BIN_DIR="$PWD/build" bench/run --quick
scripts/fuzz.sh "${RUNYARD_FUZZ_SECONDS:-30}"

#!/usr/bin/env bash
# Configures and builds runyard into ./build (binaries: build/cli/runyard,
# build/server/runyard-server, build/agent/runyard-agent).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)"

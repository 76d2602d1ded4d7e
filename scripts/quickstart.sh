#!/usr/bin/env bash
# README's first command: install, build, and train the quickstart model locally.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/cli/runyard run examples/quickstart/run.yaml

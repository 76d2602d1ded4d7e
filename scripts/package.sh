#!/usr/bin/env bash
# Builds the Debian packages runyard, runyard-server, runyard-agent and runyard-python (the
# Python SDK, Architecture: all) (packaging/cpack.cmake).
#   scripts/package.sh [BUILD_DIR [OUT_DIR]]     defaults: build-pkg, BUILD_DIR/packages
# Configures BUILD_DIR if needed (Ninja, RelWithDebInfo), builds the three programs and the
# SDK, runs cpack, and prints the four .deb paths on stdout (everything else goes to stderr).
# RUNYARD_BUILD_JOBS sets the build's parallelism (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-pkg}
out=${2:-$build/packages}

if [ -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" >&2                  # keep the tree's settings, pick up changes
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$build" -j "${RUNYARD_BUILD_JOBS:-$(nproc)}" \
  --target runyard runyard-server runyard-agent runyard_python_sdk >&2

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/runyard_*.deb "$out"/runyard-server_*.deb "$out"/runyard-agent_*.deb \
  "$out"/runyard-python_*.deb
# -B: packages and cpack's staging folder (_CPack_Packages) go to OUT_DIR, not the build tree.
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >&2
rm -rf "$out/_CPack_Packages"

debs=("$out"/runyard_*.deb "$out"/runyard-server_*.deb "$out"/runyard-agent_*.deb
      "$out"/runyard-python_*.deb)
for deb in "${debs[@]}"; do
  [ -f "$deb" ] || { echo "package.sh: cpack made no $deb" >&2; exit 1; }
  echo "$deb"
done

#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang, ASan+UBSan) into ./build-fuzz and runs each
# for SECONDS_PER_TARGET seconds (default 30) on a temporary copy of its seed corpus
# (fuzz/corpus/<name>/; the repository is never written to). Exits non-zero if a target
# finds something; crash inputs and logs are kept in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Reproduce a finding:  build-fuzz/<target> build-fuzz/artifacts/<target>-crash-<sha1>
# (RUNYARD_FUZZ_VERBOSE=1 also prints what the product code returned for each input).
# Needs scripts/install-deps.sh plus clang-14 and libclang-rt-14-dev (installed here with
# apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-30}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

pick_compilers() {
  CC="" CXX=""
  if command -v clang++-14 > /dev/null && command -v clang-14 > /dev/null; then
    CC=clang-14 CXX=clang++-14
  elif command -v clang++ > /dev/null && command -v clang > /dev/null; then
    CC=clang CXX=clang++
  fi
}

# True when $CXX can link a libFuzzer binary (needs libclang-rt-14-dev).
can_link_fuzzer() {
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    > "$probe/probe.cc"
  local ok=0
  "$CXX" -fsanitize=fuzzer,address,undefined "$probe/probe.cc" -o "$probe/probe" > /dev/null 2>&1 || ok=1
  rm -rf "$probe"
  return $ok
}

pick_compilers
if [ -z "$CXX" ] || ! can_link_fuzzer; then
  echo "fuzz: installing clang-14 libclang-rt-14-dev"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
  pick_compilers
  if [ -z "$CXX" ] || ! can_link_fuzzer; then
    echo "fuzz: $CXX cannot link -fsanitize=fuzzer binaries" >&2
    exit 1
  fi
fi

BUILD=build-fuzz
ARTIFACTS="$BUILD/artifacts"
build_start=$SECONDS
cmake -S fuzz -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" > /dev/null
cmake --build "$BUILD" -j "$(nproc)"
echo "fuzz: build took $((SECONDS - build_start)) s ($CXX)"
mkdir -p "$ARTIFACTS"

WORK="$(mktemp -d -t runyard-fuzz.XXXXXX)"
# The archive target creates and removes a few folders and files per run: on tmpfs that
# is about 10x faster than on a disk, so its scratch folder goes to /dev/shm when it can.
SCRATCH="$(mktemp -d -p /dev/shm runyard-fuzz.XXXXXX 2> /dev/null || mktemp -d -p "$WORK")"
trap 'rm -rf "$WORK" "$SCRATCH"' EXIT

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
summary=()
for target in archive_extract_fuzzer manifest_parse_fuzzer records_parse_fuzzer \
              request_limits_fuzzer spec_yaml_fuzzer; do
  corpus_name="${target%%_*}"  # archive, manifest, records, request, spec
  corpus="$WORK/corpus-$corpus_name"
  mkdir -p "$corpus" "$SCRATCH/tmp-$target"
  cp fuzz/corpus/"$corpus_name"/* "$corpus"/
  log="$WORK/$target.log"
  echo "fuzz: running $target for $SECONDS_PER_TARGET s"
  rc=0
  TMPDIR="$SCRATCH/tmp-$target" "$BUILD/$target" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -dict="fuzz/$corpus_name.dict" -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/$target-" "$corpus" > "$log" 2>&1 || rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  time_s="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)"
  [ -n "$runs" ] || runs="$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)"
  runs="${runs:-0}"
  rate=""
  if [ -n "$time_s" ] && [ "$time_s" -gt 0 ]; then rate=" ($((runs / time_s)) exec/s)"; fi
  if [ "$rc" -eq 0 ]; then
    summary+=("$target: $runs runs${rate}, $(ls "$corpus" | wc -l) corpus files, no finding")
  else
    failed=1
    cp "$log" "$ARTIFACTS/$target.log"
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    summary+=("$target: FINDING after $runs runs (exit $rc): ${artifact:-no artifact}; log $ARTIFACTS/$target.log")
    echo "---- last lines of $target's log ----"
    tail -n 60 "$log"
    echo "----"
  fi
done

for line in "${summary[@]}"; do echo "$line"; done
exit "$failed"

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) into build-fuzz/ and runs each for
# a bounded time, seeded from tests/fuzz/corpus/NAME/. Fails on the first crash, leak or
# sanitizer report; the input that did it is kept in build-fuzz/artifacts/.
# Env: FUZZ_SECONDS (per target, default 30), FUZZ_TARGETS (names, default all),
#      FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build jobs, default 2),
#      FUZZ_PARALLEL (targets run at a time, default 1).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
cxx="$(command -v clang++-14 || true)"
if [ -z "$cxx" ]; then
  echo "fuzz: clang++-14 is missing (apt-get install clang-14 libfuzzer-14-dev)" >&2
  exit 2
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
targets="${FUZZ_TARGETS:-$(sed -n 's/^herald_fuzz_target(\([a-z_]*\))$/\1/p' "$here/CMakeLists.txt" | tr '\n' ' ')}"
if ! cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done) \
    > "$build/build.log" 2>&1; then
  tail -40 "$build/build.log" >&2
  exit 1
fi

mkdir -p "$build/artifacts"
# One target's run; its output is in build-fuzz/fuzz_NAME.log, its status is the status.
run_one() {
  local t=$1
  # Run on a scratch copy of the seeds: what the run discovers does not touch the tree.
  local work="$build/corpus/$t"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$here/corpus/$t/"* "$work/" 2>/dev/null || true
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$work" > "$build/fuzz_$t.log" 2>&1
}
report() {  # NAME STATUS
  echo "== fuzz_$1: ${seconds}s, $(ls "$here/corpus/$1" | wc -l) seeds =="
  if [ "$2" != 0 ]; then
    echo "fuzz_$1 FAILED; last lines of $build/fuzz_$1.log:" >&2
    tail -40 "$build/fuzz_$1.log" >&2
    return 1
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE" "$build/fuzz_$1.log" | tail -2 || true
}

# FUZZ_PARALLEL targets run at a time (each for its full time), reported in order.
parallel="${FUZZ_PARALLEL:-1}"
status=0
set -- $targets
while [ $# -gt 0 ]; do
  batch=() pids=()
  while [ $# -gt 0 ] && [ ${#batch[@]} -lt "$parallel" ]; do
    batch+=("$1")
    run_one "$1" &
    pids+=($!)
    shift
  done
  for i in "${!batch[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    report "${batch[$i]}" "$rc" || status=1
  done
done
exit $status

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) into build-fuzz/ and runs each for
# a bounded time, seeded from tests/fuzz/corpus/NAME/. Fails on the first crash, leak or
# sanitizer report; the input that did it is kept in build-fuzz/artifacts/.
# Env: FUZZ_SECONDS (per target, default 30), FUZZ_TARGETS (names, default all),
#      FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build jobs, default 2).
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
status=0
for t in $targets; do
  # Run on a scratch copy of the seeds: what the run discovers does not touch the tree.
  work="$build/corpus/$t"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$here/corpus/$t/"* "$work/" 2>/dev/null || true
  echo "== fuzz_$t: ${seconds}s, $(ls "$here/corpus/$t" | wc -l) seeds =="
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
      "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$work" > "$build/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t FAILED; last lines of $build/fuzz_$t.log:" >&2
    tail -40 "$build/fuzz_$t.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE" "$build/fuzz_$t.log" | tail -2 || true
  fi
done
exit $status

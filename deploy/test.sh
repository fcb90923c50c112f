#!/usr/bin/env bash
# Herald's test command: installs what is missing, starts MariaDB and Redis on loopback, builds
# (warnings as errors) and runs every test: unit, store conformance on SQLite and MariaDB, Redis
# bus, black-box integration, a cluster behind nginx, headless Chromium, a bench smoke run, the
# address+undefined sanitizer build and the format check (HERALD_TSAN=1 adds ThreadSanitizer).
# Usage: deploy/test.sh            (everything)
#        HERALD_SKIP_ASAN=1 deploy/test.sh   (skip the address+undefined build, for quick local runs)
#        HERALD_TSAN=1 deploy/test.sh        (also the unit tests under ThreadSanitizer)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "packages"
. deploy/packages.sh
install_packages test

step "format check (clang-format --dry-run --Werror)"
deploy/lib/format_check.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-test.XXXXXX")
. deploy/lib/mariadb.sh
. deploy/lib/redis.sh
cleanup() {
  set +e
  herald_mariadb_stop "$work/mariadb" >/dev/null 2>&1
  herald_redis_stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

step "start MariaDB and Redis on loopback"
mkdir -p "$work/mariadb"
herald_mariadb_start "$work/mariadb" >/dev/null
herald_redis_start >/dev/null
export HERALD_REQUIRE_MYSQL=1 HERALD_REQUIRE_REDIS=1
echo "MariaDB on port $HERALD_MARIADB_PORT, Redis at $HERALD_TEST_REDIS_URL"

step "build (RelWithDebInfo, -Werror, -Wshadow)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

step "unit, store and bus tests"
(cd build && ctest --output-on-failure -j1)

export HERALD_BIN="$root/build/gateway/herald"
export HERALD_ARTIFACTS="$root/build/artifacts"
mkdir -p "$HERALD_ARTIFACTS"

step "integration tests (SQLite and MariaDB)"
tests/integration/run.sh

step "queue tests (RabbitMQ and Redis Streams)"
tests/queues/run.sh

step "cluster tests (three nodes, Redis, nginx, MariaDB)"
tests/cluster/run.sh

step "browser tests (headless Chromium)"
tests/browser/run.sh

step "fuzz targets (libFuzzer, bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_JOBS="$jobs" tests/fuzz/run.sh

step "bench smoke run"
bench/smoke.sh

if [ "${HERALD_SKIP_ASAN:-0}" != "1" ]; then
  step "sanitizer build (address,undefined) and its tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=address,undefined \
    -DHERALD_BUILD_BENCH=OFF -DHERALD_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  (cd build-asan && ctest --output-on-failure -j1)
  HERALD_BIN="$root/build-asan/gateway/herald" HERALD_INTEGRATION_QUICK=1 tests/integration/run.sh
fi

if [ "${HERALD_TSAN:-0}" = "1" ]; then
  # The unit tests only (shards, pools, strands, the writer and readers cross threads there);
  # the daemon under TSan would make the integration suite too slow for CI.
  step "thread sanitizer build (unit tests) and ctest"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_SANITIZE=thread \
    -DHERALD_BUILD_BENCH=OFF -DHERALD_WERROR=ON >/dev/null
  cmake --build build-tsan -j"$jobs" --target proto_tests cm_tests redis_tests store_tests gateway_tests
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
  # TSan's shadow memory needs the address layout without full mmap randomization.
  norand=()
  if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
    norand=(setarch "$(uname -m)" -R)
  fi
  (cd build-tsan && "${norand[@]}" ctest --output-on-failure -j1)
fi

step "all tests passed"

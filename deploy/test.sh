#!/usr/bin/env bash
# Herald's test command: installs what is missing, starts MariaDB and Redis on loopback, checks
# the format, builds (warnings as errors) and runs every test: black-box integration on SQLite
# and MariaDB, the queue consumers on RabbitMQ and Redis Streams, a cluster behind nginx,
# headless Chromium, bounded fuzz runs, a bench smoke run, then the unit, store conformance and
# bus tests under the address+undefined sanitizers (with the integration suite against that
# daemon) and under ThreadSanitizer.
# Usage: deploy/test.sh                     (everything)
#        HERALD_SKIP_SANITIZERS=1 deploy/test.sh   (quick local runs: the unit tests run in the
#                                                  plain build instead, no sanitizer builds)
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

sanitizers=1
if [ "${HERALD_SKIP_SANITIZERS:-${HERALD_SKIP_ASAN:-0}}" = "1" ]; then sanitizers=0; fi

step "build (RelWithDebInfo, -Werror, -Wshadow)"
# The unit tests are built and run under the sanitizers below (one build each, not three).
unit_in_plain=$([ "$sanitizers" = 1 ] && echo OFF || echo ON)
# -g1 (line tables only): a backtrace needs no more, and the build is about 12 % shorter.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DHERALD_WERROR=ON -DHERALD_BUILD_TESTS="$unit_in_plain" >/dev/null
cmake --build build -j"$jobs"
if [ "$sanitizers" = 0 ]; then
  step "unit, store and bus tests"
  (cd build && ctest --output-on-failure -j1)
fi

export HERALD_BIN="$root/build/gateway/herald"
export HERALD_ARTIFACTS="$root/build/artifacts"
mkdir -p "$HERALD_ARTIFACTS"

# The integration passes (their ports from 20000-31999) and the queue tests (daemons on
# kernel-chosen ports, brokers on 32000-32767) mostly wait on sockets: they run side by side,
# each one's output printed whole when it ends.
step "integration tests (SQLite and MariaDB) beside the queue tests (RabbitMQ and Redis Streams)"
side_logs=$(mktemp -d "$work/side.XXXXXX")
tests/integration/run.sh >"$side_logs/integration.log" 2>&1 &
integration_pid=$!
tests/queues/run.sh >"$side_logs/queues.log" 2>&1 &
queues_pid=$!
side_status=0
wait "$queues_pid" || side_status=1
printf '\n=== queue tests (ended %s)\n' "$(date -r "$side_logs/queues.log" +%T)"
cat "$side_logs/queues.log"
wait "$integration_pid" || side_status=1
printf '\n=== integration tests (ended %s)\n' "$(date -r "$side_logs/integration.log" +%T)"
cat "$side_logs/integration.log"
[ "$side_status" = 0 ] || { echo "integration or queue tests failed" >&2; exit 1; }

step "cluster tests (three nodes, Redis, nginx, MariaDB)"
tests/cluster/run.sh

step "browser tests (headless Chromium)"
tests/browser/run.sh

step "fuzz targets (libFuzzer, bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_JOBS="$jobs" FUZZ_PARALLEL="$jobs" tests/fuzz/run.sh

step "bench smoke run"
bench/smoke.sh

if [ "$sanitizers" = 1 ]; then
  step "sanitizer build (address,undefined)"
  # -g1: line tables are all a report needs (full debug info made the build a tenth longer).
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" \
    -DHERALD_SANITIZE=address,undefined \
    -DHERALD_BUILD_BENCH=OFF -DHERALD_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"

  # The unit tests only (shards, pools, strands, the writer and readers cross threads there);
  # the daemon under TSan would make the integration suite too slow for CI. -g1: line tables
  # are all a report needs, and the build is shorter.
  step "thread sanitizer build (unit tests)"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DHERALD_SANITIZE=thread -DHERALD_BUILD_BENCH=OFF -DHERALD_WERROR=ON >/dev/null
  cmake --build build-tsan -j"$jobs" --target proto_tests cm_tests redis_tests store_tests gateway_tests

  # Unit tests under both sanitizers (two at a time), then the integration suite against the
  # address,undefined daemon.
  step "sanitizer tests (unit: address,undefined then thread; integration: address,undefined)"
  deploy/lib/sanitizer_tests.sh "$root"
fi

step "all tests passed"

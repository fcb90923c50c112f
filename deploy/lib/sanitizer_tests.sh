#!/usr/bin/env bash
# Runs the tests of the two sanitizer build trees that deploy/test.sh builds:
#   - the unit, store and bus tests under address+undefined (build-asan), then under
#     ThreadSanitizer (build-tsan), each ctest two tests at a time;
#   - then the integration suite on SQLite against the address+undefined daemon.
# HERALD_SANITIZER_SIDE_BY_SIDE=1 runs the integration suite beside the unit tests (each part's
# output printed whole when it ends): about 6 minutes shorter on two cores, but one run of it
# lost a connection in the fd-exhaustion test under that load, so it is not the default.
# The status is non-zero when any part failed.
# Usage: deploy/lib/sanitizer_tests.sh [ROOT]   (ROOT: the source tree holding build-asan and
#        build-tsan; default: this script's tree). Needs what deploy/test.sh sets up (the
#        packages; mariadbd for the store tests on MariaDB, which start a MariaDB of their own).
set -uo pipefail
root=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
logs=$(mktemp -d "${TMPDIR:-/tmp}/herald-sanitizer-tests.XXXXXX")
trap 'rm -rf "$logs"' EXIT
stamp() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
# TSan's shadow memory needs the address layout without full mmap randomization.
norand=()
if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
  norand=(setarch "$(uname -m)" -R)
fi

unit() {
  local status=0
  stamp "unit, store and bus tests (address,undefined)"
  (cd "$root/build-asan" && ctest --output-on-failure -j2) || status=1
  stamp "unit, store and bus tests (thread)"
  (cd "$root/build-tsan" && "${norand[@]}" ctest --output-on-failure -j2) || status=1
  stamp "unit tests done"
  return $status
}

integration() {
  stamp "integration tests on SQLite against the address,undefined daemon"
  # Its own port range, apart from the MariaDB and Redis servers the unit tests start.
  HERALD_BIN="$root/build-asan/gateway/herald" HERALD_INTEGRATION_QUICK=1 \
    HERALD_TEST_PORTS=20000-31999 "$root/tests/integration/run.sh"
  local status=$?
  stamp "integration tests done"
  return $status
}

status=0
if [ "${HERALD_SANITIZER_SIDE_BY_SIDE:-0}" = "1" ]; then
  unit >"$logs/unit.log" 2>&1 &
  unit_pid=$!
  integration >"$logs/integration.log" 2>&1 &
  integration_pid=$!
  wait "$unit_pid" || status=1
  cat "$logs/unit.log"
  wait "$integration_pid" || status=1
  cat "$logs/integration.log"
else
  unit || status=1
  integration || status=1
fi
exit $status

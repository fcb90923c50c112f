#!/usr/bin/env bash
# Black-box tests of the herald daemon against API.md.
# Env: HERALD_BIN (the daemon, required); HERALD_TEST_MYSQL_URL (optional: then the suite runs
# once on SQLite and once on MySQL); HERALD_INTEGRATION_QUICK=1 runs the SQLite pass only;
# HERALD_INTEGRATION_SERIAL=1 runs the two passes one after the other instead of side by side;
# HERALD_ARTIFACTS (optional) receives JUnit XML reports. Extra arguments go to pytest
# (e.g. -k sync -x).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${HERALD_BIN:-}" ] || [ ! -x "${HERALD_BIN}" ]; then
  echo "run.sh: set HERALD_BIN to the herald executable" >&2
  exit 2
fi
HERALD_BIN="$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")"
export HERALD_BIN PYTHONDONTWRITEBYTECODE=1
py=/usr/bin/python3
status=0

run_suite() {
  local store=$1
  shift
  local extra=()
  if [ -n "${HERALD_ARTIFACTS:-}" ]; then
    mkdir -p "$HERALD_ARTIFACTS"
    extra+=("--junitxml=$HERALD_ARTIFACTS/integration-$store.xml")
  fi
  echo "== integration tests on $store =="
  HERALD_TEST_STORE="$store" "$py" -m pytest "$here" -p no:cacheprovider -q -rfE \
    --store "$store" "${extra[@]}" "$@"
}

mysql=0
if [ -n "${HERALD_TEST_MYSQL_URL:-}" ] && [ "${HERALD_INTEGRATION_QUICK:-0}" != "1" ]; then
  mysql=1
elif [ "${HERALD_REQUIRE_MYSQL:-0}" = "1" ] && [ "${HERALD_INTEGRATION_QUICK:-0}" != "1" ]; then
  echo "run.sh: HERALD_REQUIRE_MYSQL=1 but HERALD_TEST_MYSQL_URL is not set" >&2
  status=1
fi
if [ "$mysql" = 1 ] && [ "${HERALD_INTEGRATION_SERIAL:-0}" != "1" ]; then
  # The two passes side by side (each daemon has its own store and ports; each pass takes its
  # ports from its own range), each pass's output shown whole when it is done.
  logs="$(mktemp -d)"
  HERALD_TEST_PORTS=20000-25999 run_suite sqlite "$@" >"$logs/sqlite.log" 2>&1 &
  sqlite_pid=$!
  HERALD_TEST_PORTS=26000-31999 run_suite mysql "$@" >"$logs/mysql.log" 2>&1 &
  mysql_pid=$!
  wait "$sqlite_pid" || status=1
  cat "$logs/sqlite.log"
  wait "$mysql_pid" || status=1
  cat "$logs/mysql.log"
  rm -rf "$logs"
else
  run_suite sqlite "$@" || status=1
  if [ "$mysql" = 1 ]; then run_suite mysql "$@" || status=1; fi
fi
exit $status

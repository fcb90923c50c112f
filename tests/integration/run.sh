#!/usr/bin/env bash
# Black-box tests of the herald daemon against API.md.
# Env: HERALD_BIN (the daemon, required); HERALD_TEST_MYSQL_URL (optional: then the suite runs
# once on SQLite and once on MySQL); HERALD_INTEGRATION_QUICK=1 runs the SQLite pass only;
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
    --store "$store" "${extra[@]}" "$@" || status=1
}

run_suite sqlite "$@"
if [ -n "${HERALD_TEST_MYSQL_URL:-}" ] && [ "${HERALD_INTEGRATION_QUICK:-0}" != "1" ]; then
  run_suite mysql "$@"
elif [ "${HERALD_REQUIRE_MYSQL:-0}" = "1" ] && [ "${HERALD_INTEGRATION_QUICK:-0}" != "1" ]; then
  echo "run.sh: HERALD_REQUIRE_MYSQL=1 but HERALD_TEST_MYSQL_URL is not set" >&2
  status=1
fi
exit $status

#!/usr/bin/env bash
# Black-box tests of the herald daemon against API.md.
# Env: HERALD_BIN (the daemon, required); HERALD_TEST_MYSQL_URL (optional: then the suite runs
# once on SQLite and once on MySQL). Extra arguments go to pytest (e.g. -k sync -x).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${HERALD_BIN:-}" ] || [ ! -x "${HERALD_BIN}" ]; then
  echo "run.sh: set HERALD_BIN to the herald executable" >&2
  exit 2
fi
export HERALD_BIN="$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")"
export PYTHONDONTWRITEBYTECODE=1
py=/usr/bin/python3
status=0

run_suite() {
  echo "== integration tests on $1 =="
  HERALD_TEST_STORE="$1" "$py" -m pytest "$here" -q -p no:cacheprovider --store "$1" "${@:2}" \
    || status=1
}

run_suite sqlite "$@"
if [ -n "${HERALD_TEST_MYSQL_URL:-}" ]; then
  run_suite mysql "$@"
fi
exit $status

#!/usr/bin/env bash
# Runs the count soak (tests/integration/test_count_soak.py) many times in a row on SQLite and
# on MariaDB (a throwaway server from deploy/lib/mariadb.sh unless HERALD_TEST_MYSQL_URL is set)
# and prints the tally: how many runs passed, and the seeds that failed (replay one with
# HERALD_SOAK_SEED=N).
# Usage: HERALD_BIN=build/gateway/herald bench/soak_counts.sh [RUNS] [STORES]
#   RUNS default 20; STORES default "sqlite mysql"; HERALD_SOAK_SECONDS default 8.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
runs=${1:-20}
stores=${2:-sqlite mysql}
if [ -z "${HERALD_BIN:-}" ] || [ ! -x "${HERALD_BIN}" ]; then
  echo "soak_counts.sh: set HERALD_BIN to the herald executable" >&2
  exit 2
fi
HERALD_BIN="$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")"
export HERALD_BIN PYTHONDONTWRITEBYTECODE=1
export HERALD_SOAK_SECONDS=${HERALD_SOAK_SECONDS:-8}

own=""
cleanup() { if [ -n "$own" ]; then herald_mariadb_stop "$own" >/dev/null 2>&1; rm -rf "$own"; fi; }
trap cleanup EXIT
case " $stores " in
  *" mysql "*)
    if [ -z "${HERALD_TEST_MYSQL_URL:-}" ]; then
      . "$root/deploy/lib/mariadb.sh"
      own="$(mktemp -d "${TMPDIR:-/tmp}/herald-soak-mariadb.XXXXXX")"
      herald_mariadb_start "$own" >/dev/null || exit 1
    fi
    ;;
esac

log="$(mktemp "${TMPDIR:-/tmp}/herald-soak.XXXXXX.log")"
status=0
for store in $stores; do
  passed=0
  failed_seeds=()
  for ((i = 1; i <= runs; i++)); do
    seed=$(( (RANDOM << 15) | RANDOM ))
    if HERALD_SOAK_SEED=$seed HERALD_TEST_STORE=$store /usr/bin/python3 -m pytest \
        "$root/tests/integration/test_count_soak.py" -p no:cacheprovider -q -x \
        --store "$store" >>"$log" 2>&1; then
      passed=$((passed + 1))
    else
      failed_seeds+=("$seed")
      status=1
    fi
    echo "$store run $i/$runs: $passed passed, failed seeds: ${failed_seeds[*]:-none}"
  done
  echo "== $store: $passed/$runs passed (HERALD_SOAK_SECONDS=$HERALD_SOAK_SECONDS);" \
    "failed seeds: ${failed_seeds[*]:-none}"
done
echo "pytest output: $log"
exit $status

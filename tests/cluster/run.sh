#!/usr/bin/env bash
# Multi-node tests: 2-3 real herald daemons on one MariaDB database and one redis-server
# (started per test through deploy/lib/redis.sh, stopped and restarted by the outage test),
# behind a real nginx where the test says so. Everything runs on free loopback ports and is
# torn down at the end.
# Env: HERALD_BIN (the daemon, required); HERALD_TEST_MYSQL_URL (a MariaDB the nodes share; when
# unset, a throwaway one is started through deploy/lib/mariadb.sh); HERALD_ARTIFACTS (optional)
# receives a JUnit XML report. Extra arguments go to pytest (e.g. -k outage -x).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${HERALD_BIN:-}" ] || [ ! -x "${HERALD_BIN}" ]; then
  echo "cluster/run.sh: set HERALD_BIN to the herald executable" >&2
  exit 2
fi
HERALD_BIN="$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")"
export HERALD_BIN PYTHONDONTWRITEBYTECODE=1
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "cluster/run.sh: $tool is missing (redis-server)" >&2; exit 2; }
done
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
  echo "cluster/run.sh: nginx is missing (nginx-light)" >&2; exit 2; }

own_mariadb=""
cleanup() {
  if [ -n "$own_mariadb" ]; then herald_mariadb_stop "$own_mariadb" >/dev/null 2>&1; fi
}
trap cleanup EXIT
if [ -z "${HERALD_TEST_MYSQL_URL:-}" ]; then
  . "$root/deploy/lib/mariadb.sh"
  own_mariadb="$(mktemp -d "${TMPDIR:-/tmp}/herald-cluster-mariadb.XXXXXX")"
  herald_mariadb_start "$own_mariadb" >/dev/null || exit 1
fi

extra=()
if [ -n "${HERALD_ARTIFACTS:-}" ]; then
  mkdir -p "$HERALD_ARTIFACTS"
  extra+=("--junitxml=$HERALD_ARTIFACTS/cluster.xml")
fi
echo "== cluster tests (MariaDB, Redis, nginx) =="
/usr/bin/python3 -m pytest "$here" -p no:cacheprovider -q -rfE "${extra[@]}" "$@"

#!/usr/bin/env bash
# Repair time after a Redis outage at N connections on two nodes (bench/repair_time.py): starts a
# throwaway MariaDB through deploy/lib/mariadb.sh unless HERALD_TEST_MYSQL_URL names one, and a
# redis-server per run. Prints one JSON line.
#   HERALD_BIN   the daemon (default build/gateway/herald)
#   REPAIR_N     connections, half per node (default 19000; the client holds them all in one
#                process, under its descriptor limit)
#   REPAIR_OUTAGE_S  seconds Redis stays down (default 5)
# Extra arguments go to repair_time.py (--rate, --settle-s, --threads).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export HERALD_BIN=${HERALD_BIN:-$root/build/gateway/herald}
[ -x "$HERALD_BIN" ] || { echo "repair_time: $HERALD_BIN not found (build the herald target)" >&2; exit 1; }
own_mariadb=""
cleanup() { [ -z "$own_mariadb" ] || herald_mariadb_stop "$own_mariadb" >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ -z "${HERALD_TEST_MYSQL_URL:-}" ]; then
  . "$root/deploy/lib/mariadb.sh"
  own_mariadb=$(mktemp -d "${TMPDIR:-/tmp}/herald-repair-mariadb.XXXXXX")
  herald_mariadb_start "$own_mariadb" >/dev/null
fi
ulimit -n "$(ulimit -Hn)"
exec python3 "$root/bench/repair_time.py" --n "${REPAIR_N:-19000}" --outage-s "${REPAIR_OUTAGE_S:-5}" "$@"

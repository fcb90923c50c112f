#!/usr/bin/env bash
# Acks under a broadcast: starts a Herald on a fresh store and runs herald-bench's `acks`
# scenario (see README.md): 2 x B persisted broadcasts to N clients, silent then every client
# acking every item, the time to the last client compared, every broadcast's stats checked.
#   bench/ack_run.sh [N] [STORE]      N default 2000; STORE sqlite (default) or mysql
#   HERALD_BIN        the daemon (default build/gateway/herald)
#   HERALD_BENCH_BIN  the bench (default: bench/herald-bench beside the daemon's build)
#   ACK_BROADCASTS    broadcasts per block (default 10)
#   ACK_USERS         users (default N / 2: two clients each)
#   ACK_SPACING_MS    pause before each broadcast after a block's first (default 0: back to
#                     back, so a broadcast's fan-out also meets the previous one's acks; 2500:
#                     past the 1 s ack flush, each broadcast meets only its own acks)
#   ACK_PERF          a file: the daemon is profiled into it (perf record -g, CLOCK_MONOTONIC
#                     timestamps; the JSON line's block_monotonic_ns gives each block's span for
#                     `perf report --time START,END` in seconds)
#   HERALD_TEST_MYSQL_URL  the MariaDB for STORE=mysql (its database is used as is)
# Exit status: herald-bench's (1 when a check failed: a broadcast missed, stats not exact, or
# acking slowed the time to the last client p50 by more than 10 %).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"

N=${1:-2000}
STORE_KIND=${2:-sqlite}
HERALD_BIN=${HERALD_BIN:-$root/build/gateway/herald}
BENCH_BIN=${HERALD_BENCH_BIN:-$(dirname "$HERALD_BIN")/../bench/herald-bench}
for bin in "$HERALD_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "ack_run: $bin not found (build herald and herald-bench)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-acks.XXXXXX")
HERALD_PID=""
PERF_PID=""
cleanup() {
  set +e
  [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID"
  bench_stop "$HERALD_PID" herald
  rm -rf "$work"
}
trap cleanup EXIT

case "$STORE_KIND" in
  sqlite) store="sqlite:$work/herald.db" ;;
  mysql)
    [ -n "${HERALD_TEST_MYSQL_URL:-}" ] || { echo "ack_run: mysql needs HERALD_TEST_MYSQL_URL" >&2; exit 2; }
    store=$HERALD_TEST_MYSQL_URL ;;
  *) echo "ack_run: STORE is sqlite or mysql" >&2; exit 2 ;;
esac

BENCH_JWT_SECRET=$(bench_random_hex)
BENCH_API_KEY=$(bench_random_hex)
echo "ack_run: N=$N store=$STORE_KIND spacing=${ACK_SPACING_MS:-0}ms load before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_start_herald "$HERALD_BIN" "$store" "$work/herald.log"
if [ -n "${ACK_PERF:-}" ]; then
  perf record -q -g -k CLOCK_MONOTONIC -p "$HERALD_PID" -o "$ACK_PERF" 2>"$work/perf.err" &
  PERF_PID=$!
fi
rc=0
HERALD_JWT_SECRET=$BENCH_JWT_SECRET HERALD_API_KEY=$BENCH_API_KEY timeout 900 "$BENCH_BIN" \
  --public "$HERALD_PUBLIC" --internal "$HERALD_INTERNAL" --pid "$HERALD_PID" \
  --scenarios connect,acks -n "$N" -u "${ACK_USERS:-$(( (N + 1) / 2 ))}" \
  --ack-broadcasts "${ACK_BROADCASTS:-10}" ${ACK_SPACING_MS:+--ack-spacing "$ACK_SPACING_MS"} \
  --timeout 120 --label acks >"$work/bench.out" || rc=$?
grep -v '^{' "$work/bench.out" || true
grep '^{' "$work/bench.out" | tail -n 1 || true
if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID" 2>/dev/null
  wait "$PERF_PID" || true
  PERF_PID=""
fi
echo "ack_run: load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ! kill -0 "$HERALD_PID" 2>/dev/null; then
  echo "ack_run: herald died during the run; its log:" >&2
  tail -n 30 "$work/herald.log" >&2
  rc=1
fi
exit "$rc"

#!/usr/bin/env bash
# Runs herald-bench's scale scenario against a Herald it starts on a store seeded by
# bench/seed_scale.py (or an empty one, for the empty-store figures), then stops it.
# Usage: bench/scale_run.sh HERALD_BIN HERALD_BENCH STORE [herald-bench flags...]
#   e.g. bench/scale_run.sh build/gateway/herald build/bench/herald-bench sqlite:/tmp/scale.db \
#          --scale-users 100000 --scale-requests 40000
# With SCALE_PERF=FILE, `perf record -g` samples the daemon during the run into FILE
# (read it with `perf report -i FILE --no-children`); SCALE_PERF_FLAGS replaces `-g` (e.g.
# `--call-graph dwarf -F 250`: the daemon is built without frame pointers).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
bin=$1 bench=$2 store=$3
shift 3
BENCH_JWT_SECRET=$(bench_random_hex)
BENCH_API_KEY=$(bench_random_hex)
export HERALD_MAX_CONNECTIONS_PER_IP=0
log=$(mktemp "${TMPDIR:-/tmp}/herald-scale.XXXXXX.log")
bench_start_herald "$bin" "$store" "$log"
trap 'bench_stop "$HERALD_PID" herald >/dev/null' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
perf_pid=
if [ -n "${SCALE_PERF:-}" ]; then
  perf record -q ${SCALE_PERF_FLAGS:--g} -p "$HERALD_PID" -o "$SCALE_PERF" >/dev/null 2>&1 &
  perf_pid=$!
  trap 'kill -INT $perf_pid 2>/dev/null; wait $perf_pid; bench_stop "$HERALD_PID" herald >/dev/null' EXIT
  sleep 0.5
fi
"$bench" --public "$HERALD_PUBLIC" --internal "$HERALD_INTERNAL" --pid "$HERALD_PID" \
  --jwt-secret "$BENCH_JWT_SECRET" --api-key "$BENCH_API_KEY" --scenarios scale "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

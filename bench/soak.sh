#!/usr/bin/env bash
# Soak: one Herald under a mixed load for a long time (default 30 minutes), its resident memory
# and open descriptors sampled every SOAK_SAMPLE_S seconds. The load is herald-bench's connect,
# personal, broadcast, reconnect and inbox scenarios, run again and again until the time is up;
# every run's delivery checks must pass. Fails when Herald dies, a run fails, or memory or
# descriptors grow past the bounds below between the first and the last sample.
#   HERALD_BIN         the daemon (default build/gateway/herald)
#   HERALD_BENCH_BIN   the bench (default: bench/herald-bench beside the daemon's build)
#   SOAK_SECONDS       how long (default 1800)
#   SOAK_STORE         store URL (default: SQLite in a temp dir)
#   SOAK_N             connections per run (default 1000)
#   SOAK_SAMPLE_S      seconds between samples (default 10)
#   SOAK_MAX_RSS_GROWTH_KB  allowed RSS growth, a quarter in to the end (default 20480)
#   SOAK_MAX_FD_GROWTH      allowed descriptor growth (default 50)
#   SOAK_OUT           where the samples go (default: the temp dir, printed at the end)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"

HERALD_BIN=${HERALD_BIN:-$root/build/gateway/herald}
BENCH_BIN=${HERALD_BENCH_BIN:-$(dirname "$HERALD_BIN")/../bench/herald-bench}
SECONDS_TOTAL=${SOAK_SECONDS:-1800}
N=${SOAK_N:-1000}
SAMPLE_S=${SOAK_SAMPLE_S:-10}
MAX_RSS_KB=${SOAK_MAX_RSS_GROWTH_KB:-20480}
MAX_FDS=${SOAK_MAX_FD_GROWTH:-50}
for bin in "$HERALD_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "soak: $bin not found (build the herald and herald-bench targets)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-soak.XXXXXX")
out=${SOAK_OUT:-$work/samples.csv}
HERALD_PID="" SAMPLER_PID=""
cleanup() {
  set +e
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
  bench_stop "$HERALD_PID" herald
}
trap cleanup EXIT

BENCH_JWT_SECRET=$(bench_random_hex)
BENCH_API_KEY=$(bench_random_hex)
bench_start_herald "$HERALD_BIN" "${SOAK_STORE:-sqlite:$work/herald.db}" "$work/herald.log"

sample() {
  local rss fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$HERALD_PID/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$HERALD_PID/fd" 2>/dev/null | wc -l)
  echo "$(date +%s),$rss,$fds"
}
echo "epoch_s,rss_kb,fds" >"$out"
(
  while kill -0 "$HERALD_PID" 2>/dev/null; do
    sample >>"$out"
    sleep "$SAMPLE_S"
  done
) &
SAMPLER_PID=$!

end=$(( $(date +%s) + SECONDS_TOTAL ))
runs=0 rc=0
while [ "$(date +%s)" -lt "$end" ]; do
  runs=$((runs + 1))
  if ! HERALD_JWT_SECRET=$BENCH_JWT_SECRET HERALD_API_KEY=$BENCH_API_KEY timeout 600 "$BENCH_BIN" \
      --public "$HERALD_PUBLIC" --internal "$HERALD_INTERNAL" --pid "$HERALD_PID" \
      --scenarios connect,personal,broadcast,reconnect,inbox -n "$N" -u $(( (N + 1) / 2 )) \
      --broadcasts 5 --personal 5000 --concurrency 32 --reconnect-items 105 --inbox-users 20 \
      --inbox-items 30 --inbox-requests 2000 --inbox-concurrency 8 --timeout 60 \
      --label "soak-$runs" >"$work/bench-$runs.out" 2>&1; then
    echo "soak: run $runs failed:" >&2
    tail -n 20 "$work/bench-$runs.out" >&2
    rc=1
    break
  fi
  if ! kill -0 "$HERALD_PID" 2>/dev/null; then
    echo "soak: herald died in run $runs; its log:" >&2
    tail -n 30 "$work/herald.log" >&2
    rc=1
    break
  fi
done
sample >>"$out"
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""

# Growth is measured from the sample a quarter into the run (the SQLite page caches, up to 2 MB
# per store connection, fill while the database grows) to the last one (after the last run).
samples=$(( $(wc -l <"$out") - 1 ))
read -r first_rss first_fds < <(awk -F, -v at=$(( samples / 4 + 2 )) 'NR == at {print $2, $3}' "$out")
read -r last_rss last_fds < <(tail -n 1 "$out" | awk -F, '{print $2, $3}')
max_rss=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m}' "$out")
max_fds=$(awk -F, 'NR > 1 && $3 > m {m = $3} END {print m}' "$out")
echo "soak: $runs runs in ${SECONDS_TOTAL}s at N=$N; RSS ${first_rss:-?} -> $last_rss kB (max $max_rss);" \
  "fds ${first_fds:-?} -> $last_fds (max $max_fds); samples in $out"
if [ -n "${first_rss:-}" ] && [ $((last_rss - first_rss)) -gt "$MAX_RSS_KB" ]; then
  echo "soak: resident memory grew by $((last_rss - first_rss)) kB (bound $MAX_RSS_KB)" >&2
  rc=1
fi
if [ -n "${first_fds:-}" ] && [ $((last_fds - first_fds)) -gt "$MAX_FDS" ]; then
  echo "soak: open descriptors grew by $((last_fds - first_fds)) (bound $MAX_FDS)" >&2
  rc=1
fi
exit $rc

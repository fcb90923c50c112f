#!/usr/bin/env bash
# Bench smoke run (a few seconds, small N): starts a Herald on SQLite, runs herald-bench's
# connect, broadcast, personal, reconnect (105 missed items: two sync pages) and inbox scenarios
# at 200 connections (100 users, two connections each) and fails when any delivery check fails.
# Called by deploy/test.sh; the full runs are bench/run.sh.
#   HERALD_BIN        the daemon (default build/gateway/herald)
#   HERALD_BENCH_BIN  the bench (default: bench/herald-bench beside the daemon's build)
#   SMOKE_N           connections (default 200)
#   SMOKE_PEER=1      also run the Bun peer scenario (needs `npm install` in bench/peer)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"

HERALD_BIN=${HERALD_BIN:-$root/build/gateway/herald}
BENCH_BIN=${HERALD_BENCH_BIN:-$(dirname "$HERALD_BIN")/../bench/herald-bench}
N=${SMOKE_N:-200}
for bin in "$HERALD_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "smoke: $bin not found (build the herald and herald-bench targets)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-smoke.XXXXXX")
HERALD_PID="" PEER_PID=""
cleanup() {
  set +e
  bench_stop "$PEER_PID" peer 2>/dev/null
  bench_stop "$HERALD_PID" herald
  rm -rf "$work"
}
trap cleanup EXIT

BENCH_JWT_SECRET=$(bench_random_hex)
BENCH_API_KEY=$(bench_random_hex)
bench_start_herald "$HERALD_BIN" "sqlite:$work/herald.db" "$work/herald.log"

scenarios=connect,broadcast,personal,reconnect,inbox
peer_args=()
if [ "${SMOKE_PEER:-0}" = 1 ] && bench_start_peer "$root/bench/peer" "$work/peer.log"; then
  scenarios=$scenarios,peer
  peer_args=(--peer-public "$PEER_PUBLIC" --peer-internal "$PEER_INTERNAL" --peer-pid "$PEER_PID")
fi

rc=0
HERALD_JWT_SECRET=$BENCH_JWT_SECRET HERALD_API_KEY=$BENCH_API_KEY timeout 300 "$BENCH_BIN" \
  --public "$HERALD_PUBLIC" --internal "$HERALD_INTERNAL" --pid "$HERALD_PID" \
  --scenarios "$scenarios" -n "$N" -u $(( (N + 1) / 2 )) --broadcasts 5 --personal 1000 \
  --concurrency 16 --reconnect-items 105 --inbox-users 5 --inbox-items 30 --inbox-requests 400 \
  --inbox-concurrency 8 --timeout 30 --label smoke "${peer_args[@]}" >"$work/bench.out" || rc=$?
# The human summary, without the JSON line.
grep -v '^{' "$work/bench.out" || true
if ! kill -0 "$HERALD_PID" 2>/dev/null; then
  echo "smoke: herald died during the run; its log:" >&2
  tail -n 30 "$work/herald.log" >&2
  rc=1
fi
if [ "$rc" -ne 0 ]; then
  echo "smoke: FAILED (herald-bench exit $rc); herald log tail:" >&2
  tail -n 20 "$work/herald.log" >&2
  exit 1
fi
echo "smoke: bench smoke run passed"

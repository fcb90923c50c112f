#!/usr/bin/env bash
# 100,000 WebSocket connections on one box: CLUSTER_NODES Herald nodes (one process holds at most
# 20,000 descriptors here) on one throwaway MariaDB and one redis-server, and herald-bench's
# worker processes connecting straight to the nodes as an L4 balancer would (worker w's clients
# to node w % nodes, from 127.0.0.2 .. 127.0.0.17). Scenarios: connect (time, RSS per connection
# on each node), broadcast to everyone through the first node (time to the last client over
# CLUSTER_BROADCASTS broadcasts; every client must get every one once), personal pushes through
# every node's internal API (rate, latency p99) and a reconnect of everyone with `since`.
# Budget: all connected within 30 s, broadcast to the last client within 1.5 s p99.
# Prints the figures and appends the JSON line to bench/results-cluster.jsonl.
#   HERALD_BIN / HERALD_BENCH_BIN   (default build-release/gateway/herald, .../bench/herald-bench)
#   CLUSTER_N (100000)  CLUSTER_NODES (6)  CLUSTER_BROADCASTS (10)  CLUSTER_PERSONAL (60000)
# Run it on a quiet box and keep it out of CI: it takes two to four minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
. "$root/deploy/lib/mariadb.sh"
. "$root/deploy/lib/redis.sh"

n=${CLUSTER_N:-100000}
nodes=${CLUSTER_NODES:-6}
broadcasts=${CLUSTER_BROADCASTS:-10}
personal=${CLUSTER_PERSONAL:-60000}
herald_bin=${HERALD_BIN:-$root/build-release/gateway/herald}
bench_bin=${HERALD_BENCH_BIN:-$root/build-release/bench/herald-bench}
for b in "$herald_bin" "$bench_bin"; do
  [ -x "$b" ] || { echo "cluster_run: $b not found (bench/run.sh builds it)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-cluster-run.XXXXXX")
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do bench_stop "$p" node >/dev/null 2>&1; done
  herald_redis_stop >/dev/null 2>&1
  herald_mariadb_stop "$work/mariadb" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

mkdir -p "$work/mariadb"
herald_mariadb_start "$work/mariadb" >/dev/null
herald_redis_start
BENCH_JWT_SECRET=$(bench_random_hex)
BENCH_API_KEY=$(bench_random_hex)
export BENCH_JWT_SECRET BENCH_API_KEY

public=() internal=()
for k in $(seq 1 "$nodes"); do
  # Two I/O threads and four store connections per node: six nodes share two cores and one
  # MariaDB (its default limit is 151 connections).
  HERALD_BUS=$HERALD_TEST_REDIS_URL HERALD_NODE_ID=node$k HERALD_THREADS=2 \
    HERALD_STORE_THREADS=4 \
    bench_start_herald "$herald_bin" "$HERALD_TEST_MYSQL_URL" "$work/node$k.log"
  pids+=("$HERALD_PID")
  public+=("$HERALD_PUBLIC")
  internal+=("$HERALD_INTERNAL")
done
join() { local IFS=,; echo "$*"; }
echo "cluster_run: $nodes nodes up (pids $(join "${pids[@]}")), Redis $HERALD_TEST_REDIS_URL"

json_out="$work/run.jsonl"
status=0
HERALD_JWT_SECRET=$BENCH_JWT_SECRET HERALD_API_KEY=$BENCH_API_KEY "$bench_bin" \
  --public "$(join "${public[@]}")" --internal "$(join "${internal[@]}")" \
  --pid "$(join "${pids[@]}")" -n "$n" -u $((n / 2)) --source-addrs 16 \
  --scenarios connect,broadcast,personal,reconnect --broadcasts "$broadcasts" \
  --personal "$personal" --timeout 120 --label "cluster-$nodes" --json-out "$json_out" || status=$?

if [ -s "$json_out" ]; then
  python3 - "$json_out" "$nodes" "$(uptime)" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
h = r["herald"]
c, b, p, rc = h["connect"], h["broadcast"], h["personal"], h["reconnect"]
ttl = b["time_to_last_ms"]
print("nodes %s; %s" % (sys.argv[2], sys.argv[3].strip()))
print("connect: %d of %d in %.2f s (budget 30 s: %s)" % (c["ok"], r["n"], c["seconds"],
      "meets" if c["seconds"] <= 30 and c["ok"] == r["n"] else "MISSES"))
for i, node in enumerate(c.get("nodes", [])):
    print("  node %d: %d connections, RSS %.1f MiB, %.0f B per connection" % (
        i + 1, node["connections"], node["rss_after"] / 2**20, node["bytes_per_conn"]))
print("broadcast x%d to %d clients: time to last p50 %.1f ms, p99 %.1f ms, max %.1f ms "
      "(budget p99 1,500 ms: %s); every client got every one: %s" % (
      b["count"], b["clients"], ttl["p50"], ttl["p99"], ttl["max"],
      "meets" if ttl["p99"] <= 1500 else "MISSES",
      "yes" if b["complete_clients"] == b["clients"] and not b["incomplete_broadcasts"] else "NO"))
print("  CPU per recipient (all nodes): %.2f us" % (b.get("cpu_per_recipient_ns", 0) / 1000))
print("personal (persisted) through %s nodes: %.0f/s sent, %.0f/s delivered, latency p50 %.1f "
      "ms p99 %.1f ms, every delivery checked: %s" % (
      sys.argv[2], p["sent_per_s"], p["delivered_per_s"], p["latency_ms"]["p50"],
      p["latency_ms"]["p99"], "yes" if p["delivered"] == p["expected_deliveries"] else "NO"))
print("reconnect with since, %d missed: %d of %d in %.2f s, %d synced wrong" % (
      rc["missed_items"], rc["ok"], r["n"], rc["seconds"], rc.get("sync_bad", 0)))
print("checks: %s" % ("all passed" if r["ok"] else "; ".join(r["checks_failed"])))
PY
  cat "$json_out" >>"$root/bench/results-cluster.jsonl"
fi
for k in $(seq 1 "$nodes"); do
  if grep -qiE "error|fatal" "$work/node$k.log"; then
    echo "node$k log:"
    grep -iE "error|fatal" "$work/node$k.log" | head -5
  fi
done
exit $status
